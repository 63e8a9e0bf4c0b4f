//! Properties of the definitions: hard limits, ranges, equivariance, monotonicity, thread
//! independence, stability at extreme scales, edge shapes.

mod common;

use common::{data, inputs_of, is_loss, run, OPS, P};
use rank_relax::ops::{soft_rank, soft_sort};
use rank_relax::{set_num_threads, Direction, Regularization, Shape};

const L2: Regularization = Regularization::L2;
const KL: Regularization = Regularization::Kl;
const ASC: Direction = Direction::Ascending;
const DESC: Direction = Direction::Descending;

/// Hard ranks, 1-based, ties sharing the mean of their ranks.
fn hard_ranks(x: &[f64], dir: Direction) -> Vec<f64> {
    x.iter()
        .map(|&xi| {
            let (mut below, mut equal) = (0.0, 0.0);
            for &xj in x {
                let before = match dir {
                    Direction::Ascending => xj < xi,
                    Direction::Descending => xj > xi,
                };
                below += before as u8 as f64;
                equal += (xj == xi) as u8 as f64;
            }
            below + (equal + 1.0) / 2.0
        })
        .collect()
}

#[test]
fn tiny_eps_gives_hard_ranks_with_ties_averaged() {
    let rows = [
        vec![3.0, 1.0, 2.0, 1.0, 5.0, 3.0, 3.0],
        vec![0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
        vec![-1.0, 2.0, -1.0, 7.5, 0.0, -3.0, 2.0],
    ];
    let x: Vec<f64> = rows.concat();
    let shape = Shape { batch: 3, n: 7 };
    for reg in [L2, KL] {
        for dir in [ASC, DESC] {
            let got = run::<f64>(
                "soft_rank",
                P::new(1e-6, reg, dir),
                shape,
                std::slice::from_ref(&x),
                None,
            )
            .unwrap()
            .output;
            let want: Vec<f64> = rows.iter().flat_map(|r| hard_ranks(r, dir)).collect();
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-9, "{reg} {dir}: {got:?} vs {want:?}");
            }
            let sorted = run::<f64>(
                "soft_sort",
                P::new(1e-6, reg, dir),
                shape,
                std::slice::from_ref(&x),
                None,
            )
            .unwrap()
            .output;
            for (row, s) in rows.iter().zip(sorted.chunks(7)) {
                let mut want = row.clone();
                want.sort_by(|a, b| a.total_cmp(b));
                if dir == DESC {
                    want.reverse();
                }
                assert_eq!(s, &want[..], "soft_sort {reg} {dir}");
            }
        }
    }
}

/// Ties stay exact when `x/ε` dwarfs n (no cancellation against the block mean).
#[test]
fn ties_are_averaged_at_extreme_scale() {
    let x = vec![1e10, 1e10, 0.0, 5e9, -3e9, 1e10];
    let shape = Shape { batch: 1, n: 6 };
    for reg in [L2, KL] {
        for eps in [1e-10, 1e-3] {
            let r = run::<f64>(
                "soft_rank",
                P::new(eps, reg, ASC),
                shape,
                std::slice::from_ref(&x),
                None,
            )
            .unwrap()
            .output;
            assert_eq!(r, vec![5.0, 5.0, 2.0, 3.0, 1.0, 5.0], "{reg} ε={eps}");
        }
    }
}

#[test]
fn l2_ranks_lie_in_range_and_sum_to_the_triangle_number() {
    let mut rng = data::rng(1);
    for n in [1usize, 2, 3, 10, 100] {
        let shape = Shape { batch: 4, n };
        for eps in [1e-3, 0.1, 1.0, 10.0, 1e3] {
            let x = data::uniform(&mut rng, 4 * n, -3.0, 3.0);
            for dir in [ASC, DESC] {
                let r = run::<f64>(
                    "soft_rank",
                    P::new(eps, L2, dir),
                    shape,
                    std::slice::from_ref(&x),
                    None,
                )
                .unwrap()
                .output;
                let want = (n * (n + 1)) as f64 / 2.0;
                for row in r.chunks(n) {
                    assert!(row
                        .iter()
                        .all(|&v| (1.0 - 1e-12..=n as f64 + 1e-12).contains(&v)));
                    let sum: f64 = row.iter().sum();
                    assert!((sum - want).abs() < 1e-9 * want, "n={n} ε={eps}: {sum}");
                }
            }
        }
    }
}

