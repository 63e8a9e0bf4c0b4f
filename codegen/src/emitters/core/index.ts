// The core target: what mirrors the spec in the core and the Rust crates' tests. The list of op
// modules (src/ops/list.rs), the core's op and enum table with each op's `Params` from the spec's
// defaults (tests/common/generated.rs; tests/spec_mirror.rs fails when the core's
// `Params::default()` or enums disagree), the tests' dispatch over every op
// (tests/common/dispatch.rs) and the C ABI fuzz harness's op table. The kernels, their params
// structs and enums.rs stay hand-written.
import { DESCRIPTIONS } from '../../emit/capabilities.ts';
import type { Emitter } from '../../emit/types.ts';
import { FUZZ_TABLE, renderFuzzTable } from './fuzz.ts';
import { CORE_DISPATCH, renderCoreDispatch } from './dispatch.ts';
import { CORE_MODULES, renderCoreModules } from './modules.ts';
import { CORE_TABLE, renderCoreTable } from './table.ts';

export const coreEmitter: Emitter = {
  name: 'core',
  description: "The core's op module list and Rust test tables: the spec mirror, the tests' dispatch over every op, the C ABI fuzz harness's op table",
  owns: [CORE_MODULES, CORE_TABLE, CORE_DISPATCH, FUZZ_TABLE],
  capabilities: DESCRIPTIONS,
  emit: (ir) => [
    { path: CORE_MODULES, contents: renderCoreModules(ir) },
    { path: CORE_TABLE, contents: renderCoreTable(ir) },
    { path: CORE_DISPATCH, contents: renderCoreDispatch(ir) },
    { path: FUZZ_TABLE, contents: renderFuzzTable(ir) },
  ],
};
