// The C target: the header, the Rust glue of the rank-relax-ffi crate, and the op table of its C
// test program. Hand-written parts of the crate (plumbing.rs, lib.rs, tests, demo) are not owned.
import type { Emitter } from '../../emit/types.ts';
import { describeC } from './describe.ts';
import { INCLUDE_DIR, RUST_DIR, TEST_DIR } from './decl.ts';
import { renderTestTable } from './harness.ts';
import { renderHeader } from './header.ts';
import { renderRustMod, renderRustOp } from './rust.ts';
import { INT_INPUTS } from '../../emit/capabilities.ts';

export const cEmitter: Emitter = {
  name: 'c',
  description: 'C ABI: include/rank_relax.h, the rank-relax-ffi glue, the C test table',
  owns: [`${INCLUDE_DIR}/`, `${RUST_DIR}/`, `${TEST_DIR}/`],
  // Generic over the kernel's arguments: any number of outputs, each a caller-allocated buffer
  // (`int32_t *` for an int32 one), a cotangent or tangent only for a differentiable one. A
  // shape's extent is a product of arguments (n, a list's length, an int param's value, checked
  // against the param's bounds before it sizes a buffer). An optional input is a pointer that may
  // be NULL; a bool one is `const bool *`.
  capabilities: INT_INPUTS,
  emit: (ir) => [
    { path: `${INCLUDE_DIR}/${ir.native.header}`, contents: renderHeader(ir) },
    { path: `${RUST_DIR}/mod.rs`, contents: renderRustMod(ir) },
    ...ir.ops.map((op) => ({ path: `${RUST_DIR}/${op.name.snake}.rs`, contents: renderRustOp(ir, op) })),
    { path: `${TEST_DIR}/rr_ops_table.h`, contents: renderTestTable(ir) },
  ],
  describe: describeC,
};
