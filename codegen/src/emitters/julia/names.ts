// Julia spellings that the Julia target owns: the public names RankRelax.jl exports for an op (the
// emitter defines them, the describe hook shows them).
import { escapeWith, realText } from '../../ir/names.ts';
import type { DimIR, Ident, OpIR, TypeId } from '../../ir/types.ts';
import { assertNever } from '../../util/never.ts';

const JULIA_RESERVED = new Set([
  'baremodule', 'begin', 'break', 'catch', 'const', 'continue', 'do', 'else', 'elseif', 'end', 'export', 'false',
  'finally', 'for', 'function', 'global', 'if', 'import', 'let', 'local', 'macro', 'module', 'quote', 'return',
  'struct', 'true', 'try', 'using', 'while', 'abstract', 'mutable', 'primitive', 'type', 'where', 'in', 'isa',
  'outer', 'public',
]);


/** A spec identifier as a Julia identifier (keywords get a trailing `_`): `end_`. */
export function juliaIdent(spec: string): string {
  return escapeWith(spec, JULIA_RESERVED);
}

/** An identifier of the IR as a Julia identifier. */
export function juliaName(name: Ident): string {
  return juliaIdent(name.spec);
}

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
  /** `soft_rank_jvp`: the forward-mode derivative (Jacobian-vector product) at the op's inputs. */
  readonly jvp: string;
  /** `soft_rank_pushforward`: the plain JVP from a tape (the forward-mode counterpart of the pullback). */
  readonly pushforward: string;
  /** `soft_rank_hvp`: the second-order derivative (the derivative of the pullback) at the op's inputs. */
  readonly hvp: string;
  /** `soft_rank_pullback_hvp`: the same from a tape (what the second-order ChainRulesCore rule calls). */
  readonly pullbackHvp: string;
}

export function juliaApi(op: OpIR): JuliaApi {
  const { snake, pascal } = op.name;
  return {
    fn: juliaName(op.name),
    forward: `${snake}_forward`,
    pullback: `${snake}_pullback`,
    forwardInto: `${snake}_forward!`,
    pullbackInto: `${snake}_pullback!`,
    tape: `${pascal}Tape`,
    jvp: `${snake}_jvp`,
    pushforward: `${snake}_pushforward`,
    hvp: `${snake}_hvp`,
    pullbackHvp: `${snake}_pullback_hvp`,
  };
}

/** A dim's value in Julia: `n`, `k`, `length(quantiles)`. */
export function juliaDim(dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
    case 'n':
      return dim.name.spec;
    case 'param':
      return juliaIdent(dim.param);
    case 'length':
      return `length(${juliaIdent(dim.param)})`;
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** The Julia (ccall-level) type of each scalar type: `Float64`, `Csize_t`, `Cstring`. */
const JULIA_TYPES: Readonly<Record<TypeId, string>> = {
  f32: 'Float32', f64: 'Float64', i32: 'Int32', i64: 'Int64', u32: 'UInt32', u64: 'UInt64', bool: 'Bool', size: 'Csize_t', cstr: 'Cstring',
};

export function juliaType(t: { readonly id: TypeId }): string {
  return JULIA_TYPES[t.id];
}

/** A float as a Julia literal: `1.0`, `1e-3`. */
export function juliaReal(x: number): string {
  return realText(x);
}
