// crates/rank-relax-python/src/generated.rs: the pyo3 glue. Per op, a module with one generic
// function per pass over the core's kernel, thin `#[pyfunction]` wrappers per dtype
// (`soft_rank_forward_f64`) and `<op>_check_params`; then `register` and the ABI constants.
// Array access, error mapping and shape checks are in the hand-written src/plumbing.rs (`rr_py`).
//
// The text is what rustfmt (default config) prints: a call or signature stays on one line when it
// fits in 100 columns and, for calls, its arguments take at most 60 (rustfmt's fn_call_width);
// otherwise one argument per line. Return types are aliases so signatures stay short.
import { code, file, join } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { BufferArgIR, DimIR, IR, KernelIR, OpIR, ParamIR, ScalarArgIR, ShapeIR, TypeNames } from '../../ir/types.ts';
import { opKernels, passTitle } from '../../ir/kernels.ts';
import { checkName, nativeName } from './layout.ts';
import { coreCallArgs, RUST_CALL_WIDTH, RUST_WIDTH, rustDoc, rustEnumType, rustIdentifier, rustType } from '../../emit/rust.ts';
import { rustIdent } from '../../ir/names.ts';
import { isItemRow, isPerRow, rowRank } from '../../ir/shape.ts';
import { matchElem, matchParam } from '../../ir/match.ts';
import { assertNever } from '../../util/never.ts';

export const WIDTH = RUST_WIDTH;
export const CALL_WIDTH = RUST_CALL_WIDTH;
/** Items of an op's module are rendered from column 0 and indented by 4 inside `pub mod`. */
export const ITEM_WIDTH = WIDTH - 4;

export const docComment = rustDoc;

export function buffers(kernel: KernelIR): BufferArgIR[] {
  return kernel.args.filter((a): a is BufferArgIR => a.kind === 'buffer');
}

export function params(kernel: KernelIR): ParamIR[] {
  return kernel.args.flatMap((a) => (a.kind === 'param' ? [a.param] : []));
}

/** The JVP's and HVP's scalar arguments: one tangent per param with grad (`tangent_regularization_strength`). */
export function scalars(kernel: KernelIR): ScalarArgIR[] {
  return kernel.args.filter((a): a is ScalarArgIR => a.kind === 'scalar');
}

/** Read by the kernel: forward inputs; backward saves, residuals, cotangents; JVP saves, residuals, tangents;
 * HVP saves, residuals, cotangents, tangents. */
export function reads(kernel: KernelIR): BufferArgIR[] {
  return buffers(kernel).filter((b) => !b.mutable);
}

/** Written by the kernel and returned to Python, in order. */
export function writes(kernel: KernelIR): BufferArgIR[] {
  return buffers(kernel).filter((b) => b.mutable);
}

function elem(b: BufferArgIR, t: string): string {
  return matchElem(b.elem, { real: () => t, int32: () => 'i32', bool: () => 'bool' });
}

/** NumPy's array rank of a buffer: batch and its row dims. */
function ndim(shape: ShapeIR): number {
  return 1 + rowRank(shape);
}

/** An optional buffer (a mask) is `None` from Python when absent. */
function readType(b: BufferArgIR, t: string): string {
  const array = `PyReadonlyArray${ndim(b.shape)}<'py, ${elem(b, t)}>`;
  return b.optional ? `Option<${array}>` : array;
}

function resultType(b: BufferArgIR, t: string): string {
  return `Bound<'py, PyArray${ndim(b.shape)}<${elem(b, t)}>>`;
}

/** A dim's value inside a generic pass, where the call's shape and params are in scope. */
function glueDim(dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
      return 'rr_shape.batch';
    case 'n':
      return 'rr_shape.n';
    case 'length':
      return `rr_params.${rustIdent(dim.param)}.len()`;
    case 'param':
      // In range: `check_dims` has run (an int param may be negative or past n).
      return `rr_params.${rustIdent(dim.param)} as usize`;
    default:
      return assertNever(dim, 'dim kind');
  }
}

/** Whether a buffer's extents include an int param's value (`[batch, k]`). */
function hasParamDim(b: BufferArgIR): boolean {
  return b.shape.row.some((d) => d.kind === 'param');
}

