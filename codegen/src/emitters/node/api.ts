// src/generated/ops/<op>.ts: the public TypeScript API of one op. For an op `soft_rank`:
// softRank, softRankAsync, softRankVjp, softRankVjpAsync, softRankWithVjp, and where the op has a
// JVP kernel softRankJvp and softRankJvpAsync, where it has an HVP kernel softRankHvp and
// softRankHvpAsync, with their options,
// gradients and result types; overloads map Float64Array → Float64Array and Float32Array →
// Float32Array. An optional input (a bool `mask`) is an option of every function; an int32 input
// (soft_rank_grouped's `groups`) an `Int32Array` argument in both dtypes, checked by `rr.intArray`
// and passed to the addon as it is. Argument checks shared by every op are in the hand-written
// src/runtime.ts (`rr`).
import { code, file, join } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { BufferArgIR, DimIR, EnumParamIR, InputIR, IntParamIR, IR, OpIR, OutputIR, ParamIR, ShapeIR, TensorIR, TypeNames } from '../../ir/types.ts';
import { shapeWords, tag, tsDoc, type DocPart } from './docs.ts';
import { BOOL_LIST_TYPE, type Entry, entryScalars, INT_ARRAY, isIntInput, LIST_TYPE, nativeName, optionalInputs, requiredInputs, tsArrayOf, tsArrayType, tsDefault, tsEnumType, tsEnumValue, tsIdent, tsInputType, tsLiteral, tsName, tsNames, type TsNames, tsParamType } from './names.ts';
import { entryBuffers } from './rust.ts';
import { unsupported } from '../../emit/capabilities.ts';
import { assertNever } from '../../util/never.ts';
import { defaultValue, matchElem, matchParam } from '../../ir/match.ts';

/** Names the API reserves for its own arguments; a spec input may not use them. */
const RESERVED = new Set(['options', 'cotangent']);

/** The fields of the checked arguments (`rr_a`) besides the params: the dtype and every dim. */
const ARG_FIELDS = new Set(['dtype', 'batch', 'n']);

function check(op: OpIR): void {
  for (const o of op.outputs) if (tsName(o.name) === 'vjp') throw new Error(`node: output ${op.name.spec}.${o.name.spec} collides with withVjp's vjp`);
  for (const x of op.inputs) if (RESERVED.has(tsName(x.name))) throw new Error(`node: input ${op.name.spec}.${x.name.spec} collides with the API's own argument`);
  // A required input is a typed array of the call's dtype; an optional one an option of bools.
  for (const x of op.inputs) {
    if (x.optional !== (x.elem === 'bool')) throw new Error(`node: input ${op.name.spec}.${x.name.spec}: only optional inputs may be bool, and only bool inputs optional`);
    if (x.optional && ARG_FIELDS.has(tsName(x.name))) throw new Error(`node: optional input ${op.name.spec}.${x.name.spec} collides with another argument`);
    // An int32 input is an Int32Array in every dtype: it has no tangent, cotangent or gradient.
    if (isIntInput(x) && x.differentiable) throw new Error(`node: int32 input ${op.name.spec}.${x.name.spec} cannot be differentiable`);
  }
  // The first input sets the call's dtype (Float64Array or Float32Array).
  if (requiredInputs(op)[0]?.elem !== 'real') throw new Error(`node: the first input of ${op.name.spec} must be real: it sets the call's dtype`);
  // The JVP takes the inputs, then their tangents, then the options (the optional inputs and the param tangents among them).
  const jvpArgs = [...requiredInputs(op), ...op.tangents].map((x) => tsName(x.name));
  const jvpOptions = [...optionalInputs(op), ...op.params, ...op.paramTangents].map((p) => tsName(p.name));
  for (const x of [...jvpArgs, ...jvpOptions]) {
    if (RESERVED.has(x) || [...jvpArgs, ...jvpOptions, 'n', 'out'].filter((y) => y === x).length > 1) throw new Error(`node: ${op.name.spec}.${x} collides with another argument of the JVP`);
  }
  // The HVP takes the inputs, the cotangents, the tangents, then the options.
  const hvpArgs = [...requiredInputs(op), ...op.cotangents, ...op.tangents].map((x) => tsName(x.name));
  for (const x of [...hvpArgs, ...jvpOptions]) {
    if (RESERVED.has(x) || [...hvpArgs, ...jvpOptions, 'n', 'out'].filter((y) => y === x).length > 1) throw new Error(`node: ${op.name.spec}.${x} collides with another argument of the HVP`);
  }
  for (const d of ownDims(op)) {
    if (d.kind === 'param' && tsIdent(d.param) === d.name.spec) continue;
    if (ARG_FIELDS.has(d.name.spec) || op.params.some((p) => tsName(p.name) === d.name.spec)) throw new Error(`node: dim ${op.name.spec}.${d.name.spec} collides with another argument`);
  }
}

/** The op's own dims (`m`, `k`), which the checked arguments carry next to `batch` and `n`. */
function ownDims(op: OpIR): readonly DimIR[] {
  return op.dims.filter((d) => d.kind !== 'batch' && d.kind !== 'n');
}

/**
 * The field of the checked arguments that holds an own dim: `m: rr_quantiles.length`; none for a
 * dim that is an int param's value under the param's own name (`k`), whose field is the param's.
 */
function dimField(d: DimIR): string | null {
  switch (d.kind) {
    case 'length':
      return `${d.name.spec}: rr_${tsIdent(d.param)}.length,`;
    case 'param':
      return tsIdent(d.param) === d.name.spec ? null : `${d.name.spec}: rr_${tsIdent(d.param)},`;
    case 'batch':
    case 'n':
      throw new Error(`node: ${d.name.spec} is not an op's own dim`);
    default:
      return assertNever(d, 'dim kind');
  }
}

/** The int params whose value is a dim (`k` of `[batch, k]`): checked against their bounds before any array is allocated. */
function sizesDim(op: OpIR, p: IntParamIR): boolean {
  return op.dims.some((d) => d.kind === 'param' && d.param === p.name.spec);
}

/** An int param's bound for `rr.extentOption`: `[rr_n, 'n']`, `[0, '0']`; null when unbounded. */
function extentBound(b: IntParamIR['min']): string | null {
  if (b === null) return null;
  return b.kind === 'value' ? `[${b.value}, '${b.value}']` : `[rr_${b.dim}, '${b.dim}']`;
}

/** The values an enum param accepts when the op narrowed them to a subset of the enum's (else null: the core's parse checks). */
function enumSubset(p: EnumParamIR): readonly string[] | null {
  return p.values.length < p.enum.values.length ? p.values.map((v) => v.name.spec) : null;
}

function output(op: OpIR): OutputIR {
  const o = op.outputs[0];
  if (o === undefined) throw new Error(`node: op ${op.name.spec} has no output`);
  return o;
}

/** The TypeScript type of an output's array: the input's type `a`, `Int32Array` for an int32 output. */
function outputType(o: TensorIR, a: string): string {
  return matchElem(o.elem, { real: () => a, int32: () => 'Int32Array', bool: () => unsupported('node', 'bool outputs') });
}

/** An output in words, for a `@returns`: `Its doc. B × k values (…), row-major, of the input's type`. */
function outputWords(o: OutputIR): string {
  const what = o.indexes ? 'an Int32Array of 0-based positions in the row, −1 for none' : o.elem === 'int32' ? 'an Int32Array' : "of the input's type";
  return `${o.doc} ${shapeWords(o.shape)}, ${what}`;
}

