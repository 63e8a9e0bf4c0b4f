//! soft_rank and soft_sort, forward and backward, against a bare argsort of the same batch on
//! the same number of threads; sigmoid_rank, forward and backward, against a scalar reference of
//! its pairwise loops (f64 with `f64::exp`, each pair once). Prints Markdown tables.
//!
//! `cargo bench -p rank-relax --bench ops [-- [kl] [f64|f32] [soft_rank|soft_sort|sigmoid_rank]]`
//!
//! `-- jvp` (also part of the default run) times every op's JVP (with an ε-tangent) next to its
//! VJP at 128×1000 in f64 and prints the ratio, and its HVP (the second-order kernel) as a ratio
//! to one forward + backward.
//!
//! `-- topk` (also part of the default run) times soft_topk's forward + backward (l2 and p43,
//! several k) at 128×1000 f64 on one thread, as a ratio to soft_rank's (l2) on the same batch.
//! `-- grouped` (also part of the default run) times soft_rank_grouped's forward + backward at
//! 128×1000 f64 on one thread with 1 to 1000 groups per row (ids in random order), as a ratio to
//! soft_rank's on the same batch.
//! `-- neural_sort` (also part of the default run) times neural_sort_apply against neural_sort
//! then a matmul (`P·payload`, and for the backward `U = v·payloadᵀ` then neural_sort's VJP and
//! `Pᵀv`) at n = 100, 1000, 4000 in f64 on one thread, with the bytes each holds.
//!
//! With `BENCH_OUT` set (a folder), also appends one JSON line per soft_rank/soft_sort table row
//! to `$BENCH_OUT/core.jsonl`.

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rank_relax::ops::{
    ndcg_loss, neural_sort, neural_sort_apply, sigmoid_rank, soft_quantile, soft_rank,
    soft_rank_grouped, soft_sort, soft_sort_topk, soft_topk, spearman_loss,
};
use rank_relax::{
    num_threads, set_num_threads, Direction, Real, Regularization, Shape, TopkRegularization,
};
use rayon::prelude::*;

/// Every op through one call with an optional mask (shared with the tests): the dispatch
/// generated from the spec and its wrapper.
#[path = "../tests/common/all_ops.rs"]
#[allow(dead_code)]
mod all_ops;
#[path = "../tests/common/dispatch.rs"]
#[allow(dead_code)]
mod dispatch;

const SHAPES: [(usize, usize); 4] = [(1, 1000), (128, 1000), (16, 10000), (1024, 100)];
/// sigmoid_rank is O(n²) per row: shapes with up to 10⁶ pairs.
const SIGMOID_SHAPES: [(usize, usize); 3] = [(128, 100), (16, 1000), (1024, 32)];

/// Seconds per call of `f`: the best of nine samples of at least ~20 ms each (the best, as
/// other processes on the machine only ever add time).
fn time(mut f: impl FnMut()) -> f64 {
    f();
    let start = Instant::now();
    let mut reps = 0u32;
    while start.elapsed() < Duration::from_millis(20) {
        f();
        reps += 1;
    }
    let reps = reps.max(1);
    let mut samples: Vec<f64> = (0..9)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..reps {
                f();
            }
            t.elapsed().as_secs_f64() / reps as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    samples[0]
}

/// The baseline: per row, `idx.sort_unstable_by(|&a, &b| x[a].total_cmp(&x[b]))`, rows spread
/// over `threads` rayon threads in chunks, one index buffer per chunk.
/// `total_cmp` of the element type itself (no widening in the comparator).
trait TotalCmp {
    fn total(&self, other: &Self) -> std::cmp::Ordering;
}

impl TotalCmp for f32 {
    fn total(&self, other: &Self) -> std::cmp::Ordering {
        self.total_cmp(other)
    }
}

impl TotalCmp for f64 {
    fn total(&self, other: &Self) -> std::cmp::Ordering {
        self.total_cmp(other)
    }
}

fn argsort<T: Real + TotalCmp>(pool: &rayon::ThreadPool, x: &[T], n: usize, out: &mut [u32]) {
    let rows = |idx: &mut [u32], x: &[T]| {
        for (idx, x) in idx.chunks_mut(n).zip(x.chunks(n)) {
            for (i, v) in idx.iter_mut().enumerate() {
                *v = i as u32;
            }
            idx.sort_unstable_by(|&a, &b| x[a as usize].total(&x[b as usize]));
        }
    };
    let threads = pool.current_num_threads();
    let batch = x.len() / n;
    // Like the kernels: one thread or one row runs on the calling thread.
    if threads == 1 || batch < 2 {
        return rows(out, x);
    }
    let rows_per_task = (batch / (4 * threads)).max(1);
    pool.install(|| {
        out.par_chunks_mut(rows_per_task * n)
            .zip(x.par_chunks(rows_per_task * n))
            .for_each(|(idx, x)| rows(idx, x))
    });
}

struct Row {
    fwd: f64,
    bwd: f64,
    sort: f64,
}

/// The inputs and cotangents of a benchmark: values uniform in [-1, 1). Small batches cycle
/// through several sets, so no timing learns one row's branch pattern.
#[allow(clippy::type_complexity)]
fn inputs<T: Real>(len: usize) -> (usize, Vec<Vec<T>>, Vec<Vec<T>>) {
    let sets = (1usize << 16).div_ceil(len.max(1)).clamp(1, 64);
    let mut rng = StdRng::seed_from_u64(42);
    let mut random = || -> Vec<T> {
        (0..len)
            .map(|_| T::from_f64(rng.random_range(-1.0..1.0)))
            .collect()
    };
    let x = (0..sets).map(|_| random()).collect();
    let u = (0..sets).map(|_| random()).collect();
    (sets, x, u)
}

