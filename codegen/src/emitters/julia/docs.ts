// Docstrings of the public API, from the spec's text: the op's summary and doc, one item per
// argument, what it returns, an example call.
import type { InputIR, OpIR, ParamIR, TensorIR } from '../../ir/types.ts';
import { juliaName, juliaReal } from './names.ts';
import { call, defaultValue, DIMS_KEYWORD, intInputs, item, juliaRealVector, juliaSymbol, keywordWithDefault, opNames, optionalInputs, optionalKeyword, packedCall, para, requiredInputs } from './syntax.ts';
import { isItemRow, isPerRow, rowRank } from '../../ir/shape.ts';
import { assertNever } from '../../util/never.ts';
import { matchParam } from '../../ir/match.ts';
import { juliaDimsText } from './describe.ts';

/** `name` and `other`, or `a, b and c`. */
function andList(names: readonly string[]): string {
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} and ${names[names.length - 1] ?? ''}`;
}

/** The shape convention, said once per function; and, for an op with int32 inputs, what they take. */
function shapeNote(op: OpIR): string[] {
  const names = requiredInputs(op).map((x) => `\`${juliaName(x.name)}\``);
  const which = names.length === 1 ? `${names[0]} is` : `${names.join(' and ')} are each`;
  const same = names.length === 1 ? '' : ', all of the same size';
  const layout =
    `${which} a \`Vector\` (one sample) or an \`n × B\` \`Matrix\` (one sample per column: the same memory as ` +
    `the core's row-major \`[B, n]\`)${same}.`;
  const ints = intInputs(op).map((x) => `\`${juliaName(x.name)}\``);
  if (ints.length === 0) {
    return para(
      `${layout} An \`Array\` of \`Float32\` or \`Float64\` goes to the library ` +
        'without a copy; any other array (a view, a range, integers) is first copied into one. The computation ' +
        'runs in `Float32` when every input is `Float32`, else in `Float64`.',
    );
  }
  // The float type comes from the real inputs alone; the int32 inputs are integers, never converted to floats.
  const reals = requiredInputs(op)
    .filter((x) => x.elem !== 'int32')
    .map((x) => `\`${juliaName(x.name)}\``);
  return para(
    `${layout} An \`Array\` of \`Float32\` or \`Float64\` (${andList(reals)}) goes to the library without a copy; any ` +
      'other array of reals (a view, a range, integers) is first copied into one. The computation runs in `Float32` ' +
      `when ${reals.length === 1 ? `${reals[0]} is` : `${andList(reals)} are each`} \`Float32\`, else in \`Float64\`. ` +
      `${andList(ints)} ${ints.length === 1 ? 'holds' : 'hold'} integers of any type but \`Bool\`: an \`Array{Int32}\` goes to the ` +
      'library without a copy, any other array of integers (`Int64`, a view, a range) is first copied into one.',
  );
}

/** The item of a positional input: its doc, and for an int32 input what it takes. */
function inputItem(op: OpIR, input: InputIR): string[] {
  const head = `\`${juliaName(input.name)}\`: `;
  if (input.elem !== 'int32') return item(head, input.doc);
  const [first] = requiredInputs(op);
  const of = first === undefined || first === input ? 'the inputs' : `\`${juliaName(first.name)}\``;
  return item(head, `${input.doc} ${intArray(of)} It gets no gradient or tangent.`);
}

/** What an int32 input takes, for its item: an array of integers of the size of `of`. */
function intArray(of: string): string {
  return (
    `An array of integers of the size of ${of}, each within \`Int32\` (another value is an \`ArgumentError\`); ` +
    'floats, even integral ones, and `Bool`s are refused. The values are ids, used as given (no 1-based shift).'
  );
}

/** The keywords of the params (without their types), then those of the optional inputs. */
function docKeywords(op: OpIR): string[] {
  return [...op.params.map(keywordWithDefault).map((k) => k.replace(/::\w+/, '')), ...optionalInputs(op).map(optionalKeyword)];
}

