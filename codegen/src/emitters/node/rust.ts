// crates/rank-relax-node/src/generated/*.rs: the Rust side of the addon. One module per op with,
// for each dtype, its `#[napi]` entry points (see names.ts: `call`, `forward`, `backward`, `vjp`,
// `jvp` and `hvp` where the op has those kernels, and async jobs of `call`, `vjp`, `jvp` and `hvp`)
// over the core's kernel convention; for an op with
// `inPlaceVjp`, the sync `backward` and `vjp` take a gradient array that is the cotangent array to
// the core's `backward_in_place`. A bool buffer (an optional one: a mask) comes as a `Uint8Array`
// (`null`: absent) and is copied into the `&[bool]` the core takes before anything is written. mod.rs
// has the ABI constants and the error codes. Error mapping,
// buffer checks and the job are in the hand-written src/plumbing.rs (imported as `rr`).
import { code, file, join } from '../../emit/code.ts';
import { banner, commentLines } from '../../emit/text.ts';
import type { ArgIR, BufferArgIR, DimIR, IR, KernelIR, OpIR, ParamIR, TypeNames } from '../../ir/types.ts';
import { ASYNC_ENTRIES, entryKernel, entryScalars, napiArray, nativeName, opEntries, rustName, rustParamType, tsArrayOf, type Entry } from './names.ts';
import { rowExtent } from '../../ir/shape.ts';
import { coreCallArgs, RUST_CALL_WIDTH, RUST_WIDTH, rustDoc, rustEnumType, rustIdentifier, rustType } from '../../emit/rust.ts';
import { rustIdent } from '../../ir/names.ts';
import { assertNever } from '../../util/never.ts';
import { matchParam } from '../../ir/match.ts';
import { matchElem } from '../../ir/match.ts';

const WIDTH = RUST_WIDTH;
/** rustfmt's `fn_call_width` (60% of max_width): longer argument lists go one per line. */
const CALL_WIDTH = RUST_CALL_WIDTH;

/**
 * A call as rustfmt lays it out: on one line when the arguments fit `CALL_WIDTH` and the line fits
 * `WIDTH` (at column `indent`), else one argument per line with a trailing comma. `head` is the
 * text before the parenthesis on that line (`let x = f`), `tail` what follows it (`?;`).
 */
export function rsCall(head: string, args: readonly string[], indent: number, tail = ''): string {
  const inline = `${head}(${args.join(', ')})${tail}`;
  if (args.every((a) => !a.includes('\n')) && args.join(', ').length <= CALL_WIDTH && indent + inline.length <= WIDTH) return inline;
  const body = args.map((a) => `${a},`.replace(/^/gm, '    '));
  return [`${head}(`, ...body, `)${tail}`].join('\n');
}

/** A fn signature as rustfmt lays it out: one line when it fits, else one parameter per line. */
function rsFn(head: string, params: readonly string[], ret: string, indent = 0): string {
  const inline = `${head}(${params.join(', ')})${ret} {`;
  if (indent + inline.length <= WIDTH) return inline;
  return [`${head}(`, ...params.map((p) => `    ${p},`), `)${ret} {`].join('\n');
}

/** `use path::{A, B};`, wrapped as rustfmt wraps a long list. */
function rsUse(path: string, items: readonly string[]): string {
  const inline = `use ${path}::{${items.join(', ')}};`;
  if (inline.length <= WIDTH) return inline;
  const lines: string[] = [];
  let line = '   ';
  for (const item of items) {
    if (line.length + 1 + item.length + 1 > WIDTH) {
      lines.push(line);
      line = '   ';
    }
    line += ` ${item},`;
  }
  lines.push(line);
  return [`use ${path}::{`, ...lines, '};'].join('\n');
}

const docComment = rustDoc;

type Buffer = BufferArgIR;

function isBuffer(a: ArgIR): a is Buffer {
  return a.kind === 'buffer';
}

