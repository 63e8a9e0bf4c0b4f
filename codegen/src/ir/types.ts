// The normalised IR: what every emitter sees. Built once by `normalise`, deeply frozen, never
// mutated. Every default is filled, lists are in argument order, maps are sorted. It is
// target-neutral (ADR 0015): each target spells names, types and literals in its own names.ts;
// only the C ABI's symbols, which every target shares, are here.
import type { MessagesIR } from './messages.ts';

/** One spec identifier in its case forms (each target escapes its reserved words: `cName`, `rustIdentifier`, …). */
export interface Ident {
  /** As written in the spec: snake_case. */
  readonly spec: string;
  readonly snake: string;
  readonly camel: string;
  readonly pascal: string;
  readonly screaming: string;
}

export type TypeId = 'f32' | 'f64' | 'i32' | 'i64' | 'u32' | 'u64' | 'bool' | 'size' | 'cstr';

/**
 * A scalar type of the C ABI. Each target spells it: `cType` (ir/names.ts, the C ABI's own, which the
 * ABI hash covers), `rustType` (emit/rust.ts), `juliaType`, `numpyDtype`, `tsArrayType`.
 */
export interface TypeNames {
  readonly id: TypeId;
}

/**
 * What a dimension symbol stands for: `batch` (rows, always the leading dim), `n` (items per row,
 * read from the inputs), `param` (the value of an int param: `k`), `length` (the length of a list
 * param: `m`).
 */
export type DimKind = 'batch' | 'n' | 'param' | 'length';
/** The dims every op has; they are the `dim` arguments of every kernel. */
export type Dim = 'batch' | 'n';
/** `real` is the dtype of the variant (f32 or f64). */
export type ElemType = 'real' | 'int32' | 'bool';
export type Constraint = 'finite' | 'positive' | 'nonnegative';

interface DimBase {
  /** `batch`, `n`, or the op's own dim (`k`); each target spells its value (`cDim`, `rustDim`, … in its names.ts). */
  readonly name: Ident;
}
export interface BatchDimIR extends DimBase { readonly kind: 'batch' }
export interface ItemsDimIR extends DimBase { readonly kind: 'n' }
export interface ParamDimIR extends DimBase {
  readonly kind: 'param';
  /** Spec name of the int param whose value the dim is. */
  readonly param: string;
}
export interface LengthDimIR extends DimBase {
  readonly kind: 'length';
  /** Spec name of the list param whose length the dim is. */
  readonly param: string;
}
export type DimIR = BatchDimIR | ItemsDimIR | ParamDimIR | LengthDimIR;

/**
 * A buffer's shape as an expression of the call's dims. Row-major; `dims[0]` is always batch. The
 * buffer holds `batch × product(row)` elements; helpers that read it live in shape.ts.
 */
export interface ShapeIR {
  /** Every dim, batch first: `[batch, n, n]`. */
  readonly dims: readonly DimIR[];
  /** The dims after batch, whose product is the extent of one row (none: one value per row). */
  readonly row: readonly DimIR[];
  /** `[batch, n]` */
  readonly text: string;
}

export interface EnumValueIR {
  readonly name: Ident;
  /** Index in the spec's list; the `int32_t` the C ABI takes. */
  readonly code: number;
  readonly doc: string;
}

export interface EnumIR {
  readonly name: Ident;
  readonly doc: string;
  readonly values: readonly EnumValueIR[];
}

interface ParamBase {
  readonly name: Ident;
  readonly doc: string;
  /** True when the backward returns d⟨cotangent, output⟩/dparam, one value per row. */
  readonly grad: boolean;
}
export interface RealParamIR extends ParamBase {
  readonly type: 'real';
  readonly default: number;
  readonly constraint: Constraint;
}
export interface EnumParamIR extends ParamBase {
  readonly type: 'enum';
  readonly enum: EnumIR;
  /** The values this param accepts, in the enum's order: all of them, or an op's subset. */
  readonly values: readonly EnumValueIR[];
  /** True when an op narrowed `values` or changed the default (spec: an entry `{ name, values, default }` in the op's params). */
  readonly narrowed: boolean;
  readonly default: EnumValueIR;
  readonly grad: false;
}
export interface BoolParamIR extends ParamBase {
  readonly type: 'bool';
  readonly default: boolean;
  readonly grad: false;
}
/** An integer bound: a number, or a dim of the call (`n`). */
export type IntBoundIR = { readonly kind: 'value'; readonly value: number } | { readonly kind: 'dim'; readonly dim: Dim };
export interface IntParamIR extends ParamBase {
  readonly type: 'int';
  readonly default: number;
  readonly grad: false;
  /** Inclusive bounds, null when unbounded on that side. */
  readonly min: IntBoundIR | null;
  readonly max: IntBoundIR | null;
}
export interface ListParamIR extends ParamBase {
  readonly type: 'list';
  /** The element type (`real`: the op's dtype). */
  readonly of: 'real';
  readonly default: readonly number[];
  readonly grad: false;
  /** Fewest elements (≥ 1). */
  readonly minLength: number;
  /** Inclusive bounds of every element (elements are always finite), null when unbounded. */
  readonly min: number | null;
  readonly max: number | null;
}
export type ParamIR = RealParamIR | EnumParamIR | BoolParamIR | IntParamIR | ListParamIR;
export type ParamType = ParamIR['type'];