/** The empty-batch forward that checks the params a buffer is sized by, before any is sized. */
function renderCheckDims(op: OpIR): string[] {
  const args = [
    'Shape::new(0, rr_shape.n)',
    'rr_params',
    ...buffers(op.forward).map((b) => (b.optional ? 'None' : b.mutable ? '&mut []' : '&[]')),
  ];
  return [
    "/// Checks the int params that size buffers (`[batch, k]`) with the core's messages, computing",
    '/// nothing: a value out of range must not size an allocation.',
    ...signature(0, 'fn check_dims<T: rr_py::Float>', ['rr_shape: Shape', 'rr_params: &rr_op::Params<T>'], 'PyResult<()>'),
    ...call(4, 'let rr_status = rr_op::forward::<T>', args, ';'),
    '    rr_status.map_err(rr_py::error)',
    '}',
  ];
}

/** The extents of a buffer's dims: `[rr_shape.batch, rr_shape.n, rr_shape.n]`. */
function extents(shape: ShapeIR): string {
  return `[${shape.dims.map(glueDim).join(', ')}]`;
}

/** The local holding a buffer's extents (only for shapes other than [batch] and [batch, n]). */
function dimsLocal(b: BufferArgIR): string {
  return `rr_${b.name.snake}_dims`;
}

/** Python objects the plumbing converts with the op's messages: enums, ints, lists. */
function paramType(p: ParamIR, t: string): string {
  const any = () => "&Bound<'_, PyAny>";
  return matchParam(p, { real: () => t, enum: any, bool: () => 'bool', int: any, list: any });
}

/** Whether the params of an op need the kernel's float type (a list of reals is converted to it). */
function paramsNeedFloat(ps: readonly ParamIR[]): boolean {
  return ps.some((p) => p.type === 'list');
}

/** `Forward` / `Backward` / `Jvp` / `Hvp`: the alias of a pass's result tuple. */
function alias(kernel: KernelIR): string {
  return kernel.pass[0]?.toUpperCase() + kernel.pass.slice(1);
}



/** `head(a, b)tail` on one line, or one item per line. */
export function call(indent: number, head: string, items: readonly string[], tail: string): string[] {
  const pad = ' '.repeat(indent);
  const inner = items.join(', ');
  const line = `${pad}${head}(${inner})${tail}`;
  // rustfmt breaks a call that ends in `?` two columns earlier.
  const width = tail.startsWith('?') ? ITEM_WIDTH - 2 : ITEM_WIDTH;
  if (inner.length <= CALL_WIDTH && line.length <= width) return [line];
  return [`${pad}${head}(`, ...items.map((a) => `${pad}    ${a},`), `${pad})${tail}`];
}

/** `let name = value;` as rustfmt prints it: on one line, else the value alone on the next line
 * if it fits there, else its call broken one argument per line. */
export function letCall(indent: number, name: string, head: string, items: readonly string[], tail: string): string[] {
  const same = call(indent, `let ${name} = ${head}`, items, tail);
  if (same.length === 1) return same;
  const next = call(indent + 4, head, items, tail);
  if (next.length === 1) return [`${' '.repeat(indent)}let ${name} =`, ...next];
  return same;
}

/** `fn head(args) -> ret {` on one line, or one argument per line. */
export function signature(indent: number, head: string, args: readonly string[], ret: string): string[] {
  const pad = ' '.repeat(indent);
  const line = `${pad}${head}(${args.join(', ')}) -> ${ret} {`;
  if (line.length <= ITEM_WIDTH) return [line];
  return [`${pad}${head}(`, ...args.map((a) => `${pad}    ${a},`), `${pad}) -> ${ret} {`];
}

/** `type Alias<'py, T> = (A, B);` on one line, or one element per line. */
function tupleAlias(indent: number, head: string, items: readonly string[]): string[] {
  const pad = ' '.repeat(indent);
  const tuple = items.length === 1 ? `(${items[0]},)` : `(${items.join(', ')})`;
  const line = `${pad}${head} = ${tuple};`;
  // rustfmt breaks a tuple type whose items take more than fn_call_width, as it does a call.
  if (line.length <= ITEM_WIDTH && items.join(', ').length <= CALL_WIDTH) return [line];
  return [`${pad}${head} = (`, ...items.map((a) => `${pad}    ${a},`), `${pad});`];
}

function pyArgs(kernel: KernelIR, t: string): string[] {
  return [
    ...reads(kernel).map((b) => `${rustIdentifier(b.name)}: ${readType(b, t)}`),
    ...params(kernel).map((p) => `${rustIdentifier(p.name)}: ${paramType(p, t)}`),
    ...scalars(kernel).map((s) => `${rustIdentifier(s.name)}: ${t}`),
  ];
}

