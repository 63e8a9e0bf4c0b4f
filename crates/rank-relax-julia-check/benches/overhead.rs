//! The Julia wrapper's overhead over the core, in one process: soft_rank forward + pullback
//! (f64, ε = 1, l2, ascending) at 1×1000 and 128×1000, one thread everywhere
//! (`rank_relax::set_num_threads(1)`, `RankRelax.set_num_threads(1)`), timed in rounds that
//! interleave the variants (rotating their order) so that all see the same machine load:
//!
//! - C ABI: `rr_soft_rank_forward_f64` + `rr_soft_rank_backward_f64` of the library RankRelax
//!   loaded (the addresses its ccalls use), called from Rust into buffers allocated once: the same
//!   compiled core the Julia calls reach, without Julia. The baseline of the target;
//! - core (Rust): `soft_rank::forward` + `soft_rank::backward` of the core crate linked into this
//!   binary (the same source, another build: code placement alone moves it by a few %);
//! - Julia in place: `soft_rank_forward!(tape, x)` + `soft_rank_pullback!(g, tape, cot)` on
//!   Rust-owned `x`, `cot`, `g` lent to Julia (a loop in Julia, timed there with `time_ns`);
//! - Julia allocating: `soft_rank_forward(x)` + `soft_rank_pullback(tape, cot)` (fresh output,
//!   residual and gradient arrays per call).
//!
//! Each round times a block of calls per variant; a ratio is the median over rounds of the
//! per-round ratio of two blocks, a time the median over rounds. Prints a table and, with
//! `BENCH_OUT` set, appends JSON lines to `$BENCH_OUT/jlrs.jsonl`. Run by `pnpm bench` (suite
//! `jlrs`) or `cargo bench -p rank-relax-julia-check --features julia --bench overhead` with the
//! environment of `scripts/test-julia-check.sh`. Arguments: `[rounds]` (default 61).

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

    /// `rr_soft_rank_forward_f64` and `rr_soft_rank_backward_f64` of the library RankRelax loaded
    /// (the mask, a `const bool *`, null: no mask).
    type Fwd = unsafe extern "C" fn(
        usize,
        usize,
        f64,
        i32,
        i32,
        *const f64,
        *const bool,
        *mut f64,
        *mut i32,
    ) -> i32;
    type Bwd = unsafe extern "C" fn(
        usize,
        usize,
        f64,
        i32,
        i32,
        *const f64,
        *const bool,
        *const f64,
        *const i32,
        *const f64,
        *mut f64,
        *mut f64,
    ) -> i32;

    /// Medians over rounds: µs per call of each variant, and the per-round ratios.
    struct Row {
        batch: usize,
        n: usize,
        calls: usize,
        rounds: usize,
        cabi_us: f64,
        core_us: f64,
        inplace_us: f64,
        alloc_us: f64,
        inplace_vs_cabi: f64,
        alloc_vs_cabi: f64,
        inplace_vs_core: f64,
    }

    fn measure(
        s: &mut Session,
        (fwd, bwd): (Fwd, Bwd),
        (batch, n, calls, rounds): (usize, usize, usize, usize),
    ) -> Row {
        let len = batch * n;
        let shape = Shape { batch, n };
        let params = soft_rank::Params {
            regularization_strength: 1.0,
            ..soft_rank::Params::default()
        };
        // the core crate linked into this binary, on its own buffers
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
                soft_rank::forward(shape, &params, &cx, None, &mut r, &mut perm).expect("forward");
                soft_rank::backward(shape, &params, &cx, None, &r, &perm, &ccot, &mut g, &mut ge)
                    .expect("backward");
            }
            t.elapsed().as_nanos() as f64
        };
        // the C ABI of the library Julia calls (the same compiled core), on its own buffers
        let (ax, acot) = (data(len, 1), data(len, 2));
        let (mut ar, mut aperm, mut ag, mut age) = (
            vec![0.0; len],
            vec![0i32; len],
            vec![0.0; len],
            vec![0.0; batch],
        );
        let mut cabi_block = || {
            let t = Instant::now();
            for _ in 0..calls {
                // SAFETY: the C ABI's contract: buffers of batch × n (batch for the ε-gradient)
                let (s1, s2) = unsafe {
                    let s1 = fwd(
                        batch,
                        n,
                        1.0,
                        0,
                        0,
                        ax.as_ptr(),
                        std::ptr::null(),
                        ar.as_mut_ptr(),
                        aperm.as_mut_ptr(),
                    );
                    let s2 = bwd(
                        batch,
                        n,
                        1.0,
                        0,
                        0,
                        ax.as_ptr(),
                        std::ptr::null(),
                        ar.as_ptr(),
                        aperm.as_ptr(),
                        acot.as_ptr(),
                        ag.as_mut_ptr(),
                        age.as_mut_ptr(),
                    );
                    (s1, s2)
                };
                assert_eq!((s1, s2), (0, 0), "rr_soft_rank_*_f64 failed");
            }
            t.elapsed().as_nanos() as f64
        };
        // the buffers lent to Julia: the same values
        let (mut x, mut cot, mut jg) = (data(len, 1), data(len, 2), vec![0.0; len]);
        let mut t: [Vec<f64>; 4] = Default::default(); // ns per block: cabi, core, in place, alloc
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
                    let times = frame.dynamic_frame(|frame| {
                        let mut times = [0.0; 4];
                        // rotate the order so that no variant always runs first
                        for slot in 0..4 {
                            let v = (slot + round) % 4;
                            times[v] = match v {
                                0 => cabi_block(),
                                1 => core_block(),
                                2 => call_f64(frame, fin, &mut [tape, gj, xj, cj, k])?,
                                _ => call_f64(frame, fal, &mut [xj, cj, k])?,
                            };
                        }
                        Ok(times)
                    })?;
                    if round > 0 {
                        // round 0 warms up (compilation, first touch)
                        for (v, x) in t.iter_mut().zip(times) {
                            v.push(x);
                        }
                    }
                }
                Ok(())
            })
            .expect("the Julia side of the bench");
        let per_call = |v: &[f64]| {
            let mut us: Vec<f64> = v.iter().map(|x| x / calls as f64 / 1e3).collect();
            median(&mut us)
        };
        let ratio = |a: &[f64], b: &[f64]| {
            let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
            median(&mut r)
        };
        Row {
            batch,
            n,
            calls,
            rounds,
            cabi_us: per_call(&t[0]),
            core_us: per_call(&t[1]),
            inplace_us: per_call(&t[2]),
            alloc_us: per_call(&t[3]),
            inplace_vs_cabi: ratio(&t[2], &t[0]),
            alloc_vs_cabi: ratio(&t[3], &t[0]),
            inplace_vs_core: ratio(&t[2], &t[1]),
        }
    }

    pub fn main() {
        let rounds: usize = std::env::args()
            .skip(1)
            .find_map(|a| a.parse().ok())
            .unwrap_or(61);
        let mut s = Session::start().unwrap_or_else(|e| panic!("{e}"));
        let fns = s
            .julia
            .dynamic_frame(|_global, frame| {
                let code = format!(
                    "{BLOCKS}; RankRelax.set_num_threads(1); \
                     (UInt64(UInt(RankRelax._RR_KERNEL_FNS.rr_soft_rank_forward_f64[])), \
                      UInt64(UInt(RankRelax._RR_KERNEL_FNS.rr_soft_rank_backward_f64[])))"
                );
                match Value::eval_string(frame, code)? {
                    Ok(v) => {
                        let f = v.get_nth_field(frame, 0)?.cast::<u64>()?;
                        let b = v.get_nth_field(frame, 1)?.cast::<u64>()?;
                        Ok((f, b))
                    }
                    Err(_) => fail("loading the bench's Julia code failed"),
                }
            })
            .expect("bench setup");
        assert!(
            fns.0 != 0 && fns.1 != 0,
            "RankRelax has not bound the kernels"
        );
        // SAFETY: the addresses RankRelax's ccalls use, with the signatures of rank_relax.h
        let fns: (Fwd, Bwd) = unsafe {
            (
                std::mem::transmute::<usize, Fwd>(fns.0 as usize),
                std::mem::transmute::<usize, Bwd>(fns.1 as usize),
            )
        };
        rank_relax::set_num_threads(1);
        println!(
            "soft_rank forward + pullback, f64, ε = 1, l2, 1 thread, {rounds} interleaved rounds, \
             medians: the Julia API driven from Rust through jlrs, in this process, vs the C ABI of \
             the library it calls ({}) and vs the core crate linked into this binary",
            s.library
        );
        println!(
            "| shape | calls/round | C ABI µs | core (Rust) µs | Julia in place µs | in place vs C ABI | in place vs core (Rust) | Julia allocating µs | allocating vs C ABI |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
        let mut rows = vec![];
        for (batch, n, calls) in [(1, 1000, 300), (128, 1000, 5)] {
            // the GC is off while frames hold values (Session): collect between the shapes
            s.collect_garbage().expect("GC.gc()");
            let r = measure(&mut s, fns, (batch, n, calls, rounds));
            println!(
                "| {}×{} | {} | {:.2} | {:.2} | {:.2} | {:+.2} % | {:+.2} % | {:.2} | {:+.2} % |",
                r.batch,
                r.n,
                r.calls,
                r.cabi_us,
                r.core_us,
                r.inplace_us,
                (r.inplace_vs_cabi - 1.0) * 100.0,
                (r.inplace_vs_core - 1.0) * 100.0,
                r.alloc_us,
                (r.alloc_vs_cabi - 1.0) * 100.0
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
                     \"threads\": 1, \"calls\": {}, \"rounds\": {}, \"cabi_us\": {:.4}, \"core_us\": {:.4}, \
                     \"inplace_us\": {:.4}, \"alloc_us\": {:.4}, \"inplace_vs_cabi\": {:.5}, \
                     \"alloc_vs_cabi\": {:.5}, \"inplace_vs_core\": {:.5}}}",
                    r.batch, r.n, r.calls, r.rounds, r.cabi_us, r.core_us, r.inplace_us, r.alloc_us,
                    r.inplace_vs_cabi, r.alloc_vs_cabi, r.inplace_vs_core
                )
                .expect("write jlrs.jsonl");
            }
        }
    }
}
