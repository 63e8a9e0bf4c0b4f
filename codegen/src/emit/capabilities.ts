// What each target can bind, declared on its Emitter, and the check that holds the IR against every
// registered target before any emitter runs: a spec that uses a feature some target lacks fails
// with one line per feature and target, each with its spec path, instead of an emitter dying
// half-way (or, worse, emitting wrong code).
import { rowDimKinds, rowRank } from '../ir/shape.ts';
import type { DimIR, ElemType, IR, OpIR, ParamType, ShapeIR } from '../ir/types.ts';
import { CodegenError } from '../spec/errors.ts';
import { assertNever } from '../util/never.ts';

/** Kinds of dim that may follow batch in a shape. */
export type RowDimKind = Exclude<DimIR['kind'], 'batch'>;

export interface Capabilities {
  /** Most dims after batch in any shape: 0 = only [batch], 1 = up to [batch, n], 2 = [batch, n, n], … */
  readonly maxRowRank: number;
  /** Which dims may follow batch: `n`, `param` (an int param's value: [batch, k]), `length` (a list param's length: [batch, m]). */
  readonly dimKinds: readonly RowDimKind[];
  /** Whether an input may have shape [batch] (one value per row). */
  readonly perRowInputs: boolean;
  readonly paramTypes: readonly ParamType[];
  /** Whether an op may narrow an enum param to a subset of its values or give it its own default. */
  readonly enumSubsets: boolean;
  readonly inputDtypes: readonly ElemType[];
  /** Whether an input may be optional (absent by default). */
  readonly optionalInputs: boolean;
  /** The dtypes an optional input may have (`bool`: a mask; no target takes an optional int32 input yet). */
  readonly optionalInputDtypes: readonly ElemType[];
  /** Most outputs per op. */
  readonly maxOutputs: number;
  readonly outputDtypes: readonly ElemType[];
  /** Whether an output may have `differentiable: false` (no cotangent). */
  readonly nonDifferentiableOutputs: boolean;
  /** Whether the target binds an op's JVP kernel (spec `jvp`: forward mode). */
  readonly jvp: boolean;
  /** Whether the target binds an op's HVP kernel (spec `hvp`: second order). */
  readonly hvp: boolean;
}

/** What every target supported before the op model grew: shapes [batch, n] and [batch], real inputs and outputs. */
export const BASELINE: Capabilities = {
  maxRowRank: 1,
  dimKinds: ['n'],
  perRowInputs: true,
  paramTypes: ['real', 'enum', 'bool'],
  enumSubsets: false,
  inputDtypes: ['real'],
  optionalInputs: false,
  optionalInputDtypes: [],
  maxOutputs: Number.POSITIVE_INFINITY,
  outputDtypes: ['real'],
  nonDifferentiableOutputs: false,
  jvp: false,
  hvp: false,
};

/**
 * What the bindings bind since the wave-2 ops (ADR 0016): rows of n items, [batch, n, n] and
 * [batch, m] with m a list param's length; int and list params; an op's own enum values and
 * default. A target spreads it and narrows what it lacks (Julia and Node: one output).
 */
export const BINDINGS: Capabilities = {
  ...BASELINE,
  maxRowRank: 2,
  dimKinds: ['n', 'length'],
  paramTypes: ['real', 'enum', 'bool', 'int', 'list'],
  enumSubsets: true,
};

/**
 * What every binding binds since masks (ADR 0019): on top of BINDINGS, optional inputs and bool
 * inputs (an op's `mask`), and the JVP and HVP kernels.
 */
export const MASKED: Capabilities = { ...BINDINGS, inputDtypes: ['real', 'bool'], optionalInputs: true, optionalInputDtypes: ['real', 'bool'], jvp: true, hvp: true };

/**
 * What every binding binds since soft_sort_topk (ADR 0020): on top of MASKED, [batch, k] with k an
 * int param's value, several outputs, int32 outputs (item positions among them) and outputs
 * without a cotangent.
 */
export const OUTPUTS: Capabilities = {
  ...MASKED,
  dimKinds: [...MASKED.dimKinds, 'param'],
  maxOutputs: Number.POSITIVE_INFINITY,
  outputDtypes: ['real', 'int32'],
  nonDifferentiableOutputs: true,
};

/**
 * What every binding binds since soft_rank_grouped (ADR 0022): on top of OUTPUTS, int32 inputs
 * (`const int32_t *` in C, an integer array or tensor in Python, `Int32Array` in Node, an integer
 * array in Julia), required and never differentiable (an optional one, none yet, is refused).
 */
export const INT_INPUTS: Capabilities = { ...OUTPUTS, inputDtypes: ['real', 'bool', 'int32'] };

/** The Rust test tables and the docs only describe shapes and dtypes. */
export const DESCRIPTIONS: Capabilities = INT_INPUTS;

/** A target as the check sees it (an `Emitter` is one). */
export interface Capable {
  readonly name: string;
  readonly capabilities: Capabilities;
}

