// The public API of one op: the function (keyword form, and a positional form for params with a
// gradient), `<op>_forward` returning the output and a tape, the tape struct, `<op>_pullback`.
// Array handling (`_rr_dense`, `_rr_rows`, …) is hand-written in src/RankRelax.jl.
import { code, join } from '../../emit/code.ts';
import type { ArgIR, OpIR, ParamIR, TensorIR } from '../../ir/types.ts';
import { forwardDoc, publicDoc, pullbackDoc, tapeDoc } from './docs.ts';
import { call, docstring, forwardKeyword, juliaString, keywordWithDefault, local, opNames, P, packed, packedCall } from './syntax.ts';

const TAPE = 'tape';

/** Converts a param to what the ccall wrapper takes. */
function convertParam(op: OpIR, param: ParamIR): string {
  const name = param.name.julia;
  switch (param.type) {
    case 'real':
      return `${local(param.name.spec)} = convert(${P}T, ${name})`;
    case 'bool':
      return `${local(param.name.spec)} = Bool(${name})`;
    case 'enum':
      return `${local(param.name.spec)} = ${P}code_${param.enum.name.snake}(${juliaString(op.name.spec)}, ${juliaString(param.name.spec)}, ${name})`;
  }
}

/** A new output buffer: the input's shape, or one value per row. */
function allocateOutput(t: TensorIR, first: string): string {
  return `${local(t.name.spec)} = ${t.shape.perRow ? `Vector{${P}T}(undef, ${P}batch)` : `similar(${first})`}`;
}

/** A new residual buffer: flat, row-major as the core writes it. */
function allocateResidual(t: TensorIR): string {
  const elem = t.elem === 'int32' ? 'Int32' : `${P}T`;
  return `${local(t.name.spec)} = Vector{${elem}}(undef, ${t.shape.perRow ? `${P}batch` : `${P}batch * ${P}n`})`;
}

/** The type of a tape field: inputs and [batch, n] outputs keep their array; the rest are flat. */
function fieldType(t: TensorIR, source: 'input' | 'output' | 'residual'): string {
  const elem = t.elem === 'int32' ? 'Int32' : 'T';
  return source !== 'residual' && !t.shape.perRow ? `Array{${elem},N}` : `Vector{${elem}}`;
}

function renderTape(op: OpIR): string {
  const n = opNames(op);
  const fields = [
    `${P}size::NTuple{N,Int}`,
    `${P}batch::Int`,
    `${P}n::Int`,
    ...op.params.map((p) => `${p.name.julia}::${p.type === 'real' ? 'T' : p.type === 'enum' ? 'Int32' : 'Bool'}`),
    ...op.saves.map((s) => `${s.name.julia}::${fieldType(s.tensor, s.source)}`),
    ...op.residuals.map((r) => `${r.name.julia}::${fieldType(r, 'residual')}`),
  ];
  return code`
    ${docstring(tapeDoc(op))}
    struct ${n.tape}{T<:Union{Float32,Float64},N}
        ${fields}
    end
  `;
}

/** Arguments of a kernel call, from the generic kernel's argument list. */
function kernelArgs(args: readonly ArgIR[], source: (arg: ArgIR) => string): string[] {
  return args.map(source);
}

