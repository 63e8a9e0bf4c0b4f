// YAML → plain data → validated Spec. Reads the file; everything after that is pure.
import { readFile } from 'node:fs/promises';

import { parseDocument } from 'yaml';

import { CodegenError } from './errors.ts';
import type { Spec } from './schema.ts';
import { parseSpec } from './validate.ts';

/** YAML text → plain data; syntax errors (and duplicate keys) are reported with line and column. */
export function parseYaml(text: string, source: string): unknown {
  const doc = parseDocument(text, { uniqueKeys: true, prettyErrors: true, strict: true });
  if (doc.errors.length > 0) {
    throw new CodegenError([
      `${source}: the YAML does not parse:`,
      ...doc.errors.map((e) => {
        const at = e.linePos?.[0];
        const message = (e.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
        return `  ${at ? `line ${at.line}, column ${at.col}: ` : ''}${message}`;
      }),
    ]);
  }
  return doc.toJS();
}

export function specFromText(text: string, source: string): Spec {
  return parseSpec(parseYaml(text, source), source);
}

export async function loadSpec(file: string, source: string): Promise<Spec> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    throw new CodegenError([`${source}: cannot read the spec (${(e as NodeJS.ErrnoException).code ?? String(e)})`]);
  }
  return specFromText(text, source);
}