fn bench<T: Real + TotalCmp>(op: &str, reg: Regularization, shape: Shape, threads: usize) -> Row {
    let (b, n) = (shape.batch, shape.n);
    let len = b * n;
    let (sets, x, u) = inputs::<T>(len);
    let eps = T::from_f64(0.1);
    let mut out = vec![vec![T::from_f64(0.0); len]; sets];
    let mut perm = vec![vec![0i32; len]; sets];
    let mut g = vec![T::from_f64(0.0); len];
    let mut ge = vec![T::from_f64(0.0); b];
    set_num_threads(threads);
    let mut i = 0;
    let mut next = || {
        i = (i + 1) % sets;
        i
    };
    let (fwd, bwd) = if op == "soft_rank" {
        let p = soft_rank::Params {
            regularization_strength: eps,
            regularization: reg,
            ..Default::default()
        };
        let fwd = time(|| {
            let k = next();
            soft_rank::forward(shape, &p, black_box(&x[k]), None, &mut out[k], &mut perm[k])
                .unwrap()
        });
        let bwd = time(|| {
            let k = next();
            let (x, r, p_, u) = (&x[k], &out[k], &perm[k], &u[k]);
            soft_rank::backward(shape, &p, x, None, r, p_, black_box(u), &mut g, &mut ge).unwrap()
        });
        (fwd, bwd)
    } else {
        let p = soft_sort::Params {
            regularization_strength: eps,
            regularization: reg,
            ..Default::default()
        };
        let fwd = time(|| {
            let k = next();
            soft_sort::forward(shape, &p, black_box(&x[k]), None, &mut out[k], &mut perm[k])
                .unwrap()
        });
        let bwd = time(|| {
            let k = next();
            let (x, p_, u) = (&x[k], &perm[k], &u[k]);
            soft_sort::backward(shape, &p, x, None, p_, black_box(u), &mut g, &mut ge).unwrap()
        });
        (fwd, bwd)
    };
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(num_threads())
        .build()
        .expect("pool");
    let mut idx = vec![0u32; len];
    let sort = time(|| argsort(&pool, black_box(&x[next()]), n, &mut idx));
    set_num_threads(0);
    Row { fwd, bwd, sort }
}

/// The scalar reference of sigmoid_rank: each pair i < j once, in f64 with `f64::exp` (the
/// kernel before it was vectorised).
mod scalar {
    use rank_relax::Real;

    fn sigmoid_pair(t: f64) -> (f64, f64, f64) {
        let e = (-t.abs()).exp();
        let d = 1.0 / (1.0 + e);
        let (big, small) = (d, e * d);
        let slope = small * d;
        if t >= 0.0 {
            (big, small, slope)
        } else {
            (small, big, slope)
        }
    }

    pub fn forward<T: Real>(c: f64, acc: &mut Vec<f64>, x: &[T], r: &mut [T]) {
        let n = x.len();
        acc.clear();
        acc.resize(n, 1.0);
        for i in 0..n {
            let xi = x[i].to_f64();
            for j in i + 1..n {
                let (p, q, _) = sigmoid_pair(c * (xi - x[j].to_f64()));
                acc[i] += p;
                acc[j] += q;
            }
        }
        for (ri, a) in r.iter_mut().zip(acc.iter()) {
            *ri = T::from_f64(*a);
        }
    }

    pub fn backward<T: Real>(c: f64, acc: &mut Vec<f64>, x: &[T], u: &[T], g: &mut [T]) -> f64 {
        let n = x.len();
        acc.clear();
        acc.resize(n, 0.0);
        let mut dot = 0.0;
        for i in 0..n {
            let (xi, ui) = (x[i].to_f64(), u[i].to_f64());
            for j in i + 1..n {
                let t = c * (xi - x[j].to_f64());
                let (_, _, slope) = sigmoid_pair(t);
                let d = slope * (ui - u[j].to_f64());
                acc[i] += d;
                acc[j] -= d;
                if slope != 0.0 {
                    dot += d * t;
                }
            }
        }
        for (gi, a) in g.iter_mut().zip(acc.iter()) {
            *gi = T::from_f64(c * a);
        }
        dot
    }
}

/// Forward and backward of sigmoid_rank and of the scalar reference, seconds per call.
struct SigmoidRow {
    fwd: f64,
    bwd: f64,
    ref_fwd: f64,
    ref_bwd: f64,
}