/** The item of an optional input: its doc, what array it takes, and what `nothing` means. */
function optionalItem(op: OpIR, input: InputIR): string[] {
  const [first] = requiredInputs(op);
  const of = first === undefined ? 'the inputs' : `\`${juliaName(first.name)}\``;
  const array =
    input.elem === 'bool'
      ? `An \`AbstractArray{Bool}\` of the size of ${of} (a \`BitArray\` or a view is copied into an \`Array{Bool}\`)`
      : input.elem === 'int32'
        ? `An array of integers of the size of ${of}, each within \`Int32\``
        : `A real array of the size of ${of}`;
  return item(
    `\`${optionalKeyword(input)}\`: `,
    `${input.doc} ${array}, its items along \`dims\` like those of ${of}; \`nothing\` (the default) leaves it out. ` +
      'Another element type or size is an `ArgumentError`. It gets no gradient or tangent.',
  );
}

/** The `dims` keyword: what it does to the inputs and to this op's output. */
function dimsItem(op: OpIR): string[] {
  const [output] = op.outputs;
  if (output === undefined) throw new Error(`julia emitter: op ${op.name.spec} has no output`);
  const rank = rowRank(output.shape);
  const what = isItemRow(output.shape) ? 'items' : `\`${juliaDimsText(output.shape)}\` values of each sample`;
  const out =
    rank === 0
      ? 'The output drops that axis: one value per sample, an array of the other axes (a `Vector` of length `B` for a `B × n` `Matrix` with `dims = 2`).'
      : rank === 1
        ? `The output's ${what} lie along \`dims\` too, the other axes as in the input.`
        : 'Each sample of the output has more than one axis, so only `dims = 1` is allowed (another value is an ' +
          '`ArgumentError`): the items along the first axis of an array of any number of dims, the output\'s ' +
          `\`${juliaDimsText(output.shape)}\` first, then the input's other axes.`;
  return item(
    `\`${DIMS_KEYWORD}\`: `,
    'The axis the items lie along, as in `sort(x; dims)`, for arrays of any number of dims (each slice along ' +
      '`dims` is one sample). `dims = 1` on a `Vector` or `Matrix` is the layout above, without a copy; another ' +
      `axis copies the inputs with it moved first. ${out} Not an integer or not an axis of the input: ` +
      'an `ArgumentError`.',
  );
}

function paramItem(param: ParamIR): string[] {
  const head = `\`${juliaName(param.name)} = ${defaultValue(param)}\`: `;
  switch (param.type) {
    case 'real':
      return item(head, param.doc);
    case 'bool':
      return item(head, param.doc);
    case 'enum':
      return [
        ...item(head, `${param.doc} A \`Symbol\` or a string:`),
        ...param.enum.values.flatMap((v) => item(`\`${juliaSymbol(v)}\`: `, v.doc).map((l) => `  ${l}`)),
      ];
    case 'int':
      return item(head, `${param.doc} An \`Integer\` (not a \`Bool\`).`);
    case 'list':
      return item(head, `${param.doc} A \`Vector\` of real numbers.`);
    default:
      return assertNever(param, 'param type');
  }
}

/** What an output is in Julia: the input's shape, one number per sample, or its own dims then B. */
function outputShape(t: TensorIR): string {
  if (isPerRow(t.shape)) return 'A number for a `Vector` input; for a `Matrix`, a `Vector` of length `B` (one per column).';
  if (isItemRow(t.shape)) return 'An array of the size of the input.';
  const dims = juliaDimsText(t.shape);
  if (t.shape.row.length === 1) {
    return `For a \`Vector\` input a \`Vector\` of \`${dims}\` values; for a \`Matrix\`, a \`${dims} × B\` \`Matrix\`, one column per sample.`;
  }
  // The core's row-major [b, i, j] is Julia's [j, i, b]: the same memory, the dims reversed.
  const letters = t.shape.row.map((_, i) => 'ijkl'[i] ?? `i${i}`);
  const core = ['b', ...letters].join(', ');
  const julia = [...letters].reverse().concat('b').join(', ');
  return (
    `For a \`Vector\` input an \`${dims}\` \`Matrix\`; for a \`Matrix\`, an \`${dims} × B\` array, one slice per sample. ` +
    `The dims are the core's \`${t.shape.text}\` reversed (the same memory): element \`[${julia}]\` is the core's \`[${core}]\`.`
  );
}

