// rank_relax/_generated.py: the NumPy API (one function per op, its VJP, its JVP and its HVP), the table of native
// kernels the torch and JAX modules share, and the enum aliases; rank_relax/_abi.py: the ABI
// constants `__init__.py` compares with the native module's before importing anything else.
import { pythonApi, pythonName } from './names.ts';
import { banner } from '../../emit/text.ts';
import type { EnumIR, IR, OpIR, ParamIR } from '../../ir/types.ts';
import { opDocstring, type Flavour } from './docs.ts';
import { axisArgs, checkName, dtypes, enumAlias, inputKindArgs, kernelKey, nativeName, optionalInputs, PRIVATE, renderResultClass, requiredInputs, resultClass } from './layout.ts';
import { pyAssign, pyCall, pyDef, pyDisplay, pyDocstring, pyFile, pyHex, pyStr, pyUnpack, PY_WIDTH } from '../../emit/python.ts';
import { reads, writes } from './rust.ts';
import { assertNever } from '../../util/never.ts';
import { opKernels } from '../../ir/kernels.ts';
import { pythonDefault, pythonEnumValue } from './names.ts';

const FLAVOUR: Flavour = {
  array: 'array',
  notes: [
    'NumPy arrays in, NumPy arrays out; a C-contiguous input of the kernel dtype is read without a copy, ' +
      'and the GIL is released while the kernel runs.',
  ],
  paramGrad: null,
  noGrad: null,
  module: 'rank_relax',
  construct: 'np.array',
  axis: 'axis',
};

/** `name: Type = default` of a param in the NumPy API. */
function paramArg(p: ParamIR): string {
  switch (p.type) {
    case 'real':
      return `${pythonName(p.name)}: float = ${pythonDefault(p)}`;
    case 'enum':
      return `${pythonName(p.name)}: ${enumAlias(p)} = ${pythonDefault(p)}`;
    case 'bool':
      return `${pythonName(p.name)}: bool = ${pythonDefault(p)}`;
    case 'int':
      return `${pythonName(p.name)}: int = ${pythonDefault(p)}`;
    case 'list':
      return `${pythonName(p.name)}: Sequence[float] | NDArray[Any] = ${pythonDefault(p)}`;
    default:
      return assertNever(p, 'param type');
  }
}

/** The value passed to the kernel for a param (real params are converted, once, beforehand). */
export function paramValue(p: ParamIR): string {
  switch (p.type) {
    case 'real':
      return `${PRIVATE}_${p.name.snake}`;
    case 'enum':
      return pythonName(p.name);
    case 'bool':
      return `bool(${pythonName(p.name)})`;
    case 'int':
    case 'list':
      // Converted and checked by the native module, with the op and argument in its messages.
      return pythonName(p.name);
    default:
      return assertNever(p, 'param type');
  }
}

function local(name: string): string {
  return `${PRIVATE}_${name}`;
}

/** The required inputs as positional arguments. */
function inputArgs(op: OpIR): string[] {
  return requiredInputs(op).map((i) => `${pythonName(i.name)}: ArrayLike`);
}

/** The items axis, then the optional inputs (a mask), keyword arguments that default to None. */
function tailArgs(op: OpIR): string[] {
  return ['axis: int = -1', ...optionalInputs(op).map((i) => `${pythonName(i.name)}: ArrayLike | None = None`)];
}

/** `a, b = _rr_call.arrays`, broken as ruff breaks it: the value in parentheses, else the targets. */
function unpackArrays(names: readonly string[]): string[] {
  const value = `${local('call')}.arrays`;
  if (names.length === 1) return [`    (${names[0]},) = ${value}`];
  const line = `    ${names.join(', ')} = ${value}`;
  if (line.length <= PY_WIDTH) return [line];
  const head = `    ${names.join(', ')} = (`;
  if (head.length <= PY_WIDTH) return [head, `        ${value}`, '    )'];
  return pyAssign(4, names, value);
}

/** The body lines shared by the function, its VJP and its JVP: checks, conversions, the forward
 * kernel. The JVP's tangents (`tangents`) join the call's arrays: the same shape and axis as the
 * inputs, checked with them. */
