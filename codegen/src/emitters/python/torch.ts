// rank_relax/torch/_generated.py: per op, a forward and a backward `torch.library.custom_op`
// (`torch.ops.rank_relax.<op>_forward` / `_backward`) with their fake (meta) implementations, the
// autograd registration tying them together, and the public function with torchsort-style
// keyword arguments. The backward is a custom op too, so torch.compile traces both passes.
import { banner } from '../../emit/text.ts';
import type { IR, OpIR, ParamIR } from '../../ir/types.ts';
import { opDocstring, type Flavour } from './docs.ts';
import { enumAlias, kernelKey, PRIVATE, PY_WIDTH, TORCH_NAMESPACE } from './layout.ts';
import { publicNames } from './numpy.ts';
import { pyAssign, pyCall, pyDef, pyDisplay, pyDocstring, pyFile, pyStr, pyUnpack } from './py.ts';
import { params as kernelParams, reads, writes } from './rust.ts';

const FLAVOUR: Flavour = {
  array: 'tensor',
  notes: [
    'Differentiable (``torch.autograd``, ``torch.compile(fullgraph=True)``): the forward and the ' +
      'backward are ``torch.library`` custom ops. Tensors on another device (CUDA) are computed on ' +
      'the CPU and the results returned on their device.',
  ],
  paramGrad: 'A tensor that requires grad receives a gradient.',
  noGrad: 'Receives no gradient.',
  module: 'rank_relax.torch',
  construct: 'torch.tensor',
};

function local(name: string): string {
  return `${PRIVATE}_${name}`;
}

/** The custom op's schema type of a param. */
function schemaType(p: ParamIR): string {
  return p.type === 'real' ? 'Tensor' : p.type === 'enum' ? 'str' : 'bool';
}

function annotation(p: ParamIR): string {
  return p.type === 'real' ? 'Tensor' : p.type === 'enum' ? 'str' : 'bool';
}

function publicAnnotation(p: ParamIR): string {
  return p.type === 'real' ? 'float | Tensor' : p.type === 'enum' ? (enumAlias(p) ?? 'str') : 'bool';
}

function schemaOf(op: OpIR, pass: 'forward' | 'backward'): string {
  const kernel = pass === 'forward' ? op.forward : op.backward;
  const args = [
    ...reads(kernel).map((b) => `Tensor ${b.name.python}`),
    ...kernelParams(kernel).map((p) => `${schemaType(p)} ${p.name.python}`),
  ];
  const outs = writes(kernel);
  const ret = outs.length === 1 ? 'Tensor' : `(${outs.map(() => 'Tensor').join(', ')})`;
  return `(${args.join(', ')}) -> ${ret}`;
}

/** The schema as implicitly concatenated literals, each piece short enough for its line. */
function schemaLiteral(schema: string, indent: number): string {
  const room = PY_WIDTH - indent - 4;
  const pieces: string[] = [];
  let rest = schema;
  while (rest.length + 2 > room) {
    const cut = rest.lastIndexOf(', ', room - 3);
    if (cut <= 0) break;
    pieces.push(rest.slice(0, cut + 1));
    rest = rest.slice(cut + 1);
  }
  pieces.push(rest);
  if (pieces.length === 1) return pyStr(schema);
  return ['(', ...pieces.map((p) => `    ${pyStr(p)}`), ')'].join('\n');
}

function opName(op: OpIR, pass: 'forward' | 'backward'): string {
  return `${local(op.name.snake)}_${pass}`;
}