/**
 * What the sync call or the JVP returns: the arrays it writes, each under the name of its output
 * (`topValues`); one is returned as it is, several as an object of them.
 */
interface Returned {
  readonly buffer: BufferArgIR;
  readonly output: OutputIR;
  readonly field: string;
}

function returned(op: OpIR, entry: 'call' | 'jvp'): readonly Returned[] {
  const role = entry === 'call' ? 'output' : 'output_tangent';
  return entryBuffers(op, entry)
    .filter((b) => b.role === role)
    .map((b) => {
      const output = entry === 'call' ? op.outputs.find((o) => o.name.spec === b.name.spec) : op.outputTangents.find((t) => t.name.spec === b.name.spec)?.of;
      if (output === undefined) throw new Error(`node: ${op.name.spec}.${b.name.spec} is no output`);
      return { buffer: b, output, field: tsName(output.name) };
    });
}

/** The type of what the sync call or the JVP returns for input type `a`: the one array, or an object of them. */
function returnType(op: OpIR, entry: 'call' | 'jvp', a: string): string {
  const r = returned(op, entry);
  const [one] = r;
  if (r.length === 1 && one !== undefined) return outputType(one.output, a);
  if (entry === 'call') return `${tsNames(op).result}<${a}>`;
  return `{ ${r.map((x) => `readonly ${x.field}: ${outputType(x.output, a)}`).join('; ')} }`;
}

/** The type of the `out` option of the sync call or the JVP: the one array, or an object of optional arrays. */
function outType(op: OpIR, entry: 'call' | 'jvp', a: string): string {
  const r = returned(op, entry);
  const [one] = r;
  if (r.length === 1 && one !== undefined) return outputType(one.output, a);
  if (entry === 'call') return `${tsNames(op).outputsOut}<${a}>`;
  return `{ ${r.map((x) => `readonly ${x.field}?: ${outputType(x.output, a)} | undefined`).join('; ')} }`;
}

/**
 * The VJP's cotangent arguments, one per differentiable output (an int output has none):
 * `cotangent` when there is one, else each by its name (`cotangentTopValues`).
 */
function vjpCotangents(op: OpIR): readonly { readonly arg: string; readonly spec: string; readonly of: OutputIR }[] {
  return op.cotangents.map((c) => ({ arg: op.cotangents.length === 1 ? 'cotangent' : tsName(c.name), spec: c.name.spec, of: c.of }));
}

/** The required inputs as parameters of a function for the float array type `a`: `values: A`, `groups: Int32Array`. */
function inputParams(op: OpIR, a: string): string[] {
  return requiredInputs(op).map((x) => `${tsName(x.name)}: ${tsInputType(x, a)}`);
}

function literal(p: ParamIR): string {
  return tsDefault(p);
}

/**
 * The differentiable input whose gradient the VJP may write over the cotangent (`out.<input>` may be
 * the cotangent itself: the addon then calls the core's `backward_in_place`), if the op has one.
 */
function inPlaceInput(op: OpIR): InputIR | null {
  const inPlace = op.inPlaceVjp;
  if (inPlace === null) return null;
  return op.grads.find((g) => g.name.spec === inPlace.grad.spec)?.of ?? null;
}

function paramDefault(p: ParamIR): string {
  return matchParam(p, { enum: (e) => tsEnumValue(e.default), real: literal, bool: literal, int: literal, list: literal });
}

// ---------------------------------------------------------------------------------------------
// Types

