//! RankRelax.jl driven from Rust through jlrs, against the core called directly on the same
//! buffers: every case of the reference files in Float64 and Float32, the bad-input matrix's
//! `julia` cases. `harness = false`: Julia lives on the main thread, started once.
//!
//! Run by `scripts/test-julia-check.sh` (`cargo test --release -p rank-relax-julia-check
//! --features julia` with Julia's headers, libclang and the private julia set up). Without the
//! feature or without Julia it prints one line saying why it skipped.

fn main() {
    match rank_relax_julia_check::skip_reason() {
        Some(why) => println!("rank-relax-julia-check: skipped: {why}"),
        #[cfg(feature = "julia")]
        None => checks::main(),
        #[cfg(not(feature = "julia"))]
        None => unreachable!("skip_reason() is Some without the julia feature"),
    }
}

#[cfg(feature = "julia")]
mod checks {
    use jlrs::error::JlrsResult;
    use jlrs::prelude::*;
    use rank_relax::Shape;
    use rank_relax_julia_check::reference::{self, Case, OpInfo, Output, ParamValue};
    use rank_relax_julia_check::session::{
        address, api, array_data, array_data_i32, describe_exception, exception_parts, fail,
        helper, Elem, Session,
    };

    mod bad_input;

    /// Guard elements on each side of every lent buffer.
    const G: usize = 4;

    /// An element of a lent buffer: the reals of [`Elem`], and the integers of int32 inputs (group
    /// ids: `i32`, and `i64` where the bad-input matrix holds a value outside `i32`).
    pub(crate) trait Guarded: Copy {
        /// The guard (and "not written") value.
        fn guard() -> Self;
        /// The bits, for comparisons.
        fn guard_bits(self) -> u64;
    }

    impl Guarded for f64 {
        fn guard() -> Self {
            <f64 as Elem>::sentinel()
        }
        fn guard_bits(self) -> u64 {
            Elem::bits(self)
        }
    }

    impl Guarded for f32 {
        fn guard() -> Self {
            <f32 as Elem>::sentinel()
        }
        fn guard_bits(self) -> u64 {
            Elem::bits(self)
        }
    }

    impl Guarded for i32 {
        fn guard() -> Self {
            0x5eed_beef_u32 as i32
        }
        fn guard_bits(self) -> u64 {
            u64::from(self as u32)
        }
    }

    impl Guarded for i64 {
        fn guard() -> Self {
            0x5eed_beef_5eed_beef
        }
        fn guard_bits(self) -> u64 {
            self as u64
        }
    }

    /// A Rust-owned buffer lent to Julia: the data between guard elements that Julia must not
    /// touch.
    struct Lent<T> {
        buf: Vec<T>,
        len: usize,
    }

    impl<T: Guarded> Lent<T> {
        fn new(data: &[T]) -> Self {
            let mut buf = vec![T::guard(); data.len() + 2 * G];
            buf[G..G + data.len()].copy_from_slice(data);
            Lent {
                buf,
                len: data.len(),
            }
        }
        fn data(&self) -> &[T] {
            &self.buf[G..G + self.len]
        }
        fn data_mut(&mut self) -> &mut [T] {
            &mut self.buf[G..G + self.len]
        }
        fn addr(&self) -> u64 {
            self.data().as_ptr() as u64
        }
        fn guards_intact(&self) -> bool {
            self.buf[..G]
                .iter()
                .chain(&self.buf[G + self.len..])
                .all(|x| x.guard_bits() == T::guard().guard_bits())
        }
    }

    /// `Ok` when `got` has the bits of `want`, else where it first differs.
    pub(crate) fn same_bits<T: Elem>(what: &str, got: &[T], want: &[T]) -> Result<(), String> {
        if got.len() != want.len() {
            return Err(format!("{what}: {} values, want {}", got.len(), want.len()));
        }
        match got.iter().zip(want).position(|(a, b)| a.bits() != b.bits()) {
            None => Ok(()),
            Some(k) => Err(format!(
                "{what}[{k}]: {:e} ({:#x}), the core gives {:e} ({:#x})",
                got[k],
                got[k].bits(),
                want[k],
                want[k].bits()
            )),
        }
    }

