// The top of src/generated.jl: banner, exports, the ABI constants the loader checks, the tables of
// C entry points it binds, the runtime functions (rr_last_error, …) and the status → exception map.
import { juliaName, juliaType } from './names.ts';
import { code } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import { kernelsOf } from '../../ir/kernels.ts';
import type { IR, RuntimeFnIR, TypeNames } from '../../ir/types.ts';
import type { MessageIR } from '../../ir/messages.ts';
import { comment, docstring, opNames, P, packed, para, PC, tuple, WIDTH } from './syntax.ts';

export function renderPrelude(ir: IR): string {
  const exports = ir.ops.map((op) => {
    const n = opNames(op);
    const jvp = op.jvp === null ? [] : [n.jvp, n.pushforward];
    const hvp = op.hvp === null ? [] : [n.hvp, n.pullbackHvp];
    return packed('export ', [n.fn, n.forward, n.forwardInto, n.pullback, n.pullbackInto, ...jvp, ...hvp, n.tape], '', 4);
  });
  return code`
    ${banner(ir, 'hash')}
    #
    ${comment(
      'The ccall layer, public API, pullbacks and pushforwards of RankRelax, included by src/RankRelax.jl (hand-written: ' +
        'the library loader and ABI check, RankRelaxError, the array helpers this file calls).',
    )}

    ${exports}

    ${docstring(para(`Version of ${ir.package.name} these bindings were generated for (the spec's \`package.version\`).`))}
    const ${PC}VERSION = "${ir.package.version}"
    ${comment('The ABI the loader requires of the library (rr_abi_version(), rr_abi_hash()).')}
    const ${PC}ABI_VERSION = UInt32(${ir.package.abiVersion})
    const ${PC}ABI_HASH = ${ir.package.abiHash}
    ${comment(`Base name of the C library: lib${ir.native.libName}.so, lib${ir.native.libName}.dylib, ${ir.native.libName}.dll.`)}
    const ${PC}LIBNAME = "${ir.native.libName}"
  `;
}

function fptrTable(name: string, symbols: readonly string[]): string {
  return code`
    const ${name} = (
        ${symbols.map((s) => `${s} = Ref{Ptr{Cvoid}}(C_NULL),`)}
    )
  `;
}

/** The two tables of function pointers the loader fills with `dlsym`: runtime first, then kernels. */
export function renderTables(ir: IR): string {
  const runtime = Object.values(ir.runtime).map((fn) => fn.cSymbol);
  const kernels = ir.ops.flatMap((op) => op.variants.flatMap((v) => kernelsOf(v).map((k) => k.cSymbol)));
  return code`
    ${comment(
      'Addresses of the C functions, by symbol, filled by the loader (src/RankRelax.jl) with dlsym: ' +
        'the runtime functions first (to check the ABI), then the kernels. Every ccall below goes through them.',
    )}
    ${fptrTable(`${PC}RUNTIME_FNS`, runtime)}
    ${fptrTable(`${PC}KERNEL_FNS`, kernels)}
  `;
}

function ccallType(t: TypeNames): string {
  return juliaType(t);
}

function renderRuntimeFn(fn: RuntimeFnIR): string {
  const params = fn.args.map((a) => `${juliaName(a.name)}::Integer`);
  const types = tuple(fn.args.map((a) => ccallType(a.type)));
  const ccall = `ccall(${[`${PC}RUNTIME_FNS.${fn.cSymbol}[]`, ccallType(fn.returns), types, ...fn.args.map((a) => juliaName(a.name))].join(', ')})`;
  const body = fn.returns.id === 'cstr' ? `unsafe_string(${ccall})` : ccall;
  const head = `${P}${fn.name.snake}(${params.join(', ')}) =`;
  return code`
    ${comment(`${fn.cSymbol}: ${fn.doc}`)}
    ${head.length + 1 + body.length <= WIDTH ? `${head} ${body}` : `${head}\n    ${body}`}
  `;
}

/** The tape of a call with items along another axis: every op's `_pullback` has a method for it. */
const AXIS_TAPE_DOC = [
  '    RankRelax.AxisTape{P,N,S}',
  '',
  ...para(
    'The tape of a call whose items lie along `dims` of an `N`-dimensional array (anything but the first axis ' +
      'of a `Vector` or `Matrix`): the op\'s own tape `tape` of the `n × B` matrix the call ran on (the items ' +
      'axis first, the other axes flattened into `B`), `dims`, the caller\'s input size `size` and output size ' +
      '`output_size` (a NamedTuple of the sizes of an op with several outputs). The op\'s `_pullback` takes it and returns gradients in the caller\'s layout; the `!` ' +
      'forms do not.',
  ),
];

export function renderRuntime(ir: IR): string {
  const fns = Object.values(ir.runtime);
  const threads = ir.runtime.setNumThreads;
  const arg = threads.args[0];
  if (arg === undefined) throw new Error('julia emitter: set_num_threads takes one argument');
  return code`
    ${fns.map((fn) => renderRuntimeFn(fn))}

    ${docstring([
      `    ${juliaName(threads.name)}(${juliaName(arg.name)}::Integer)`,
      '',
      ...para(threads.doc.replace(/ Returns a status\.$/, '')),
      '',
      'Throws `ArgumentError` with the library\'s message if the value is refused.',
    ])}
    function ${juliaName(threads.name)}(${juliaName(arg.name)}::Integer)
        ${P}status = ${P}${threads.name.snake}(${juliaName(arg.name)})
        ${P}status == Int32(0) || ${P}throw(${P}status)
        return nothing
    end

    ${docstring(AXIS_TAPE_DOC)}
    struct AxisTape{P,N,S}
        tape::P
        dims::Int
        size::NTuple{N,Int}
        output_size::S
    end
  `;
}

/** Status codes of the core's error kinds become ArgumentError; the others RankRelaxError. */
export function renderStatus(ir: IR): string {
  const ok = ir.status.find((s) => s.coreKind === null && s.code === 0);
  if (ok === undefined) throw new Error('julia emitter: no OK status');
  const argument = ir.status.filter((s) => s.coreKind !== null);
  const other = ir.status.filter((s) => s.coreKind === null && s !== ok);
  return code`
    ${comment(
      `The exception for a failed call: the core's error kinds (${argument.map((s) => s.name.snake).join(', ')}) ` +
        `become ArgumentError, the others (${other.map((s) => s.name.snake).join(', ')}) RankRelaxError; ` +
        'the message is the library\'s (rr_last_error()).',
    )}
    function ${P}throw(status::Int32)
        message = ${P}last_error()
        ${argument.map((s) => `status == Int32(${s.code}) && throw(ArgumentError(message))  # ${s.c}`)}
        throw(RankRelaxError(status, message))
    end
  `;
}


/** A Julia string literal of spec text (`$` and `"` escaped). */
function juliaStr(text: string): string {
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\$/g, '\\$')}"`;
}

function renderMessage(name: string, m: MessageIR): string {
  const pieces = m.parts.map((p) => ('field' in p ? p.field : juliaStr(p.text)));
  const body = pieces.length === 1 && m.fields.length === 0 ? pieces[0] : `string(${pieces.join(', ')})`;
  return `${P}${name}(${m.fields.join(', ')})::String = ${body}`;
}

/** The spec's message table: what the API says when it refuses a call before the core. */
export function renderMessages(ir: IR): string {
  return code`
    ${comment(
      "The spec's message table: the text of each check the API makes before the library (msg_*) and " +
        'the words that describe an offending value (got_*), shared by every binding.',
    )}
    ${ir.messages.checks.map((m) => renderMessage(`msg_${m.name}`, m))}
    ${ir.messages.values.map((m) => renderMessage(`got_${m.name}`, m))}
  `;
}
