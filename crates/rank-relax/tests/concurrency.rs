//! Many threads calling every op at once (f32 and f64, forward and backward) get results
//! bit-identical to sequential calls, while another thread keeps changing the thread count
//! (which rebuilds the core's pool under the running calls). (Its own test binary, since it
//! changes the process-wide thread count.)

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::{data, inputs_of, is_loss, run, Outcome, OPS, P};
use rank_relax::{set_num_threads, Direction, Real, Regularization, Shape};

/// One job: an op, its params, a shape and its inputs; computed in f64 or f32.
struct Job {
    op: &'static str,
    p: P,
    shape: Shape,
    x: Vec<Vec<f64>>,
    u: Vec<f64>,
    f32: bool,
}

fn bits(o: &Outcome) -> Vec<u64> {
    o.output
        .iter()
        .chain(o.grads.iter().flatten())
        .chain(&o.grad_eps)
        .map(|v| v.to_bits())
        .collect()
}

fn cast<T: Real>(v: &[f64]) -> Vec<T> {
    v.iter().map(|&a| T::from_f64(a)).collect()
}

impl Job {
    fn run(&self) -> Vec<u64> {
        let o = if self.f32 {
            let x: Vec<Vec<f32>> = self.x.iter().map(|v| cast(v)).collect();
            run::<f32>(self.op, self.p, self.shape, &x, Some(&cast::<f32>(&self.u)))
        } else {
            run::<f64>(self.op, self.p, self.shape, &self.x, Some(&self.u))
        };
        bits(&o.unwrap_or_else(|e| panic!("{}: {}", self.op, e.message)))
    }
}

fn jobs() -> Vec<Job> {
    let mut jobs = vec![];
    // Small calls stay on the calling thread; large ones use the pool.
    for (k, shape) in [Shape::new(3, 17), Shape::new(200, 64), Shape::new(40, 160)]
        .into_iter()
        .enumerate()
    {
        for op in OPS {
            for reg in [Regularization::L2, Regularization::Kl] {
                for f32 in [false, true] {
                    let mut rng = data::rng(100 + k as u64);
                    let len = shape.batch * shape.n;
                    let x = inputs_of(op)
                        .iter()
                        .map(|(name, _)| match *name {
                            "relevance" => data::grades(&mut rng, len),
                            // Quantised, so rows have ties.
                            _ => data::uniform(&mut rng, len, -2.0, 2.0)
                                .iter()
                                .map(|v| (v * 8.0).round() / 8.0)
                                .collect(),
                        })
                        .collect();
                    let width = if is_loss(op) { 1 } else { shape.n };
                    let u = data::uniform(&mut rng, shape.batch * width, -1.0, 1.0);
                    let p = P::new(0.3, reg, Direction::Descending);
                    jobs.push(Job {
                        op,
                        p,
                        shape,
                        x,
                        u,
                        f32,
                    });
                }
            }
        }
    }
    jobs
}

#[test]
fn every_op_from_many_threads_at_once_is_bit_identical_to_sequential() {
    let jobs = Arc::new(jobs());
    set_num_threads(1);
    let expected: Arc<Vec<Vec<u64>>> = Arc::new(jobs.iter().map(Job::run).collect());
    set_num_threads(0);
    let stop = Arc::new(AtomicBool::new(false));
    let toggler = {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            let mut k = 0;
            while !stop.load(Ordering::Relaxed) {
                set_num_threads([1, 2, 0, 3][k % 4]);
                k += 1;
                std::thread::yield_now();
            }
            set_num_threads(0);
        })
    };
    let workers: Vec<_> = (0..8)
        .map(|t| {
            let (jobs, expected) = (Arc::clone(&jobs), Arc::clone(&expected));
            std::thread::spawn(move || {
                let mut runs = 0;
                for round in 0..2 {
                    for k in 0..jobs.len() {
                        // Each thread walks the jobs in its own order.
                        let j = (k * 7 + t * 5 + round * 3) % jobs.len();
                        let job = &jobs[j];
                        assert!(
                            job.run() == expected[j],
                            "thread {t}: {} f32={} {:?} differs from the sequential bits",
                            job.op,
                            job.f32,
                            job.shape
                        );
                        runs += 1;
                    }
                }
                runs
            })
        })
        .collect();
    let runs: usize = workers.into_iter().map(|w| w.join().unwrap()).sum();
    stop.store(true, Ordering::Relaxed);
    toggler.join().unwrap();
    assert_eq!(runs, 8 * 2 * jobs.len());
}

/// Small enough for Miri (scripts/miri.sh): two threads, each running soft_rank forward +
/// backward on a batch large enough to go through the pool, match the sequential bits.
#[test]
fn small_calls_through_the_pool_from_two_threads() {
    // Two pool threads even where the machine reports one core (Miri does).
    set_num_threads(2);
    let shape = Shape::new(300, 16);
    let x: Vec<f64> = (0..shape.batch * shape.n)
        .map(|i| ((i * 7) % 13) as f64 * 0.25)
        .collect();
    let u: Vec<f64> = (0..x.len()).map(|i| ((i * 5) % 3) as f64 - 1.0).collect();
    let p = P::new(0.5, Regularization::Kl, Direction::Ascending);
    let want =
        bits(&run::<f64>("soft_rank", p, shape, std::slice::from_ref(&x), Some(&u)).unwrap());
    let (x, u) = (Arc::new(x), Arc::new(u));
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let (x, u) = (Arc::clone(&x), Arc::clone(&u));
            std::thread::spawn(move || {
                bits(
                    &run::<f64>("soft_rank", p, shape, std::slice::from_ref(&*x), Some(&u))
                        .unwrap(),
                )
            })
        })
        .collect();
    for t in threads {
        assert!(t.join().unwrap() == want);
    }
}