/**
 * The causes of an ArgumentError beyond those every op shares: an int32 input that is not an array of
 * integers or holds a value outside Int32, an int or list param of the wrong kind or out of range.
 */
function paramErrors(op: OpIR): string {
  const ints = intInputs(op).map((x) => `\`${juliaName(x.name)}\` not an array of integers or with a value outside \`Int32\``);
  return [...ints, ...op.params
    .flatMap((p) =>
      matchParam(p, {
        real: () => [],
        enum: () => [],
        bool: () => [],
        int: (q) => [`\`${juliaName(q.name)}\` not an \`Integer\` or out of range`],
        list: (q) => [`\`${juliaName(q.name)}\` not a vector of reals, too short or with a value out of range`],
      }),
    )]
    .map((x) => `, ${x}`)
    .join('');
}

/** The public signatures: keywords, and (when a param has a gradient) the positional form. */
export function signatures(op: OpIR): string[] {
  const n = opNames(op);
  const inputs = requiredInputs(op).map((x) => juliaName(x.name));
  const optional = optionalInputs(op).map(optionalKeyword);
  const keywords = [...op.params.map((p) => `${juliaName(p.name)} = ${defaultValue(p)}`), ...optional, DIMS_KEYWORD];
  const lines = [`    ${n.fn}(${inputs.join(', ')}; ${keywords.join(', ')})`];
  if (op.paramGrads.length > 0) {
    const grads = op.paramGrads.map((g) => juliaName(g.of.name));
    const rest = [...op.params.filter((p) => !(p.type === 'real' && p.grad)).map((p) => `${juliaName(p.name)} = ${defaultValue(p)}`), ...optional, DIMS_KEYWORD];
    lines.push(`    ${n.fn}(${[...inputs, ...grads].join(', ')}${rest.length > 0 ? `; ${rest.join(', ')}` : ''})`);
  }
  return lines;
}

/** An element of an example's input: a float literal, an integer for an int32 input (group ids). */
export function exampleLiteral(op: OpIR, name: string): (x: number) => string {
  const input = op.inputs.find((x) => x.name.spec === name);
  return input?.elem === 'int32' ? (x) => String(x) : juliaReal;
}

function exampleLines(op: OpIR): string[] {
  const ex = op.example;
  if (ex === null) return [];
  const args = ex.inputs.map(({ name, rows }) => {
    const lit = exampleLiteral(op, name.spec);
    const [only] = rows;
    if (rows.length === 1 && only !== undefined) return `[${only.map(lit).join(', ')}]`;
    const n = rows[0]?.length ?? 0;
    return `[${Array.from({ length: n }, (_, i) => rows.map((r) => lit(r[i] ?? 0)).join(' ')).join('; ')}]`;
  });
  const keywords = ex.params.flatMap(({ param, value }) =>
    matchParam(param, {
      enum: (p) => {
        if (value === p.default.name.spec) return [];
        const v = p.enum.values.find((e) => e.name.spec === value);
        return v === undefined ? [] : [`${juliaName(p.name)} = ${juliaSymbol(v)}`];
      },
      real: (p) => (value === p.default ? [] : [`${juliaName(p.name)} = ${juliaReal(value as number)}`]),
      bool: (p) => (value === p.default ? [] : [`${juliaName(p.name)} = ${String(value)}`]),
      int: (p) => (value === p.default ? [] : [`${juliaName(p.name)} = ${String(value)}`]),
      list: (p) => {
        const xs = value as readonly number[];
        return xs.length === p.default.length && xs.every((x, i) => x === p.default[i]) ? [] : [`${juliaName(p.name)} = ${juliaRealVector(xs)}`];
      },
    }),
  );
  // The same samples as the rows of a matrix (items along dims = 2), for outputs that can take another axis.
  const [output] = op.outputs;
  const rows = ex.inputs.map(({ name, rows: r }) => `[${r.map((row) => row.map(exampleLiteral(op, name.spec)).join(' ')).join('; ')}]`);
  const alongRows =
    output === undefined || rowRank(output.shape) >= 2
      ? []
      : ['', 'The same samples as the rows of a matrix (items along `dims = 2`):', '```julia', call(opNames(op).fn, rows, [...keywords, 'dims = 2']), '```'];
  return ['# Example', '```julia', call(opNames(op).fn, args, keywords), '```', ...alongRows];
}

