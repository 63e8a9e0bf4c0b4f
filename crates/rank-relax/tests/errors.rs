//! Every error case, with its exact message and kind. Nothing panics.

mod common;

use common::{run, P};
use rank_relax::ops::{ndcg_loss, soft_rank, soft_sort, spearman_loss};
use rank_relax::{Direction, Error, ErrorKind, Regularization, Shape};

const L2: Regularization = Regularization::L2;
const ASC: Direction = Direction::Ascending;

fn err<T: rank_relax::Real>(
    op: &str,
    p: P,
    shape: Shape,
    inputs: &[Vec<T>],
    cot: Option<&[T]>,
) -> Error {
    run::<T>(op, p, shape, inputs, cot).expect_err("must fail")
}

fn assert_err(e: Error, kind: ErrorKind, message: &str) {
    assert_eq!(e.message, message);
    assert_eq!(e.kind, kind, "{message}");
    assert_eq!(e.to_string(), message);
}

#[test]
fn non_finite_values_name_op_argument_row_and_column() {
    let shape = Shape { batch: 3, n: 8 };
    for (bad, text) in [
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+inf"),
        (f64::NEG_INFINITY, "-inf"),
    ] {
        let mut x = vec![0.5; 24];
        x[2 * 8 + 7] = bad;
        x[2 * 8 + 6 - 8] = 0.0; // fine values elsewhere
        let e = err(
            "soft_rank",
            P::new(1.0, L2, ASC),
            shape,
            std::slice::from_ref(&x),
            None,
        );
        assert_err(
            e,
            ErrorKind::InvalidValue,
            &format!("soft_rank: values[2, 7] is {text}"),
        );
        let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
        let e = err("soft_sort", P::new(1.0, L2, ASC), shape, &[x32], None);
        assert_err(
            e,
            ErrorKind::InvalidValue,
            &format!("soft_sort: values[2, 7] is {text}"),
        );
    }
    let shape = Shape { batch: 2, n: 3 };
    let good = vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
    let mut bad = good.clone();
    bad[4] = f64::NAN;
    let e = err(
        "spearman_loss",
        P::new(1.0, L2, ASC),
        shape,
        &[good.clone(), bad.clone()],
        None,
    );
    assert_err(
        e,
        ErrorKind::InvalidValue,
        "spearman_loss: targets[1, 1] is NaN",
    );
    let e = err(
        "sigmoid_rank",
        P::new(1.0, L2, ASC),
        shape,
        &[bad.clone()],
        None,
    );
    assert_err(
        e,
        ErrorKind::InvalidValue,
        "sigmoid_rank: values[1, 1] is NaN",
    );
    // A bad cotangent is an error of the backward.
    let e = err(
        "soft_rank",
        P::new(1.0, L2, ASC),
        shape,
        std::slice::from_ref(&good),
        Some(&bad),
    );
    assert_err(
        e,
        ErrorKind::InvalidValue,
        "soft_rank: cotangent_ranks[1, 1] is NaN",
    );
    let e = err(
        "ndcg_loss",
        P::new(1.0, L2, ASC),
        shape,
        &[good.clone(), good.clone()],
        Some(&[1.0, f64::INFINITY]),
    );
    assert_err(
        e,
        ErrorKind::InvalidValue,
        "ndcg_loss: cotangent_loss[1] is +inf",
    );
}