#[test]
fn soft_rank_is_permutation_equivariant() {
    let mut rng = data::rng(2);
    let n = 40;
    let mut x = data::uniform(&mut rng, n, -1.0, 1.0);
    x[7] = x[3]; // a tie, too
    let mut u = data::uniform(&mut rng, n, -1.0, 1.0);
    u[7] = u[3];
    // A fixed shuffle: i → (i · 17 + 5) mod n (17 is coprime with 40).
    let pi: Vec<usize> = (0..n).map(|i| (i * 17 + 5) % n).collect();
    let xp: Vec<f64> = pi.iter().map(|&j| x[j]).collect();
    let up: Vec<f64> = pi.iter().map(|&j| u[j]).collect();
    let shape = Shape { batch: 1, n };
    for reg in [L2, KL] {
        for eps in [0.01, 0.3, 3.0] {
            let p = P::new(eps, reg, ASC);
            let a = run::<f64>("soft_rank", p, shape, std::slice::from_ref(&x), Some(&u)).unwrap();
            let b =
                run::<f64>("soft_rank", p, shape, std::slice::from_ref(&xp), Some(&up)).unwrap();
            for (i, &j) in pi.iter().enumerate() {
                assert_eq!(
                    b.output[i].to_bits(),
                    a.output[j].to_bits(),
                    "{reg} ε={eps}"
                );
                assert!(
                    (b.grads[0][i] - a.grads[0][j]).abs() < 1e-12,
                    "{reg} ε={eps}"
                );
            }
        }
    }
}

#[test]
fn soft_sort_output_is_monotone() {
    let mut rng = data::rng(3);
    let n = 50;
    let shape = Shape { batch: 8, n };
    for reg in [L2, KL] {
        for dir in [ASC, DESC] {
            for eps in [1e-3, 0.1, 1.0, 10.0, 1e3] {
                let mut x = data::uniform(&mut rng, 8 * n, -5.0, 5.0);
                x[3] = x[4];
                let s = run::<f64>("soft_sort", P::new(eps, reg, dir), shape, &[x], None)
                    .unwrap()
                    .output;
                for row in s.chunks(n) {
                    for w in row.windows(2) {
                        let ok = match dir {
                            Direction::Ascending => w[0] <= w[1],
                            Direction::Descending => w[0] >= w[1],
                        };
                        assert!(ok, "{reg} {dir} ε={eps}: {row:?}");
                    }
                }
            }
        }
    }
}

/// Every op, forward and backward, gives the same bits on one thread and on several.
#[test]
fn parallel_and_single_thread_results_are_bit_identical() {
    let shape = Shape { batch: 300, n: 150 };
    for op in OPS {
        for reg in [L2, KL] {
            let mut rng = data::rng(4);
            let len = shape.batch * shape.n;
            let x: Vec<Vec<f64>> = inputs_of(op)
                .iter()
                .map(|(name, _)| match *name {
                    "relevance" => data::grades(&mut rng, len),
                    _ => data::uniform(&mut rng, len, -2.0, 2.0),
                })
                .collect();
            let width = if is_loss(op) { 1 } else { shape.n };
            let u = data::uniform(&mut rng, shape.batch * width, -1.0, 1.0);
            let p = P::new(0.5, reg, DESC);
            set_num_threads(1);
            let one = run::<f64>(op, p, shape, &x, Some(&u)).unwrap();
            let x32: Vec<Vec<f32>> = x
                .iter()
                .map(|v| v.iter().map(|&a| a as f32).collect())
                .collect();
            let u32: Vec<f32> = u.iter().map(|&a| a as f32).collect();
            let one32 = run::<f32>(op, p, shape, &x32, Some(&u32)).unwrap();
            set_num_threads(4);
            let many = run::<f64>(op, p, shape, &x, Some(&u)).unwrap();
            let many32 = run::<f32>(op, p, shape, &x32, Some(&u32)).unwrap();
            set_num_threads(0);
            let bits = |o: &common::Outcome| -> Vec<u64> {
                o.output
                    .iter()
                    .chain(o.grads.iter().flatten())
                    .chain(&o.grad_eps)
                    .map(|v| v.to_bits())
                    .collect()
            };
            assert!(bits(&one) == bits(&many), "{op} {reg} f64");
            assert!(bits(&one32) == bits(&many32), "{op} {reg} f32");
        }
    }
}

