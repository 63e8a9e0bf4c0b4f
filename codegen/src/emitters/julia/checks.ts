// What the Julia emitter supports of the spec's shapes, checked up front so that an unsupported op
// fails the generator with a clear message instead of producing wrong Julia.
import type { OpIR } from '../../ir/types.ts';

export function checkSupported(op: OpIR): void {
  const problems: string[] = [];
  for (const x of op.inputs) {
    if (x.shape.perRow) problems.push(`input ${x.name.spec} has shape ${x.shape.text}; only [batch, n] inputs are supported`);
  }
  if (op.outputs.length !== 1) problems.push(`it has ${op.outputs.length} outputs; only ops with one output are supported`);
  if (problems.length > 0) {
    throw new Error(`julia emitter: op ${op.name.spec}: ${problems.join('; ')}`);
  }
}
