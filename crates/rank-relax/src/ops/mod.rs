//! One module per op of the spec, each with `Params`, `forward` and `backward` in the kernel
//! convention (see the crate docs), and `jvp`, the forward-mode product (core only so far).
//!
//! [`neural_sort`] and [`neural_sort_apply`] are core only so far (not yet in the spec).

pub mod ndcg_loss;
pub mod neural_sort;
pub mod neural_sort_apply;
pub mod sigmoid_rank;
pub mod soft_quantile;
pub mod soft_rank;
pub mod soft_sort;
pub mod soft_topk;
pub mod spearman_loss;

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