function renderCustomOp(op: OpIR, pass: 'forward' | 'backward'): string[] {
  const kernel = pass === 'forward' ? op.forward : op.backward;
  const rd = reads(kernel);
  const ps = kernelParams(kernel);
  const outs = writes(kernel);
  const args = [...rd.map((b) => `${b.name.python}: Tensor`), ...ps.map((p) => `${p.name.python}: ${annotation(p)}`)];
  const ret = outs.length === 1 ? 'Tensor' : `tuple[${outs.map(() => 'Tensor').join(', ')}]`;
  const runArgs = [
    `KERNELS[${pyStr(kernelKey(op, pass))}]`,
    `(${ps.map((p) => p.name.python).join(', ')}${ps.length === 1 ? ',' : ''})`,
    ...rd.map((b) => b.name.python),
  ];
  const fakes = outs.map((b) => {
    const like = rd.find((r) => !r.shape.perRow)?.name.python ?? 'values';
    if (b.shape.perRow) return `${PRIVATE}.fake_rows(${like})`;
    return b.elem === 'int32' ? `${PRIVATE}.fake_matrix(${like}, torch.int32)` : `${PRIVATE}.fake_matrix(${like})`;
  });
  const what = pass === 'forward' ? 'Forward' : 'Backward';
  const body = outs.length === 1 ? pyCall(4, `return ${PRIVATE}.run`, runArgs, '[0]') : pyCall(4, `return ${PRIVATE}.run`, runArgs);
  const decorator = pyCall(0, '@torch.library.custom_op', [
    pyStr(`${TORCH_NAMESPACE}::${kernelKey(op, pass)}`),
    'mutates_args=()',
    `schema=${schemaLiteral(schemaOf(op, pass), 4)}`,
  ]);
  return [
    ...decorator,
    ...pyDef(0, `def ${opName(op, pass)}`, args, ret),
    `    """${what} kernel of \`\`${op.name.python}\`\`."""`,
    ...body,
    '',
    '',
    `@${opName(op, pass)}.register_fake`,
    ...pyDef(0, `def ${opName(op, pass)}_fake`, args, ret),
    ...(fakes.length === 1 ? [`    return ${fakes[0]}`] : pyCall(4, 'return ', fakes).map((l) => l.replace('return (', 'return ('))),
  ];
}

function renderAutograd(op: OpIR): string[] {
  const inputs = op.inputs.map((i) => i.name.python);
  const ps = op.params.map((p) => p.name.python);
  const outs = writes(op.forward).map((b) => b.name.python);
  const tensorParams = op.params.filter((p) => p.type === 'real').map((p) => p.name.python);
  const otherParams = op.params.filter((p) => p.type !== 'real').map((p) => p.name.python);
  const saved = [...op.saves.map((s) => s.name.python), ...op.residuals.map((r) => r.name.python), ...tensorParams];
  const bwdArgs = [
    ...reads(op.backward).map((b) => b.name.python),
    ...kernelParams(op.backward).map((p) => p.name.python),
  ];
  const bwdOuts = writes(op.backward).map((b) => b.name.python);
  const cotangents = [
    ...op.cotangents.map((c) => c.name.python),
    ...op.residuals.map((r) => `${PRIVATE}_cotangent_${r.name.snake}`),
  ];
  const gradOf = new Map(op.grads.map((g) => [g.of.name.spec, g.name.python]));
  const paramGradOf = new Map(op.paramGrads.map((g) => [g.of.name.spec, g.name.python]));
  const argNames = [...op.inputs.map((i) => i.name.spec), ...op.params.map((p) => p.name.spec)];
  const returned = argNames.map((name, k) => {
    const grad = gradOf.get(name);
    if (grad !== undefined) return pyCall(8, `${PRIVATE}.grad`, [`ctx.needs_input_grad[${k}]`, grad]).map((l) => l.slice(8)).join('\n');
    const pgrad = paramGradOf.get(name);
    if (pgrad !== undefined) {
      return pyCall(8, `${PRIVATE}.param_grad`, [`ctx.needs_input_grad[${k}]`, pgrad, name]).map((l) => l.slice(8)).join('\n');
    }
    return 'None';
  });
  const setup = `${local(op.name.snake)}_setup_context`;
  const backward = `${local(op.name.snake)}_backward_rule`;
  return [
    ...pyDef(0, `def ${setup}`, ['ctx: Any', 'inputs: tuple[Any, ...]', 'output: Any'], 'None'),
    ...pyAssign(4, [...inputs, ...ps], 'inputs'),
    ...(outs.some((o) => saved.includes(o))
      ? outs.length === 1
        ? [`    ${outs[0]} = output`]
        : pyAssign(4, outs.map((o) => (saved.includes(o) ? o : `_${o}`)), 'output')
      : []),
    ...pyCall(4, 'ctx.save_for_backward', saved),
    ...(otherParams.length > 0
      ? [`    ctx.${PRIVATE}_params = (${otherParams.join(', ')}${otherParams.length === 1 ? ',' : ''})`]
      : []),
    '',
    '',
    ...pyDef(0, `def ${backward}`, ['ctx: Any', ...cotangents.map((c) => `${c}: Any`)], 'tuple[Any, ...]'),
    ...pyAssign(4, saved, 'ctx.saved_tensors'),
    ...(otherParams.length > 0 ? pyAssign(4, otherParams, `ctx.${PRIVATE}_params`) : []),
    ...pyUnpack(4, bwdOuts, opName(op, 'backward'), bwdArgs),
    ...pyDisplay(4, 'return ', '(', returned, ')'),
    '',
    '',
    ...pyCall(0, `${opName(op, 'forward')}.register_autograd`, [backward, `setup_context=${setup}`]),
  ];
}

