// The public API of one op: the function (keyword form, and a positional form for params with a
// gradient); `<op>_forward` returning the output and a tape; `<op>_forward!` doing the same in the
// buffers of an earlier tape; the tape struct; `<op>_pullback` and `<op>_pullback!` (into given
// gradient arrays). Array handling (`_rr_dense`, `_rr_rows`, …) is hand-written in src/RankRelax.jl.
import { code, join } from '../../emit/code.ts';
import type { DimIR, InputIR, IntBoundIR, KernelIR, OpIR, OutputIR, ParamIR, ShapeIR, TensorIR } from '../../ir/types.ts';
import { forwardDoc, forwardIntoDoc, hvpDoc, jvpDoc, publicDoc, pullbackDoc, pullbackHvpDoc, pullbackIntoDoc, pushforwardDoc, tapeDoc } from './docs.ts';
import { call, comment, WIDTH, DIMS_KEYWORD, docstring, forwardKeyword, PASS_DIMS, intInputs, juliaString, keywordWithDefault, local, opNames, optionalInputs, optionalKeyword, P, packed, packedCall, passKeyword, requiredInputs, typedInput } from './syntax.ts';
import { extent, isItemRow, isPerRow, rowRank } from '../../ir/shape.ts';
import { unsupported } from '../../emit/capabilities.ts';
import { assertNever } from '../../util/never.ts';
import { matchParam } from '../../ir/match.ts';
import { matchElem } from '../../ir/match.ts';
import { juliaIdent, juliaName, juliaType } from './names.ts';
import { enumCodeFunction } from './meta.ts';

const TAPE = 'tape';


/** Converts a param to what the ccall wrapper takes. */
function convertParam(op: OpIR, param: ParamIR): string {
  const name = juliaName(param.name);
  switch (param.type) {
    case 'real':
      return `${local(param.name.spec)} = convert(${P}T, ${name})`;
    case 'bool':
      return `${local(param.name.spec)} = Bool(${name})`;
    case 'enum':
      return `${local(param.name.spec)} = ${enumCodeFunction(op, param)}(${juliaString(op.name.spec)}, ${juliaString(param.name.spec)}, ${name})`;
    case 'int':
      return `${local(param.name.spec)} = ${P}integer(${intType(op, param)}, ${juliaString(op.name.spec)}, ${juliaString(param.name.spec)}, ${name})`;
    case 'list':
      return `${local(param.name.spec)} = ${P}real_list(${P}T, ${juliaString(op.name.spec)}, ${juliaString(param.name.spec)}, ${name})`;
    default:
      return assertNever(param, 'param type');
  }
}

/** The Julia type the C ABI takes an int param as (`Int32`, `Int64`): the type of its kernel argument. */
function intType(op: OpIR, param: ParamIR): string {
  const arg = op.variants[0]?.forward.args.find((a) => a.kind === 'param' && a.param.name.spec === param.name.spec);
  if (arg === undefined) throw new Error(`julia emitter: op ${op.name.spec} passes no param ${param.name.spec} to its forward`);
  return juliaType(arg.type);
}

/** The type of a param's field in the tape (its value as converted for the library). */
function paramFieldType(op: OpIR, param: ParamIR): string {
  return matchParam(param, { real: () => 'T', enum: () => 'Int32', bool: () => 'Bool', int: (p) => intType(op, p), list: () => 'Vector{T}' });
}

/**
 * The Julia size of a buffer of shape `shape` (not [batch]) for inputs of size `inputSize`: the
 * core's row-major dims reversed (the items axis first, the same memory), then `B` for a `Matrix`
 * input; `dim` spells each dim's value. [batch, n] is the input's own size.
 */
function juliaSize(shape: ShapeIR, inputSize: string, dim: (d: DimIR) => string): string {
  if (isItemRow(shape)) return inputSize;
  return `${P}size(${[inputSize, ...[...shape.row].reverse().map(dim)].join(', ')})`;
}

/** A dim's value where the call's converted locals are in scope: `_rr_n`, `_rr_m`. */
function localDim(d: DimIR): string {
  switch (d.kind) {
    case 'batch':
    case 'n':
    case 'length':
    case 'param':
      return local(d.name.spec);
    default:
      return assertNever(d, 'dim kind');
  }
}

/** A dim's value from a tape: `tape._rr_n`, `length(tape.quantiles)`. */
function tapeDim(d: DimIR): string {
  switch (d.kind) {
    case 'batch':
    case 'n':
      return `${TAPE}.${P}${d.name.spec}`;
    case 'length':
      return `length(${TAPE}.${juliaIdent(d.param)})`;
    case 'param':
      return `Int(${TAPE}.${juliaIdent(d.param)})`;
    default:
      return assertNever(d, 'dim kind');
  }
}

