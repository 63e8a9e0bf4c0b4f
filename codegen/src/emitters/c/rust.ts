// src/generated/*.rs: the Rust side of the C ABI. One module per op with its four `extern "C"`
// entry points over the core's kernel convention, and mod.rs with the ABI constants. Buffer and
// panic handling is in the hand-written src/plumbing.rs (imported as `rr_ffi`).
import { code, file, join } from '../../emit/code.ts';
import { coreCallArgs, rustArrayCall, rustCall, rustDoc, rustEnumType, rustFnSignature, rustIdentifier, rustLetCall, rustType, rustUnsafeCall } from '../../emit/rust.ts';
import { banner } from '../../emit/text.ts';
import type { BufferArgIR, DimIR, EnumParamIR, IntBoundIR, IR, KernelIR, OpIR, ParamIR, ShapeIR, TypeNames, VariantArgIR, VariantKernelIR } from '../../ir/types.ts';
import { kernelsOf, opKernels, passTitle } from '../../ir/kernels.ts';
import { isItemRow, isPerRow } from '../../ir/shape.ts';
import { matchParam } from '../../ir/match.ts';
import { matchElem } from '../../ir/match.ts';
import { unsupported } from '../../emit/capabilities.ts';
import { rustIdent } from '../../ir/names.ts';
import { assertNever } from '../../util/never.ts';

const docComment = rustDoc;

/** The argument that carries a list param's length: `quantiles_len`. */
function lengthArg(param: string): string {
  return rustIdent(`${param}_len`);
}

/** A bound of an int param as an `Option<usize>` of the glue: `Some(0)`, `Some(n)`, `None` when unbounded. */
function boundArg(b: IntBoundIR | null): string {
  if (b === null) return 'None';
  switch (b.kind) {
    case 'value':
      // A negative value is no extent, so a negative lower bound is 0.
      return `Some(${Math.max(0, b.value)})`;
    case 'dim':
      return `Some(${b.dim})`;
    default:
      return assertNever(b, 'int bound');
  }
}

/** The local that holds a dim that is an int param's value, as an extent: `rr_dim_k`. */
function paramDimLocal(dim: DimIR): string {
  return `rr_dim_${dim.name.snake}`;
}

/**
 * The locals of the dims that are an int param's value, for the kernel's buffers: the value only
 * within the param's bounds (`rr_shape.count(k, Some(0), Some(n))`), else 0, so that a bad value
 * never sizes a buffer and the core reports it.
 */
function paramDimLines(op: OpIR, kernel: KernelIR): string[] {
  const dims = kernel.args.flatMap((a) => (a.kind === 'buffer' ? a.shape.row.filter((d) => d.kind === 'param') : []));
  const unique = [...new Map(dims.map((d) => [d.name.spec, d])).values()];
  return unique.flatMap((dim) => {
    const p = op.params.find((x) => dim.kind === 'param' && x.name.spec === dim.param);
    if (dim.kind !== 'param' || p?.type !== 'int') return unsupported('c', `a dim that is the value of a param that is not an int`);
    return [
      `        // ${dim.name.spec} sizes buffers only within ${p.name.spec}'s bounds (else 0: the core reports it).`,
      `        let ${paramDimLocal(dim)} = rr_shape.count(${rustIdent(dim.param)}, ${boundArg(p.min)}, ${boundArg(p.max)});`,
    ];
  });
}

