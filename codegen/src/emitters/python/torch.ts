// rank_relax/torch/_generated.py. Per op:
// - the forward, backward, JVP and HVP kernels on tensors (`_rr_<op>_forward_impl`, `_backward_impl`,
//   `_jvp_impl`, `_hvp_impl`);
// - each registered as a `torch.library.custom_op` (`torch.ops.rank_relax.<op>_forward`,
//   `_backward`, `_jvp` and `_hvp`) with a fake implementation, and the autograd registration tying the
//   first two together, so torch.compile traces both passes without a graph break;
// - the same rules as a `torch.autograd.Function` (`_rr_<Op>`), the eager path: it skips the op
//   dispatcher (tens of microseconds a call) when nothing needs the custom op — no compiler, fake
//   tensor, tensor subclass, dispatch mode or functorch transform (see `_plumbing.eager`);
// - the custom ops inside a `torch.autograd.Function` with `setup_context` (`_rr_<Op>Transforms`),
//   the path outside the compiler when the eager one can't be taken: functorch transforms need a
//   Function of that form, which the custom op's own autograd registration is not;
// - forward mode in both Functions' `jvp`: the JVP kernel on the saved tensors, the input tangents
//   and the ε tangent, through `_plumbing.first_order` (differentiating a tangent raises);
// - second order by `_plumbing.backward` and the op's `_plumbing.SecondOrder` rule: the backward is
//   differentiable exactly, the JVP kernel in the cotangent and the HVP kernel in the inputs and ε
//   (an op without them raises, saying why); a third derivative raises;
// - the public function with torchsort-style keyword arguments.
import { pythonApi, pythonName } from './names.ts';
import { banner } from '../../emit/text.ts';
import type { BufferArgIR, DimIR, IR, KernelIR, OpIR, ParamIR } from '../../ir/types.ts';
import { opDocstring, type Flavour } from './docs.ts';
import { axisArgs, enumAlias, inputKindArgs, kernelKey, optionalInputs, PRIVATE, PY_WIDTH, renderResultClass, requiredInputs, resultClass, TORCH_NAMESPACE } from './layout.ts';
import { publicNames, returnOutputs } from './numpy.ts';
import { pyAssign, pyCall, pyDef, pyDisplay, pyDocstring, pyFile, pyNested, pyStr, pyTuple, pyUnpack } from '../../emit/python.ts';
import { params as kernelParams, reads, scalars, writes } from './rust.ts';
import { isItemRow } from '../../ir/shape.ts';
import { matchElem, matchParam } from '../../ir/match.ts';
import { unsupported } from '../../emit/capabilities.ts';
import { assertNever } from '../../util/never.ts';
import { pythonDefault, pythonIdent } from './names.ts';

/** What differentiating the gradient does, in an op's docs (`tick`: the code quote). */
export function secondOrderNote(op: OpIR, tick: string): string {
  const code = (t: string) => `${tick}${t}${tick}`;
  if (op.hvp === null || op.jvp === null) {
    return `Differentiating the gradient (${code('create_graph=True')}) raises ${code('NotImplementedError')}.`;
  }
  return (
    `Second order (${code('create_graph=True')}, ${code('torch.func.hessian')}, ${code('jacrev(jacrev(f))')}, ${code('gradgradcheck')}) ` +
    'is exact for every regularization, ε a tensor that requires grad included: the backward is differentiated by the JVP ' +
    'kernel (in the cotangent) and the HVP kernel (in the inputs and ε). A forward-mode tangent differentiated again is exact too: ' +
    `in reverse mode (${code('jacrev(jacfwd(f))')}) by the backward and HVP kernels, in forward mode (${code('jacfwd(jacfwd(f))')}) by ` +
    "one HVP per entry of an output's row. A third derivative raises " +
    `${code('NotImplementedError')} naming the op and the order.`
  );
}

