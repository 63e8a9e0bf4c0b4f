// rank_relax/jax/_generated.py: per op, the forward, backward, JVP and HVP kernels as JAX computations
// (`_rr.call`: an XLA FFI custom call or pure_callback under a transform); the op's linear JVP,
// VJP and HVP primitives (`_derivatives.Derivatives`: the JVP and VJP each the other's transpose, the
// HVP its own; the VJP's derivative is itself plus the HVP); a `jax.custom_jvp` over
// the forward (outputs and residuals) whose tangent map is the JVP primitive (an op without a JVP
// kernel: a `jax.custom_vjp` whose backward runs the backward kernel); and the public function. Real params (ε) are differentiable arguments; enum, bool, int and list params are
// static (hashable Python values: a list is a tuple of floats). An optional input (a bool mask) is an
// argument of the custom_jvp that is an array or None (an empty pytree): its tangent (float0) is never
// read, and None reaches the kernels as an absent buffer, so a call without it is the call of before.
import { pythonApi, pythonIdent, pythonName } from './names.ts';
import { banner } from '../../emit/text.ts';
import type { BufferArgIR, DimIR, InputIR, IR, KernelIR, OpIR, OutputIR, ParamIR } from '../../ir/types.ts';
import { opDocstring, type Flavour } from './docs.ts';
import { axisArgs, enumAlias, kernelKey, PRIVATE, renderResultClass, resultClass } from './layout.ts';
import { publicNames, returnOutputs } from './numpy.ts';
import { pyAssign, pyCall, pyDef, pyDict, pyDisplay, pyDocstring, pyFile, pyNested, pyStr, pyTuple, pyUnpack } from '../../emit/python.ts';
import { params as kernelParams, reads, writes } from './rust.ts';
import { isItemRow, isPerRow, rowRank } from '../../ir/shape.ts';
import { matchParam } from '../../ir/match.ts';
import { matchElem } from '../../ir/match.ts';
import { unsupported } from '../../emit/capabilities.ts';
import { assertNever } from '../../util/never.ts';
import { pythonDefault } from './names.ts';
import { jaxSecondOrder } from './describe.ts';
import { scalars } from './xla.ts';

const FLAVOUR: Flavour = {
  array: 'array',
  notes: [
    'Differentiable and composable: a ``jax.custom_vjp`` whose backward is the analytical VJP, ' +
      'working under ``jit``, ``grad``, ``vmap`` and their compositions. Under a transform the ' +
      'kernels run on the CPU as XLA FFI custom calls on XLA\'s buffers (``jax.pure_callback`` ' +
      'where those are unavailable); float64 needs ``jax_enable_x64``.',
  ],
  paramGrad: 'A JAX array (or a traced value) receives a gradient.',
  noGrad: 'Receives no gradient.',
  module: 'rank_relax.jax',
  construct: 'jnp.array',
  axis: 'axis',
};

/** The note of an op with a JVP kernel, in place of FLAVOUR's. */
const JVP_NOTE =
  'Differentiable and composable: a ``jax.custom_jvp`` whose tangent map runs the JVP kernel ' +
  '(``jax.jvp``, ``jax.jacfwd``) and whose transpose runs the analytical backward (``jax.grad``, ' +
  '``jax.vjp``, ``jax.jacrev``), under ``jit``, ``vmap`` and their compositions; the derivative of the ' +
  'backward runs the HVP kernel (second order in reverse mode). Under a transform ' +
  "the kernels run on the CPU as XLA FFI custom calls on XLA's buffers (``jax.pure_callback`` " +
  'where those are unavailable); float64 needs ``jax_enable_x64``.';

function local(name: string): string {
  return `${PRIVATE}_${name}`;
}

function tuple(items: readonly string[]): string {
  return items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
}

/** An input's annotation in a kernel or custom_jvp function: an optional one may be None. */
function inputType(input: { readonly optional: boolean }): string {
  return input.optional ? 'jax.Array | None' : 'jax.Array';
}

/** An op's optional inputs, which the public function takes last, by keyword (`mask=None`); only
 * bool ones (a mask), which receive no gradient. */