/// torchsort issue #63: KL at ε = 1e-4 with inputs near 0.9 (θ ≈ 9000) must stay finite.
#[test]
fn kl_is_finite_at_tiny_eps_and_large_values() {
    let x: Vec<f64> = (0..64)
        .map(|i| 0.9 + 1e-5 * ((i * 37) % 64) as f64)
        .collect();
    let u: Vec<f64> = (0..64).map(|i| ((i * 13) % 7) as f64 - 3.0).collect();
    let shape = Shape { batch: 1, n: 64 };
    for op in ["soft_rank", "soft_sort"] {
        for dir in [ASC, DESC] {
            for eps in [1e-4, 1e-6, 1e-8] {
                let p = P::new(eps, KL, dir);
                let a = run::<f64>(op, p, shape, std::slice::from_ref(&x), Some(&u)).unwrap();
                let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
                let u32: Vec<f32> = u.iter().map(|&v| v as f32).collect();
                let b = run::<f32>(op, p, shape, &[x32], Some(&u32)).unwrap();
                for o in [&a, &b] {
                    let all = o
                        .output
                        .iter()
                        .chain(o.grads.iter().flatten())
                        .chain(&o.grad_eps);
                    assert!(all.clone().all(|v| v.is_finite()), "{op} {dir} ε={eps}");
                }
            }
        }
    }
    // Huge values at ε = 1 as well.
    let big: Vec<f64> = (0..8).map(|i| 1e200 * (i as f64 - 3.5)).collect();
    let p = P::new(1.0, KL, ASC);
    let shape = Shape { batch: 1, n: 8 };
    let o = run::<f64>("soft_rank", p, shape, &[big], Some(&[1.0; 8])).unwrap();
    assert_eq!(o.output, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]);
    assert!(o.grads[0].iter().all(|v| v.is_finite()));
}

#[test]
fn one_item_rows_rank_one_with_zero_gradient() {
    let shape = Shape { batch: 3, n: 1 };
    let x = vec![vec![5.0, -2.0, 0.0]];
    let u = [1.0, -3.0, 2.0];
    for reg in [L2, KL] {
        for dir in [ASC, DESC] {
            let o = run::<f64>("soft_rank", P::new(0.1, reg, dir), shape, &x, Some(&u)).unwrap();
            assert_eq!(o.output, vec![1.0; 3]);
            assert_eq!(o.grads[0], vec![0.0; 3]);
            assert_eq!(o.grad_eps, vec![0.0; 3]);
            let o = run::<f64>("soft_sort", P::new(0.1, reg, dir), shape, &x, Some(&u)).unwrap();
            assert_eq!(o.output, x[0]);
            assert_eq!(o.grads[0], u.to_vec());
        }
    }
    let o = run::<f64>("sigmoid_rank", P::new(0.1, L2, ASC), shape, &x, Some(&u)).unwrap();
    assert_eq!(o.output, vec![1.0; 3]);
    let o = run::<f64>(
        "ndcg_loss",
        P::new(0.1, L2, ASC),
        shape,
        &[x[0].clone(), vec![1.0, 0.0, 2.0]],
        Some(&u),
    )
    .unwrap();
    assert_eq!(o.output, vec![0.0; 3]);
}

