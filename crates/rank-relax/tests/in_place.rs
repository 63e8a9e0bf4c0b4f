//! `soft_rank::backward_in_place` and `soft_sort::backward_in_place` (the gradient written over
//! the cotangent) give bit for bit what `backward` gives, on every thread count, and refuse bad
//! input with `backward`'s errors, leaving the buffer as it was.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rank_relax::ops::{soft_rank, soft_sort};
use rank_relax::{set_num_threads, Direction, Real, Regularization, Shape};

const SHAPES: [(usize, usize); 7] = [
    (0, 5),
    (3, 0),
    (1, 1),
    (1, 7),
    (5, 33),
    (64, 100),
    (3, 2000),
];

fn random<T: Real>(rng: &mut StdRng, len: usize, ties: bool) -> Vec<T> {
    (0..len)
        .map(|_| {
            let v: f64 = rng.random_range(-2.0..2.0);
            // Rounded to a coarse grid, rows get tied values and so PAV blocks of every size.
            T::from_f64(if ties { (v * 4.0).round() / 4.0 } else { v })
        })
        .collect()
}

fn bits<T: Real>(v: &[T]) -> Vec<u64> {
    v.iter().map(|x| x.to_f64().to_bits()).collect()
}

fn each_case(mut f: impl FnMut(Shape, Regularization, Direction, bool, u64)) {
    let mut seed = 0;
    for (batch, n) in SHAPES {
        for regularization in [Regularization::L2, Regularization::Kl] {
            for direction in [Direction::Ascending, Direction::Descending] {
                for ties in [false, true] {
                    seed += 1;
                    f(Shape { batch, n }, regularization, direction, ties, seed);
                }
            }
        }
    }
}

fn soft_rank_matches<T: Real>() {
    each_case(|shape, regularization, direction, ties, seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        let len = shape.batch * shape.n;
        let p = soft_rank::Params {
            regularization_strength: T::from_f64(0.3),
            regularization,
            direction,
        };
        let x = random::<T>(&mut rng, len, ties);
        let u = random::<T>(&mut rng, len, false);
        let (mut r, mut perm) = (vec![T::from_f64(0.0); len], vec![0; len]);
        soft_rank::forward(shape, &p, &x, None, &mut r, &mut perm).unwrap();
        let mut g = vec![T::from_f64(0.0); len];
        let mut ge = vec![T::from_f64(0.0); shape.batch];
        soft_rank::backward(shape, &p, &x, None, &r, &perm, &u, &mut g, &mut ge).unwrap();
        for threads in [1, 2, 4] {
            set_num_threads(threads);
            let mut ug = u.clone();
            let mut ge2 = vec![T::from_f64(0.0); shape.batch];
            soft_rank::backward_in_place(shape, &p, &x, None, &r, &perm, &mut ug, &mut ge2)
                .unwrap();
            let what = format!("soft_rank {shape:?} {p:?} ties {ties}, {threads} threads");
            assert_eq!(bits(&ug), bits(&g), "{what}: gradient");
            assert_eq!(bits(&ge2), bits(&ge), "{what}: ε-gradient");
        }
        set_num_threads(0);
    });
}

fn soft_sort_matches<T: Real>() {
    each_case(|shape, regularization, direction, ties, seed| {
        let mut rng = StdRng::seed_from_u64(seed);
        let len = shape.batch * shape.n;
        let p = soft_sort::Params {
            regularization_strength: T::from_f64(0.3),
            regularization,
            direction,
        };
        let x = random::<T>(&mut rng, len, ties);
        let u = random::<T>(&mut rng, len, false);
        let (mut s, mut perm) = (vec![T::from_f64(0.0); len], vec![0; len]);
        soft_sort::forward(shape, &p, &x, None, &mut s, &mut perm).unwrap();
        let mut g = vec![T::from_f64(0.0); len];
        let mut ge = vec![T::from_f64(0.0); shape.batch];
        soft_sort::backward(shape, &p, &x, None, &perm, &u, &mut g, &mut ge).unwrap();
        for threads in [1, 2, 4] {
            set_num_threads(threads);
            let mut ug = u.clone();
            let mut ge2 = vec![T::from_f64(0.0); shape.batch];
            soft_sort::backward_in_place(shape, &p, &x, None, &perm, &mut ug, &mut ge2).unwrap();
            let what = format!("soft_sort {shape:?} {p:?} ties {ties}, {threads} threads");
            assert_eq!(bits(&ug), bits(&g), "{what}: gradient");
            assert_eq!(bits(&ge2), bits(&ge), "{what}: ε-gradient");
        }
        set_num_threads(0);
    });
}

#[test]
fn in_place_matches_backward() {
    // One test: set_num_threads is process-wide.
    soft_rank_matches::<f64>();
    soft_rank_matches::<f32>();
    soft_sort_matches::<f64>();
    soft_sort_matches::<f32>();
}

#[test]
fn in_place_refuses_what_backward_refuses() {
    let shape = Shape { batch: 2, n: 4 };
    let p = soft_rank::Params::<f64> {
        regularization_strength: 0.5,
        ..Default::default()
    };
    let x = [0.5, -1.0, 2.0, 0.0, 1.0, 1.0, -3.0, 4.0];
    let (mut r, mut perm) = (vec![0.0; 8], vec![0; 8]);
    soft_rank::forward(shape, &p, &x, None, &mut r, &mut perm).unwrap();
    let mut bad_u = vec![1.0; 8];
    bad_u[5] = f64::NAN;
    let mut g = vec![0.0; 8];
    let mut ge = vec![0.0; 2];

    let want =
        soft_rank::backward(shape, &p, &x, None, &r, &perm, &bad_u, &mut g, &mut ge).unwrap_err();
    let mut ug = bad_u.clone();
    let got =
        soft_rank::backward_in_place(shape, &p, &x, None, &r, &perm, &mut ug, &mut ge).unwrap_err();
    assert_eq!(got.to_string(), want.to_string());
    assert!(got.to_string().contains("cotangent_ranks"), "{got}");
    assert_eq!(
        bits(&ug),
        bits(&bad_u),
        "the buffer is unchanged on an error"
    );

    // A short buffer names the gradient, as backward does for a short grad_values.
    let mut short = vec![1.0; 7];
    let err = soft_rank::backward_in_place(shape, &p, &x, None, &r, &perm, &mut short, &mut ge)
        .unwrap_err()
        .to_string();
    assert!(err.contains("cotangent_ranks"), "{err}");

    // A corrupt permutation residual is refused before anything is written.
    let mut corrupt = perm.clone();
    corrupt[1] = 99;
    let mut ug = vec![1.0; 8];
    let err = soft_rank::backward_in_place(shape, &p, &x, None, &r, &corrupt, &mut ug, &mut ge)
        .unwrap_err()
        .to_string();
    assert!(err.contains("permutation"), "{err}");
    assert_eq!(ug, vec![1.0; 8]);

    let ps = soft_sort::Params::<f64> {
        regularization_strength: 0.5,
        ..Default::default()
    };
    let (mut s, mut perm) = (vec![0.0; 8], vec![0; 8]);
    soft_sort::forward(shape, &ps, &x, None, &mut s, &mut perm).unwrap();
    let want =
        soft_sort::backward(shape, &ps, &x, None, &perm, &bad_u, &mut g, &mut ge).unwrap_err();
    let mut ug = bad_u.clone();
    let got =
        soft_sort::backward_in_place(shape, &ps, &x, None, &perm, &mut ug, &mut ge).unwrap_err();
    assert_eq!(got.to_string(), want.to_string());
    assert_eq!(bits(&ug), bits(&bad_u));
}