/** The buffers a native entry point takes, in order. */
export function entryBuffers(op: OpIR, entry: Entry): readonly Buffer[] {
  const fwd = op.forward.args.filter(isBuffer);
  const bwd = op.backward.args.filter(isBuffer);
  switch (entry) {
    case 'call':
      return fwd.filter((b) => b.role !== 'residual');
    case 'forward':
      return fwd;
    case 'backward':
      return bwd;
    case 'vjp':
      return [...fwd.filter((b) => b.role === 'input'), ...bwd.filter((b) => b.role === 'cotangent' || b.role === 'grad' || b.role === 'param_grad')];
    case 'jvp': {
      const jvp = (op.jvp?.args ?? []).filter(isBuffer);
      return [...fwd.filter((b) => b.role === 'input'), ...jvp.filter((b) => b.role === 'tangent' || b.role === 'output_tangent')];
    }
    case 'hvp': {
      // The cotangents and tangents it reads, the products it writes; saves and residuals come from the forward.
      const hvp = (op.hvp?.args ?? []).filter(isBuffer);
      return [...fwd.filter((b) => b.role === 'input'), ...hvp.filter((b) => b.role !== 'save' && b.role !== 'residual')];
    }
    default:
      return assertNever(entry, 'entry');
  }
}

/** The kernel behind a derivative entry point, which the op has (the caller checked). */
function derivativeKernel(op: OpIR, entry: 'jvp' | 'hvp'): KernelIR {
  const kernel = entryKernel(op, entry);
  if (kernel === null) throw new Error(`node: op ${op.name.spec} has no ${entry} kernel`);
  return kernel;
}


/** A backward argument of the VJP entry: outputs and residuals computed in the entry are borrowed. */
function backwardArg(b: Buffer, fwd: readonly Buffer[]): string {
  switch (b.role) {
    case 'save':
      return fwd.find((f) => f.name.spec === b.of && f.role === 'output') ? `&${rustIdentifier(b.name)}` : rustIdentifier(b.name);
    case 'residual':
      return `&${rustIdentifier(b.name)}`;
    case 'input':
    case 'output':
    case 'cotangent':
    case 'grad':
    case 'param_grad':
    case 'tangent':
    case 'output_tangent':
    case 'hvp':
    case 'param_hvp':
      return rustIdentifier(b.name);
    default:
      return assertNever(b.role, 'buffer role');
  }
}

function elemType(b: Buffer): string {
  return matchElem(b.elem, { real: () => 'T', int32: () => 'i32', bool: () => 'bool' });
}

/** `rr_params`: the core's params from the JS arguments (enum names parsed by the core). */
function renderParams(op: OpIR): string {
  const field = (p: ParamIR) => {
    switch (p.type) {
      case 'real':
        return `${rustIdentifier(p.name)}: rr::real(${rustIdentifier(p.name)}),`;
      case 'enum':
        return rsCall(`${rustIdentifier(p.name)}: rr::enum_param`, ['RR_OP', `rank_relax::${rustEnumType(p.enum)}::parse(${rustIdentifier(p.name)})`], 8, '?,');
      case 'bool':
      case 'int':
        return `${rustIdentifier(p.name)},`;
      case 'list':
        return `${rustIdentifier(p.name)}: ${rustIdentifier(p.name)}.to_vec(),`;
      default:
        return assertNever(p, 'param type');
    }
  };
  const argType = (p: ParamIR) => matchParam(p, { enum: () => '&str', real: () => 'f64', bool: () => 'bool', int: () => 'i64', list: () => '&[T]' });
  const sig = rsFn('fn rr_params<T: Real>', op.params.map((p) => `${rustIdentifier(p.name)}: ${argType(p)}`), ' -> Result<rr_op::Params<T>, Failure>');
  const doc = op.params.some((p) => p.type === 'list')
    ? "The core's params from the JS arguments (a list copied, in the call's dtype); an unknown enum name is the core's error."
    : "The core's params from the JS arguments; an unknown enum name is the core's error.";
  return code`
    ${docComment(doc)}
    ${sig}
        Ok(rr_op::Params {
            ${op.params.map(field)}
        })
    }
  `;
}

function sliceParam(b: Buffer): string {
  const slice = `${b.mutable ? '&mut ' : '&'}[${elemType(b)}]`;
  return `${rustIdentifier(b.name)}: ${b.optional ? `Option<${slice}>` : slice}`;
}

