//! The two isotonic problems (PAV), in `f64`, and the packed residual.

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

/// l2 PAV: the non-increasing `v` closest to `y = v − ℓ` (`LINE_FIRST = false`, soft_rank:
/// sorted values `θ` minus ranks `ρ`) or `y = ℓ − v` (`LINE_FIRST = true`, soft_sort: `w = ρ/ε`
/// minus sorted values), where `v(k)` is non-increasing along the row and `ℓ_k = h·(n − k)` is
/// the line of slope `−h` (`h ≥ 0`).
///
/// Returns the number of blocks `nb`; block `j` spans `starts[j]..starts[j + 1]`
/// (`starts[nb] = n`). Blocks merge while a block's mean of `y` is not greater than the next
/// one's. `y` is never formed: each block keeps the mean of `v` relative to its first entry
/// (`a[j]`: mean of `v_k − v_first`), and two blocks P (first entry p, `m_P` entries) and C (first
/// entry c) are compared through `D = (v_p − v_c) + (v̄_P − v̄_C)` against the line's side, which
/// is known in closed form: `(ℓ_p − ℓ_c) + (ℓ̄_P − ℓ̄_C) = h·(m_P + m_C)/2` (exact for `h = 1`).
/// So where one side dwarfs the other (`|θ| = |x|/ε ≫ n`, or `w = ρ/ε ≫ |s|`) the small side
/// still decides, and exactly tied values always pool. One division per merge, of the sizes
/// alone (not on the chain through the running mean); nothing of the line is loaded.
#[inline]
pub(crate) fn pav_l2<const LINE_FIRST: bool>(
    n: usize,
    v: impl Fn(usize) -> f64,
    h: f64,
    pav: &mut PavScratch,
) -> usize {
    let starts = take(&mut pav.starts, n + 1);
    let mean_v = take(&mut pav.a, n);
    // Block sizes (exact small integers in f64), so the line's side needs no index arithmetic.
    let sizes = take(&mut pav.b, n);
    let mut top = 0usize;
    // Block `top − 1` is also kept in registers (first entry, size, mean, first value): the
    // comparison with the block just pushed then waits on no load from the stack.
    let (mut pp, mut pm, mut pmv, mut pv) = (0usize, 0.0f64, 0.0f64, 0.0f64);
    for k in 0..n {
        let (mut start, mut mc, mut mv) = (k, 1.0f64, 0.0f64);
        let mut vc = v(k);
        while top > 0 {
            // mean_P(y) ≤ mean_C(y) ⟺ D ≤ L (v − ℓ) or L ≤ D (ℓ − v).
            let d = (pv - vc) + (pmv - mv);
            let l = h * ((pm + mc) * 0.5);
            if if LINE_FIRST { l > d } else { d > l } {
                break;
            }
            top -= 1;
            // The reciprocal depends on the sizes only, so it is off the chain through `mv`.
            let inv = 1.0 / (pm + mc);
            mv = (pm * pmv + mc * (mv + (vc - pv))) * inv;
            mc += pm;
            start = pp;
            vc = pv;
            if top > 0 {
                pp = starts[top - 1] as usize;
                pm = sizes[top - 1];
                pmv = mean_v[top - 1];
                pv = v(pp);
            }
        }
        starts[top] = start as u32;
        mean_v[top] = mv;
        sizes[top] = mc;
        top += 1;
        (pp, pm, pmv, pv) = (start, mc, mv, vc);
    }
    starts[top] = n as u32;
    top
}

