//! One module per op of the spec, each with `Params`, `forward` and `backward` in the kernel
//! convention (see the crate docs), `jvp` (forward mode) and `hvp` (second order).

// One module per op, listed by the generator from the spec: a new op is its spec entry and its
// kernel file here.
include!("list.rs");

/// The cotangent and the gradient of a backward: two arrays, or one array that holds the
/// cotangent on entry and is overwritten with the gradient (one `[batch, n]` array less at the
/// peak of a forward + backward).
pub(crate) enum CotangentGrad<'a, T> {
    Separate(&'a [T], &'a mut [T]),
    InPlace(&'a mut [T]),
}

/// A row of an in-place backward's buffer copied to `scratch` as f64 (exactly: the row kernels
/// read cotangents as f64), so the row's gradient can overwrite it.
pub(crate) fn cotangent_row<'s, T: crate::Real>(scratch: &'s mut Vec<f64>, row: &[T]) -> &'s [f64] {
    let u = crate::scratch::take(scratch, row.len());
    for (u, g) in u.iter_mut().zip(row) {
        *u = g.to_f64();
    }
    u
}

impl<T> CotangentGrad<'_, T> {
    /// The cotangent (as it is before the backward) and the gradient's length.
    pub(crate) fn cotangent(&self) -> (&[T], usize) {
        match self {
            CotangentGrad::Separate(u, g) => (u, g.len()),
            CotangentGrad::InPlace(b) => (b, b.len()),
        }
    }
}

/// The row kernel of a backward that reads a row of `values` and of the forward's packed
/// permutation (soft_sort, soft_topk): writes the row's gradient from its cotangent (in the
/// call's element type, or as f64 when copied out of an in-place buffer) and returns the row's
/// ε-gradient.
pub(crate) trait PermutationBackward: Sync {
    fn row<T: crate::Real, U: crate::Real>(
        &self,
        sc: &mut crate::scratch::RowScratch,
        x: &[T],
        perm: &[i32],
        u: &[U],
        g: &mut [T],
    ) -> f64;
}

/// Every row of such a backward, from separate cotangent and gradient buffers or in place
/// (`work`: a row's cost for [`run_rows`](crate::threads::run_rows)).
pub(crate) fn permutation_backward_rows<T: crate::Real, K: PermutationBackward>(
    kernel: &K,
    (batch, n, work): (usize, usize, usize),
    values: &[T],
    permutation: &[i32],
    cg: CotangentGrad<'_, T>,
    grad_regularization_strength: &mut [T],
) {
    use crate::scratch::with_scratch;
    use crate::threads::{run_rows, In, Out};
    let (x, p) = (In::new(values, n), In::new(permutation, n));
    let ge = Out::new(grad_regularization_strength, 1);
    match cg {
        CotangentGrad::Separate(u, g) => {
            let bufs = (x, p, In::new(u, n), Out::new(g, n), ge);
            run_rows(batch, work, bufs, |rows, (x, p, u, mut g, mut ge)| {
                with_scratch(|sc| {
                    for i in 0..rows {
                        let d = kernel.row(&mut sc.row, x.row(i), p.row(i), u.row(i), g.row(i));
                        *ge.at(i) = T::from_f64(d);
                    }
                })
            });
        }
        CotangentGrad::InPlace(buf) => {
            let bufs = (x, p, Out::new(buf, n), ge);
            run_rows(batch, work, bufs, |rows, (x, p, mut ug, mut ge)| {
                with_scratch(|sc| {
                    for i in 0..rows {
                        let g = ug.row(i);
                        let u = cotangent_row(&mut sc.loss1, g);
                        let d = kernel.row(&mut sc.row, x.row(i), p.row(i), u, g);
                        *ge.at(i) = T::from_f64(d);
                    }
                })
            });
        }
    }
}