export interface TensorIR {
  readonly name: Ident;
  readonly doc: string;
  readonly shape: ShapeIR;
  readonly elem: ElemType;
}
export interface InputIR extends TensorIR {
  readonly differentiable: boolean;
  /** Absent by default: a caller may omit it (the C ABI then takes a null pointer). */
  readonly optional: boolean;
  readonly constraint: Constraint;
}
export interface OutputIR extends TensorIR {
  /** False: no cotangent in the backward (integer outputs never have one). */
  readonly differentiable: boolean;
  /** Its values are positions along n (0-based, −1 for none); an int32 output. */
  readonly indexes: boolean;
}

/** What an argument of a kernel is. */
export type ArgRole =
  | 'dim' // batch, n
  | 'param' // a spec param (enums as int32 codes)
  | 'input' // forward: read
  | 'output' // forward: written
  | 'residual' // forward: written; backward: read
  | 'save' // backward: an input or output, read
  | 'cotangent' // backward: one per output, read
  | 'grad' // backward: one per differentiable input, written
  | 'param_grad' // backward: one per param with grad, [batch], written
  | 'tangent' // jvp: one per differentiable input, read
  | 'param_tangent' // jvp: one scalar per param with grad, read
  | 'output_tangent' // jvp: one per differentiable output, written
  | 'hvp' // hvp: one per differentiable input, written
  | 'param_hvp'; // hvp: one per param with grad, [batch], written

interface ArgBase {
  readonly name: Ident;
  readonly role: ArgRole;
  /** One line for a parameter list (`@param`, `# Arguments`). */
  readonly doc: string;
}
export interface DimArgIR extends ArgBase {
  readonly kind: 'dim';
  readonly role: 'dim';
  readonly dim: Dim;
}
export interface ParamArgIR extends ArgBase {
  readonly kind: 'param';
  readonly role: 'param';
  readonly param: ParamIR;
}
/** A scalar of the variant's dtype that is not a param: the tangent of a param with grad (JVP, HVP). */
export interface ScalarArgIR extends ArgBase {
  readonly kind: 'scalar';
  readonly role: 'param_tangent';
  /** Spec name of the param this is the tangent of. */
  readonly of: string;
}
/** The roles of buffer arguments. */
export type BufferRole = Exclude<ArgRole, 'dim' | 'param' | 'param_tangent'>;
export interface BufferArgIR extends ArgBase {
  readonly kind: 'buffer';
  readonly role: BufferRole;
  readonly elem: ElemType;
  readonly shape: ShapeIR;
  /** Written by the kernel (pointer to mutable). */
  readonly mutable: boolean;
  /** May be absent (a null pointer in the C ABI): optional inputs and their saves. */
  readonly optional: boolean;
  /** For save/cotangent/grad/param_grad/residual/tangent/output_tangent: the tensor or param this refers to (spec name). */
  readonly of: string | null;
}
export type ArgIR = DimArgIR | ParamArgIR | ScalarArgIR | BufferArgIR;

/** An argument resolved for one dtype: `type` is the scalar (element type for buffers). */
export type VariantArgIR = ArgIR & { readonly type: TypeNames };

/**
 * The kernels of an op: `forward`, `backward` (the VJP) and, where the spec declares it, `jvp`
 * (forward mode: the saves and residuals, one tangent per differentiable input and per param with
 * grad, writing one tangent per differentiable output) and `hvp` (the derivative of the backward
 * along the tangents at fixed cotangents: the Hessian of ⟨cotangent, output⟩ applied to them).
 */
export type Pass = 'forward' | 'backward' | 'jvp' | 'hvp';

export interface KernelIR {
  readonly pass: Pass;
  /** Path of the core function: `rank_relax::ops::soft_rank::forward`. */
  readonly corePath: string;
  /** In ABI order: batch, n, params, then buffers (see docs/architecture.md). */
  readonly args: readonly ArgIR[];
}

export interface VariantKernelIR {
  readonly pass: Pass;
  /** `rr_soft_rank_forward_f64` */
  readonly cSymbol: string;
  readonly args: readonly VariantArgIR[];
}

/** One (op, dtype) record. */
export interface VariantIR {
  readonly dtype: TypeNames;
  readonly forward: VariantKernelIR;
  readonly backward: VariantKernelIR;
  /** Null when the op has no JVP kernel. */
  readonly jvp: VariantKernelIR | null;
  /** Null when the op has no HVP kernel. */
  readonly hvp: VariantKernelIR | null;
}

export interface SaveIR {
  readonly name: Ident;
  readonly source: 'input' | 'output';
  readonly tensor: TensorIR;
}

export interface DerivedIR<Of> {
  /** `cotangent_ranks`, `grad_values`, `grad_regularization_strength` */
  readonly name: Ident;
  readonly of: Of;
}

