// The ccall layer: `_rr_<op>_<pass>!(args…)`, one method per dtype, taking the C ABI's arguments in
// its order (dims as Int, params as their C types, buffers as Arrays, passed without a copy) and
// turning a failed status into an exception.
import { juliaName, juliaType } from './names.ts';
import { code } from '../../emit/code.ts';
import type { OpIR, VariantArgIR, VariantKernelIR } from '../../ir/types.ts';
import { opNames, P, packed, PC } from './syntax.ts';

/** The Julia type of a wrapper argument. */
function juliaParamType(arg: VariantArgIR): string {
  switch (arg.kind) {
    case 'dim':
      return 'Int';
    case 'param':
      return juliaType(arg.type);
    case 'buffer':
      return `Array{${juliaType(arg.type)}}`;
  }
}

/** The ccall argument type. */
function ccallType(arg: VariantArgIR): string {
  return arg.kind === 'buffer' ? `Ptr{${juliaType(arg.type)}}` : juliaType(arg.type);
}

function renderKernel(name: string, kernel: VariantKernelIR): string {
  const signature = packed(`function ${name}(`, kernel.args.map((a) => `${juliaName(a.name)}::${juliaParamType(a)}`), ')', 8);
  const types = packed('(', kernel.args.map(ccallType), kernel.args.length === 1 ? ',),' : '),', 1, 8);
  const args = packed('', kernel.args.map((a) => juliaName(a.name)), ')', 0, 8);
  return code`
    ${signature}
        ${P}status = ccall(${PC}KERNEL_FNS.${kernel.cSymbol}[], Int32,
            ${types}
            ${args}
        ${P}status == Int32(0) || ${P}throw(${P}status)
        return nothing
    end
  `;
}

export function renderKernels(op: OpIR): string[] {
  const names = opNames(op);
  return op.variants.flatMap((v) => [renderKernel(names.kernel('forward'), v.forward), '', renderKernel(names.kernel('backward'), v.backward), '']);
}