function renderOptions(op: OpIR, n: TsNames): string {
  const inputFields = optionalInputs(op).map((x) =>
    join(
      [
        tsDoc([
          `${x.doc} ${shapeWords(x.shape)} like the values: a Uint8Array (nonzero = true) or an array of booleans. Its length is checked against the values' (a RangeError); the call reads a copy of it.`,
          tag('defaultValue', 'none'),
        ]),
        `readonly ${tsName(x.name)}?: ${BOOL_LIST_TYPE} | undefined;`,
      ],
      '\n',
    ),
  );
  const fields = [
    ...inputFields,
    ...op.params.map((p) =>
      join(
        [
          tsDoc([p.doc, tag('defaultValue', paramDefault(p))]),
          `readonly ${tsName(p.name)}?: ${tsParamType(p)} | undefined;`,
        ],
        '\n',
      ),
    ),
  ];
  const outs = returned(op, 'call');
  const outDoc =
    outs.length === 1
      ? `An array to write \`${tsName(output(op).name)}\` into and return, instead of a new one: of the input's type, holding the output's ${shapeWords(output(op).shape)}, and sharing no memory with an input. Its contents are overwritten. Reusing one array across calls saves allocating, and first touching, a fresh output per call. Only the sync function takes it.`
      : `Arrays to write the outputs into and return, instead of new ones, by output: each of the output's type (the input's, or Int32Array) and length, sharing no memory with an input or another of them. Their contents are overwritten. Only the sync function takes it.`;
  const outFields = outs.map((x) => `${tsDoc([`Where to write \`${x.field}\`: ${shapeWords(x.output.shape)}.`])}\nreadonly ${x.field}?: ${outputType(x.output, 'A')} | undefined;`);
  const resultFields = outs.map((x) => `${tsDoc([`${outputWords(x.output)}.`])}\nreadonly ${x.field}: ${outputType(x.output, 'A')};`);
  return code`
    ${outs.length === 1 ? null : code`
      ${tsDoc([`What {@link ${n.fn}} returns: one array per output.`])}
      export interface ${n.result}<A extends RealArray = RealArray> {
        ${join(resultFields, '\n\n')}
      }

      ${tsDoc([`Arrays {@link ${n.fn}} writes its outputs into (the \`out\` option), by output; an output left out gets a new array.`])}
      export interface ${n.outputsOut}<A extends RealArray = RealArray> {
        ${join(outFields, '\n\n')}
      }

    `}
    ${tsDoc([`Options of {@link ${n.fn}} and its companions: the row length \`n\`${optionalInputs(op).map((x) => `, \`${tsName(x.name)}\``).join('')} and the op's params.`])}
    export interface ${n.options} extends RowOptions {
      ${join(fields, '\n\n')}
    }

    ${tsDoc([`Options of {@link ${n.fn}}: those of every ${n.fn} function, and \`out\`.`])}
    export interface ${n.outOptions}<A extends RealArray = RealArray> extends ${n.options} {
      ${tsDoc([outDoc, tag('defaultValue', outs.length === 1 ? 'a new array' : 'new arrays')])}
      readonly out?: ${outType(op, 'call', 'A')} | undefined;
    }
  `;
}

function renderGradients(op: OpIR, n: TsNames): string {
  const fields = [
    ...op.grads.map((g) => `${tsDoc([`Gradient with respect to \`${tsName(g.of.name)}\` (same shape).`])}\nreadonly ${tsName(g.of.name)}: A;`),
    ...op.paramGrads.map((g) => `${tsDoc([`Gradient with respect to \`${tsName(g.of.name)}\`, summed over the rows.`])}\nreadonly ${tsName(g.of.name)}: number;`),
  ];
  const inPlace = inPlaceInput(op);
  const outDoc = (x: InputIR) =>
    x === inPlace
      ? `Where to write the gradient with respect to \`${tsName(x.name)}\`. May be the cotangent itself (the same array, or a view of exactly its memory): the gradient is then written over the cotangent, which holds it on return, and no gradient array is allocated. Any partial overlap with the cotangent is refused.`
      : `Where to write the gradient with respect to \`${tsName(x.name)}\`.`;
  const outFields = op.grads.map((g) => `${tsDoc([outDoc(g.of)])}\nreadonly ${tsName(g.of.name)}?: A | undefined;`);
  return code`
    ${tsDoc([`Gradients from {@link ${n.vjp}}: one per differentiable input, and one per param that has a gradient.`])}
    export interface ${n.gradients}<A extends RealArray = RealArray> {
      ${join(fields, '\n\n')}
    }

    ${tsDoc([`Arrays {@link ${n.vjp}} writes its gradients into (the \`out\` option), by input; an input left out gets a new array.`])}
    export interface ${n.gradientsOut}<A extends RealArray = RealArray> {
      ${join(outFields, '\n\n')}
    }

    ${tsDoc([`Options of {@link ${n.vjp}}: those of every ${n.fn} function, and \`out\`.`])}
    export interface ${n.vjpOptions}<A extends RealArray = RealArray> extends ${n.options} {
      ${tsDoc([
        inPlace === null
          ? `Arrays to write the gradients into and return, instead of new ones: each of the input's type and length, sharing no memory with an input, the cotangent or another of them. Their contents are overwritten. Only the sync function takes it.`
          : `Arrays to write the gradients into and return, instead of new ones: each of the input's type and length, sharing no memory with an input, the cotangent or another of them, except that \`out.${tsName(inPlace.name)}\` may be the cotangent itself: the gradient is then written over the cotangent (one array fewer at the peak). Their contents are overwritten. Only the sync function takes it.`,
        tag('defaultValue', 'new arrays'),
      ])}
      readonly out?: ${n.gradientsOut}<A> | undefined;
    }
  `;
}

function renderJvpOptions(op: OpIR, n: TsNames): string {
  const fields = op.paramTangents.map((t) =>
    join(
      [
        tsDoc([`Tangent of \`${tsName(t.of.name)}\`: the JVP adds the derivative along it (the same for every row).`, tag('defaultValue', '0')]),
        `readonly ${tsName(t.name)}?: number | undefined;`,
      ],
      '\n',
    ),
  );
  return code`
    ${tsDoc([`Options of {@link ${n.jvpAsync}}: those of every ${n.fn} function, and the tangent of each param with a gradient.`])}
    export interface ${n.jvpOptions} extends ${n.options} {
      ${join(fields, '\n\n')}
    }

    ${tsDoc([`Options of {@link ${n.jvp}}: those of {@link ${n.jvpAsync}}, and \`out\`.`])}
    export interface ${n.jvpOutOptions}<A extends RealArray = RealArray> extends ${n.jvpOptions} {
      ${tsDoc([
        `An array to write the output tangent into and return, instead of a new one: of the input's type and the output's length, sharing no memory with an input or a tangent. Its contents are overwritten. Only the sync function takes it.`,
        tag('defaultValue', 'a new array'),
      ])}
      readonly out?: ${outType(op, 'jvp', 'A')} | undefined;
    }
  `;
}

function renderHvpTypes(op: OpIR, n: TsNames): string {
  const fields = [
    ...op.hvps.map((h) => `${tsDoc([`Derivative along the tangents of the gradient with respect to \`${tsName(h.of.name)}\` (same shape).`])}\nreadonly ${tsName(h.of.name)}: A;`),
    ...op.paramHvps.map((h) => `${tsDoc([`Derivative along the tangents of the gradient with respect to \`${tsName(h.of.name)}\`, summed over the rows.`])}\nreadonly ${tsName(h.of.name)}: number;`),
  ];
  const outFields = op.hvps.map((h) => `${tsDoc([`Where to write the product for \`${tsName(h.of.name)}\`.`])}\nreadonly ${tsName(h.of.name)}?: A | undefined;`);
  const paramFields = op.paramTangents.map((t) =>
    join(
      [
        tsDoc([`Tangent of \`${tsName(t.of.name)}\`: the HVP adds the derivative along it (the same for every row).`, tag('defaultValue', '0')]),
        `readonly ${tsName(t.name)}?: number | undefined;`,
      ],
      '\n',
    ),
  );
  return code`
    ${tsDoc([`Hessian-vector products from {@link ${n.hvp}}, shaped as the gradients of {@link ${n.vjp}}: one per differentiable input, and one per param that has a gradient.`])}
    export interface ${n.hvpResult}<A extends RealArray = RealArray> {
      ${join(fields, '\n\n')}
    }

    ${tsDoc([`Arrays {@link ${n.hvp}} writes its products into (the \`out\` option), by input; an input left out gets a new array.`])}
    export interface ${n.hvpOut}<A extends RealArray = RealArray> {
      ${join(outFields, '\n\n')}
    }

    ${tsDoc([`Options of {@link ${n.hvpAsync}}: those of every ${n.fn} function, and the tangent of each param with a gradient.`])}
    export interface ${n.hvpOptions} extends ${n.options} {
      ${join(paramFields, '\n\n')}
    }

    ${tsDoc([`Options of {@link ${n.hvp}}: those of {@link ${n.hvpAsync}}, and \`out\`.`])}
    export interface ${n.hvpOutOptions}<A extends RealArray = RealArray> extends ${n.hvpOptions} {
      ${tsDoc([
        `Arrays to write the products into and return, instead of new ones: each of the input's type and length, sharing no memory with an input, a cotangent, a tangent or another of them. Their contents are overwritten. Only the sync function takes it.`,
        tag('defaultValue', 'new arrays'),
      ])}
      readonly out?: ${n.hvpOut}<A> | undefined;
    }
  `;
}

function renderWithVjpResult(op: OpIR, n: TsNames): string {
  const one = op.outputs.length === 1;
  const fields = op.outputs.map((o) =>
    one ? `${tsDoc([`${o.doc} ${shapeWords(o.shape)}.`])}\nreadonly ${tsName(o.name)}: A;` : `${tsDoc([`${outputWords(o)}.`])}\nreadonly ${tsName(o.name)}: ${outputType(o, 'A')};`,
  );
  const cotangents = vjpCotangents(op);
  const of = cotangents.map((c) => `\`${tsName(c.of.name)}\``).join(' and ');
  return code`
    ${tsDoc([`The result of {@link ${n.withVjp}}: the ${one ? 'output' : 'outputs'}, and the VJP at that point.`])}
    export interface ${n.withVjpResult}<A extends RealArray = RealArray> {
      ${join(fields, '\n\n')}

      ${tsDoc([
        `Gradients from the cotangent of ${of} (same shape as it), without recomputing the forward.`,
        ...cotangents.map((c) => tag('param', `${c.arg} - Cotangent of \`${tsName(c.of.name)}\`, of the input's type.`)),
      ])}
      vjp(${cotangents.map((c) => `${c.arg}: A`).join(', ')}): ${n.gradients}<A>;
    }
  `;
}

// ---------------------------------------------------------------------------------------------
// Argument checks

function renderArgs(op: OpIR, n: TsNames): string {
  const opName = `'${op.name.spec}'`;
  const [first, ...others] = requiredInputs(op);
  if (first === undefined) throw new Error(`node: op ${op.name.spec} has no input`);
  const names = ['n', ...optionalInputs(op).map((x) => tsName(x.name)), ...op.params.map((p) => tsName(p.name))];
  const paramLine = (p: ParamIR) => {
    const args = `${opName}, '${tsName(p.name)}', rr_o.${tsName(p.name)}, ${paramDefault(p)}`;
    switch (p.type) {
      case 'real':
        return `${tsName(p.name)}: rr.realOption(${args}),`;
      case 'enum': {
        const subset = enumSubset(p);
        return `${tsName(p.name)}: rr.enumOption(${args}${subset === null ? '' : `, [${subset.map((v) => `'${v}'`).join(', ')}]`}),`;
      }
      case 'bool':
        return `${tsName(p.name)}: rr.boolOption(${args}),`;
      case 'int':
        return sizesDim(op, p) ? `${tsName(p.name)}: rr_${tsName(p.name)},` : `${tsName(p.name)}: rr.intOption(${args}),`;
      case 'list':
        return `${tsName(p.name)}: rr_${tsName(p.name)},`;
      default:
        return assertNever(p, 'param type');
    }
  };
  // A list is converted to the call's dtype first: an own dim may be its length.
  const lists = op.params.flatMap((p) => (p.type === 'list' ? [`const rr_${tsName(p.name)} = rr.listOption(${opName}, '${tsName(p.name)}', rr_o.${tsName(p.name)}, ${paramDefault(p)}, rr_dtype);`] : []));
  // An int that is a dim sizes the arrays of the call: checked against its bounds here, before any is allocated.
  const extents = op.params.flatMap((p) =>
    p.type === 'int' && sizesDim(op, p)
      ? [`const rr_${tsName(p.name)} = rr.extentOption(${opName}, '${tsName(p.name)}', rr_o.${tsName(p.name)}, ${paramDefault(p)}, ${extentBound(p.min) ?? "[0, '0']"}, ${extentBound(p.max) ?? 'null'});`]
      : [],
  );
  return code`
    const ${n.optionNames}: readonly string[] = [${names.map((x) => `'${x}'`).join(', ')}];
    const ${n.outOptionNames}: readonly string[] = [...${n.optionNames}, 'out'];
    ${returned(op, 'call').length === 1 ? null : `const ${n.outputNames}: readonly string[] = [${returned(op, 'call').map((x) => `'${x.field}'`).join(', ')}];`}
    const ${n.gradientNames}: readonly string[] = [${op.grads.map((g) => `'${tsName(g.of.name)}'`).join(', ')}];
    ${op.jvp === null ? null : code`
      const ${n.jvpOptionNames}: readonly string[] = [...${n.optionNames}${op.paramTangents.map((t) => `, '${tsName(t.name)}'`).join('')}];
      const ${n.jvpOutOptionNames}: readonly string[] = [...${n.jvpOptionNames}, 'out'];
    `}
    ${op.hvp === null ? null : code`
      const ${n.hvpOptionNames}: readonly string[] = [...${n.optionNames}${op.paramTangents.map((t) => `, '${tsName(t.name)}'`).join('')}];
      const ${n.hvpOutOptionNames}: readonly string[] = [...${n.hvpOptionNames}, 'out'];
      const ${n.hvpOutNames}: readonly string[] = [${op.hvps.map((h) => `'${tsName(h.of.name)}'`).join(', ')}];
    `}

    /** Checks the arguments every ${n.fn} function shares; the dtype, shape and params for the addon. */
    function ${n.args}(${requiredInputs(op).map((x) => `${tsName(x.name)}: unknown`).join(', ')}, options: ${n.options} | undefined, known: readonly string[] = ${n.optionNames}) {
      const rr_o: ${n.options} = rr.options(${opName}, options, known);
      const rr_dtype = rr.dtypeOf(${opName}, '${tsName(first.name)}', ${tsName(first.name)});
      ${others.map((x) => (isIntInput(x) ? `rr.intArray(${opName}, '${tsName(x.name)}', ${tsName(x.name)});` : `rr.sameDtype(${opName}, '${tsName(x.name)}', ${tsName(x.name)}, rr_dtype);`))}
      const rr_n = rr.rowLength(${opName}, ${tsName(first.name)} as RealArray, rr_o.n);
      ${lists}
      ${extents}
      return {
        dtype: rr_dtype,
        n: rr_n,
        batch: rr.rowCount(${tsName(first.name)} as RealArray, rr_n),
        ${ownDims(op).map(dimField)}
        ${optionalInputs(op).map((x) => `${tsName(x.name)}: rr.boolArray(${opName}, '${tsName(x.name)}', rr_o.${tsName(x.name)}),`)}
        ${op.params.map(paramLine)}
      };
    }
  `;
}

// ---------------------------------------------------------------------------------------------
// Functions

/** The row dims of a buffer for the runtime, which reads them from the checked arguments: `['n', 'n']`. */
function rowDims(shape: ShapeIR): string {
  return `[${shape.row.map((d) => `'${d.name.spec}'`).join(', ')}]`;
}

/** The native call of one entry: `native.softRankF64(rr_a.batch, …, values as Float64Array, ranks)`. */
function nativeCall(op: OpIR, entry: Entry, dtype: TypeNames, isAsync: boolean, arg: (b: BufferArgIR) => string): string {
  const param = (p: ParamIR) => `rr_a.${tsName(p.name)}${p.type === 'list' ? ` as ${tsArrayType(dtype) ?? ''}` : ''}`;
  // A param tangent is checked into a local of its name (`rr_tangentRegularizationStrength`).
  const scalars = entryScalars(op, entry).map((a) => `rr_${tsName(a.name)}`);
  const args = ['rr_a.batch', 'rr_a.n', ...op.params.map(param), ...scalars, ...entryBuffers(op, entry).map(arg)];
  return `${isAsync ? 'await ' : ''}native.${nativeName(op, entry, dtype, isAsync)}(${args.join(', ')});`;
}

/** A new array for a written buffer, of its shape's extent (a size JS cannot allocate is a RangeError naming the op). */
function alloc(ir: IR, op: OpIR, b: BufferArgIR, dtype: TypeNames): string {
  return `const ${tsName(b.name)} = rr.allocate('${op.name.spec}', '${b.name.spec}', ${tsArrayOf(b, dtype, ir.types)}, rr_a, ${rowDims(b.shape)});`;
}

/**
 * A written buffer of a sync call that the caller may provide: `out` (the output of the call) or
 * `out.<input>` (a gradient of the VJP), checked against the arrays the call reads and the `out`
 * arrays before it; a new array when not given.
 */
function outArray(ir: IR, op: OpIR, b: BufferArgIR, dtype: TypeNames, given: string, name: string, reads: readonly string[], itself?: string, what?: string): string {
  const args = [`'${op.name.spec}'`, `'${name}'`, given, tsArrayOf(b, dtype, ir.types), 'rr_a', rowDims(b.shape), `{ ${reads.join(', ')} }`];
  if (itself !== undefined || what !== undefined) args.push(itself === undefined ? 'undefined' : `'${itself}'`);
  if (what !== undefined) args.push(`'${what}'`);
  return `const ${tsName(b.name)} = rr.outputArray(${args.join(', ')});`;
}

/** The written buffers of a sync call, VJP, JVP or HVP: the caller's `out` where it gives one. */
function outArrays(ir: IR, op: OpIR, entry: ApiEntry, dtype: TypeNames): string[] {
  // The optional (bool) inputs are not among the reads: the addon copies them first.
  const inputs = requiredInputs(op).map((x) => tsName(x.name));
  if (entry === 'hvp') {
    const reads = [...inputs, ...op.cotangents.map((c) => tsName(c.name)), ...op.tangents.map((t) => tsName(t.name))];
    return entryBuffers(op, entry)
      .filter((b) => b.mutable)
      .map((b) => {
        const h = b.role === 'hvp' ? op.hvps.find((x) => x.name.spec === b.name.spec) : undefined;
        if (h === undefined) return alloc(ir, op, b, dtype);
        const input = tsName(h.of.name);
        const line = outArray(ir, op, b, dtype, `rr_out.${input}`, `out.${input}`, reads);
        reads.push(`'out.${input}': ${tsName(b.name)}`);
        return line;
      });
  }
  if (entry === 'jvp' || entry === 'call') {
    // The one array the call returns is `out`; of several, each is a field of `out` by its output's name.
    const r = returned(op, entry);
    const reads = entry === 'jvp' ? [...inputs, ...op.tangents.map((t) => tsName(t.name))] : [...inputs];
    return entryBuffers(op, entry)
      .filter((b) => b.mutable)
      .map((b) => {
        const x = r.find((y) => y.buffer.name.spec === b.name.spec);
        if (x === undefined) return alloc(ir, op, b, dtype);
        if (r.length === 1) return outArray(ir, op, b, dtype, 'options?.out', 'out', reads);
        const line = outArray(ir, op, b, dtype, `rr_out.${x.field}`, `out.${x.field}`, reads, undefined, `the output ${x.field}`);
        reads.push(`'out.${x.field}': ${tsName(b.name)}`);
        return line;
      });
  }
  const done: string[] = [];
  return entryBuffers(op, entry)
    .filter((b) => b.mutable)
    .map((b) => {
      const grad = b.role === 'grad' ? op.grads.find((g) => g.name.spec === b.name.spec) : undefined;
      if (grad === undefined) return alloc(ir, op, b, dtype);
      // The gradient the addon may write over the cotangent (the core's backward_in_place).
      const itself = op.inPlaceVjp?.grad.spec === b.name.spec ? 'cotangent' : undefined;
      const reads = [...inputs, ...vjpCotangents(op).map((c) => c.arg), ...done.map((d) => `'out.${d}': ${gradLocal(op, d)}`)];
      const line = outArray(ir, op, b, dtype, `rr_out.${tsName(grad.of.name)}`, `out.${tsName(grad.of.name)}`, reads, itself);
      done.push(tsName(grad.of.name));
      return line;
    });
}

function gradLocal(op: OpIR, input: string): string {
  const g = op.grads.find((x) => tsName(x.of.name) === input);
  if (g === undefined) throw new Error(`node: no gradient of ${op.name.spec}.${input}`);
  return tsName(g.name);
}

/** The entry points the public functions call (each also as a job). */
type ApiEntry = 'call' | 'vjp' | 'jvp' | 'hvp';

/** What a function returns from the arrays its entry wrote. */
function result(op: OpIR, entry: ApiEntry): string {
  switch (entry) {
    case 'call':
    case 'jvp': {
      const r = returned(op, entry);
      const [one] = r;
      if (r.length === 1 && one !== undefined) return tsName(one.buffer.name);
      return `{ ${r.map((x) => (x.field === tsName(x.buffer.name) ? x.field : `${x.field}: ${tsName(x.buffer.name)}`)).join(', ')} }`;
    }
    case 'vjp':
      return gradientsObject(op, (g) => g);
    case 'hvp':
      return hvpObject(op);
    default:
      return assertNever(entry, 'entry');
  }
}

/**
 * A read buffer of a native call by its argument: a real array narrowed to the dtype's
 * (`values as Float64Array`); an int32 input as it is (its argument is an `Int32Array`).
 */
function readArg(ir: IR, b: BufferArgIR, dtype: TypeNames): string {
  if (b.role === 'input' && b.elem === 'int32') return tsName(b.name);
  return `${tsName(b.name)} as ${tsArrayOf(b, dtype, ir.types)}`;
}

/** Allocates the written buffers of an entry, calls it, and gives the expression to return. */
function branch(ir: IR, op: OpIR, entry: ApiEntry, dtype: TypeNames, isAsync: boolean): string {
  const buffers = entryBuffers(op, entry);
  const inputArg = (b: BufferArgIR) => {
    if (b.mutable) return tsName(b.name);
    if (b.optional) return `rr_a.${tsName(b.name)}`;
    // The VJP takes one cotangent as `cotangent`, several by name; the HVP takes each by its name.
    const c = vjpCotangents(op).find((x) => x.spec === b.name.spec);
    if (b.role === 'cotangent' && entry === 'vjp' && c !== undefined) return `${c.arg} as ${tsArrayOf(b, dtype, ir.types)}`;
    return readArg(ir, b, dtype);
  };
  return code`
    ${isAsync ? buffers.filter((b) => b.mutable).map((b) => alloc(ir, op, b, dtype)) : outArrays(ir, op, entry, dtype)}
    ${nativeCall(op, entry, dtype, isAsync, inputArg)}
    return ${result(op, entry)};
  `;
}

/** `{ values: hvpValues, regularizationStrength: rr.sum(hvpRegularizationStrength) }`: the VJP's shape. */
function hvpObject(op: OpIR): string {
  const fields = [
    ...op.hvps.map((h) => `${tsName(h.of.name)}: ${tsName(h.name)}`),
    ...op.paramHvps.map((h) => `${tsName(h.of.name)}: rr.sum(${tsName(h.name)})`),
  ];
  return `{ ${fields.join(', ')} }`;
}

/** `{ values: gradValues, regularizationStrength: rr.sum(gradRegularizationStrength) }` */
function gradientsObject(op: OpIR, local: (name: string) => string): string {
  const fields = [
    ...op.grads.map((g) => `${tsName(g.of.name)}: ${local(tsName(g.name))}`),
    ...op.paramGrads.map((g) => `${tsName(g.of.name)}: rr.sum(${local(tsName(g.name))})`),
  ];
  return `{ ${fields.join(', ')} }`;
}

/** `if (rr_a.dtype === 'f32') { … }` then the last dtype unconditionally. */
function dispatch(op: OpIR, body: (dtype: TypeNames) => string): string {
  const variants = op.variants.map((v) => v.dtype);
  const last = variants[variants.length - 1];
  if (last === undefined) throw new Error(`node: op ${op.name.spec} has no dtype`);
  return code`
    ${variants.slice(0, -1).map((d) => code`
      if (rr_a.dtype === '${d.id}') {
        ${body(d)}
      }
    `)}
    ${body(last)}
  `;
}

interface Signature {
  readonly params: (array: string) => string;
  readonly returns: (array: string) => string;
}

function overloads(op: OpIR, name: string, sig: Signature, isAsync: boolean): string[] {
  const wrap = (t: string) => (isAsync ? `Promise<${t}>` : t);
  // The last overload takes either type, but the same for every array (`A` is inferred from the
  // first and checked against the others).
  return [
    ...op.variants.map((v) => tsArrayType(v.dtype) ?? '').map((a) => `export function ${name}(${sig.params(a)}): ${wrap(sig.returns(a))};`),
    `export function ${name}<A extends RealArray>(${sig.params('A')}): ${wrap(sig.returns('RealArray'))};`,
  ];
}

function inputsDoc(op: OpIR): DocPart[] {
  const inputs = requiredInputs(op);
  return inputs.map((x) => {
    const what = isIntInput(x) ? `an ${INT_ARRAY} (whatever the type of the first input)` : `a Float64Array or Float32Array${x === inputs[0] ? '' : ' (the same type as the first input)'}`;
    return tag('param', `${tsName(x.name)} - ${x.doc} ${shapeWords(x.shape)}: ${what}.`);
  });
}

/** `, \`mask\``: the optional inputs, as the options docs list them after `n`. */
function optionalWords(op: OpIR): string {
  return optionalInputs(op)
    .map((x) => `, \`${tsName(x.name)}\``)
    .join('');
}

