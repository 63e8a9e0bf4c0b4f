// Programmatic API of the generator (used by tests and by other tools).
export { code, file, join, type Fragment } from './emit/code.ts';
export { emitters } from './emit/registry.ts';
export type { Emitter, GeneratedFile } from './emit/types.ts';
export { banner, commentLines, wrap } from './emit/text.ts';
export type * from './ir/types.ts';
export { normalise } from './ir/normalise.ts';
export { irFromText, loadIr, planFor } from './pipeline.ts';
export { validateSpec } from './spec/validate.ts';
export { main } from './cli.ts';
