//! The Julia wrapper's overhead over the core, in one process: soft_rank forward + pullback
//! (f64, ε = 1, l2, ascending) at 1×1000 and 128×1000, one thread on both sides
//! (`rank_relax::set_num_threads(1)`, `RankRelax.set_num_threads(1)`), timed in rounds that
//! interleave the variants so that all see the same machine load:
//!
//! - core: `soft_rank::forward` + `soft_rank::backward` called from Rust into buffers allocated
//!   once (the core crate linked into this binary);
//! - Julia API in place: `soft_rank_forward!(tape, x)` + `soft_rank_pullback!(g, tape, cot)` on
//!   Rust-owned `x`, `cot`, `g` lent to Julia (a loop in Julia, timed there with `time_ns`; the
//!   kernels are those of `librank_relax_c`, the same core compiled the same way);
//! - Julia API allocating: `soft_rank_forward(x)` + `soft_rank_pullback(tape, cot)` (fresh
//!   output, residual and gradient arrays per call).
//!
//! Each round times a block of calls per variant; the overhead is the median over rounds of
//! (Julia block / core block) − 1, alongside the medians of the per-call times. Prints a table and,
//! with `BENCH_OUT` set, appends JSON lines to `$BENCH_OUT/jlrs.jsonl`. Run by `pnpm bench`
//! (suite `jlrs`) or `cargo bench -p rank-relax-julia-check --features julia --bench overhead`
//! with the environment of `scripts/test-julia-check.sh`. Arguments: `[rounds]` (default 61).

fn main() {
    match rank_relax_julia_check::skip_reason() {
        Some(why) => println!("rank-relax-julia-check bench: skipped: {why}"),
        #[cfg(feature = "julia")]
        None => bench::main(),
        #[cfg(not(feature = "julia"))]
        None => unreachable!("skip_reason() is Some without the julia feature"),
    }
}

#[cfg(feature = "julia")]
mod bench {
    use std::io::Write;
    use std::time::Instant;

    use jlrs::error::JlrsResult;
    use jlrs::prelude::*;
    use rank_relax::ops::soft_rank;
    use rank_relax::Shape;
    use rank_relax_julia_check::session::{api, fail, Session};

    const BLOCKS: &str = r#"
module RankRelaxJuliaCheckBench
using RankRelax
function inplace_block(tape, g, x, cot, k::Int64)
    t = time_ns()
    for _ in 1:k
        _, tape = soft_rank_forward!(tape, x)
        soft_rank_pullback!(g, tape, cot)
    end
    return Float64(time_ns() - t)
end
function alloc_block(x, cot, k::Int64)
    t = time_ns()
    for _ in 1:k
        _, tape = soft_rank_forward(x)
        soft_rank_pullback(tape, cot)
    end
    return Float64(time_ns() - t)
end
end
"#;

    fn call_f64<'f, F: Frame<'f>>(
        frame: &mut F,
        f: Value<'_, '_>,
        args: &mut [Value<'_, '_>],
    ) -> JlrsResult<f64> {
        match f.call(frame, args)? {
            Ok(v) => v.cast::<f64>(),
            Err(_) => fail("a timed block threw"),
        }
    }

    fn median(v: &mut [f64]) -> f64 {
        v.sort_by(f64::total_cmp);
        let m = v.len() / 2;
        if v.len() % 2 == 1 {
            v[m]
        } else {
            (v[m - 1] + v[m]) / 2.0
        }
    }