/**
 * A bool buffer comes from JS as a `Uint8Array` and goes to the core as `&[bool]` (nonzero =
 * true): the entry point copies it first, so it is never one of the arrays checked for overlap,
 * and an async job owns its copy.
 */
function isBool(b: Buffer): boolean {
  return b.elem === 'bool';
}

/** `let mask = mask.map(|m| rr::bools(&m));`: the copy of a bool buffer, at the start of an entry point. */
function boolCopy(b: Buffer): string {
  const name = rustIdentifier(b.name);
  return b.optional ? `let ${name} = ${name}.map(|m| rr::bools(&m));` : `let ${name} = rr::bools(&${name});`;
}

/** A buffer of an entry point as its body or the core takes it: written ones as they are, read ones borrowed. */
function entryArg(b: Buffer): string {
  const name = rustIdentifier(b.name);
  if (b.mutable) return name;
  return b.optional ? `${name}.as_deref()` : `&${name}`;
}

const BODY_PARAMS = ['rr_shape: Shape', 'rr_params: &rr_op::Params<T>'];

/** A dim's value in the generic bodies, where `rr_shape` and `rr_params` are in scope. */
function bodyDim(op: OpIR, dim: DimIR): string {
  switch (dim.kind) {
    case 'batch':
    case 'n':
      return `rr_shape.${dim.name.spec}`;
    case 'length':
      return `rr_params.${rustIdent(dim.param)}.len()`;
    case 'param':
      return `rr::param_extent(${bodyIntParam(op, dim.param)})`;
    default:
      return assertNever(dim, 'dim kind');
  }
}

/**
 * An int param that sizes a buffer, as `rr::param_extent` takes it: its value and its upper bound
 * (`rr_params.k, rr_shape.n`), so that a value out of range sizes a scratch buffer no larger than
 * the bound and the core reports the value.
 */
function bodyIntParam(op: OpIR, spec: string): string {
  const p = op.params.find((x) => x.name.spec === spec);
  if (p?.type !== 'int') throw new Error(`node: op ${op.name.spec} has no int param ${spec}`);
  const max = p.max === null ? 'usize::MAX' : p.max.kind === 'dim' ? `rr_shape.${p.max.dim}` : `${p.max.value}`;
  return `rr_params.${rustIdent(spec)}, ${max}`;
}

/**
 * `let mut ranks = rr::scratch::<T>(RR_OP, rr_shape, rr_shape.n, values.len())?` for buffers the
 * entry keeps inside the addon: the row extent is the shape's (`1` for `[batch]`,
 * `rr_shape.n * rr_shape.n`, `rr_params.quantiles.len()`).
 */
function scratchLine(op: OpIR, b: Buffer, firstInput: Buffer): string {
  const args = ['RR_OP', 'rr_shape', rowExtent(b.shape, (d) => bodyDim(op, d)), `${rustIdentifier(firstInput.name)}.len()`];
  const lhs = `let mut ${rustIdentifier(b.name)} =`;
  const rhs = `rr::scratch::<${elemType(b)}>(${args.join(', ')})?;`;
  // rustfmt moves a right-hand side that fits on the next line there rather than break the call.
  if (4 + lhs.length + 1 + rhs.length > WIDTH && 8 + rhs.length <= WIDTH && args.join(', ').length <= CALL_WIDTH) return `${lhs}\n    ${rhs}`;
  return rsCall(`${lhs} rr::scratch::<${elemType(b)}>`, args, 4, '?;');
}

/**
 * The generic bodies of `call` (residuals in scratch), `vjp` (forward into scratch, backward) and
 * `jvp` and `hvp` (forward into scratch, then their kernel).
 */