    /// `Ok` when `got` equals `want` (index outputs), else where it first differs.
    fn same_ints(what: &str, got: &[i32], want: &[i32]) -> Result<(), String> {
        if got.len() != want.len() {
            return Err(format!("{what}: {} values, want {}", got.len(), want.len()));
        }
        match got.iter().zip(want).position(|(a, b)| a != b) {
            None => Ok(()),
            Some(k) => Err(format!("{what}[{k}]: {}, want {}", got[k], want[k])),
        }
    }

    /// An op's result split into its first output and its index outputs, copied (a `NamedTuple`
    /// when the op has index outputs, else the output itself).
    fn outputs<'f, F: Frame<'f>>(
        frame: &mut F,
        op: &OpInfo,
        r: Value<'f, 'static>,
    ) -> JlrsResult<(Value<'f, 'static>, Vec<Vec<i32>>)> {
        if op.index_outputs.is_empty() {
            return Ok((r, vec![]));
        }
        let mut idx = vec![];
        for i in 0..op.index_outputs.len() {
            idx.push(array_data_i32(r.get_nth_field(frame, 1 + i)?)?);
        }
        let first = r.get_nth_field(frame, 0)?;
        // SAFETY of the lifetime: a field of a result that the frame holds
        let first = unsafe { std::mem::transmute::<Value<'f, '_>, Value<'f, 'static>>(first) };
        Ok((first, idx))
    }

    /// What Julia returned for one case, copied out of Julia.
    struct FromJulia<T> {
        /// `op_forward`'s output and its dimensions.
        forward: (Vec<T>, Vec<usize>),
        /// `op(...)`'s output.
        plain: Vec<T>,
        /// The index outputs of `op_forward`, `op(...)` and `op_forward!`, in Julia's 1-based
        /// convention.
        indices: [Vec<Vec<i32>>; 3],
        /// `pointer(tape.<input>)` for each input.
        tape_addrs: Vec<u64>,
        /// `op_pullback`'s input gradients and ε-gradient.
        pullback: (Vec<Vec<T>>, T),
        /// `sum` of the core's per-row ε-gradients, in Julia.
        core_grad_eps_sum: T,
        /// `op_forward!`'s output (written over a NaN-filled output of the earlier tape), and
        /// whether it is that same array.
        forward_bang: (Vec<T>, bool),
        /// `op_pullback!`'s ε-gradient, and the addresses of the gradients it returned.
        pullback_bang: (T, Vec<u64>),
        /// `op_pullback!(c, tape, c)`: the ε-gradient where the op allows the gradient to be
        /// written over the cotangent, else the exception (type, message).
        aliased: Option<Result<T, (String, String)>>,
    }

    fn call_api<'f, F: Frame<'f>>(
        global: Global<'_>,
        frame: &mut F,
        name: &str,
        kw: Option<Value<'_, '_>>,
        args: &mut [Value<'_, '_>],
    ) -> JlrsResult<Value<'f, 'static>> {
        let f = api(global, name)?;
        let r = match kw {
            Some(kw) => f.with_keywords(kw).call(frame, args)?,
            None => f.call(frame, args)?,
        };
        match r {
            // SAFETY of the lifetime: the results are Julia-owned, or one of the lent arrays,
            // which stay lent until the frame ends.
            Ok(v) => Ok(unsafe { std::mem::transmute::<Value<'f, '_>, Value<'f, 'static>>(v) }),
            Err(e) => {
                let d = describe_exception(global, frame, e)?;
                fail(format!("RankRelax.{name} threw {d}"))
            }
        }
    }

