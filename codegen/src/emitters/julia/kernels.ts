// The ccall layer: `_rr_<op>_<pass>!(args…)`, one method per dtype, taking the C ABI's arguments in
// its order (dims as Int, params as their C types, buffers as Arrays, passed without a copy) and
// turning a failed status into an exception.
import { juliaName, juliaType } from './names.ts';
import { code } from '../../emit/code.ts';
import type { OpIR, VariantArgIR, VariantKernelIR } from '../../ir/types.ts';
import { kernelsOf } from '../../ir/kernels.ts';
import { opNames, P, packed, PC } from './syntax.ts';

/** Whether the C ABI takes the argument as a pointer and a length (a list param). */
function isList(arg: VariantArgIR): boolean {
  return arg.kind === 'param' && arg.param.type === 'list';
}

/** The Julia type of a wrapper argument. */
function juliaParamType(arg: VariantArgIR): string {
  switch (arg.kind) {
    case 'dim':
      return 'Int';
    case 'scalar':
      return juliaType(arg.type);
    case 'param':
      return isList(arg) ? `Vector{${juliaType(arg.type)}}` : juliaType(arg.type);
    case 'buffer':
      // An optional buffer may be absent: `nothing`, passed as a null pointer.
      return arg.optional ? `Union{Array{${juliaType(arg.type)}},Nothing}` : `Array{${juliaType(arg.type)}}`;
  }
}

/** The ccall argument types of a wrapper argument (a list: the pointer, then its length). */
function ccallTypes(arg: VariantArgIR): string[] {
  if (isList(arg)) return [`Ptr{${juliaType(arg.type)}}`, 'Csize_t'];
  return [arg.kind === 'buffer' ? `Ptr{${juliaType(arg.type)}}` : juliaType(arg.type)];
}

/** The values ccall passes for a wrapper argument. */
function ccallArgs(arg: VariantArgIR): string[] {
  const name = juliaName(arg.name);
  if (isList(arg)) return [name, `length(${name})`];
  return [arg.kind === 'buffer' && arg.optional ? `something(${name}, C_NULL)` : name];
}

function renderKernel(name: string, kernel: VariantKernelIR): string {
  const signature = packed(`function ${name}(`, kernel.args.map((a) => `${juliaName(a.name)}::${juliaParamType(a)}`), ')', 8);
  const types = kernel.args.flatMap(ccallTypes);
  const typeTuple = packed('(', types, types.length === 1 ? ',),' : '),', 1, 8);
  const args = packed('', kernel.args.flatMap(ccallArgs), ')', 0, 8);
  return code`
    ${signature}
        ${P}status = ccall(${PC}KERNEL_FNS.${kernel.cSymbol}[], Int32,
            ${typeTuple}
            ${args}
        ${P}status == Int32(0) || ${P}throw(${P}status)
        return nothing
    end
  `;
}

export function renderKernels(op: OpIR): string[] {
  const names = opNames(op);
  return op.variants.flatMap((v) => kernelsOf(v).flatMap((k) => [renderKernel(names.kernel(k.pass), k), '']));
}