function throwsDoc(op: OpIR, withOut = false, inPlace: InputIR | null = null): DocPart[] {
  const except = inPlace === null ? '' : ` (other than \`out.${tsName(inPlace.name)}\` being the cotangent itself)`;
  const optional = optionalInputs(op).map((x) => `\`${tsName(x.name)}\``);
  const ints = requiredInputs(op).filter(isIntInput).map((x) => `\`${tsName(x.name)}\``);
  // The arrays whose length the core checks against the values' besides the real ones.
  const others = [...ints, ...optional];
  const badType = `${ints.length === 0 ? '' : `, ${ints.join(' or ')} is not an ${INT_ARRAY}`}${optional.length === 0 ? '' : `, ${optional.join(' or ')} is not a Uint8Array or an array of booleans`}`;
  const badLength = others.length === 0 ? 'the length is not a multiple of `n`' : `the length is not a multiple of \`n\` (or that of ${others.join(' or ')} not the values')`;
  return [
    withOut
      ? tag('throws', `TypeError when an array is not a Float64Array or Float32Array (or the arrays differ in type)${badType}, an option has the wrong type, an enum option an unknown value, or an \`out\` array shares memory with another array of the call${except}.`)
      : tag('throws', `TypeError when an array is not a Float64Array or Float32Array (or the arrays differ in type)${badType}, an option has the wrong type, or an enum option an unknown value.`),
    withOut
      ? tag('throws', `RangeError when ${badLength}, a value is NaN or infinite, a param is out of range (the core's message), or an \`out\` array has the wrong length.`)
      : tag('throws', `RangeError when ${badLength}, a value is NaN or infinite, or a param is out of range (the core's message).`),
  ];
}