/** The op's dims that are the length of a list param (`m`). */
function lengthDims(op: OpIR) {
  return op.dims.flatMap((d) => (d.kind === 'length' ? [d] : []));
}

/** The op's dims that are the value of an int param (`k`). */
function paramDims(op: OpIR) {
  return op.dims.flatMap((d) => (d.kind === 'param' ? [d] : []));
}

/** An int param's bound as the library's messages write it (`n`, `0`) and its value where `_rr_n` is in scope. */
function boundText(b: IntBoundIR | null): [string, string] {
  if (b === null) return ['nothing', 'nothing'];
  return b.kind === 'value' ? [String(b.value), String(b.value)] : [juliaString(b.dim), local(b.dim)];
}

/**
 * `_rr_k = _rr_int_dim(…)`: the value of the int param a dim is, checked (an integer within its
 * bounds, as the library would) before any array of that extent is allocated.
 */
function paramDimValue(op: OpIR, d: DimIR & { kind: 'param' }): string {
  const param = op.params.find((p) => p.name.spec === d.param);
  if (param === undefined || param.type !== 'int') throw new Error(`julia emitter: op ${op.name.spec}: dim ${d.name.spec} is not the value of an int param`);
  const [minText, min] = boundText(param.min);
  const [maxText, max] = boundText(param.max);
  return packed(
    `${localDim(d)} = ${P}int_dim(`,
    [juliaString(op.name.spec), juliaString(param.name.spec), juliaIdent(d.param), `${minText} => ${min}`, `${maxText} => ${max}`],
    ')',
    4,
    4,
  );
}

/** The outputs that the tape holds beside the saves (so that `_forward!` can reuse them). */
function unsavedOutputs(op: OpIR): TensorIR[] {
  return op.outputs.filter((t) => !op.saves.some((s) => s.name.spec === t.name.spec));
}

/**
 * The type of a tape field: inputs and outputs keep their array (`N` dims for a row of one dim, one
 * more per further dim: `Array{T}`); [batch] outputs and residuals are flat.
 */
function fieldType(t: TensorIR, source: 'input' | 'output' | 'residual', optional = false): string {
  const elem = matchElem(t.elem, { real: () => 'T', int32: () => 'Int32', bool: () => 'Bool' });
  const type = source === 'residual' || isPerRow(t.shape) ? `Vector{${elem}}` : rowRank(t.shape) === 1 ? `Array{${elem},N}` : `Array{${elem}}`;
  // An optional input that the call omitted is saved as `nothing` (the kernels' null pointer).
  return optional ? `Union{${type},Nothing}` : type;
}

/** Whether a save is an optional input. */
function isOptionalSave(op: OpIR, name: string): boolean {
  return op.inputs.some((x) => x.optional && x.name.spec === name);
}

/** The keyword arguments of a call: the params, then the optional inputs. */
function callKeywords(op: OpIR, params: readonly ParamIR[] = op.params): string[] {
  return [...params.map(keywordWithDefault), ...optionalInputs(op).map(optionalKeyword)];
}

/** Passing the params and the optional inputs on as keywords. */
function passKeywords(op: OpIR): string[] {
  return [...op.params.map(forwardKeyword), ...optionalInputs(op).map((x) => passKeyword(x.name))];
}

/** The required inputs of real dtype: those whose element types decide the call's float type. */
function realInputs(op: OpIR): string[] {
  return requiredInputs(op)
    .filter((x) => x.elem === 'real')
    .map((x) => juliaName(x.name));
}

/** An input as the library takes it: reals dense in the call's type, bools an Array{Bool}, ints an Array{Int32} (`nothing` stays). */
function convertInput(op: OpIR, x: InputIR): string {
  const name = juliaName(x.name);
  const value = matchElem(x.elem, {
    real: () => `${P}dense(${P}T, ${name})`,
    bool: () => `${P}bools(${juliaString(op.name.spec)}, ${juliaString(x.name.spec)}, ${name})`,
    int32: () => `${P}ints(${juliaString(op.name.spec)}, ${juliaString(x.name.spec)}, ${name})`,
  });
  return `${local(x.name.spec)} = ${value}`;
}

/** The buffers `_rr_<op>_run` writes: outputs then residuals. */
function written(op: OpIR): TensorIR[] {
  return [...op.outputs, ...op.residuals];
}