function renderAliases(op: OpIR): string[] {
  return opKernels(op).flatMap((k) => [
    `/// What \`${k.pass}\` returns: ${writes(k).map((b) => `\`${b.name.spec}\``).join(', ')}.`,
    ...tupleAlias(0, `type ${alias(k)}<'py, T>`, writes(k).map((b) => resultType(b, 'T'))),
  ]);
}

function renderParams(op: OpIR): string[] {
  const ps = params(op.forward);
  const fields = ps.map((p) => {
    const plain = () => `${rustIdentifier(p.name)},`;
    const converted = (fn: string, ...extra: string[]) =>
      call(8, `${rustIdentifier(p.name)}: rr_py::${fn}`, ['OP', `"${p.name.spec}"`, rustIdentifier(p.name), ...extra], '?,')
        .map((l) => l.slice(8))
        .join('\n        ');
    return matchParam(p, {
      real: plain,
      bool: plain,
      enum: (e) => converted('enum_arg', `rank_relax::${rustEnumType(e.enum)}::parse`),
      int: () => converted('int_arg'),
      list: () => converted('real_list_arg'),
    });
  });
  const generic = paramsNeedFloat(ps) ? 'T: rr_py::Float' : 'T';
  return [
    `/// The core's params of \`${op.name.spec}\`, enums parsed with the core's messages.`,
    ...signature(0, `fn params<${generic}>`, ps.map((p) => `${rustIdentifier(p.name)}: ${paramType(p, 'T')}`), 'PyResult<rr_op::Params<T>>'),
    '    Ok(rr_op::Params {',
    ...fields.map((f) => `        ${f}`),
    '    })',
    '}',
  ];
}

function renderGeneric(kernel: KernelIR): string[] {
  const rd = reads(kernel);
  const wr = writes(kernel);
  const [first, ...others] = rd.filter((b) => isItemRow(b.shape) && !b.optional);
  const optional = rd.filter((b) => b.optional);
  if (first === undefined) throw new Error(`${kernel.corePath}: no [batch, n] buffer gives the shape of a call`);
  // Buffers of other shapes ([batch, m], [batch, n, n]) are checked dim by dim against their extents.
  const wide = rd.filter((b) => !isPerRow(b.shape) && !isItemRow(b.shape));
  const wideOut = wr.filter((b) => !isPerRow(b.shape) && !isItemRow(b.shape));
  const kernelArgs = [
    'rr_shape',
    '&rr_params',
    ...coreCallArgs(kernel, (b) => (b.optional ? `${rustIdentifier(b.name)}.as_deref()` : `${b.mutable ? '&mut ' : '&'}${rustIdentifier(b.name)}`)),
  ];
  const kernelCall = call(12, `rr_op::${kernel.pass}`, kernelArgs, '');
  const compute =
    kernelCall.length === 1
      ? ['    rr_python', `        .detach(|| ${kernelCall[0]?.trim()})`, '        .map_err(rr_py::error)?;']
      : ['    rr_python', '        .detach(|| {', ...kernelCall, '        })', '        .map_err(rr_py::error)?;'];
  const results = wr.map((b) => {
    const name = rustIdentifier(b.name);
    if (isPerRow(b.shape)) return `rr_py::rows(rr_python, ${name})`;
    if (isItemRow(b.shape)) return `rr_py::matrix(rr_python, rr_shape, ${name})`;
    return name;
  });
  const tuple = results.length === 1 ? `(${results[0]},)` : `(${results.join(', ')})`;
  const ok =
    tuple.length <= CALL_WIDTH && `    Ok(${tuple})`.length <= ITEM_WIDTH
      ? [`    Ok(${tuple})`]
      : ['    Ok((', ...results.map((r) => `        ${r},`), '    ))'];
  return [
    `/// \`${kernel.pass}\` for either dtype: checks shapes, reads without copying, computes without the GIL.`,
    '#[allow(clippy::too_many_arguments)]',
    ...signature(0, `fn ${kernel.pass}<'py, T: rr_py::Float>`, ["rr_python: Python<'py>", ...pyArgs(kernel, 'T')], `PyResult<${alias(kernel)}<'py, T>>`),
    ...call(4, 'let rr_params = params', params(kernel).map((p) => rustIdentifier(p.name)), '?;'),
    `    let rr_shape = rr_py::shape(${rustIdentifier(first.name)}.shape());`,
    ...others.flatMap((b) =>
      call(4, 'rr_py::same_shape', ['OP', `"${first.name.spec}"`, 'rr_shape', `"${b.name.spec}"`, `${rustIdentifier(b.name)}.shape()`], '?;'),
    ),
    ...([...rd, ...wr].some(hasParamDim) ? ['    check_dims(rr_shape, &rr_params)?;'] : []),
    ...[...wide, ...wideOut].map((b) => `    let ${dimsLocal(b)} = ${extents(b.shape)};`),
    ...wide
      .filter((b) => !b.optional)
      .flatMap((b) => call(4, 'rr_py::extents', ['OP', `"${b.name.spec}"`, `${rustIdentifier(b.name)}.shape()`, `&${dimsLocal(b)}`], '?;')),
    ...optional.flatMap((b) => {
      const name = rustIdentifier(b.name);
      const check = isItemRow(b.shape)
        ? call(8, 'rr_py::same_shape', ['OP', `"${first.name.spec}"`, 'rr_shape', `"${b.name.spec}"`, `${name}.shape()`], '?;')
        : isPerRow(b.shape)
          ? []
          : call(8, 'rr_py::extents', ['OP', `"${b.name.spec}"`, `${name}.shape()`, `&${dimsLocal(b)}`], '?;');
      return check.length === 0 ? [] : [`    if let Some(${name}) = &${name} {`, ...check, '    }'];
    }),
    ...rd.flatMap((b) => {
      const name = rustIdentifier(b.name);
      // Bools are checked byte by byte (only 0 and 1 are Rust bools), with the op and the name.
      if (b.elem === 'bool') {
        return letCall(4, name, `rr_py::read_bools${b.optional ? '_optional' : ''}`, ['OP', `"${b.name.spec}"`, `&${name}`], '?;');
      }
      return [b.optional ? `    let ${name} = ${name}.as_ref().map(rr_py::read);` : `    let ${name} = rr_py::read(&${name});`];
    }),
    ...wr.flatMap((b) => {
      const name = rustIdentifier(b.name);
      if (isPerRow(b.shape)) return [`    let mut ${name} = rr_py::rows_buf::<${elem(b, 'T')}>(rr_shape);`];
      if (isItemRow(b.shape)) return [`    let mut ${name} = rr_py::matrix_buf::<${elem(b, 'T')}>(rr_shape);`];
      return letCall(4, `mut ${name}`, `rr_py::buffer::<${elem(b, 'T')}>`, [`&${dimsLocal(b)}`], ';');
    }),
    ...compute,
    // Results of other shapes become arrays of their extents first, so the tuple below stays short.
    ...wideOut.flatMap((b) => letCall(4, rustIdentifier(b.name), 'rr_py::array', ['rr_python', dimsLocal(b), rustIdentifier(b.name)], ';')),
    ...ok,
    '}',
  ];
}