function renderForward(op: OpIR): string {
  const n = opNames(op);
  const [first, ...rest] = op.inputs;
  const [output] = op.outputs;
  if (first === undefined || output === undefined) throw new Error(`julia emitter: op ${op.name.spec} needs an input and an output`);
  const firstLocal = local(first.name.spec);
  const signature = call(
    `function ${n.forward}`,
    op.inputs.map((x) => `${x.name.julia}::AbstractVecOrMat{<:Real}`),
    op.params.map(keywordWithDefault),
  );
  const forwardArgs = kernelArgs(op.forward.args, (a) => {
    if (a.kind === 'dim') return `${P}${a.dim}`;
    return local(a.name.spec);
  });
  const tapeArgs = [
    `size(${firstLocal})`,
    `${P}batch`,
    `${P}n`,
    ...op.params.map((p) => local(p.name.spec)),
    ...op.saves.map((s) => local(s.name.spec)),
    ...op.residuals.map((r) => local(r.name.spec)),
  ];
  const result = output.shape.perRow ? `${P}per_row(${local(output.name.spec)}, ${firstLocal})` : local(output.name.spec);
  return code`
    ${docstring(forwardDoc(op))}
    ${signature}
        ${P}T = ${P}float_type(${join(op.inputs.map((x) => x.name.julia), ', ')})
        ${op.inputs.map((x) => `${local(x.name.spec)} = ${P}dense(${P}T, ${x.name.julia})`)}
        ${rest.map((x) => packed(`${P}check_same_size(`, [juliaString(op.name.spec), juliaString(first.name.spec), firstLocal, juliaString(x.name.spec), local(x.name.spec)], ')', 4, 4))}
        ${P}batch, ${P}n = ${P}rows(${firstLocal})
        ${op.params.map((p) => convertParam(op, p))}
        ${op.outputs.map((t) => allocateOutput(t, firstLocal))}
        ${op.residuals.map(allocateResidual)}
        ${packed(`${n.kernel('forward')}(`, forwardArgs, ')', 4, 4)}
        ${packed(`${P}tape = ${n.tape}{${P}T,ndims(${firstLocal})}(`, tapeArgs, ')', 4, 4)}
        return ${result}, ${P}tape
    end
  `;
}

function renderPublic(op: OpIR): string {
  const n = opNames(op);
  const inputs = op.inputs.map((x) => `${x.name.julia}::AbstractVecOrMat{<:Real}`);
  const keywords = op.params.map(keywordWithDefault);
  const pass = op.params.map(forwardKeyword);
  const body = packedCall(`return first(${n.forward}`, op.inputs.map((x) => x.name.julia), pass, ')', 4, 4);
  const grads = op.paramGrads.map((g) => g.of);
  const positional =
    grads.length === 0
      ? ''
      : code`

          ${call(
            `function ${n.fn}`,
            [...inputs, ...grads.map((p) => `${p.name.julia}::Real`)],
            op.params.filter((p) => !grads.includes(p as never)).map(keywordWithDefault),
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
  const [first] = op.inputs;
  if (first === undefined) throw new Error(`julia emitter: op ${op.name.spec} has no input`);
  const cotangents = op.cotangents.map((c) => {
    const helper = c.of.shape.perRow ? `${P}cotangent_rows` : `${P}cotangent`;
    return packed(`${local(c.name.spec)} = ${helper}(`, ['T', juliaString(op.name.spec), juliaString(c.of.name.spec), c.name.julia, `${TAPE}.${P}size`], ')', 4, 4);
  });
  const grads = op.grads.map((g) => `${local(g.name.spec)} = Array{T,N}(undef, ${TAPE}.${P}size)`);
  const paramGrads = op.paramGrads.map((g) => `${local(g.name.spec)} = Vector{T}(undef, ${TAPE}.${P}batch)`);
  const backwardArgs = kernelArgs(op.backward.args, (a) => {
    switch (a.role) {
      case 'dim':
        return `${TAPE}.${P}${a.name.spec}`;
      case 'param':
      case 'save':
      case 'residual':
        return `${TAPE}.${a.name.julia}`;
      default:
        return local(a.name.spec);
    }
  });
  const results = [...op.grads.map((g) => local(g.name.spec)), ...op.paramGrads.map((g) => `sum(${local(g.name.spec)})`)];
  return code`
    ${docstring(pullbackDoc(op))}
    ${call(`function ${n.pullback}`, [`${TAPE}::${n.tape}{T,N}`, ...op.cotangents.map((c) => c.name.julia)], [], ' where {T,N}')}
        ${cotangents}
        ${grads}
        ${paramGrads}
        ${packed(`${n.kernel('backward')}(`, backwardArgs, ')', 4, 4)}
        return ${results.length === 1 ? `(${results[0]},)` : results.join(', ')}
    end
  `;
}

export function renderApi(op: OpIR): string[] {
  return [renderForward(op), '', renderTape(op), '', renderPublic(op), '', renderPullback(op), ''];
}