function firstInput(op: OpIR) {
  const [first] = requiredInputs(op);
  const [output] = op.outputs;
  if (first === undefined || output === undefined) throw new Error(`julia emitter: op ${op.name.spec} needs an input and an output`);
  // A call reads B and n from its inputs, each a Vector or an n × B Matrix.
  const other = op.inputs.find((x) => !isItemRow(x.shape));
  if (other !== undefined) throw new Error(`julia emitter: op ${op.name.spec}: input ${other.name.spec} has shape ${other.shape.text}; inputs are [batch, n]`);
  return { first, output };
}

function renderTape(op: OpIR): string {
  const n = opNames(op);
  const fields = [
    `${P}size::NTuple{N,Int}`,
    `${P}batch::Int`,
    `${P}n::Int`,
    ...op.params.map((p) => `${juliaName(p.name)}::${paramFieldType(op, p)}`),
    ...op.saves.map((s) => `${juliaName(s.name)}::${fieldType(s.tensor, s.source, isOptionalSave(op, s.name.spec))}`),
    ...unsavedOutputs(op).map((t) => `${juliaName(t.name)}::${fieldType(t, 'output')}`),
    ...op.residuals.map((r) => `${juliaName(r.name)}::${fieldType(r, 'residual')}`),
  ];
  return code`
    ${docstring(tapeDoc(op))}
    struct ${n.tape}{T<:Union{Float32,Float64},N}
        ${fields}
    end
  `;
}

