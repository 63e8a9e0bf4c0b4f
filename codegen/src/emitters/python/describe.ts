// What the API reference says of the Python package (the `describe` hook): the NumPy API
// (`rank_relax`), PyTorch (`rank_relax.torch`) and JAX (`rank_relax.jax`) signatures, parameter
// spellings, enum values, examples, and the check of every error message of an op.
import { numpyDtype, pythonApi, pythonDefault, pythonDim, pythonEnumValue, pythonLiteral, pythonName } from './names.ts';
import { code, join } from '../../emit/code.ts';
import { errorCases, type ErrorCase } from '../../emit/error-cases.ts';
import { exampleData, type ExampleData, type ExampleInput } from '../../emit/example.ts';
import { fence, tick } from '../../emit/markdown.ts';
import { pyFloat } from '../../emit/python.ts';
import type { OpDocs, TargetDocs } from '../../emit/types.ts';
import type { IR, OpIR, ParamIR, TensorIR } from '../../ir/types.ts';
import { isPerRow } from '../../ir/shape.ts';
import { assertNever } from '../../util/never.ts';
import { secondOrderNote } from './torch.ts';
import { optionalInputs, requiredInputs, resultClass } from './layout.ts';

/** Python modules: the NumPy API and the two framework modules. */
export const PY_MODULES = { numpy: 'rank_relax', torch: 'rank_relax.torch', jax: 'rank_relax.jax' } as const;
export type PyFlavour = keyof typeof PY_MODULES;

const TYPES: Record<PyFlavour, { readonly input: string; readonly output: string; readonly real: string }> = {
  numpy: { input: 'ArrayLike', output: 'NDArray', real: 'float' },
  torch: { input: 'Tensor', output: 'Tensor', real: 'float | Tensor' },
  jax: { input: 'ArrayLike', output: 'jax.Array', real: 'float | jax.Array' },
};

function paramType(p: ParamIR, flavour: PyFlavour): string {
  switch (p.type) {
    case 'real':
      return TYPES[flavour].real;
    case 'enum':
      return `Literal[${p.values.map((v) => pythonEnumValue(v)).join(', ')}]`;
    case 'bool':
      return 'bool';
    case 'int':
      return 'int';
    case 'list':
      return 'Sequence[float]';
    default:
      return assertNever(p, 'param type');
  }
}

/** `regularization_strength=1.0`, as a call or the parameter table spells it. */
export function pythonParam(p: ParamIR): string {
  return `${pythonName(p.name)}=${pythonDefault(p)}`;
}

function returns(tensors: readonly TensorIR[], type: string): string {
  return tensors.length === 1 ? type : `tuple[${tensors.map(() => type).join(', ')}]`;
}

function def(head: string, args: readonly string[], ret: string): string {
  return [`def ${head}(`, ...args.map((a) => `    ${a},`), `) -> ${ret}: ...`].join('\n');
}

export function pythonSignature(op: OpIR, flavour: PyFlavour): string {
  const t = TYPES[flavour];
  const names = pythonApi(op);
  const inputs = requiredInputs(op).map((i) => `${pythonName(i.name)}: ${t.input}`);
  // The optional inputs (a mask) are keyword arguments after the items axis.
  const optional = optionalInputs(op).map((i) => `${pythonName(i.name)}: ${t.input} | None = None`);
  const params = [
    ...op.params.map((p) => `${pythonName(p.name)}: ${paramType(p, flavour)} = ${pythonDefault(p)}`),
    `${flavour === 'torch' ? 'dim' : 'axis'}: int = -1`,
    ...optional,
  ];
  const fn = def(`${PY_MODULES[flavour]}.${names.fn}`, [...inputs, ...params], resultClass(op) ?? returns(op.outputs, t.output));
  if (flavour !== 'numpy') return fn;
  const cotangents = op.cotangents.map((c) => `${pythonName(c.name)}: ${t.input}`);
  const grads = op.grads.map((g) => g.of);
  const vjp = def(`${PY_MODULES.numpy}.${names.vjp}`, [...inputs, ...cotangents, ...params], returns(grads, t.output));
  if (op.jvp === null) return `${fn}\n\n${vjp}`;
  const tangents = op.tangents.map((x) => `${pythonName(x.name)}: ${t.input}`);
  const jvpParams = [...op.params.map((p) => `${pythonName(p.name)}: ${paramType(p, flavour)} = ${pythonDefault(p)}`), ...op.paramTangents.map((x) => `${pythonName(x.name)}: float = 0.0`), 'axis: int = -1', ...optional];
  const jvp = def(`${PY_MODULES.numpy}.${names.jvp}`, [...inputs, ...tangents, ...jvpParams], returns(op.outputTangents.map((x) => x.of), t.output));
  if (op.hvp === null) return `${fn}\n\n${vjp}\n\n${jvp}`;
  const hvp = def(`${PY_MODULES.numpy}.${names.hvp}`, [...inputs, ...cotangents, ...tangents, ...jvpParams], returns(grads, t.output));
  return `${fn}\n\n${vjp}\n\n${jvp}\n\n${hvp}`;
}

