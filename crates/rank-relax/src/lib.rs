//! Differentiable sorting and ranking with analytical gradients: the core of rank-relax.
//!
//! Every op of `bindings-spec/rank-relax.yaml` is a module of [`ops`] with
//!
//! - `Params<T>`: one public field per spec param, named as in the spec;
//! - `forward(shape, &params, inputs…, mask, outputs…, residuals…)`;
//! - `backward(shape, &params, saves…, residuals…, cotangents…, grads…,
//!   grad_regularization_strength)` (the saves are the saved inputs, `mask`, then the saved
//!   outputs);
//! - `jvp(shape, &params, saves…, residuals…, input tangents…, tangent_regularization_strength,
//!   output tangents…)`: the Jacobian-vector product, adjoint to `backward`;
//! - `hvp(shape, &params, saves…, residuals…, cotangents…, input tangents…,
//!   tangent_regularization_strength, hvps…, hvp_regularization_strength)`: the derivative of
//!   `backward` along the tangents.
//!
//! Buffers are flat row-major `[batch, n]` (or `[batch]` for a loss) of `f32` or `f64`
//! ([`Real`]); residuals are `i32`. Every length, value and parameter is checked first and bad
//! input is an [`Error`], never a panic. Rows run in parallel when the batch is large enough
//! ([`set_num_threads`]); results do not depend on the thread count.
//!
//! ```
//! use rank_relax::ops::soft_rank::{backward, forward, Params};
//! use rank_relax::Shape;
//!
//! let shape = Shape { batch: 1, n: 3 };
//! let params = Params { regularization_strength: 0.1, ..Params::default() };
//! let values = [3.0, 1.0, 2.0];
//! let (mut ranks, mut permutation) = ([0.0; 3], [0i32; 3]);
//! forward(shape, &params, &values, None, &mut ranks, &mut permutation)?;
//! assert_eq!(ranks, [3.0, 1.0, 2.0]);
//!
//! let (mut grad, mut grad_eps) = ([0.0; 3], [0.0]);
//! backward(shape, &params, &values, None, &ranks, &permutation, &[1.0, 0.0, 0.0], &mut grad, &mut grad_eps)?;
//! assert_eq!(grad, [0.0, 0.0, 0.0]); // ranks are locally constant here
//! # Ok::<(), rank_relax::Error>(())
//! ```
//!
//! # Masked rows
//!
//! Every kernel takes an optional `mask` (`[batch, n]`, true = present; `None` = every item),
//! after the op's inputs (and, in the derivative kernels, after the saved inputs). A row is
//! computed as if it held only its present items, in their order, and scattered back: absent
//! positions get output 0 and gradient 0, and their values (and cotangents) are never read, so
//! padding may be NaN. Row-ordered outputs (soft_sort, neural_sort_apply, the rows of
//! neural_sort's matrix) hold the present items' values first and zeros after. A row with no
//! present item gives zeros; spearman_loss needs two present items (else loss 0, gradient 0);
//! soft_topk selects all present items of a row with fewer than `k`. With every item present
//! the result is bit for bit the unmasked call's.
//!
//! The exact definitions are in `ALGORITHMS.md`; the convention is in `docs/architecture.md`.

#![warn(missing_docs)]
// The kernels walk several row buffers by position at once; index loops say that best.
#![allow(clippy::needless_range_loop)]

#[cfg(target_arch = "x86_64")]
mod bitonic;
mod check;
mod enums;
mod error;
mod fastexp;
mod masked;
mod num;
pub mod ops;
mod pav;
mod real;
mod scratch;
mod sort;
mod threads;

pub use enums::{Direction, Regularization, TopkRegularization};
pub use error::{Error, ErrorKind};
pub use ops::sigmoid_rank::set_max_pairs as set_sigmoid_rank_max_pairs;
pub use real::Real;
pub use threads::{num_threads, set_num_threads};

/// The shape of a call: `batch` independent rows of `n` items each.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shape {
    /// Number of rows.
    pub batch: usize,
    /// Items per row.
    pub n: usize,
}

impl Shape {
    /// A shape of `batch` rows of `n` items.
    pub fn new(batch: usize, n: usize) -> Self {
        Shape { batch, n }
    }
}