function forwardLines(op: OpIR, tangents = false): string[] {
  const tensors = [...op.inputs, ...(tangents ? op.tangents : [])];
  const inputs = tensors.map((i) => `(${pyStr(i.name.spec)}, ${pythonName(i.name)})`);
  const reals = op.params.filter((p) => p.type === 'real');
  const outs = writes(op.forward).map((b) => local(b.name.snake));
  return [
    ...pyCall(4, `${local('call')} = ${PRIVATE}.Call`, [pyStr(op.name.spec), ...inputs, ...axisArgs(op, 'axis'), ...inputKindArgs(op)]),
    ...unpackArrays(tensors.map((i) => local(i.name.snake))),
    ...reals.flatMap((p) =>
      pyCall(4, `${local(p.name.snake)} = ${PRIVATE}.float_param`, [pyStr(op.name.spec), pyStr(p.name.spec), pythonName(p.name)]),
    ),
    ...pyUnpack(4, outs, `${local('call')}.kernel(KERNELS[${pyStr(kernelKey(op, 'forward'))}])`, [
      ...op.inputs.map((i) => local(i.name.snake)),
      ...op.params.map(paramValue),
    ]),
  ];
}

/** A result of the kernel with the caller's leading dims, in the inputs' dtype. */
function result(name: string): string {
  return `${local('call')}.result(${local(name)})`;
}

/** `return value`, or the op's named tuple of them (`return SoftSortTopkResult(...)`). */
export function returnOutputs(op: OpIR, values: readonly string[]): string[] {
  const cls = resultClass(op);
  return cls === null ? [`    return ${values.join(', ')}`] : pyCall(4, `return ${cls}`, values);
}

function renderFunction(op: OpIR): string[] {
  const args = [...inputArgs(op), ...op.params.map(paramArg), ...tailArgs(op)];
  const outs = op.outputs;
  const values = outs.map((o) => result(o.name.snake));
  return [
    ...renderResultClass(op, pythonApi(op).fn, 'array', 'NDArray[Any]'),
    ...(resultClass(op) === null ? [] : ['', '']),
    ...pyDef(0, `def ${pythonApi(op).fn}`, args, resultClass(op) ?? 'NDArray[Any]'),
    ...opDocstring(4, op, FLAVOUR, outs),
    ...forwardLines(op),
    ...returnOutputs(op, values),
  ];
}

function renderVjp(op: OpIR): string[] {
  const grads = op.grads;
  const args = [...inputArgs(op), ...op.cotangents.map((c) => `${pythonName(c.name)}: ArrayLike`), ...op.params.map(paramArg), ...tailArgs(op)];
  const ret = grads.length === 1 ? 'NDArray[Any]' : `tuple[${grads.map(() => 'NDArray[Any]').join(', ')}]`;
  const bwdOuts = writes(op.backward).map((b) => local(b.name.snake));
  const bwdArgs = [...reads(op.backward).map((b) => local(b.name.snake)), ...op.params.map(paramValue)];
  const values = grads.map((g) => result(g.name.snake));
  const gradNames = grads.map((g) => `\`\`${pythonName(g.of.name)}\`\``).join(' and ');
  const summary = `Vector-Jacobian product of :func:\`${pythonApi(op).fn}\`.`;
  const cotangentDocs = op.cotangents.map(
    (c) => [pythonName(c.name), `Cotangent of \`\`${pythonName(c.of.name)}\`\` (its shape).`] as const,
  );
  return [
    ...pyDef(0, `def ${pythonApi(op).vjp}`, args, ret),
    ...pyDocstring(
      4,
      summary,
      [
        `The gradient with respect to ${gradNames} of \`\`sum(${op.cotangents.map((c) => `${pythonName(c.name)} * ${pythonName(c.of.name)}`).join(' + ')})\`\` ` +
          `for the outputs of \`\`${pythonApi(op).fn}(...)\`\`, for NumPy users with their own autodiff. ` +
          'Runs the forward kernel, then the backward kernel (analytical, O(n) per row for the isotonic ops).',
      ],
      [
        {
          title: 'Args',
          entries: [
            [requiredInputs(op).map((i) => pythonName(i.name)).join(', '), `As for :func:\`${pythonApi(op).fn}\`.`],
            ...cotangentDocs,
            [['regularization_strength, ..., axis', ...optionalInputs(op).map((i) => pythonName(i.name))].join(', '), `As for :func:\`${pythonApi(op).fn}\`.`],
          ],
        },
        {
          title: 'Returns',
          entries: [[null, `The gradient with respect to ${gradNames}${grads.length > 1 ? ', in that order' : ''}.`]],
        },
      ],
    ),
    ...forwardLines(op),
    ...op.cotangents.flatMap((c) =>
      pyCall(4, `${local(c.name.snake)} = ${local('call')}.cotangent`, [
        pyStr(c.name.spec),
        pythonName(c.name),
        local(c.of.name.snake),
      ]),
    ),
    ...pyUnpack(4, bwdOuts, `${local('call')}.kernel(KERNELS[${pyStr(kernelKey(op, 'backward'))}])`, bwdArgs),
    grads.length === 1 ? `    return ${values[0]}` : `    return ${values.join(', ')}`,
  ];
}

