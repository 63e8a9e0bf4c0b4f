//! Peak resident memory of `soft_rank` forward + backward at 4096 × 4096 f32 (the input is
//! 64 MiB), called through the core API as a user would: allocate the input, allocate the output
//! and the residual and run the forward, allocate the cotangent, allocate the gradients and run
//! the backward; then again with `backward_in_place`, which writes the gradient over the
//! cotangent. Prints the peak RSS growth of the process at each step as a multiple of the
//! input's size, and what it is made of.
//!
//! `cargo bench -p rank-relax --bench memory [-- [B] [N] [l2|kl]]` (Linux: reads `VmRSS`/`VmHWM`
//! from /proc/self/status and resets the peak between steps through /proc/self/clear_refs).
//! With `BENCH_OUT` set (a folder), appends one JSON line to `$BENCH_OUT/memory.jsonl`.

use std::hint::black_box;
use std::io::Write;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rank_relax::ops::soft_rank::{backward, backward_in_place, forward, Params};
use rank_relax::{num_threads, Regularization, Shape};

const MIB: f64 = 1024.0 * 1024.0;

/// A field of /proc/self/status in bytes (`VmRSS`, `VmHWM`), or `None` off Linux.
fn status(field: &str) -> Option<u64> {
    let text = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = text.lines().find(|l| l.starts_with(field))?;
    let kb: u64 = line[field.len() + 1..]
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Resets the peak (`VmHWM`) to the current RSS; false where the kernel does not allow it (then
/// the peak of a step is the process's peak so far, which can only overstate it).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// The RSS now and the peak RSS during `f` (bytes).
struct Step {
    name: &'static str,
    /// RSS after the step.
    rss: u64,
    /// Peak RSS during the step.
    peak: u64,
}

fn step(name: &'static str, f: impl FnOnce()) -> Step {
    reset_peak();
    f();
    let rss = status("VmRSS:").unwrap_or(0);
    let peak = status("VmHWM:").unwrap_or(0).max(rss);
    Step { name, rss, peak }
}

/// The peak RSS growths of one forward + backward, in bytes.
struct Peaks {
    /// RSS before the input.
    base: u64,
    steps: Vec<Step>,
    /// Everything from before the input.
    total: u64,
    /// Everything but the input.
    without_input: u64,
    /// What soft_rank adds beyond the caller's input and cotangent.
    op_owned: u64,
    forward: u64,
    backward: u64,
    /// Growth beyond the arrays the caller allocates (scratch, thread stacks).
    hidden: i64,
}

/// One forward + backward from an empty heap; `in_place` writes the gradient over the cotangent
/// (`backward_in_place`). Every array is freed on return.
fn run(shape: Shape, params: &Params<f32>, in_place: bool) -> Peaks {
    let Shape { batch, n } = shape;
    let len = batch * n;
    let base = status("VmRSS:").unwrap_or(0);
    let mut rng = StdRng::seed_from_u64(7);
    let mut values: Vec<f32> = Vec::new();
    let mut ranks: Vec<f32> = Vec::new();
    let mut permutation: Vec<i32> = Vec::new();
    let mut cotangent: Vec<f32> = Vec::new();
    let mut grad: Vec<f32> = Vec::new();
    let mut grad_eps: Vec<f32> = Vec::new();
    let steps = vec![
        step("input (values)", || {
            values = (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        }),
        step("forward (ranks, permutation)", || {
            ranks = vec![0.0; len];
            permutation = vec![0; len];
            forward(shape, params, &values, None, &mut ranks, &mut permutation).expect("forward");
        }),
        step("cotangent", || {
            cotangent = (0..len).map(|_| rng.random_range(-1.0f32..1.0)).collect();
        }),
        if in_place {
            step(
                "backward in place (grad_values over the cotangent, grad_eps)",
                || {
                    grad_eps = vec![0.0; batch];
                    backward_in_place(
                        shape,
                        params,
                        &values,
                        None,
                        &ranks,
                        &permutation,
                        &mut cotangent,
                        &mut grad_eps,
                    )
                    .expect("backward_in_place");
                },
            )
        } else {
            step("backward (grad_values, grad_eps)", || {
                grad = vec![0.0; len];
                grad_eps = vec![0.0; batch];
                backward(
                    shape,
                    params,
                    &values,
                    None,
                    &ranks,
                    &permutation,
                    &cotangent,
                    &mut grad,
                    &mut grad_eps,
                )
                .expect("backward");
            })
        },
    ];
    black_box((&ranks, &cotangent, &grad, &grad_eps));
    let peak = steps.iter().map(|s| s.peak).max().unwrap_or(base);
    // Bytes of the arrays the caller allocates: input, ranks, permutation, cotangent, gradients.
    let full = if in_place { 4 } else { 5 };
    let arrays = (len * 4 * full + batch * 4) as u64;
    let total = peak - base;
    Peaks {
        total,
        without_input: peak - steps[0].rss,
        op_owned: total.saturating_sub(2 * (len as u64) * 4),
        forward: steps[1].peak - steps[0].rss,
        backward: steps[3].peak - steps[2].rss,
        hidden: total as i64 - arrays as i64,
        base,
        steps,
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let number = |i: usize, default: usize| {
        args.iter()
            .filter_map(|a| a.parse::<usize>().ok())
            .nth(i)
            .unwrap_or(default)
    };
    let (batch, n) = (number(0, 4096), number(1, 4096));
    let regularization = if args.iter().any(|a| a == "kl") {
        Regularization::Kl
    } else {
        Regularization::L2
    };
    let Some(base) = status("VmRSS:") else {
        println!("memory bench: /proc/self/status is not available on this platform; skipped");
        return;
    };
    let resettable = reset_peak();
    let shape = Shape { batch, n };
    let input_bytes = (batch * n * size_of::<f32>()) as f64;
    let params = Params {
        regularization_strength: 0.1f32,
        regularization,
        ..Params::default()
    };
    let separate = run(shape, &params, false);
    let in_place = run(shape, &params, true);

    let ratio = |bytes: u64| bytes as f64 / input_bytes;
    println!(
        "soft_rank forward + backward, {batch} × {n} f32, {regularization}, ε = 0.1, {} threads; \
         input {:.1} MiB; RSS before {:.1} MiB{}",
        num_threads(),
        input_bytes / MIB,
        base as f64 / MIB,
        if resettable {
            ""
        } else {
            " (peak not resettable: step peaks are the peak so far)"
        }
    );
    for (title, peaks) in [("backward", &separate), ("backward_in_place", &in_place)] {
        println!();
        println!("{title}:");
        println!();
        println!("| step | RSS after, MiB | peak during, MiB | peak growth in the step / input |");
        println!("|---|---:|---:|---:|");
        let mut before = peaks.base;
        for s in &peaks.steps {
            println!(
                "| {} | {:.1} | {:.1} | {:.3} |",
                s.name,
                s.rss as f64 / MIB,
                s.peak as f64 / MIB,
                ratio(s.peak.saturating_sub(before))
            );
            before = s.rss;
        }
    }
    println!();
    println!("| what is counted (peak RSS growth) | backward, MiB | / input | backward_in_place, MiB | / input |");
    println!("|---|---:|---:|---:|---:|");
    let line = |what: &str, a: u64, b: u64| {
        println!(
            "| {what} | {:.1} | {:.3} | {:.1} | {:.3} |",
            a as f64 / MIB,
            ratio(a),
            b as f64 / MIB,
            ratio(b)
        );
    };
    let (s, p) = (&separate, &in_place);
    line(
        "everything from before the input: input, ranks, permutation, cotangent, gradient",
        s.total,
        p.total,
    );
    line(
        "everything but the input: ranks, permutation, cotangent, gradient",
        s.without_input,
        p.without_input,
    );
    line(
        "what soft_rank needs beyond the caller's input and cotangent: ranks, permutation, gradient",
        s.op_owned,
        p.op_owned,
    );
    line("forward alone: ranks, permutation", s.forward, p.forward);
    line("backward alone: gradient", s.backward, p.backward);
    println!(
        "| the core's own memory beyond those arrays (scratch, thread stacks) | {:.1} | {:.3} | {:.1} | {:.3} |",
        s.hidden as f64 / MIB,
        s.hidden as f64 / input_bytes,
        p.hidden as f64 / MIB,
        p.hidden as f64 / input_bytes
    );

    if let Ok(dir) = std::env::var("BENCH_OUT") {
        if !dir.is_empty() {
            let record = serde_json::json!({
                "bench": "memory",
                "case": "soft_rank forward + backward",
                "shape": [batch, n],
                "dtype": "f32",
                "regularization": regularization.as_str(),
                "threads": num_threads(),
                "input_mib": input_bytes / MIB,
                "peak_total_mib": s.total as f64 / MIB,
                "ratio_total": ratio(s.total),
                "ratio_without_input": ratio(s.without_input),
                "ratio_op_owned": ratio(s.op_owned),
                "ratio_forward": ratio(s.forward),
                "ratio_backward": ratio(s.backward),
                "core_overhead_mib": s.hidden as f64 / MIB,
                "in_place_ratio_total": ratio(p.total),
                "in_place_ratio_without_input": ratio(p.without_input),
                "in_place_ratio_op_owned": ratio(p.op_owned),
                "in_place_ratio_backward": ratio(p.backward),
                "in_place_core_overhead_mib": p.hidden as f64 / MIB,
                "peak_resettable": resettable,
            });
            let _ = std::fs::create_dir_all(&dir);
            let path = std::path::Path::new(&dir).join("memory.jsonl");
            let mut file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .expect("BENCH_OUT/memory.jsonl");
            writeln!(file, "{record}").expect("write memory.jsonl");
        }
    }
}
