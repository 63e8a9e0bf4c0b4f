// The repository around the generator: .gitattributes marks every generated path, the spec points
// editors at its JSON Schema, and the committed schema is the one zod gives.
import { describe, expect, it } from 'vitest';

import { planFor } from '../src/pipeline.ts';
import { schemaFile } from '../src/spec/json-schema.ts';
import { readRepo, SPEC_PATH, specIr } from './helpers.ts';

describe('repository', () => {
  const plan = planFor(specIr());
  const attributes = readRepo('.gitattributes')
    .split('\n')
    .filter((l) => l.includes('linguist-generated=true'))
    .map((l) => l.split(/\s+/)[0] ?? '');

  it.each(plan.owned.map((o) => [o]))('.gitattributes marks %s as generated', (owned) => {
    const pattern = owned.endsWith('/') ? `${owned}**` : owned;
    expect(attributes).toContain(pattern);
  });

  const turbo = JSON.parse(readRepo('turbo.json')) as { tasks: Record<string, { outputs?: string[]; inputs?: string[] }> };
  it.each(plan.owned.map((o) => [o]))('turbo.json lists %s as an output of generate and an input of codegen:check', (owned) => {
    const pattern = `$TURBO_ROOT$/${owned.endsWith('/') ? `${owned}**` : owned}`;
    expect(turbo.tasks.generate?.outputs).toContain(pattern);
    const inputs = turbo.tasks['codegen:check']?.inputs ?? [];
    expect(inputs.some((i) => i === pattern || (i.endsWith('/**') && pattern.startsWith(i.slice(0, -2))))).toBe(true);
  });

  it('the spec names its JSON Schema for editors', () => {
    expect(readRepo(SPEC_PATH).split('\n')[0]).toBe('# yaml-language-server: $schema=./rank-relax.schema.json');
  });

  it('the JSON Schema file is the one generated from zod', () => {
    const schema = schemaFile();
    expect(readRepo(schema.path)).toBe(schema.contents);
  });
});