/** How each framework is said to compute gradients, after the signature. */
export function pythonGradientNote(op: OpIR, flavour: PyFlavour): string {
  const grads = op.grads.map((g) => `\`${pythonName(g.of.name)}\``).join(', ');
  const eps = op.paramGrads.map((g) => `\`${pythonName(g.of.name)}\``).join(', ');
  switch (flavour) {
    case 'numpy':
      return (
        `\`${pythonApi(op).vjp}\` returns the gradient of \`sum(cotangent * output)\` with respect to ${grads}` +
        `${op.grads.length > 1 ? ' (a tuple, in that order)' : ''}; it runs the forward again, then the analytical backward.` +
        (op.jvp === null
          ? ''
          : ` \`${pythonApi(op).jvp}\` returns the directional derivative of the output along one tangent per differentiable input ` +
            `(and \`tangent_regularization_strength\`, the tangent of ε, default 0): forward mode, exact, the adjoint of the VJP.`) +
        (op.hvp === null
          ? ''
          : ` \`${pythonApi(op).hvp}\` returns the derivative of what \`${pythonApi(op).vjp}\` returns along the same tangents, at fixed ` +
            'cotangents: the Hessian of `sum(cotangent * output)` applied to them (exact, symmetric).')
      );
    case 'torch':
      return (
        `Differentiable with \`torch.autograd\` with respect to ${grads}${eps === '' ? '' : ` and ${eps} (pass a tensor with \`requires_grad=True\`)`}; ` +
        'works under `torch.compile(fullgraph=True)` and `torch.func` `grad`, `vjp`, `jacrev` and `vmap`. ' +
        (op.jvp === null
          ? 'Forward mode (`torch.func.jvp`, `jacfwd`, `torch.autograd.forward_ad`) and differentiating the gradient ' +
            '(`create_graph=True`) raise `NotImplementedError` naming the op. '
          : 'Forward mode (`torch.func.jvp`, `jacfwd`, `torch.autograd.forward_ad`, a tangent of ε included) is exact: ' +
            `a JVP kernel. ${secondOrderNote(op, '`')} `) +
        'CUDA tensors are computed on the CPU and returned on their device.'
      );
    case 'jax':
      if (op.jvp === null) {
        return (
          `A \`jax.custom_vjp\`: differentiable with respect to ${grads}${eps === '' ? '' : ` and ${eps}`} under \`jax.grad\`, \`jax.jit\` and \`jax.vmap\`. ` +
          'float64 needs `jax.config.update("jax_enable_x64", True)`; otherwise arrays are float32.'
        );
      }
      return (
        `A \`jax.custom_jvp\`: differentiable with respect to ${grads}${eps === '' ? '' : ` and ${eps}`} in forward mode (\`jax.jvp\`, \`jax.jacfwd\`: the JVP kernel) ` +
        'and reverse mode (`jax.grad`, `jax.vjp`, `jax.jacrev`: the analytical backward, the transpose of the JVP), under `jax.jit` and `jax.vmap`. ' +
        `${jaxSecondOrder(op)} ` +
        'float64 needs `jax.config.update("jax_enable_x64", True)`; otherwise arrays are float32.'
      );
  }
}

/** Where second derivatives (`jax.hessian`) are exact and where they raise. */
export function jaxSecondOrder(op: OpIR): string {
  const refused = 'raise `NotImplementedError` naming the op and the order';
  if (op.hvp === null) return `Second derivatives (\`jax.hessian\`, a derivative of the gradient) ${refused}.`;
  const wrt = [...op.grads.map((g) => `\`${pythonName(g.of.name)}\``), ...op.paramGrads.map((g) => `\`${pythonName(g.of.name)}\``)].join(', ');
  return (
    `Second derivatives with respect to ${wrt} run the HVP kernel and are exact: \`jax.hessian\` (\`jacfwd\` over \`jacrev\`), ` +
    `\`jacrev(jacrev)\` and \`jax.grad\` of a gradient; forward over forward (\`jacfwd(jacfwd)\`, ` +
    "\`check_grads(order=2, modes=[\"fwd\"])\`) too, by one HVP per entry of an output's row; third derivatives " +
    `${refused}.`
  );
}

function pyNumber(x: number): string {
  return Number.isNaN(x) ? 'np.nan' : pyFloat(x);
}

