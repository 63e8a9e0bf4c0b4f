// C spellings the C target owns, computed from the neutral IR.
import { ident } from '../../ir/names.ts';
import type { DimIR } from '../../ir/types.ts';
import { assertNever } from '../../util/never.ts';

/** A dim's value in C, where the kernel's arguments are in scope: `n`, `k`, `quantiles_len`. */
export function cDim(dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
    case 'n':
      return dim.name.spec;
    case 'param':
      return ident(dim.param).c;
    case 'length':
      return `${ident(dim.param).c}_len`;
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** The C name of a scalar type: the C ABI's own (ir/names.ts), which the ABI hash covers. */
export { cType } from '../../ir/names.ts';