function optionalInputs(op: OpIR): InputIR[] {
  const optional = op.inputs.filter((i) => i.optional);
  for (const i of optional) {
    if (i.elem !== 'bool' || i.differentiable) unsupported('python', `an optional ${i.elem} input${i.differentiable ? ' with a gradient' : ''} (${op.name.spec}.${i.name.spec})`);
  }
  return optional;
}

/** Whether JAX sees a param as a static argument (hashable, not traced): all but the reals. */
function isStatic(p: ParamIR): boolean {
  return matchParam(p, { real: () => false, enum: () => true, bool: () => true, int: () => true, list: () => true });
}

/** A param's annotation in a kernel function: real params are traced arrays, the rest static. */
function kernelParamType(p: ParamIR): string {
  return matchParam(p, { real: () => 'jax.Array', enum: () => 'str', bool: () => 'bool', int: () => 'int', list: () => 'tuple[float, ...]' });
}

/** A row dim's extent where a kernel's arguments are in scope: `values.shape[-1]`, `len(quantiles)`. */
function kernelDim(dim: DimIR, like: string): string {
  switch (dim.kind) {
    case 'batch':
      throw new Error(`batch is not a dim of a row (the shape of ${like})`);
    case 'n':
      return `${like}.shape[-1]`;
    case 'param':
      return pythonIdent(dim.param);
    case 'length':
      return `len(${pythonIdent(dim.param)})`;
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** The result shape of a buffer a kernel writes, with the leading dims of the `[..., n]` buffer `like`. */
function resultShape(b: BufferArgIR, like: string): string {
  const dtype = matchElem(b.elem, { real: () => null, int32: () => 'jnp.int32', bool: () => unsupported('python', 'bool buffers') });
  if (isPerRow(b.shape)) {
    if (dtype !== null) return unsupported('python', `a [batch] buffer of ${b.elem}`);
    return `${PRIVATE}.rows_like(${like})`;
  }
  if (isItemRow(b.shape)) return `${PRIVATE}.like(${[like, ...(dtype === null ? [] : [dtype])].join(', ')})`;
  const row = tuple(b.shape.row.map((d) => kernelDim(d, like)));
  return `${PRIVATE}.shaped(${[like, row, ...(dtype === null ? [] : [dtype])].join(', ')})`;
}

function renderKernel(op: OpIR, kernel: KernelIR): string[] {
  const rd = reads(kernel);
  const ps = kernelParams(kernel);
  const likeBuffer = rd.find((b) => isItemRow(b.shape) && !b.optional);
  if (likeBuffer === undefined) throw new Error(`${kernel.corePath}: no [batch, n] buffer gives the shape of a call`);
  const like = pythonName(likeBuffer.name);
  const results = writes(kernel).map((b) => resultShape(b, like));
  const sc = scalars(kernel);
  // Where the optional buffers are among the reads: the FFI call passes them last, when present.
  const optional = rd.flatMap((b, i) => (b.optional ? [String(i)] : []));
  const args = [
    ...rd.map((b) => `${pythonName(b.name)}: ${inputType(b)}`),
    ...ps.map((p) => `${pythonName(p.name)}: ${kernelParamType(p)}`),
    ...sc.map((a) => `${pythonName(a.name)}: jax.Array`),
  ];
  // The JVP's ε tangent is an operand after the real params, as the FFI handler decodes it.
  const folded = [
    pyStr(kernelKey(op, kernel.pass)),
    pyTuple(8, rd.map((b) => pythonName(b.name))),
    pyDict(8, [...ps.map((p) => [pyStr(p.name.spec), pythonName(p.name)] as const), ...sc.map((a) => [pyStr(a.name.spec), pythonName(a.name)] as const)]),
    pyTuple(8, results),
    ...(optional.length > 0 ? [`optional=${tuple(optional)}`] : []),
  ];
  return [
    ...pyDef(0, `def ${local(op.name.snake)}_${kernel.pass}`, args, 'tuple[jax.Array, ...]'),
    `    """The ${kernel.pass} kernel of \`\`${pythonName(op.name)}\`\`."""`,
    ...pyCall(4, `return ${PRIVATE}.call`, folded),
  ];
}

/** An op without a JVP kernel: a `jax.custom_vjp` (reverse mode only). */
function renderVjp(op: OpIR): string[] {
  const name = local(op.name.snake);
  const inputs = op.inputs.map((i) => pythonName(i.name));
  const ps = op.params.map((p) => pythonName(p.name));
  const argNames = [...inputs, ...ps];
  const staticIdx = op.params.map((p, k) => (isStatic(p) ? inputs.length + k : -1)).filter((k) => k >= 0);
  const staticNames = op.params.filter(isStatic).map((p) => pythonName(p.name));
  const reals = op.params.filter((p) => p.type === 'real').map((p) => pythonName(p.name));
  const fwdOuts = writes(op.forward).map((b) => pythonName(b.name));
  const outputs = op.outputs.map((o) => pythonName(o.name));
  const usedOuts = fwdOuts.map((o) => (outputs.includes(o) ? o : `_${o}`));
  const residuals = [...op.saves.map((s) => pythonName(s.name)), ...op.residuals.map((r) => pythonName(r.name)), ...reals];
  const fwdResidualOuts = fwdOuts.map((o) => (outputs.includes(o) || residuals.includes(o) ? o : `_${o}`));
  const primal = outputs.length === 1 ? outputs[0] ?? '' : `(${outputs.join(', ')})`;
  const typed = (n: string) => {
    const p = op.params.find((x) => pythonName(x.name) === n);
    const i = op.inputs.find((x) => pythonName(x.name) === n);
    return `${n}: ${p === undefined ? (i === undefined ? 'jax.Array' : inputType(i)) : kernelParamType(p)}`;
  };
  const bwdArgs = [...reads(op.backward).map((b) => pythonName(b.name)), ...kernelParams(op.backward).map((p) => pythonName(p.name))];
  const bwdOuts = writes(op.backward).map((b) => pythonName(b.name));
  const gradOf = new Map(op.grads.map((g) => [g.of.name.spec, pythonName(g.name)]));
  const paramGradOf = new Map(op.paramGrads.map((g) => [g.of.name.spec, pythonName(g.name)]));
  const cotangentsOut = [
    // An optional input (a mask, None or bool) has no cotangent: None stands for zero.
    ...op.inputs.map((i) => gradOf.get(i.name.spec) ?? (i.optional ? 'None' : `${PRIVATE}.zeros_like(${pythonName(i.name)})`)),
    ...op.params
      .filter((p) => p.type === 'real')
      .map((p) => {
        const g = paramGradOf.get(p.name.spec);
        return g === undefined ? `${PRIVATE}.zeros_like(${pythonName(p.name)})` : `${PRIVATE}.param_grad(${g}, ${pythonName(p.name)})`;
      }),
  ];
  const cotangentIn = op.cotangents.length === 1 ? (op.cotangents[0] === undefined ? '' : pythonName(op.cotangents[0].name)) : 'cotangents';
  return [
    `@functools.partial(jax.custom_vjp, nondiff_argnums=${tuple(staticIdx.map(String))})`,
    ...pyDef(0, `def ${name}`, argNames.map(typed), outputs.length === 1 ? 'jax.Array' : 'tuple[jax.Array, ...]'),
    ...pyUnpack(4, usedOuts, `${name}_forward`, argNames),
    `    return ${primal}`,
    '',
    '',
    ...pyDef(0, `def ${name}_fwd`, argNames.map(typed), 'tuple[Any, tuple[jax.Array, ...]]'),
    ...pyUnpack(4, fwdResidualOuts, `${name}_forward`, argNames),
    ...pyDisplay(4, `return ${primal}, `, '(', residuals, ')').map((l, _i, all) =>
      residuals.length === 1 && all.length === 1 ? l.replace(/\)$/, ',)') : l,
    ),
    '',
    '',
    ...pyDef(0, `def ${name}_bwd`, [...staticNames.map(typed), 'residuals: tuple[jax.Array, ...]', `${cotangentIn}: Any`], 'tuple[jax.Array, ...]'),
    ...pyAssign(4, residuals, 'residuals'),
    ...(op.cotangents.length > 1 ? pyAssign(4, op.cotangents.map((c) => pythonName(c.name)), 'cotangents') : []),
    ...pyUnpack(4, bwdOuts.map((o) => (cotangentsOut.some((c) => c === o || c.includes(`(${o},`)) ? o : `_${o}`)), `${name}_backward`, bwdArgs),
    ...pyDisplay(4, 'return ', '(', cotangentsOut, ')').map((l, _i, all) =>
      cotangentsOut.length === 1 && all.length === 1 ? l.replace(/\)$/, ',)') : l,
    ),
    '',
    '',
    `${name}.defvjp(${name}_fwd, ${name}_bwd)`,
  ];
}

