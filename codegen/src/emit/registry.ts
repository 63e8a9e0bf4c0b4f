// The one list of targets. Adding a target: a folder under src/emitters/ exporting an `Emitter`,
// and one line here.
import { cEmitter } from '../emitters/c/index.ts';
import { coreEmitter } from '../emitters/core/index.ts';
import { docsEmitter } from '../emitters/docs/index.ts';
import { juliaEmitter } from '../emitters/julia/index.ts';
import { nodeEmitter } from '../emitters/node/index.ts';
import { pythonEmitter } from '../emitters/python/index.ts';
import type { Emitter } from './types.ts';

/** The language targets; the docs emitter documents them from their `describe` hooks. */
const targets: readonly Emitter[] = [cEmitter, coreEmitter, juliaEmitter, nodeEmitter, pythonEmitter];

export const emitters: readonly Emitter[] = [
  cEmitter,
  coreEmitter,
  docsEmitter(targets),
  juliaEmitter,
  nodeEmitter,
  pythonEmitter,
];
