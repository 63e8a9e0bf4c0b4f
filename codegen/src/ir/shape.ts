// Reading a ShapeIR: the one place that turns a shape description into the facts emitters branch
// on (one value per row? a row of n items?) and into extent expressions, spelled by the target.
import type { DimIR, DimKind, ShapeIR } from './types.ts';

/** How a target spells a dim's value where the kernel's arguments are in scope (each target's names.ts has one: `cDim`, `rustDim`, …). */
export type DimSpeller = (dim: DimIR) => string;

/** Number of dims after batch: 0 for `[batch]`, 1 for `[batch, n]`, 2 for `[batch, n, n]`. */
export function rowRank(shape: ShapeIR): number {
  return shape.row.length;
}

/** `[batch]`: one value per row. */
export function isPerRow(shape: ShapeIR): boolean {
  return shape.row.length === 0;
}

/** `[batch, n]`: one row of the op's n items. */
export function isItemRow(shape: ShapeIR): boolean {
  return shape.row.length === 1 && shape.row[0]?.kind === 'n';
}

/** The kinds of the dims after batch, each once, in order of appearance. */
export function rowDimKinds(shape: ShapeIR): DimKind[] {
  return [...new Set(shape.row.map((d) => d.kind))];
}

/** A product of dims in a target's syntax: `n * n`, `k`, `quantiles.len()`; `1` for none. */
export function renderProduct(dims: readonly DimIR[], spell: DimSpeller): string {
  return dims.length === 0 ? '1' : dims.map(spell).join(' * ');
}

/** Elements of one row: `n * n` (C), `1` for `[batch]`. */
export function rowExtent(shape: ShapeIR, spell: DimSpeller): string {
  return renderProduct(shape.row, spell);
}

/** Elements of the whole buffer: `batch * n * n`. */
export function extent(shape: ShapeIR, spell: DimSpeller): string {
  return renderProduct(shape.dims, spell);
}