/** How the PyTorch functions differ from the NumPy ones, in an op's docstring. */
function flavour(op: OpIR): Flavour {
  const forwardMode =
    op.jvp === null
      ? 'Forward mode (``torch.func.jvp``, ``jacfwd``, ``torch.autograd.forward_ad``) and differentiating the ' +
        'gradient (``create_graph=True``) raise ``NotImplementedError``.'
      : 'Forward mode (``torch.func.jvp``, ``jacfwd``, ``torch.autograd.forward_ad``) is exact too: a JVP kernel, ' +
        `also a custom op. ${secondOrderNote(op, '``')}`;
  return {
    array: 'tensor',
    notes: [
      'Differentiable (``torch.autograd``, ``torch.compile(fullgraph=True)``, ``torch.func`` ``grad``, ' +
        '``vjp``, ``jacrev`` and ``vmap``): the forward and the backward are ``torch.library`` custom ' +
        `ops. ${forwardMode} Tensors on another device (CUDA) are computed on the CPU and the results ` +
        'returned on their device.',
    ],
    paramGrad: 'A tensor that requires grad receives a gradient.',
    noGrad: 'Receives no gradient.',
    module: 'rank_relax.torch',
    construct: 'torch.tensor',
    axis: 'dim',
  };
}


type Pass = KernelIR['pass'];

/** The JVP kernel of an op; only called for an op that has one. */
function jvpOf(op: OpIR): KernelIR {
  if (op.jvp === null) throw new Error(`${op.name.spec}: no JVP kernel`);
  return op.jvp;
}

/** The HVP kernel of an op; only called for an op that has one. */
function hvpOf(op: OpIR): KernelIR {
  if (op.hvp === null) throw new Error(`${op.name.spec}: no HVP kernel`);
  return op.hvp;
}

function local(name: string): string {
  return `${PRIVATE}_${name}`;
}

function kernelOf(op: OpIR, pass: Pass): KernelIR {
  switch (pass) {
    case 'forward':
      return op.forward;
    case 'backward':
      return op.backward;
    case 'jvp':
      return jvpOf(op);
    case 'hvp':
      return hvpOf(op);
    default:
      return assertNever(pass, 'pass');
  }
}

/** The custom op's schema type of a param. */
function schemaType(p: ParamIR): string {
  return matchParam(p, { real: () => 'Tensor', enum: () => 'str', bool: () => 'bool', int: () => 'int', list: () => 'float[]' });
}

/** The Python annotation of a schema type, for the fake implementations' signatures. */
function fakeAnnotation(p: ParamIR): string {
  return matchParam(p, { real: () => 'Tensor', enum: () => 'str', bool: () => 'bool', int: () => 'int', list: () => 'list[float]' });
}

/** Annotation of a param of a kernel function: the eager path passes a real param as a float. */
function implAnnotation(p: ParamIR): string {
  return matchParam(p, { real: () => 'Tensor | float', enum: () => 'str', bool: () => 'bool', int: () => 'int', list: () => 'list[float]' });
}

function publicAnnotation(p: ParamIR): string {
  return matchParam(p, { real: () => 'float | Tensor', enum: () => enumAlias(p) ?? 'str', bool: () => 'bool', int: () => 'int', list: () => 'Sequence[float]' });
}

