// The Python target: the pyo3 glue and the XLA FFI handlers of crates/rank-relax-python, and the
// generated modules of the `rank_relax` package (NumPy API, PyTorch custom ops, JAX custom_vjp functions, the native
// module's stub, the ABI constants) plus the op table of its test suite. Hand-written files beside
// them (lib.rs, plumbing.rs, __init__.py, _plumbing.py, …) are not owned.
import type { Emitter } from '../../emit/types.ts';
import { describePython } from './describe.ts';
import { PACKAGE_DIR, RUST_GLUE, TEST_TABLE, XLA_GLUE } from './layout.ts';
import { renderAbi, renderNumpy } from './numpy.ts';
import { renderJax } from './jax.ts';
import { JAX_SHARDING_TABLE, renderJaxShardingTable } from './jax-sharding.ts';
import { renderRustGlue } from './rust.ts';
import { renderMessages } from './messages.ts';
import { renderStub } from './stub.ts';
import { renderTestTable } from './table.ts';
import { renderTorch } from './torch.ts';
import { renderXlaGlue } from './xla.ts';
import { INT_INPUTS } from '../../emit/capabilities.ts';

const FILES = {
  rust: RUST_GLUE,
  xla: XLA_GLUE,
  abi: `${PACKAGE_DIR}/_abi.py`,
  messages: `${PACKAGE_DIR}/_messages.py`,
  numpy: `${PACKAGE_DIR}/_generated.py`,
  stub: `${PACKAGE_DIR}/_native.pyi`,
  torch: `${PACKAGE_DIR}/torch/_generated.py`,
  jax: `${PACKAGE_DIR}/jax/_generated.py`,
  jaxSharding: JAX_SHARDING_TABLE,
  table: TEST_TABLE,
} as const;

export const pythonEmitter: Emitter = {
  name: 'python',
  description: 'Python: pyo3 glue and XLA FFI handlers (rank-relax-python), rank_relax NumPy/torch/JAX modules, JAX sharding table, stub, test table',
  owns: Object.values(FILES),
  capabilities: INT_INPUTS,
  emit: (ir) => [
    { path: FILES.rust, contents: renderRustGlue(ir) },
    { path: FILES.xla, contents: renderXlaGlue(ir) },
    { path: FILES.abi, contents: renderAbi(ir) },
    { path: FILES.messages, contents: renderMessages(ir) },
    { path: FILES.numpy, contents: renderNumpy(ir) },
    { path: FILES.stub, contents: renderStub(ir) },
    { path: FILES.torch, contents: renderTorch(ir) },
    { path: FILES.jax, contents: renderJax(ir) },
    { path: FILES.jaxSharding, contents: renderJaxShardingTable(ir) },
    { path: FILES.table, contents: renderTestTable(ir) },
  ],
  describe: describePython,
};
