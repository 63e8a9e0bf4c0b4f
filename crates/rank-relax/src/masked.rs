//! Masked rows (`ALGORITHMS.md`, "Masks"): a row is computed as if it held only its present
//! items, in their order, and the result is scattered back. One driver serves every kernel of
//! every op: it checks the buffers against the call's shape, lets the op validate its params
//! once, compacts each row, runs the op's unmasked kernel on it as a batch of one row, and
//! scatters the result (absent positions get 0). Values at absent positions are never read.

use std::ops::Range;
use std::sync::Mutex;

use crate::check::Check;
use crate::threads::{run_rows, In, Out, RowBufs};
use crate::{Error, Real, Shape};

/// How a buffer's row relates to the row's items.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// One entry per item, at the item's position (`[batch, n]` in input order).
    Items,
    /// One entry per sorted position: the present items' entries first, zeros after.
    Sorted,
    /// One value per row (`[batch]`).
    Row,
    /// `m` entries per row that do not index items (soft_quantile's levels), kept whole.
    Fixed(usize),
    /// An `n × n` matrix per row: its rows are sorted positions, its columns items.
    Square,
    /// The first `k` sorted positions (`[batch, k]`, `k ≤ n`): a row with fewer present items
    /// holds them first, zeros after.
    Head(usize),
    /// Like `Head`, holding item indices (`int32`): a compacted row's index becomes the item's
    /// position in the caller's row, and the entries past the present items are −1.
    HeadItems(usize),
}

impl Layout {
    /// Entries per row of a buffer with `n` items per row.
    fn width(self, n: usize) -> usize {
        match self {
            Layout::Items | Layout::Sorted => n,
            Layout::Row => 1,
            Layout::Fixed(m) => m,
            Layout::Square => n * n,
            Layout::Head(k) | Layout::HeadItems(k) => k.min(n),
        }
    }

    /// What an int output holds where a row has no entry.
    fn int_fill(self) -> i32 {
        match self {
            Layout::HeadItems(_) => -1,
            _ => 0,
        }
    }

    fn check_len(self, check: Check, name: &str, len: usize) -> Result<(), Error> {
        match self {
            Layout::Items | Layout::Sorted => check.matrix(name, len),
            Layout::Row => check.vector(name, len),
            Layout::Fixed(m) => check.wide(name, len, m),
            Layout::Square => check.cube(name, len),
            Layout::Head(k) | Layout::HeadItems(k) => check.columns(name, len, "k", k, ""),
        }
    }

    /// Copies the present items' entries of `row` (`pos` lists them) into `out`.
    fn gather<E: Copy>(self, n: usize, pos: &[usize], row: &[E], out: &mut Vec<E>) {
        out.clear();
        match self {
            Layout::Items => out.extend(pos.iter().map(|&p| row[p])),
            Layout::Sorted => out.extend_from_slice(&row[..pos.len()]),
            Layout::Row | Layout::Fixed(_) => out.extend_from_slice(row),
            Layout::Head(k) | Layout::HeadItems(k) => {
                out.extend_from_slice(&row[..k.min(pos.len())])
            }
            Layout::Square => {
                for a in 0..pos.len() {
                    out.extend(pos.iter().map(|&p| row[a * n + p]));
                }
            }
        }
    }

    /// Writes a compacted row back, `zero` at absent positions.
    fn scatter<E: Copy>(self, n: usize, pos: &[usize], compact: &[E], row: &mut [E], zero: E) {
        let nv = pos.len();
        match self {
            Layout::Items => {
                row.fill(zero);
                for (&p, &v) in pos.iter().zip(compact) {
                    row[p] = v;
                }
            }
            Layout::Sorted => {
                row[..nv].copy_from_slice(compact);
                row[nv..].fill(zero);
            }
            Layout::Row | Layout::Fixed(_) => row.copy_from_slice(compact),
            Layout::Head(_) | Layout::HeadItems(_) => {
                row[..compact.len()].copy_from_slice(compact);
                row[compact.len()..].fill(zero);
            }
            Layout::Square => {
                row.fill(zero);
                for a in 0..nv {
                    for (b, &p) in pos.iter().enumerate() {
                        row[a * n + p] = compact[a * nv + b];
                    }
                }
            }
        }
    }
}

/// The buffers of one kernel as the driver passes them to the op: the whole batch, or one
/// compacted row. Real buffers and `i32` residuals apart, each group in argument order.
pub(crate) struct Bufs<'b, T> {
    /// The call's shape: `batch × n`, or `1 × n_valid` for a compacted row.
    pub shape: Shape,
    pub reals: Vec<&'b [T]>,
    pub ints: Vec<&'b [i32]>,
    pub real_outs: Vec<&'b mut [T]>,
    pub int_outs: Vec<&'b mut [i32]>,
}