function renderWrapper(op: OpIR, kernel: KernelIR, dtype: TypeNames): string[] {
  const t = rustType(dtype);
  const name = nativeName(op, kernel.pass, dtype);
  const sig = [
    ...reads(kernel).map((b) => rustIdentifier(b.name)),
    ...params(kernel).map((p) => rustIdentifier(p.name)),
    ...scalars(kernel).map((s) => rustIdentifier(s.name)),
  ];
  const out = writes(kernel).map((b) => b.name.spec);
  const what = passTitle(kernel.pass);
  return [
    ...docComment(`${what} of \`${op.name.spec}\` in ${t}: \`(${sig.join(', ')}) -> (${out.join(', ')})\`.`),
    '#[pyfunction]',
    `#[pyo3(name = "${name}", signature = (${sig.join(', ')}))]`,
    '#[allow(clippy::too_many_arguments)]',
    ...signature(0, `pub fn ${kernel.pass}_${dtype.id}<'py>`, ["rr_python: Python<'py>", ...pyArgs(kernel, t)], `PyResult<${alias(kernel)}<'py, ${t}>>`),
    ...call(4, kernel.pass, ['rr_python', ...sig], ''),
    '}',
  ];
}

function renderCheck(op: OpIR): string[] {
  const ps = params(op.forward);
  const args = [
    `Shape::new(0, n.unwrap_or(rr_py::ANY_N))`,
    '&rr_params',
    ...buffers(op.forward).map((b) => (b.optional ? 'None' : b.mutable ? '&mut []' : '&[]')),
  ];
  return [
    ...docComment(
      `Checks the params of \`${op.name.spec}\` as its kernels do (the core's messages), computing nothing; ` +
        'with `n`, also the bounds that depend on the row length.',
    ),
    '#[pyfunction]',
    `#[pyo3(name = "${checkName(op)}", signature = (${[...ps.map((p) => rustIdentifier(p.name)), 'n = None'].join(', ')}))]`,
    ...signature(0, 'pub fn check_params', [...ps.map((p) => `${rustIdentifier(p.name)}: ${paramType(p, 'f64')}`), 'n: Option<usize>'], 'PyResult<()>'),
    ...call(4, 'let rr_params = params', ps.map((p) => rustIdentifier(p.name)), '?;'),
    '    // An empty batch: the core checks the params, then has no row to compute.',
    ...call(4, 'let rr_status = rr_op::forward::<f64>', args, ';'),
    '    rr_status.map_err(rr_py::error)',
    '}',
  ];
}

