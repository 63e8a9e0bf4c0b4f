// What the API reference says of @rank-relax/node (the `describe` hook): TypeScript signatures,
// option spellings, enum values and the example, in TypeScript.
import { INT_ARRAY, isIntInput, optionalInputs, requiredInputs, tsArrayType, tsDefault, tsEnumValue, tsInputType, tsLiteral, tsName, tsReal } from './names.ts';
import { nodeApi } from './names.ts';
import { code } from '../../emit/code.ts';
import { exampleData, type ExampleData } from '../../emit/example.ts';
import { fence, tick } from '../../emit/markdown.ts';
import type { OpDocs, TargetDocs } from '../../emit/types.ts';
import type { InputIR, IR, OpIR, OutputIR, ParamIR, ShapeIR } from '../../ir/types.ts';
import { isItemRow, isPerRow } from '../../ir/shape.ts';
import { dimWords } from './docs.ts';
import { assertNever } from '../../util/never.ts';

/** The package the API is imported from. */
export const NODE_PACKAGE = '@rank-relax/node';
/** The option holding the row length (every op has it). */
export const NODE_ROW_OPTION = 'n';

function tsType(p: ParamIR): string {
  switch (p.type) {
    case 'real':
      return 'number';
    case 'enum':
      return p.values.map(tsEnumValue).join(' | ');
    case 'bool':
      return 'boolean';
    case 'int':
      return 'number';
    case 'list':
      return 'number[] | Float64Array | Float32Array';
    default:
      return assertNever(p, 'param type');
  }
}

/** `regularizationStrength: 1` */
export function nodeParam(p: ParamIR): string {
  return `${tsName(p.name)}: ${tsDefault(p)}`;
}

/** An output's array in the signatures: `A`, `Int32Array` for an int32 output. */
function outputType(o: OutputIR): string {
  return o.elem === 'int32' ? 'Int32Array' : 'A';
}

function cotangentParams(op: OpIR): string[] {
  return op.cotangents.length === 1 ? ['cotangent: A'] : op.cotangents.map((c) => `${tsName(c.name)}: A`);
}

/** The JVP's and the HVP's functions, where the op has those kernels. */
function derivativeFns(op: OpIR): string[] {
  const n = nodeApi(op);
  return [...(op.jvp === null ? [] : [n.jvp, n.jvpAsync]), ...(op.hvp === null ? [] : [n.hvp, n.hvpAsync])];
}

/** `; groups is an Int32Array in both`: the int32 inputs, after what the signatures say of `A`. */
function intWords(op: OpIR): string {
  const ints = requiredInputs(op).filter(isIntInput).map((x) => tsName(x.name));
  if (ints.length === 0) return '';
  return `; ${ints.join(' and ')} ${ints.length === 1 ? 'is an' : 'are'} ${INT_ARRAY}${ints.length === 1 ? '' : 's'} in both`;
}