impl<'b, T> Bufs<'b, T> {
    /// The shape and the buffers as arrays of the counts the op declared:
    /// `let (shape, [values], [], [ranks], [permutation]) = bufs.split();`.
    #[allow(clippy::type_complexity)]
    pub fn split<const A: usize, const B: usize, const C: usize, const D: usize>(
        self,
    ) -> (
        Shape,
        [&'b [T]; A],
        [&'b [i32]; B],
        [&'b mut [T]; C],
        [&'b mut [i32]; D],
    ) {
        (
            self.shape,
            array(self.reals),
            array(self.ints),
            array(self.real_outs),
            array(self.int_outs),
        )
    }
}

fn array<X, const K: usize>(v: Vec<X>) -> [X; K] {
    match v.try_into() {
        Ok(a) => a,
        Err(v) => unreachable!(
            "an op's kernel takes the {} buffers it gave the driver, not {K}",
            Vec::len(&v)
        ),
    }
}

type Named<B> = (&'static str, B, Layout);

/// One masked call of one kernel, built buffer by buffer in argument order.
pub(crate) struct Masked<'a, T> {
    op: &'static str,
    shape: Shape,
    mask: &'a [bool],
    min_present: usize,
    row_work: usize,
    reals: Vec<Named<&'a [T]>>,
    ints: Vec<Named<&'a [i32]>>,
    real_outs: Vec<Named<&'a mut [T]>>,
    int_outs: Vec<Named<&'a mut [i32]>>,
}

impl<'a, T: Real> Masked<'a, T> {
    /// A call of `op` over `shape`.
    pub fn new(op: &'static str, shape: Shape, mask: &'a [bool]) -> Self {
        let n = shape.n.max(2);
        Masked {
            op,
            shape,
            mask,
            min_present: 1,
            // A sort's cost: enough to decide whether rows are worth spreading over threads.
            row_work: n * (usize::BITS - n.leading_zeros()) as usize,
            reals: Vec::new(),
            ints: Vec::new(),
            real_outs: Vec::new(),
            int_outs: Vec::new(),
        }
    }

    /// Rows with fewer present items than `min` give zeros (outputs and gradients) without
    /// running the kernel (spearman_loss needs two items to correlate).
    pub fn min_present(mut self, min: usize) -> Self {
        self.min_present = min;
        self
    }

    pub fn real(mut self, name: &'static str, data: &'a [T], layout: Layout) -> Self {
        self.reals.push((name, data, layout));
        self
    }

    pub fn int(mut self, name: &'static str, data: &'a [i32], layout: Layout) -> Self {
        self.ints.push((name, data, layout));
        self
    }

    pub fn real_out(mut self, name: &'static str, data: &'a mut [T], layout: Layout) -> Self {
        self.real_outs.push((name, data, layout));
        self
    }

    pub fn int_out(mut self, name: &'static str, data: &'a mut [i32], layout: Layout) -> Self {
        self.int_outs.push((name, data, layout));
        self
    }

    /// Runs `kernel` (the op's unmasked kernel over `Bufs`, told each row's number of present
    /// items) on the masked call. The reported error is the first in row order, with the row
    /// and the item named as in the caller's buffers.
    pub fn run<F>(self, kernel: F) -> Result<(), Error>
    where
        F: Fn(Bufs<'_, T>, usize) -> Result<(), Error> + Sync,
    {
        let Shape { batch, n } = self.shape;
        let check = Check::new(self.op, self.shape)?;
        for (name, data, layout) in &self.reals {
            layout.check_len(check, name, data.len())?;
        }
        for (name, data, layout) in &self.ints {
            layout.check_len(check, name, data.len())?;
        }
        for (name, data, layout) in &self.real_outs {
            layout.check_len(check, name, data.len())?;
        }
        for (name, data, layout) in &self.int_outs {
            layout.check_len(check, name, data.len())?;
        }
        check.matrix("mask", self.mask.len())?;
        // The params (ε, k, quantiles, …) once, with the full row length, on an empty batch.
        kernel(
            Bufs {
                shape: Shape { batch: 0, n },
                reals: vec![&[]; self.reals.len()],
                ints: vec![&[]; self.ints.len()],
                real_outs: (0..self.real_outs.len()).map(|_| &mut [][..]).collect(),
                int_outs: (0..self.int_outs.len()).map(|_| &mut [][..]).collect(),
            },
            n,
        )?;
        if self.mask.iter().all(|&m| m) {
            // Every item present: the unmasked call itself, bit for bit.
            return kernel(
                Bufs {
                    shape: self.shape,
                    reals: self.reals.iter().map(|b| b.1).collect(),
                    ints: self.ints.iter().map(|b| b.1).collect(),
                    real_outs: self.real_outs.into_iter().map(|b| b.1).collect(),
                    int_outs: self.int_outs.into_iter().map(|b| b.1).collect(),
                },
                n,
            );
        }

        let real_lay: Vec<_> = self.reals.iter().map(|b| (b.0, b.2)).collect();
        let int_lay: Vec<_> = self.ints.iter().map(|b| (b.0, b.2)).collect();
        let real_out_lay: Vec<_> = self.real_outs.iter().map(|b| (b.0, b.2)).collect();
        let int_out_lay: Vec<_> = self.int_outs.iter().map(|b| (b.0, b.2)).collect();
        let names: Vec<_> = [&real_lay, &int_lay, &real_out_lay, &int_out_lay]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        let zero = T::from_f64(0.0);
        let first_error: Mutex<Option<(usize, Error)>> = Mutex::new(None);
        let min_present = self.min_present;
        let bufs = (
            Rows(0..batch),
            In::new(self.mask, n),
            self.reals
                .iter()
                .map(|b| In::new(b.1, b.2.width(n)))
                .collect::<Vec<_>>(),
            self.ints
                .iter()
                .map(|b| In::new(b.1, b.2.width(n)))
                .collect::<Vec<_>>(),
            self.real_outs
                .into_iter()
                .map(|b| Out::new(b.1, b.2.width(n)))
                .collect::<Vec<_>>(),
            self.int_outs
                .into_iter()
                .map(|b| Out::new(b.1, b.2.width(n)))
                .collect::<Vec<_>>(),
        );
        run_rows(
            batch,
            self.row_work,
            bufs,
            |rows, (index, mask, x, xi, mut y, mut yi)| {
                let mut pos = Vec::with_capacity(n);
                let mut cx: Vec<Vec<T>> = vec![Vec::new(); x.len()];
                let mut cxi: Vec<Vec<i32>> = vec![Vec::new(); xi.len()];
                let mut cy: Vec<Vec<T>> = vec![Vec::new(); y.len()];
                let mut cyi: Vec<Vec<i32>> = vec![Vec::new(); yi.len()];
                for r in 0..rows {
                    pos.clear();
                    pos.extend(
                        mask.row(r)
                            .iter()
                            .enumerate()
                            .filter_map(|(j, &m)| m.then_some(j)),
                    );
                    let nv = pos.len();
                    if nv < min_present {
                        y.iter_mut().for_each(|b| b.row(r).fill(zero));
                        for (b, &(_, lay)) in yi.iter_mut().zip(&int_out_lay) {
                            b.row(r).fill(lay.int_fill());
                        }
                        continue;
                    }
                    for ((buf, c), &(_, lay)) in x.iter().zip(&mut cx).zip(&real_lay) {
                        lay.gather(n, &pos, buf.row(r), c);
                    }
                    for ((buf, c), &(_, lay)) in xi.iter().zip(&mut cxi).zip(&int_lay) {
                        lay.gather(n, &pos, buf.row(r), c);
                    }
                    for (c, &(_, lay)) in cy.iter_mut().zip(&real_out_lay) {
                        c.clear();
                        c.resize(lay.width(nv), zero);
                    }
                    for (c, &(_, lay)) in cyi.iter_mut().zip(&int_out_lay) {
                        c.clear();
                        c.resize(lay.width(nv), 0);
                    }
                    let compact = Bufs {
                        shape: Shape { batch: 1, n: nv },
                        reals: cx.iter().map(Vec::as_slice).collect(),
                        ints: cxi.iter().map(Vec::as_slice).collect(),
                        real_outs: cy.iter_mut().map(Vec::as_mut_slice).collect(),
                        int_outs: cyi.iter_mut().map(Vec::as_mut_slice).collect(),
                    };
                    match kernel(compact, nv) {
                        Ok(()) => {
                            for ((buf, c), &(_, lay)) in y.iter_mut().zip(&cy).zip(&real_out_lay) {
                                lay.scatter(n, &pos, c, buf.row(r), zero);
                            }
                            for ((buf, c), &(_, lay)) in yi.iter_mut().zip(&cyi).zip(&int_out_lay) {
                                let row = buf.row(r);
                                lay.scatter(n, &pos, c, row, lay.int_fill());
                                if let Layout::HeadItems(_) = lay {
                                    for v in &mut row[..c.len()] {
                                        *v = pos[*v as usize] as i32;
                                    }
                                }
                            }
                        }
                        Err(e) => {
                            let row = index.0.start + r;
                            let mut first = first_error.lock().unwrap_or_else(|p| p.into_inner());
                            if first.as_ref().is_none_or(|(at, _)| row < *at) {
                                let message = remap(&e.message, row, &pos, &names);
                                *first = Some((row, Error::new(e.kind, message)));
                            }
                        }
                    }
                }
            },
        );
        match first_error.into_inner().unwrap_or_else(|p| p.into_inner()) {
            Some((_, e)) => Err(e),
            None => Ok(()),
        }
    }
}

/// An in-place backward with a mask: the cotangent is read from a copy, so `buf` can take the
/// gradient, and `buf` is restored if the call fails.
pub(crate) fn in_place_from_copy<T: Real>(
    buf: &mut [T],
    backward: impl FnOnce(&[T], &mut [T]) -> Result<(), Error>,
) -> Result<(), Error> {
    let cotangent = buf.to_vec();
    let done = backward(&cotangent, buf);
    if done.is_err() {
        buf.copy_from_slice(&cotangent);
    }
    done
}

/// The rows `start..end` of the call, split with the buffers so a chunk knows where it is.
struct Rows(Range<usize>);

impl RowBufs for Rows {
    fn split_at(self, mid: usize) -> (Self, Self) {
        let at = self.0.start + mid;
        (Rows(self.0.start..at), Rows(at..self.0.end))
    }
}

impl<B: RowBufs> RowBufs for Vec<B> {
    fn split_at(self, mid: usize) -> (Self, Self) {
        self.into_iter().map(|b| b.split_at(mid)).unzip()
    }
}

/// A compacted row's error (`values[0, 2] is NaN`) in the caller's coordinates
/// (`values[5, 7] is NaN`): row 0 becomes `row`, an item index becomes the item's position.
fn remap(message: &str, row: usize, pos: &[usize], names: &[(&'static str, Layout)]) -> String {
    let mut out = String::with_capacity(message.len() + 8);
    let mut rest = message;
    // A name only starts where an identifier does (`ranks` is not the tail of `target_ranks`).
    let mut in_word = false;
    'scan: while !rest.is_empty() {
        for &(name, layout) in names.iter().filter(|_| !in_word) {
            let Some(tail) = rest.strip_prefix(name).and_then(|t| t.strip_prefix('[')) else {
                continue;
            };
            let Some(close) = tail.find(']') else {
                continue;
            };
            let index: Option<Vec<usize>> =
                tail[..close].split(", ").map(|s| s.parse().ok()).collect();
            let Some(index) = index.filter(|ix| ix.first() == Some(&0)) else {
                continue;
            };
            let item = |j: usize| pos.get(j).copied().unwrap_or(j);
            let mapped: Vec<usize> = match (layout, index.as_slice()) {
                (Layout::Items, [_, j]) => vec![row, item(*j)],
                (Layout::Square, [_, a, b]) => vec![row, *a, item(*b)],
                (_, [_, rest @ ..]) => std::iter::once(row).chain(rest.iter().copied()).collect(),
                _ => continue,
            };
            let text: Vec<String> = mapped.iter().map(usize::to_string).collect();
            out.push_str(name);
            out.push('[');
            out.push_str(&text.join(", "));
            out.push(']');
            rest = &tail[close + 1..];
            in_word = false;
            continue 'scan;
        }
        let c = rest.chars().next().expect("rest is not empty");
        in_word = c.is_alphanumeric() || c == '_';
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remap_names_the_callers_row_and_item() {
        let names = [
            ("values", Layout::Items),
            ("cotangent_sorted", Layout::Sorted),
            ("permutation_matrix", Layout::Square),
        ];
        let pos = [1, 4, 6];
        assert_eq!(
            remap("soft_rank: values[0, 2] is NaN", 5, &pos, &names),
            "soft_rank: values[5, 6] is NaN"
        );
        assert_eq!(
            remap("soft_sort: cotangent_sorted[0, 2] is +inf", 3, &pos, &names),
            "soft_sort: cotangent_sorted[3, 2] is +inf"
        );
        assert_eq!(
            remap(
                "neural_sort: permutation_matrix[0, 1, 2] = 2 is not in [0, 1]",
                9,
                &pos,
                &names
            ),
            "neural_sort: permutation_matrix[9, 1, 6] = 2 is not in [0, 1]"
        );
        // Names that merely start or end alike, and text without an index, are left alone.
        assert_eq!(
            remap(
                "op: values_x[0, 1], my_values[0, 1] and values",
                2,
                &pos,
                &names
            ),
            "op: values_x[0, 1], my_values[0, 1] and values"
        );
    }
}