/** `_rr_<op>_run(T, inputs…, outputs…, residuals…, params…)`: convert, check, call, make the tape. */
function renderRun(op: OpIR): string {
  const n = opNames(op);
  const { first } = firstInput(op);
  const rest = op.inputs.filter((x) => x !== first);
  const firstLocal = local(first.name.spec);
  const args = [`::Type{${P}T}`, ...op.inputs.map((x) => juliaName(x.name)), ...written(op).map((t) => juliaName(t.name)), ...op.params.map((p) => juliaName(p.name))];
  const kernelArgs = op.forward.args.map((a) => {
    if (a.kind === 'dim') return `${P}${a.dim}`;
    if (a.role === 'input' || a.role === 'param') return local(a.name.spec);
    return juliaName(a.name); // outputs and residuals: the given buffers
  });
  const tapeArgs = [
    `size(${firstLocal})`,
    `${P}batch`,
    `${P}n`,
    ...op.params.map((p) => local(p.name.spec)),
    ...op.saves.map((s) => (s.source === 'input' ? local(s.name.spec) : juliaName(s.name))),
    ...unsavedOutputs(op).map((t) => juliaName(t.name)),
    ...op.residuals.map((r) => juliaName(r.name)),
  ];
  const value = (t: OutputIR) => (isPerRow(t.shape) ? `${P}per_row(${juliaName(t.name)}, ${firstLocal})` : juliaName(t.name));
  // Positions are 1-based in Julia (0 for none): converted in place once the kernel is done with them,
  // or in a copy where the tape keeps the output for the pullback.
  const saved = (t: OutputIR) => op.saves.some((s) => s.source === 'output' && s.name.spec === t.name.spec);
  const oneBased = op.outputs.filter((t) => t.indexes).map((t) => (saved(t) ? `${juliaName(t.name)} = ${P}one_based!(copy(${juliaName(t.name)}))` : `${P}one_based!(${juliaName(t.name)})`));
  const result = outputValue(op, value);
  return code`
    ${packed(`function ${n.run}(`, args, `) where {${P}T}`, 8)}
        ${op.inputs.map((x) => convertInput(op, x))}
        ${rest.map((x) => packed(`${P}check_same_size(`, [juliaString(op.name.spec), juliaString(first.name.spec), firstLocal, juliaString(x.name.spec), local(x.name.spec)], ')', 4, 4))}
        ${P}batch, ${P}n = ${P}rows(${firstLocal})
        ${op.params.map((p) => convertParam(op, p))}
        ${packed(`${n.kernel('forward')}(`, kernelArgs, ')', 4, 4)}
        ${packed(`${P}tape = ${n.tape}{${P}T,ndims(${firstLocal})}(`, tapeArgs, ')', 4, 4)}
        ${oneBased}
        return ${result}, ${P}tape
    end
  `;
}

/** What a call returns: its one output, or a NamedTuple of its outputs by name. */
function outputValue(op: OpIR, value: (t: OutputIR) => string): string {
  const [only] = op.outputs;
  if (op.outputs.length === 1 && only !== undefined) return value(only);
  return `(${op.outputs.map((t) => `${juliaName(t.name)} = ${value(t)}`).join(', ')})`;
}

/** A new buffer the allocating forward passes to `_rr_<op>_run`: outputs in the caller's layout, the rest flat. */
function allocate(t: TensorIR, first: string, isOutput: boolean): string {
  const elem = matchElem(t.elem, { real: () => `${P}T`, int32: () => 'Int32', bool: () => unsupported('julia', 'bool buffers') });
  if (isOutput && !isPerRow(t.shape)) return `${local(t.name.spec)} = Array{${elem}}(undef, ${juliaSize(t.shape, `size(${first})`, localDim)})`;
  return `${local(t.name.spec)} = Vector{${elem}}(undef, ${extent(t.shape, localDim)})`;
}

/** A Julia tuple literal on one line: `(a,)`, `(a, b)`. */
function tupleOf(items: readonly string[]): string {
  return `(${items.join(', ')}${items.length === 1 ? ',' : ''})`;
}

function renderForward(op: OpIR): string {
  const n = opNames(op);
  const { first, output } = firstInput(op);
  const required = requiredInputs(op);
  const inputs = required.map((x) => juliaName(x.name));
  const runArgs = [`${P}T`, ...op.inputs.map((x) => juliaName(x.name)), ...written(op).map((t) => local(t.name.spec)), ...op.params.map((p) => juliaName(p.name))];
  // Items along another axis, or arrays of more dims: the same call on the n × B matrix, through the
  // runtime, which moves the optional inputs like the others.
  const optional = optionalInputs(op).map((x) => passKeyword(x.name));
  const alongArgs = [
    n.forward,
    juliaString(op.name.spec),
    tupleOf(required.map((x) => juliaString(x.name.spec))),
    tupleOf(inputs),
    optional.length === 0 ? 'NamedTuple()' : tupleOf(optional),
    'dims',
    op.outputs.length === 1 ? String(rowRank(output.shape)) : tupleOf(op.outputs.map((t) => String(rowRank(t.shape)))),
  ];
  const along = packedCall(`${P}items_first(dims, ${inputs.join(', ')}) || return ${P}forward_along`, alongArgs, op.params.map(forwardKeyword), '', 4, 4);
  return code`
    ${docstring(forwardDoc(op))}
    ${call(`function ${n.forward}`, required.map((x) => typedInput(x)), [...callKeywords(op), DIMS_KEYWORD])}
        ${along}
        ${P}T = ${P}float_type(${join(realInputs(op), ', ')})
        ${P}batch, ${P}n = ${P}rows(${juliaName(first.name)})
        ${lengthDims(op).map((d) => `${localDim(d)} = ${P}list_length(${juliaString(op.name.spec)}, ${juliaString(d.param)}, ${juliaIdent(d.param)})`)}
        ${paramDims(op).map((d) => paramDimValue(op, d))}
        ${op.outputs.map((t) => allocate(t, juliaName(first.name), true))}
        ${op.residuals.map((t) => allocate(t, juliaName(first.name), false))}
        ${packed(`return ${n.run}(`, runArgs, ')', 4, 4)}
    end
  `;
}

function renderForwardInto(op: OpIR): string {
  const n = opNames(op);
  const required = requiredInputs(op);
  const inputs = op.inputs.map((x) => juliaName(x.name));
  // The required inputs fit the tape; the call checks the optional ones against them.
  const checks = packed(
    `${P}check_tape(`,
    [juliaString(n.forwardInto), 'T', `${TAPE}.${P}size`, `${P}float_type(${realInputs(op).join(', ')})`, ...required.map((x) => `${juliaString(x.name.spec)} => ${juliaName(x.name)}`)],
    ')',
    4,
    4,
  );
  // The written buffers have the tape's extents: a list param must keep its length.
  const lengths = lengthDims(op).map((d) =>
    packed(
      `${P}check_tape_length(`,
      [juliaString(n.forwardInto), juliaString(op.name.spec), juliaString(d.param), juliaIdent(d.param), tapeDim(d)],
      ')',
      4,
      4,
    ),
  );
  // … and an int param whose value is a dim, its value.
  const values = paramDims(op).map((d) =>
    packed(
      `${P}check_tape_value(`,
      [juliaString(n.forwardInto), juliaString(op.name.spec), juliaString(d.param), juliaIdent(d.param), `${TAPE}.${juliaIdent(d.param)}`],
      ')',
      4,
      4,
    ),
  );
  const runArgs = ['T', ...inputs, ...written(op).map((t) => `${TAPE}.${juliaName(t.name)}`), ...op.params.map((p) => juliaName(p.name))];
  return code`
    ${docstring(forwardIntoDoc(op))}
    ${call(
      `function ${n.forwardInto}`,
      [`${TAPE}::${n.tape}{T,N}`, ...required.map((x) => typedInput(x, 'AbstractVecOrMat'))],
      callKeywords(op),
      ' where {T,N}',
    )}
        ${checks}
        ${lengths}
        ${values}
        ${packed(`return ${n.run}(`, runArgs, ')', 4, 4)}
    end
  `;
}

function renderPublic(op: OpIR): string {
  const n = opNames(op);
  const required = requiredInputs(op);
  const inputs = required.map((x) => typedInput(x));
  const keywords = [...callKeywords(op), DIMS_KEYWORD];
  const pass = [...passKeywords(op), PASS_DIMS];
  const body = packedCall(`return first(${n.forward}`, required.map((x) => juliaName(x.name)), pass, ')', 4, 4);
  const grads = op.paramGrads.map((g) => g.of);
  const positional =
    grads.length === 0
      ? ''
      : code`

          ${call(
            `function ${n.fn}`,
            [...inputs, ...grads.map((p) => `${juliaName(p.name)}::Real`)],
            [...callKeywords(op, op.params.filter((p) => !grads.includes(p as never))), DIMS_KEYWORD],
          )}
              ${body}
          end
        `;
  return code`
    ${docstring(publicDoc(op))}
    ${call(`function ${n.fn}`, inputs, keywords)}
        ${body}
    end${positional}
  `;
}

function renderPullback(op: OpIR): string {
  const n = opNames(op);
  const cotangents = op.cotangents.map((c) => juliaName(c.name));
  const fresh = op.grads.map(() => `Array{T,N}(undef, ${TAPE}.${P}size)`);
  const [cotangent, ...more] = op.cotangents;
  if (cotangent === undefined || more.length > 0) throw new Error(`julia emitter: op ${op.name.spec} needs one cotangent`);
  const alongArgs = [n.pullback, juliaString(op.name.spec), juliaString(cotangent.of.name.spec), TAPE, juliaName(cotangent.name)];
  return code`
    ${docstring(pullbackDoc(op))}
    ${call(`function ${n.pullback}`, [`${TAPE}::${n.tape}{T,N}`, ...cotangents], [DIMS_KEYWORD], ' where {T,N}')}
        ${P}check_tape_dims(${juliaString(n.pullback)}, 1, dims)
        ${packed(`return ${n.pullbackInto}(`, [...fresh, TAPE, ...cotangents], ')', 4, 4)}
    end
    ${call(`function ${n.pullback}`, [`${TAPE}::AxisTape{<:${n.tape}}`, ...cotangents], [`dims = ${TAPE}.dims`])}
        ${P}check_tape_dims(${juliaString(n.pullback)}, ${TAPE}.dims, dims)
        ${packed(`return ${P}pullback_along(`, alongArgs, ')', 4, 4)}
    end
  `;
}

/** The cotangents as the library takes them (checked against the tape, then dense): `_rr_cotangent_ranks = …`. */
function convertCotangents(op: OpIR): string[] {
  return op.cotangents.map((c) => {
    const helper = isPerRow(c.of.shape) ? `${P}cotangent_rows` : `${P}cotangent`;
    const size = isPerRow(c.of.shape) ? `${TAPE}.${P}size` : juliaSize(c.of.shape, `${TAPE}.${P}size`, tapeDim);
    return packed(`${local(c.name.spec)} = ${helper}(`, ['T', juliaString(op.name.spec), juliaString(c.of.name.spec), juliaName(c.name), size], ')', 4, 4);
  });
}

/** The tangents as the library takes them: each input's checked against the tape's size, ε's converted. */
function convertTangents(op: OpIR): string[] {
  return [
    ...op.tangents.map((t) =>
      packed(
        `${local(t.name.spec)} = ${P}tangent(`,
        ['T', juliaString(op.name.spec), juliaString(t.name.spec), juliaString(t.of.name.spec), juliaName(t.name), `${TAPE}.${P}size`],
        ')',
        4,
        4,
      ),
    ),
    ...op.paramTangents.map((t) => `${local(t.name.spec)} = convert(T, ${juliaName(t.name)})`),
  ];
}

function renderPullbackInto(op: OpIR): string {
  const n = opNames(op);
  const grads = op.grads.map((g) => juliaName(g.name));
  const checks = op.grads.map((g) =>
    packed(`${P}check_grad(`, [juliaString(n.pullbackInto), juliaString(g.name.spec), juliaName(g.name), 'T', `${TAPE}.${P}size`], ')', 4, 4),
  );
  const cotangents = convertCotangents(op);
  const paramGrads = op.paramGrads.map((g) => `${local(g.name.spec)} = Vector{T}(undef, ${TAPE}.${P}batch)`);
  const backwardArgs = op.backward.args.map((a) => {
    switch (a.role) {
      case 'dim':
        return `${TAPE}.${P}${a.name.spec}`;
      case 'param':
      case 'save':
      case 'residual':
        return `${TAPE}.${juliaName(a.name)}`;
      case 'grad':
        return juliaName(a.name);
      default:
        return local(a.name.spec);
    }
  });
  const results = [...grads, ...op.paramGrads.map((g) => `sum(${local(g.name.spec)})`)];
  return code`
    ${docstring(pullbackIntoDoc(op))}
    ${call(`function ${n.pullbackInto}`, [...grads, `${TAPE}::${n.tape}{T,N}`, ...op.cotangents.map((c) => juliaName(c.name))], [], ' where {T,N}')}
        ${checks}
        ${cotangents}
        ${paramGrads}
        ${packed(`${n.kernel('backward')}(`, backwardArgs, ')', 4, 4)}
        return ${results.length === 1 ? `(${results[0]},)` : results.join(', ')}
    end
  `;
}

/** The keyword of a param tangent, with its default: `tangent_regularization_strength::Real = 0.0`. */
function paramTangentKeyword(name: string): string {
  return `${name}::Real = 0.0`;
}

/** The one tangent a JVP writes (the tangent of the one output). */
function outputTangent(op: OpIR) {
  const [tangent, ...more] = op.outputTangents;
  if (tangent === undefined || more.length > 0) throw new Error(`julia emitter: op ${op.name.spec} needs one output tangent`);
  return tangent;
}

/**
 * `<op>_pushforward(tape, tangents…; tangent_<param> = 0.0)`: the JVP kernel on the saves and
 * residuals of a tape (the forward-mode counterpart of `<op>_pullback`), and its method for an AxisTape.
 */
function renderPushforward(op: OpIR, jvp: KernelIR): string {
  const n = opNames(op);
  const output = outputTangent(op);
  const tangents = op.tangents.map((t) => juliaName(t.name));
  const paramTangents = op.paramTangents.map((t) => juliaName(t.name));
  const keywords = paramTangents.map(paramTangentKeyword);
  const pass = paramTangents.map((t) => `${t} = ${t}`);
  const converted = convertTangents(op);
  const shape = output.of.shape;
  const written = local(output.name.spec);
  const array = isPerRow(shape) ? `Vector{T}(undef, ${extent(shape, tapeDim)})` : `Array{T}(undef, ${juliaSize(shape, `${TAPE}.${P}size`, tapeDim)})`;
  const allocation = 4 + written.length + 3 + array.length <= WIDTH ? `${written} = ${array}` : `${written} =\n    ${array}`;
  const jvpArgs = jvp.args.map((a) => {
    switch (a.role) {
      case 'dim':
        return `${TAPE}.${P}${a.name.spec}`;
      case 'param':
      case 'save':
      case 'residual':
        return `${TAPE}.${juliaName(a.name)}`;
      case 'tangent':
      case 'param_tangent':
      case 'output_tangent':
        return local(a.name.spec);
      case 'input':
      case 'output':
      case 'cotangent':
      case 'grad':
      case 'param_grad':
      case 'hvp':
      case 'param_hvp':
        throw new Error(`julia emitter: op ${op.name.spec}: the JVP kernel takes no ${a.role} argument (${a.name.spec})`);
      default:
        return assertNever(a, 'argument role');
    }
  });
  const result = isPerRow(shape) ? `${P}per_row(${written}, ${TAPE}.${P}size)` : written;
  const alongArgs = [
    n.pushforward,
    juliaString(op.name.spec),
    tupleOf(op.tangents.map((t) => juliaString(t.name.spec))),
    tupleOf(op.tangents.map((t) => juliaString(t.of.name.spec))),
    TAPE,
    tupleOf(tangents),
  ];
  return code`
    ${docstring(pushforwardDoc(op))}
    ${call(`function ${n.pushforward}`, [`${TAPE}::${n.tape}{T,N}`, ...tangents], [...keywords, DIMS_KEYWORD], ' where {T,N}')}
        ${P}check_tape_dims(${juliaString(n.pushforward)}, 1, dims)
        ${converted}
        ${allocation}
        ${packed(`${n.kernel('jvp')}(`, jvpArgs, ')', 4, 4)}
        return ${result}
    end
    ${call(`function ${n.pushforward}`, [`${TAPE}::AxisTape{<:${n.tape}}`, ...tangents], [...keywords, `dims = ${TAPE}.dims`])}
        ${P}check_tape_dims(${juliaString(n.pushforward)}, ${TAPE}.dims, dims)
        ${packedCall(`return ${P}pushforward_along`, alongArgs, pass, '', 4, 4)}
    end
  `;
}

/** `<op>_jvp(inputs…, tangents…; params…, tangent_<param> = 0.0, dims = 1)`: the forward, then the pushforward. */
function renderJvp(op: OpIR): string {
  const n = opNames(op);
  const tangents = op.tangents.map((t) => juliaName(t.name));
  const paramTangents = op.paramTangents.map((t) => juliaName(t.name));
  const forward = packedCall(`${P}tape = last(${n.forward}`, requiredInputs(op).map((x) => juliaName(x.name)), [...passKeywords(op), PASS_DIMS], ')', 4, 4);
  const push = packedCall(`return ${n.pushforward}`, [P + 'tape', ...tangents], paramTangents.map((t) => `${t} = ${t}`), '', 4, 4);
  return code`
    ${docstring(jvpDoc(op))}
    ${call(
      `function ${n.jvp}`,
      [...requiredInputs(op).map((x) => typedInput(x)), ...tangents],
      [...callKeywords(op), ...paramTangents.map(paramTangentKeyword), DIMS_KEYWORD],
    )}
        ${forward}
        ${push}
    end
  `;
}

/**
 * `<op>_pullback_hvp(tape, cotangents…, tangents…; tangent_<param> = 0.0)`: the HVP kernel on the saves
 * and residuals of a tape, the derivative of `<op>_pullback` along the tangents at fixed cotangents,
 * returned as the pullback returns its gradients (ε's per-row values summed); and its AxisTape method.
 */
function renderPullbackHvp(op: OpIR, hvp: KernelIR): string {
  const n = opNames(op);
  const [cotangent, ...more] = op.cotangents;
  if (cotangent === undefined || more.length > 0) throw new Error(`julia emitter: op ${op.name.spec} needs one cotangent`);
  const cotangents = op.cotangents.map((c) => juliaName(c.name));
  const tangents = op.tangents.map((t) => juliaName(t.name));
  const paramTangents = op.paramTangents.map((t) => juliaName(t.name));
  const keywords = paramTangents.map(paramTangentKeyword);
  const pass = paramTangents.map((t) => `${t} = ${t}`);
  const allocations = [
    ...op.hvps.map((h) => `${local(h.name.spec)} = Array{T,N}(undef, ${TAPE}.${P}size)`),
    ...op.paramHvps.map((h) => `${local(h.name.spec)} = Vector{T}(undef, ${TAPE}.${P}batch)`),
  ];
  const hvpArgs = hvp.args.map((a) => {
    switch (a.role) {
      case 'dim':
        return `${TAPE}.${P}${a.name.spec}`;
      case 'param':
      case 'save':
      case 'residual':
        return `${TAPE}.${juliaName(a.name)}`;
      case 'cotangent':
      case 'tangent':
      case 'param_tangent':
      case 'hvp':
      case 'param_hvp':
        return local(a.name.spec);
      case 'input':
      case 'output':
      case 'grad':
      case 'param_grad':
      case 'output_tangent':
        throw new Error(`julia emitter: op ${op.name.spec}: the HVP kernel takes no ${a.role} argument (${a.name.spec})`);
      default:
        return assertNever(a, 'argument role');
    }
  });
  const results = [...op.hvps.map((h) => local(h.name.spec)), ...op.paramHvps.map((h) => `sum(${local(h.name.spec)})`)];
  const alongArgs = [
    n.pullbackHvp,
    juliaString(op.name.spec),
    juliaString(cotangent.of.name.spec),
    tupleOf(op.tangents.map((t) => juliaString(t.name.spec))),
    tupleOf(op.tangents.map((t) => juliaString(t.of.name.spec))),
    TAPE,
    juliaName(cotangent.name),
    tupleOf(tangents),
  ];
  return code`
    ${docstring(pullbackHvpDoc(op))}
    ${call(`function ${n.pullbackHvp}`, [`${TAPE}::${n.tape}{T,N}`, ...cotangents, ...tangents], [...keywords, DIMS_KEYWORD], ' where {T,N}')}
        ${P}check_tape_dims(${juliaString(n.pullbackHvp)}, 1, dims)
        ${convertCotangents(op)}
        ${convertTangents(op)}
        ${allocations}
        ${packed(`${n.kernel('hvp')}(`, hvpArgs, ')', 4, 4)}
        return ${results.length === 1 ? `(${results[0]},)` : results.join(', ')}
    end
    ${call(`function ${n.pullbackHvp}`, [`${TAPE}::AxisTape{<:${n.tape}}`, ...cotangents, ...tangents], [...keywords, `dims = ${TAPE}.dims`])}
        ${P}check_tape_dims(${juliaString(n.pullbackHvp)}, ${TAPE}.dims, dims)
        ${packedCall(`return ${P}hvp_along`, alongArgs, pass, '', 4, 4)}
    end
  `;
}

/** `<op>_hvp(inputs…, cotangents…, tangents…; params…, tangent_<param> = 0.0, dims = 1)`: the forward, then the pullback's HVP. */
function renderHvp(op: OpIR): string {
  const n = opNames(op);
  const cotangents = op.cotangents.map((c) => juliaName(c.name));
  const tangents = op.tangents.map((t) => juliaName(t.name));
  const paramTangents = op.paramTangents.map((t) => juliaName(t.name));
  const forward = packedCall(`${P}tape = last(${n.forward}`, requiredInputs(op).map((x) => juliaName(x.name)), [...passKeywords(op), PASS_DIMS], ')', 4, 4);
  const hvp = packedCall(`return ${n.pullbackHvp}`, [P + 'tape', ...cotangents, ...tangents], paramTangents.map((t) => `${t} = ${t}`), '', 4, 4);
  return code`
    ${docstring(hvpDoc(op))}
    ${call(
      `function ${n.hvp}`,
      [...requiredInputs(op).map((x) => typedInput(x)), ...cotangents, ...tangents],
      [...callKeywords(op), ...paramTangents.map(paramTangentKeyword), DIMS_KEYWORD],
    )}
        ${forward}
        ${hvp}
    end
  `;
}

/**
 * The op's function and its forward for any other arguments (the methods above take arrays of reals,
 * and of integers for int32 inputs): an input that is not one gets the message of the spec's table,
 * naming it; anything else is the MethodError Julia would give. The int32 inputs are named last.
 */
function renderRefusals(op: OpIR): string {
  const n = opNames(op);
  const required = requiredInputs(op).map((x) => juliaName(x.name));
  const names = tupleOf(requiredInputs(op).map((x) => juliaString(x.name.spec)));
  const ints = intInputs(op).map((x) => juliaString(x.name.spec));
  const rest = [juliaString(op.name.spec), names, tupleOf(required), ...(ints.length > 0 ? [tupleOf(ints)] : [])];
  const what = ints.length > 0 ? 'an array of reals (of integers for an int32 input)' : 'an array of reals';
  return code`
    ${comment(`Other arguments: an input that is not ${what} is named in the error; anything else is a MethodError.`)}
    ${[n.fn, n.forward].flatMap((f) => [`${f}(${required.join(', ')}; ${P}keywords...) =`, packed(`    ${P}refuse(`, [f, ...rest], ')', 8)])}
  `;
}

/**
 * For an op with int32 inputs, the positional form, the `!` form, the JVP and the HVP for any other
 * arguments too: an array of floats is an array of reals, so ids given as floats are a likely mistake
 * that the methods above do not match; it gets the message of the spec's table, naming the input,
 * rather than a MethodError.
 */
function renderIntRefusals(op: OpIR): string[] {
  const ints = intInputs(op).map((x) => juliaString(x.name.spec));
  if (ints.length === 0) return [];
  const n = opNames(op);
  const required = requiredInputs(op).map((x) => juliaName(x.name));
  const names = tupleOf(requiredInputs(op).map((x) => juliaString(x.name.spec)));
  const cotangents = op.cotangents.map((c) => juliaName(c.name));
  const tangents = op.tangents.map((t) => juliaName(t.name));
  const grads = op.paramGrads.map((g) => juliaName(g.of.name));
  const forms = [
    ...(grads.length === 0 ? [] : [{ f: n.fn, args: [...required, ...grads] }]),
    { f: n.forwardInto, args: [TAPE, ...required] },
    ...(op.jvp === null ? [] : [{ f: n.jvp, args: [...required, ...tangents] }]),
    ...(op.hvp === null ? [] : [{ f: n.hvp, args: [...required, ...cotangents, ...tangents] }]),
  ];
  return [
    code`
      ${comment('The same for the other forms that take the inputs: an int32 input given as floats (or as anything but integers) is named.')}
      ${forms.flatMap(({ f, args }) => [
        `${f}(${args.join(', ')}; ${P}keywords...) =`,
        packed(`    ${P}refuse(`, [f, juliaString(op.name.spec), names, tupleOf(required), tupleOf(ints), tupleOf(args)], ')', 8),
      ])}
    `,
    '',
  ];
}

export function renderApi(op: OpIR): string[] {
  return [
    renderTape(op),
    '',
    renderRun(op),
    '',
    renderForward(op),
    '',
    renderForwardInto(op),
    '',
    renderPublic(op),
    '',
    renderRefusals(op),
    '',
    renderPullback(op),
    '',
    renderPullbackInto(op),
    '',
    ...(op.jvp === null ? [] : [renderPushforward(op, op.jvp), '', renderJvp(op), '']),
    ...(op.hvp === null ? [] : [renderPullbackHvp(op, op.hvp), '', renderHvp(op), '']),
    ...renderIntRefusals(op),
  ];
}