export function publicDoc(op: OpIR): string[] {
  const n = opNames(op);
  const [output] = op.outputs;
  if (output === undefined) throw new Error(`julia emitter: op ${op.name.spec} has no output`);
  const positional =
    op.paramGrads.length > 0
      ? para(
          `The second form takes ${op.paramGrads.map((g) => `\`${juliaName(g.of.name)}\``).join(', ')} positionally, so ` +
            'that its gradient flows through a ChainRules `rrule` (keyword arguments get none). ' +
            `[\`${n.pullback}\`](@ref) gives every gradient without AD.`,
        )
      : [];
  return [
    ...signatures(op),
    '',
    ...para(op.summary),
    '',
    ...para(op.doc),
    '',
    ...shapeNote(op),
    '',
    '# Arguments',
    ...requiredInputs(op).flatMap((x) => inputItem(op, x)),
    ...op.params.flatMap(paramItem),
    ...optionalInputs(op).flatMap((x) => optionalItem(op, x)),
    ...dimsItem(op),
    '',
    '# Returns',
    ...item(`\`${juliaName(output.name)}\`: `, `${output.doc} ${outputShape(output)}`),
    '',
    ...(positional.length > 0 ? [...positional, ''] : []),
    ...para(
      'Bad input throws `ArgumentError` with the library\'s message (a NaN or infinite value, ε ≤ 0, an unknown ' +
        `\`Symbol\`, inputs of different sizes${op.minN > 1 ? `, fewer than ${op.minN} items per sample` : ''}${paramErrors(op)}).`,
    ),
    ...(op.example === null ? [] : ['', ...exampleLines(op)]),
  ];
}

export function forwardDoc(op: OpIR): string[] {
  const n = opNames(op);
  const [output] = op.outputs;
  const keywords = [...docKeywords(op), DIMS_KEYWORD];
  const residuals = op.residuals.map((r) => `\`${juliaName(r.name)}\``);
  const head = `    ${n.forward}`;
  return [
    ...packedCall(head, requiredInputs(op).map((x) => juliaName(x.name)), keywords, '', head.length + 1).split('\n'),
    `        -> (${output === undefined ? 'output' : juliaName(output.name)}, tape::${n.tape})`,
    '',
    ...para(
      `[\`${n.fn}\`](@ref), also returning the [\`${n.tape}\`](@ref) that [\`${n.pullback}\`](@ref) needs. Same ` +
        'arguments and result as `' + n.fn + '`. The tape holds the saves of the forward' +
        (op.saves.length > 0 ? ` (${op.saves.map((s) => `\`${juliaName(s.name)}\``).join(', ')}; inputs are not copied)` : '') +
        ', the params' +
        (residuals.length > 0 ? ` and the residuals of the library's forward (${residuals.join(', ')})` : '') +
        `. Do not modify the saved arrays before calling the pullback. [\`${n.forwardInto}\`](@ref) reuses ` +
        'the arrays of a tape. With items along another axis than the first of a `Vector` or `Matrix` (`dims`), ' +
        `the tape is a [\`RankRelax.AxisTape\`](@ref) around the \`${n.tape}\` of the \`n × B\` call, and ` +
        `[\`${n.pullback}\`](@ref) takes it.`,
    ),
  ];
}