/// kl PAV: the non-increasing `v` minimising `⟨exp(y − v), 1⟩ + ⟨exp(w), v⟩`, for `y` and `w`
/// both non-increasing along the row (as the kernels call it: sorted values and `ln w` or `w/ε`).
///
/// Returns the number of blocks `nb`; block `j` spans `starts[j]..starts[j + 1]` with value
/// `LSE(y_B) − LSE(w_B) = (y_a − w_a) + c[j]`. Since both sides are non-increasing, a block's
/// first entry `a` is its maximum on both sides, so the block keeps `a[j] = Σ_B exp(y_k − y_a)`
/// and `b[j] = Σ_B exp(w_k − w_a)`: terms in `(0, 1]` that can neither overflow nor lose the
/// block's scale at any ε, with `c[j] = ln(a[j]/b[j])`. A merge costs one `exp` (plus
/// `w_ratio(a, b) = exp(w_b − w_a)`, which callers often know without one) and one `ln`. Blocks
/// are compared through differences of their first entries, never through `y − w`, so where one
/// side dwarfs the other the small side still decides, and exactly tied values always pool.
pub(crate) fn pav_kl(
    n: usize,
    y: impl Fn(usize) -> f64,
    w: impl Fn(usize) -> f64,
    w_ratio: impl Fn(usize, usize) -> f64,
    pav: &mut PavScratch,
) -> usize {
    let starts = take(&mut pav.starts, n + 1);
    let sum_y = take(&mut pav.a, n);
    let sum_w = take(&mut pav.b, n);
    let log_ratio = take(&mut pav.c, n);
    let mut top = 0usize;
    // Block `top − 1` is also kept in registers (first entry, its y and w, sums, log-ratio), as
    // in `pav_l2`: the comparison with the block just pushed waits on no load from the stack.
    let (mut pa, mut py, mut pw, mut psy, mut psw, mut pl) = (0usize, 0.0, 0.0, 0.0, 0.0, 0.0);
    for k in 0..n {
        let (mut start, mut sy, mut sw, mut l) = (k, 1.0, 1.0, 0.0);
        let (mut ys, mut ws) = (y(k), w(k));
        while top > 0 {
            // value_P ≤ value_C ⟺ (y_a − y_c) + (c_P − c_C) ≤ w_a − w_c.
            if (py - ys) + (pl - l) > pw - ws {
                break;
            }
            top -= 1;
            // Rebase this block's sums on the earlier block's first (largest) entry.
            sy = psy + sy * (ys - py).exp();
            sw = psw + sw * w_ratio(pa, start);
            (start, ys, ws) = (pa, py, pw);
            l = (sy / sw).ln();
            if top > 0 {
                pa = starts[top - 1] as usize;
                (py, pw) = (y(pa), w(pa));
                (psy, psw, pl) = (sum_y[top - 1], sum_w[top - 1], log_ratio[top - 1]);
            }
        }
        starts[top] = start as u32;
        sum_y[top] = sy;
        sum_w[top] = sw;
        log_ratio[top] = l;
        top += 1;
        (pa, py, pw, psy, psw, pl) = (start, ys, ws, sy, sw, l);
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
        let nb = pav_l2::<false>(y.len(), |k| y[k], 0.0, &mut pav);
        // 1,2,2 pool to 5/3; 0,5 pool to 2.5, which then pools with 5/3 to 2.
        assert_eq!(blocks(&pav.starts[..=nb]), vec![(0, 1), (1, 6)]);
        assert_eq!(y[1] + pav.a[1], 2.0);
        // The same problem split as v − ℓ (ℓ_k = 6 − k) gives the same blocks, and as ℓ − v.
        let nb = pav_l2::<false>(y.len(), |k| y[k] + (6 - k) as f64, 1.0, &mut pav);
        assert_eq!(blocks(&pav.starts[..=nb]), vec![(0, 1), (1, 6)]);
        let nb = pav_l2::<true>(y.len(), |k| (6 - k) as f64 - y[k], 1.0, &mut pav);
        assert_eq!(blocks(&pav.starts[..=nb]), vec![(0, 1), (1, 6)]);
    }

    #[test]
    fn ties_pool_where_one_side_dwarfs_the_other() {
        // θ = −1e298 (nine ties) minus ρ = 9..1: θ − ρ rounds to θ everywhere, yet the ties must
        // form one block (mathematically each later y is larger by 1).
        let mut pav = PavScratch::default();
        let nb = pav_l2::<false>(9, |_| -1e298, 1.0, &mut pav);
        assert_eq!(blocks(&pav.starts[..=nb]), vec![(0, 9)]);
        let nb = pav_kl(
            9,
            |_| -1e298,
            |k| ((9 - k) as f64).ln(),
            |a, b| (9 - b) as f64 / (9 - a) as f64,
            &mut pav,
        );
        assert_eq!(blocks(&pav.starts[..=nb]), vec![(0, 9)]);
        // Distinct values 1e282 apart (an ulp of 1e298) stay apart.
        let nb = pav_l2::<false>(3, |k| 1e298 - 1e283 * k as f64, 1.0, &mut pav);
        assert_eq!(nb, 3);
    }

    #[test]
    fn kl_matches_l2_structure_on_simple_input() {
        // With w = 0 the kl block value is LSE(y_B) − ln|B|; y = (3, 1, 1) pools its tie.
        let y = [3.0, 1.0, 1.0, 0.5];
        let mut pav = PavScratch::default();
        let nb = pav_kl(4, |k| y[k], |_| 0.0, |_, _| 1.0, &mut pav);
        assert_eq!(blocks(&pav.starts[..=nb]), vec![(0, 1), (1, 3), (3, 4)]);
        assert!((y[1] + pav.c[1] - 1.0).abs() < 1e-15, "{}", pav.c[1]);
        // A larger w late in the row lifts the tail above its predecessor: all pool.
        let w = [0.0, -1.0, -2.0, -4.0];
        let nb = pav_kl(4, |k| y[k], |k| w[k], |a, b| (w[b] - w[a]).exp(), &mut pav);
        assert_eq!(nb, 2);
        let lse = |v: &[f64]| v.iter().map(|x| x.exp()).sum::<f64>().ln();
        let value = (y[1] - w[1]) + pav.c[1];
        assert!((value - (lse(&y[1..]) - lse(&w[1..]))).abs() < 1e-14);
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
