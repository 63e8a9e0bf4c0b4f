// The kernels an op has: forward and backward always, the JVP where the spec declares it.
import type { KernelIR, OpIR, VariantIR, VariantKernelIR } from './types.ts';

/** An op's kernels in ABI order: forward, backward, then the JVP if it has one. */
export function opKernels(op: OpIR): KernelIR[] {
  return [op.forward, op.backward, ...(op.jvp === null ? [] : [op.jvp])];
}

/** A variant's kernels in ABI order, as `opKernels`. */
export function kernelsOf(v: VariantIR): VariantKernelIR[] {
  return [v.forward, v.backward, ...(v.jvp === null ? [] : [v.jvp])];
}