/** The JVP, backward and HVP kernels' operands and results as `_derivatives.Derivatives` takes them:
 * (name, role, what it derives from), every name a Python identifier. */
function describeArgs(kernel: KernelIR): { operands: string[]; results: string[] } {
  const entry = (name: string, role: string, of: string) => `(${pyStr(name)}, ${pyStr(role)}, ${pyStr(of)})`;
  const buffer = (b: BufferArgIR): { operand?: string; result?: string } => {
    const name = pythonName(b.name);
    const of = pythonIdent(b.of ?? b.name.spec);
    switch (b.role) {
      case 'save':
      case 'residual':
        return { operand: entry(name, 'save', name) };
      case 'tangent':
      case 'cotangent':
        return { operand: entry(name, b.role, of) };
      case 'output_tangent':
      case 'grad':
      case 'param_grad':
      case 'hvp':
      case 'param_hvp':
        return { result: entry(name, b.role, of) };
      case 'input':
      case 'output':
        throw new Error(`${kernel.corePath}: a ${b.role} buffer in a derivative kernel`);
      default:
        return assertNever(b.role, 'buffer role');
    }
  };
  const operands: string[] = [];
  const results: string[] = [];
  const reals: string[] = [];
  const tail: string[] = [];
  for (const a of kernel.args) {
    switch (a.kind) {
      case 'dim':
        break;
      case 'param':
        if (a.param.type === 'real') reals.push(entry(pythonName(a.name), 'param', pythonName(a.name)));
        break;
      case 'scalar':
        tail.push(entry(pythonName(a.name), 'param_tangent', pythonIdent(a.of)));
        break;
      case 'buffer': {
        const { operand, result } = buffer(a);
        if (operand !== undefined) operands.push(operand);
        if (result !== undefined) results.push(result);
        break;
      }
      default:
        assertNever(a, 'argument kind');
    }
  }
  // The kernel functions take the buffers it reads, then its real params, then its scalars.
  return { operands: [...operands, ...reals, ...tail], results };
}