function renderJvp(op: OpIR): string[] {
  const jvp = op.jvp;
  if (jvp === null) return [];
  const outs = op.outputTangents;
  const args = [
    ...inputArgs(op),
    ...op.tangents.map((t) => `${pythonName(t.name)}: ArrayLike`),
    ...op.params.map(paramArg),
    ...op.paramTangents.map((t) => `${pythonName(t.name)}: float = 0.0`),
    ...tailArgs(op),
  ];
  const ret = outs.length === 1 ? 'NDArray[Any]' : `tuple[${outs.map(() => 'NDArray[Any]').join(', ')}]`;
  const jvpOuts = writes(jvp).map((b) => local(b.name.snake));
  const jvpArgs = [
    ...reads(jvp).map((b) => local(b.name.snake)),
    ...op.params.map(paramValue),
    ...op.paramTangents.map((t) => local(t.name.snake)),
  ];
  const values = outs.map((t) => result(t.name.snake));
  const fn = pythonApi(op).fn;
  const outNames = outs.map((t) => `\`\`${pythonName(t.of.name)}\`\``).join(' and ');
  const tangentDocs = op.tangents.map(
    (t) => [pythonName(t.name), `Tangent of \`\`${pythonName(t.of.name)}\`\` (its shape).`] as const,
  );
  const paramTangentDocs = op.paramTangents.map(
    (t) =>
      [
        pythonName(t.name),
        `Tangent of \`\`${pythonName(t.of.name)}\`\`, a real number; default \`\`0.0\`\` (the param held fixed).`,
      ] as const,
  );
  return [
    ...pyDef(0, `def ${pythonApi(op).jvp}`, args, ret),
    ...pyDocstring(
      4,
      `Jacobian-vector product of :func:\`${fn}\` (forward mode).`,
      [
        `The directional derivative of ${outNames} of \`\`${fn}(...)\`\` along ` +
          `${op.tangents.map((t) => `\`\`${pythonName(t.name)}\`\``).join(' and ')}` +
          `${op.paramTangents.map((t) => ` and \`\`${pythonName(t.name)}\`\``).join('')}, for NumPy users with their own autodiff: ` +
          `the adjoint of :func:\`${pythonApi(op).vjp}\`. Runs the forward kernel, then the JVP kernel (exact).`,
      ],
      [
        {
          title: 'Args',
          entries: [
            [requiredInputs(op).map((i) => pythonName(i.name)).join(', '), `As for :func:\`${fn}\`.`],
            ...tangentDocs,
            ['regularization_strength, ...', `As for :func:\`${fn}\`.`],
            ...paramTangentDocs,
            ['axis', `As for :func:\`${fn}\`; the tangents have their items along it too.`],
            ...optionalInputs(op).map((i) => [pythonName(i.name), `As for :func:\`${fn}\`.`] as const),
          ],
        },
        {
          title: 'Returns',
          entries: [[null, `The tangent of ${outNames}${outs.length > 1 ? ', in that order' : ''} (the output's shape).`]],
        },
        {
          title: 'Raises',
          entries: [
            ['TypeError', 'As for the op, or a tangent that is not a floating-point array.'],
            ['ValueError', 'As for the op, or a tangent of another shape than its input or with a NaN or infinite value.'],
          ],
        },
      ],
    ),
    ...forwardLines(op, true),
    ...op.paramTangents.flatMap((t) =>
      pyCall(4, `${local(t.name.snake)} = ${PRIVATE}.float_param`, [pyStr(op.name.spec), pyStr(t.name.spec), pythonName(t.name)]),
    ),
    ...pyUnpack(4, jvpOuts, `${local('call')}.kernel(KERNELS[${pyStr(kernelKey(op, 'jvp'))}])`, jvpArgs),
    outs.length === 1 ? `    return ${values[0]}` : `    return ${values.join(', ')}`,
  ];
}

