//! Thread scaling of `soft_rank` forward + backward (f64, l2, ε = 0.1): the time on 1 thread
//! against the time on 2 (or `THREADS`) threads, from tiny batches that must stay on the calling
//! thread (no slowdown from handing rows to the pool) to batches that should split evenly over
//! the cores (near-linear speedup).
//!
//! `cargo bench -p rank-relax --bench threads [-- [THREADS] [--seconds S]]` (default 2 threads,
//! 60 s).
//!
//! A speedup needs idle cores, and the machine may be shared. So the benchmark runs in rounds
//! until the time is up; each round times every shape once on 1 thread and once on THREADS
//! threads (samples of ≥ 15 ms). Each time is the best over all rounds (other processes only
//! ever add time, so the best sample is the least disturbed). On Linux it also reads from
//! /proc/stat how much CPU other processes used during each round (the machine's busy time less
//! this process's own) and counts the quiet rounds (others < 10 % of the machine), with the
//! speedup over those alone. With `BENCH_OUT` set (a folder), appends one JSON line per shape
//! to `$BENCH_OUT/threads.jsonl`.

use std::hint::black_box;
use std::io::Write;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rank_relax::ops::soft_rank::{backward, forward, Params};
use rank_relax::{set_num_threads, Shape};

const SHAPES: [(usize, usize); 12] = [
    (1, 100),
    (4, 100),
    (16, 100),
    (32, 100),
    (64, 100),
    (1024, 100),
    (1, 1000),
    (4, 1000),
    (16, 1000),
    (32, 1000),
    (128, 1000),
    (16, 10000),
];

/// A round is quiet when other processes used less than this share of the machine's CPU time.
const QUIET: f64 = 0.10;

/// CPU time, in clock ticks, of the whole machine (busy, total) and of this process (Linux).
fn ticks() -> Option<(u64, u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let cpu: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .take(8)
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = cpu.iter().sum();
    let idle = cpu.get(3)? + cpu.get(4)?;
    let own = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
    let rest = own.rsplit_once(')')?.1;
    let fields: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    Some((total - idle, total, fields.iter().sum()))
}

/// The share of the machine's CPU time that other processes used between two `ticks()`.
fn others_busy(before: Option<(u64, u64, u64)>, after: Option<(u64, u64, u64)>) -> Option<f64> {
    let ((b0, t0, o0), (b1, t1, o1)) = (before?, after?);
    let total = t1.checked_sub(t0).filter(|&t| t > 0)?;
    let others = (b1 - b0).saturating_sub(o1.saturating_sub(o0));
    Some(others as f64 / total as f64)
}

/// Calls per sample so that one sample of `f` takes at least 15 ms.
fn calibrate(f: &mut dyn FnMut()) -> u32 {
    f();
    let start = Instant::now();
    let mut reps = 0u32;
    while start.elapsed() < Duration::from_millis(15) {
        f();
        reps += 1;
    }
    reps.max(1)
}

fn sample(f: &mut dyn FnMut(), reps: u32) -> f64 {
    let t = Instant::now();
    for _ in 0..reps {
        f();
    }
    t.elapsed().as_secs_f64() / f64::from(reps)
}

/// One shape's data and buffers, and its best times so far.
struct Case {
    batch: usize,
    n: usize,
    x: Vec<Vec<f64>>,
    u: Vec<Vec<f64>>,
    ranks: Vec<f64>,
    perm: Vec<i32>,
    grad: Vec<f64>,
    grad_eps: Vec<f64>,
    next: usize,
    reps: (u32, u32),
    /// Best (1 thread, THREADS threads) over quiet rounds, and over all rounds.
    quiet: (f64, f64),
    any: (f64, f64),
    quiet_rounds: u32,
    rounds: u32,
}

impl Case {
    fn new(batch: usize, n: usize, rng: &mut StdRng) -> Self {
        let len = batch * n;
        // Small batches cycle through several inputs, so no timing learns one row's branches.
        let sets = (1usize << 16).div_ceil(len).clamp(1, 64);
        let mut random = || -> Vec<f64> { (0..len).map(|_| rng.random_range(-1.0..1.0)).collect() };
        Case {
            batch,
            n,
            x: (0..sets).map(|_| random()).collect(),
            u: (0..sets).map(|_| random()).collect(),
            ranks: vec![0.0; len],
            perm: vec![0; len],
            grad: vec![0.0; len],
            grad_eps: vec![0.0; batch],
            next: 0,
            reps: (1, 1),
            quiet: (f64::INFINITY, f64::INFINITY),
            any: (f64::INFINITY, f64::INFINITY),
            quiet_rounds: 0,
            rounds: 0,
        }
    }

