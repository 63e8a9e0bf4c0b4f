// Facts of the C ABI that are not in the spec: status codes, runtime functions, the library's name.
// They are part of the IR (and of the ABI hash) so every binding reads them from one place.
import { cConstant, cSymbol, ident, TYPES } from './names.ts';
import type { RuntimeIR, StatusIR, TypeNames } from './types.ts';

export const NATIVE = { libName: 'rank_relax_c', header: 'rank_relax.h', crate: 'rank-relax-ffi' } as const;

const STATUS: readonly [name: string, code: number, coreKind: string | null, doc: string][] = [
  ['ok', 0, null, 'Success.'],
  ['invalid_value', 1, 'InvalidValue', 'A value in a buffer is unusable: NaN, ±inf, a negative relevance, a corrupt residual.'],
  [
    'invalid_argument',
    2,
    'InvalidArgument',
    'A parameter is out of range (ε ≤ 0, an unknown enum code, too few items per row), or a buffer is misaligned or overlaps a written one.',
  ],
  ['shape_mismatch', 3, 'ShapeMismatch', 'A buffer length does not match the shape, or batch × n overflows.'],
  ['null_pointer', 4, null, 'A pointer is NULL although its buffer has elements.'],
  ['panic', 5, null, 'An internal error (a Rust panic, caught at the boundary). Please report it.'],
];

export function statusCodes(): StatusIR[] {
  return STATUS.map(([name, code, coreKind, doc]) => ({
    name: ident(name),
    code,
    c: name === 'ok' ? cConstant('ok') : cConstant('err', name),
    doc,
    coreKind,
  }));
}

function fn(name: string, returns: TypeNames, doc: string, args: [string, TypeNames][] = []) {
  return { name: ident(name), cSymbol: cSymbol(name), returns, args: args.map(([n, t]) => ({ name: ident(n), type: t })), doc };
}

export function runtime(): RuntimeIR {
  return {
    lastError: fn(
      'last_error',
      TYPES.cstr,
      'The message of the last failed call on this thread ("" if none failed). The pointer stays valid until the next failing call on the same thread.',
    ),
    version: fn('version', TYPES.cstr, 'The library version, e.g. "0.1.0" (a static string).'),
    abiVersion: fn('abi_version', TYPES.u32, 'The ABI version the library was built for; compare with RR_ABI_VERSION.'),
    abiHash: fn(
      'abi_hash',
      TYPES.u64,
      'Hash of every signature, enum code and status code of this ABI; compare with RR_ABI_HASH to refuse a library generated from another spec.',
    ),
    setNumThreads: fn(
      'set_num_threads',
      TYPES.i32,
      'Caps the threads that process rows in parallel (0 = the default: RANK_RELAX_NUM_THREADS, else the number of cores). Returns a status.',
      [['num_threads', TYPES.size]],
    ),
  };
}