function rowsText(rows: readonly (readonly number[])[], integers = false): string {
  return `[${rows.map((r) => `[${r.map((x) => (integers ? String(Math.round(x)) : pyNumber(x))).join(', ')}]`).join(', ')}]`;
}

/** An example input's array; an int32 input's rows (group ids) as integers. */
function construct(flavour: PyFlavour, i: ExampleInput): string {
  const rows = rowsText(i.rows, i.input.elem === 'int32');
  switch (flavour) {
    case 'numpy':
      return `np.array(${rows})`;
    case 'torch':
      return `torch.tensor(${rows}${i.input.differentiable ? ', requires_grad=True' : ''})`;
    case 'jax':
      return `jnp.array(${rows})`;
  }
}

function callArgs(inputs: readonly string[], data: ExampleData): string {
  return [...inputs, ...data.params.map((p) => `${pythonName(p.param.name)}=${pythonLiteral(p.param, p.value)}`)].join(', ');
}

function assign(names: readonly string[], value: string): string {
  return `${names.join(', ')} = ${value}`;
}

const IMPORTS: Record<PyFlavour, readonly string[]> = {
  numpy: ['import numpy as np', '', 'import rank_relax'],
  torch: ['import torch', '', 'import rank_relax.torch'],
  jax: ['import jax', 'import jax.numpy as jnp', '', 'import rank_relax.jax'],
};

/** The example's inputs a call passes: the required ones (an optional input, a mask, is left out). */
function given(inputs: readonly ExampleInput[]): ExampleInput[] {
  return inputs.filter((i) => !i.input.optional);
}

export function pythonExample(op: OpIR, all: ExampleData, flavour: PyFlavour): string {
  const data = { ...all, inputs: given(all.inputs) };
  const fn = `${PY_MODULES[flavour]}.${pythonApi(op).fn}`;
  const inputNames = data.inputs.map((i) => pythonName(i.input.name));
  const outNames = op.outputs.map((o) => pythonName(o.name));
  const lines: string[] = [...IMPORTS[flavour], ''];
  lines.push(...data.inputs.map((i) => `${pythonName(i.input.name)} = ${construct(flavour, i)}`));
  const call = `${fn}(${callArgs(inputNames, data)})`;
  const gradNames = op.grads.map((g) => pythonName(g.name));
  if (flavour === 'numpy') {
    const vjp = `${PY_MODULES.numpy}.${pythonApi(op).vjp}`;
    const cotangents = op.cotangents.map((c) => `np.ones_like(${pythonName(c.of.name)})`);
    lines.push(assign(outNames, call), ...outNames.map((o) => `print(${o})`));
    lines.push(assign(gradNames, `${vjp}(${callArgs([...inputNames, ...cotangents], data)})`), ...gradNames.map((g) => `print(${g})`));
  } else if (flavour === 'torch') {
    lines.push(assign(outNames, call), ...outNames.map((o) => `print(${o})`));
    lines.push(`${op.cotangents.map((c) => `${pythonName(c.of.name)}.sum()`).join(' + ')}.backward()`);
    lines.push(...op.grads.map((g) => `print(${pythonName(g.of.name)}.grad)`));
  } else {
    const diff = data.inputs.filter((i) => i.input.differentiable).map((i) => pythonName(i.input.name));
    lines.push(assign(outNames, call), ...outNames.map((o) => `print(${o})`), '');
    lines.push(`def total(${diff.join(', ')}):`);
    // Only outputs with a derivative enter the total (an int32 one has none).
    const summed = op.outputs.flatMap((o, k) => (o.differentiable ? [`${fn}(${callArgs(inputNames, data)})${op.outputs.length > 1 ? `[${k}]` : ''}.sum()`] : []));
    lines.push(`    return ${summed.join(' + ')}`);
    lines.push('');
    const argnums = diff.length > 1 ? `, argnums=(${diff.map((_, k) => k).join(', ')})` : '';
    lines.push(assign(gradNames, `jax.jit(jax.grad(total${argnums}))(${diff.join(', ')})`), ...gradNames.map((g) => `print(${g})`));
  }
  return lines.join('\n');
}

function errorCall(op: OpIR, c: ErrorCase, all: readonly ExampleInput[]): string {
  const shared = given(all);
  const args = given(c.trigger.inputs).map((i, k) => {
    const same = shared[k]?.rows === i.rows && !c.trigger.integers;
    return same ? pythonName(i.input.name) : `np.array(${rowsText(i.rows, c.trigger.integers || i.input.elem === 'int32')})`;
  });
  const param = c.trigger.param === null ? [] : [`${c.trigger.param.name}=${c.trigger.param.python}`];
  return `lambda: ${PY_MODULES.numpy}.${pythonApi(op).fn}(${[...args, ...param].join(', ')})`;
}