function renderOp(ir: IR, op: OpIR): string {
  const items: string[][] = [
    renderAliases(op),
    renderParams(op),
    ...(opKernels(op).some((k) => buffers(k).some(hasParamDim)) ? [renderCheckDims(op)] : []),
    ...opKernels(op).map(renderGeneric),
    ...ir.dtypes.flatMap((d) => opKernels(op).map((k) => renderWrapper(op, k, d))),
    renderCheck(op),
  ];
  return code`
    ${docComment(`\`${op.name.spec}\`: ${op.summary}`)}
    pub mod ${rustIdentifier(op.name)} {
        use super::*;
        use rank_relax::ops::${rustIdentifier(op.name)} as rr_op;

        const OP: &str = "${op.name.spec}";

        ${join(items.map((lines) => lines.join('\n')), '\n\n')}
    }
  `;
}

/** The numpy imports the glue uses (a spec without per-row buffers needs no 1-D arrays). */
function numpyImports(ir: IR): string {
  const all = ir.ops.flatMap((op) => opKernels(op).flatMap(buffers));
  const names = new Set(['PyUntypedArrayMethods']);
  for (const b of all) names.add(`${b.mutable ? 'PyArray' : 'PyReadonlyArray'}${ndim(b.shape)}`);
  const sorted = [...names].sort();
  const line = `use numpy::{${sorted.join(', ')}};`;
  if (line.length <= WIDTH) return line;
  // rustfmt fills the list, four columns in, up to the line width.
  const lines: string[] = [];
  let current = '   ';
  for (const name of sorted) {
    const piece = ` ${name},`;
    if (current.length + piece.length > WIDTH) {
      lines.push(current);
      current = '   ';
    }
    current += piece;
  }
  lines.push(current);
  return ['use numpy::{', ...lines, '};'].join('\n');
}

function registerLines(ir: IR): string[] {
  return ir.ops.flatMap((op) => [
    ...ir.dtypes.flatMap((d) =>
      opKernels(op).map((k) => `    m.add_function(wrap_pyfunction!(${rustIdentifier(op.name)}::${k.pass}_${d.id}, m)?)?;`),
    ),
    `    m.add_function(wrap_pyfunction!(${rustIdentifier(op.name)}::check_params, m)?)?;`,
  ]);
}

export function renderRustGlue(ir: IR): string {
  const hash = ir.package.abiHash.replace(/^0x(.{4})(.{4})(.{4})(.{4})$/, '0x$1_$2_$3_$4');
  return file(
    banner(ir, 'slash'),
    "//! The functions of `rank_relax._native`, one per (op, pass, dtype), over the core's kernels.",
    '//! Each takes C-contiguous NumPy arrays of its dtype (`[batch, n]`, `[batch]` for one value per',
    '//! row, `[batch, n, n]`, …), releases the GIL while the core computes, and returns new arrays.',
    '',
    numpyImports(ir),
    'use pyo3::prelude::*;',
    'use rank_relax::Shape;',
    '',
    'use crate::plumbing as rr_py;',
    '',
    "/// Package version (the spec's).",
    `pub const VERSION: &str = "${ir.package.version}";`,
    "/// ABI version (the spec's `abi_version`).",
    `pub const ABI_VERSION: u32 = ${ir.package.abiVersion};`,
    '/// Hash of the ABI this module was generated for; the Python package checks it at import.',
    `pub const ABI_HASH: u64 = ${hash};`,
    '',
    join(ir.ops.map((op) => renderOp(ir, op)), '\n\n'),
    '',
    '/// Adds every generated function to the module.',
    "pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {",
    ...registerLines(ir),
    '    Ok(())',
    '}',
  );
}
