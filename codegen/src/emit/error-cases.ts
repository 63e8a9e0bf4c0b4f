// The errors an op raises, derived from its spec: a non-finite value in any input, each real
// param's constraint, each enum param, min_n, nonnegative inputs, mismatched inputs, and an array
// of the wrong type; each with the core's message (where the core words it, as
// docs/architecture.md "Errors" lists) and the cause every binding
// maps to its own error type. Shared by the
// docs emitter (the errors table) and the targets' `describe` hooks (their checked examples).
import type { IntBoundIR, IR, OpIR, StatusIR } from '../ir/types.ts';
import { exampleData, setElement, truncate, withInput, type ExampleData, type ExampleInput } from './example.ts';
import { tick } from './markdown.ts';
import { pyName } from './python.ts';
import { assertNever } from '../util/never.ts';

/** The core's `ErrorKind`, or `null` for a wrong type that a binding refuses before the core. */
export type CoreKind = 'InvalidValue' | 'InvalidArgument' | 'ShapeMismatch' | null;

/** How the Python example of the error calls the op: these inputs and at most one param. */
export interface Trigger {
  readonly inputs: readonly ExampleInput[];
  /** A param set to this Python literal. */
  readonly param: { readonly name: string; readonly python: string } | null;
  /** Pass the inputs as integer arrays. */
  readonly integers: boolean;
}

/**
 * The cause of an error as the bindings tell causes apart: a bad value or argument, an unknown enum
 * value, an input that is not an array of reals, or an int or list param of the wrong type (the
 * last two refused before the core).
 */
export type ErrorCause = 'value' | 'enum' | 'type' | 'param';

export interface ErrorCase {
  /** Markdown. */
  readonly condition: string;
  /** The message of the NumPy, PyTorch, JAX and Julia APIs, when the core words it alone. */
  readonly message: string | null;
  readonly kind: CoreKind;
  /** What the bindings raise it as: each target names the type (`TargetDocs.errorTypes`). */
  readonly raises: ErrorCause;
  readonly trigger: Trigger;
}

/** A value no enum of the spec has. */
function unknownValue(values: readonly string[]): string {
  let v = 'unknown';
  while (values.includes(v)) v += '_';
  return v;
}

function shapeText(rows: readonly (readonly number[])[]): string {
  return `[${rows.length}, ${rows[0]?.length ?? 0}]`;
}