export function tapeDoc(op: OpIR): string[] {
  const n = opNames(op);
  return [
    `    ${n.tape}{T,N}`,
    '',
    ...para(
      `What [\`${n.forward}\`](@ref) keeps for [\`${n.pullback}\`](@ref)` +
        (op.jvp === null ? '' : ` and [\`${n.pushforward}\`](@ref)`) +
        ': the shape, the params, the saves and ' +
        'the residuals of one forward call. `T` is the element type (`Float32` or `Float64`), `N` the number of ' +
        'dimensions of the inputs (1 for a `Vector`, 2 for a `Matrix`).',
    ),
  ];
}

export function pullbackDoc(op: OpIR): string[] {
  const n = opNames(op);
  const returns = [...op.grads.map((g) => juliaName(g.name)), ...op.paramGrads.map((g) => juliaName(g.name))];
  const cotangents = op.cotangents.map((c) => juliaName(c.name));
  const nonDiff = op.inputs.filter((x) => !x.differentiable).map((x) => `\`${juliaName(x.name)}\``);
  return [
    `    ${n.pullback}(tape::${n.tape}, ${cotangents.join(', ')}; dims = 1)`,
    `    ${n.pullback}(tape::RankRelax.AxisTape, ${cotangents.join(', ')}; dims = tape.dims)`,
    `        -> (${returns.join(', ')})`,
    '',
    ...para(
      `Backward pass (vector-Jacobian product) of [\`${n.fn}\`](@ref): from the cotangent of the output, the ` +
        'gradient of each differentiable input and of each param that has one. Analytical, computed by the ' +
        `library from the tape, without sorting again. [\`${n.pullbackInto}\`](@ref) writes into given arrays.`,
    ),
    '',
    '# Arguments',
    ...item(
      '`tape`: ',
      `From [\`${n.forward}\`](@ref). For a [\`RankRelax.AxisTape\`](@ref) (a call with \`dims\`), the cotangent and ` +
        'the gradients are in the layout of that call: the output\'s and the inputs\' sizes.',
    ),
    ...op.cotangents.flatMap((c) =>
      item(
        `\`${juliaName(c.name)}\`: `,
        `Cotangent of \`${juliaName(c.of.name)}\`: ${isPerRow(c.of.shape) ? 'a number for a `Vector` input, a `Vector` of length `B` for a `Matrix`.' : `an array of the size of \`${juliaName(c.of.name)}\`.`}`,
      ),
    ),
    ...item('`dims`: ', 'Optional: the `dims` of the forward call; another value is an `ArgumentError`.'),
    '',
    '# Returns',
    ...op.grads.flatMap((g) => item(`\`${juliaName(g.name)}\`: `, `The gradient with respect to \`${juliaName(g.of.name)}\`, an \`Array\` of its size.`)),
    ...op.paramGrads.flatMap((g) =>
      item(`\`${juliaName(g.name)}\`: `, `The gradient with respect to \`${juliaName(g.of.name)}\`, a number (summed over the samples).`),
    ),
    ...(nonDiff.length > 0 ? ['', ...para(`${nonDiff.join(', ')} ${nonDiff.length === 1 ? 'receives' : 'receive'} no gradient.`)] : []),
  ];
}

export function forwardIntoDoc(op: OpIR): string[] {
  const n = opNames(op);
  const [output] = op.outputs;
  const keywords = docKeywords(op);
  const head = `    ${n.forwardInto}`;
  return [
    ...packedCall(head, ['tape', ...requiredInputs(op).map((x) => juliaName(x.name))], keywords, '', head.length + 1).split('\n'),
    `        -> (${output === undefined ? 'output' : juliaName(output.name)}, tape::${n.tape})`,
    '',
    ...para(
      `[\`${n.forward}\`](@ref) into the arrays of an earlier \`tape\` of the same size and element type: ` +
        'no array is allocated. The output and residual arrays of `tape` are overwritten (the output that ' +
        'the earlier call returned included) and a new tape over them is returned; use it, not the old one, ' +
        'for the pullback. For loops over batches of one shape. Items along the first axis only (`dims = 1` of a ' +
        '`Vector` or an `n × B` `Matrix`): a call with another `dims` has no in-place form.',
    ),
  ];
}

