//! sigmoid_rank's limit on pairwise work: the default, the environment variable and the setter.
//! (Its own test binary: the limit is process-wide and its default is read once per process.)

mod common;

use common::{run, P};
use rank_relax::ops::sigmoid_rank::{max_pairs, DEFAULT_MAX_PAIRS, MAX_PAIRS_ENV};
use rank_relax::{set_sigmoid_rank_max_pairs, Direction, ErrorKind, Regularization, Shape};

fn sigmoid(shape: Shape, backward: bool) -> Result<(), rank_relax::Error> {
    let x: Vec<f64> = (0..shape.batch * shape.n).map(|i| (i % 7) as f64).collect();
    let u = vec![1.0; x.len()];
    let p = P::new(1.0, Regularization::L2, Direction::Ascending);
    run::<f64>("sigmoid_rank", p, shape, &[x], backward.then_some(&u[..])).map(|_| ())
}

#[test]
fn pairwise_work_is_limited_unless_the_caller_opts_in() {
    assert_eq!(DEFAULT_MAX_PAIRS, 1 << 32);
    // The environment sets the process default (read at the first use).
    std::env::set_var(MAX_PAIRS_ENV, "1000");
    assert_eq!(max_pairs(), 1000);
    // 45 · 44/2 = 990 pairs fit; 46 · 45/2 = 1035 do not, forward or backward.
    for backward in [false, true] {
        sigmoid(Shape::new(1, 45), backward).unwrap();
        let e = sigmoid(Shape::new(1, 46), backward).unwrap_err();
        assert_eq!(e.kind, ErrorKind::InvalidArgument);
        assert_eq!(
            e.message,
            "sigmoid_rank: n = 46 with batch = 1 needs 1035 pairwise terms, more than the limit \
             1000; use soft_rank for long rows, or raise the limit \
             (RANK_RELAX_SIGMOID_RANK_MAX_PAIRS, rank_relax::set_sigmoid_rank_max_pairs)"
        );
        // The batch counts: 5 rows of 20 (950 pairs) fit, 6 (1140) do not.
        sigmoid(Shape::new(5, 20), backward).unwrap();
        let e = sigmoid(Shape::new(6, 20), backward).unwrap_err();
        assert!(e
            .message
            .starts_with("sigmoid_rank: n = 20 with batch = 6 needs 1140 pairwise terms"));
    }
    // Empty calls and n = 1 do no pairwise work.
    sigmoid(Shape::new(0, 1 << 20), false).unwrap();
    sigmoid(Shape::new(3000, 1), true).unwrap();
    // The setter opts in (u64::MAX: no limit) and 0 restores the default.
    set_sigmoid_rank_max_pairs(u64::MAX);
    sigmoid(Shape::new(1, 46), true).unwrap();
    set_sigmoid_rank_max_pairs(2000);
    assert_eq!(max_pairs(), 2000);
    sigmoid(Shape::new(1, 46), false).unwrap();
    set_sigmoid_rank_max_pairs(0);
    assert_eq!(max_pairs(), 1000);
    assert!(sigmoid(Shape::new(1, 46), false).is_err());
    // The other ops have no such limit.
    let x = vec![0.5; 46];
    let p = P::new(1.0, Regularization::L2, Direction::Ascending);
    run::<f64>("soft_rank", p, Shape::new(1, 46), &[x], None).unwrap();
}
