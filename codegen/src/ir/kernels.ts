// The kernels an op has: forward and backward always, the JVP and the HVP where the spec declares them.
import { assertNever } from '../util/never.ts';
import type { KernelIR, OpIR, Pass, VariantIR, VariantKernelIR } from './types.ts';

/** An op's kernels in ABI order: forward, backward, then the JVP and the HVP if it has them. */
export function opKernels(op: OpIR): KernelIR[] {
  return [op.forward, op.backward, op.jvp, op.hvp].filter((k): k is KernelIR => k !== null);
}

/** A variant's kernels in ABI order, as `opKernels`. */
export function kernelsOf(v: VariantIR): VariantKernelIR[] {
  return [v.forward, v.backward, v.jvp, v.hvp].filter((k): k is VariantKernelIR => k !== null);
}

/** How docs and generated comments name a pass: `Forward`, `Backward (VJP)`, … */
export function passTitle(pass: Pass): string {
  switch (pass) {
    case 'forward':
      return 'Forward';
    case 'backward':
      return 'Backward (VJP)';
    case 'jvp':
      return 'Forward-mode derivative (JVP)';
    case 'hvp':
      return 'Second-order derivative (HVP)';
    default:
      return assertNever(pass, 'pass');
  }
}
