//! The row sort: integer keys packed with the column, sorted by an AVX-512 sorting network (short
//! rows, where the CPU has it), by radix (long rows) or by comparison.

use crate::real::Real;
use crate::scratch::SortScratch;

/// From this row length on, an LSD radix sort on the top 32 key bits beats a comparison sort.
const RADIX_MIN_N: usize = 384;

/// Sorts a row by `sign · x` decreasingly (`sign = +1` if `descending`): writes the sorting
/// permutation σ into `perm` and `s_k = sign · x[σ_k]` into `s`.
///
/// Each element becomes one `u64`: the top bits of an order-preserving key of the value
/// (flipped for a decreasing sort) above the column. Integers compare without branches on NaN
/// rules and move as one word, which makes this about twice as fast as an argsort comparing
/// floats through the index. Where the key was truncated (f64), runs of equal truncated keys
/// are put in exact order afterwards; they are rare unless values are (nearly) tied. Equal
/// values end up ordered by column, so the result is deterministic.
pub(crate) fn sort_row<T: Real>(
    x: &[T],
    descending: bool,
    sc: &mut SortScratch,
    perm: &mut [i32],
    s: &mut [f64],
) {
    let n = x.len();
    if n == 0 {
        return;
    }
    let flip = if descending { u64::MAX } else { 0 };
    // Low bits hold the column.
    let col_bits = (usize::BITS - (n - 1).leading_zeros()).max(1);
    let col_mask = (1u64 << col_bits) - 1;
    let network = network_sorts(n);
    let radix = !network && n >= RADIX_MIN_N;
    // The radix sort orders the top 32 bits only; a comparison sort orders every packed bit.
    let exact_bits = if radix { 32 } else { col_bits };

    let keys = &mut sc.keys;
    keys.clear();
    keys.extend(
        x.iter()
            .enumerate()
            .map(|(i, v)| ((v.key() ^ flip) & !col_mask) | i as u64),
    );
    if radix {
        radix_sort_top32(keys, &mut sc.tmp);
    } else if network {
        // SAFETY: `network_sorts` found AVX-512F on this CPU (it is never true elsewhere).
        #[cfg(target_arch = "x86_64")]
        unsafe {
            crate::bitonic::sort(keys, &mut sc.regs)
        };
    } else {
        keys.sort_unstable();
    }
    if !(T::KEY_IN_TOP_32 && exact_bits <= 32) {
        fix_truncated_runs(x, flip, col_mask, exact_bits, keys);
    }

    let sign = if descending { 1.0 } else { -1.0 };
    for ((&p, pk), sk) in keys.iter().zip(&mut perm[..n]).zip(&mut s[..n]) {
        let i = (p & col_mask) as usize;
        *pk = i as i32;
        *sk = sign * x[i].to_f64();
    }
}

/// Whether a row of `n` keys goes to the AVX-512 sorting network: up to its longest row, where it
/// beats both the comparison and the radix sort, on a CPU that has AVX-512F.
fn network_sorts(n: usize) -> bool {
    #[cfg(target_arch = "x86_64")]
    if n <= crate::bitonic::MAX_N && crate::bitonic::available() {
        return true;
    }
    let _ = n;
    false
}

/// Sorts runs whose packed keys agree above bit `exact_bits` by the full key, then column.
fn fix_truncated_runs<T: Real>(
    x: &[T],
    flip: u64,
    col_mask: u64,
    exact_bits: u32,
    keys: &mut [u64],
) {
    // Most rows have no such run: find that out in one branch-free (vectorised) pass.
    let mut shared = false;
    for w in keys.windows(2) {
        shared |= (w[0] ^ w[1]) >> exact_bits == 0;
    }
    if !shared {
        return;
    }
    let full = |p: &u64| {
        let i = (p & col_mask) as usize;
        (x[i].key() ^ flip, i)
    };
    let mut a = 0;
    while a < keys.len() {
        let top = keys[a] >> exact_bits;
        let mut b = a + 1;
        while b < keys.len() && keys[b] >> exact_bits == top {
            b += 1;
        }
        if b - a > 1 {
            keys[a..b].sort_unstable_by_key(full);
        }
        a = b;
    }
}

/// Stable LSD radix sort of `keys` by bits 32..64, in four 8-bit passes; a pass whose digit is
/// the same for every key is skipped.
pub(crate) fn radix_sort_top32(keys: &mut Vec<u64>, tmp: &mut Vec<u64>) {
    let n = keys.len();
    tmp.resize(n, 0);
    let mut hist = [[0u32; 256]; 4];
    for &k in keys.iter() {
        let t = (k >> 32) as u32;
        hist[0][(t & 0xff) as usize] += 1;
        hist[1][((t >> 8) & 0xff) as usize] += 1;
        hist[2][((t >> 16) & 0xff) as usize] += 1;
        hist[3][(t >> 24) as usize] += 1;
    }
    for (pass, h) in hist.iter_mut().enumerate() {
        let shift = 32 + 8 * pass;
        if h[((keys[0] >> shift) & 0xff) as usize] as usize == n {
            continue;
        }
        let mut sum = 0u32;
        for c in h.iter_mut() {
            let count = *c;
            *c = sum;
            sum += count;
        }
        for &k in keys.iter() {
            let d = ((k >> shift) & 0xff) as usize;
            tmp[h[d] as usize] = k;
            h[d] += 1;
        }
        std::mem::swap(keys, tmp);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check<T: Real + PartialOrd>(x: &[T]) {
        let n = x.len();
        for descending in [false, true] {
            let mut sc = SortScratch::default();
            let (mut perm, mut s) = (vec![0; n], vec![0.0; n]);
            sort_row(x, descending, &mut sc, &mut perm, &mut s);
            let mut seen = vec![false; n];
            for (k, &p) in perm.iter().enumerate() {
                let sign = if descending { 1.0 } else { -1.0 };
                assert_eq!(s[k], sign * x[p as usize].to_f64());
                assert!(!std::mem::replace(&mut seen[p as usize], true));
                if k > 0 {
                    assert!(s[k - 1] >= s[k], "n={n} at {k}: {} < {}", s[k - 1], s[k]);
                    if s[k - 1] == s[k] {
                        assert!(perm[k - 1] < p, "ties by column");
                    }
                }
            }
        }
    }

    #[test]
    fn sorts_exactly_small_and_large_rows_with_near_ties() {
        for n in [1usize, 2, 3, 10, 100, 383, 384, 1000, 5000] {
            // Values near 0.9 spaced by 1e-12 (truncated keys tie), plus exact ties and signs.
            let x: Vec<f64> = (0..n)
                .map(|i| match i % 5 {
                    0 => 0.9 + 1e-12 * ((i * 7919) % n) as f64,
                    1 => -0.9 - 1e-15 * ((i * 31) % 17) as f64,
                    2 => 0.0,
                    3 => ((i * 37) % 11) as f64,
                    _ => -(i as f64) * 1e-3,
                })
                .collect();
            check(&x);
            let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
            check(&x32);
        }
    }
}