function renderBodies(op: OpIR): string {
  const fwd = op.forward.args.filter(isBuffer);
  const bwd = op.backward.args.filter(isBuffer);
  const first = fwd.find((b) => b.role === 'input');
  if (first === undefined) throw new Error(`node: op ${op.name.spec} has no input`);
  const residuals = fwd.filter((b) => b.role === 'residual');
  const outputs = fwd.filter((b) => b.role === 'output');
  const callArgs = fwd.map((b) => (b.role === 'residual' ? `&mut ${rustIdentifier(b.name)}` : rustIdentifier(b.name)));
  const vjpForward = fwd.map((b) => (b.role === 'input' ? rustIdentifier(b.name) : `&mut ${rustIdentifier(b.name)}`));
  const vjpBackward = bwd.map((b) => backwardArg(b, fwd));
  const ret = ' -> Result<(), Failure>';
  // The JVP and the HVP: the forward into scratch buffers, then their kernel.
  const derivative = (entry: 'jvp' | 'hvp', doc: string) =>
    entryKernel(op, entry) === null
      ? null
      : code`
          /// ${doc}
          ${rsFn(`fn rr_${entry}<T: Real + rr::Elem>`, [...BODY_PARAMS, ...entryScalars(op, entry).map((a) => `${rustIdentifier(a.name)}: T`), ...entryBuffers(op, entry).map(sliceParam)], ret)}
              ${[...outputs, ...residuals].map((b) => scratchLine(op, b, first))}
              ${rsCall('rr_op::forward', ['rr_shape', 'rr_params', ...vjpForward], 4, '?;')}
              ${rsCall(`rr_op::${entry}`, ['rr_shape', 'rr_params', ...coreCallArgs(derivativeKernel(op, entry), (b) => backwardArg(b, fwd))], 4, '?;')}
              Ok(())
          }
        `;
  return code`
    ${op.inPlaceVjp === null ? null : renderInPlaceBodies(op, op.inPlaceVjp)}

    /// The forward, its residuals in scratch buffers dropped after the call.
    ${rsFn('fn rr_call<T: Real + rr::Elem>', [...BODY_PARAMS, ...entryBuffers(op, 'call').map(sliceParam)], ret)}
        ${residuals.map((b) => scratchLine(op, b, first))}
        ${rsCall('rr_op::forward', ['rr_shape', 'rr_params', ...callArgs], 4, '?;')}
        Ok(())
    }

    /// The VJP: the forward into scratch buffers, then the backward.
    ${rsFn('fn rr_vjp<T: Real + rr::Elem>', [...BODY_PARAMS, ...entryBuffers(op, 'vjp').map(sliceParam)], ret)}
        ${[...outputs, ...residuals].map((b) => scratchLine(op, b, first))}
        ${rsCall('rr_op::forward', ['rr_shape', 'rr_params', ...vjpForward], 4, '?;')}
        ${rsCall('rr_op::backward', ['rr_shape', 'rr_params', ...vjpBackward], 4, '?;')}
        Ok(())
    }

    ${derivative('jvp', 'The JVP: the forward into scratch buffers, then the jvp kernel.')}

    ${derivative('hvp', 'The HVP: the forward into scratch buffers, then the hvp kernel at the given cotangents.')}
  `;
}

/**
 * Whether an entry point takes its gradient array being its cotangent array (and routes that to the
 * core's `backward_in_place`): the sync `backward` and `vjp` of an op with `inPlaceVjp` do, and get
 * its buffer names; `null` for every other. An async job writes on the libuv pool into arrays the
 * caller must not touch until it settles, and the cotangent is the caller's own, so jobs keep
 * refusing the alias.
 */
export function inPlaceOf(op: OpIR, entry: Entry, isAsync: boolean): NonNullable<OpIR['inPlaceVjp']> | null {
  if (isAsync || op.inPlaceVjp === null || (entry !== 'backward' && entry !== 'vjp')) return null;
  return op.inPlaceVjp;
}

/**
 * `rr_in_place` and `rr_vjp_in_place`: what the entry points of an op with `inPlaceVjp` use when
 * the gradient array is the cotangent array itself (the core's `backward_in_place`).
 */
