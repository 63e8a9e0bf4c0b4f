// ext/RankRelaxChainRulesCoreExt.jl: a ChainRulesCore `rrule` for every public method, each with a
// named pullback that calls the op's plain pullback function, and an `frule` that calls its plain
// pushforward function. A package extension (Julia ≥ 1.9
// loads it when ChainRulesCore is present), so RankRelax itself depends on stdlibs only.
import { code, file } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { IR, OpIR, ParamIR } from '../../ir/types.ts';
import {
  call,
  comment,
  DIMS_KEYWORD,
  PASS_DIMS,
  EXT_MODULE,
  forwardKeyword,
  keywordWithDefault,
  local,
  MODULE,
  opNames,
  optionalInputs,
  optionalKeyword,
  P,
  packed,
  packedCall,
  passKeyword,
  requiredInputs,
  typedInput,
} from './syntax.ts';
import { juliaName } from './names.ts';

/** The keywords of a rule: the params it does not take positionally, then the optional inputs (no tangent). */
function ruleKeywords(op: OpIR, positional: readonly ParamIR[]): string[] {
  return [...op.params.filter((p) => !positional.includes(p)).map(keywordWithDefault), ...optionalInputs(op).map(optionalKeyword), DIMS_KEYWORD];
}

/** The op's `_forward` on a rule's arguments. */
function forwardCall(op: OpIR, output: string): string {
  return packedCall(
    `${output}, ${P}tape = ${MODULE}.${opNames(op).forward}`,
    requiredInputs(op).map((x) => juliaName(x.name)),
    [...op.params.map(forwardKeyword), ...optionalInputs(op).map((x) => passKeyword(x.name)), PASS_DIMS],
    '',
    4,
    4,
  );
}

/** The names the extension uses from ChainRulesCore (the test stub provides exactly these). */
export const CHAINRULES_NAMES = ['AbstractZero', 'NoTangent', 'Tangent', 'ZeroTangent', 'unthunk'] as const;

/** What a rule's forward returns: the one output (`_rr_ranks`), or the NamedTuple of several (`_rr_primal`). */
function primalName(op: OpIR): string {
  const [output] = op.outputs;
  if (output === undefined) throw new Error(`julia emitter: op ${op.name.spec} has no output`);
  return op.outputs.length === 1 ? local(output.name.spec) : `${P}primal`;
}

/** The one cotangent the rules pass on (the pullbacks along an axis take one). */
function theCotangent(op: OpIR) {
  const [cotangent, ...more] = op.cotangents;
  if (cotangent === undefined || more.length > 0) throw new Error(`julia emitter: op ${op.name.spec} needs one differentiable output`);
  return cotangent;
}

/**
 * One rrule. `positional` are the params taken positionally (those with a gradient, in the
 * positional form), whose tangents the pullback returns after the inputs'.
 */