fn bench_sigmoid<T: Real>(shape: Shape, threads: usize) -> SigmoidRow {
    let (b, n) = (shape.batch, shape.n);
    let len = b * n;
    let (sets, x, u) = inputs::<T>(len);
    let eps = 0.1;
    let p = sigmoid_rank::Params {
        regularization_strength: T::from_f64(eps),
        direction: Direction::Ascending,
    };
    let mut out = vec![T::from_f64(0.0); len];
    let mut g = vec![T::from_f64(0.0); len];
    let mut ge = vec![T::from_f64(0.0); b];
    set_num_threads(threads);
    let mut i = 0;
    let mut next = || {
        i = (i + 1) % sets;
        i
    };
    let fwd = time(|| {
        let k = next();
        sigmoid_rank::forward(shape, &p, black_box(&x[k]), None, &mut out).unwrap()
    });
    let bwd = time(|| {
        let k = next();
        sigmoid_rank::backward(shape, &p, &x[k], None, black_box(&u[k]), &mut g, &mut ge).unwrap()
    });
    // The reference on the same threads, rows in chunks as argsort's.
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(num_threads())
        .build()
        .expect("pool");
    let c = 1.0 / T::from_f64(eps).to_f64();
    let rows_per_task = (b / (4 * threads)).max(1);
    let ref_fwd = time(|| {
        let x = black_box(&x[next()]);
        pool.install(|| {
            out.par_chunks_mut(rows_per_task * n)
                .zip(x.par_chunks(rows_per_task * n))
                .for_each_init(Vec::new, |acc, (r, x)| {
                    for (r, x) in r.chunks_mut(n).zip(x.chunks(n)) {
                        scalar::forward(c, acc, x, r);
                    }
                })
        })
    });
    let ref_bwd = time(|| {
        let k = next();
        let (x, u) = (&x[k], black_box(&u[k]));
        pool.install(|| {
            g.par_chunks_mut(rows_per_task * n)
                .zip(x.par_chunks(rows_per_task * n))
                .zip(u.par_chunks(rows_per_task * n))
                .zip(ge.par_chunks_mut(rows_per_task))
                .for_each_init(Vec::new, |acc, (((g, x), u), ge)| {
                    let rows = g.chunks_mut(n).zip(x.chunks(n)).zip(u.chunks(n));
                    for (((g, x), u), ge) in rows.zip(ge) {
                        *ge = T::from_f64(-scalar::backward(c, acc, x, u, g) / eps);
                    }
                })
        })
    });
    set_num_threads(0);
    SigmoidRow {
        fwd,
        bwd,
        ref_fwd,
        ref_bwd,
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let has = |s: &str| args.iter().any(|a| a == s);
    let reg = if has("kl") {
        Regularization::Kl
    } else {
        Regularization::L2
    };
    let dtypes: Vec<&str> = ["f64", "f32"]
        .into_iter()
        .filter(|d| has(d) || !(has("f64") || has("f32")))
        .collect();
    let any_op = has("soft_rank")
        || has("soft_sort")
        || has("sigmoid_rank")
        || has("jvp")
        || has("topk")
        || has("grouped")
        || has("neural_sort")
        || has("mask");
    let ops: Vec<&str> = ["soft_rank", "soft_sort"]
        .into_iter()
        .filter(|o| has(o) || !any_op)
        .collect();
    let default_threads = num_threads();
    let mut jsonl = std::env::var("BENCH_OUT")
        .ok()
        .filter(|d| !d.is_empty())
        .map(|dir| {
            let _ = std::fs::create_dir_all(&dir);
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(std::path::Path::new(&dir).join("core.jsonl"))
                .expect("BENCH_OUT/core.jsonl")
        });
    println!(
        "regularization {reg}, ε = 0.1, values uniform in [-1, 1); default threads = {default_threads}\n"
    );
    if !ops.is_empty() {
        println!("| op | dtype | B×n | threads | forward ms | backward ms | argsort ms | (fwd+bwd)/argsort |");
        println!("|---|---|---|---|---|---|---|---|");
    }
    for op in &ops {
        for dtype in &dtypes {
            for &(batch, n) in &SHAPES {
                for threads in [1, default_threads] {
                    let shape = Shape { batch, n };
                    let r = match *dtype {
                        "f64" => bench::<f64>(op, reg, shape, threads),
                        _ => bench::<f32>(op, reg, shape, threads),
                    };
                    println!(
                        "| {op} | {dtype} | {batch}×{n} | {threads} | {:.3} | {:.3} | {:.3} | {:.2} |",
                        r.fwd * 1e3,
                        r.bwd * 1e3,
                        r.sort * 1e3,
                        (r.fwd + r.bwd) / r.sort
                    );
                    if let Some(file) = jsonl.as_mut() {
                        let record = serde_json::json!({
                            "bench": "core",
                            "op": op,
                            "regularization": reg.as_str(),
                            "dtype": dtype,
                            "shape": [batch, n],
                            "threads": threads,
                            "forward_ms": r.fwd * 1e3,
                            "backward_ms": r.bwd * 1e3,
                            "argsort_ms": r.sort * 1e3,
                            "vs_argsort": (r.fwd + r.bwd) / r.sort,
                        });
                        writeln!(file, "{record}").expect("write core.jsonl");
                    }
                    if default_threads == 1 {
                        break;
                    }
                }
            }
        }
    }
    if has("sigmoid_rank") || !any_op {
        sigmoid_table(&dtypes, default_threads);
    }
    if has("jvp") || !any_op {
        jvp_table(default_threads);
    }
    if has("topk") || !any_op {
        topk_table();
    }
    if has("grouped") || !any_op {
        grouped_table();
    }
    if has("neural_sort") || !any_op {
        neural_sort_table();
    }
    if has("mask") || !any_op {
        mask_table();
    }
}

/// Every op's forward + backward on a padded batch (row lengths uniform in [1, n], so half the
/// items present on average) against the same batch unmasked and with every item present; one
/// thread. The target: a masked batch costs no more than the unmasked batch of the same shape.
fn mask_table() {
    println!(
        "\nMasked rows: forward + backward, f64, 1 thread, ε = 0.1, values uniform in [-1, 1), \
         padded rows of lengths uniform in [1, n] (about half the items present)\n"
    );
    println!("| op | B×n | unmasked ms | all present ms | padded ms | all present / unmasked | padded / unmasked |");
    println!("|---|---|---|---|---|---|---|");
    set_num_threads(1);
    let mut rng = StdRng::seed_from_u64(17);
    for &op in all_ops::ALL_OPS {
        let (batch, n) = match op {
            "neural_sort" => (16, 200),
            "sigmoid_rank" | "neural_sort_apply" => (32, 1000),
            _ => (128, 1000),
        };
        let shape = Shape { batch, n };
        let p = all_ops::P::with(0.1, "l2", "descending", (n / 10) as i64);
        let x: Vec<Vec<f64>> = (0..all_ops::n_inputs(op))
            .map(|k| {
                (0..batch * n)
                    .map(|_| {
                        if op == "ndcg_loss" && k == 1 {
                            f64::from(rng.random_range(0..4u8))
                        } else {
                            rng.random_range(-1.0..1.0)
                        }
                    })
                    .collect()
            })
            .collect();
        let u: Vec<f64> = (0..batch * all_ops::width(op, n, &p))
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let all = vec![true; batch * n];
        let padded: Vec<bool> = (0..batch)
            .flat_map(|_| {
                let len = rng.random_range(1..=n);
                (0..n).map(move |j| j < len)
            })
            .collect();
        let run = |mask: Option<&[bool]>| {
            time(|| {
                let d = all_ops::D::Vjp(&u);
                black_box(all_ops::call(op, &p, shape, black_box(&x), mask, d).unwrap());
            })
        };
        let (plain, full, pad) = (run(None), run(Some(&all)), run(Some(&padded)));
        println!(
            "| {op} | {batch}×{n} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} |",
            plain * 1e3,
            full * 1e3,
            pad * 1e3,
            full / plain,
            pad / plain
        );
    }
    set_num_threads(0);
}

/// soft_topk forward + backward against soft_rank's (l2, same ε) at 128×1000 f64, one thread
/// (the target: ≤ 1.2×).
fn topk_table() {
    let shape = Shape {
        batch: 128,
        n: 1000,
    };
    let len = shape.batch * shape.n;
    let (sets, x, u) = inputs::<f64>(len);
    let eps = 0.1;
    let (mut out, mut perm) = (vec![0.0; len], vec![0i32; len]);
    let (mut g, mut ge) = (vec![0.0; len], vec![0.0; shape.batch]);
    set_num_threads(1);
    let mut i = 0;
    let mut next = || {
        i = (i + 1) % sets;
        i
    };
    let rp = soft_rank::Params {
        regularization_strength: eps,
        ..Default::default()
    };
    let rank = time(|| {
        let k = next();
        soft_rank::forward(shape, &rp, black_box(&x[k]), None, &mut out, &mut perm).unwrap();
        soft_rank::backward(shape, &rp, &x[k], None, &out, &perm, &u[k], &mut g, &mut ge).unwrap();
    });
    println!(
        "\nsoft_topk vs soft_rank (l2), forward + backward, f64, 128×1000, 1 thread, ε = {eps}, \
         values uniform in [-1, 1)\n"
    );
    println!("| op | regularization | k | fwd+bwd ms | / soft_rank |");
    println!("|---|---|---|---|---|");
    println!("| soft_rank | l2 | - | {:.3} | 1.00 |", rank * 1e3);
    for &reg in TopkRegularization::ALL {
        for k in [10, 100, 500] {
            let p = soft_topk::Params {
                k,
                regularization_strength: eps,
                regularization: reg,
                direction: Direction::Descending,
            };
            let t = time(|| {
                let s = next();
                soft_topk::forward(shape, &p, black_box(&x[s]), None, &mut out, &mut perm).unwrap();
                soft_topk::backward(shape, &p, &x[s], None, &perm, &u[s], &mut g, &mut ge).unwrap();
            });
            println!(
                "| soft_topk | {reg} | {k} | {:.3} | {:.2} |",
                t * 1e3,
                t / rank
            );
        }
    }
    set_num_threads(0);
}

/// soft_rank_grouped's forward + backward with `g` groups per row (ids shuffled over the row, so
/// the group sort does real work) against soft_rank's on the same batch: what the groups cost.
fn grouped_table() {
    let shape = Shape {
        batch: 128,
        n: 1000,
    };
    let len = shape.batch * shape.n;
    let (sets, x, u) = inputs::<f64>(len);
    let p = soft_rank::Params {
        regularization_strength: 0.1,
        ..Default::default()
    };
    let (mut out, mut perm) = (vec![0.0; len], vec![0i32; len]);
    let (mut g, mut ge) = (vec![0.0; len], vec![0.0; shape.batch]);
    set_num_threads(1);
    let mut i = 0;
    let mut next = || {
        i = (i + 1) % sets;
        i
    };
    let rank = time(|| {
        let k = next();
        soft_rank::forward(shape, &p, black_box(&x[k]), None, &mut out, &mut perm).unwrap();
        soft_rank::backward(shape, &p, &x[k], None, &out, &perm, &u[k], &mut g, &mut ge).unwrap();
    });
    println!(
        "\nsoft_rank_grouped vs soft_rank (l2), forward + backward, f64, 128×1000, 1 thread, \
         ε = 0.1, values uniform in [-1, 1), group ids shuffled over each row\n"
    );
    println!("| op | groups per row | fwd+bwd ms | / soft_rank |");
    println!("|---|---|---|---|");
    println!("| soft_rank | - | {:.3} | 1.00 |", rank * 1e3);
    let mut rng = StdRng::seed_from_u64(29);
    for groups_per_row in [1usize, 10, 100, 1000] {
        let ids: Vec<i32> = (0..len)
            .map(|_| rng.random_range(0..groups_per_row as i32))
            .collect();
        let t = time(|| {
            let k = next();
            soft_rank_grouped::forward(
                shape,
                &p,
                black_box(&x[k]),
                &ids,
                None,
                &mut out,
                &mut perm,
            )
            .unwrap();
            soft_rank_grouped::backward(
                shape, &p, &x[k], None, &out, &perm, &u[k], &mut g, &mut ge,
            )
            .unwrap();
        });
        println!(
            "| soft_rank_grouped | {groups_per_row} | {:.3} | {:.2} |",
            t * 1e3,
            t / rank
        );
    }
    set_num_threads(0);
}

/// `out_i = Σ_j P_ij·y_j` for each `n × n` matrix of `p` (eight lanes, so it vectorises).
fn matmul(p: &[f64], y: &[f64], n: usize, out: &mut [f64]) {
    for ((pm, y), out) in p.chunks(n * n).zip(y.chunks(n)).zip(out.chunks_mut(n)) {
        for (row, o) in pm.chunks(n).zip(out.iter_mut()) {
            let mut acc = [0.0; 8];
            let (rc, yc) = (row.chunks_exact(8), y.chunks_exact(8));
            let (rr, yr) = (rc.remainder(), yc.remainder());
            for (a, b) in rc.zip(yc) {
                for k in 0..8 {
                    acc[k] += a[k] * b[k];
                }
            }
            for (a, b) in rr.iter().zip(yr) {
                acc[0] += a * b;
            }
            *o = acc.iter().sum();
        }
    }
}

/// `g_j = Σ_i v_i·P_ij` and `U = v·yᵀ` for each row.
fn matmul_backward(p: &[f64], y: &[f64], v: &[f64], n: usize, g: &mut [f64], u: &mut [f64]) {
    let rows = p.chunks(n * n).zip(y.chunks(n)).zip(v.chunks(n));
    for (((pm, y), v), (g, u)) in rows.zip(g.chunks_mut(n).zip(u.chunks_mut(n * n))) {
        g.fill(0.0);
        for ((row, &vi), urow) in pm.chunks(n).zip(v).zip(u.chunks_mut(n)) {
            for (gj, pij) in g.iter_mut().zip(row) {
                *gj += vi * pij;
            }
            for (uj, yj) in urow.iter_mut().zip(y) {
                *uj = vi * yj;
            }
        }
    }
}

/// neural_sort_apply against neural_sort then a matmul, f64, one thread, τ = 0.1.
fn neural_sort_table() {
    println!(
        "\nneural_sort_apply vs neural_sort + matmul, f64, 1 thread, τ = 0.1, values and payload \
         uniform in [-1, 1)\n"
    );
    println!(
        "| B×n | apply fwd ms | apply fwd+bwd ms | sort+matmul fwd ms | sort+matmul fwd+bwd ms \
         | fwd speedup | fwd+bwd speedup | apply bytes | sort+matmul bytes |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    set_num_threads(1);
    for (b, n) in [(64, 100), (8, 1000), (2, 4000)] {
        let shape = Shape { batch: b, n };
        let len = b * n;
        let (_, x, v) = inputs::<f64>(len);
        let (_, y, _) = inputs::<f64>(len);
        let (x, y, v) = (&x[0], &y[0], &v[0]);
        let params = neural_sort::Params {
            regularization_strength: 0.1,
            direction: Direction::Descending,
        };
        let (mut out, mut gx, mut gy, mut ge) =
            (vec![0.0; len], vec![0.0; len], vec![0.0; len], vec![0.0; b]);
        let apply_fwd = time(|| {
            neural_sort_apply::forward(shape, &params, black_box(x), y, None, &mut out).unwrap()
        });
        let apply_bwd = time(|| {
            neural_sort_apply::backward(
                shape,
                &params,
                x,
                y,
                None,
                black_box(v),
                &mut gx,
                &mut gy,
                &mut ge,
            )
            .unwrap()
        });
        let (mut p, mut u) = (vec![0.0; len * n], vec![0.0; len * n]);
        let sort_fwd = time(|| {
            neural_sort::forward(shape, &params, black_box(x), None, &mut p).unwrap();
            matmul(&p, y, n, &mut out);
        });
        let sort_bwd = time(|| {
            matmul_backward(&p, y, black_box(v), n, &mut gy, &mut u);
            neural_sort::backward(shape, &params, x, None, &p, &u, &mut gx, &mut ge).unwrap();
        });
        // Held across forward + backward: apply keeps its inputs, output and gradients (plus
        // ~12 row-length buffers per thread); the matmul route adds P and U, n² each per row.
        let row_bytes = 8 * len;
        let apply_bytes = 5 * row_bytes + 12 * 8 * n;
        let sort_bytes = apply_bytes + 2 * 8 * len * n;
        println!(
            "| {b}×{n} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} | {} | {} |",
            apply_fwd * 1e3,
            (apply_fwd + apply_bwd) * 1e3,
            sort_fwd * 1e3,
            (sort_fwd + sort_bwd) * 1e3,
            sort_fwd / apply_fwd,
            (sort_fwd + sort_bwd) / (apply_fwd + apply_bwd),
            human(apply_bytes),
            human(sort_bytes),
        );
    }
    set_num_threads(0);
}

fn human(bytes: usize) -> String {
    let b = bytes as f64;
    if b >= 1e9 {
        format!("{:.2} GB", b / 1e9)
    } else if b >= 1e6 {
        format!("{:.1} MB", b / 1e6)
    } else {
        format!("{:.0} kB", b / 1e3)
    }
}

/// Seconds per call of an op's forward, VJP, JVP and HVP (f64, ε = 0.1, ε-tangent 0.5), the
/// others from the same forward's saves. `reg` is the op's regularization by name (`-` for none).
fn bench_jvp(op: &str, reg: &str, shape: Shape, threads: usize) -> (f64, f64, f64, f64) {
    let len = shape.batch * shape.n;
    let (_, x, u) = inputs::<f64>(len);
    let (_, y, t) = inputs::<f64>(len);
    let (x, u, y, t) = (&x[0], &u[0], &y[0], &t[0]);
    let (b, eps, t_eps) = (shape.batch, 0.1, 0.5);
    let rel: Vec<f64> = y.iter().map(|v| (v * 2.0 + 2.0).floor()).collect();
    let (mut out, mut perm) = (vec![0.0; len], vec![0i32; len]);
    let (mut out2, mut perm2) = (vec![0.0; len], vec![0i32; len]);
    let (mut g, mut g2, mut ge) = (vec![0.0; len], vec![0.0; len], vec![0.0; b]);
    let (mut loss, mut dl, mut dout) = (vec![0.0; b], vec![0.0; b], vec![0.0; len]);
    let (mut h, mut h2, mut he) = (vec![0.0; len], vec![0.0; len], vec![0.0; b]);
    let cot = &u[..b];
    let regularization = if reg == "kl" {
        Regularization::Kl
    } else {
        Regularization::L2
    };
    set_num_threads(threads);
    let times = match op {
        "soft_rank" => {
            let p = soft_rank::Params {
                regularization_strength: eps,
                regularization,
                ..Default::default()
            };
            let fwd = time(|| {
                soft_rank::forward(shape, &p, black_box(x), None, &mut out, &mut perm).unwrap()
            });
            let (r, pm) = (&out, &perm);
            (
                fwd,
                time(|| {
                    soft_rank::backward(shape, &p, x, None, r, pm, black_box(u), &mut g, &mut ge)
                        .unwrap()
                }),
                time(|| {
                    soft_rank::jvp(shape, &p, x, None, r, pm, black_box(t), t_eps, &mut dout)
                        .unwrap()
                }),
                time(|| {
                    soft_rank::hvp(
                        shape,
                        &p,
                        x,
                        None,
                        r,
                        pm,
                        u,
                        black_box(t),
                        t_eps,
                        &mut h,
                        &mut he,
                    )
                    .unwrap()
                }),
            )
        }
        "soft_sort" => {
            let p = soft_sort::Params {
                regularization_strength: eps,
                regularization,
                ..Default::default()
            };
            let fwd = time(|| {
                soft_sort::forward(shape, &p, black_box(x), None, &mut out, &mut perm).unwrap()
            });
            let pm = &perm;
            (
                fwd,
                time(|| {
                    soft_sort::backward(shape, &p, x, None, pm, black_box(u), &mut g, &mut ge)
                        .unwrap()
                }),
                time(|| {
                    soft_sort::jvp(shape, &p, x, None, pm, black_box(t), t_eps, &mut dout).unwrap()
                }),
                time(|| {
                    soft_sort::hvp(
                        shape,
                        &p,
                        x,
                        None,
                        pm,
                        u,
                        black_box(t),
                        t_eps,
                        &mut h,
                        &mut he,
                    )
                    .unwrap()
                }),
            )
        }
        "soft_topk" => {
            let p = soft_topk::Params {
                k: (shape.n / 10) as i64,
                regularization_strength: eps,
                regularization: if reg == "p43" {
                    TopkRegularization::P43
                } else {
                    TopkRegularization::L2
                },
                direction: Direction::Descending,
            };
            let fwd = time(|| {
                soft_topk::forward(shape, &p, black_box(x), None, &mut out, &mut perm).unwrap()
            });
            let pm = &perm;
            (
                fwd,
                time(|| {
                    soft_topk::backward(shape, &p, x, None, pm, black_box(u), &mut g, &mut ge)
                        .unwrap()
                }),
                time(|| {
                    soft_topk::jvp(shape, &p, x, None, pm, black_box(t), t_eps, &mut dout).unwrap()
                }),
                time(|| {
                    soft_topk::hvp(
                        shape,
                        &p,
                        x,
                        None,
                        pm,
                        u,
                        black_box(t),
                        t_eps,
                        &mut h,
                        &mut he,
                    )
                    .unwrap()
                }),
            )
        }
        "soft_quantile" => {
            let p = soft_quantile::Params {
                quantiles: vec![0.1, 0.25, 0.5, 0.75, 0.9],
                regularization_strength: eps,
                regularization,
            };
            let m = p.quantiles.len();
            let (mut res, mut dres) = (vec![0.0; b * m], vec![0.0; b * m]);
            let fwd = time(|| {
                soft_quantile::forward(shape, &p, black_box(x), None, &mut res, &mut perm).unwrap()
            });
            let (pm, cot) = (&perm, &u[..b * m]);
            (
                fwd,
                time(|| {
                    soft_quantile::backward(shape, &p, x, None, pm, black_box(cot), &mut g, &mut ge)
                        .unwrap()
                }),
                time(|| {
                    soft_quantile::jvp(shape, &p, x, None, pm, black_box(t), t_eps, &mut dres)
                        .unwrap()
                }),
                time(|| {
                    soft_quantile::hvp(
                        shape,
                        &p,
                        x,
                        None,
                        pm,
                        cot,
                        black_box(t),
                        t_eps,
                        &mut h,
                        &mut he,
                    )
                    .unwrap()
                }),
            )
        }
        "soft_sort_topk" => {
            let k = shape.n / 10;
            let p = soft_sort_topk::Params {
                k: k as i64,
                regularization_strength: eps,
                regularization,
                ..Default::default()
            };
            let (mut top, mut idx) = (vec![0.0; b * k], vec![0i32; b * k]);
            let fwd = time(|| {
                soft_sort_topk::forward(
                    shape,
                    &p,
                    black_box(x),
                    None,
                    &mut top,
                    &mut idx,
                    &mut perm,
                )
                .unwrap()
            });
            let (pm, u) = (&perm, &u[..b * k]);
            (
                fwd,
                time(|| {
                    soft_sort_topk::backward(shape, &p, x, None, pm, black_box(u), &mut g, &mut ge)
                        .unwrap()
                }),
                time(|| {
                    soft_sort_topk::jvp(shape, &p, x, None, pm, black_box(t), t_eps, &mut top)
                        .unwrap()
                }),
                time(|| {
                    soft_sort_topk::hvp(
                        shape,
                        &p,
                        x,
                        None,
                        pm,
                        u,
                        black_box(t),
                        t_eps,
                        &mut h,
                        &mut he,
                    )
                    .unwrap()
                }),
            )
        }
        "neural_sort" => {
            // An n × n output per row: the table's shape has n = 100 for this op.
            let p = neural_sort::Params {
                regularization_strength: 1.0,
                ..Default::default()
            };
            let m = b * shape.n * shape.n;
            let (mut pmat, mut dpmat) = (vec![0.0; m], vec![0.0; m]);
            let w: Vec<f64> = (0..m).map(|i| u[i % len]).collect();
            let fwd =
                time(|| neural_sort::forward(shape, &p, black_box(x), None, &mut pmat).unwrap());
            let pm = &pmat;
            (
                fwd,
                time(|| {
                    neural_sort::backward(shape, &p, x, None, pm, black_box(&w), &mut g, &mut ge)
                        .unwrap()
                }),
                time(|| {
                    neural_sort::jvp(shape, &p, x, None, pm, black_box(t), t_eps, &mut dpmat)
                        .unwrap()
                }),
                time(|| {
                    neural_sort::hvp(
                        shape,
                        &p,
                        x,
                        None,
                        pm,
                        &w,
                        black_box(t),
                        t_eps,
                        &mut h,
                        &mut he,
                    )
                    .unwrap()
                }),
            )
        }
        "neural_sort_apply" => {
            let p = neural_sort::Params {
                regularization_strength: 1.0,
                direction: Direction::Ascending,
            };
            let fwd = time(|| {
                neural_sort_apply::forward(shape, &p, black_box(x), y, None, &mut out).unwrap()
            });
            (
                fwd,
                time(|| {
                    neural_sort_apply::backward(
                        shape,
                        &p,
                        x,
                        y,
                        None,
                        black_box(u),
                        &mut g,
                        &mut g2,
                        &mut ge,
                    )
                    .unwrap()
                }),
                time(|| {
                    neural_sort_apply::jvp(shape, &p, x, y, None, black_box(t), u, t_eps, &mut dout)
                        .unwrap()
                }),
                time(|| {
                    neural_sort_apply::hvp(
                        shape,
                        &p,
                        x,
                        y,
                        None,
                        u,
                        black_box(t),
                        u,
                        t_eps,
                        &mut h,
                        &mut h2,
                        &mut he,
                    )
                    .unwrap()
                }),
            )
        }
        "sigmoid_rank" => {
            let p = sigmoid_rank::Params {
                regularization_strength: eps,
                direction: Direction::Ascending,
            };
            (
                time(|| sigmoid_rank::forward(shape, &p, black_box(x), None, &mut out).unwrap()),
                time(|| {
                    sigmoid_rank::backward(shape, &p, x, None, black_box(u), &mut g, &mut ge)
                        .unwrap()
                }),
                time(|| {
                    sigmoid_rank::jvp(shape, &p, x, None, black_box(t), t_eps, &mut dout).unwrap()
                }),
                time(|| {
                    sigmoid_rank::hvp(shape, &p, x, None, u, black_box(t), t_eps, &mut h, &mut he)
                        .unwrap()
                }),
            )
        }
        "spearman_loss" => {
            let p = spearman_loss::Params {
                regularization_strength: eps,
                regularization,
            };
            let fwd = time(|| {
                spearman_loss::forward(
                    shape,
                    &p,
                    black_box(x),
                    y,
                    None,
                    &mut loss,
                    &mut out,
                    &mut perm,
                    &mut out2,
                    &mut perm2,
                )
                .unwrap()
            });
            let (xr, xp, yr, yp) = (&out, &perm, &out2, &perm2);
            (
                fwd,
                time(|| {
                    spearman_loss::backward(
                        shape,
                        &p,
                        x,
                        y,
                        None,
                        xr,
                        xp,
                        yr,
                        yp,
                        black_box(cot),
                        &mut g,
                        &mut g2,
                        &mut ge,
                    )
                    .unwrap()
                }),
                time(|| {
                    spearman_loss::jvp(
                        shape,
                        &p,
                        x,
                        y,
                        None,
                        xr,
                        xp,
                        yr,
                        yp,
                        black_box(t),
                        u,
                        t_eps,
                        &mut dl,
                    )
                    .unwrap()
                }),
                time(|| {
                    spearman_loss::hvp(
                        shape,
                        &p,
                        x,
                        y,
                        None,
                        xr,
                        xp,
                        yr,
                        yp,
                        cot,
                        black_box(t),
                        u,
                        t_eps,
                        &mut h,
                        &mut h2,
                        &mut he,
                    )
                    .unwrap()
                }),
            )
        }
        _ => {
            let p = ndcg_loss::Params {
                regularization_strength: eps,
                regularization,
            };
            let fwd = time(|| {
                ndcg_loss::forward(
                    shape,
                    &p,
                    black_box(x),
                    &rel,
                    None,
                    &mut loss,
                    &mut out,
                    &mut perm,
                )
                .unwrap()
            });
            let (r, pm, rel) = (&out, &perm, &rel);
            (
                fwd,
                time(|| {
                    ndcg_loss::backward(
                        shape,
                        &p,
                        x,
                        rel,
                        None,
                        r,
                        pm,
                        black_box(cot),
                        &mut g,
                        &mut ge,
                    )
                    .unwrap()
                }),
                time(|| {
                    ndcg_loss::jvp(shape, &p, x, rel, None, r, pm, black_box(t), t_eps, &mut dl)
                        .unwrap()
                }),
                time(|| {
                    ndcg_loss::hvp(
                        shape,
                        &p,
                        x,
                        rel,
                        None,
                        r,
                        pm,
                        cot,
                        black_box(t),
                        t_eps,
                        &mut h,
                        &mut he,
                    )
                    .unwrap()
                }),
            )
        }
    };
    set_num_threads(0);
    times
}

/// Every op's JVP against its VJP at 128×1000 f64 (the target: JVP ≤ 1.2× VJP), and its HVP (the
/// derivative of the backward along a tangent, the second-order kernel) against one forward and
/// one backward.
fn jvp_table(default_threads: usize) {
    let (batch, n) = (128, 1000);
    println!(
        "\nJVP and HVP vs VJP, f64, {batch}×{n}, ε = 0.1, ε-tangent 0.5, values uniform in [-1, 1); \
         soft_topk and soft_sort_topk k = n/10, soft_quantile 5 levels, neural_sort (at 128×100) \
         and neural_sort_apply τ = 1\n"
    );
    println!(
        "| op | regularization | threads | fwd ms | vjp ms | jvp ms | hvp ms | jvp/vjp | hvp/(fwd+vjp) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let cases = [
        ("soft_rank", "l2"),
        ("soft_rank", "kl"),
        ("soft_sort", "l2"),
        ("soft_sort", "kl"),
        ("soft_topk", "l2"),
        ("soft_topk", "p43"),
        ("soft_quantile", "l2"),
        ("soft_quantile", "kl"),
        ("sigmoid_rank", "-"),
        ("spearman_loss", "l2"),
        ("spearman_loss", "kl"),
        ("ndcg_loss", "l2"),
        ("ndcg_loss", "kl"),
        ("soft_sort_topk", "l2"),
        ("soft_sort_topk", "kl"),
        ("neural_sort", "-"),
        ("neural_sort_apply", "-"),
    ];
    for (op, reg) in cases {
        // neural_sort writes an n × n matrix per row: 128×100 keeps it at 10 MB.
        let n = if op == "neural_sort" { 100 } else { n };
        for threads in [1, default_threads] {
            let (fwd, vjp, jvp, hvp) = bench_jvp(op, reg, Shape { batch, n }, threads);
            println!(
                "| {op} | {reg} | {threads} | {:.3} | {:.3} | {:.3} | {:.3} | {:.2} | {:.2} |",
                fwd * 1e3,
                vjp * 1e3,
                jvp * 1e3,
                hvp * 1e3,
                jvp / vjp,
                hvp / (fwd + vjp)
            );
            if default_threads == 1 {
                break;
            }
        }
    }
}

/// sigmoid_rank against its scalar reference; "per pair" counts each pair i < j once.
fn sigmoid_table(dtypes: &[&str], default_threads: usize) {
    println!(
        "\nsigmoid_rank, ε = 0.1, values uniform in [-1, 1); scalar: f64 `exp`, pairs i < j\n"
    );
    println!(
        "| op | dtype | B×n | threads | forward ms | backward ms | fwd ns/pair | fwd+bwd ns/pair \
         | scalar fwd ms | scalar bwd ms | fwd speedup | fwd+bwd speedup |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for dtype in dtypes {
        for &(batch, n) in &SIGMOID_SHAPES {
            for threads in [1, default_threads] {
                let shape = Shape { batch, n };
                let r = match *dtype {
                    "f64" => bench_sigmoid::<f64>(shape, threads),
                    _ => bench_sigmoid::<f32>(shape, threads),
                };
                let ns = 1e9 / (batch * n * (n - 1) / 2) as f64;
                println!(
                    "| sigmoid_rank | {dtype} | {batch}×{n} | {threads} | {:.3} | {:.3} | {:.3} | {:.3} \
                     | {:.3} | {:.3} | {:.2} | {:.2} |",
                    r.fwd * 1e3,
                    r.bwd * 1e3,
                    r.fwd * ns,
                    (r.fwd + r.bwd) * ns,
                    r.ref_fwd * 1e3,
                    r.ref_bwd * 1e3,
                    r.ref_fwd / r.fwd,
                    (r.ref_fwd + r.ref_bwd) / (r.fwd + r.bwd)
                );
                if default_threads == 1 {
                    break;
                }
            }
        }
    }
}