function exampleDoc(op: OpIR, call: string): DocPart[] {
  const ex = op.example;
  if (ex === null) return [];
  const given = ex.inputs.filter((x) => requiredInputs(op).some((r) => r.name.spec === x.name.spec));
  const isInt = (spec: string) => requiredInputs(op).some((r) => r.name.spec === spec && isIntInput(r));
  const arrays = given.map((x) => `new ${isInt(x.name.spec) ? INT_ARRAY : 'Float64Array'}([${x.rows.flat().join(', ')}])`);
  const rows = given[0]?.rows ?? [];
  const params = ex.params.filter((p) => JSON.stringify(p.value) !== JSON.stringify(defaultValue(p.param)));
  const opts = [
    ...(rows.length > 1 ? [`n: ${rows[0]?.length ?? 0}`] : []),
    ...params.map((p) => `${tsName(p.param.name)}: ${tsLiteral(p.param, p.value)}`),
  ];
  const args = [...arrays, ...(opts.length > 0 ? [`{ ${opts.join(', ')} }`] : [])];
  return [{ lines: ['@example', '```ts', `const out = ${call}(${args.join(', ')});`, '```'] }];
}

function renderCall(ir: IR, op: OpIR, n: TsNames, isAsync: boolean): string {
  const out = output(op);
  const outs = returned(op, 'call');
  const name = isAsync ? n.fnAsync : n.fn;
  const sig: Signature = {
    params: (a) => `${inputParams(op, a).join(', ')}, options?: ${isAsync ? n.options : `${n.outOptions}<${a}>`}`,
    returns: (a) => returnType(op, 'call', a),
  };
  const returns =
    outs.length === 1
      ? isAsync
        ? `A promise of the output: ${out.doc} ${shapeWords(out.shape)}, of the input's type.`
        : `${out.doc} ${shapeWords(out.shape)}, of the input's type: \`options.out\` if given, else a new array.`
      : `${isAsync ? 'A promise of the' : 'The'} outputs, an object (${n.result}): ${outs.map((x) => `\`${x.field}\`, ${outputWords(x.output)}`).join('; ')}${isAsync ? '' : ' (the `out` arrays where given)'}.`;
  const doc = tsDoc([
    isAsync ? `${op.summary} Runs on the libuv thread pool; see {@link ${n.fn}}.` : op.summary,
    ...(isAsync ? [] : [op.doc]),
    ...inputsDoc(op),
    isAsync
      ? tag('param', `options - The row length \`n\` (default: the whole array is one row)${optionalWords(op)} and the params; see {@link ${n.options}}.`)
      : tag('param', `options - The row length \`n\` (default: the whole array is one row)${optionalWords(op)}, the params and \`out\`; see {@link ${n.outOptions}}.`),
    tag('returns', returns),
    ...throwsDoc(op, !isAsync),
    ...(isAsync ? [] : exampleDoc(op, n.fn)),
  ]);
  return code`
    ${doc}
    ${overloads(op, name, sig, isAsync)}
    export ${isAsync ? 'async ' : ''}function ${name}(${sig.params('RealArray')}): ${isAsync ? `Promise<${returnType(op, 'call', 'RealArray')}>` : returnType(op, 'call', 'RealArray')} {
      const rr_a = ${n.args}(${requiredInputs(op).map((x) => tsName(x.name)).join(', ')}, options${isAsync ? '' : `, ${n.outOptionNames}`});
      ${isAsync || outs.length === 1 ? null : `const rr_out: ${n.outputsOut} = rr.outFields('${op.name.spec}', options?.out, ${n.outputNames}, 'output arrays');`}
      ${dispatch(op, (d) => branch(ir, op, 'call', d, isAsync))}
    }
  `;
}

