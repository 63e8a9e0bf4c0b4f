// ext/RankRelaxChainRulesCoreExt.jl: a ChainRulesCore `rrule` for every public method, each with a
// named pullback that calls the op's plain pullback function, and an `frule` that calls its plain
// pushforward function. A package extension (Julia ≥ 1.9
// loads it when ChainRulesCore is present), so RankRelax itself depends on stdlibs only.
import { code, file } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { IR, OpIR, ParamIR } from '../../ir/types.ts';
import { call, comment, DIMS_KEYWORD, PASS_DIMS, EXT_MODULE, forwardKeyword, keywordWithDefault, local, MODULE, opNames, P, packed, packedCall } from './syntax.ts';
import { juliaName } from './names.ts';

/** The names the extension uses from ChainRulesCore (the test stub provides exactly these). */
export const CHAINRULES_NAMES = ['AbstractZero', 'NoTangent', 'ZeroTangent', 'unthunk'] as const;

/**
 * One rrule. `positional` are the params taken positionally (those with a gradient, in the
 * positional form), whose tangents the pullback returns after the inputs'.
 */
function renderRule(op: OpIR, positional: readonly ParamIR[]): string {
  const n = opNames(op);
  const [output] = op.outputs;
  if (output === undefined) throw new Error(`julia emitter: op ${op.name.spec} has no output`);
  const keywords = op.params.filter((p) => !positional.includes(p));
  const signature = call(
    'function ChainRulesCore.rrule',
    [`::typeof(${MODULE}.${n.fn})`, ...op.inputs.map((x) => `${juliaName(x.name)}::AbstractArray{<:Real}`), ...positional.map((p) => `${juliaName(p.name)}::Real`)],
    [...keywords.map(keywordWithDefault), DIMS_KEYWORD],
  );
  const forward = packedCall(
    `${local(output.name.spec)}, ${P}tape = ${MODULE}.${n.forward}`,
    op.inputs.map((x) => juliaName(x.name)),
    [...op.params.map(forwardKeyword), PASS_DIMS],
    '',
    4,
    4,
  );
  // The plain pullback returns the gradients of the differentiable inputs, then of the params.
  const returned = [...op.grads.map((g) => g.name.spec), ...op.paramGrads.map((g) => g.name.spec)];
  const at = (name: string) => `${P}grads[${returned.indexOf(name) + 1}]`;
  const tangents = [
    'NoTangent()',
    ...op.inputs.map((x) => (x.differentiable ? at(`grad_${x.name.spec}`) : 'NoTangent()')),
    ...positional.map((p) => at(`grad_${p.name.spec}`)),
  ];
  const zeros = ['NoTangent()', ...op.inputs.map((x) => (x.differentiable ? 'ZeroTangent()' : 'NoTangent()')), ...positional.map(() => 'ZeroTangent()')];
  const cotangent = local(`cotangent_${output.name.spec}`);
  return code`
    ${signature}
        ${forward}
        function ${n.pullback}(${P}cotangent)
            ${cotangent} = unthunk(${P}cotangent)
            if ${cotangent} isa AbstractZero
                ${packed('return (', zeros, ')', 4, 12)}
            end
            ${P}grads = ${MODULE}.${n.pullback}(${P}tape, ${cotangent})
            ${packed('return (', tangents, ')', 4, 8)}
        end
        return ${local(output.name.spec)}, ${n.pullback}
    end
  `;
}

/** The extension's helpers that stand in for a zero tangent: zeros of an input's size, 0 for ε. */
const ZEROS = `${P}zeros_if_zero`;
const ZERO = `${P}zero_if_zero`;

/** The name of a tangent argument of an frule: `Δvalues`. */
function delta(name: string): string {
  return `Δ${name}`;
}

/**
 * One frule, for the same methods as the rrules: the forward, then the op's plain `_pushforward` on
 * its tape with the unthunked tangents (a zero tangent of an input as zeros, of ε as 0). Tangents of
 * non-differentiable inputs and of keyword arguments are ignored; all zero gives ZeroTangent().
 */
