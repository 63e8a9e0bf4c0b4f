//! What fuzzing the C ABI found (scripts/fuzz.sh, docs/reliability.md), as plain regression
//! tests of the core. The raw reproducers are replayed through the fuzz harness by
//! `crates/rank-relax-ffi/tests/fuzz_regressions.rs`.

mod common;

use std::time::{Duration, Instant};

use common::{run, run_sized, OPS, P};
use rank_relax::ops::{ndcg_loss, sigmoid_rank, soft_rank, soft_sort};
use rank_relax::{Direction, ErrorKind, Regularization, Shape};

const KL: Regularization = Regularization::Kl;
const ASC: Direction = Direction::Ascending;

/// A batch of empty rows needs no memory, so its size is unbounded: it must not be walked row
/// by row (batch = usize::MAX, n = 0 hung the fuzzer).
#[test]
fn a_huge_batch_of_empty_rows_returns_at_once() {
    let t = Instant::now();
    let shape = Shape::new(usize::MAX, 0);
    soft_rank::forward::<f64>(shape, &Default::default(), &[], None, &mut [], &mut []).unwrap();
    soft_sort::forward::<f32>(shape, &Default::default(), &[], None, &mut [], &mut []).unwrap();
    sigmoid_rank::forward::<f64>(shape, &Default::default(), &[], None, &mut []).unwrap();
    assert!(t.elapsed() < Duration::from_secs(1));
}

/// An empty batch sizes nothing by n (batch = 0, n = 2³¹ − 1 with kl built a 16 GiB table of
/// logarithms: the fuzzer's out-of-memory finding).
#[test]
fn an_empty_batch_of_long_rows_allocates_nothing() {
    let t = Instant::now();
    let shape = Shape::new(0, i32::MAX as usize);
    for op in OPS {
        let inputs = vec![vec![]; common::inputs_of(op).len()];
        let p = P::new(1.0, KL, ASC);
        run_sized::<f64>(op, p, shape, (0, 0), &inputs, Some(&[])).unwrap();
    }
    let p = ndcg_loss::Params::<f32> {
        regularization: KL,
        ..Default::default()
    };
    ndcg_loss::forward(shape, &p, &[], &[], None, &mut [], &mut [], &mut []).unwrap();
    assert!(t.elapsed() < Duration::from_secs(1));
}

/// A subnormal ε passes "finite and > 0" but 1/ε is ∞: with all-zero values the forward used
/// to succeed and the backward return ∞ · 0 = NaN.
#[test]
fn a_subnormal_eps_is_refused() {
    let shape = Shape::new(1, 3);
    for op in OPS {
        let x: Vec<Vec<f64>> = common::inputs_of(op).iter().map(|_| vec![0.0; 3]).collect();
        let e =
            run::<f64>(op, P::new(5e-324, Regularization::L2, ASC), shape, &x, None).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(
            e.message,
            format!("{op}: regularization_strength = 5e-324 is too small: 1 / regularization_strength overflows")
        );
    }
    // A tiny normal ε is fine (n·|u|/ε still fits an f64).
    let x = vec![vec![0.0, 0.0, 0.0]];
    let o = run::<f64>(
        "soft_rank",
        P::new(1e-300, KL, ASC),
        shape,
        &x,
        Some(&[1.0, 0.0, 2.0]),
    )
    .unwrap();
    assert!(o.grads[0].iter().chain(&o.grad_eps).all(|g| !g.is_nan()));
}

