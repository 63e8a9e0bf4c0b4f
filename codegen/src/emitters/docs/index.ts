// The API reference in Markdown: docs/reference/README.md (the index, enums, status codes) and one
// page per op (arguments, defaults, shapes, backward, C signatures, example).
import type { Emitter } from '../../emit/types.ts';
import { renderIndex } from './index-page.ts';
import { renderOpPage } from './op-page.ts';

export const DOCS_DIR = 'docs/reference';

export const docsEmitter: Emitter = {
  name: 'docs',
  description: 'API reference in Markdown: docs/reference/',
  owns: [`${DOCS_DIR}/`],
  emit: (ir) => [
    { path: `${DOCS_DIR}/README.md`, contents: renderIndex(ir) },
    ...ir.ops.map((op) => ({ path: `${DOCS_DIR}/${op.name.snake}.md`, contents: renderOpPage(ir, op) })),
  ],
};