function renderPublic(op: OpIR): string[] {
  const args = [
    ...op.inputs.map((i) => `${i.name.python}: Tensor`),
    ...op.params.map((p) => `${p.name.python}: ${publicAnnotation(p)} = ${p.defaultLiteral.python}`),
  ];
  const outs = op.outputs;
  const ret = outs.length === 1 ? 'Tensor' : `tuple[${outs.map(() => 'Tensor').join(', ')}]`;
  const inputs = op.inputs.map((i) => `(${pyStr(i.name.spec)}, ${i.name.python})`);
  const views = op.inputs.map((i) => local(i.name.snake));
  const viewTarget = views.length === 1 ? `(${views[0]},)` : `(${views.join(', ')})`;
  const reals = op.params.filter((p) => p.type === 'real');
  const fwdArgs = [...views, ...op.params.map((p) => (p.type === 'real' ? local(p.name.snake) : p.type === 'bool' ? `bool(${p.name.python})` : p.name.python))];
  const fwdOuts = writes(op.forward).map((b) => local(b.name.snake));
  const results = outs.map((o) =>
    `${PRIVATE}.${o.shape.perRow ? 'rows_result' : 'matrix'}(${local(o.name.snake)}, ${local('lead')}, ${local('dtype')})`,
  );
  return [
    ...pyDef(0, `def ${op.name.python}`, args, ret),
    ...opDocstring(4, op, FLAVOUR, outs),
    ...pyUnpack(4, [local('lead'), local('dtype'), viewTarget], `${PRIVATE}.rows`, [pyStr(op.name.spec), ...inputs]),
    ...reals.flatMap((p) =>
      pyCall(4, `${local(p.name.snake)} = ${PRIVATE}.real_param`, [pyStr(op.name.spec), pyStr(p.name.spec), p.name.python]),
    ),
    ...(fwdOuts.length === 1
      ? pyCall(4, `${fwdOuts[0]} = ${opName(op, 'forward')}`, fwdArgs)
      : pyUnpack(4, fwdOuts, opName(op, 'forward'), fwdArgs)),
    outs.length === 1 ? `    return ${results[0]}` : `    return ${results.join(', ')}`,
  ];
}

function renderOp(op: OpIR): string[] {
  return [
    `# ${'-'.repeat(96)}`,
    `# ${op.name.spec}`,
    '',
    '',
    ...renderCustomOp(op, 'forward'),
    '',
    '',
    ...renderCustomOp(op, 'backward'),
    '',
    '',
    ...renderAutograd(op),
    '',
    '',
    ...renderPublic(op),
  ];
}

export function renderTorch(ir: IR): string {
  const names = publicNames(ir);
  return pyFile(
    banner(ir, 'hash'),
    ...pyDocstring(0, 'The PyTorch API of rank-relax: differentiable custom ops, one public function per op.', [
      `Generated from ${ir.source}; the plumbing the functions share is in the hand-written ` +
        '``_plumbing.py``. Each op is two ``torch.library`` custom ops, ' +
        `\`\`torch.ops.${TORCH_NAMESPACE}.<op>_forward\`\` and \`\`<op>_backward\`\`, with fake implementations and ` +
        'an autograd registration.',
    ], []),
    '',
    'from __future__ import annotations',
    '',
    'from typing import Any',
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
