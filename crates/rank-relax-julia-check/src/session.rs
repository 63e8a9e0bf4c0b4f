//! Julia embedded through jlrs 0.8, with `RankRelax` loaded from the checkout.
//!
//! Julia runs on the thread that started it, once per process: the test and the bench are
//! `harness = false` binaries that do everything on their main thread.

use std::path::PathBuf;

use jlrs::error::{JlrsError, JlrsResult};
use jlrs::prelude::*;
use jlrs::traits::cast::Cast;
use jlrs::traits::into_julia::IntoJulia;
use jlrs::traits::julia_type::JuliaType;
use rank_relax::Real;

use crate::session_paths::{BINDIR, IMAGE};

/// An element type both the core and Julia know (`f32` = `Float32`, `f64` = `Float64`).
pub trait Elem:
    Real + IntoJulia + JuliaType + ValidLayout + for<'f, 'd> Cast<'f, 'd, Output = Self>
{
    /// The bits, for bit-for-bit comparisons.
    fn bits(self) -> u64;
    /// A NaN with a payload no computation produces: the guard and "not written" marker.
    fn sentinel() -> Self;
}

impl Elem for f64 {
    fn bits(self) -> u64 {
        self.to_bits()
    }
    fn sentinel() -> Self {
        f64::from_bits(0x7ff8_dead_beef_0001)
    }
}

impl Elem for f32 {
    fn bits(self) -> u64 {
        u64::from(self.to_bits())
    }
    fn sentinel() -> Self {
        f32::from_bits(0x7fc0_beef)
    }
}

/// An error of this check (not a Julia exception) as a jlrs error.
pub fn fail<T>(msg: impl Into<String>) -> JlrsResult<T> {
    Err(Box::new(JlrsError::Exception(msg.into())))
}

/// The embedded Julia with `RankRelax` loaded, its garbage collector off.
///
/// With jlrs 0.8.2 and this Julia 1.5.3, a collection while a jlrs frame held the result of a call
/// lost it (a tape held in the frame came back as an `Array{Any,1}`; using it crashed in method
/// dispatch), even with the held values also rooted in a Julia global. So the GC is off (`GC.enable(false)`) while the Rust side holds
/// values, and [`Session::collect_garbage`] runs it between cases, when no frame holds anything.
pub struct Session {
    /// The runtime.
    pub julia: Julia,
    /// `RankRelax.library_path()`: the C library the package loaded.
    pub library: String,
}

/// Test-only helpers, defined in `Main.RankRelaxJuliaCheck`: addresses of arrays, fields of
/// exceptions. They read; they call nothing of RankRelax.
const HELPERS: &str = r#"
module RankRelaxJuliaCheck
# a collection while no Rust frame holds a value; the GC stays off otherwise (see Session)
collect_garbage() = (GC.enable(true); GC.gc(); GC.enable(false); nothing)
addr(a::Array) = UInt64(UInt(pointer(a)))
field_addr(t, name::String) = addr(getfield(t, Symbol(name)))
exception_message(e) = e isa ArgumentError ? e.msg : sprint(showerror, e)
exception_type(e) = string(nameof(typeof(e)))
type_and_message(e) = string(exception_type(e), "\n", exception_message(e))
same(a, b) = a === b
# an op with several outputs returns a NamedTuple: its first output
first_output(x) = x isa NamedTuple ? x[1] : x
# the bad-input matrix: a lent buffer (a mask's a Vector{Bool}) reshaped (same memory), then viewed or cast as
# RankRelax.jl's runner does (test/bad_input.jl), then converted to `to` if given
function prepare(a::Vector, d::Vector{Int64}, view::String, cast::String, to::String)
    x = reshape(a, Tuple(d))
    if !isempty(cast)
        x = cast == "int32" ? map(v -> Int32(trunc(v)), x) :
            cast == "int64" ? map(v -> Int64(trunc(v)), x) :
            cast == "bool" ? map(v -> v != 0, x) :
            cast == "complex128" ? map(ComplexF64, x) :
            cast == "float16" ? map(Float16, x) :
            cast == "float64" ? map(Float64, x) :
            cast == "float32" ? map(Float32, x) : error("unknown cast ", cast)
    elseif !isempty(view)
        n, b = size(x)
        x = view == "transpose" ? transpose(collect(transpose(x))) :
            view == "reverse" ? Base.view(x[n:-1:1, :], n:-1:1, :) :
            view == "step" ? Base.view((s = zeros(eltype(x), 2n, b); s[1:2:2n, :] = x; s), 1:2:2n, :) :
            error("unknown view ", view)
    end
    isempty(to) || (x = convert(Array{to == "float32" ? Float32 : Float64}, x))
    return x
end
# an int32 input (group ids) lent as the case's integers (a Vector{Int64}): reshaped, then cast as
# the case says (from the integers), or made Int32 and viewed, as RankRelax.jl's runner does
prepare_ints(a::Vector{Int64}, d::Vector{Int64}, view::String, cast::String) =
    isempty(cast) ? prepare(convert(Vector{Int32}, a), d, view, "", "") : prepare(a, d, "", cast, "")
# alias cases: a tape's field by name; an Array over a lent block from element `offset` (0-based)
field(t, name::String) = getfield(t, Symbol(name))
wrap(block::Vector, offset::Int64, d::Vector{Int64}) =
    unsafe_wrap(Array, pointer(block, offset + 1), Tuple(d))