function renderInPlaceBodies(op: OpIR, inPlace: NonNullable<OpIR['inPlaceVjp']>): string {
  const fwd = op.forward.args.filter(isBuffer);
  const first = fwd.find((b) => b.role === 'input');
  if (first === undefined) throw new Error(`node: op ${op.name.spec} has no input`);
  const outputs = fwd.filter((b) => b.role === 'output');
  const residuals = fwd.filter((b) => b.role === 'residual');
  const vjpForward = fwd.map((b) => (b.role === 'input' ? rustIdentifier(b.name) : `&mut ${rustIdentifier(b.name)}`));
  const notCotangent = (b: Buffer) => b.name.spec !== inPlace.cotangent.spec;
  const backwardArgs = op.backward.args
    .filter(isBuffer)
    .filter(notCotangent)
    .map((b) => backwardArg(b, fwd));
  const ret = ' -> Result<(), Failure>';
  const [grad, cotangent] = [rustIdentifier(inPlace.grad), rustIdentifier(inPlace.cotangent)];
  return code`
    ${docComment(`Whether \`${grad}\` is \`${cotangent}\` itself (the same start and length, not empty): the core's \`backward_in_place\` then writes the gradient over the cotangent. Any other overlap of a written array stays an error.`)}
    fn rr_in_place<T>(grad: &[T], cotangent: &[T]) -> bool {
        !grad.is_empty()
            && std::ptr::eq(grad.as_ptr(), cotangent.as_ptr())
            && grad.len() == cotangent.len()
    }

    /// The VJP with the gradient written over the cotangent: the forward into scratch buffers,
    /// then the core's \`backward_in_place\`.
    ${rsFn('fn rr_vjp_in_place<T: Real + rr::Elem>', [...BODY_PARAMS, ...entryBuffers(op, 'vjp').filter(notCotangent).map(sliceParam)], ret)}
        ${[...outputs, ...residuals].map((b) => scratchLine(op, b, first))}
        ${rsCall('rr_op::forward', ['rr_shape', 'rr_params', ...vjpForward], 4, '?;')}
        ${rsCall('rr_op::backward_in_place', ['rr_shape', 'rr_params', ...backwardArgs], 4, '?;')}
        Ok(())
    }
  `;
}

/**
 * `rr::check_disjoint(RR_OP, &[…])?;` over the buffers of a call, at column `indent`. With
 * `inPlace`, the gradient may be its cotangent (that case took the in-place branch), so an overlap
 * of the two is reported as a partial one.
 */
function checkDisjoint(buffers: readonly Buffer[], indent: number, inPlace: OpIR['inPlaceVjp'] = null): string {
  const regions = buffers.filter((b) => !isBool(b)).map((b) =>
    inPlace !== null && b.name.spec === inPlace.grad.spec
      ? rsCall('rr::write_may_be', [`"${b.name.spec}"`, `&${rustIdentifier(b.name)}[..]`, `"${inPlace.cotangent.spec}"`], indent + 8, ',')
      : rsCall(`rr::${b.mutable ? 'write' : 'read'}`, [`"${b.name.spec}"`, `&${rustIdentifier(b.name)}[..]`], indent + 8, ','),
  );
  return code`
    rr::check_disjoint(
        RR_OP,
        &[
            ${regions}
        ],
    )?;
  `;
}

/**
 * The branch of a sync `backward` or `vjp` entry point for a gradient array that is the cotangent
 * array itself: the other buffers checked against it, then the core's `backward_in_place`.
 */
function renderInPlaceBranch(entry: Entry, buffers: readonly Buffer[], inPlace: NonNullable<OpIR['inPlaceVjp']>): string {
  const [grad, cotangent] = [rustIdentifier(inPlace.grad), rustIdentifier(inPlace.cotangent)];
  const others = buffers.filter((b) => b.name.spec !== inPlace.cotangent.spec);
  const args = ['rr_shape', '&rr_params', ...others.map(entryArg)];
  const call =
    entry === 'vjp'
      ? rsCall('return rr_vjp_in_place', args, 12, ';')
      : code`
          ${rsCall('rr_op::backward_in_place', args, 12, '?;')}
          return Ok(());
        `;
  return code`
    ${commentLines(`${grad} may be ${cotangent} itself: the gradient is then written over the cotangent.`, '// ', WIDTH - 8)}
    if rr_in_place(&${grad}, &${cotangent}) {
        ${checkDisjoint(others, 12)}
        // SAFETY: as below; the one array that holds the cotangent and receives the gradient is
        // borrowed once, mutably.
        ${others.filter((b) => b.mutable).map((b) => `let ${rustIdentifier(b.name)} = unsafe { ${rustIdentifier(b.name)}.as_mut() };`)}
        ${call}
    }
  `;
}

function entryDoc(op: OpIR, entry: Entry, dtype: TypeNames, isAsync: boolean): string[] {
  const what: Record<Entry, string> = {
    call: 'Forward, residuals kept inside the addon',
    forward: 'Forward, residuals written for a later backward',
    backward: 'Backward (VJP) from the saves and residuals of a forward',
    vjp: 'VJP: forward and backward in one call, residuals kept inside the addon',
    jvp: 'JVP: forward and forward-mode derivative in one call, residuals kept inside the addon',
    hvp: 'HVP: forward and the derivative of the VJP along tangents in one call, residuals kept inside the addon',
  };
  const how = isAsync ? ', as a job on the libuv pool (resolves once the outputs are written)' : '';
  return docComment(`${what[entry]}, of \`${op.name.spec}\` in ${rustType(dtype)}${how}.`);
}