function renderVjp(ir: IR, op: OpIR, n: TsNames, isAsync: boolean): string {
  const cotangents = vjpCotangents(op);
  const inPlace = inPlaceInput(op);
  const name = isAsync ? n.vjpAsync : n.vjp;
  const sig: Signature = {
    params: (a) => `${[...inputParams(op, a), ...cotangents.map((c) => `${c.arg}: ${a}`)].join(', ')}, options?: ${isAsync ? n.options : `${n.vjpOptions}<${a}>`}`,
    returns: (a) => `${n.gradients}<${a}>`,
  };
  const doc = tsDoc([
    isAsync
      ? `{@link ${n.vjp}} on the libuv thread pool.`
      : `Vector-Jacobian product of {@link ${n.fn}}: the gradients of ⟨cotangent, ${n.fn}(…)⟩ with respect to each differentiable input and each param that has a gradient${op.cotangents.length === op.outputs.length ? '' : `, from the cotangent of each differentiable output (${cotangents.map((c) => `\`${tsName(c.of.name)}\``).join(', ')}; ${op.outputs.filter((o) => !o.differentiable).map((o) => `\`${tsName(o.name)}\``).join(', ')} ${op.outputs.length - op.cotangents.length === 1 ? 'has' : 'have'} no derivative)`}. Recomputes the forward inside the addon; {@link ${n.withVjp}} keeps it instead.`,
    ...inputsDoc(op),
    ...cotangents.map((c) =>
      tag(
        'param',
        `${c.arg} - Cotangent of \`${tsName(c.of.name)}\`: ${shapeWords(c.of.shape)}, of the input's type.` +
          (isAsync || inPlace === null ? '' : ` It may also be given as \`options.out.${tsName(inPlace.name)}\`: the gradient is then written over it.`),
      ),
    ),
    isAsync
      ? tag('param', `options - The row length \`n\`${optionalWords(op)} and the params; see {@link ${n.options}}.`)
      : tag('param', `options - The row length \`n\`${optionalWords(op)}, the params and \`out\` (arrays for the gradients); see {@link ${n.vjpOptions}}.`),
    tag('returns', `${isAsync ? 'A promise of the' : 'The'} gradients, one array per differentiable input (same shape${isAsync ? '' : '; the `out` array where given'}) and a number per param with a gradient.`),
    ...throwsDoc(op, !isAsync, isAsync ? null : inPlace),
  ]);
  return code`
    ${doc}
    ${overloads(op, name, sig, isAsync)}
    export ${isAsync ? 'async ' : ''}function ${name}(${sig.params('RealArray')}): ${isAsync ? `Promise<${n.gradients}>` : n.gradients} {
      const rr_a = ${n.args}(${requiredInputs(op).map((x) => tsName(x.name)).join(', ')}, options${isAsync ? '' : `, ${n.outOptionNames}`});
      ${cotangents.map((c) => `rr.sameDtype('${op.name.spec}', '${c.arg}', ${c.arg}, rr_a.dtype);`)}
      ${isAsync ? null : `const rr_out: ${n.gradientsOut} = rr.outFields('${op.name.spec}', options?.out, ${n.gradientNames});`}
      ${dispatch(op, (d) => branch(ir, op, 'vjp', d, isAsync))}
    }
  `;
}