    /// The keyword arguments of a case: ε as the file's Float64, enum values as `Symbol`s, k as an
    /// `Int64`, quantiles as a `Vector{Float64}`; then the mask (an `Array{Bool}`), if given.
    pub(crate) fn keywords<'f, F: Frame<'f>>(
        global: Global<'_>,
        frame: &mut F,
        params: &[(String, ParamValue)],
        mask: Option<Value<'_, '_>>,
    ) -> JlrsResult<Value<'f, 'static>> {
        let mut names: Vec<String> = params.iter().map(|(k, _)| k.clone()).collect();
        let mut vals = vec![];
        for (_, v) in params {
            vals.push(match v {
                ParamValue::Real(x) => Value::new(frame, *x)?,
                ParamValue::Name(s) => Symbol::new(global, s).as_value(),
                ParamValue::Int(i) => Value::new(frame, *i)?,
                ParamValue::List(xs) => Value::move_array(frame, xs.clone(), xs.len())?,
            });
        }
        if let Some(m) = mask {
            names.push("mask".into());
            // SAFETY of the lifetime: the mask is lent for the whole frame, like the inputs.
            vals.push(unsafe { std::mem::transmute::<Value<'_, '_>, Value<'f, 'static>>(m) });
        }
        let kw = Value::new_named_tuple(frame, &mut names, &mut vals)?;
        Ok(unsafe { std::mem::transmute::<Value<'f, '_>, Value<'f, 'static>>(kw) })
    }