/** A NumPy program that makes every error of the table happen and checks its type and message. */
export function pythonErrorCheck(op: OpIR, data: ExampleData, cases: readonly ErrorCase[]): string {
  const lines = [...IMPORTS.numpy, ''];
  lines.push(...given(data.inputs).map((i) => `${pythonName(i.input.name)} = np.array(${rowsText(i.rows, i.input.elem === 'int32')})`));
  lines.push('cases = [');
  for (const c of cases) {
    lines.push(`    (${ERROR_TYPES[c.raises]}, ${errorCall(op, c, data.inputs)}, ${c.message === null ? 'None' : JSON.stringify(c.message)}),`);
  }
  lines.push(']');
  lines.push(
    'for error, call, message in cases:',
    '    try:',
    '        call()',
    '    except error as e:',
    '        assert message is None or str(e) == message, (str(e), message)',
    '    else:',
    '        raise AssertionError(f"no {error.__name__} for {message}")',
    `print(len(cases), "errors as documented")`,
  );
  return lines.join('\n');
}

const FLAVOURS: readonly [PyFlavour, string][] = [
  ['numpy', 'NumPy'],
  ['torch', 'PyTorch'],
  ['jax', 'JAX'],
];

/** What the API raises for each cause of error. */
export const ERROR_TYPES = { value: 'ValueError', enum: 'ValueError', type: 'TypeError', param: 'TypeError' } as const;

function opDocs(op: OpIR): OpDocs {
  const py = pythonApi(op);
  const data = exampleData(op);
  return {
    fn: py.fn,
    names: [
      {
        label: 'NumPy',
        names: [
          `${PY_MODULES.numpy}.${py.fn}`,
          `${PY_MODULES.numpy}.${py.vjp}`,
          ...(op.jvp === null ? [] : [`${PY_MODULES.numpy}.${py.jvp}`]),
          ...(op.hvp === null ? [] : [`${PY_MODULES.numpy}.${py.hvp}`]),
        ],
      },
      { label: 'PyTorch', names: [`${PY_MODULES.torch}.${py.fn}`] },
      { label: 'JAX', names: [`${PY_MODULES.jax}.${py.fn}`] },
    ],
    params: op.params.map((p) => tick(pythonParam(p))),
    shapes: Object.fromEntries([
      ...[...op.inputs, ...op.outputs].map((t) => [
        t.name.spec,
        isPerRow(t.shape) ? '`[...]`: one value per row' : `\`[..., ${t.shape.row.map(pythonDim).join(', ')}]\`; 1-D is one row`,
      ]),
      ...op.residuals.map((t) => [t.name.spec, 'kept inside']),
    ]),
    section: join(
      FLAVOURS.map(
        ([flavour, title]) => code`
          ### ${title}

          ${fence('python', pythonSignature(op, flavour), false)}

          ${pythonGradientNote(op, flavour)}

          ${fence('python', pythonExample(op, data, flavour), true)}
        `,
      ),
      '\n\n',
    ),
    errorCheck: { label: 'NumPy', markdown: fence('python', pythonErrorCheck(op, data, errorCases(op, data)), true) },
  };
}

export function describePython(ir: IR): TargetDocs {
  return {
    language: 'Python',
    column: FLAVOURS.map(([, title]) => title).join(' / '),
    shapesColumn: FLAVOURS.map(([, title]) => title).join(' / '),
    dtypes: Object.fromEntries(ir.dtypes.map((t) => [t.id, tick(numpyDtype(t) ?? t.id)])),
    errorNotes: [
      code`
        - JAX checks params when it traces; inside ${tick('jax.jit')}, a value checked when the kernel runs (an input's
          values, a traced ε) raises ${tick('jax.errors.JaxRuntimeError')} carrying the same message.
      `,
    ],
    overview: code`
      - **Python**: arrays of shape \`[..., n]\` (leading axes are rows; a 1-D array is one row), float32 or float64
        (float16 and bfloat16 are computed in float32); \`${PY_MODULES.torch}\` and \`${PY_MODULES.jax}\` are differentiable.
        \`axis=\` (\`dim=\` in PyTorch, default -1) puts the items on another axis of every input; an output's item dim is
        then at that axis and a one-value-per-row output drops it; an \`[..., n, n]\` output allows only the last axis.
    `,
    module: [PY_MODULES.numpy, PY_MODULES.torch, PY_MODULES.jax].join(', '),
    ops: Object.fromEntries(ir.ops.map((op) => [op.name.spec, opDocs(op)])),
    errorTypes: ERROR_TYPES,
    enumValues: Object.fromEntries(ir.enums.map((e) => [e.name.spec, Object.fromEntries(e.values.map((v) => [v.name.spec, tick(pythonEnumValue(v))]))])),
  };
}
