// The Node target: the Rust glue of the rank-relax-node addon (napi-rs v3) and the generated half
// of the @rank-relax/node package (binding type, enums, one module per op with its typed API).
// Hand-written parts (plumbing.rs, lib.rs, src/index.ts, native.ts, runtime.ts, tests) are not owned.
import type { Emitter } from '../../emit/types.ts';
import { renderEnums, renderIndex, renderOp } from './api.ts';
import { renderBinding } from './binding.ts';
import { describeNode } from './describe.ts';
import { RUST_DIR, TS_DIR } from './names.ts';
import { renderRustMod, renderRustOp } from './rust.ts';
import { INT_INPUTS } from '../../emit/capabilities.ts';
import { renderMessages } from './messages.ts';

const opFile = (op: { readonly name: { readonly snake: string } }) => `ops/${op.name.snake}.js`;

export const nodeEmitter: Emitter = {
  name: 'node',
  description: 'Node: the rank-relax-node napi-rs glue, the @rank-relax/node typed API',
  owns: [`${RUST_DIR}/`, `${TS_DIR}/`],
  // Row dims n, a list's length and an int param's value (the checked arguments carry each dim;
  // buffers are allocated and checked from their shapes). One output is returned as its array,
  // several as an object of them by name (an int32 one an Int32Array); the VJP takes a cotangent per
  // differentiable output. An optional input is an option of every function; a bool one a
  // Uint8Array or an array of booleans.
  capabilities: INT_INPUTS,
  emit: (ir) => [
    { path: `${RUST_DIR}/mod.rs`, contents: renderRustMod(ir) },
    ...ir.ops.map((op) => ({ path: `${RUST_DIR}/${op.name.snake}.rs`, contents: renderRustOp(ir, op) })),
    { path: `${TS_DIR}/binding.ts`, contents: renderBinding(ir) },
    { path: `${TS_DIR}/enums.ts`, contents: renderEnums(ir) },
    { path: `${TS_DIR}/messages.ts`, contents: renderMessages(ir) },
    ...ir.ops.map((op) => ({ path: `${TS_DIR}/${opFile(op).replace(/\.js$/, '.ts')}`, contents: renderOp(ir, op) })),
    { path: `${TS_DIR}/index.ts`, contents: renderIndex(ir, opFile) },
  ],
  describe: describeNode,
};
