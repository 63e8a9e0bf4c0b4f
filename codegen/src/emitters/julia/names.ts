// Julia spellings that the Julia target owns: the public names RankRelax.jl exports for an op (the
// emitter defines them, the describe hook shows them).
import { ident, realText } from '../../ir/names.ts';
import type { DimIR, OpIR, TypeId } from '../../ir/types.ts';
import { assertNever } from '../../util/never.ts';

/** An op's exports from RankRelax.jl. */
export interface JuliaApi {
  /** `soft_rank` */
  readonly fn: string;
  /** `soft_rank_forward`: the forward that also returns the tape. */
  readonly forward: string;
  /** `soft_rank_pullback`: the plain pullback function. */
  readonly pullback: string;
  /** `soft_rank_forward!`: the forward into the buffers of an earlier tape. */
  readonly forwardInto: string;
  /** `soft_rank_pullback!`: the pullback into caller-provided gradient arrays. */
  readonly pullbackInto: string;
  /** `SoftRankTape`: what the forward keeps for the pullback. */
  readonly tape: string;
}

export function juliaApi(op: OpIR): JuliaApi {
  const { julia, snake, pascal } = op.name;
  return {
    fn: julia,
    forward: `${snake}_forward`,
    pullback: `${snake}_pullback`,
    forwardInto: `${snake}_forward!`,
    pullbackInto: `${snake}_pullback!`,
    tape: `${pascal}Tape`,
  };
}

/** A dim's value in Julia: `n`, `k`, `length(quantiles)`. */
export function juliaDim(dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
    case 'n':
      return dim.name.spec;
    case 'param':
      return ident(dim.param).julia;
    case 'length':
      return `length(${ident(dim.param).julia})`;
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** The Julia (ccall-level) type of each scalar type: `Float64`, `Csize_t`, `Cstring`. */
const JULIA_TYPES: Readonly<Record<TypeId, string>> = {
  f32: 'Float32', f64: 'Float64', i32: 'Int32', u32: 'UInt32', u64: 'UInt64', bool: 'Bool', size: 'Csize_t', cstr: 'Cstring',
};

export function juliaType(t: { readonly id: TypeId }): string {
  return JULIA_TYPES[t.id];
}

/** A float as a Julia literal: `1.0`, `1e-3`. */
export function juliaReal(x: number): string {
  return realText(x);
}
