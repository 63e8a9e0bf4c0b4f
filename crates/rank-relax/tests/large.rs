//! Large inputs: the isotonic ops (soft_rank, soft_sort and the losses built on soft_rank) scale
//! like n log n per row — no quadratic blow-up on any input pattern — for n = 10^6 in one row
//! and for 10^5 rows of n = 16; sigmoid_rank's pairwise work is timed to document its limit.
//!
//! Ignored by default (seconds in release, minutes in debug): `bash scripts/large-inputs.sh`
//! runs them in release and prints the timings.

use std::time::Instant;

use rank_relax::ops::{ndcg_loss, sigmoid_rank, soft_rank, soft_sort, spearman_loss};
use rank_relax::{Direction, Regularization, Shape};

/// Row patterns that stress PAV and the sort differently.
fn pattern(kind: &str, len: usize, n: usize) -> Vec<f64> {
    (0..len)
        .map(|i| {
            let k = (i % n) as f64;
            match kind {
                // Pseudo-random, spread ~n: blocks of every size.
                "random" => {
                    ((i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 11) as f64
                        / (1u64 << 53) as f64
                        * n as f64
                }
                // Already sorted either way: no pooling, or one long chain of merges.
                "ascending" => k,
                "descending" => -k,
                // Every value tied: one block per row.
                "equal" => 0.5,
                // Sawtooth with small teeth: many short blocks that merge late.
                _ => (k % 7.0) * 0.9 - k * 0.1,
            }
        })
        .collect()
}

/// Best-of-`reps` seconds of forward + backward of `op` on `shape`, buffers allocated (and
/// touched by a first call) outside the timing, so the ratio measures the kernels only.
fn time(op: &str, reg: Regularization, kind: &str, shape: Shape, reps: usize) -> f64 {
    let len = shape.batch * shape.n;
    let x = pattern(kind, len, shape.n);
    let y: Vec<f64> = match op {
        "ndcg_loss" => (0..len).map(|i| (i % 4) as f64).collect(),
        _ => pattern("random", len, shape.n).into_iter().rev().collect(),
    };
    let b = shape.batch;
    let u: Vec<f64> = (0..len).map(|i| ((i * 13) % 7) as f64 - 3.0).collect();
    let (mut out, mut out2, mut perm, mut perm2) = (
        vec![0.0; len],
        vec![0.0; len],
        vec![0i32; len],
        vec![0i32; len],
    );
    let (mut g, mut g2, mut ge, mut loss) =
        (vec![0.0; len], vec![0.0; len], vec![0.0; b], vec![0.0; b]);
    let mut call = || match op {
        "soft_rank" => {
            let p = soft_rank::Params {
                regularization_strength: 1.0,
                regularization: reg,
                direction: Direction::Ascending,
            };
            soft_rank::forward(shape, &p, &x, None, &mut out, &mut perm).unwrap();
            soft_rank::backward(shape, &p, &x, None, &out, &perm, &u, &mut g, &mut ge).unwrap();
        }
        "soft_sort" => {
            let p = soft_sort::Params {
                regularization_strength: 1.0,
                regularization: reg,
                direction: Direction::Ascending,
            };
            soft_sort::forward(shape, &p, &x, None, &mut out, &mut perm).unwrap();
            soft_sort::backward(shape, &p, &x, None, &perm, &u, &mut g, &mut ge).unwrap();
        }
        "spearman_loss" => {
            let p = spearman_loss::Params {
                regularization_strength: 1.0,
                regularization: reg,
            };
            spearman_loss::forward(
                shape, &p, &x, &y, None, &mut loss, &mut out, &mut perm, &mut out2, &mut perm2,
            )
            .unwrap();
            spearman_loss::backward(
                shape,
                &p,
                &x,
                &y,
                None,
                &out,
                &perm,
                &out2,
                &perm2,
                &u[..b],
                &mut g,
                &mut g2,
                &mut ge,
            )
            .unwrap();
        }
        "ndcg_loss" => {
            let p = ndcg_loss::Params {
                regularization_strength: 1.0,
                regularization: reg,
            };
            ndcg_loss::forward(shape, &p, &x, &y, None, &mut loss, &mut out, &mut perm).unwrap();
            ndcg_loss::backward(
                shape,
                &p,
                &x,
                &y,
                None,
                &out,
                &perm,
                &u[..b],
                &mut g,
                &mut ge,
            )
            .unwrap();
        }
        _ => {
            let p = sigmoid_rank::Params {
                regularization_strength: 1.0,
                direction: Direction::Ascending,
            };
            sigmoid_rank::forward(shape, &p, &x, None, &mut out).unwrap();
            sigmoid_rank::backward(shape, &p, &x, None, &u, &mut g, &mut ge).unwrap();
        }
    };
    call();
    let best = (0..reps)
        .map(|_| {
            let t = Instant::now();
            call();
            t.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min);
    assert!(out.iter().chain(&g).all(|v| v.is_finite()));
    best
}

const ISOTONIC: [&str; 4] = ["soft_rank", "soft_sort", "spearman_loss", "ndcg_loss"];
const KINDS: [&str; 5] = ["random", "ascending", "descending", "equal", "sawtooth"];

/// Time at 10× the size over time at the size: ~10–13 for n log n (more where the larger
/// buffers leave the cache), ~100 for n².
fn check_growth(label: &str, small: Shape, large: Shape) {
    println!("| op | reg | input | {small:?} ms | {large:?} ms | ratio |");
    println!("|---|---|---|---|---|---|");
    for op in ISOTONIC {
        for reg in [Regularization::L2, Regularization::Kl] {
            for kind in KINDS {
                let a = time(op, reg, kind, small, 3);
                let b = time(op, reg, kind, large, 3);
                let ratio = b / a;
                println!(
                    "| {op} | {reg} | {kind} | {:.2} | {:.2} | {ratio:.1} |",
                    a * 1e3,
                    b * 1e3
                );
                assert!(
                    ratio < 30.0,
                    "{label}: {op} {reg} {kind} grows {ratio:.1}× for 10× the size"
                );
            }
        }
    }
}

#[test]
#[ignore = "large: run by scripts/large-inputs.sh in release"]
fn one_row_of_a_million() {
    check_growth("n = 10^6", Shape::new(1, 100_000), Shape::new(1, 1_000_000));
}

#[test]
#[ignore = "large: run by scripts/large-inputs.sh in release"]
fn a_hundred_thousand_rows_of_16() {
    check_growth("B = 10^5", Shape::new(10_000, 16), Shape::new(100_000, 16));
}

#[test]
#[ignore = "large: run by scripts/large-inputs.sh in release"]
fn sigmoid_rank_pairwise_cost() {
    // Forward + backward per pair, to put the default limit (2^32 pairs per call) in seconds.
    for n in [2_000usize, 8_000, 20_000] {
        let t = time(
            "sigmoid_rank",
            Regularization::L2,
            "random",
            Shape::new(1, n),
            1,
        );
        let pairs = (n * (n - 1) / 2) as f64;
        println!(
            "sigmoid_rank 1×{n}: {:.1} ms forward + backward, {:.2} ns per pair; 2^32 pairs ≈ {:.0} s",
            t * 1e3,
            t / pairs * 1e9,
            t / pairs * 4294967296.0
        );
    }
}