function renderDerivatives(op: OpIR, jvp: KernelIR, hvp: KernelIR | null): string[] {
  const name = local(op.name.snake);
  const j = describeArgs(jvp);
  const b = describeArgs(op.backward);
  const tuple = (key: string, items: string[]) => pyDisplay(4, `${key}=`, '(', items, items.length === 1 ? ',),' : '),');
  const h = hvp === null ? null : describeArgs(hvp);
  return [
    `${name}_derivatives = ${PRIVATE}_derivatives.Derivatives(`,
    `    ${pyStr(op.name.spec)},`,
    // A save that is an input moves with it; one that is not is derived from the inputs.
    ...tuple('inputs', op.inputs.map((i) => pyStr(pythonName(i.name)))),
    // The saves a call may leave out (None): each combination has its own primitives.
    ...(optionalInputs(op).length > 0 ? tuple('optional', optionalInputs(op).map((i) => pyStr(pythonName(i.name)))) : []),
    `    jvp=${name}_jvp,`,
    ...tuple('jvp_operands', j.operands),
    ...tuple('jvp_results', j.results),
    `    backward=${name}_backward,`,
    ...tuple('backward_operands', b.operands),
    ...tuple('backward_results', b.results),
    ...(h === null
      ? ['    hvp=None,', '    hvp_operands=(),', '    hvp_results=(),']
      : [`    hvp=${name}_hvp,`, ...tuple('hvp_operands', h.operands), ...tuple('hvp_results', h.results)]),
    ')',
  ];
}