/** A dim's value inside a kernel of the glue, from its C arguments: `n`, `quantiles_len`, `rr_dim_k`. */
function glueDim(dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
    case 'n':
      return dim.name.spec;
    case 'length':
      return lengthArg(dim.param);
    case 'param':
      return paramDimLocal(dim);
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** Argument list of the generic kernel: `T` for real, `*const T` for read buffers; a list param is a pointer and a length. */
function genericArgs(arg: KernelIR['args'][number]): string[] {
  switch (arg.kind) {
    case 'dim':
      return [`${rustIdentifier(arg.name)}: usize`];
    case 'param': {
      const name = rustIdentifier(arg.name);
      return matchParam(arg.param, {
        real: () => [`${name}: T`],
        enum: () => [`${name}: i32`],
        bool: () => [`${name}: bool`],
        int: () => [`${name}: i64`],
        list: (p) => [`${name}: *const T`, `${lengthArg(p.name.spec)}: usize`],
      });
    }
    case 'scalar':
      return [`${rustIdentifier(arg.name)}: T`];
    case 'buffer': {
      const elem = matchElem(arg.elem, { real: () => 'T', int32: () => 'i32', bool: () => 'bool' });
      return [`${rustIdentifier(arg.name)}: ${arg.mutable ? '*mut' : '*const'} ${elem}`];
    }
    default:
      return assertNever(arg, 'argument kind');
  }
}

/** The names a kernel's argument passes on: a list param's pointer and length. */
function argNames(arg: KernelIR['args'][number]): string[] {
  return arg.kind === 'param' && arg.param.type === 'list' ? [rustIdentifier(arg.name), lengthArg(arg.param.name.spec)] : [rustIdentifier(arg.name)];
}

function externArgs(arg: VariantArgIR): string[] {
  if (arg.kind === 'buffer') return [`${rustIdentifier(arg.name)}: ${arg.mutable ? '*mut' : '*const'} ${rustType(arg.type)}`];
  if (arg.kind === 'param' && arg.param.type === 'list') {
    return [`${rustIdentifier(arg.name)}: *const ${rustType(arg.type)}`, `${lengthArg(arg.param.name.spec)}: usize`];
  }
  return [`${rustIdentifier(arg.name)}: ${rustType(arg.type)}`];
}

/** An enum param an op narrows to some of its enum's values: refuse the others before `from_code`. */
function acceptLines(p: EnumParamIR): string[] {
  if (p.values.length === p.enum.values.length) return [];
  const name = rustIdentifier(p.name);
  const expected = `${p.name.spec} must be one of ${p.values.map((v) => `${v.code} (${v.name.spec})`).join(', ')}`;
  return rustLetCall(8, name, 'rr_ffi::accept_code', [name, `&[${p.values.map((v) => v.code).join(', ')}]`, `"${expected}"`], '?;');
}

/** Statements before the params struct: list params copied out of C memory, narrowed enum codes checked. */
function paramPrelude(param: ParamIR): string[] {
  const none = (): string[] => [];
  return matchParam(param, {
    real: none,
    bool: none,
    int: none,
    enum: acceptLines,
    list: (p) => {
      const name = rustIdentifier(p.name);
      return [
        `        // SAFETY: the caller guarantees ${name} is valid for ${lengthArg(p.name.spec)} reads`,
        '        // (include/rank_relax.h).',
        ...rustLetCall(8, name, 'unsafe { rr_ffi::list', [`"${p.name.spec}"`, name, lengthArg(p.name.spec)], ' }?;'),
      ];
    },
  });
}

function paramField(param: ParamIR): string {
  const plain = () => `${rustIdentifier(param.name)},`;
  return matchParam(param, {
    real: plain,
    bool: plain,
    int: plain,
    list: plain,
    enum: (p) => `${rustIdentifier(p.name)}: rank_relax::${rustEnumType(p.enum)}::from_code(${rustIdentifier(p.name)})?,`,
  });
}

/** A buffer's length: `rr_shape.rows`, `rr_shape.elems`, or its extent checked for overflow. */
function bufferLength(name: string, shape: ShapeIR): string {
  if (isPerRow(shape)) return 'rr_shape.rows';
  if (isItemRow(shape)) return 'rr_shape.elems';
  return `rr_shape.extent("${name}", &[${shape.row.map(glueDim).join(', ')}])?`;
}

function bufferLines(kernel: KernelIR): string[] {
  return kernel.args.flatMap((arg) => {
    if (arg.kind !== 'buffer') return [];
    if (arg.optional && arg.mutable) return unsupported('c', 'optional written buffers');
    // An optional buffer may be NULL (absent) whatever its length.
    const make = arg.mutable ? 'Out::new' : arg.optional ? 'In::optional' : 'In::new';
    const len = bufferLength(arg.name.spec, arg.shape);
    return rustLetCall(8, rustIdentifier(arg.name), `rr_ffi::${make}`, [`"${arg.name.spec}"`, rustIdentifier(arg.name), len], '?;');
  });
}

/**
 * A buffer as the core takes it: a slice; `Option` of one for an optional buffer (None when NULL);
 * a bool buffer's bytes are checked to be 0 or 1 first (anything else is no Rust `bool`).
 */
function coreSlice(b: BufferArgIR): string {
  const name = rustIdentifier(b.name);
  if (b.elem === 'bool') return `${name}.${b.optional ? 'bools_optional' : 'bools'}(batch)?`;
  return `${name}.${b.optional ? 'slice_optional' : 'slice'}()`;
}

/** The backward's branch for a gradient buffer that is the cotangent buffer: the core's
 * `backward_in_place` (any other overlap stays an error). */
function inPlaceLines(kernel: KernelIR, inPlace: NonNullable<OpIR['inPlaceVjp']>): string[] {
  const buffers = kernel.args.filter((a) => a.kind === 'buffer');
  const [grad, cotangent] = [rustIdentifier(inPlace.grad), rustIdentifier(inPlace.cotangent)];
  const others = buffers.filter((b) => rustIdentifier(b.name) !== cotangent);
  const callArgs = ['rr_shape.shape', '&rr_params', ...others.map(coreSlice)];
  return [
    `        // ${grad} may be ${cotangent} itself (include/rank_relax.h): the gradient is then`,
    '        // written over the cotangent.',
    `        if ${grad}.is(&${cotangent}) {`,
    ...rustArrayCall(12, 'rr_ffi::check_disjoint', others.map((b) => `${rustIdentifier(b.name)}.region()`), '?;'),
    '            // SAFETY: as below, with the one buffer read as the cotangent and written as the',
    '            // gradient passed once, as a mutable slice.',
    '            unsafe {',
    ...rustCall(16, 'rr_op::backward_in_place', callArgs, '?;'),
    '            }',
    '            return Ok(());',
    '        }',
  ];
}

/** A buffer's region for `check_disjoint`; an in-place backward's gradient may be its cotangent
 * (that case took the branch above), so an overlap of the two is reported as a partial one. */
function regionOf(name: string, inPlace: OpIR['inPlaceVjp']): string {
  return inPlace !== null && name === rustIdentifier(inPlace.grad) ? `${name}.region_may_be(&${rustIdentifier(inPlace.cotangent)})` : `${name}.region()`;
}


function renderKernel(op: OpIR, kernel: KernelIR): string {
  const inPlace = kernel.pass === 'backward' ? op.inPlaceVjp : null;
  const buffers = kernel.args.filter((a) => a.kind === 'buffer');
  const callArgs = ['rr_shape.shape', '&rr_params', ...coreCallArgs(kernel, coreSlice)];
  const params = kernel.args.flatMap((a) => (a.kind === 'param' ? [a.param] : []));
  const fields = params.map((p) => `            ${paramField(p)}`);
  return [
    ...rustFnSignature(0, `unsafe fn ${kernel.pass}<T: Real>`, kernel.args.flatMap(genericArgs), ' -> i32'),
    '    rr_ffi::call(RR_OP, || {',
    '        let rr_shape = rr_ffi::Dims::new(batch, n)?;',
    ...params.flatMap(paramPrelude),
    ...(fields.length === 0 ? ['        let rr_params = rr_op::Params {};'] : ['        let rr_params = rr_op::Params {', ...fields, '        };']),
    ...paramDimLines(op, kernel),
    ...bufferLines(kernel),
    ...(inPlace !== null ? inPlaceLines(kernel, inPlace) : []),
    ...rustArrayCall(8, 'rr_ffi::check_disjoint', buffers.map((b) => regionOf(rustIdentifier(b.name), inPlace)), '?;'),
    '        // SAFETY: the caller guarantees each pointer is valid for its buffer\'s length',
    '        // (include/rank_relax.h); each was checked non-null unless empty or optional and',
    '        // aligned, and no written buffer overlaps another.',
    '        unsafe {',
    ...rustCall(12, `rr_op::${kernel.pass}`, callArgs, '?;'),
    '        }',
    '        Ok(())',
    '    })',
    '}',
  ].join('\n');
}


function renderExtern(op: OpIR, dtype: TypeNames, kernel: VariantKernelIR): string {
  const what = passTitle(kernel.pass);
  return [
    ...docComment(`${what} of \`${op.name.spec}\` in ${rustType(dtype)}: see \`${kernel.cSymbol}\` in include/rank_relax.h.`),
    '///',
    '/// # Safety',
    '///',
    '/// Each pointer must be valid for its buffer\'s length (see include/rank_relax.h).',
    '#[no_mangle]',
    ...rustFnSignature(0, `pub unsafe extern "C" fn ${kernel.cSymbol}`, kernel.args.flatMap(externArgs), ' -> i32'),
    "    // SAFETY: this function's contract is the kernel's.",
    ...rustUnsafeCall(4, kernel.pass, kernel.args.flatMap(argNames)),
    '}',
  ].join('\n');
}

export function renderRustOp(ir: IR, op: OpIR): string {
  const externs = op.variants.flatMap((v) => kernelsOf(v).map((k) => renderExtern(op, v.dtype, k)));
  return file(
    banner(ir, 'slash'),
    ...docComment(`C entry points of \`${op.name.spec}\`: ${op.summary}`, '//! '),
    '',
    '#![allow(clippy::too_many_arguments)]',
    '',
    `use rank_relax::ops::${rustIdentifier(op.name)} as rr_op;`,
    'use rank_relax::Real;',
    '',
    'use crate::plumbing as rr_ffi;',
    '',
    `const RR_OP: &str = "${op.name.spec}";`,
    '',
    ...opKernels(op).flatMap((k) => [renderKernel(op, k), '']),
    join(externs, '\n\n'),
  );
}

export function renderRustMod(ir: IR): string {
  return file(
    banner(ir, 'slash'),
    '//! The C ABI generated from the spec: one module per op, the ABI constants, the status codes.',
    '',
    ...ir.ops.map((op) => `pub mod ${rustIdentifier(op.name)};`),
    '',
    `/// Library version (the spec's package version).`,
    `pub const VERSION: &str = "${ir.package.version}";`,
    `/// ABI version (the spec's \`abi_version\`).`,
    `pub const ABI_VERSION: u32 = ${ir.package.abiVersion};`,
    '/// sha256 of the canonical JSON of the ABI surface, first 64 bits.',
    `pub const ABI_HASH: u64 = ${ir.package.abiHash.replace(/^0x(.{4})(.{4})(.{4})(.{4})$/, '0x$1_$2_$3_$4')};`,
    '',
    ...ir.status.flatMap((s) => [...docComment(s.doc), `pub const ${s.c}: i32 = ${s.code};`]),
    '',
    '/// The status code of an error kind of the core.',
    'pub fn status_of(kind: rank_relax::ErrorKind) -> i32 {',
    '    #[allow(unreachable_patterns)]',
    '    match kind {',
    ...ir.status.filter((s) => s.coreKind !== null).map((s) => `        rank_relax::ErrorKind::${s.coreKind} => ${s.c},`),
    `        _ => ${ir.status.find((s) => s.name.spec === 'invalid_argument')?.c ?? 'RR_ERR_PANIC'},`,
    '    }',
    '}',
    '',
    code`
      ${docComment(ir.runtime.version.doc)}
      #[no_mangle]
      pub extern "C" fn ${ir.runtime.version.cSymbol}() -> *const std::ffi::c_char {
          c"${ir.package.version}".as_ptr()
      }

      ${docComment(ir.runtime.abiVersion.doc)}
      #[no_mangle]
      pub extern "C" fn ${ir.runtime.abiVersion.cSymbol}() -> u32 {
          ABI_VERSION
      }

      ${docComment(ir.runtime.abiHash.doc)}
      #[no_mangle]
      pub extern "C" fn ${ir.runtime.abiHash.cSymbol}() -> u64 {
          ABI_HASH
      }
    `,
  );
}
