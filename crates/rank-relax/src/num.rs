//! Small numeric helpers shared by the kernels.

use std::sync::{Arc, RwLock};

/// `ln 1, ln 2, …, ln m` for some `m ≥ len`, shared by every call: the kl soft rank needs
/// `ln(n − k)` and the NDCG discount `ln(1 + j)` for every position, and a table makes those
/// free after the first call.
pub(crate) fn ln_table(len: usize) -> Arc<[f64]> {
    static TABLE: RwLock<Option<Arc<[f64]>>> = RwLock::new(None);
    if let Some(t) = TABLE.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
        if t.len() >= len {
            return Arc::clone(t);
        }
    }
    let mut guard = TABLE.write().unwrap_or_else(|e| e.into_inner());
    match guard.as_ref() {
        Some(t) if t.len() >= len => Arc::clone(t),
        _ => {
            let t: Arc<[f64]> = (1..=len.max(1024)).map(|m| (m as f64).ln()).collect();
            *guard = Some(Arc::clone(&t));
            t
        }
    }
}

/// `Σ f(i)` over `items` in four interleaved lanes: a single running sum waits on each add's
/// latency, four keep the adder busy. The order is fixed, so the result is deterministic.
#[inline(always)]
pub(crate) fn sum4<I: Copy>(items: &[I], f: impl Fn(I) -> f64) -> f64 {
    let mut acc = [0.0f64; 4];
    let mut chunks = items.chunks_exact(4);
    for c in &mut chunks {
        for l in 0..4 {
            acc[l] += f(c[l]);
        }
    }
    for (l, &i) in chunks.remainder().iter().enumerate() {
        acc[l] += f(i);
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}

/// `⟨a, b⟩` in [`sum4`]'s four lanes (over the shorter length).
#[inline(always)]
pub(crate) fn dot4(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..4 {
            acc[l] += x[l] * y[l];
        }
    }
    for (l, (x, y)) in ra.iter().zip(rb).enumerate() {
        acc[l] += x * y;
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3])
}
