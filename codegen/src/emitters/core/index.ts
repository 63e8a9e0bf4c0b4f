// The core target: what mirrors the spec in the Rust crates' tests. The core's op and enum table
// with each op's `Params` from the spec's defaults (tests/common/generated.rs; tests/spec_mirror.rs
// fails when the core's `Params::default()` or enums disagree), and the C ABI fuzz harness's op
// table. The core itself (params structs, enums.rs) stays hand-written.
import { DESCRIPTIONS } from '../../emit/capabilities.ts';
import type { Emitter } from '../../emit/types.ts';
import { FUZZ_TABLE, renderFuzzTable } from './fuzz.ts';
import { CORE_DISPATCH, renderCoreDispatch } from './dispatch.ts';
import { CORE_TABLE, renderCoreTable } from './table.ts';

export const coreEmitter: Emitter = {
  name: 'core',
  description: "Rust test tables: the core's spec mirror (tests/common/generated.rs), the C ABI fuzz harness's op table",
  owns: [CORE_TABLE, CORE_DISPATCH, FUZZ_TABLE],
  capabilities: DESCRIPTIONS,
  emit: (ir) => [
    { path: CORE_TABLE, contents: renderCoreTable(ir) },
    { path: CORE_DISPATCH, contents: renderCoreDispatch(ir) },
    { path: FUZZ_TABLE, contents: renderFuzzTable(ir) },
  ],
};
