// Enum parsing (Symbol or string → the C code) and `_RR_OPS`, a table of every op's functions and
// argument names that the tests (and tools) iterate over instead of naming ops one by one.
import { code } from '../../emit/code.ts';
import type { EnumIR, EnumParamIR, EnumValueIR, IR, OpIR, ParamIR } from '../../ir/types.ts';
import { comment, intInputs, juliaString, juliaSymbol, opNames, optionalInputs, P, PC, requiredInputs } from './syntax.ts';
import { isPerRow, rowRank } from '../../ir/shape.ts';
import { juliaName } from './names.ts';

/** Whether an op takes only some of its enum param's values (then it has its own parser). */
function isSubset(param: EnumParamIR): boolean {
  return param.values.length < param.enum.values.length;
}

/** The function that parses an enum param of an op: its enum's, or the op's own for a subset. */
export function enumCodeFunction(op: OpIR, param: EnumParamIR): string {
  return isSubset(param) ? `${P}code_${op.name.snake}_${param.name.snake}` : `${P}code_${param.enum.name.snake}`;
}

function renderParser(fn: string, what: string, values: readonly EnumValueIR[]): string {
  const expected = values.map((v) => `"${v.name.spec}"`).join(', ');
  return code`
    ${comment(`${what} A Symbol or string → its code in the C ABI.`)}
    function ${fn}(op::String, argument::String, value)
        name = value isa Union{Symbol,AbstractString} ? String(value) : nothing
        ${values.map((v) => `name == ${juliaString(v.name.spec)} && return Int32(${v.code})`)}
        got = name === nothing ? repr(value) : repr(name)
        expected = ${juliaString(expected)}
        throw(ArgumentError(string(op, ": ", argument, " must be one of ", expected, ", got ", got)))
    end
  `;
}

export function renderEnum(e: EnumIR): string {
  return renderParser(`${P}code_${e.name.snake}`, `${e.name.spec}: ${e.doc}`, e.values);
}

/** The parsers of the enum params an op narrows to a subset of their values. */
export function renderEnumSubsets(op: OpIR): string[] {
  return op.params.flatMap((p: ParamIR) =>
    p.type === 'enum' && isSubset(p)
      ? [renderParser(enumCodeFunction(op, p), `${op.name.spec}'s ${p.name.spec}: the values of ${p.enum.name.spec} it takes.`, p.values), '']
      : [],
  );
}

function names(items: readonly string[]): string {
  return `(${items.map((x) => `:${x}`).join(', ')}${items.length === 1 ? ',' : ''})`;
}

function tupleText(items: readonly string[]): string {
  return `(${items.join(', ')}${items.length === 1 ? ',' : ''})`;
}

function opEntry(op: OpIR): string {
  const n = opNames(op);
  const [output] = op.outputs;
  const enums = op.params.flatMap((p) =>
    p.type === 'enum' ? [`${juliaName(p.name)} = (${p.values.map(juliaSymbol).join(', ')}${p.values.length === 1 ? ',' : ''}),`] : [],
  );
  return code`
    ${juliaName(op.name)} = (
        fn = ${n.fn},
        forward = ${n.forward},
        forward_into = ${n.forwardInto},
        pullback = ${n.pullback},
        pullback_into = ${n.pullbackInto},
        jvp = ${op.jvp === null ? 'nothing' : n.jvp},
        pushforward = ${op.jvp === null ? 'nothing' : n.pushforward},
        hvp = ${op.hvp === null ? 'nothing' : n.hvp},
        pullback_hvp = ${op.hvp === null ? 'nothing' : n.pullbackHvp},
        inputs = ${names(requiredInputs(op).map((x) => juliaName(x.name)))},
        optional = ${names(optionalInputs(op).map((x) => juliaName(x.name)))},
        int_inputs = ${names(intInputs(op).map((x) => juliaName(x.name)))},
        differentiable = ${names(op.grads.map((g) => juliaName(g.of.name)))},
        params = ${names(op.params.map((p) => juliaName(p.name)))},
        param_grads = ${names(op.paramGrads.map((g) => juliaName(g.of.name)))},
        enums = (
            ${enums}
        ),
        output = :${output === undefined ? '' : juliaName(output.name)},
        outputs = ${names(op.outputs.map((x) => juliaName(x.name)))},
        cotangents = ${names(op.cotangents.map((c) => juliaName(c.of.name)))},
        indexes = ${names(op.outputs.filter((x) => x.indexes).map((x) => juliaName(x.name)))},
        output_ranks = ${tupleText(op.outputs.map((x) => String(rowRank(x.shape))))},
        per_row = ${output !== undefined && isPerRow(output.shape) ? 'true' : 'false'},
        output_rank = ${output === undefined ? 0 : rowRank(output.shape)},
        min_n = ${op.minN},
    ),
  `;
}

export function renderOpsTable(ir: IR): string {
  return code`
    ${comment(
      'Every op: its functions (`nothing` for the JVP or HVP ones of an op without that kernel), its positional inputs (and which are differentiable, in the order the pullback returns ' +
        'their gradients), its optional inputs (keywords), its int32 inputs (arrays of integers: group ids), its params (those with a gradient, and the values of the enum ones), its first output (and ' +
        'the number of item or level dims of one sample of it), every output (those with a cotangent, those of item positions, the dims of each). ' +
        'The tests iterate over this table.',
    )}
    const ${PC}OPS = (
        ${ir.ops.map(opEntry)}
    )
  `;
}