function renderJvp(ir: IR, op: OpIR, n: TsNames, isAsync: boolean): string {
  const outs = returned(op, 'jvp');
  const name = isAsync ? n.jvpAsync : n.jvp;
  const inputs = requiredInputs(op).map((x) => tsName(x.name));
  const tangents = op.tangents.map((t) => tsName(t.name));
  const sig: Signature = {
    params: (a) => `${[...inputParams(op, a), ...tangents.map((x) => `${x}: ${a}`)].join(', ')}, options?: ${isAsync ? n.jvpOptions : `${n.jvpOutOptions}<${a}>`}`,
    returns: (a) => returnType(op, 'jvp', a),
  };
  const noTangent = op.outputs.filter((o) => !o.differentiable).map((o) => `\`${tsName(o.name)}\``);
  const [one] = outs;
  const returns =
    outs.length === 1 && one !== undefined
      ? `${isAsync ? 'A promise of the' : 'The'} tangent of \`${one.field}\`: ${shapeWords(one.output.shape)}, of the input's type${isAsync ? '' : ': `options.out` if given, else a new array'}${noTangent.length === 0 ? '' : ` (${noTangent.join(', ')} ${noTangent.length === 1 ? 'has' : 'have'} none)`}.`
      : `${isAsync ? 'A promise of the' : 'The'} tangents of the differentiable outputs, by output: ${outs.map((x) => `\`${x.field}\``).join(', ')}, of the input's type${isAsync ? '' : ' (the `out` arrays where given)'}.`;
  const along = [
    ...op.tangents.map((t) => `\`${tsName(t.name)}\` for \`${tsName(t.of.name)}\``),
    ...op.paramTangents.map((t) => `\`options.${tsName(t.name)}\` (default 0) for \`${tsName(t.of.name)}\``),
  ];
  const doc = tsDoc([
    isAsync
      ? `{@link ${n.jvp}} on the libuv thread pool.`
      : `Jacobian-vector product of {@link ${n.fn}} (forward mode): the derivative of ${n.fn}(…) along the tangents, ${along.join(' and ')}. Runs the forward and the derivative in one call inside the addon.`,
    ...inputsDoc(op),
    ...op.tangents.map((t) => tag('param', `${tsName(t.name)} - Tangent of \`${tsName(t.of.name)}\`: ${shapeWords(t.of.shape)}, of the input's type.`)),
    isAsync
      ? tag('param', `options - The row length \`n\`${optionalWords(op)}, the params and their tangents; see {@link ${n.jvpOptions}}.`)
      : tag('param', `options - The row length \`n\`${optionalWords(op)}, the params, their tangents and \`out\`; see {@link ${n.jvpOutOptions}}.`),
    tag('returns', returns),
    ...throwsDoc(op, !isAsync),
  ]);
  const scalars = entryScalars(op, 'jvp').map((a) => {
    const opt = tsName(a.name);
    return `const rr_${opt} = rr.realOption('${op.name.spec}', '${opt}', options?.${opt}, 0);`;
  });
  return code`
    ${doc}
    ${overloads(op, name, sig, isAsync)}
    export ${isAsync ? 'async ' : ''}function ${name}(${sig.params('RealArray')}): ${isAsync ? `Promise<${returnType(op, 'jvp', 'RealArray')}>` : returnType(op, 'jvp', 'RealArray')} {
      const rr_a = ${n.args}(${inputs.join(', ')}, options, ${isAsync ? n.jvpOptionNames : n.jvpOutOptionNames});
      ${tangents.map((t) => `rr.sameDtype('${op.name.spec}', '${t}', ${t}, rr_a.dtype);`)}
      ${scalars}
      ${isAsync || outs.length === 1 ? null : `const rr_out: ${outType(op, 'jvp', 'RealArray')} = rr.outFields('${op.name.spec}', options?.out, [${outs.map((x) => `'${x.field}'`).join(', ')}], 'output tangent arrays');`}
      ${dispatch(op, (d) => branch(ir, op, 'jvp', d, isAsync))}
    }
  `;
}

function renderHvp(ir: IR, op: OpIR, n: TsNames, isAsync: boolean): string {
  const name = isAsync ? n.hvpAsync : n.hvp;
  const inputs = requiredInputs(op).map((x) => tsName(x.name));
  const cotangents = op.cotangents.map((c) => tsName(c.name));
  const tangents = op.tangents.map((t) => tsName(t.name));
  const sig: Signature = {
    params: (a) => `${[...inputParams(op, a), ...[...cotangents, ...tangents].map((x) => `${x}: ${a}`)].join(', ')}, options?: ${isAsync ? n.hvpOptions : `${n.hvpOutOptions}<${a}>`}`,
    returns: (a) => `${n.hvpResult}<${a}>`,
  };
  const along = [
    ...op.tangents.map((t) => `\`${tsName(t.name)}\` for \`${tsName(t.of.name)}\``),
    ...op.paramTangents.map((t) => `\`options.${tsName(t.name)}\` (default 0) for \`${tsName(t.of.name)}\``),
  ];
  const doc = tsDoc([
    isAsync
      ? `{@link ${n.hvp}} on the libuv thread pool.`
      : `Hessian-vector product of {@link ${n.fn}} (second order): the derivative of the gradients {@link ${n.vjp}} returns, at fixed cotangents, along the tangents, ${along.join(' and ')} — the Hessian of ⟨cotangent, ${n.fn}(…)⟩ applied to them. Runs the forward and the product in one call inside the addon.`,
    ...inputsDoc(op),
    ...op.cotangents.map((c) => tag('param', `${tsName(c.name)} - Cotangent of \`${tsName(c.of.name)}\`: ${shapeWords(c.of.shape)}, of the input's type.`)),
    ...op.tangents.map((t) => tag('param', `${tsName(t.name)} - Tangent of \`${tsName(t.of.name)}\`: ${shapeWords(t.of.shape)}, of the input's type.`)),
    isAsync
      ? tag('param', `options - The row length \`n\`${optionalWords(op)}, the params and their tangents; see {@link ${n.hvpOptions}}.`)
      : tag('param', `options - The row length \`n\`${optionalWords(op)}, the params, their tangents and \`out\` (arrays for the products); see {@link ${n.hvpOutOptions}}.`),
    tag('returns', `${isAsync ? 'A promise of the' : 'The'} products, shaped as the gradients: one array per differentiable input (same shape${isAsync ? '' : '; the `out` array where given'}) and a number per param with a gradient (summed over the rows).`),
    ...throwsDoc(op, !isAsync),
  ]);
  const scalars = entryScalars(op, 'hvp').map((a) => {
    const opt = tsName(a.name);
    return `const rr_${opt} = rr.realOption('${op.name.spec}', '${opt}', options?.${opt}, 0);`;
  });
  return code`
    ${doc}
    ${overloads(op, name, sig, isAsync)}
    export ${isAsync ? 'async ' : ''}function ${name}(${sig.params('RealArray')}): ${isAsync ? `Promise<${n.hvpResult}>` : n.hvpResult} {
      const rr_a = ${n.args}(${inputs.join(', ')}, options, ${isAsync ? n.hvpOptionNames : n.hvpOutOptionNames});
      ${[...cotangents, ...tangents].map((t) => `rr.sameDtype('${op.name.spec}', '${t}', ${t}, rr_a.dtype);`)}
      ${scalars}
      ${isAsync ? null : `const rr_out: ${n.hvpOut} = rr.outFields('${op.name.spec}', options?.out, ${n.hvpOutNames});`}
      ${dispatch(op, (d) => branch(ir, op, 'hvp', d, isAsync))}
    }
  `;
}