#[test]
fn empty_batches_and_rows_are_valid() {
    for op in OPS {
        for shape in [Shape::new(0, 5), Shape::new(0, 0), Shape::new(4, 0)] {
            if op == "spearman_loss" && shape.n < 2 {
                continue;
            }
            let width = if is_loss(op) { 1 } else { shape.n };
            let x: Vec<Vec<f64>> = inputs_of(op)
                .iter()
                .map(|_| vec![0.0; shape.batch * shape.n])
                .collect();
            let u = vec![1.0; shape.batch * width];
            let o = run::<f64>(op, P::new(1.0, L2, ASC), shape, &x, Some(&u))
                .unwrap_or_else(|e| panic!("{op} {shape:?}: {e}"));
            assert_eq!(o.output.len(), shape.batch * width);
            if op == "ndcg_loss" {
                assert!(
                    o.output.iter().all(|&v| v == 0.0),
                    "ndcg with n = 0 has loss 0"
                );
            }
        }
    }
}

#[test]
fn losses_behave_at_their_extremes() {
    let shape = Shape { batch: 3, n: 5 };
    let p = [1.0, 2.0, 3.0, 4.0, 5.0];
    let preds = [p, [5.0, 4.0, 3.0, 2.0, 1.0], [2.0; 5]].concat();
    let targets = [p, p, p].concat();
    let o = run::<f64>(
        "spearman_loss",
        P::new(1e-3, L2, ASC),
        shape,
        &[preds, targets],
        Some(&[1.0; 3]),
    )
    .unwrap();
    assert!(o.output[0].abs() < 1e-12);
    assert!((o.output[1] - 2.0).abs() < 1e-12);
    assert_eq!(o.output[2], 1.0, "constant predictions: loss 1");
    assert!(o.grads.iter().all(|g| g[10..].iter().all(|&v| v == 0.0)));

    // NDCG: the ideal order has loss ≈ 0, every relevance 0 gives exactly 0.
    let scores = [
        [3.0, 2.0, 1.0, 0.0, -1.0],
        [1.0; 5],
        [0.0, 1.0, 2.0, 3.0, 4.0],
    ]
    .concat();
    let rel = [
        [3.0, 2.0, 1.0, 0.0, 0.0],
        [0.0; 5],
        [3.0, 2.0, 1.0, 0.0, 0.0],
    ]
    .concat();
    let o = run::<f64>(
        "ndcg_loss",
        P::new(1e-3, KL, ASC),
        shape,
        &[scores, rel],
        Some(&[1.0; 3]),
    )
    .unwrap();
    assert!(o.output[0].abs() < 1e-12);
    assert_eq!(o.output[1], 0.0);
    assert!(o.output[2] > 0.3);
}

/// The packed residual holds σ with block starts as `!σ_k`, and the backward works from it
/// alone (here: a residual from a different but equally sorted row gives the same gradient).
#[test]
fn residual_encodes_sort_and_blocks() {
    let shape = Shape { batch: 1, n: 4 };
    let params = soft_rank::Params {
        regularization_strength: 1.0,
        ..Default::default()
    };
    let x = [0.0, 3.0, 0.2, 0.1];
    let (mut r, mut perm) = ([0.0; 4], [0i32; 4]);
    soft_rank::forward(shape, &params, &x, None, &mut r, &mut perm).unwrap();
    // Sorted decreasingly: 3.0 alone, then 0.2, 0.1, 0.0 pooled into one block.
    assert_eq!(perm, [!1, !2, 3, 0]);
    assert_eq!(r[1], 4.0);

    let sp = soft_sort::Params::<f64> {
        regularization_strength: 1.0,
        ..Default::default()
    };
    let (mut s, mut perm) = ([0.0; 4], [0i32; 4]);
    soft_sort::forward(shape, &sp, &x, None, &mut s, &mut perm).unwrap();
    assert_eq!(
        perm[0], !0,
        "ascending sort starts at the smallest value, column 0"
    );
}