export function errorCases(op: OpIR, data: ExampleData = exampleData(op)): ErrorCase[] {
  const cases: ErrorCase[] = [];
  const opName = op.name.spec;
  const base = { raises: 'value' } as const;

  for (const { input, rows } of data.inputs) {
    const name = input.name.spec;
    // An int32 input (group ids) has no NaN; a binding checks its type and range itself.
    if (input.elem !== 'real') continue;
    cases.push({
      ...base,
      condition: `a NaN or an infinite value in ${tick(name)}`,
      message: `${opName}: ${name}[0, 1] is NaN`,
      kind: 'InvalidValue',
      trigger: { inputs: withInput(data, name, setElement(rows, 0, 1, Number.NaN)), param: null, integers: false },
    });
    if (input.constraint === 'nonnegative') {
      cases.push({
        ...base,
        condition: `a negative value in ${tick(name)}`,
        message: `${opName}: ${name}[0, 1] is negative (-1)`,
        kind: 'InvalidValue',
        trigger: { inputs: withInput(data, name, setElement(rows, 0, 1, -1)), param: null, integers: false },
      });
    }
  }

  for (const p of op.params) {
    const name = p.name.spec;
    switch (p.type) {
      case 'real':
        if (p.constraint === 'positive') {
          cases.push({
            ...base,
            condition: `${tick(name)} ≤ 0 or not finite`,
            message: `${opName}: ${name} must be finite and > 0, got 0`,
            kind: 'InvalidArgument',
            trigger: { inputs: data.inputs, param: { name: pyName(p.name), python: '0.0' }, integers: false },
          });
        } else {
          const bad = p.constraint === 'nonnegative' ? '-1.0' : 'float("inf")';
          cases.push({
            ...base,
            condition: `${tick(name)} ${p.constraint === 'nonnegative' ? '< 0 or not finite' : 'not finite'}`,
            message: null,
            kind: 'InvalidArgument',
            trigger: { inputs: data.inputs, param: { name: pyName(p.name), python: bad }, integers: false },
          });
        }
        break;
      case 'enum': {
        const values = p.enum.values.map((v) => v.name.spec);
        const bad = unknownValue(values);
        cases.push({
          raises: 'enum',
          condition: `an unknown ${tick(name)}`,
          message: `${opName}: ${name} must be one of ${values.map((v) => JSON.stringify(v)).join(', ')}, got ${JSON.stringify(bad)}`,
          kind: 'InvalidArgument',
          trigger: { inputs: data.inputs, param: { name: pyName(p.name), python: JSON.stringify(bad) }, integers: false },
        });
        break;
      }
      case 'bool':
        break; // any value is valid
      case 'int': {
        // The core's wording of a range with both ends, the upper one possibly the row length.
        const [lo, hi] = [p.min, p.max];
        if (lo !== null && hi !== null) {
          const bound = (b: IntBoundIR) => (b.kind === 'value' ? b.value : data.n);
          const range = (b: IntBoundIR) => (b.kind === 'value' ? String(b.value) : b.dim);
          const symbolic = `[${range(lo)}, ${range(hi)}]`;
          const numeric = `[${bound(lo)}, ${bound(hi)}]`;
          const bad = bound(hi) + 1;
          cases.push({
            ...base,
            condition: `${tick(name)} outside ${symbolic}`,
            message: `${opName}: ${name} must be in ${symbolic}${symbolic === numeric ? '' : ` = ${numeric}`}, got ${bad}`,
            kind: 'InvalidArgument',
            trigger: { inputs: data.inputs, param: { name: pyName(p.name), python: String(bad) }, integers: false },
          });
        }
        cases.push({
          raises: 'param',
          condition: `${tick(name)} not an integer (a float or a bool)`,
          message: null,
          kind: null,
          trigger: { inputs: data.inputs, param: { name: pyName(p.name), python: '2.5' }, integers: false },
        });
        break;
      }
      case 'list':
        if (p.minLength >= 1) {
          cases.push({
            ...base,
            condition: `an empty ${tick(name)}`,
            message: `${opName}: ${name} is empty; needs at least ${p.minLength === 1 ? 'one' : String(p.minLength)} ${p.minLength === 1 ? name.replace(/s$/, '') : name}`,
            kind: 'InvalidArgument',
            trigger: { inputs: data.inputs, param: { name: pyName(p.name), python: '[]' }, integers: false },
          });
        }
        cases.push({
          raises: 'param',
          condition: `${tick(name)} not a list of numbers`,
          message: null,
          kind: null,
          trigger: { inputs: data.inputs, param: { name: pyName(p.name), python: '"0.5"' }, integers: false },
        });
        if (p.min !== null && p.max !== null) {
          const bad = p.max + 0.5;
          cases.push({
            ...base,
            condition: `an element of ${tick(name)} outside [${p.min}, ${p.max}] or not finite`,
            message: `${opName}: ${name}[0] = ${bad} is not in [${p.min}, ${p.max}]`,
            kind: 'InvalidArgument',
            trigger: { inputs: data.inputs, param: { name: pyName(p.name), python: `[${bad}]` }, integers: false },
          });
        }
        break;
      default:
        return assertNever(p, 'param type');
    }
  }

  if (op.minN > 1) {
    const short = op.minN - 1;
    cases.push({
      ...base,
      condition: `fewer than ${op.minN} items per row`,
      message: `${opName}: needs n >= ${op.minN} items per row, got n = ${short}`,
      kind: 'InvalidArgument',
      trigger: { inputs: data.inputs.map((i) => ({ input: i.input, rows: truncate(i.rows, short) })), param: null, integers: false },
    });
  }

  const [first, ...others] = data.inputs;
  for (const other of others) {
    if (first === undefined) break;
    const shorter = truncate(other.rows, data.n - 1);
    cases.push({
      ...base,
      condition: `${tick(first.input.name.spec)} and ${tick(other.input.name.spec)} of different shapes`,
      message: `${opName}: ${first.input.name.spec} has shape ${shapeText(first.rows)} but ${other.input.name.spec} has shape ${shapeText(shorter)}`,
      kind: 'ShapeMismatch',
      trigger: { inputs: withInput(data, other.input.name.spec, shorter), param: null, integers: false },
    });
  }

  const ints = op.inputs.filter((x) => x.elem === 'int32').map((x) => tick(x.name.spec));
  cases.push({
    condition:
      ints.length === 0
        ? 'an input that is not an array of floating-point numbers'
        : `an input that is not an array of floating-point numbers (${ints.join(', ')}: of integers that fit in int32)`,
    message: null,
    kind: null,
    raises: 'type',
    trigger: { inputs: data.inputs, param: null, integers: true },
  });
  return cases;
}

/** The C status a core kind maps to. */
export function cStatus(ir: IR, kind: CoreKind): StatusIR | null {
  return kind === null ? null : (ir.status.find((s) => s.coreKind === kind) ?? null);
}
