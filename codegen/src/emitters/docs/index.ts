// The API reference in Markdown: docs/api/README.md (the ops, enums, errors and C runtime
// functions) and one page per op: its names, parameters with every language's defaults, shapes,
// errors, and per language (C, NumPy, PyTorch, JAX, Julia, Node) its signature and an example
// built from the spec's `example`, which scripts/check-docs.sh runs.
import type { Emitter, TargetDocs } from '../../emit/types.ts';
import type { IR } from '../../ir/types.ts';
import { renderIndex } from './index-page.ts';
import { renderOpPage } from './op-page.ts';
import { DESCRIPTIONS } from '../../emit/capabilities.ts';

export const DOCS_DIR = 'docs/api';

/** What the targets say of themselves (`Emitter.describe`), by target name. */
export interface Described {
  readonly c: TargetDocs;
  readonly julia: TargetDocs;
  readonly node: TargetDocs;
  readonly python: TargetDocs;
}

function describe(ir: IR, targets: readonly Emitter[], name: string): TargetDocs {
  const target = targets.find((t) => t.name === name);
  if (target?.describe === undefined) throw new Error(`docs emitter: the ${name} target does not describe itself (Emitter.describe)`);
  return target.describe(ir);
}

/** The docs emitter over the targets it documents: it lays out what their `describe` hooks say. */
export function docsEmitter(targets: readonly Emitter[]): Emitter {
  return {
    name: 'docs',
    description: 'API reference in Markdown: docs/api/',
    owns: [`${DOCS_DIR}/`],
    capabilities: DESCRIPTIONS,
    emit: (ir) => {
      const described: Described = { c: describe(ir, targets, 'c'), julia: describe(ir, targets, 'julia'), node: describe(ir, targets, 'node'), python: describe(ir, targets, 'python') };
      return [
        { path: `${DOCS_DIR}/README.md`, contents: renderIndex(ir, described) },
        ...ir.ops.map((op) => ({ path: `${DOCS_DIR}/${op.name.snake}.md`, contents: renderOpPage(ir, op, described) })),
      ];
    },
  };
}
