// C spellings shared by the header, the test table and the API docs.
import type { IntBoundIR, OpIR, ParamIR, VariantArgIR, VariantKernelIR } from '../../ir/types.ts';
import { matchParam } from '../../ir/match.ts';
import { assertNever } from '../../util/never.ts';
import { cDefault, cEnumConstant, cListLength, cName, cReal, cType } from './names.ts';

export const INCLUDE_DIR = 'crates/rank-relax-ffi/include';
export const RUST_DIR = 'crates/rank-relax-ffi/src/generated';
export const TEST_DIR = 'crates/rank-relax-ffi/tests/c/generated';

/**
 * The C declarations of one argument: `const double *values`, `int32_t regularization`,
 * `int64_t k`, `size_t n`; a list param is two, `const double *quantiles, size_t quantiles_len`.
 */
export function cArgs(arg: VariantArgIR): string[] {
  switch (arg.kind) {
    case 'buffer':
      return [`${arg.mutable ? '' : 'const '}${cType(arg.type)} *${cName(arg.name)}`];
    case 'dim':
    case 'scalar':
      return [`${cType(arg.type)} ${cName(arg.name)}`];
    case 'param': {
      const plain = () => [`${cType(arg.type)} ${cName(arg.name)}`];
      return matchParam(arg.param, {
        real: plain,
        enum: plain,
        bool: plain,
        int: plain,
        list: (p) => [`const ${cType(arg.type)} *${cName(arg.name)}`, `size_t ${cListLength(p.name.spec)}`],
      });
    }
    default:
      return assertNever(arg, 'argument kind');
  }
}

/** The declaration, one argument per line. */
export function cPrototype(kernel: VariantKernelIR): string {
  const args = kernel.args.flatMap(cArgs);
  return [`int32_t ${kernel.cSymbol}(`, ...args.map((a, i) => `    ${a}${i + 1 < args.length ? ',' : ');'}`)].join('\n');
}

function boundText(b: IntBoundIR): string {
  switch (b.kind) {
    case 'value':
      return String(b.value);
    case 'dim':
      return b.dim;
    default:
      return assertNever(b, 'int bound');
  }
}

/** `in [0, n]`, `at least 0`, `at most 1`, or null when unbounded. */
function rangeText(min: string | null, max: string | null): string | null {
  if (min !== null && max !== null) return `in [${min}, ${max}]`;
  if (min !== null) return `at least ${min}`;
  if (max !== null) return `at most ${max}`;
  return null;
}

/** What a `@param` line says about a param beyond its doc: accepted values and the default. */
export function paramNote(param: ParamIR): string {
  switch (param.type) {
    case 'real':
      return `Default ${cDefault(param)}.`;
    case 'enum':
      return `One of ${param.values.map((v) => cEnumConstant(param.enum, v)).join(', ')}; default ${cEnumConstant(param.enum, param.default)}.`;
    case 'bool':
      return `Default ${cDefault(param)}.`;
    case 'int': {
      const range = rangeText(param.min === null ? null : boundText(param.min), param.max === null ? null : boundText(param.max));
      return range === null ? `Default ${cDefault(param)}.` : `An integer ${range}; default ${cDefault(param)}.`;
    }
    case 'list': {
      const range = rangeText(param.min === null ? null : cReal(param.min), param.max === null ? null : cReal(param.max));
      const each = `each finite${range === null ? '' : ` and ${range}`}`;
      return `${cListLength(param.name.spec)} values (at least ${param.minLength}), ${each}; default ${cDefault(param)}.`;
    }
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