export function pullbackIntoDoc(op: OpIR): string[] {
  const n = opNames(op);
  const grads = op.grads.map((g) => juliaName(g.name));
  const returns = [...grads, ...op.paramGrads.map((g) => juliaName(g.name))];
  const cotangents = op.cotangents.map((c) => juliaName(c.name));
  return [
    `    ${n.pullbackInto}(${[...grads, 'tape', ...cotangents].join(', ')})`,
    `        -> (${returns.join(', ')})`,
    '',
    ...para(
      `[\`${n.pullback}\`](@ref) writing the input gradients into ${grads.map((g) => `\`${g}\``).join(', ')}: ` +
        `each an \`Array\` of the tape's element type and of the size of the input, distinct from every other ` +
        'array of the call' +
        (op.inPlaceVjp === null
          ? '. '
          : ` except that \`${juliaName(op.inPlaceVjp.grad)}\` may be \`${juliaName(op.inPlaceVjp.cotangent)}\` itself: the gradient is ` +
            'then written over the cotangent (one array less, the same result). ') +
        'Returns them, then the param gradients. Only for a tape of the `n × B` layout, not an `AxisTape`.',
    ),
  ];
}

/** What a tangent or output tangent is, in the words of the array it goes with. */
function tangentShape(t: TensorIR): string {
  return isPerRow(t.shape)
    ? 'a number for a `Vector` input, a `Vector` of length `B` for a `Matrix`'
    : `an array of the size of \`${juliaName(t.name)}\``;
}

/** The Returns item of a JVP: the tangent of the output. */
function outputTangentItem(op: OpIR): string[] {
  return op.outputTangents.flatMap((t) =>
    item(`\`${juliaName(t.name)}\`: `, `The tangent of \`${juliaName(t.of.name)}\` (its directional derivative), ${tangentShape(t.of)}.`),
  );
}

function tangentItems(op: OpIR): string[] {
  return [
    ...op.tangents.flatMap((t) => item(`\`${juliaName(t.name)}\`: `, `Tangent of \`${juliaName(t.of.name)}\`: an array of its size.`)),
    ...op.paramTangents.flatMap((t) =>
      item(
        `\`${juliaName(t.name)} = 0.0\`: `,
        `Tangent of \`${juliaName(t.of.name)}\`: one number for the call, like \`${juliaName(t.of.name)}\` itself; finite.`,
      ),
    ),
  ];
}

export function pushforwardDoc(op: OpIR): string[] {
  const n = opNames(op);
  const tangents = op.tangents.map((t) => juliaName(t.name));
  const keywords = op.paramTangents.map((t) => `${juliaName(t.name)} = 0.0`);
  const nonDiff = op.inputs.filter((x) => !x.differentiable).map((x) => `\`${juliaName(x.name)}\``);
  const head = `    ${n.pushforward}`;
  const sig = (tape: string, dims: string) => packedCall(head, [tape, ...tangents], [...keywords, dims], '', head.length + 1);
  return [
    ...sig(`tape::${n.tape}`, 'dims = 1').split('\n'),
    ...sig('tape::RankRelax.AxisTape', 'dims = tape.dims').split('\n'),
    `        -> ${op.outputTangents.map((t) => juliaName(t.name)).join(', ')}`,
    '',
    ...para(
      `Forward-mode derivative (Jacobian-vector product) of [\`${n.fn}\`](@ref) at the inputs of the tape's call: ` +
        'the tangent of the output from a tangent of each differentiable input and of each param that has ' +
        'a gradient. Analytical, computed by the library from the tape, without sorting again; it is the adjoint of ' +
        `[\`${n.pullback}\`](@ref). [\`${n.jvp}\`](@ref) runs the forward too. A ChainRulesCore \`frule\` calls it.`,
    ),
    '',
    '# Arguments',
    ...item(
      '`tape`: ',
      `From [\`${n.forward}\`](@ref). For a [\`RankRelax.AxisTape\`](@ref) (a call with \`dims\`), the tangents ` +
        'are in the layout of that call: the inputs\' and the output\'s sizes.',
    ),
    ...tangentItems(op),
    ...item('`dims`: ', 'Optional: the `dims` of the forward call; another value is an `ArgumentError`.'),
    '',
    '# Returns',
    ...outputTangentItem(op),
    '',
    ...para(
      `A tangent of the wrong size, or a NaN or infinite tangent, throws \`ArgumentError\` naming the op and the argument.` +
        (nonDiff.length > 0 ? ` ${nonDiff.join(', ')} ${nonDiff.length === 1 ? 'takes' : 'take'} no tangent.` : ''),
    ),
  ];
}