function renderHvp(op: OpIR): string[] {
  const hvp = op.hvp;
  if (hvp === null) return [];
  const outs = op.hvps;
  const args = [
    ...inputArgs(op),
    ...op.cotangents.map((c) => `${pythonName(c.name)}: ArrayLike`),
    ...op.tangents.map((t) => `${pythonName(t.name)}: ArrayLike`),
    ...op.params.map(paramArg),
    ...op.paramTangents.map((t) => `${pythonName(t.name)}: float = 0.0`),
    ...tailArgs(op),
  ];
  const ret = outs.length === 1 ? 'NDArray[Any]' : `tuple[${outs.map(() => 'NDArray[Any]').join(', ')}]`;
  const hvpOuts = writes(hvp).map((b) => local(b.name.snake));
  const hvpArgs = [
    ...reads(hvp).map((b) => local(b.name.snake)),
    ...op.params.map(paramValue),
    ...op.paramTangents.map((t) => local(t.name.snake)),
  ];
  const values = outs.map((h) => result(h.name.snake));
  const fn = pythonApi(op).fn;
  const vjp = pythonApi(op).vjp;
  const gradNames = op.grads.map((g) => `\`\`${pythonName(g.of.name)}\`\``).join(' and ');
  const along = [...op.tangents, ...op.paramTangents].map((t) => `\`\`${pythonName(t.name)}\`\``).join(' and ');
  return [
    ...pyDef(0, `def ${pythonApi(op).hvp}`, args, ret),
    ...pyDocstring(
      4,
      `Hessian-vector product of :func:\`${fn}\` (the derivative of its VJP).`,
      [
        `The directional derivative of the gradient with respect to ${gradNames} that :func:\`${vjp}\` returns, ` +
          `along ${along}, at fixed cotangents: the Hessian of \`\`sum(${op.cotangents.map((c) => `${pythonName(c.name)} * ${pythonName(c.of.name)}`).join(' + ')})\`\` ` +
          'applied to the tangents (symmetric), for NumPy users with their own autodiff. Runs the forward kernel, then the HVP kernel (exact).',
      ],
      [
        {
          title: 'Args',
          entries: [
            [requiredInputs(op).map((i) => pythonName(i.name)).join(', '), `As for :func:\`${fn}\`.`],
            ...op.cotangents.map((c) => [pythonName(c.name), `Cotangent of \`\`${pythonName(c.of.name)}\`\` (its shape), as for :func:\`${vjp}\`.`] as const),
            ...op.tangents.map((t) => [pythonName(t.name), `Tangent of \`\`${pythonName(t.of.name)}\`\` (its shape).`] as const),
            ['regularization_strength, ...', `As for :func:\`${fn}\`.`],
            ...op.paramTangents.map(
              (t) =>
                [
                  pythonName(t.name),
                  `Tangent of \`\`${pythonName(t.of.name)}\`\`, a real number; default \`\`0.0\`\` (the param held fixed).`,
                ] as const,
            ),
            ['axis', `As for :func:\`${fn}\`; the cotangents and tangents have their items along it too.`],
            ...optionalInputs(op).map((i) => [pythonName(i.name), `As for :func:\`${fn}\`.`] as const),
          ],
        },
        {
          title: 'Returns',
          entries: [[null, `The derivative of the gradient with respect to ${gradNames}${outs.length > 1 ? ', in that order' : ''} (the input's shape).`]],
        },
        {
          title: 'Raises',
          entries: [
            ['TypeError', 'As for the op, or a cotangent or tangent that is not a floating-point array.'],
            ['ValueError', 'As for the op, or a cotangent or tangent of the wrong shape or with a NaN or infinite value.'],
          ],
        },
      ],
    ),
    ...forwardLines(op, true),
    ...op.cotangents.flatMap((c) =>
      pyCall(4, `${local(c.name.snake)} = ${local('call')}.cotangent`, [
        pyStr(c.name.spec),
        pythonName(c.name),
        local(c.of.name.snake),
      ]),
    ),
    ...op.paramTangents.flatMap((t) =>
      pyCall(4, `${local(t.name.snake)} = ${PRIVATE}.float_param`, [pyStr(op.name.spec), pyStr(t.name.spec), pythonName(t.name)]),
    ),
    ...pyUnpack(4, hvpOuts, `${local('call')}.kernel(KERNELS[${pyStr(kernelKey(op, 'hvp'))}])`, hvpArgs),
    outs.length === 1 ? `    return ${values[0]}` : `    return ${values.join(', ')}`,
  ];
}

