// spec file → validated Spec → IR → every producer's files → Plan. No writing here.
import { posix, relative, resolve } from 'node:path';

import { makePlan, runEmitters, type Plan, type Producer } from './emit/plan.ts';
import { emitters as registered } from './emit/registry.ts';
import type { Emitter } from './emit/types.ts';
import { normalise } from './ir/normalise.ts';
import type { IR } from './ir/types.ts';
import { schemaFile, SCHEMA_PATH } from './spec/json-schema.ts';
import { loadSpec, specFromText } from './spec/load.ts';

export const DEFAULT_SPEC = 'bindings-spec/rank-relax.yaml';

/** The JSON Schema as a producer beside the emitters (it comes from zod, not from the IR). */
export function schemaProducer(): Producer {
  return { name: 'schema', owns: [SCHEMA_PATH], files: [schemaFile()] };
}

export function irFromText(text: string, source: string): IR {
  return normalise(specFromText(text, source), source);
}

export async function loadIr(root: string, specPath: string): Promise<IR> {
  const source = relative(root, resolve(root, specPath)).split('\\').join('/');
  const spec = await loadSpec(resolve(root, specPath), posix.normalize(source));
  return normalise(spec, posix.normalize(source));
}

export function planFor(ir: IR, emitters: readonly Emitter[] = registered, withSchema = true): Plan {
  return makePlan([...(withSchema ? [schemaProducer()] : []), ...runEmitters(ir, emitters)]);
}
