//! The core's own cost of what the benchmark times through the JS API (packages/node/bench): one
//! `soft_rank` forward plus one VJP (forward + backward), with outputs allocated per call as a
//! Rust caller would, timed inside the addon so that no JS or N-API cost is counted. Not part of
//! the public API (the TypeScript package does not expose it).

use std::time::Instant;

use napi::bindgen_prelude::Float64ArraySlice;
use napi::Env;
use napi_derive::napi;
use rank_relax::ops::soft_rank::{backward, forward, Params};
use rank_relax::Shape;

use crate::plumbing::{self as rr, Failure};

/// Seconds per repetition of `softRank(values) + softRankVjp(values, cotangent)` done by the core
/// directly, averaged over `reps` repetitions.
#[napi(js_name = "rrBenchCoreSoftRank")]
pub fn bench_core_soft_rank(
    env: &Env,
    n: u32,
    regularization_strength: f64,
    reps: u32,
    values: Float64ArraySlice,
    cotangent: Float64ArraySlice,
) -> napi::Result<f64> {
    rr::run(env, "soft_rank", || {
        let n = n as usize;
        let len = values.len();
        let shape = Shape {
            batch: len.checked_div(n).unwrap_or(0),
            n,
        };
        let params = Params {
            regularization_strength,
            ..Params::default()
        };
        let start = Instant::now();
        for _ in 0..reps {
            // softRank: the ranks, the residual in scratch.
            let mut ranks = vec![0.0; len];
            let mut permutation = vec![0i32; len];
            forward(shape, &params, &values, None, &mut ranks, &mut permutation)?;
            std::hint::black_box(&ranks);
            // softRankVjp: forward, then backward.
            let mut ranks = vec![0.0; len];
            let mut permutation = vec![0i32; len];
            let mut grad = vec![0.0; len];
            let mut grad_eps = vec![0.0; shape.batch];
            forward(shape, &params, &values, None, &mut ranks, &mut permutation)?;
            backward(
                shape,
                &params,
                &values,
                None,
                &ranks,
                &permutation,
                &cotangent,
                &mut grad,
                &mut grad_eps,
            )?;
            std::hint::black_box((&grad, &grad_eps));
        }
        Ok::<f64, Failure>(start.elapsed().as_secs_f64() / f64::from(reps.max(1)))
    })
}
