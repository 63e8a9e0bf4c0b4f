// bindings-spec/rank-relax.schema.json, generated from the zod schema (zod 4 toJSONSchema) so that
// editors validate the YAML (see its `yaml-language-server` modeline). Not an emitter: it comes from
// the schema, not from a spec.
import { z } from 'zod';

import type { GeneratedFile } from '../emit/types.ts';
import { canonicalJson } from '../ir/abi-hash.ts';
import { generatedNotice } from '../ir/normalise.ts';
import { Spec } from './schema.ts';

export const SCHEMA_PATH = 'bindings-spec/rank-relax.schema.json';

/** Keys in a readable order at the top, the rest sorted; nested objects keep zod's order. */
export function jsonSchema(): object {
  const schema = z.toJSONSchema(Spec, { target: 'draft-2020-12', unrepresentable: 'any', io: 'input' });
  return { $comment: generatedNotice('codegen/src/spec/schema.ts'), ...schema };
}

export function schemaFile(): GeneratedFile {
  // Canonical key order, then pretty-printed, so the bytes do not depend on zod's key order.
  const text = JSON.stringify(JSON.parse(canonicalJson(jsonSchema())), null, 2);
  return { path: SCHEMA_PATH, contents: `${text}\n` };
}