as_array(x) = x isa AbstractArray ? x : [x]
ones_like(out) = out isa AbstractArray ? ones(eltype(out), size(out)) : one(out)
join_results(out, g) = (out, g[1:end-1]...)
flat64(x) = Float64.(vec(as_array(x)))
dims_of(x) = Int64[size(as_array(x))...]
eltype_name(x) = string(eltype(as_array(x)))
# times `calls` calls of f() (nanoseconds per call, best of `reps` rounds)
function time_calls(f, calls::Int, reps::Int)
    f()
    best = typemax(Float64)
    for _ in 1:reps
        t = time_ns()
        for _ in 1:calls
            f()
        end
        best = min(best, (time_ns() - t) / calls)
    end
    return best
end
end
"#;

impl Session {
    /// Starts Julia (the private 1.5.3 under `RANK_RELAX_JULIA_ROOT`) and loads `RankRelax` from
    /// `packages/julia/RankRelax` of the checkout. Call once per process.
    pub fn start() -> Result<Session, String> {
        let root = PathBuf::from(
            std::env::var_os("RANK_RELAX_JULIA_ROOT").ok_or("RANK_RELAX_JULIA_ROOT is not set")?,
        );
        // Debian's multiarch layout defeats Julia::init's default image path.
        let mut julia = unsafe {
            Julia::init_with_image(1 << 16, root.join(BINDIR), root.join(IMAGE))
                .map_err(|e| format!("starting Julia from {}: {e}", root.display()))?
        };
        let package = crate::repo_root().join("packages/julia/RankRelax");
        let package = package
            .canonicalize()
            .map_err(|e| format!("{}: {e}", package.display()))?;
        let code = format!(
            "push!(LOAD_PATH, {:?}); using RankRelax; {HELPERS}; GC.enable(false); \
             RankRelax.library_path()",
            package.display().to_string()
        );
        let library = julia
            .dynamic_frame(|global, frame| match Value::eval_string(frame, &code)? {
                Ok(v) => v.cast::<String>(),
                Err(exc) => fail(format!(
                    "loading RankRelax from {}: {}",
                    package.display(),
                    describe_exception(global, frame, exc)?
                )),
            })
            .map_err(|e| e.to_string())?;
        Ok(Session { julia, library })
    }

    /// A full garbage collection, with the GC on only for it. Call it between cases, outside
    /// any frame that holds a value: the GC is off otherwise (see the type's docs).
    pub fn collect_garbage(&mut self) -> Result<(), String> {
        self.julia
            .dynamic_frame(|global, frame| {
                match helper(global, "collect_garbage")?.call0(frame)? {
                    Ok(_) => Ok(()),
                    Err(_) => fail("GC.gc() failed"),
                }
            })
            .map_err(|e| e.to_string())
    }
}

/// `Type: message` of a Julia exception.
pub fn describe_exception<'f, F: Frame<'f>>(
    global: Global<'_>,
    frame: &mut F,
    exc: Value<'_, '_>,
) -> JlrsResult<String> {
    let (ty, msg) = exception_parts(global, frame, exc)?;
    Ok(format!("{ty}: {msg}"))
}

/// The type name and the message (`msg` of an `ArgumentError`, else `showerror`'s text).
///
/// One Julia call, which roots the exception while it runs: the exception jlrs hands back is not
/// protected by the frame, so it must not live across another call.
pub fn exception_parts<'f, F: Frame<'f>>(
    global: Global<'_>,
    frame: &mut F,
    exc: Value<'_, '_>,
) -> JlrsResult<(String, String)> {
    let text = match helper(global, "type_and_message")?.call1(frame, exc)? {
        Ok(t) => t.cast::<String>()?,
        Err(_) => return fail("cannot describe a Julia exception"),
    };
    match text.split_once('\n') {
        Some((t, m)) => Ok((t.to_string(), m.to_string())),
        None => fail(format!("cannot describe a Julia exception: {text}")),
    }
}

/// A function of `Main.RankRelaxJuliaCheck`.
pub fn helper<'b>(global: Global<'b>, name: &str) -> JlrsResult<Value<'b, 'static>> {
    Module::main(global)
        .submodule("RankRelaxJuliaCheck")?
        .function(name)
}

/// A public function of `RankRelax`.
pub fn api<'b>(global: Global<'b>, name: &str) -> JlrsResult<Value<'b, 'static>> {
    Module::main(global).submodule("RankRelax")?.function(name)
}

/// The elements of a Julia array of `T`, with its dimensions.
pub fn array_data<T: Elem>(v: Value<'_, '_>) -> JlrsResult<(Vec<T>, Vec<usize>)> {
    let a = v.cast::<Array>()?;
    let copied = a.copy_inline_data::<T>()?;
    let dims = copied.dimensions().as_slice().to_vec();
    let (data, _) = copied.splat();
    Ok((data, dims))
}

/// The elements of a Julia `Array{Int32}` (an index output).
pub fn array_data_i32(v: Value<'_, '_>) -> JlrsResult<Vec<i32>> {
    Ok(v.cast::<Array>()?.copy_inline_data::<i32>()?.splat().0)
}

/// The elements of a Julia `Vector{Int64}`.
pub fn array_data_i64(v: Value<'_, '_>) -> JlrsResult<Vec<i64>> {
    Ok(v.cast::<Array>()?.copy_inline_data::<i64>()?.splat().0)
}

/// The address of a Julia array's data (`pointer(a)`).
pub fn address<'f, F: Frame<'f>>(
    global: Global<'_>,
    frame: &mut F,
    v: Value<'_, '_>,
) -> JlrsResult<u64> {
    match helper(global, "addr")?.call1(frame, v)? {
        Ok(a) => a.cast::<u64>(),
        Err(_) => fail("pointer() failed"),
    }
}
