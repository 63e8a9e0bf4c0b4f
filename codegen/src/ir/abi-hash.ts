// The ABI hash: sha256 of the canonical JSON of the ABI surface (every C symbol with its argument
// names, types, shapes and order; enum and status codes; the ABI version), truncated to 64 bits.
// Docs, defaults and examples are not part of it: changing them does not break a built library.
import { createHash } from 'node:crypto';

import { assertNever } from '../util/never.ts';
import type { ArgIR, EnumIR, OpIR, StatusIR } from './types.ts';
import { cEnumConstant, cType } from './names.ts';
import { kernelsOf } from './kernels.ts';

/** JSON with object keys sorted at every level; arrays keep their order. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object' && value !== null) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((value as Record<string, unknown>)[k])}`).join(',')}}`;
  }
  const text = JSON.stringify(value);
  if (text === undefined) throw new Error(`canonicalJson: cannot encode ${typeof value}`);
  return text;
}

/**
 * What besides name, kind and C type fixes an argument's ABI. Features added after ABI 1 (optional
 * buffers, list params) only add entries when used, so the hash of a spec without them is unchanged.
 */
function argLayout(a: ArgIR): unknown {
  switch (a.kind) {
    case 'dim':
    case 'scalar':
      return null;
    case 'param':
      return a.param.type === 'list' ? ['list'] : null;
    case 'buffer':
      return a.optional ? [a.shape.text, a.mutable, 'optional'] : [a.shape.text, a.mutable];
    default:
      return assertNever(a, 'argument kind');
  }
}

export function abiSurface(abiVersion: number, enums: readonly EnumIR[], ops: readonly OpIR[], status: readonly StatusIR[]): unknown {
  return {
    abi_version: abiVersion,
    enums: enums.map((e) => ({ name: e.name.spec, values: e.values.map((v) => [cEnumConstant(e, v), v.code]) })),
    status: status.map((s) => [s.c, s.code]),
    functions: ops.flatMap((op) =>
      op.variants.flatMap((v) =>
        kernelsOf(v).map((k) => ({
          symbol: k.cSymbol,
          args: k.args.map((a) => [a.name.spec, a.kind, cType(a.type), argLayout(a)]),
        })),
      ),
    ),
  };
}

/** `0x` + the first 16 hex digits of sha256(canonical JSON). */
export function abiHash(surface: unknown): string {
  return `0x${createHash('sha256').update(canonicalJson(surface)).digest('hex').slice(0, 16)}`;
}