export function jvpDoc(op: OpIR): string[] {
  const n = opNames(op);
  const keywords = [
    ...docKeywords(op),
    ...op.paramTangents.map((t) => `${juliaName(t.name)} = 0.0`),
    DIMS_KEYWORD,
  ];
  const head = `    ${n.jvp}`;
  const positional = [...requiredInputs(op).map((x) => juliaName(x.name)), ...op.tangents.map((t) => juliaName(t.name))];
  return [
    ...packedCall(head, positional, keywords, '', head.length + 1).split('\n'),
    `        -> ${op.outputTangents.map((t) => juliaName(t.name)).join(', ')}`,
    '',
    ...para(
      `Jacobian-vector product (forward mode) of [\`${n.fn}\`](@ref): the tangent of its output at the given ` +
        'inputs and params, in the direction of the given tangents. Runs the forward, then ' +
        `[\`${n.pushforward}\`](@ref) on its tape; the inputs, params and \`dims\` are those of \`${n.fn}\`, with ` +
        'the same checks. The tangents are converted to the element type of the call.',
    ),
    '',
    '# Arguments',
    ...item('Inputs, params and `dims`: ', `As for [\`${n.fn}\`](@ref).`),
    ...tangentItems(op),
    '',
    '# Returns',
    ...outputTangentItem(op),
    '',
    ...para(
      `Bad input throws \`ArgumentError\` as for \`${n.fn}\`; a tangent of the wrong size, or a NaN or infinite tangent, ` +
        'throws `ArgumentError` naming the op and the argument.',
    ),
  ];
}

/** The Returns items of an HVP: one per gradient the pullback returns, in its order. */
function hvpItems(op: OpIR): string[] {
  return [
    ...op.hvps.flatMap((h) =>
      item(
        `\`${juliaName(h.name)}\`: `,
        `The derivative of the gradient with respect to \`${juliaName(h.of.name)}\` along the tangents, an \`Array\` of its size.`,
      ),
    ),
    ...op.paramHvps.flatMap((h) =>
      item(
        `\`${juliaName(h.name)}\`: `,
        `The derivative of the gradient with respect to \`${juliaName(h.of.name)}\` along the tangents, a number (summed over the samples).`,
      ),
    ),
  ];
}

/** The cotangent items of a second-order function: the cotangent is held fixed. */
function hvpCotangentItems(op: OpIR): string[] {
  return op.cotangents.flatMap((c) =>
    item(
      `\`${juliaName(c.name)}\`: `,
      `Cotangent of \`${juliaName(c.of.name)}\`, as for [\`${opNames(op).pullback}\`](@ref), held fixed; finite.`,
    ),
  );
}

const HVP_MEANING =
  'For one sample with cotangent `g`, the Hessian of `⟨g, f(x, ε)⟩` (symmetric) times the tangents: what the ' +
  'pullback returns changes by this much per unit step along the tangents, the cotangent fixed.';

