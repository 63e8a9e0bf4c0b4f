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