function renderEntry(ir: IR, op: OpIR, entry: Entry, dtype: TypeNames, isAsync: boolean): string {
  const buffers = entryBuffers(op, entry);
  const scalars = entryScalars(op, entry);
  const written = buffers.filter((b) => b.mutable);
  const bools = buffers.filter(isBool);
  const read = buffers.filter((b) => !b.mutable && !isBool(b));
  const args = [
    'env: &Env',
    'batch: u32',
    'n: u32',
    ...op.params.map((p) => `${rustIdentifier(p.name)}: ${rustParamType(p, dtype)}`),
    ...scalars.map((a) => `${rustIdentifier(a.name)}: f64`),
    ...buffers.map((b) => {
      const array = napiArray(tsArrayOf(b, dtype, ir.types), !isAsync || !b.mutable);
      return `${b.mutable ? 'mut ' : ''}${rustIdentifier(b.name)}: ${b.optional ? `Option<${array}>` : array}`;
    }),
  ];
  // The body sits in `rr::run(…, || {`, and for a job in its closure as well.
  const indent = isAsync ? 12 : 8;
  const paramArgs = op.params.map((p) => matchParam(p, { enum: () => `&${rustIdentifier(p.name)}`, real: () => rustIdentifier(p.name), bool: () => rustIdentifier(p.name), int: () => rustIdentifier(p.name), list: () => `&${rustIdentifier(p.name)}` }));
  const slices = written.map((b) => `let ${rustIdentifier(b.name)} = unsafe { ${rustIdentifier(b.name)}.as_mut() };`);
  const bufferArgs = buffers.map(entryArg);
  // A param tangent is a JS number, in the call's dtype like the params.
  const scalarArgs = scalars.map((a) => `rr::real(${rustIdentifier(a.name)})`);
  const call =
    entry === 'call' || entry === 'vjp' || entry === 'jvp' || entry === 'hvp'
      ? rsCall(`rr_${entry}`, ['rr_shape', '&rr_params', ...scalarArgs, ...bufferArgs], indent)
      : code`
          ${rsCall(`rr_op::${entry}`, ['rr_shape', '&rr_params', ...bufferArgs], indent, '?;')}
          Ok(())
        `;
  const inPlace = inPlaceOf(op, entry, isAsync);
  const prelude = code`
    let rr_shape = rr::shape(batch, n);
    ${rsCall(`let rr_params = rr_params::<${rustType(dtype)}>`, paramArgs, 8, '?;')}
    ${bools.length === 0 ? null : '// The bools the core takes (nonzero = true), copied before any array is written.'}
    ${bools.map(boolCopy)}
    ${inPlace === null ? null : renderInPlaceBranch(entry, buffers, inPlace)}
    ${checkDisjoint(buffers, 8, inPlace)}
  `;
  const body = isAsync
    ? code`
        ${prelude}
        // Copied: the caller may change its arrays while the job runs.
        ${read.map((b) => `let ${rustIdentifier(b.name)} = ${rustIdentifier(b.name)}.to_vec();`)}
        Ok(rr::job(RR_OP, move || {
            // SAFETY: the TypeScript API allocated each written array for this call and hands it
            // to the caller only once the job has settled; the job keeps a reference to each (so
            // none is collected), and none overlaps another (checked above).
            ${slices}
            ${call}
        }))
      `
    : code`
        ${prelude}
        // SAFETY: the arrays are borrowed for this call, on the JS thread, and no written one
        // overlaps another buffer (checked above).
        ${slices}
        ${call}
      `;
  return code`
    ${entryDoc(op, entry, dtype, isAsync)}
    #[napi(js_name = "${nativeName(op, entry, dtype, isAsync)}")]
    ${rsFn(`pub fn ${rustName(op, entry, dtype, isAsync)}`, args, ` -> napi::Result<${isAsync ? 'AsyncTask<Job>' : '()'}>`)}
        rr::run(env, RR_OP, || {
            ${body}
        })
    }
  `;
}