function renderRule(op: OpIR, positional: readonly ParamIR[]): string {
  const n = opNames(op);
  const primal = primalName(op);
  const inputs = requiredInputs(op);
  const signature = call(
    'function ChainRulesCore.rrule',
    [`::typeof(${MODULE}.${n.fn})`, ...inputs.map((x) => typedInput(x)), ...positional.map((p) => `${juliaName(p.name)}::Real`)],
    ruleKeywords(op, positional),
  );
  const forward = forwardCall(op, primal);
  // The plain pullback returns the gradients of the differentiable inputs, then of the params.
  const returned = [...op.grads.map((g) => g.name.spec), ...op.paramGrads.map((g) => g.name.spec)];
  const at = (name: string) => `${P}grads[${returned.indexOf(name) + 1}]`;
  const tangents = [
    'NoTangent()',
    ...inputs.map((x) => (x.differentiable ? at(`grad_${x.name.spec}`) : 'NoTangent()')),
    ...positional.map((p) => at(`grad_${p.name.spec}`)),
  ];
  const zeros = ['NoTangent()', ...inputs.map((x) => (x.differentiable ? 'ZeroTangent()' : 'NoTangent()')), ...positional.map(() => 'ZeroTangent()')];
  const cotangent = local(theCotangent(op).name.spec);
  // With second order, the pullback goes through a function of the op's arguments that has its own rrule.
  const firstOrder = hasSecondOrder(op)
    ? packed(
        `${gradsFunction(op)}(`,
        [`${P}tape`, ...inputs.map((x) => juliaName(x.name)), ...op.paramGrads.map((g) => (positional.includes(g.of) ? juliaName(g.of.name) : 'nothing')), cotangent],
        ')',
        4,
        12,
      )
    : `${MODULE}.${n.pullback}(${P}tape, ${cotangent})`;
  // Several outputs: the cotangent of the NamedTuple, whose fields without a cotangent (item
  // positions) are ignored.
  const unpack =
    op.outputs.length === 1
      ? `${cotangent} = unthunk(${P}cotangent)`
      : `${cotangent} = ${P}field(unthunk(${P}cotangent), :${juliaName(theCotangent(op).of.name)})`;
  return code`
    ${signature}
        ${forward}
        function ${n.pullback}(${P}cotangent)
            ${unpack}
            if ${cotangent} isa AbstractZero
                ${packed('return (', zeros, ')', 4, 12)}
            end
            ${P}grads = ${firstOrder}
            ${packed('return (', tangents, ')', 4, 8)}
        end
        return ${primal}, ${n.pullback}
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
  const primal = primalName(op);
  const required = requiredInputs(op);
  const differentiable = new Set(op.tangents.map((t) => t.of.name.spec));
  const slots = [
    '_',
    ...required.map((x) => (differentiable.has(x.name.spec) ? delta(juliaName(x.name)) : '_')),
    ...positional.map((p) => delta(juliaName(p.name))),
  ];
  const signature = call(
    'function ChainRulesCore.frule',
    [
      `(${slots.join(', ')})::Tuple`,
      `::typeof(${MODULE}.${n.fn})`,
      ...required.map((x) => typedInput(x)),
      ...positional.map((p) => `${juliaName(p.name)}::Real`),
    ],
    ruleKeywords(op, positional),
  );
  const forward = forwardCall(op, primal);
  // The pushforward's tangents: one per differentiable input (zeros for a zero tangent), then the
  // tangent of each positional param (0 for a zero one; keyword params have none).
  const inputs = op.tangents.map((t) => ({ local: local(t.name.spec), given: delta(juliaName(t.of.name)), zero: ZEROS, of: juliaName(t.of.name) }));
  const scalars = op.paramTangents
    .filter((t) => positional.some((p) => p.name.spec === t.of.name.spec))
    .map((t) => ({ local: local(t.name.spec), given: delta(juliaName(t.of.name)), zero: ZERO, of: '', keyword: juliaName(t.name) }));
  const every = [...inputs, ...scalars];
  const zeroed = (t: { local: string; zero: string; of: string }) => `${t.zero}(${t.local}${t.zero === ZEROS ? `, ${t.of}` : ''})`;
  // Several outputs: a Tangent of the NamedTuple, NoTangent() for the outputs without a tangent.
  const several = op.outputs.length > 1;
  const pushed = `${P}d${primal.slice(P.length)}`;
  const push = packedCall(
    several ? `${pushed} = ${MODULE}.${n.pushforward}` : `return ${primal}, ${MODULE}.${n.pushforward}`,
    [`${P}tape`, ...inputs.map(zeroed)],
    scalars.map((t) => `${t.keyword} = ${zeroed(t)}`),
    '',
    4,
    4,
  );
  const fields = op.outputs.map((o) => {
    const k = op.outputTangents.findIndex((t) => t.of.name.spec === o.name.spec);
    const value = k < 0 ? 'NoTangent()' : op.outputTangents.length === 1 ? pushed : `${pushed}.${juliaName(o.name)}`;
    return `${juliaName(o.name)} = ${value}`;
  });
  const tangent = several ? packed(`return ${primal}, Tangent{typeof(${primal})}(; `, fields, ')', 4, 4) : '';
  const allZero = packed(`if all(${P}t -> ${P}t isa AbstractZero, (`, every.map((t) => t.local), every.length === 1 ? ',))' : '))', 8, 4);
  return code`
    ${signature}
        ${forward}
        ${every.map((t) => `${t.local} = unthunk(${t.given})`)}
        ${allZero}
            return ${primal}, ZeroTangent()
        end
        ${push}
        ${tangent}
    end
  `;
}

/** Whether the op's rrules get a differentiable pullback: it needs the JVP (for the cotangent) and the HVP. */
function hasSecondOrder(op: OpIR): boolean {
  return op.hvp !== null && op.jvp !== null;
}

/** `_rr_soft_rank_grads`: the pullback as a function of the op's arguments. */
function gradsFunction(op: OpIR): string {
  return `${P}${op.name.snake}_grads`;
}

/**
 * The pullback of the op's rrules as a plain function of the tape, the arguments the forward took (the
 * tape holds their values; passing them makes the dependence visible to an outer AD) and the cotangent,
 * with an rrule of its own: the derivative of the gradients is the JVP in the cotangent and the HVP in
 * the inputs and ε (the Hessian is symmetric, so the HVP along the cotangents of the gradients is the
 * VJP). A param slot is `nothing` in the keyword form, whose gradients have no tangent of ε.
 */
function renderSecondOrder(op: OpIR): string {
  const n = opNames(op);
  const fn = gradsFunction(op);
  const inputs = requiredInputs(op).map((x) => juliaName(x.name));
  const params = op.paramGrads.map((g) => juliaName(g.of.name));
  const cotangent = local(theCotangent(op).name.spec);
  const args = [`${P}tape`, ...inputs, ...params, cotangent];
  // The cotangents of the gradients, in the pullback's order: one per differentiable input (zeros for a
  // zero one: the kernels take arrays), then one per param with a gradient (0 for a zero one).
  const ndiff = op.grads.length;
  const parts = [
    ...op.tangents.map((t, k) => `${local(t.name.spec)} = ${ZEROS}(${P}Δs[${k + 1}], ${juliaName(t.of.name)})`),
    ...op.paramTangents.map((t, k) => `${local(t.name.spec)} = ${ZERO}(${P}Δs[${ndiff + k + 1}])`),
  ];
  const keywords = op.paramTangents.map((t) => `${juliaName(t.name)} = ${local(t.name.spec)}`);
  const tangents = op.tangents.map((t) => local(t.name.spec));
  const push = packedCall(`${P}d${cotangent.slice(P.length)} = ${MODULE}.${n.pushforward}`, [`${P}tape`, ...tangents], keywords, '', 4, 8);
  const hvp = packedCall(`${P}hvps = ${MODULE}.${n.pullbackHvp}`, [`${P}tape`, cotangent, ...tangents], keywords, '', 4, 8);
  const differentiable = new Set(op.grads.map((g) => g.of.name.spec));
  let k = 0;
  const returned = [
    'NoTangent()',
    'NoTangent()',
    ...requiredInputs(op).map((x) => (differentiable.has(x.name.spec) ? `${P}hvps[${++k}]` : 'NoTangent()')),
    ...params.map((p, i) => `${P}param_tangent(${p}, ${P}hvps[${ndiff + i + 1}])`),
    `${P}d${cotangent.slice(P.length)}`,
  ];
  const zeros = [
    'NoTangent()',
    'NoTangent()',
    ...requiredInputs(op).map((x) => (differentiable.has(x.name.spec) ? 'ZeroTangent()' : 'NoTangent()')),
    ...params.map((p) => `${P}param_tangent(${p}, ZeroTangent())`),
    'ZeroTangent()',
  ];
  const count = op.tangents.length + op.paramTangents.length;
  return code`
    ${comment(`The pullback of ${op.name.spec}'s rrules, differentiable: its arguments carry the dependence on the op's; the tape holds their values.`)}
    ${packed(`function ${fn}(`, args, ')', 4)}
        return ${MODULE}.${n.pullback}(${P}tape, ${cotangent})
    end
    ${packed(`function ChainRulesCore.rrule(::typeof(${fn}), `, args, ')', 4)}
        ${packed(`${P}grads = ${fn}(`, args, ')', 4, 8)}
        function ${n.pullback}_pullback(${P}Δ)
            ${P}Δs = ${P}parts(${P}Δ, ${count})
            if all(${P}t -> ${P}t isa AbstractZero, ${P}Δs)
                ${packed('return (', zeros, ')', 4, 16)}
            end
            ${parts}
            ${push}
            ${hvp}
            ${packed('return (', returned, ')', 4, 12)}
        end
        return ${P}grads, ${n.pullback}_pullback
    end
  `;
}

function renderOp(op: OpIR): string[] {
  const rules = [renderRule(op, [])];
  if (hasSecondOrder(op)) rules.unshift(renderSecondOrder(op));
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
          'arguments get NoTangent(). Keyword arguments (the optional inputs among them) get no tangent; the positional form of a param with a ' +
          'gradient (ε) gets one. Each frule runs the `_forward` and the op\'s plain `_pushforward` on its tape, ' +
          'for the same methods: the tangents of non-differentiable arguments and of keywords are ignored. Where the op has ' +
          'an HVP kernel, the pullback itself has an rrule (the JVP for the cotangent, the HVP for the inputs and ε), so ' +
          'nested reverse mode (a Hessian through the rrule) is exact.',
      )}
      module ${EXT_MODULE}

      using ${MODULE}: ${MODULE}
      using ChainRulesCore: ChainRulesCore, ${CHAINRULES_NAMES.join(', ')}

      ${comment('A zero tangent (ZeroTangent, NoTangent) of an input as zeros of its size, of ε as 0, for the pushforward.')}
      ${ZEROS}(t, x::AbstractArray) = t isa AbstractZero ? zeros(size(x)) : t
      ${ZERO}(t) = t isa AbstractZero ? 0.0 : t
      ${comment('The `count` parts of the cotangent of a tuple of gradients (a Tangent, a Tuple, or one zero for all of them), unthunked.')}
      ${P}parts(Δ, count::Int) = (d = unthunk(Δ); ntuple(k -> d isa AbstractZero ? d : unthunk(d[k]), count))
      ${comment('The tangent of a param slot of a pullback: none where the rule took the param as a keyword (`nothing`).')}
      ${P}param_tangent(p, t) = p === nothing ? NoTangent() : t
      ${comment('The field `name` of the cotangent of a NamedTuple of outputs (a Tangent or a NamedTuple), unthunked; a zero or a missing one (`nothing`) is ZeroTangent().')}
      function ${P}field(c, name::Symbol)
          c isa AbstractZero && return c
          f = hasproperty(c, name) ? unthunk(getproperty(c, name)) : nothing
          return f === nothing ? ZeroTangent() : f
      end
    `,
    '',
    ...ir.ops.flatMap(renderOp),
    `end # module ${EXT_MODULE}`,
  );
}