/// A cotangent whose gradient overflows f64 is refused, not turned into ±∞ and NaN.
#[test]
fn a_cotangent_that_overflows_the_gradient_is_refused() {
    let shape = Shape::new(1, 4);
    let x = vec![vec![0.0, 0.0, 1.0, 1.0]];
    let u = [1e300, -1e300, 0.0, 1.0];
    for op in ["soft_rank", "sigmoid_rank", "soft_sort"] {
        let e = run::<f64>(
            op,
            P::new(1e-10, Regularization::L2, ASC),
            shape,
            &x,
            Some(&u),
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument, "{op}");
        assert!(
            e.message.starts_with(&format!("{op}: cotangent_")),
            "{}",
            e.message
        );
        assert!(
            e.message
                .contains("/ regularization_strength overflows (max |cotangent_"),
            "{}",
            e.message
        );
    }
    // Ordinary cotangents at the same ε are fine.
    let o = run::<f64>(
        "soft_rank",
        P::new(1e-10, Regularization::L2, ASC),
        shape,
        &x,
        Some(&[1.0, -1.0, 0.5, 2.0]),
    )
    .unwrap();
    assert!(o.grads[0].iter().chain(&o.grad_eps).all(|g| g.is_finite()));
}

/// Relevance near 3e18: `max − 900` rounded by 512 and left a gain of 2^1024 = ∞, so the loss
/// was ∞/∞ = NaN.
#[test]
fn huge_relevance_gives_a_finite_loss() {
    let shape = Shape::new(1, 7);
    let scores = vec![-1.75, -1.75, 1.75, 0.255, 0.001, 0.255, 0.255];
    let relevance = vec![
        0.255,
        0.048,
        0.255,
        1.0,
        2.2250738585072014e-308,
        0.255,
        2.8480644520109665e18,
    ];
    let o = run::<f64>(
        "ndcg_loss",
        P::new(1.0, KL, ASC),
        shape,
        &[scores, relevance],
        Some(&[1.0]),
    )
    .unwrap();
    assert!(
        o.output[0].is_finite() && o.grads[0].iter().all(|g| g.is_finite()),
        "{o:?}"
    );
}

/// Saved ranks that no forward makes (outside [1, n]) are refused: the kl and loss backwards divide
/// by them (a rank of 2e-308 gave ∞ and NaN in ndcg_loss's gradient).
#[test]
fn corrupted_saved_ranks_are_refused() {
    let shape = Shape::new(1, 3);
    let x = [-0.75, -1.0, 0.5];
    let ranks = [2.03, 2.2250738585072014e-308, 1.88];
    let perm = [!2, 0, 2];
    let (mut g, mut ge) = ([0.0; 3], [0.0]);
    let p = ndcg_loss::Params::<f64>::default();
    let e = ndcg_loss::backward(
        shape,
        &p,
        &x,
        &[0.0, 0.0, 0.25],
        None,
        &ranks,
        &perm,
        &[0.25],
        &mut g,
        &mut ge,
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::InvalidValue);
    assert_eq!(
        e.message,
        "ndcg_loss: ranks[0, 1] = 2.2250738585072014e-308 is not a soft rank (soft ranks lie in [1, n])"
    );
    let p = soft_rank::Params::<f64> {
        regularization: KL,
        ..Default::default()
    };
    let e = soft_rank::backward(
        shape,
        &p,
        &x,
        None,
        &[1.0, 0.0, 2.0],
        &perm,
        &[1.0; 3],
        &mut g,
        &mut ge,
    )
    .unwrap_err();
    assert!(
        e.message
            .starts_with("soft_rank: ranks[0, 1] = 0 is not a soft rank"),
        "{}",
        e.message
    );
    // Nor can a rank be far above n (spearman_loss squared a rank of 3e284 into ∞, then NaN).
    let sp = rank_relax::ops::spearman_loss::Params::<f64>::default();
    let (mut g2, ranks_ok) = ([0.0; 3], [1.0, 2.0, 3.0]);
    let e = rank_relax::ops::spearman_loss::backward(
        shape,
        &sp,
        &x,
        &x,
        None,
        &ranks_ok,
        &perm,
        &[1.0, 3e284, 2.0],
        &perm,
        &[0.25],
        &mut g,
        &mut g2,
        &mut ge,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "spearman_loss: target_ranks[0, 1] = 3e284 is not a soft rank (soft ranks lie in [1, n])"
    );
}