export function nodeSignature(op: OpIR): string {
  const n = nodeApi(op);
  const inputs = requiredInputs(op).map((i) => `${tsName(i.name)}: ${tsInputType(i, 'A')}`);
  const tangents = op.tangents.map((t) => `${tsName(t.name)}: A`);
  const paramTangents = op.paramTangents.map((t) => `${tsName(t.name)}?: number`);
  // One tangent per differentiable output: the one array, or an object of them.
  const jvpResult = op.outputTangents.length === 1 ? 'A' : `{ ${op.outputTangents.map((t) => `${tsName(t.of.name)}: A`).join('; ')} }`;
  const jvpOpts = (fields: readonly string[]) => (fields.length === 0 ? `options?: ${n.options}` : `options?: ${n.options} & { ${fields.join('; ')} }`);
  const jvp =
    op.jvp === null
      ? []
      : [
          `function ${n.jvp}(${[...inputs, ...tangents, jvpOpts([...paramTangents, `out?: ${jvpResult}`])].join(', ')}): ${jvpResult};`,
          `function ${n.jvpAsync}(${[...inputs, ...tangents, jvpOpts(paramTangents)].join(', ')}): Promise<${jvpResult}>;`,
        ];
  const cotangents = op.cotangents.map((c) => `${tsName(c.name)}: A`);
  const hvpResult = `{ ${[...op.hvps.map((h) => `${tsName(h.of.name)}: A`), ...op.paramHvps.map((h) => `${tsName(h.of.name)}: number`)].join('; ')} }`;
  const hvp =
    op.hvp === null
      ? []
      : [
          `function ${n.hvp}(${[...inputs, ...cotangents, ...tangents, jvpOpts([...paramTangents, `out?: { ${op.hvps.map((h) => `${tsName(h.of.name)}?: A`).join('; ')} }`])].join(', ')}): ${hvpResult};`,
          `function ${n.hvpAsync}(${[...inputs, ...cotangents, ...tangents, jvpOpts(paramTangents)].join(', ')}): Promise<${hvpResult}>;`,
        ];
  const result = op.outputs.length === 1 ? 'A' : `${n.result}<A>`;
  const withVjp = `{ ${[...op.outputs.map((o) => `${tsName(o.name)}: ${outputType(o)}`), `vjp(${cotangentParams(op).join(', ')}): ${n.gradients}<A>`].join('; ')} }`;
  const opts = `options?: ${n.options}`;
  return [
    `import { ${[n.fn, n.fnAsync, n.vjp, n.vjpAsync, n.withVjp, ...derivativeFns(op)].join(', ')} } from '${NODE_PACKAGE}';`,
    '',
    `// A is Float64Array or Float32Array (one overload each): outputs have the input's type${intWords(op)}.`,
    `function ${n.fn}(${[...inputs, `${opts} & { out?: ${op.outputs.length === 1 ? 'A' : `{ ${op.outputs.map((o) => `${tsName(o.name)}?: ${outputType(o)}`).join('; ')} }`} }`].join(', ')}): ${result};`,
    `function ${n.fnAsync}(${[...inputs, opts].join(', ')}): Promise<${result}>;`,
    `function ${n.vjp}(${[...inputs, ...cotangentParams(op), opts].join(', ')}): ${n.gradients}<A>;`,
    `function ${n.vjpAsync}(${[...inputs, ...cotangentParams(op), opts].join(', ')}): Promise<${n.gradients}<A>>;`,
    `function ${n.withVjp}(${[...inputs, opts].join(', ')}): ${withVjp};`,
    ...jvp,
    ...hvp,
    '',
    `interface ${n.options} {`,
    `  ${NODE_ROW_OPTION}?: number; // items per row; default: the whole array is one row`,
    ...optionalInputs(op).map((x) => `  ${tsName(x.name)}?: Uint8Array | boolean[]; // ${x.shape.text} like the values (a Uint8Array: nonzero = true); default: none`),
    ...op.params.map((p) => `  ${tsName(p.name)}?: ${tsType(p)}; // default ${tsDefault(p)}`),
    '}',
    ...(op.outputs.length === 1 ? [] : [`interface ${n.result}<A> {`, ...op.outputs.map((o) => `  ${tsName(o.name)}: ${outputType(o)};${o.indexes ? ' // 0-based positions in the row, -1 for none' : ''}`), '}']),
    `interface ${n.gradients}<A> {`,
    ...op.grads.map((g) => `  ${tsName(g.of.name)}: A;`),
    ...op.paramGrads.map((g) => `  ${tsName(g.of.name)}: number; // summed over the rows`),
    '}',
  ].join('\n');
}

/** An example input as the API takes it: `new Float64Array([…])`, `new Int32Array([…])` for an int32 one. */
function typedArray(input: InputIR, rows: readonly (readonly number[])[]): string {
  return `new ${isIntInput(input) ? INT_ARRAY : 'Float64Array'}([${rows.flat().map((x) => tsReal(x)).join(', ')}])`;
}

export function nodeExample(op: OpIR, data: ExampleData): string {
  const n = nodeApi(op);
  // The optional inputs (a mask) are options the example leaves out.
  const given = data.inputs.filter((i) => !i.input.optional);
  const inputs = given.map((i) => tsName(i.input.name));
  const entries = [
    ...(data.batch > 1 ? [`${NODE_ROW_OPTION}: ${data.n}`] : []),
    ...data.params.map((p) => `${tsName(p.param.name)}: ${tsLiteral(p.param, p.value)}`),
  ];
  const options = entries.length === 0 ? [] : [`{ ${entries.join(', ')} }`];
  const outputs = op.outputs.map((o) => tsName(o.name));
  const call = op.outputs.length === 1 ? `const ${outputs[0]} = ` : `const { ${outputs.join(', ')} } = `;
  const cotangents = op.cotangents.map((c) => `new Float64Array(${tsName(c.of.name)}.length).fill(1)`);
  return [
    `import { ${n.fn}, ${n.vjp} } from '${NODE_PACKAGE}';`,
    '',
    ...given.map((i) => `const ${tsName(i.input.name)} = ${typedArray(i.input, i.rows)};`),
    `${call}${n.fn}(${[...inputs, ...options].join(', ')});`,
    ...outputs.map((o) => `console.log(${o});`),
    `const grads = ${n.vjp}(${[...inputs, ...cotangents, ...options].join(', ')});`,
    `console.log(${[...op.grads.map((g) => `grads.${tsName(g.of.name)}`), ...op.paramGrads.map((g) => `grads.${tsName(g.of.name)}`)].join(', ')});`,
  ].join('\n');
}

/** What the section says of the JVP, where the op has one. */
function jvpText(op: OpIR): string | null {
  if (op.jvp === null) return null;
  const nd = nodeApi(op);
  const tangents = op.tangents.map((t) => tick(tsName(t.name)));
  const params = op.paramTangents.map((t) => `the option ${tick(tsName(t.name))} (default 0)`);
  const of = op.outputs.length === 1 ? 'the output' : op.outputTangents.map((t) => tick(tsName(t.of.name))).join(' and ');
  return `${tick(nd.jvp)} is the forward-mode derivative (JVP): the tangent of ${of} along ${[...tangents, ...params].join(' and ')}, forward and derivative in one call.`;
}