interface Finding {
  readonly path: string;
  readonly target: string;
  readonly text: string;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function dimWhy(d: DimIR): string {
  switch (d.kind) {
    case 'batch':
    case 'n':
      return `${d.name.spec} is a dimension`;
    case 'param':
      return `${d.name.spec} is the value of param ${d.param}`;
    case 'length':
      return `${d.name.spec} is the length of param ${d.param}`;
    default:
      return assertNever(d, 'dim kind');
  }
}

/** Why a target cannot take a shape, or null when it can. */
function shapeProblem(shape: ShapeIR, caps: Capabilities): string | null {
  const why: string[] = [];
  const rank = rowRank(shape);
  if (rank > caps.maxRowRank) why.push(`${plural(rank, 'dim')} after batch, at most ${caps.maxRowRank}`);
  const kinds = rowDimKinds(shape).filter((k) => k !== 'batch' && !caps.dimKinds.includes(k));
  const odd = [...new Set(shape.row.filter((d) => kinds.includes(d.kind)).map(dimWhy))];
  why.push(...odd);
  return why.length === 0 ? null : why.join('; ');
}

function opFindings(op: OpIR, target: Capable): Finding[] {
  const caps = target.capabilities;
  const at = (...parts: (string | number)[]) =>
    parts.reduce<string>((p, x) => (typeof x === 'number' ? `${p}[${x}]` : `${p}.${x}`), `ops.${op.name.spec}`);
  const out: Finding[] = [];
  const add = (path: string, what: string, why?: string) =>
    out.push({ path, target: target.name, text: `the ${target.name} target does not support ${what} yet${why === undefined ? '' : `: ${why}`}` });
  const shape = (path: string, s: ShapeIR) => {
    const why = shapeProblem(s, caps);
    if (why !== null) add(path, `shape ${s.text}`, why);
    return why === null;
  };

  op.params.forEach((p, i) => {
    if (p.type === 'enum' && p.narrowed && !caps.enumSubsets) add(at('params', i), 'narrowing an enum param for one op (values, default)');
  });
  op.inputs.forEach((x, i) => {
    if (shape(at('inputs', i, 'shape'), x.shape) && rowRank(x.shape) === 0 && !caps.perRowInputs) add(at('inputs', i, 'shape'), 'inputs of shape [batch]');
    if (!caps.inputDtypes.includes(x.elem)) add(at('inputs', i, 'dtype'), `${x.elem} inputs`);
    if (x.optional && !caps.optionalInputs) add(at('inputs', i, 'optional'), 'optional inputs');
    else if (x.optional && caps.inputDtypes.includes(x.elem) && !caps.optionalInputDtypes.includes(x.elem)) {
      add(at('inputs', i, 'optional'), `optional ${x.elem} inputs`);
    }
  });
  if (op.outputs.length > caps.maxOutputs) add(at('outputs'), plural(op.outputs.length, 'output'));
  op.outputs.forEach((x, i) => {
    shape(at('outputs', i, 'shape'), x.shape);
    if (!caps.outputDtypes.includes(x.elem)) add(at('outputs', i, 'dtype'), `${x.elem} outputs`);
    if (!x.differentiable && !caps.nonDifferentiableOutputs) add(at('outputs', i, 'differentiable'), 'non-differentiable outputs');
  });
  op.residuals.forEach((x, i) => {
    shape(at('residuals', i, 'shape'), x.shape);
  });
  if (op.jvp !== null && !caps.jvp) add(at('jvp'), 'JVP kernels (forward mode)');
  if (op.hvp !== null && !caps.hvp) add(at('hvp'), 'HVP kernels (second order)');
  return out;
}

/** Every feature of the IR that some target does not support: `path: the <target> target does not support … yet`. */
export function unsupportedFeatures(ir: IR, targets: readonly Capable[]): string[] {
  const findings: Finding[] = [];
  for (const target of targets) {
    for (const p of ir.params) {
      if (!target.capabilities.paramTypes.includes(p.type)) {
        findings.push({ path: `params.${p.name.spec}.type`, target: target.name, text: `the ${target.name} target does not support ${p.type} params yet` });
      }
    }
    for (const op of ir.ops) findings.push(...opFindings(op, target));
  }
  // Sorted by path like the spec's errors; targets in registry order within a path.
  const order = new Map(targets.map((t, i) => [t.name, i]));
  findings.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : (order.get(a.target) ?? 0) - (order.get(b.target) ?? 0)));
  return findings.map((f) => `${f.path}: ${f.text}`);
}

/** Throws a CodegenError listing every unsupported feature of the IR, or returns. */
export function checkCapabilities(ir: IR, targets: readonly Capable[]): void {
  const lines = unsupportedFeatures(ir, targets);
  if (lines.length === 0) return;
  const count = lines.length;
  throw new CodegenError([
    `${ir.source}: ${count} feature${count === 1 ? '' : 's'} of the spec ${count === 1 ? 'is' : 'are'} not supported by every target:`,
    ...lines.map((l) => `  ${l}`),
  ]);
}

/**
 * For a branch an emitter's capabilities exclude, so the check above has rejected the spec: reaching
 * it is a bug in the declaration.
 */
export function unsupported(target: string, what: string): never {
  throw new Error(`${target} emitter: reached ${what}, which its capabilities exclude (checkCapabilities should have rejected the spec)`);
}