    /// One case in `T`: Julia's results against the core's, and the lent buffers after Julia.
    fn check_case<T: Elem + Guarded>(
        s: &mut Session,
        case: &Case,
        checks: &mut usize,
    ) -> Result<(), String> {
        let op = case.op;
        let Shape { batch: b, n } = case.shape;
        let len = b * n;
        let what = |w: &str| format!("{} {}: {w}", case.describe(), T::DTYPE);
        let to_t = |v: &[f64]| v.iter().map(|&x| T::from_f64(x)).collect::<Vec<T>>();

        let mut inputs: Vec<Lent<T>> = case.inputs.iter().map(|v| Lent::new(&to_t(v))).collect();
        let pristine: Vec<Vec<T>> = inputs.iter().map(|l| l.data().to_vec()).collect();
        // the int32 inputs (group ids), lent as Int32 arrays whatever T is
        let mut ints: Vec<Lent<i32>> = case.ints.iter().map(|v| Lent::new(v)).collect();
        let mut cot = Lent::new(&to_t(&case.cotangent));
        let cot_pristine = cot.data().to_vec();

        // the core, directly, on the same buffers
        let p = case.core_params::<T>().map_err(|e| what(&e.to_string()))?;
        let slices: Vec<&[T]> = inputs.iter().map(|l| l.data()).collect();
        let int_slices: Vec<&[i32]> = ints.iter().map(|l| l.data()).collect();
        let fwd = reference::forward(
            op.name,
            case.shape,
            &p,
            &slices,
            &int_slices,
            case.mask.as_deref(),
        )
        .map_err(|e| what(&format!("core forward: {e}")))?;
        drop(int_slices);
        let bwd = reference::backward(
            op.name,
            case.shape,
            &p,
            &slices,
            case.mask.as_deref(),
            &fwd,
            cot.data(),
        )
        .map_err(|e| what(&format!("core backward: {e}")))?;
        drop(slices);

        let ndiff = op.inputs.iter().filter(|(_, d)| *d).count();
        let mut grads: Vec<Lent<T>> = (0..ndiff)
            .map(|_| Lent::new(&vec![T::sentinel(); len]))
            .collect();
        // `pullback!(c, tape, c)`: one gradient, of the cotangent's shape
        let mut aliased = (op.output == Output::Items && ndiff == 1).then(|| Lent::new(cot.data()));
        let out_dims = case.output_dims();
        let mut core_ge = bwd.grad_eps.clone();
        // the mask, lent like the inputs: the tape keeps it without a copy
        let mut mask = case.mask.clone();
        let mut input_addrs: Vec<u64> = inputs.iter().map(Lent::addr).collect();
        if let Some(m) = &mask {
            input_addrs.push(m.as_ptr() as u64);
        }
        let grad_addrs: Vec<u64> = grads.iter().map(Lent::addr).collect();

        let got: FromJulia<T> = s
            .julia
            .dynamic_frame(|global, frame| {
                // n × B column-major views of the row-major [B, n] buffers, not copies, in the op's
                // argument order (the int32 ones Int32 arrays)
                let mut args = vec![];
                let (mut reals, mut int_bufs) = (inputs.iter_mut(), ints.iter_mut());
                for (name, _) in op.inputs {
                    let missing = || format!("{}: no buffer for input {name}", op.name);
                    args.push(if op.is_int(name) {
                        let l = int_bufs.next().ok_or_else(missing).or_else(fail)?;
                        Value::borrow_array(frame, l.data_mut(), (n, b))?
                    } else {
                        let l = reals.next().ok_or_else(missing).or_else(fail)?;
                        Value::borrow_array(frame, l.data_mut(), (n, b))?
                    });
                }
                let cot_jl = Value::borrow_array(frame, cot.data_mut(), &out_dims[..])?;
                let mask_jl = match mask.as_mut() {
                    Some(m) => Some(Value::borrow_array(frame, &mut m[..], (n, b))?),
                    None => None,
                };
                let kw = keywords(global, frame, &case.params, mask_jl)?;

                let r = call_api(
                    global,
                    frame,
                    &format!("{}_forward", op.name),
                    Some(kw),
                    &mut args,
                )?;
                let out = r.get_nth_field(frame, 0)?;
                let (out, idx0) = outputs(frame, op, out)?;
                let tape = r.get_nth_field(frame, 1)?;
                let forward = array_data::<T>(out)?;
                let mut tape_addrs = vec![];
                // the tape keeps the real inputs (not the ids, which the forward alone reads)
                let saved = op
                    .inputs
                    .iter()
                    .map(|(name, _)| *name)
                    .filter(|name| !op.is_int(name));
                for name in saved.chain(case.mask.as_ref().map(|_| "mask")) {
                    let name = Value::new(frame, name.to_string())?;
                    match helper(global, "field_addr")?.call2(frame, tape, name)? {
                        Ok(a) => tape_addrs.push(a.cast::<u64>()?),
                        Err(_) => return fail("getfield(tape, input) failed"),
                    }
                }
                let plain = call_api(global, frame, op.name, Some(kw), &mut args)?;
                let (plain, idx1) = outputs(frame, op, plain)?;
                let plain = array_data::<T>(plain)?.0;

                let r = call_api(
                    global,
                    frame,
                    &format!("{}_pullback", op.name),
                    None,
                    &mut [tape, cot_jl],
                )?;
                let mut pg = vec![];
                for i in 0..ndiff {
                    pg.push(array_data::<T>(r.get_nth_field(frame, i)?)?.0);
                }
                let pullback = (pg, r.get_nth_field(frame, ndiff)?.cast::<T>()?);

                let ge = Value::borrow_array(frame, &mut core_ge[..], b)?;
                let core_grad_eps_sum =
                    match Module::base(global).function("sum")?.call1(frame, ge)? {
                        Ok(v) => v.cast::<T>()?,
                        Err(_) => return fail("sum failed"),
                    };

                // forward! into the earlier tape, its output first overwritten with NaNs
                let nan = Value::new(frame, T::sentinel())?;
                if Module::base(global)
                    .function("fill!")?
                    .call2(frame, out, nan)?
                    .is_err()
                {
                    return fail("fill! failed");
                }
                let mut fargs = vec![tape];
                fargs.extend(args.iter().copied());
                let r = call_api(
                    global,
                    frame,
                    &format!("{}_forward!", op.name),
                    Some(kw),
                    &mut fargs,
                )?;
                let out2 = r.get_nth_field(frame, 0)?;
                let (out2, idx2) = outputs(frame, op, out2)?;
                let tape2 = r.get_nth_field(frame, 1)?;
                let same = match helper(global, "same")?.call2(frame, out, out2)? {
                    Ok(v) => v.cast::<bool>()?,
                    Err(_) => return fail("=== failed"),
                };
                let forward_bang = (array_data::<T>(out2)?.0, same);

                // pullback! into Rust buffers
                let mut gargs = vec![];
                for g in grads.iter_mut() {
                    gargs.push(Value::borrow_array(frame, g.data_mut(), (n, b))?);
                }
                gargs.push(tape2);
                gargs.push(cot_jl);
                let r = call_api(
                    global,
                    frame,
                    &format!("{}_pullback!", op.name),
                    None,
                    &mut gargs,
                )?;
                let mut returned = vec![];
                for i in 0..ndiff {
                    let g = r.get_nth_field(frame, i)?;
                    returned.push(address(global, frame, g)?);
                }
                let pullback_bang = (r.get_nth_field(frame, ndiff)?.cast::<T>()?, returned);

                // the documented aliasing: the gradient written over the cotangent
                let aliased = match aliased.as_mut() {
                    Some(a) => {
                        let a = Value::borrow_array(frame, a.data_mut(), (n, b))?;
                        let f = api(global, &format!("{}_pullback!", op.name))?;
                        match f.call(frame, &mut [a, tape2, a])? {
                            Ok(r) => Some(Ok(r.get_nth_field(frame, 1)?.cast::<T>()?)),
                            Err(e) => Some(Err(exception_parts(global, frame, e)?)),
                        }
                    }
                    None => None,
                };
                Ok(FromJulia {
                    forward,
                    plain,
                    indices: [idx0, idx1, idx2],
                    tape_addrs,
                    pullback,
                    core_grad_eps_sum,
                    forward_bang,
                    pullback_bang,
                    aliased,
                })
            })
            .map_err(|e| what(&e.to_string()))?;

        let mut errors = vec![];
        let mut check = |r: Result<(), String>| {
            *checks += 1;
            if let Err(e) = r {
                errors.push(e);
            }
        };
        let want_dims = out_dims.clone();
        check(if got.forward.1 == want_dims {
            Ok(())
        } else {
            Err(format!(
                "forward: dims {:?}, want {want_dims:?}",
                got.forward.1
            ))
        });
        check(same_bits("forward", &got.forward.0, &fwd.output));
        check(same_bits("plain call", &got.plain, &fwd.output));
        // index outputs: Julia's are 1-based, 0 for none; the core's and the file's 0-based, −1
        for (call, idx) in ["forward", "plain call", "forward!"]
            .iter()
            .zip(&got.indices)
        {
            for (i, name) in op.index_outputs.iter().enumerate() {
                let zero_based: Vec<i32> = idx[i].iter().map(|&j| j - 1).collect();
                check(same_ints(
                    &format!("{call} {name}"),
                    &zero_based,
                    &fwd.indices[i],
                ));
            }
        }
        if T::DTYPE == "f64" {
            for (i, name) in op.index_outputs.iter().enumerate() {
                if let Some(want) = case.indices.get(i) {
                    check(same_ints(
                        &format!("{name} (the core)"),
                        &fwd.indices[i],
                        want,
                    ));
                }
            }
        }
        check(if got.tape_addrs == input_addrs {
            Ok(())
        } else {
            Err(format!(
                "the tape's inputs are at {:x?}, the lent buffers at {input_addrs:x?}: copied",
                got.tape_addrs
            ))
        });
        for (i, g) in got.pullback.0.iter().enumerate() {
            check(same_bits(&format!("pullback grad {i}"), g, &bwd.grads[i]));
        }
        let eps_sum = [got.core_grad_eps_sum];
        check(same_bits(
            "pullback ε-gradient",
            &[got.pullback.1],
            &eps_sum,
        ));
        check(same_bits("forward!", &got.forward_bang.0, &fwd.output));
        check(if got.forward_bang.1 {
            Ok(())
        } else {
            Err("forward! returned another array than the tape's".into())
        });
        check(same_bits(
            "pullback! ε-gradient",
            &[got.pullback_bang.0],
            &eps_sum,
        ));
        check(if got.pullback_bang.1 == grad_addrs {
            Ok(())
        } else {
            Err("pullback! returned other arrays than the lent gradients".into())
        });
        for (i, g) in grads.iter().enumerate() {
            check(same_bits(
                &format!("pullback! grad {i} (lent)"),
                g.data(),
                &bwd.grads[i],
            ));
            check(if g.guards_intact() {
                Ok(())
            } else {
                Err(format!("pullback! wrote outside the lent gradient {i}"))
            });
        }
        if let (Some(a), Some(r)) = (&aliased, &got.aliased) {
            match (op.grad_may_alias_cotangent, r) {
                (true, Ok(ge)) => {
                    check(same_bits("pullback!(c, tape, c)", a.data(), &bwd.grads[0]));
                    check(same_bits(
                        "pullback!(c, tape, c) ε-gradient",
                        &[*ge],
                        &eps_sum,
                    ));
                }
                (true, Err((t, m))) => check(Err(format!("pullback!(c, tape, c) threw {t}: {m}"))),
                (false, Ok(_)) => check(Err(
                    "pullback!(c, tape, c) returned; the API says the arrays must be distinct"
                        .into(),
                )),
                (false, Err((t, m))) => {
                    check(if t == "ArgumentError" && m.contains(" overlaps ") {
                        Ok(())
                    } else {
                        Err(format!("pullback!(c, tape, c) threw {t}: {m}; want an ArgumentError about the overlap"))
                    });
                    check(same_bits(
                        "pullback!(c, tape, c) refused: c",
                        a.data(),
                        &cot_pristine,
                    ));
                }
            }
            check(if a.guards_intact() {
                Ok(())
            } else {
                Err("pullback!(c, tape, c) wrote outside the lent array".into())
            });
        }
        // Julia wrote nowhere else: the inputs and the cotangent are as lent, guards included
        for (i, l) in inputs.iter().enumerate() {
            check(same_bits(
                &format!("input {i} after the calls"),
                l.data(),
                &pristine[i],
            ));
            check(if l.guards_intact() {
                Ok(())
            } else {
                Err(format!("a write next to input {i}"))
            });
        }
        for (i, l) in ints.iter().enumerate() {
            check(same_ints(
                &format!("int32 input {} after the calls", op.int_inputs[i]),
                l.data(),
                &case.ints[i],
            ));
            check(if l.guards_intact() {
                Ok(())
            } else {
                Err(format!("a write next to int32 input {}", op.int_inputs[i]))
            });
        }
        check(if mask == case.mask {
            Ok(())
        } else {
            Err("the mask changed".into())
        });
        check(same_bits(
            "cotangent after the calls",
            cot.data(),
            &cot_pristine,
        ));
        check(if cot.guards_intact() {
            Ok(())
        } else {
            Err("a write next to the cotangent".into())
        });
        if errors.is_empty() {
            Ok(())
        } else {
            Err(what(&errors.join("; ")))
        }
    }