function napiImports(ir: IR, op: OpIR): string[] {
  const names = new Set<string>();
  for (const dtype of op.variants.map((v) => v.dtype)) {
    for (const entry of opEntries(op)) {
      for (const isAsync of [false, true]) {
        if (isAsync && !ASYNC_ENTRIES.includes(entry)) continue;
        for (const b of entryBuffers(op, entry)) names.add(napiArray(tsArrayOf(b, dtype, ir.types), !isAsync || !b.mutable));
      }
    }
    for (const p of op.params) if (p.type === 'list') names.add(rustParamType(p, dtype));
  }
  return ['AsyncTask', ...[...names].sort()];
}

export function renderRustOp(ir: IR, op: OpIR): string {
  const entries = op.variants.flatMap((v) =>
    opEntries(op).flatMap((entry) => [
      renderEntry(ir, op, entry, v.dtype, false),
      ...(ASYNC_ENTRIES.includes(entry) ? [renderEntry(ir, op, entry, v.dtype, true)] : []),
    ]),
  );
  return file(
    banner(ir, 'slash'),
    ...docComment(`Node entry points of \`${op.name.spec}\`: ${op.summary}`, '//! '),
    '',
    '#![allow(clippy::too_many_arguments)]',
    '',
    rsUse('napi::bindgen_prelude', napiImports(ir, op)),
    'use napi::Env;',
    'use napi_derive::napi;',
    `use rank_relax::ops::${rustIdentifier(op.name)} as rr_op;`,
    'use rank_relax::{Real, Shape};',
    '',
    'use crate::plumbing::{self as rr, Failure, Job};',
    '',
    `const RR_OP: &str = "${op.name.spec}";`,
    '',
    renderParams(op),
    '',
    renderBodies(op),
    '',
    join(entries, '\n\n'),
  );
}

export function renderRustMod(ir: IR): string {
  const fallback = ir.status.find((s) => s.name.spec === 'invalid_argument')?.c ?? 'RR_ERR_PANIC';
  return file(
    banner(ir, 'slash'),
    '//! The addon\'s entry points generated from the spec: one module per op, the ABI constants,',
    '//! the error codes (the C ABI\'s status names, set as `code` on every JS error).',
    '',
    ...ir.ops.map((op) => `pub mod ${rustIdentifier(op.name)};`),
    '',
    `/// Library version (the spec's package version).`,
    `pub const VERSION: &str = "${ir.package.version}";`,
    `/// ABI version (the spec's \`abi_version\`).`,
    `pub const ABI_VERSION: u32 = ${ir.package.abiVersion};`,
    '/// sha256 of the canonical JSON of the ABI surface, first 64 bits; the package checks it.',
    `pub const ABI_HASH: &str = "${ir.package.abiHash}";`,
    '',
    ...ir.status.filter((s) => s.code !== 0).flatMap((s) => [...docComment(s.doc), `pub const ${s.c}: &str = "${s.c}";`]),
    '',
    '/// The `code` of a JS error for an error kind of the core.',
    'pub fn code_of(kind: rank_relax::ErrorKind) -> &\'static str {',
    '    #[allow(unreachable_patterns)]',
    '    match kind {',
    ...ir.status.filter((s) => s.coreKind !== null).map((s) => `        rank_relax::ErrorKind::${s.coreKind} => ${s.c},`),
    `        _ => ${fallback},`,
    '    }',
    '}',
  );
}
