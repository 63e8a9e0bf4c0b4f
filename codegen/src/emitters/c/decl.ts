// C spellings shared by the header and the test table.
import type { OpIR, ParamIR, VariantArgIR, VariantKernelIR } from '../../ir/types.ts';
import { unsupported } from '../../emit/capabilities.ts';
import { assertNever } from '../../util/never.ts';
import { cDefault, cEnumConstant, cName, cType } from './names.ts';

export const INCLUDE_DIR = 'crates/rank-relax-ffi/include';
export const RUST_DIR = 'crates/rank-relax-ffi/src/generated';
export const TEST_DIR = 'crates/rank-relax-ffi/tests/c/generated';

/** `const double *values`, `int32_t regularization`, `size_t n` */
export function cArg(arg: VariantArgIR): string {
  if (arg.kind === 'buffer') return `${arg.mutable ? '' : 'const '}${cType(arg.type)} *${cName(arg.name)}`;
  return `${cType(arg.type)} ${cName(arg.name)}`;
}

/** The declaration, one argument per line. */
export function cPrototype(kernel: VariantKernelIR): string {
  const args = kernel.args.map((a, i) => `    ${cArg(a)}${i + 1 < kernel.args.length ? ',' : ');'}`);
  return [`int32_t ${kernel.cSymbol}(`, ...args].join('\n');
}

/** What a `@param` line says about a param beyond its doc: accepted values and the default. */
export function paramNote(param: ParamIR): string {
  switch (param.type) {
    case 'real':
      return `Default ${cDefault(param)}.`;
    case 'enum':
      return `One of ${param.enum.values.map((v) => cEnumConstant(param.enum, v)).join(', ')}; default ${cEnumConstant(param.enum, param.default)}.`;
    case 'bool':
      return `Default ${cDefault(param)}.`;
    case 'int':
    case 'list':
      return unsupported('c', `${param.type} params`);
    default:
      return assertNever(param, 'param type');
  }
}

/** Doxygen direction of an argument. */
export function direction(arg: VariantArgIR): '[in]' | '[out]' {
  return arg.kind === 'buffer' && arg.mutable ? '[out]' : '[in]';
}

export function findVariant(op: OpIR, dtype: 'f32' | 'f64') {
  const v = op.variants.find((x) => x.dtype.id === dtype);
  if (v === undefined) throw new Error(`op ${op.name.spec} has no ${dtype} variant`);
  return v;
}