    /// One forward + backward.
    fn call(&mut self) {
        let shape = Shape {
            batch: self.batch,
            n: self.n,
        };
        let params = Params {
            regularization_strength: 0.1,
            ..Params::default()
        };
        self.next = (self.next + 1) % self.x.len();
        let (x, u) = (&self.x[self.next], &self.u[self.next]);
        forward(
            shape,
            &params,
            black_box(x),
            None,
            &mut self.ranks,
            &mut self.perm,
        )
        .expect("forward");
        backward(
            shape,
            &params,
            x,
            None,
            &self.ranks,
            &self.perm,
            black_box(u),
            &mut self.grad,
            &mut self.grad_eps,
        )
        .expect("backward");
    }
}

fn main() {
    let (mut threads, mut seconds) = (2usize, 60u64);
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--seconds" {
            seconds = args.next().and_then(|s| s.parse().ok()).unwrap_or(seconds);
        } else if let Ok(t) = arg.parse() {
            threads = t;
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |k| k.get());
    let mut rng = StdRng::seed_from_u64(42);
    let mut cases: Vec<Case> = SHAPES
        .iter()
        .map(|&(b, n)| Case::new(b, n, &mut rng))
        .collect();
    for case in &mut cases {
        set_num_threads(1);
        let r1 = calibrate(&mut || case.call());
        set_num_threads(threads);
        let r2 = calibrate(&mut || case.call());
        case.reps = (r1, r2);
    }
    let start = Instant::now();
    let mut rounds = 0u32;
    while rounds == 0 || start.elapsed() < Duration::from_secs(seconds) {
        rounds += 1;
        for case in &mut cases {
            let (r1, r2) = case.reps;
            let before = ticks();
            set_num_threads(1);
            let t1 = sample(&mut || case.call(), r1);
            set_num_threads(threads);
            let t2 = sample(&mut || case.call(), r2);
            let busy = others_busy(before, ticks());
            case.rounds += 1;
            case.any = (case.any.0.min(t1), case.any.1.min(t2));
            if busy.is_some_and(|b| b < QUIET) {
                case.quiet_rounds += 1;
                case.quiet = (case.quiet.0.min(t1), case.quiet.1.min(t2));
            }
        }
    }
    set_num_threads(0);

    println!(
        "soft_rank forward + backward, f64, l2, ε = 0.1: 1 thread against {threads} ({cores} \
         cores); best of {rounds} rounds in {:.0} s; quiet rounds: other processes < {:.0} % of \
         the CPU\n",
        start.elapsed().as_secs_f64(),
        QUIET * 100.0
    );
    println!(
        "| B×n | 1 thread ms | {threads} threads ms | speedup | quiet rounds | speedup, quiet rounds |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut records = Vec::new();
    for case in &cases {
        let (t1, t2) = case.any;
        let quiet = (case.quiet_rounds > 0).then(|| case.quiet.0 / case.quiet.1);
        println!(
            "| {}×{} | {:.4} | {:.4} | {:.2} | {}/{} | {} |",
            case.batch,
            case.n,
            t1 * 1e3,
            t2 * 1e3,
            t1 / t2,
            case.quiet_rounds,
            case.rounds,
            quiet.map_or("–".to_owned(), |q| format!("{q:.2}"))
        );
        records.push(serde_json::json!({
            "bench": "threads",
            "case": "soft_rank forward + backward",
            "shape": [case.batch, case.n],
            "dtype": "f64",
            "threads": threads,
            "ms_1_thread": t1 * 1e3,
            "ms_threads": t2 * 1e3,
            "speedup": t1 / t2,
            "quiet_rounds": case.quiet_rounds,
            "rounds": case.rounds,
            "speedup_quiet_rounds": quiet,
        }));
    }
    if let Ok(dir) = std::env::var("BENCH_OUT") {
        if !dir.is_empty() {
            let _ = std::fs::create_dir_all(&dir);
            let path = std::path::Path::new(&dir).join("threads.jsonl");
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("BENCH_OUT/threads.jsonl");
            for r in records {
                writeln!(file, "{r}").expect("write threads.jsonl");
            }
        }
    }
}
