// The one list of targets. Adding a target: a folder under src/emitters/ exporting an `Emitter`,
// and one line here.
import { cEmitter } from '../emitters/c/index.ts';
import { coreEmitter } from '../emitters/core/index.ts';
import { docsEmitter } from '../emitters/docs/index.ts';
import { juliaEmitter } from '../emitters/julia/index.ts';
import { nodeEmitter } from '../emitters/node/index.ts';
import { pythonEmitter } from '../emitters/python/index.ts';
import type { Emitter } from './types.ts';

export const emitters: readonly Emitter[] = [
  cEmitter,
  coreEmitter,
  docsEmitter,
  juliaEmitter,
  nodeEmitter,
  pythonEmitter,
];
