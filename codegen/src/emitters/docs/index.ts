// The API reference in Markdown: docs/api/README.md (the ops, enums, errors and C runtime
// functions) and one page per op: its names, parameters with every language's defaults, shapes,
// errors, and per language (C, NumPy, PyTorch, JAX, Julia, Node) its signature and an example
// built from the spec's `example`, which scripts/check-docs.sh runs.
import type { Emitter } from '../../emit/types.ts';
import { renderIndex } from './index-page.ts';
import { renderOpPage } from './op-page.ts';
import { BASELINE } from '../../emit/capabilities.ts';

export const DOCS_DIR = 'docs/api';

export const docsEmitter: Emitter = {
  name: 'docs',
  description: 'API reference in Markdown: docs/api/',
  owns: [`${DOCS_DIR}/`],
  capabilities: BASELINE,
  emit: (ir) => [
    { path: `${DOCS_DIR}/README.md`, contents: renderIndex(ir) },
    ...ir.ops.map((op) => ({ path: `${DOCS_DIR}/${op.name.snake}.md`, contents: renderOpPage(ir, op) })),
  ],
};
