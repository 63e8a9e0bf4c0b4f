//! The two isotonic problems (PAV), in `f64`, and the packed residual.

use crate::num::log_add_exp;
use crate::scratch::{take, PavScratch};

/// The column of a packed residual entry (`σ_k` or `!σ_k`).
#[inline(always)]
pub(crate) fn column(p: i32) -> usize {
    (p ^ (p >> 31)) as usize
}

/// Calls `f(start, block)` for each PAV block of a packed residual row, in order: `start` is
/// the block's first sorted position and `block` its entries (each `σ_k` or `!σ_k`).
#[inline(always)]
pub(crate) fn for_each_block(perm: &[i32], mut f: impl FnMut(usize, &[i32])) {
    let mut start = 0;
    for k in 1..perm.len() {
        if perm[k] < 0 {
            f(start, &perm[start..k]);
            start = k;
        }
    }
    if !perm.is_empty() {
        f(start, &perm[start..]);
    }
}

/// Marks the first position of each block in a row of σ (the packed residual encoding).
pub(crate) fn mark_blocks(perm: &mut [i32], starts: &[u32]) {
    for &b in starts {
        let p = &mut perm[b as usize];
        *p = !*p;
    }
}

/// l2 PAV: the non-increasing `v` closest to `y` (`y(k)` for `k < n`).
///
/// Returns the number of blocks `nb`; block `j` spans `starts[j]..starts[j + 1]`
/// (`starts[nb] = n`) and its value (the mean of its `y`) is `b[j]`. Blocks merge while a
/// block's mean is not greater than the next one's; the sums accumulate in `f64`.
pub(crate) fn pav_l2(n: usize, y: impl Fn(usize) -> f64, pav: &mut PavScratch) -> usize {
    let starts = take(&mut pav.starts, n + 1);
    let sums = take(&mut pav.a, n);
    let means = take(&mut pav.b, n);
    let mut top = 0usize;
    for k in 0..n {
        let mut sum = y(k);
        let mut mean = sum;
        let mut start = k;
        while top > 0 && means[top - 1] <= mean {
            top -= 1;
            sum += sums[top];
            start = starts[top] as usize;
            mean = sum / (k + 1 - start) as f64;
        }
        starts[top] = start as u32;
        sums[top] = sum;
        means[top] = mean;
        top += 1;
    }
    starts[top] = n as u32;
    top
}

/// kl PAV: the non-increasing `v` minimising `⟨exp(y − v), 1⟩ + ⟨exp(w), v⟩`.
///
/// Returns the number of blocks `nb`; block `j` spans `starts[j]..starts[j + 1]`, with
/// `a[j] = LSE(y_B)` and `b[j] = LSE(w_B)`; its value is `a[j] − b[j]`. The log-sum-exps merge
/// with [`log_add_exp`], so nothing overflows whatever the scale of `y` and `w`.
pub(crate) fn pav_kl(
    n: usize,
    y: impl Fn(usize) -> f64,
    w: impl Fn(usize) -> f64,
    pav: &mut PavScratch,
) -> usize {
    let starts = take(&mut pav.starts, n + 1);
    let lse_y = take(&mut pav.a, n);
    let lse_w = take(&mut pav.b, n);
    let mut top = 0usize;
    for k in 0..n {
        let mut ly = y(k);
        let mut lw = w(k);
        let mut start = k;
        while top > 0 && lse_y[top - 1] - lse_w[top - 1] <= ly - lw {
            top -= 1;
            ly = log_add_exp(lse_y[top], ly);
            lw = log_add_exp(lse_w[top], lw);
            start = starts[top] as usize;
        }
        starts[top] = start as u32;
        lse_y[top] = ly;
        lse_w[top] = lw;
        top += 1;
    }
    starts[top] = n as u32;
    top
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks(starts: &[u32]) -> Vec<(usize, usize)> {
        starts
            .windows(2)
            .map(|w| (w[0] as usize, w[1] as usize))
            .collect()
    }

    #[test]
    fn l2_pools_violators() {
        let y = [3.0, 1.0, 2.0, 2.0, 0.0, 5.0];
        let mut pav = PavScratch::default();
        let nb = pav_l2(y.len(), |k| y[k], &mut pav);
        // 1,2,2 pool to 5/3; 0,5 pool to 2.5, which then pools with 5/3 to 2.
        assert_eq!(blocks(&pav.starts[..=nb]), vec![(0, 1), (1, 6)]);
        assert_eq!(&pav.b[..nb], &[3.0, 2.0]);
    }

    #[test]
    fn kl_matches_l2_structure_on_simple_input() {
        // With w = 0 the kl block value is LSE(y_B) − ln|B|.
        let y = [3.0, 1.0, 2.0];
        let mut pav = PavScratch::default();
        let nb = pav_kl(3, |k| y[k], |_| 0.0, &mut pav);
        assert_eq!(blocks(&pav.starts[..=nb]), vec![(0, 1), (1, 3)]);
        let v = pav.a[1] - pav.b[1];
        assert!((v - ((1f64.exp() + 2f64.exp()) / 2.0).ln()).abs() < 1e-15);
    }

    #[test]
    fn packed_block_markers() {
        let mut perm = [2, 0, 1, 3];
        mark_blocks(&mut perm, &[0, 2]);
        assert_eq!(perm, [!2, 0, !1, 3]);
        let mut seen = vec![];
        for_each_block(&perm, |a, b| seen.push((a, b.to_vec())));
        assert_eq!(seen, vec![(0, vec![!2, 0]), (2, vec![!1, 3])]);
        assert_eq!(perm.map(column), [2, 0, 1, 3]);
    }
}