    /// Deterministic values in [-1, 1).
    fn data(len: usize, seed: u64) -> Vec<f64> {
        let mut s = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                (s >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
            })
            .collect()
    }

    struct Row {
        batch: usize,
        n: usize,
        calls: usize,
        rounds: usize,
        core_us: f64,
        inplace_us: f64,
        alloc_us: f64,
        inplace_ratio: f64,
        alloc_ratio: f64,
    }

    fn measure(s: &mut Session, batch: usize, n: usize, calls: usize, rounds: usize) -> Row {
        let len = batch * n;
        let shape = Shape { batch, n };
        let params = soft_rank::Params {
            regularization_strength: 1.0,
            ..soft_rank::Params::default()
        };
        // the core's buffers
        let (cx, ccot) = (data(len, 1), data(len, 2));
        let (mut r, mut perm, mut g, mut ge) = (
            vec![0.0; len],
            vec![0i32; len],
            vec![0.0; len],
            vec![0.0; batch],
        );
        let mut core_block = || {
            let t = Instant::now();
            for _ in 0..calls {
                soft_rank::forward(shape, &params, &cx, &mut r, &mut perm).expect("forward");
                soft_rank::backward(shape, &params, &cx, &r, &perm, &ccot, &mut g, &mut ge)
                    .expect("backward");
            }
            t.elapsed().as_nanos() as f64
        };
        // the buffers lent to Julia: the same values
        let (mut x, mut cot, mut jg) = (data(len, 1), data(len, 2), vec![0.0; len]);
        let (mut core, mut inplace, mut alloc, mut r_in, mut r_al) =
            (vec![], vec![], vec![], vec![], vec![]);
        s.julia
            .dynamic_frame(|global, frame| {
                let xj = Value::borrow_array(frame, &mut x[..], (n, batch))?;
                let cj = Value::borrow_array(frame, &mut cot[..], (n, batch))?;
                let gj = Value::borrow_array(frame, &mut jg[..], (n, batch))?;
                let tape = match api(global, "soft_rank_forward")?.call1(frame, xj)? {
                    Ok(r) => r.get_nth_field(frame, 1)?,
                    Err(_) => return fail("soft_rank_forward threw"),
                };
                let m = Module::main(global).submodule("RankRelaxJuliaCheckBench")?;
                let (fin, fal) = (m.function("inplace_block")?, m.function("alloc_block")?);
                let k = Value::new(frame, calls as i64)?;
                for round in 0..=rounds {
                    let (c, i, a) = frame.dynamic_frame(|frame| {
                        let (mut c, mut i, mut a) = (0.0, 0.0, 0.0);
                        // rotate the order so that no variant always runs first
                        for slot in 0..3 {
                            match (slot + round) % 3 {
                                0 => c = core_block(),
                                1 => i = call_f64(frame, fin, &mut [tape, gj, xj, cj, k])?,
                                _ => a = call_f64(frame, fal, &mut [xj, cj, k])?,
                            }
                        }
                        Ok((c, i, a))
                    })?;
                    if round == 0 {
                        continue; // warm-up (compilation, first touch)
                    }
                    core.push(c / calls as f64 / 1e3);
                    inplace.push(i / calls as f64 / 1e3);
                    alloc.push(a / calls as f64 / 1e3);
                    r_in.push(i / c);
                    r_al.push(a / c);
                }
                Ok(())
            })
            .expect("the Julia side of the bench");
        Row {
            batch,
            n,
            calls,
            rounds,
            core_us: median(&mut core),
            inplace_us: median(&mut inplace),
            alloc_us: median(&mut alloc),
            inplace_ratio: median(&mut r_in),
            alloc_ratio: median(&mut r_al),
        }
    }

    pub fn main() {
        let rounds: usize = std::env::args()
            .skip(1)
            .find_map(|a| a.parse().ok())
            .unwrap_or(61);
        let mut s = Session::start().unwrap_or_else(|e| panic!("{e}"));
        s.julia
            .dynamic_frame(|global, frame| {
                let code = format!("{BLOCKS}; RankRelax.set_num_threads(1)");
                if Value::eval_string(frame, code)?.is_err() {
                    return fail("loading the bench's Julia code failed");
                }
                let _ = global;
                Ok(())
            })
            .expect("bench setup");
        rank_relax::set_num_threads(1);
        println!(
            "soft_rank forward + pullback, f64, ε = 1, l2, 1 thread: the Julia API (through jlrs, \
             in this process) vs the core called from Rust; {rounds} interleaved rounds, medians; \
             library {}",
            s.library
        );
        println!(
            "| shape | calls/round | core µs | Julia API in place µs | in place vs core | Julia API allocating µs | allocating vs core |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|");
        let mut rows = vec![];
        for (batch, n, calls) in [(1, 1000, 300), (128, 1000, 5)] {
            // the GC is off while frames hold values (Session): collect between the shapes
            s.collect_garbage().expect("GC.gc()");
            let r = measure(&mut s, batch, n, calls, rounds);
            println!(
                "| {}×{} | {} | {:.2} | {:.2} | {:+.2} % | {:.2} | {:+.2} % |",
                r.batch,
                r.n,
                r.calls,
                r.core_us,
                r.inplace_us,
                (r.inplace_ratio - 1.0) * 100.0,
                r.alloc_us,
                (r.alloc_ratio - 1.0) * 100.0
            );
            rows.push(r);
        }
        if let Ok(dir) = std::env::var("BENCH_OUT") {
            let path = std::path::Path::new(&dir).join("jlrs.jsonl");
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            for r in &rows {
                writeln!(
                    f,
                    "{{\"bench\": \"jlrs\", \"op\": \"soft_rank\", \"dtype\": \"f64\", \"shape\": [{}, {}], \
                     \"threads\": 1, \"calls\": {}, \"rounds\": {}, \"core_us\": {:.4}, \"inplace_us\": {:.4}, \
                     \"alloc_us\": {:.4}, \"inplace_vs_core\": {:.5}, \"alloc_vs_core\": {:.5}}}",
                    r.batch, r.n, r.calls, r.rounds, r.core_us, r.inplace_us, r.alloc_us,
                    r.inplace_ratio, r.alloc_ratio
                )
                .expect("write jlrs.jsonl");
            }
        }
    }
}