#[test]
fn regularization_strength_must_be_finite_and_positive() {
    let shape = Shape { batch: 1, n: 2 };
    for (eps, text) in [
        (0.0, "0"),
        (-1.0, "-1"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+inf"),
        (-2.5e-300, "-2.5e-300"),
    ] {
        for op in common::OPS {
            let x: Vec<Vec<f64>> = common::inputs_of(op)
                .iter()
                .map(|_| vec![1.0, 2.0])
                .collect();
            let e = err(op, P::new(eps, L2, ASC), shape, &x, None);
            assert_err(
                e,
                ErrorKind::InvalidArgument,
                &format!("{op}: regularization_strength must be finite and > 0, got {text}"),
            );
        }
    }
    let e = err::<f32>(
        "soft_rank",
        P::new(0.0, L2, ASC),
        shape,
        &[vec![1.0, 2.0]],
        None,
    );
    assert_eq!(
        e.message,
        "soft_rank: regularization_strength must be finite and > 0, got 0"
    );
}

#[test]
fn enum_values_are_checked() {
    let e = Regularization::parse("up")
        .unwrap_err()
        .with_op("soft_rank");
    assert_err(
        e,
        ErrorKind::InvalidArgument,
        r#"soft_rank: regularization must be one of "l2", "kl", got "up""#,
    );
    let e = Direction::parse("Ascending").unwrap_err();
    assert_err(
        e,
        ErrorKind::InvalidArgument,
        r#"direction must be one of "ascending", "descending", got "Ascending""#,
    );
    let e = Regularization::from_code(-1).unwrap_err();
    assert_err(
        e,
        ErrorKind::InvalidArgument,
        "regularization must be one of 0 (l2), 1 (kl), got -1",
    );
    assert_eq!(Regularization::from_code(1), Ok(Regularization::Kl));
    assert_eq!(Direction::parse("descending"), Ok(Direction::Descending));
}

#[test]
fn buffer_lengths_must_match_the_shape() {
    let shape = Shape { batch: 2, n: 3 };
    let p = soft_rank::Params::<f64>::default();
    let (mut r, mut perm) = (vec![0.0; 6], vec![0i32; 6]);
    let e = soft_rank::forward(shape, &p, &[0.0; 7], None, &mut r, &mut perm).unwrap_err();
    assert_err(
        e,
        ErrorKind::ShapeMismatch,
        "soft_rank: values has 7 elements, expected batch × n = 2 × 3 = 6",
    );
    let e = soft_rank::forward(shape, &p, &[0.0; 6], None, &mut r, &mut perm[..5]).unwrap_err();
    assert_err(
        e,
        ErrorKind::ShapeMismatch,
        "soft_rank: permutation has 5 elements, expected batch × n = 2 × 3 = 6",
    );
    let (mut g, mut ge) = (vec![0.0; 6], vec![0.0; 3]);
    soft_rank::forward(shape, &p, &[0.0; 6], None, &mut r, &mut perm).unwrap();
    let e = soft_rank::backward(
        shape, &p, &[0.0; 6], None, &r, &perm, &[0.0; 6], &mut g, &mut ge,
    )
    .unwrap_err();
    assert_err(
        e,
        ErrorKind::ShapeMismatch,
        "soft_rank: grad_regularization_strength has 3 elements, expected batch = 2",
    );

    let sp = spearman_loss::Params::<f64>::default();
    let mut loss = vec![0.0; 3];
    let (mut ar, mut ap, mut br, mut bp) = (vec![0.0; 6], vec![0; 6], vec![0.0; 6], vec![0; 6]);
    let e = spearman_loss::forward(
        shape, &sp, &[0.0; 6], &[0.0; 8], None, &mut loss, &mut ar, &mut ap, &mut br, &mut bp,
    )
    .unwrap_err();
    assert_err(
        e,
        ErrorKind::ShapeMismatch,
        "spearman_loss: targets has 8 elements, expected batch × n = 2 × 3 = 6",
    );
    let e = spearman_loss::forward(
        shape, &sp, &[0.0; 6], &[0.0; 6], None, &mut loss, &mut ar, &mut ap, &mut br, &mut bp,
    )
    .unwrap_err();
    assert_err(
        e,
        ErrorKind::ShapeMismatch,
        "spearman_loss: loss has 3 elements, expected batch = 2",
    );
}

#[test]
fn spearman_needs_two_items_per_row() {
    for n in [0usize, 1] {
        let shape = Shape { batch: 2, n };
        let x = vec![1.0; 2 * n];
        let e = err(
            "spearman_loss",
            P::new(1.0, L2, ASC),
            shape,
            &[x.clone(), x],
            None,
        );
        assert_err(
            e,
            ErrorKind::InvalidArgument,
            &format!("spearman_loss: needs n >= 2 items per row, got n = {n}"),
        );
    }
}

#[test]
fn relevance_must_be_finite_and_nonnegative() {
    let shape = Shape { batch: 1, n: 3 };
    let scores = vec![0.2, 1.5, 0.3];
    let e = err(
        "ndcg_loss",
        P::new(1.0, L2, ASC),
        shape,
        &[scores.clone(), vec![0.0, -1.0, 1.0]],
        None,
    );
    assert_err(
        e,
        ErrorKind::InvalidValue,
        "ndcg_loss: relevance[0, 1] is negative (-1)",
    );
    let e = err(
        "ndcg_loss",
        P::new(1.0, L2, ASC),
        shape,
        &[scores.clone(), vec![0.0, 1.0, f64::NAN]],
        None,
    );
    assert_err(
        e,
        ErrorKind::InvalidValue,
        "ndcg_loss: relevance[0, 2] is NaN",
    );
    // Very large relevance is fine: gains are rescaled, not overflowed.
    let o = run::<f64>(
        "ndcg_loss",
        P::new(1.0, L2, ASC),
        shape,
        &[scores, vec![0.0, 5000.0, 4999.0]],
        Some(&[1.0]),
    )
    .unwrap();
    assert!(o.output[0].is_finite() && o.grads[0].iter().all(|g| g.is_finite()));
}

#[test]
fn rows_longer_than_i32_max_are_rejected() {
    let shape = Shape {
        batch: 0,
        n: i32::MAX as usize + 1,
    };
    let e = err::<f64>("soft_rank", P::new(1.0, L2, ASC), shape, &[vec![]], None);
    assert_err(
        e,
        ErrorKind::InvalidArgument,
        "soft_rank: n = 2147483648 exceeds the maximum row length 2147483647",
    );
    let e = soft_sort::forward::<f32>(
        Shape {
            batch: usize::MAX,
            n: 2,
        },
        &Default::default(),
        &[],
        None,
        &mut [],
        &mut [],
    )
    .unwrap_err();
    assert_eq!(e.kind, ErrorKind::ShapeMismatch);
    assert!(
        e.message.starts_with("soft_sort: batch × n = "),
        "{}",
        e.message
    );
}

#[test]
fn a_corrupt_residual_is_an_error_not_a_panic() {
    let shape = Shape { batch: 1, n: 3 };
    let p = soft_rank::Params::<f64>::default();
    let (mut g, mut ge) = ([0.0; 3], [0.0]);
    let x = [1.0, 2.0, 3.0];
    for (perm, at) in [([!0, 1, 7], 2), ([0, 1, 2], 0), ([!0, -9, 2], 1)] {
        let e =
            soft_rank::backward(shape, &p, &x, None, &x, &perm, &x, &mut g, &mut ge).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidValue);
        assert!(
            e.message
                .starts_with(&format!("soft_rank: permutation[0, {at}] = ")),
            "{}",
            e.message
        );
    }
    let np = ndcg_loss::Params::<f64>::default();
    let e = ndcg_loss::backward(
        shape,
        &np,
        &x,
        &x,
        None,
        &x,
        &[!3, 0, 1],
        &[1.0],
        &mut g,
        &mut ge,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "ndcg_loss: permutation[0, 0] = -4 is not a valid permutation residual entry for n = 3"
    );
}

#[test]
fn scaled_values_that_overflow_are_rejected() {
    let shape = Shape { batch: 1, n: 2 };
    let e = err(
        "soft_rank",
        P::new(1e-10, L2, ASC),
        shape,
        &[vec![1e300, -1.0]],
        None,
    );
    assert_err(
        e,
        ErrorKind::InvalidArgument,
        "soft_rank: values / regularization_strength overflows (max |values| = 1e300, regularization_strength = 1e-10)",
    );
    let e = err(
        "soft_sort",
        P::new(1e-308, L2, ASC),
        shape,
        &[vec![1.0, 2.0]],
        None,
    );
    assert_eq!(e.kind, ErrorKind::InvalidArgument);
}