function renderFrule(op: OpIR, positional: readonly ParamIR[]): string {
  const n = opNames(op);
  const [output] = op.outputs;
  if (output === undefined) throw new Error(`julia emitter: op ${op.name.spec} has no output`);
  const keywords = op.params.filter((p) => !positional.includes(p));
  const differentiable = new Set(op.tangents.map((t) => t.of.name.spec));
  const slots = [
    '_',
    ...op.inputs.map((x) => (differentiable.has(x.name.spec) ? delta(juliaName(x.name)) : '_')),
    ...positional.map((p) => delta(juliaName(p.name))),
  ];
  const signature = call(
    'function ChainRulesCore.frule',
    [
      `(${slots.join(', ')})::Tuple`,
      `::typeof(${MODULE}.${n.fn})`,
      ...op.inputs.map((x) => `${juliaName(x.name)}::AbstractArray{<:Real}`),
      ...positional.map((p) => `${juliaName(p.name)}::Real`),
    ],
    [...keywords.map(keywordWithDefault), DIMS_KEYWORD],
  );
  const forward = packedCall(
    `${local(output.name.spec)}, ${P}tape = ${MODULE}.${n.forward}`,
    op.inputs.map((x) => juliaName(x.name)),
    [...op.params.map(forwardKeyword), PASS_DIMS],
    '',
    4,
    4,
  );
  // The pushforward's tangents: one per differentiable input (zeros for a zero tangent), then the
  // tangent of each positional param (0 for a zero one; keyword params have none).
  const inputs = op.tangents.map((t) => ({ local: local(t.name.spec), given: delta(juliaName(t.of.name)), zero: ZEROS, of: juliaName(t.of.name) }));
  const scalars = op.paramTangents
    .filter((t) => positional.some((p) => p.name.spec === t.of.name.spec))
    .map((t) => ({ local: local(t.name.spec), given: delta(juliaName(t.of.name)), zero: ZERO, of: '', keyword: juliaName(t.name) }));
  const every = [...inputs, ...scalars];
  const zeroed = (t: { local: string; zero: string; of: string }) => `${t.zero}(${t.local}${t.zero === ZEROS ? `, ${t.of}` : ''})`;
  const push = packedCall(
    `return ${local(output.name.spec)}, ${MODULE}.${n.pushforward}`,
    [`${P}tape`, ...inputs.map(zeroed)],
    scalars.map((t) => `${t.keyword} = ${zeroed(t)}`),
    '',
    4,
    4,
  );
  const allZero = packed(`if all(${P}t -> ${P}t isa AbstractZero, (`, every.map((t) => t.local), every.length === 1 ? ',))' : '))', 8, 4);
  return code`
    ${signature}
        ${forward}
        ${every.map((t) => `${t.local} = unthunk(${t.given})`)}
        ${allZero}
            return ${local(output.name.spec)}, ZeroTangent()
        end
        ${push}
    end
  `;
}

function renderOp(op: OpIR): string[] {
  const rules = [renderRule(op, [])];
  if (op.paramGrads.length > 0) rules.push(renderRule(op, op.paramGrads.map((g) => g.of)));
  if (op.jvp !== null) {
    rules.push(renderFrule(op, []));
    if (op.paramGrads.length > 0) rules.push(renderFrule(op, op.paramGrads.map((g) => g.of)));
  }
  return [`# ${op.name.spec}`, '', ...rules.flatMap((r) => [r, ''])];
}

export function renderExtension(ir: IR): string {
  return file(
    banner(ir, 'hash'),
    code`
      #
      ${comment(
        `ChainRulesCore rules for ${MODULE}: a package extension, loaded by Julia ≥ 1.9 when ChainRulesCore is in ` +
          'the environment (Julia 1.5 to 1.8 never load it). Each rrule runs the op\'s `_forward` and returns a named ' +
          'pullback that calls the op\'s plain `_pullback` function; the function itself and non-differentiable ' +
          'arguments get NoTangent(). Keyword arguments get no tangent; the positional form of a param with a ' +
          'gradient (ε) gets one. Each frule runs the `_forward` and the op\'s plain `_pushforward` on its tape, ' +
          'for the same methods: the tangents of non-differentiable arguments and of keywords are ignored.',
      )}
      module ${EXT_MODULE}

      using ${MODULE}: ${MODULE}
      using ChainRulesCore: ChainRulesCore, ${CHAINRULES_NAMES.join(', ')}

      ${comment('A zero tangent (ZeroTangent, NoTangent) of an input as zeros of its size, of ε as 0, for the pushforward.')}
      ${ZEROS}(t, x::AbstractArray) = t isa AbstractZero ? zeros(size(x)) : t
      ${ZERO}(t) = t isa AbstractZero ? 0.0 : t
    `,
    '',
    ...ir.ops.flatMap(renderOp),
    `end # module ${EXT_MODULE}`,
  );
}
