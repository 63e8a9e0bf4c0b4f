//! Per-thread scratch buffers, so the row loops never allocate once warm.

use std::cell::RefCell;

/// Buffers of the row sort: the packed keys, the radix sort's second buffer and the registers
/// of the sorting network.
#[derive(Default)]
pub(crate) struct SortScratch {
    pub keys: Vec<u64>,
    pub tmp: Vec<u64>,
    #[cfg(target_arch = "x86_64")]
    pub regs: Vec<std::arch::x86_64::__m512i>,
}

/// The PAV stack: block starts and the per-block accumulators.
#[derive(Default)]
pub(crate) struct PavScratch {
    pub starts: Vec<u32>,
    /// l2: the block's mean of `a_k − a_first`; kl: `Σ_B exp(y_k − y_first)`.
    pub a: Vec<f64>,
    /// l2: the block's mean of `b_k − b_first`; kl: `Σ_B exp(w_k − w_first)`.
    pub b: Vec<f64>,
    /// kl: `ln(a/b)`, the block's value less `y_first − w_first`.
    pub c: Vec<f64>,
}

/// What the soft_rank and soft_sort row kernels use.
#[derive(Default)]
pub(crate) struct RowScratch {
    pub sort: SortScratch,
    pub pav: PavScratch,
    /// Sorted values (or softmax weights in a backward).
    pub f1: Vec<f64>,
    /// A second row-length buffer.
    pub f2: Vec<f64>,
}

/// Everything one row of any op needs.
#[derive(Default)]
pub(crate) struct Scratch {
    pub row: RowScratch,
    /// Two row-length buffers the losses hold while they call the row kernels.
    pub loss1: Vec<f64>,
    pub loss2: Vec<f64>,
}

/// Grows `v` to at least `n` elements (never shrinks, so a warm thread does not allocate) and
/// returns the first `n`.
#[inline]
pub(crate) fn take<T: Copy + Default>(v: &mut Vec<T>, n: usize) -> &mut [T] {
    if v.len() < n {
        v.resize(n, T::default());
    }
    &mut v[..n]
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Runs `f` with this thread's scratch (or a fresh one if it is already in use, which only a
/// re-entrant call could cause).
pub(crate) fn with_scratch<R>(f: impl FnOnce(&mut Scratch) -> R) -> R {
    let mut f = Some(f);
    let done = SCRATCH.try_with(|cell| {
        cell.try_borrow_mut()
            .ok()
            .map(|mut s| (f.take().expect("called once"))(&mut s))
    });
    match done {
        Ok(Some(r)) => r,
        _ => (f.take().expect("not yet called"))(&mut Scratch::default()),
    }
}