/** A dim's value in a fake implementation, from the first [batch, n] tensor and the params. */
function fakeDim(like: string, dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
      return `${like}.shape[0]`;
    case 'n':
      return `${like}.shape[1]`;
    case 'length':
      return `len(${pythonIdent(dim.param)})`;
    case 'param':
      // No allocation (fake tensors): a negative value is left for the kernel to report.
      return `max(${pythonIdent(dim.param)}, 0)`;
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** The fake (meta) result of a kernel's output: an empty tensor of the output's extents and dtype. */
function fakeOutput(like: string, b: BufferArgIR): string {
  const dims = b.shape.dims.map((d) => fakeDim(like, d));
  const dtype = matchElem(b.elem, { real: () => [], int32: () => ['torch.int32'], bool: () => unsupported('python', 'bool buffers') });
  return `${PRIVATE}.fake(${[like, `(${dims.join(', ')}${dims.length === 1 ? ',' : ''})`, ...dtype].join(', ')})`;
}

function schemaOf(kernel: KernelIR): string {
  const args = [
    ...reads(kernel).map((b) => `Tensor${b.optional ? '?' : ''} ${pythonName(b.name)}`),
    ...kernelParams(kernel).map((p) => `${schemaType(p)} ${pythonName(p.name)}`),
    ...scalars(kernel).map((a) => `Tensor ${pythonName(a.name)}`),
  ];
  const outs = writes(kernel);
  const ret = outs.length === 1 ? 'Tensor' : `(${outs.map(() => 'Tensor').join(', ')})`;
  return `(${args.join(', ')}) -> ${ret}`;
}

/** The schema as implicitly concatenated literals, each piece short enough for its line. */
function schemaLiteral(schema: string, indent: number): string {
  if (`${' '.repeat(indent)}schema=${pyStr(schema)},`.length <= PY_WIDTH) return pyStr(schema);
  // Too long for the `schema=` line: in parentheses, on one line if it fits there (as ruff joins it).
  if (`${' '.repeat(indent + 4)}${pyStr(schema)}`.length <= PY_WIDTH) return ['(', `    ${pyStr(schema)}`, ')'].join('\n');
  const room = PY_WIDTH - indent - 4;
  const pieces: string[] = [];
  let rest = schema;
  while (rest.length + 3 > room) {
    const cut = rest.lastIndexOf(', ', room - 3);
    if (cut <= 0) break;
    pieces.push(rest.slice(0, cut + 1));
    rest = rest.slice(cut + 1);
  }
  pieces.push(rest);
  if (pieces.length === 1) return pyStr(schema);
  return ['(', ...pieces.map((p) => `    ${pyStr(p)}`), ')'].join('\n');
}

/** A kernel function's arguments: its tensors, its params, then the JVP's param tangents (0-d
 * tensors in the custom op's schema, like a real param). */
function kernelArgs(kernel: KernelIR, params: (p: ParamIR) => string, scalar: string): string[] {
  return [
    ...reads(kernel).map((b) => `${pythonName(b.name)}: ${b.optional ? 'Tensor | None' : 'Tensor'}`),
    ...kernelParams(kernel).map((p) => `${pythonName(p.name)}: ${params(p)}`),
    ...scalars(kernel).map((a) => `${pythonName(a.name)}: ${scalar}`),
  ];
}

function returnType(kernel: KernelIR): string {
  const outs = writes(kernel);
  return outs.length === 1 ? 'Tensor' : `tuple[${outs.map(() => 'Tensor').join(', ')}]`;
}

/**
 * A kernel's read as `_rr.run` passes it: an int32 input through `_rr.int32`, which converts any
 * integer tensor whose values fit (on real tensors: the check runs even under torch.compile).
 */
function readArg(op: OpIR, b: BufferArgIR): string {
  const name = pythonName(b.name);
  return b.role === 'input' && b.elem === 'int32' ? `${PRIVATE}.int32(${pyStr(op.name.spec)}, ${pyStr(b.name.spec)}, ${name})` : name;
}

function renderImpl(op: OpIR, pass: Pass): string[] {
  const kernel = kernelOf(op, pass);
  const outs = writes(kernel);
  const runArgs = [
    `KERNELS[${pyStr(kernelKey(op, pass))}]`,
    pyTuple(8, [...kernelParams(kernel).map((p) => pythonName(p.name)), ...scalars(kernel).map((a) => pythonName(a.name))]),
    ...reads(kernel).map((b) => readArg(op, b)),
  ];
  return [
    ...pyDef(0, `def ${local(op.name.snake)}_${pass}_impl`, kernelArgs(kernel, implAnnotation, 'Tensor | float'), outs.length === 1 ? 'Tensor' : 'tuple[Tensor, ...]'),
    `    """The ${pass} kernel of \`\`${pythonName(op.name)}\`\` on tensors."""`,
    ...pyCall(4, `return ${PRIVATE}.run`, runArgs, outs.length === 1 ? '[0]' : ''),
  ];
}

function renderCustomOp(op: OpIR, pass: Pass): string[] {
  const kernel = kernelOf(op, pass);
  const name = `${local(op.name.snake)}_${pass}`;
  const rd = reads(kernel);
  const likeBuffer = rd.find((r) => isItemRow(r.shape) && !r.optional && r.elem === 'real');
  if (likeBuffer === undefined) throw new Error(`${kernel.corePath}: no [batch, n] buffer gives the shape of a call`);
  const like = pythonName(likeBuffer.name);
  const fakes = writes(kernel).map((b) => fakeOutput(like, b));
  return [
    ...pyCall(0, `${name} = torch.library.custom_op`, [
      pyStr(`${TORCH_NAMESPACE}::${kernelKey(op, pass)}`),
      `${name}_impl`,
      'mutates_args=()',
      `schema=${schemaLiteral(schemaOf(kernel), 4)}`,
    ]),
    '',
    '',
    ...pyCall(0, `${name}.register_vmap`, [`${PRIVATE}.vmap_rule(${name}, ${rd.length})`]),
    '',
    '',
    `@${name}.register_fake`,
    ...pyDef(0, `def ${name}_fake`, kernelArgs(kernel, fakeAnnotation, 'Tensor'), returnType(kernel)),
    ...(fakes.length === 1 ? [`    return ${fakes[0]}`] : pyDisplay(4, 'return ', '(', fakes, ')')),
  ];
}

/** How the backward is differentiated (`_plumbing.SecondOrder`): the JVP kernel in the cotangents,
 * the HVP kernel in the inputs (their saves: `saved`, positions in the backward's tensors) and ε. */
function renderSecondOrder(op: OpIR): string[] {
  const name = local(op.name.snake);
  const saved = op.grads.map((g) => {
    const k = op.saves.findIndex((s) => s.source === 'input' && s.name.spec === g.of.name.spec);
    if (k < 0) throw new Error(`${op.name.spec}: ${g.of.name.spec} is differentiable but not saved; its HVP has nowhere to go`);
    return String(k);
  });
  return pyCall(0, `${name}_second_order = ${PRIVATE}.SecondOrder`, [
    pyStr(op.name.spec),
    `backward=${name}_backward`,
    `jvp=${op.jvp === null ? 'None' : `${name}_jvp`}`,
    `hvp=${op.hvp === null ? 'None' : `${name}_hvp`}`,
    `params=${pyTuple(8, op.params.map((p) => pyStr(pythonName(p.name))))}`,
    `grad_params=${pyTuple(8, op.paramGrads.map((g) => pyStr(pythonName(g.of.name))))}`,
    `state=${op.saves.length + op.residuals.length}`,
    `saved=${pyTuple(8, saved)}`,
    `cotangents=${op.cotangents.length}`,
  ]);
}

/** A backward's arguments after ctx: one per output of the op, in order (autograd passes one per
 * output); an output without a derivative gets an argument that is never read. */
function cotangentArgs(op: OpIR): string[] {
  const of = new Map(op.cotangents.map((c) => [c.of.name.spec, pythonName(c.name)]));
  return op.outputs.map((o) => {
    const c = of.get(o.name.spec);
    return c === undefined ? `${local(o.name.snake)}: Any` : `${c}: Tensor`;
  });
}

/** The outputs without a derivative (int32 item positions): marked so, they never require grad. */
function nonDifferentiable(op: OpIR): string[] {
  return op.outputs.filter((o) => !o.differentiable).map((o) => pythonName(o.name));
}

/** The custom ops' autograd: setup_context and the backward rule over the backward op. */
function renderAutograd(op: OpIR): string[] {
  const name = local(op.name.snake);
  const ps = op.params.map((p) => pythonName(p.name));
  const outs = writes(op.forward).map((b) => pythonName(b.name));
  const tensors = [...op.saves.map((s) => pythonName(s.name)), ...op.residuals.map((r) => pythonName(r.name))];
  // An input the backward does not read (soft_rank_grouped's groups) is unpacked unnamed.
  const inputs = op.inputs.map((i) => (tensors.includes(pythonName(i.name)) ? pythonName(i.name) : `_${pythonName(i.name)}`));
  // Outputs that are saved or marked non-differentiable are named; the others are unused.
  const outTargets = outs.map((o) => (tensors.includes(o) || nonDifferentiable(op).includes(o) ? o : `_${o}`));
  const bwdArgs = [...reads(op.backward).map((b) => pythonName(b.name)), ...kernelParams(op.backward).map((p) => pythonName(p.name))];
  const bwdOuts = writes(op.backward).map((b) => pythonName(b.name));
  const needs = local('needs');
  const realResiduals = op.residuals.filter((r) => r.elem === 'real').map((r) => pythonName(r.name));
  return [
    ...pyDef(0, `def ${name}_setup_context`, ['ctx: Any', 'inputs: tuple[Any, ...]', 'output: Any'], 'None'),
    `    """Saves what the backward of \`\`${pythonName(op.name)}\`\` reads."""`,
    ...pyAssign(4, [...inputs, ...ps], 'inputs'),
    ...(outs.length === 1 ? (tensors.includes(outs[0] ?? '') ? [`    ${outs[0]} = output`] : []) : pyAssign(4, outTargets, 'output')),
    ...pyCall(4, `${PRIVATE}.save`, ['ctx', pyTuple(8, tensors), pyTuple(8, ps)]),
    // Real residuals are outputs of the custom op that nothing differentiates: marked so, the
    // jvp may give them no tangent (functorch mishandles a None tangent of a differentiable one).
    ...(realResiduals.length + nonDifferentiable(op).length === 0 ? [] : pyCall(4, 'ctx.mark_non_differentiable', [...nonDifferentiable(op), ...realResiduals])),
    '',
    '',
    ...pyDef(0, `def ${name}_backward_rule`, ['ctx: Any', ...cotangentArgs(op), `*${PRIVATE}_unused: Any`], 'tuple[Any, ...]'),
    `    ${local('tensors')}, ${local('params')} = ${PRIVATE}.saved(ctx)`,
    ...pyAssign(4, tensors, local('tensors')),
    ...pyAssign(4, ps, local('params')),
    `    ${needs} = ctx.needs_input_grad`,
    ...pyUnpack(4, bwdOuts, `${PRIVATE}.backward`, [`${name}_second_order`, `${name}_backward`, ...bwdArgs]),
    ...pyDisplay(4, 'return ', '(', gradients(op, needs, 8, (k) => ps[k] ?? ''), ')'),
    '',
    '',
    ...pyCall(0, `${name}_forward.register_autograd`, [`${name}_backward_rule`, `setup_context=${name}_setup_context`]),
  ];
}

/** What the backward returns: a gradient (or None) per argument of the forward, in order. */
function gradients(op: OpIR, needs: string, indent: number, param: (k: number) => string): string[] {
  const gradOf = new Map(op.grads.map((g) => [g.of.name.spec, pythonName(g.name)]));
  const paramGradOf = new Map(op.paramGrads.map((g) => [g.of.name.spec, pythonName(g.name)]));
  const argNames = [...op.inputs.map((i) => i.name.spec), ...op.params.map((p) => p.name.spec)];
  return argNames.map((arg, k) => {
    const grad = gradOf.get(arg);
    if (grad !== undefined) return `${grad} if ${needs}[${k}] else None`;
    const pgrad = paramGradOf.get(arg);
    if (pgrad !== undefined) return pyNested(indent, `${PRIVATE}.param_grad`, [`${needs}[${k}]`, pgrad, param(k - op.inputs.length)]);
    return 'None';
  });
}

/** The eager path: both passes call the kernels directly, one Python frame each, since every
 * frame between the kernel and autograd costs time twice over (cold caches after a large call). */
function renderFunction(op: OpIR): string[] {
  const fwdArgs = kernelArgs(op.forward, implAnnotation, 'Tensor | float');
  const outputs = op.outputs.map((o) => pythonName(o.name));
  const ps = op.params.map((p) => pythonName(p.name));
  const params = local('params');
  const needs = local('needs');
  const tensors = [...op.saves.map((s) => pythonName(s.name)), ...op.residuals.map((r) => pythonName(r.name))];
  const fwdOuts = writes(op.forward).map((b) => pythonName(b.name));
  const fwdTargets = fwdOuts.map((o) => (tensors.includes(o) || outputs.includes(o) ? o : `_${o}`));
  const bwdReads = reads(op.backward).map((b) => pythonName(b.name));
  const bwdOuts = writes(op.backward).map((b) => pythonName(b.name));
  const kernel = (pass: Pass) => `KERNELS[${pyStr(kernelKey(op, pass))}]`;
  // Both kernels take exactly the op's params, in order (ir/normalise.ts), so one tuple serves.
  const call = (indent: number, targets: readonly string[], pass: Pass, args: readonly string[]) => {
    const items = [kernel(pass), params, ...args];
    return targets.length === 1
      ? pyCall(indent, `${targets[0]} = ${PRIVATE}.run`, items, '[0]')
      : pyUnpack(indent, targets, `${PRIVATE}.run`, items);
  };
  const backward = [`${local(op.name.snake)}_second_order`, `${local(op.name.snake)}_backward_impl`, ...bwdReads, `*${params}`];
  const returned = outputs.length === 1 ? (outputs[0] ?? '') : `${outputs.join(', ')}`;
  return [
    `class ${local(op.name.pascal)}(torch.autograd.Function):`,
    `    """The eager path of \`\`${pythonName(op.name)}\`\`: its kernels and rules without the op dispatcher.`,
    '',
    '    The forward takes ``ctx`` (a separate setup_context makes every call bind its arguments',
    '    with ``inspect``; this path is never used under torch.func) and returns only the outputs',
    '    (the residuals are saved, not returned, so autograd has no zero gradients to make for them).',
    op.jvp === null
      ? '    Forward mode (``torch.autograd.forward_ad``) raises: the op has no JVP kernel.'
      : '    Forward mode (``torch.autograd.forward_ad``) runs the JVP kernel on what the forward saved.',
    '    """',
    '',
    '    @staticmethod',
    ...pyDef(4, 'def forward', ['ctx: Any', ...fwdArgs], outputs.length === 1 ? 'Tensor' : `tuple[${outputs.map(() => 'Tensor').join(', ')}]`),
    `        ${params} = ${pyTuple(8, ps)}`,
    ...call(8, fwdTargets, 'forward', reads(op.forward).map((b) => readArg(op, b))),
    ...pyCall(8, `${PRIVATE}.save`, ['ctx', pyTuple(12, tensors), params]),
    ...(nonDifferentiable(op).length === 0 ? [] : pyCall(8, 'ctx.mark_non_differentiable', nonDifferentiable(op))),
    `        return ${returned}`,
    '',
    '    @staticmethod',
    ...pyDef(4, 'def backward', ['ctx: Any', ...cotangentArgs(op)], 'tuple[Any, ...]'),
    `        ${local('tensors')}, ${params} = ${PRIVATE}.saved(ctx)`,
    ...pyAssign(8, tensors, local('tensors')),
    `        ${needs} = ctx.needs_input_grad`,
    ...pyUnpack(8, bwdOuts, `${PRIVATE}.backward`, backward),
    ...pyDisplay(8, 'return ', '(', gradients(op, needs, 12, (k) => `${params}[${k}]`), ')'),
    '',
    ...(op.jvp === null ? jvpRefused(op) : jvpRule(op, op.outputs.map((o) => o.name.spec))),
  ];
}

/** The `jvp` staticmethod of an op without a JVP kernel (spec `jvp: false`): it raises. */
function jvpRefused(op: OpIR): string[] {
  return [
    '    @staticmethod',
    '    def jvp(ctx: Any, *tangents: Any) -> Any:',
    `        raise ${PRIVATE}.forward_mode_error(${pyStr(op.name.spec)})`,
  ];
}

/**
 * The `jvp` staticmethod of an op's Functions: the JVP custom op on the saved tensors and params,
 * one tangent per forward argument (None where it has none: a zero tangent) and the ε tangent. It
 * returns a tangent per output of the Function (`returned`, spec names: the op's outputs, or every
 * forward write), None for residuals. The custom op even on the eager path: tangents may be batched
 * (gradcheck's batched forward-mode check), which only its vmap rule handles.
 */
function jvpRule(op: OpIR, returned: readonly string[]): string[] {
  const jvp = jvpOf(op);
  const tensors = [...op.saves.map((s) => pythonName(s.name)), ...op.residuals.map((r) => pythonName(r.name))];
  const like = reads(jvp).find((b) => isItemRow(b.shape) && b.elem === 'real');
  if (like === undefined) throw new Error(`${jvp.corePath}: no real [batch, n] buffer gives a zero tangent's shape`);
  const tangentAt = new Map(op.tangents.map((t) => [t.of.name.spec, t]));
  const inputTangents = op.inputs.flatMap((input, k) => {
    const t = tangentAt.get(input.name.spec);
    return t === undefined ? [] : [`${pythonName(t.name)} = ${PRIVATE}.tangent(tangents[${k}], ${pythonName(like.name)})`];
  });
  const paramTangents = op.paramTangents.map((t) => {
    const k = op.inputs.length + op.params.findIndex((p) => p.name.spec === t.of.name.spec);
    return `${pythonName(t.name)} = ${PRIVATE}.param_tangent(tangents[${k}], ${pythonName(like.name)})`;
  });
  const outs = writes(jvp).map((b) => pythonName(b.name));
  const outOf = new Map(writes(jvp).map((b) => [b.of ?? '', pythonName(b.name)]));
  // The kernel through its second-order rule: a tangent that is differentiated again (forward
  // over forward, reverse over forward) gets exact derivatives (`_plumbing.jvp`).
  const args = [
    `${local(op.name.snake)}_second_order`,
    `${local(op.name.snake)}_jvp`,
    ...reads(jvp).map((b) => pythonName(b.name)),
    `*${PRIVATE}.op_params(${local('params')})`,
    ...scalars(jvp).map((a) => pythonName(a.name)),
  ];
  const results = returned.map((o) => outOf.get(o) ?? 'None');
  return [
    '    @staticmethod',
    '    def jvp(ctx: Any, *tangents: Any) -> Any:',
    `        ${local('tensors')}, ${local('params')} = ${PRIVATE}.saved(ctx)`,
    ...pyAssign(8, tensors, local('tensors')),
    ...[...inputTangents, ...paramTangents].flatMap((l) => (`        ${l}`.length <= PY_WIDTH ? [`        ${l}`] : splitAssign(8, l))),
    ...(outs.length === 1 ? pyCall(8, `${outs[0]} = ${PRIVATE}.jvp`, args) : pyUnpack(8, outs, `${PRIVATE}.jvp`, args)),
    results.length === 1 ? `        return ${results[0]}` : `        return ${results.join(', ')}`,
  ];
}

/** `name = f(a, b)` too long for one line, as ruff breaks it: one argument per line. */
function splitAssign(indent: number, line: string): string[] {
  const m = /^(\S+ = [\w.]+)\((.*)\)$/.exec(line);
  if (m === null) return [`${' '.repeat(indent)}${line}`];
  return pyCall(indent, m[1] ?? '', (m[2] ?? '').split(', '));
}

function hasListParam(op: OpIR): boolean {
  return op.params.some((p) => matchParam(p, { real: () => false, bool: () => false, enum: () => false, int: () => false, list: () => true }));
}

/** The custom ops as a Function that functorch can transform (vmap, grad, vjp, jacrev, …). */
function renderTransforms(op: OpIR): string[] {
  const name = local(op.name.snake);
  return [
    `class ${local(op.name.pascal)}Transforms(torch.autograd.Function):`,
    `    """\`\`${pythonName(op.name)}\`\` under torch.func transforms and forward-mode AD, outside the compiler.`,
    '',
    '    The custom ops and their rules in a Function with ``setup_context``, the form functorch',
    '    transforms; a vmap runs the forward custom op under its own batching rule.',
    '    """',
    '',
    '    generate_vmap_rule = True',
    // A list param reaches the Function boxed (`_plumbing.Box`): functorch's forward-mode rules
    // would flatten a list argument into its items and fail to pair them with its one tangent.
    ...(hasListParam(op)
      ? [
          `    forward = staticmethod(${PRIVATE}.unboxed(${name}_forward))`,
          `    setup_context = staticmethod(${PRIVATE}.unboxed_context(${name}_setup_context))`,
        ]
      : [`    forward = staticmethod(${name}_forward)`, `    setup_context = staticmethod(${name}_setup_context)`]),
    `    backward = staticmethod(${name}_backward_rule)`,
    '',
    ...(op.jvp === null ? jvpRefused(op) : jvpRule(op, writes(op.forward).map((b) => b.of ?? b.name.spec))),
  ];
}

function renderPublic(op: OpIR): string[] {
  const name = local(op.name.snake);
  const args = [
    ...requiredInputs(op).map((i) => `${pythonName(i.name)}: Tensor`),
    ...op.params.map((p) => `${pythonName(p.name)}: ${publicAnnotation(p)} = ${pythonDefault(p)}`),
    'dim: int = -1',
    ...optionalInputs(op).map((i) => `${pythonName(i.name)}: Tensor | None = None`),
  ];
  const outs = op.outputs;
  const ret = resultClass(op) ?? 'Tensor';
  const inputs = op.inputs.map((i) => `(${pyStr(i.name.spec)}, ${pythonName(i.name)})`);
  const views = op.inputs.map((i) => local(i.name.snake));
  const paramValue = (p: ParamIR, tensor: boolean, boxed: boolean) =>
    matchParam(p, {
      real: () => (tensor ? `${PRIVATE}.as_tensor(${local(p.name.snake)})` : local(p.name.snake)),
      bool: () => `bool(${pythonName(p.name)})`,
      enum: () => pythonName(p.name),
      int: () => local(p.name.snake),
      list: () => (boxed ? `${PRIVATE}.Box(${local(p.name.snake)})` : local(p.name.snake)),
    });
  // Real, int and list params are checked and converted once, before any path: the custom ops'
  // schemas would refuse a wrong type without naming the op.
  const converted = op.params.flatMap((p) =>
    matchParam(p, { real: () => ['real_param'], int: () => ['int_param'], list: () => ['list_param'], enum: () => [], bool: () => [] }).map(
      (fn) => pyCall(4, `${local(p.name.snake)} = ${PRIVATE}.${fn}`, [pyStr(op.name.spec), pyStr(p.name.spec), pythonName(p.name)]),
    ),
  ).flat();
  const fwdOuts = writes(op.forward).map((b) => local(b.name.snake));
  const results = outs.map((o) => `${PRIVATE}.result(${local(o.name.snake)}, ${local('lead')}, ${local('dtype')}, ${local('axis')})`);
  const outNames = outs.map((o) => local(o.name.snake));
  const fwdTargets = fwdOuts.map((o) => (outNames.includes(o) ? o : `_${o.replace(/^_/, '')}`));
  const forward = (indent: number, head: string, tensor: boolean, targets: readonly string[], boxed = false) =>
    targets.length === 1
      ? pyCall(indent, `${targets[0]} = ${head}`, [...views, ...op.params.map((p) => paramValue(p, tensor, boxed))])
      : pyUnpack(indent, targets, head, [...views, ...op.params.map((p) => paramValue(p, tensor, boxed))]);
  return [
    ...renderResultClass(op, pythonApi(op).fn, 'tensor', 'Tensor'),
    ...(resultClass(op) === null ? [] : ['', '']),
    ...pyDef(0, `def ${pythonApi(op).fn}`, args, ret),
    ...opDocstring(4, op, flavour(op), outs),
    ...pyUnpack(4, [local('lead'), local('axis'), local('dtype'), pyTuple(4, views)], `${PRIVATE}.rows`, [
      pyStr(op.name.spec),
      ...inputs,
      ...axisArgs(op, 'dim'),
      ...inputKindArgs(op),
    ]),
    ...converted,
    `    if ${PRIVATE}.eager(${views.join(', ')}):`,
    ...forward(8, `${local(op.name.pascal)}.apply`, false, outNames),
    `    elif ${PRIVATE}.compiling():`,
    ...forward(8, `${name}_forward`, true, fwdTargets),
    '    else:',
    ...forward(8, `${local(op.name.pascal)}Transforms.apply`, true, fwdTargets, true),
    ...returnOutputs(op, results),
  ];
}

function renderOp(op: OpIR): string[] {
  const blank = ['', ''];
  return [
    `# ${'-'.repeat(96)}`,
    `# ${op.name.spec}`,
    ...blank,
    ...renderImpl(op, 'forward'),
    ...blank,
    ...renderImpl(op, 'backward'),
    ...blank,
    ...(op.jvp === null ? [] : [...renderImpl(op, 'jvp'), ...blank]),
    ...(op.hvp === null ? [] : [...renderImpl(op, 'hvp'), ...blank]),
    ...renderCustomOp(op, 'forward'),
    ...blank,
    ...renderCustomOp(op, 'backward'),
    ...blank,
    ...(op.jvp === null ? [] : [...renderCustomOp(op, 'jvp'), ...blank]),
    ...(op.hvp === null ? [] : [...renderCustomOp(op, 'hvp'), ...blank]),
    ...renderSecondOrder(op),
    ...blank,
    ...renderAutograd(op),
    ...blank,
    ...renderFunction(op),
    ...blank,
    ...renderTransforms(op),
    ...blank,
    ...renderPublic(op),
  ];
}

export function renderTorch(ir: IR): string {
  const names = publicNames(ir);
  return pyFile(
    banner(ir, 'hash'),
    ...pyDocstring(0, 'The PyTorch API of rank-relax: differentiable custom ops, one public function per op.', [
      `Generated from ${ir.source}; the plumbing the functions share is in the hand-written ` +
        '``_plumbing.py``. Each op has ``torch.library`` custom ops, ' +
        `\`\`torch.ops.${TORCH_NAMESPACE}.<op>_forward\`\`, \`\`<op>_backward\`\` and, for an op with JVP and HVP kernels, ` +
        '``<op>_jvp`` and ``<op>_hvp``, with fake implementations and an autograd registration; the same kernels and rules also form a ' +
        '``torch.autograd.Function``, which eager calls use when nothing needs the custom op.',
    ], []),
    '',
    'from __future__ import annotations',
    '',
    ...(ir.params.some((p) => p.type === 'list') ? ['from collections.abc import Sequence'] : []),
    `from typing import Any${ir.ops.some((op) => resultClass(op) !== null) ? ', NamedTuple' : ''}`,
    '',
    'import torch',
    'from torch import Tensor',
    '',
    `from .._generated import KERNELS, ${ir.enums.map((e) => e.name.pascal).join(', ')}`,
    `from . import _plumbing as ${PRIVATE}`,
    '',
    ...pyDisplay(0, '__all__ = ', '[', names.map(pyStr), ']'),
    '',
    ...ir.ops.flatMap((op) => ['', ...renderOp(op), '']),
  );
}
