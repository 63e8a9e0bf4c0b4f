// crates/rank-relax/src/ops/list.rs: one `pub mod` per op of the spec, included by the hand-written
// ops/mod.rs, so a new op's kernel file is picked up from its spec entry alone.
import { file } from '../../emit/code.ts';
import { rustIdentifier } from '../../emit/rust.ts';
import { banner } from '../../emit/text.ts';
import type { IR } from '../../ir/types.ts';

export const CORE_MODULES = 'crates/rank-relax/src/ops/list.rs';

export function renderCoreModules(ir: IR): string {
  return file(
    banner(ir, 'slash'),
    '// The op modules of the core, one per op of the spec (`ops/<op>.rs`); `ops/mod.rs` includes it.',
    '',
    ...ir.ops.map((op) => `pub mod ${rustIdentifier(op.name)};`),
  );
}