function renderEnum(e: EnumIR): string[] {
  return [
    `${e.name.pascal} = Literal[${e.values.map((v) => pythonEnumValue(v)).join(', ')}]`,
    ...pyDocstring(0, e.doc, [], [
      { title: 'Values', entries: e.values.map((v) => [`\`\`${pythonEnumValue(v)}\`\``, v.doc] as const) },
    ]),
  ];
}

function renderKernels(ir: IR): string[] {
  const entries = ir.ops.flatMap((op) =>
    opKernels(op).map(({ pass }) => {
      const byDtype = dtypes(ir).map((d) => `${pyStr(d.numpy)}: _native.${nativeName(op, pass, d.type)}`);
      // Measured where it lands: four columns in, with the comma the enclosing display adds.
      const lines = pyDisplay(4, `${pyStr(kernelKey(op, pass))}: `, '{', byDtype, '},').map((l) => l.slice(4));
      return lines.join('\n').replace(/,$/, '');
    }),
  );
  return [
    '#: The native kernels by op, pass and dtype: ``KERNELS["soft_rank_forward"]["float64"]``.',
    ...pyDisplay(0, 'KERNELS: dict[str, dict[str, Callable[..., tuple[NDArray[Any], ...]]]] = ', '{', entries, '}'),
    '',
    "#: Checks an op's params as its kernels do: ``ValueError`` with the core's message.",
    ...pyDisplay(
      0,
      'CHECK_PARAMS: dict[str, Callable[..., None]] = ',
      '{',
      ir.ops.map((op) => `${pyStr(op.name.spec)}: _native.${checkName(op)}`),
      '}',
    ),
  ];
}

/** What every module exports: the enum aliases, the ops and their result classes. */
export function publicNames(ir: IR): string[] {
  const classes = ir.ops.flatMap((op) => resultClass(op) ?? []);
  return [...ir.enums.map((e) => e.name.pascal), ...ir.ops.map((op) => pythonApi(op).fn), ...classes].sort();
}

export function renderNumpy(ir: IR): string {
  const exported = [
    ...publicNames(ir),
    ...ir.ops.map((op) => pythonApi(op).vjp),
    ...ir.ops.flatMap((op) => (op.jvp === null ? [] : [pythonApi(op).jvp])),
    ...ir.ops.flatMap((op) => (op.hvp === null ? [] : [pythonApi(op).hvp])),
  ].sort();
  return pyFile(
    banner(ir, 'hash'),
    ...pyDocstring(0, 'The NumPy API of rank-relax: one function per op, its VJP, its JVP and its HVP.', [
      `Generated from ${ir.source}; the checks the functions share are in the hand-written \`\`_plumbing.py\`\`.`,
    ], []),
    '',
    'from __future__ import annotations',
    '',
    `from collections.abc import Callable${ir.params.some((p) => p.type === 'list') ? ', Sequence' : ''}`,
    `from typing import Any, Literal${ir.ops.some((op) => resultClass(op) !== null) ? ', NamedTuple' : ''}`,
    '',
    'from numpy.typing import ArrayLike, NDArray',
    '',
    'from . import _native',
    `from . import _plumbing as ${PRIVATE}`,
    '',
    ...pyDisplay(0, '__all__ = ', '[', exported.map(pyStr), ']'),
    '',
    ...ir.enums.flatMap((e) => [...renderEnum(e), '']),
    ...renderKernels(ir),
    '',
    ...ir.ops.flatMap((op) => ['', '', ...renderFunction(op), '', '', ...renderVjp(op),
      ...(op.jvp === null ? [] : ['', '', ...renderJvp(op)]),
      ...(op.hvp === null ? [] : ['', '', ...renderHvp(op)]),
    ]),
  );
}

export function renderAbi(ir: IR): string {
  return pyFile(
    banner(ir, 'hash'),
    '"""What the Python code of this package was generated for; ``__init__`` checks the native module."""',
    '',
    `VERSION = ${pyStr(ir.package.version)}`,
    `ABI_VERSION = ${ir.package.abiVersion}`,
    `ABI_HASH = ${pyHex(ir.package.abiHash)}`,
  );
}