/** A param's value: a number, an enum value's spec name, a boolean, a list of numbers. */
export type ParamValue = number | string | boolean | readonly number[];

export interface ExampleIR {
  /** Input spec name → rows. */
  readonly inputs: readonly { readonly name: Ident; readonly rows: readonly (readonly number[])[] }[];
  /** Every op param with its value (spec defaults filled in). */
  readonly params: readonly { readonly param: ParamIR; readonly value: ParamValue }[];
}

export interface OpIR {
  readonly name: Ident;
  readonly summary: string;
  readonly doc: string;
  /** Fewest items per row. */
  readonly minN: number;
  /** batch, n, then the op's own dims sorted by name. */
  readonly dims: readonly DimIR[];
  readonly inputs: readonly InputIR[];
  readonly params: readonly ParamIR[];
  readonly outputs: readonly OutputIR[];
  readonly residuals: readonly TensorIR[];
  readonly saves: readonly SaveIR[];
  /** One per differentiable output. */
  readonly cotangents: readonly DerivedIR<OutputIR>[];
  readonly grads: readonly DerivedIR<InputIR>[];
  readonly paramGrads: readonly DerivedIR<RealParamIR>[];
  /** The JVP's inputs: one per differentiable input (`tangent_values`). */
  readonly tangents: readonly DerivedIR<InputIR>[];
  /** One scalar per param with grad (`tangent_regularization_strength`): a call's param is one value. */
  readonly paramTangents: readonly DerivedIR<RealParamIR>[];
  /** The JVP's outputs: one per differentiable output (`tangent_ranks`). */
  readonly outputTangents: readonly DerivedIR<OutputIR>[];
  readonly forward: KernelIR;
  readonly backward: KernelIR;
  /** The forward-mode kernel (spec `jvp`), or null. */
  readonly jvp: KernelIR | null;
  /** What the HVP writes: one per differentiable input (`hvp_values`). */
  readonly hvps: readonly DerivedIR<InputIR>[];
  /** One per param with grad, per row (`hvp_regularization_strength`). */
  readonly paramHvps: readonly DerivedIR<RealParamIR>[];
  /**
   * The second-order kernel (spec `hvp`), or null: the saves, the residuals, one cotangent per
   * output, the JVP's tangents; writes the derivative of each gradient the backward writes.
   */
  readonly hvp: KernelIR | null;
  /**
   * Set where the core's `backward_in_place` writes the gradient over the cotangent: the buffers
   * that may then be one (spec `in_place_vjp`).
   */
  readonly inPlaceVjp: { readonly cotangent: Ident; readonly grad: Ident } | null;
  /** f32 then f64. */
  readonly variants: readonly VariantIR[];
  readonly example: ExampleIR | null;
}

export interface StatusIR {
  readonly name: Ident;
  readonly code: number;
  /** `RR_OK`, `RR_ERR_INVALID_VALUE` */
  readonly c: string;
  readonly doc: string;
  /** The core's `ErrorKind` variant that maps here, if any. */
  readonly coreKind: string | null;
}

/** A C function that is not a kernel (`rr_last_error`, `rr_abi_hash`, …). */
export interface RuntimeFnIR {
  readonly name: Ident;
  readonly cSymbol: string;
  readonly returns: TypeNames;
  readonly args: readonly { readonly name: Ident; readonly type: TypeNames }[];
  readonly doc: string;
}

export interface RuntimeIR {
  readonly lastError: RuntimeFnIR;
  readonly version: RuntimeFnIR;
  readonly abiVersion: RuntimeFnIR;
  readonly abiHash: RuntimeFnIR;
  readonly setNumThreads: RuntimeFnIR;
}

export interface IR {
  /** Spec path relative to the repository root, for headers: `bindings-spec/rank-relax.yaml`. */
  readonly source: string;
  /** The header line without comment syntax. */
  readonly generatedNotice: string;
  readonly package: {
    readonly name: string;
    readonly version: string;
    readonly description: string;
    readonly abiVersion: number;
    /** sha256 of the canonical JSON of the ABI surface, first 64 bits, `0x` + 16 hex digits. */
    readonly abiHash: string;
  };
  /** Native library: `rank_relax_c` (librank_relax_c.so), header `rank_relax.h`. */
  readonly native: { readonly libName: string; readonly header: string; readonly crate: string };
  readonly types: Readonly<Record<TypeId, TypeNames>>;
  /** The floating dtypes every op comes in, f32 then f64. */
  readonly dtypes: readonly TypeNames[];
  /** Sorted by name. */
  readonly enums: readonly EnumIR[];
  /** Every defined param, sorted by name. */
  readonly params: readonly ParamIR[];
  /** Sorted by name. */
  readonly ops: readonly OpIR[];
  readonly status: readonly StatusIR[];
  readonly runtime: RuntimeIR;
  /** The spec's message table, in the order of `REQUIRED_CHECKS` and `REQUIRED_VALUES`. */
  readonly messages: MessagesIR;
}