    pub fn main() {
        let t0 = std::time::Instant::now();
        let mut s = match Session::start() {
            Ok(s) => s,
            Err(e) => {
                eprintln!("rank-relax-julia-check: {e}");
                std::process::exit(1);
            }
        };
        println!(
            "rank-relax-julia-check: Julia started in {:.1} s, RankRelax loaded with {}",
            t0.elapsed().as_secs_f64(),
            s.library
        );
        let cases = match reference::load() {
            Ok(c) => c,
            Err(e) => {
                eprintln!("rank-relax-julia-check: {e}");
                std::process::exit(1);
            }
        };
        let (mut passed, mut failed, mut checks) = (0usize, 0usize, 0usize);
        for case in &cases {
            if case.index % 16 == 0 {
                if let Err(e) = s.collect_garbage() {
                    eprintln!("rank-relax-julia-check: {e}");
                    std::process::exit(1);
                }
            }
            for r in [
                check_case::<f64>(&mut s, case, &mut checks),
                check_case::<f32>(&mut s, case, &mut checks),
            ] {
                match r {
                    Ok(()) => passed += 1,
                    Err(e) => {
                        failed += 1;
                        if failed <= 20 {
                            eprintln!("FAIL {e}");
                        }
                    }
                }
            }
        }
        println!(
            "reference ({}): {} cases × Float64/Float32: {passed} passed, {failed} failed ({checks} bit-for-bit and buffer checks)",
            reference::reference_paths()
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", "),
            cases.len()
        );
        let (bp, bf) = bad_input::run(&mut s);
        let (passed, failed) = (passed + bp, failed + bf);
        println!(
            "rank-relax-julia-check: {passed} passed, {failed} failed in {:.1} s",
            t0.elapsed().as_secs_f64()
        );
        if failed > 0 {
            std::process::exit(1);
        }
    }
}