function renderJvp(op: OpIR, jvp: KernelIR): string[] {
  const name = local(op.name.snake);
  const inputs = op.inputs.map((i) => pythonName(i.name));
  const ps = op.params.map((p) => pythonName(p.name));
  const argNames = [...inputs, ...ps];
  const staticIdx = op.params.map((p, k) => (isStatic(p) ? inputs.length + k : -1)).filter((k) => k >= 0);
  const staticNames = op.params.filter(isStatic).map((p) => pythonName(p.name));
  const diffNames = [...inputs, ...op.params.filter((p) => !isStatic(p)).map((p) => pythonName(p.name))];
  const fwdOuts = writes(op.forward).map((b) => pythonName(b.name));
  const typed = (n: string) => {
    const p = op.params.find((x) => pythonName(x.name) === n);
    const i = op.inputs.find((x) => pythonName(x.name) === n);
    return `${n}: ${p === undefined ? (i === undefined ? 'jax.Array' : inputType(i)) : kernelParamType(p)}`;
  };
  // Each primal's tangent, by the name the JVP kernel gives it (`tangent_values`); an input
  // that receives no gradient has none.
  const tangentOf = new Map([...op.tangents, ...op.paramTangents].map((t) => [pythonName(t.of.name), pythonName(t.name)]));
  const tangentNames = diffNames.map((n) => tangentOf.get(n) ?? `_tangent_${n}`);
  const outTangentOf = new Map(op.outputTangents.map((t) => [pythonName(t.of.name), pythonName(t.name)]));
  const outTangents = fwdOuts.map((o) => outTangentOf.get(o) ?? `${PRIVATE}_derivatives.no_tangent(${o})`);
  const operands = describeArgs(jvp).operands.map((e) => /^\("([^"]+)"/.exec(e)?.[1] ?? '');
  const jvpOuts = writes(jvp).map((b) => pythonName(b.name));
  return [
    `@functools.partial(jax.custom_jvp, nondiff_argnums=${tuple(staticIdx.map(String))})`,
    ...pyDef(0, `def ${name}`, argNames.map(typed), 'tuple[jax.Array, ...]'),
    `    """The forward kernel's results (outputs, then residuals), differentiable."""`,
    ...pyCall(4, `return ${name}_forward`, argNames),
    '',
    '',
    ...pyDef(0, `def ${name}_jvp_rule`, [...staticNames.map(typed), 'primals: tuple[jax.Array, ...]', 'tangents: tuple[Any, ...]'], 'tuple[Any, Any]'),
    ...pyAssign(4, diffNames, 'primals'),
    ...pyAssign(4, tangentNames, 'tangents'),
    // The primal through the custom_jvp again, so that an outer derivative sees its rule.
    ...pyUnpack(4, fwdOuts, name, argNames),
    ...pyUnpack(4, jvpOuts, `${name}_derivatives.jvp`, [
      pyTuple(8, operands),
      ...staticNames.map((n) => `${n}=${n}`),
    ]),
    ...pyDisplay(4, 'return ', '(', [pyTuple(8, fwdOuts), pyTuple(8, outTangents)], ')'),
    '',
    '',
    `${name}.defjvp(${name}_jvp_rule, symbolic_zeros=True)`,
  ];
}

/** `_rr_k = _rr.int_param(...)`: a static param's type checked and the value normalised (a Python
 * int, a tuple of floats); the core checks its range. */
function staticParamCheck(op: OpIR, p: ParamIR): string[] {
  const head = (fn: string) => `${local(p.name.snake)} = ${PRIVATE}.${fn}`;
  const named = [pyStr(op.name.spec), pyStr(p.name.spec), pythonName(p.name)];
  return matchParam(p, {
    real: () => [],
    enum: () => [],
    bool: () => [],
    int: () => pyCall(4, head('int_param'), named),
    list: () => pyCall(4, head('real_list'), named),
  });
}