/** What the section says of the HVP, where the op has one. */
function hvpText(op: OpIR): string | null {
  if (op.hvp === null) return null;
  const nd = nodeApi(op);
  const tangents = op.tangents.map((t) => tick(tsName(t.name)));
  const params = op.paramTangents.map((t) => `the option ${tick(tsName(t.name))} (default 0)`);
  const summed = op.paramHvps.length === 0 ? '' : ` (the ${op.paramHvps.map((h) => tick(tsName(h.of.name))).join(' and ')} entry summed over the rows)`;
  return `${tick(nd.hvp)} is the Hessian-vector product (second order): the derivative of the gradients ${tick(nd.vjp)} returns, at fixed ${op.cotangents.map((c) => tick(tsName(c.name))).join(' and ')}, along ${[...tangents, ...params].join(' and ')}, shaped as those gradients${summed}.`;
}

function section(op: OpIR, data: ExampleData): string {
  const nd = nodeApi(op);
  return code`
    ### Node

    ${fence('ts', nodeSignature(op), false)}

    ${tick(nd.vjp)} runs the forward again inside the addon; ${tick(nd.withVjp)} keeps what the backward
    needs, so each ${tick('vjp(cotangent)')} runs only the backward. The ${tick('Async')} functions run on the libuv
    thread pool.

    ${jvpText(op)}

    ${hvpText(op)}

    ${fence('ts', nodeExample(op, data), true)}
  `;
}

/** What the API raises for each cause of error. */
export const ERROR_TYPES = { value: 'RangeError', enum: 'TypeError', type: 'TypeError', param: 'TypeError' } as const;

/** An input's shape in words: a required one's array, an optional one's option. */
function inputShapeText(x: InputIR): string {
  if (isIntInput(x)) return `${shapeText(x.shape)}, an ${tick(INT_ARRAY)}`;
  if (!x.optional) return shapeText(x.shape);
  return `option ${tick(tsName(x.name))}: ${tick(`B × ${x.shape.row.map((d) => d.name.spec).join(' × ')}`)} booleans like the values (${tick('Uint8Array')} or ${tick('boolean[]')})`;
}

/** A flat array of this shape, in words: `` `B × n` values, row-major (option `n`) ``. */
function shapeText(shape: ShapeIR): string {
  if (isPerRow(shape)) return '`B` values';
  if (isItemRow(shape)) return `\`B × n\` values, row-major (option ${tick(NODE_ROW_OPTION)})`;
  const own = [...new Set(shape.row.map(dimWords).filter((w) => w !== null))].map((w) => tick(w));
  return `${tick(`B × ${shape.row.map((d) => d.name.spec).join(' × ')}`)} values, row-major (${[`option ${tick(NODE_ROW_OPTION)}`, ...own].join(', ')})`;
}

function opDocs(op: OpIR): OpDocs {
  const nd = nodeApi(op);
  return {
    fn: nd.fn,
    names: [{ label: 'Node', names: [nd.fn, nd.fnAsync, nd.vjp, nd.vjpAsync, nd.withVjp, ...derivativeFns(op)] }],
    params: op.params.map((p) => tick(nodeParam(p))),
    shapes: Object.fromEntries([
      ...op.inputs.map((x) => [x.name.spec, inputShapeText(x)]),
      ...op.outputs.map((t) => [t.name.spec, shapeText(t.shape)]),
      ...op.residuals.map((t) => [t.name.spec, 'kept inside']),
    ]),
    section: section(op, exampleData(op)),
  };
}

export function describeNode(ir: IR): TargetDocs {
  return {
    language: 'Node',
    column: 'Node',
    shapesColumn: 'Node (flat)',
    dtypes: Object.fromEntries(ir.dtypes.map((t) => [t.id, `Node ${tick(tsArrayType(t) ?? t.id)}`])),
    errorNotes: [
      code`
        - Node sees flat arrays, so inputs of different shapes are reported by length; every error has
          ${tick('error.code')}, the C status name.
      `,
    ],
    overview: `- **Node**: \`Float64Array\` or \`Float32Array\`, flat and row-major, with the option \`n\` items per row${ir.ops.some((op) => op.inputs.some(isIntInput)) ? `; an int32 input an \`${INT_ARRAY}\` in both` : ''}.`,
    module: NODE_PACKAGE,
    ops: Object.fromEntries(ir.ops.map((op) => [op.name.spec, opDocs(op)])),
    errorTypes: ERROR_TYPES,
    enumValues: Object.fromEntries(ir.enums.map((e) => [e.name.spec, Object.fromEntries(e.values.map((v) => [v.name.spec, tick(tsEnumValue(v))]))])),
  };
}