export function pullbackHvpDoc(op: OpIR): string[] {
  const n = opNames(op);
  const cotangents = op.cotangents.map((c) => juliaName(c.name));
  const tangents = op.tangents.map((t) => juliaName(t.name));
  const keywords = op.paramTangents.map((t) => `${juliaName(t.name)} = 0.0`);
  const returns = [...op.hvps, ...op.paramHvps].map((h) => juliaName(h.name));
  const head = `    ${n.pullbackHvp}`;
  const sig = (tape: string, dims: string) => packedCall(head, [tape, ...cotangents, ...tangents], [...keywords, dims], '', head.length + 1);
  return [
    ...sig(`tape::${n.tape}`, 'dims = 1').split('\n'),
    ...sig('tape::RankRelax.AxisTape', 'dims = tape.dims').split('\n'),
    `        -> (${returns.join(', ')})`,
    '',
    ...para(
      `Second-order derivative of [\`${n.fn}\`](@ref) at the inputs of the tape's call: the derivative of ` +
        `[\`${n.pullback}\`](@ref)\`(tape, ${cotangents.join(', ')})\` along a tangent of each differentiable input and of each ` +
        `param that has a gradient, returned in the pullback's order. ${HVP_MEANING} Analytical, computed by the library ` +
        `from the tape. [\`${n.hvp}\`](@ref) runs the forward too. With ChainRulesCore loaded, the pullback of the ` +
        '`rrule` is itself differentiable through it (nested reverse mode, Hessians).',
    ),
    '',
    '# Arguments',
    ...item(
      '`tape`: ',
      `From [\`${n.forward}\`](@ref). For a [\`RankRelax.AxisTape\`](@ref) (a call with \`dims\`), the cotangent, the ` +
        'tangents and the results are in the layout of that call.',
    ),
    ...hvpCotangentItems(op),
    ...tangentItems(op),
    ...item('`dims`: ', 'Optional: the `dims` of the forward call; another value is an `ArgumentError`.'),
    '',
    '# Returns',
    ...hvpItems(op),
    '',
    ...para('A cotangent or tangent of the wrong size, or a NaN or infinite one, throws `ArgumentError` naming the op and the argument.'),
  ];
}

export function hvpDoc(op: OpIR): string[] {
  const n = opNames(op);
  const keywords = [
    ...docKeywords(op),
    ...op.paramTangents.map((t) => `${juliaName(t.name)} = 0.0`),
    DIMS_KEYWORD,
  ];
  const head = `    ${n.hvp}`;
  const positional = [...requiredInputs(op).map((x) => juliaName(x.name)), ...op.cotangents.map((c) => juliaName(c.name)), ...op.tangents.map((t) => juliaName(t.name))];
  return [
    ...packedCall(head, positional, keywords, '', head.length + 1).split('\n'),
    `        -> (${[...op.hvps, ...op.paramHvps].map((h) => juliaName(h.name)).join(', ')})`,
    '',
    ...para(
      `Hessian-vector product of [\`${n.fn}\`](@ref): the derivative of its pullback (the gradients for the given ` +
        `cotangent) along the given tangents. ${HVP_MEANING} Runs the forward, then [\`${n.pullbackHvp}\`](@ref) on its ` +
        `tape; the inputs, params and \`dims\` are those of \`${n.fn}\`, with the same checks. The cotangent and the ` +
        'tangents are converted to the element type of the call.',
    ),
    '',
    '# Arguments',
    ...item('Inputs, params and `dims`: ', `As for [\`${n.fn}\`](@ref).`),
    ...hvpCotangentItems(op),
    ...tangentItems(op),
    '',
    '# Returns',
    ...hvpItems(op),
    '',
    ...para(
      `Bad input throws \`ArgumentError\` as for \`${n.fn}\`; a cotangent or tangent of the wrong size, or a NaN or ` +
        'infinite one, throws `ArgumentError` naming the op and the argument.',
    ),
  ];
}
