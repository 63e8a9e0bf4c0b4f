// src/generated/binding.ts: the type of the addon's op entry points (what crates/rank-relax-node
// exports), the constants the loader checks the addon against, and the error codes (the C ABI's
// status names, which the addon and the API set as `code` on their errors).
import { code, file } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { IR, OpIR, TypeNames } from '../../ir/types.ts';
import { tsDoc } from './docs.ts';
import { ASYNC_ENTRIES, bindingParamType, type Entry, entryScalars, nativeName, opEntries, tsArrayOf, tsName } from './names.ts';
import { entryBuffers, inPlaceOf } from './rust.ts';

const WHAT: Record<Entry, string> = {
  call: 'Forward, residuals kept inside the addon',
  forward: 'Forward, residuals written for a later backward',
  backward: 'Backward (VJP) from the saves and residuals of a forward',
  vjp: 'VJP: forward and backward in one call',
  jvp: 'JVP: forward and forward-mode derivative in one call',
  hvp: 'HVP: forward and the derivative of the VJP along tangents in one call',
};

function renderEntry(ir: IR, op: OpIR, entry: Entry, dtype: TypeNames, isAsync: boolean): string {
  const args = [
    'batch: number',
    'n: number',
    ...op.params.map((p) => `${tsName(p.name)}: ${bindingParamType(p, dtype)}`),
    ...entryScalars(op, entry).map((s) => `${tsName(s.name)}: number`),
    // An optional buffer (a mask) is null when the caller gave none.
    ...entryBuffers(op, entry).map((b) => `${tsName(b.name)}: ${tsArrayOf(b, dtype, ir.types)}${b.optional ? ' | null' : ''}`),
  ];
  const doc = `${WHAT[entry]}, of \`${op.name.spec}\` in ${dtype.id}${isAsync ? ' on the libuv pool' : ''}; writes the output arrays.`;
  const inPlace = inPlaceOf(op, entry, isAsync);
  const docBlock =
    inPlace === null
      ? `/** ${doc} */`
      : tsDoc([
          `${doc} \`${tsName(inPlace.grad)}\` may be \`${tsName(inPlace.cotangent)}\` itself (the same memory): the gradient is then written over the cotangent (the core's \`backward_in_place\`). Any other overlap of a written array with another array throws a TypeError.`,
        ]);
  return code`
    ${docBlock}
    ${nativeName(op, entry, dtype, isAsync)}(
      ${args.map((a) => `${a},`)}
    ): ${isAsync ? 'Promise<void>' : 'void'};
  `;
}

export function renderBinding(ir: IR): string {
  const entries = ir.ops.flatMap((op) =>
    op.variants.flatMap((v) =>
      opEntries(op).flatMap((entry) => [
        renderEntry(ir, op, entry, v.dtype, false),
        ...(ASYNC_ENTRIES.includes(entry) ? [renderEntry(ir, op, entry, v.dtype, true)] : []),
      ]),
    ),
  );
  return file(
    banner(ir, 'slash'),
    '// The op entry points of the native addon (crates/rank-relax-node) and the ABI it must have.',
    '',
    tsDoc([`Version of ${ir.package.name} (the spec's package version).`]),
    `export const VERSION = '${ir.package.version}';`,
    '',
    tsDoc(["ABI version (the spec's `abi_version`)."]),
    `export const ABI_VERSION = ${ir.package.abiVersion};`,
    '',
    tsDoc(['Hash of the ABI this package was generated for; the addon must report the same.']),
    `export const ABI_HASH = '${ir.package.abiHash}';`,
    '',
    "// The `code` of the errors the addon and the API throw: the C ABI's status names.",
    ...ir.status.filter((s) => s.code !== 0).flatMap((s) => [tsDoc([s.doc]), `export const ${s.c} = '${s.c}';`, '']),
    tsDoc([
      'The op entry points of the addon. Buffers are flat and row-major; the caller allocates every ' +
        'written array. Use the typed API (softRank, …), which checks every argument first.',
    ]),
    'export interface OpBinding {',
    entries.join('\n').replace(/^(?=.)/gm, '  '),
    '}',
  );
}