function renderWithVjp(ir: IR, op: OpIR, n: TsNames): string {
  const cotangents = vjpCotangents(op);
  const sig: Signature = {
    params: (a) => `${inputParams(op, a).join(', ')}, options?: ${n.options}`,
    returns: (a) => `${n.withVjpResult}<${a}>`,
  };
  const body = (d: TypeNames) => {
    const fwd = entryBuffers(op, 'forward');
    const bwd = entryBuffers(op, 'backward');
    const arr = tsArrayType(d) ?? '';
    const saved = op.saves.map((s) => {
      const local = `rr_${tsName(s.name)}`;
      const input = s.source === 'input' ? op.inputs.find((x) => x.name.spec === s.name.spec) : undefined;
      if (input?.optional === true) return `const ${local} = rr_a.${tsName(s.name)}?.slice() ?? null;`;
      // An int32 input is an Int32Array already (the signature's type); a real one is narrowed to the dtype's.
      if (input !== undefined) return `const ${local} = ${isIntInput(input) ? tsName(s.name) : `(${tsName(s.name)} as ${arr})`}.slice();`;
      return `const ${local} = ${tsName(s.name)}.slice();`;
    });
    const fwdArg = (b: BufferArgIR) => (b.mutable ? tsName(b.name) : b.optional ? `rr_a.${tsName(b.name)}` : readArg(ir, b, d));
    const bwdArg = (b: BufferArgIR) => {
      switch (b.role) {
        case 'save':
          return `rr_${tsName(b.name)}`;
        case 'cotangent':
          return cotangents.find((c) => c.spec === b.name.spec)?.arg ?? tsName(b.name);
        case 'input':
        case 'output':
        case 'residual':
        case 'grad':
        case 'param_grad':
        case 'tangent':
        case 'output_tangent':
        case 'hvp':
        case 'param_hvp':
          return tsName(b.name);
        default:
          return assertNever(b.role, 'buffer role');
      }
    };
    return code`
      ${fwd.filter((b) => b.mutable).map((b) => alloc(ir, op, b, d))}
      ${nativeCall(op, 'forward', d, false, fwdArg)}
      // Copies: the caller may change its arrays before it calls vjp.
      ${saved}
      return {
        ${op.outputs.map((o) => `${tsName(o.name)},`)}
        vjp: (${cotangents.map((c) => `${c.arg}: ${arr}`).join(', ')}) => {
          ${cotangents.map((c) => `rr.sameDtype('${op.name.spec}', '${c.arg}', ${c.arg}, '${d.id}');`)}
          ${bwd.filter((b) => b.mutable).map((b) => alloc(ir, op, b, d))}
          ${nativeCall(op, 'backward', d, false, bwdArg)}
          return ${gradientsObject(op, (g) => g)};
        },
      };
    `;
  };
  const doc = tsDoc([
    `{@link ${n.fn}} and its VJP at that point: the forward runs once and saves what the backward needs (copies of the saved arrays and the residuals), so each \`vjp(cotangent)\` runs only the backward — the pattern of an autodiff library's custom gradient.`,
    ...inputsDoc(op),
    tag('param', `options - The row length \`n\`${optionalWords(op)} and the params; see {@link ${n.options}}.`),
    tag('returns', `${op.outputs.map((o) => `\`${tsName(o.name)}\``).join(', ')} and \`vjp\`.`),
    ...throwsDoc(op),
  ]);
  return code`
    ${doc}
    ${overloads(op, n.withVjp, sig, false)}
    export function ${n.withVjp}(${sig.params('RealArray')}): ${n.withVjpResult} {
      const rr_a = ${n.args}(${requiredInputs(op).map((x) => tsName(x.name)).join(', ')}, options);
      ${dispatch(op, body)}
    }
  `;
}

export function renderOp(ir: IR, op: OpIR): string {
  check(op);
  const n = tsNames(op);
  const enums = [...new Set(op.params.flatMap((p) => (p.type === 'enum' && enumSubset(p) === null ? [tsEnumType(p.enum)] : [])))].sort();
  return file(
    banner(ir, 'slash'),
    `// ${op.name.spec}: ${op.summary}`,
    '',
    "import { native } from '../../native.js';",
    "import * as rr from '../../runtime.js';",
    `import type { ${[...(optionalInputs(op).length > 0 ? [BOOL_LIST_TYPE] : []), 'RealArray', ...(op.params.some((p) => p.type === 'list') ? [LIST_TYPE] : []), 'RowOptions'].join(', ')} } from '../../runtime.js';`,
    enums.length > 0 ? `import type { ${enums.join(', ')} } from '../enums.js';` : null,
    '',
    renderOptions(op, n),
    '',
    renderGradients(op, n),
    '',
    renderWithVjpResult(op, n),
    '',
    ...(op.jvp === null ? [] : [renderJvpOptions(op, n), '']),
    ...(op.hvp === null ? [] : [renderHvpTypes(op, n), '']),
    renderArgs(op, n),
    '',
    renderCall(ir, op, n, false),
    '',
    renderCall(ir, op, n, true),
    '',
    renderVjp(ir, op, n, false),
    '',
    renderVjp(ir, op, n, true),
    '',
    ...(op.jvp === null ? [] : [renderJvp(ir, op, n, false), '', renderJvp(ir, op, n, true), '']),
    ...(op.hvp === null ? [] : [renderHvp(ir, op, n, false), '', renderHvp(ir, op, n, true), '']),
    renderWithVjp(ir, op, n),
  );
}

export function renderEnums(ir: IR): string {
  return file(
    banner(ir, 'slash'),
    "// The spec's enums: each is a string union; an option takes the value's name.",
    '',
    join(
      ir.enums.map((e) =>
        code`
          ${tsDoc([e.doc, { lines: e.values.map((v) => `- \`'${v.name.spec}'\`: ${v.doc}`) }])}
          export type ${tsEnumType(e)} = ${e.values.map(tsEnumValue).join(' | ')};
        `,
      ),
      '\n\n',
    ),
  );
}

export function renderIndex(ir: IR, opFile: (op: OpIR) => string): string {
  return file(
    banner(ir, 'slash'),
    '// Every op of the spec.',
    '',
    "export * from './enums.js';",
    ...ir.ops.map((op) => `export * from './${opFile(op)}';`),
  );
}