/** The JAX flavour, with a note on the op's int and list params: static, not traced. */
function flavourOf(op: OpIR): Flavour {
  const base: Flavour = op.jvp === null ? FLAVOUR : { ...FLAVOUR, notes: [JVP_NOTE, jaxSecondOrder(op).replace(/`/g, '``')] };
  const fixed = op.params.filter((p) => matchParam(p, { real: () => false, enum: () => false, bool: () => false, int: () => true, list: () => true }));
  if (fixed.length === 0) return base;
  const names = fixed.map((p) => `\`\`${pythonName(p.name)}\`\``).join(' and ');
  const note =
    `${names} ${fixed.length === 1 ? 'is static: a Python value' : 'are static: Python values'} fixed when the function is traced ` +
    '(under ``jit`` each value compiles its own call; a traced value is refused).';
  return { ...base, notes: [...base.notes, note] };
}

function renderPublic(op: OpIR): string[] {
  const optional = optionalInputs(op);
  const required = op.inputs.filter((i) => !i.optional);
  if (required.some((i) => i.elem === 'bool')) unsupported('python', `a required bool ${op.name.spec} input`);
  const args = [
    ...required.map((i) => `${pythonName(i.name)}: ArrayLike`),
    ...op.params.map((p) => {
      const t = matchParam(p, { real: () => 'ArrayLike', enum: () => enumAlias(p) ?? 'str', bool: () => 'bool', int: () => 'int', list: () => 'Sequence[float]' });
      return `${pythonName(p.name)}: ${t} = ${pythonDefault(p)}`;
    }),
    'axis: int = -1',
    // Optional inputs last, so that every call written before them means what it meant.
    ...optional.map((i) => `${pythonName(i.name)}: ArrayLike | None = None`),
  ];
  const outs = op.outputs;
  const ret = resultClass(op) ?? 'jax.Array';
  const inputs = required.map((i) => `(${pyStr(i.name.spec)}, ${pythonName(i.name)})`);
  const bools = optional.map((i) => `(${pyStr(i.name.spec)}, ${pythonName(i.name)})`);
  const ints = required.filter((i) => i.elem === 'int32').map((i) => pyStr(i.name.spec));
  const requiredViews = required.map((i) => local(i.name.snake));
  const boolViews = optional.map((i) => local(i.name.snake));
  // In the kernels' order, the spec's.
  const views = op.inputs.map((i) => local(i.name.snake));
  const reals = op.params.filter((p) => p.type === 'real');
  const checkArgs = op.params.map((p) =>
    matchParam(p, {
      real: () => `${PRIVATE}.concrete(${pythonName(p.name)}, ${pythonDefault(p)})`,
      bool: () => `bool(${pythonName(p.name)})`,
      enum: () => pythonName(p.name),
      int: () => local(p.name.snake),
      list: () => local(p.name.snake),
    }),
  );
  const callArgs = [
    ...views,
    ...op.params.map((p) =>
      matchParam(p, { real: () => local(p.name.snake), bool: () => `bool(${pythonName(p.name)})`, enum: () => pythonName(p.name), int: () => local(p.name.snake), list: () => local(p.name.snake) }),
    ),
  ];
  const first = requiredViews[0] ?? '';
  // The row length is known when the function is traced: the core checks what depends on it
  // (n ≥ min_n, k ≤ n) then, under jit too.
  const itemRow = required.find((i) => isItemRow(i.shape));
  const n = itemRow === undefined ? [] : [`n=${local(itemRow.name.snake)}.shape[-1]`];
  // An output with one row dim goes back to the items axis; a per-row one has none, and a
  // matrix output only exists with the items last.
  const placed = (o: OutputIR) => [local('dtype'), ...(rowRank(o.shape) === 1 ? [local('axis')] : [])];
  const only = outs.length === 1 ? outs[0] : undefined;
  const returned = returnOutputs(op, outs.map((o) => `${PRIVATE}.result(${[local(o.name.snake), ...placed(o)].join(', ')})`));
  const outNames = new Set(outs.map((o) => o.name.spec));
  const body =
    op.jvp !== null
      ? [
          // A custom_jvp function returns the forward's residuals too; they are dropped here.
          ...pyUnpack(4, writes(op.forward).map((b) => (outNames.has(b.name.spec) ? local(b.name.snake) : '_')), local(op.name.snake), callArgs),
          ...returned,
        ]
      : only !== undefined
        ? pyCall(4, `return ${PRIVATE}.result`, [pyNested(8, local(op.name.snake), callArgs), ...placed(only)])
        : [...pyUnpack(4, outs.map((o) => local(o.name.snake)), local(op.name.snake), callArgs), ...returned];
  return [
    ...renderResultClass(op, pythonApi(op).fn, 'array', 'jax.Array'),
    ...(resultClass(op) === null ? [] : ['', '']),
    ...pyDef(0, `def ${pythonApi(op).fn}`, args, ret),
    ...opDocstring(4, op, flavourOf(op), outs),
    // The bool inputs come back apart, None where absent (none: an empty tuple).
    ...pyUnpack(4, [local('dtype'), local('axis'), tuple(requiredViews), optional.length > 0 ? tuple(boolViews) : '_'], `${PRIVATE}.inputs`, [
      pyStr(op.name.spec),
      ...inputs,
      ...axisArgs(op, 'axis'),
      ...(optional.length > 0 ? [`bools=${tuple(bools)}`] : []),
      ...(ints.length > 0 ? [`ints=${tuple(ints)}`] : []),
    ]),
    ...op.params.flatMap((p) => staticParamCheck(op, p)),
    ...reals.flatMap((p) =>
      pyCall(4, `${local(p.name.snake)} = ${PRIVATE}.real_param`, [pyStr(op.name.spec), pyStr(p.name.spec), pythonName(p.name), `${first}.dtype`]),
    ),
    ...pyCall(4, `CHECK_PARAMS[${pyStr(op.name.spec)}]`, [...checkArgs, ...n]),
    ...body,
  ];
}

function renderOp(op: OpIR): string[] {
  const jvp = op.jvp;
  // With a JVP kernel the op is a custom_jvp (forward and reverse mode); else a custom_vjp.
  const derivatives =
    jvp === null
      ? renderVjp(op)
      : [
          ...renderKernel(op, jvp),
          '',
          '',
          ...(op.hvp === null ? [] : [...renderKernel(op, op.hvp), '', '']),
          ...renderDerivatives(op, jvp, op.hvp),
          '',
          '',
          ...renderJvp(op, jvp),
        ];
  return [
    `# ${'-'.repeat(96)}`,
    `# ${op.name.spec}`,
    '',
    '',
    ...renderKernel(op, op.forward),
    '',
    '',
    ...renderKernel(op, op.backward),
    '',
    '',
    ...derivatives,
    '',
    '',
    ...renderPublic(op),
  ];
}

/** What the ops are: custom_jvp functions where they have a JVP kernel, else custom_vjp ones. */
function customKind(ir: IR): string {
  const jvp = ir.ops.filter((op) => op.jvp !== null).length;
  if (jvp === ir.ops.length) return '``jax.custom_jvp``';
  return jvp === 0 ? '``jax.custom_vjp``' : '``jax.custom_jvp`` (or ``jax.custom_vjp``)';
}

export function renderJax(ir: IR): string {
  const names = publicNames(ir);
  return pyFile(
    banner(ir, 'hash'),
    ...pyDocstring(0, `The JAX API of rank-relax: one ${customKind(ir)} function per op.`, [
      `Generated from ${ir.source}; the plumbing the functions share is in the hand-written ` +
        '``_plumbing.py`` (and ``_derivatives.py``). Each op\'s forward returns the residuals its backward ' +
        'and JVP need (the sorting permutation and PAV blocks), so they never sort again.',
    ], []),
    '',
    'from __future__ import annotations',
    '',
    'import functools',
    ...(ir.ops.some((op) => op.params.some((p) => p.type === 'list')) ? ['from collections.abc import Sequence'] : []),
    `from typing import Any${ir.ops.some((op) => resultClass(op) !== null) ? ', NamedTuple' : ''}`,
    '',
    'import jax',
    'import jax.numpy as jnp',
    'from jax.typing import ArrayLike',
    '',
    `from .._generated import CHECK_PARAMS, ${ir.enums.map((e) => e.name.pascal).join(', ')}`,
    ...(ir.ops.some((op) => op.jvp !== null) ? [`from . import _derivatives as ${PRIVATE}_derivatives`] : []),
    `from . import _plumbing as ${PRIVATE}`,
    '',
    ...pyDisplay(0, '__all__ = ', '[', names.map(pyStr), ']'),
    '',
    ...ir.ops.flatMap((op) => ['', ...renderOp(op), '']),
  );
}
