# Benchmark: soft_rank forward + pullback at B = 128 samples × n = 1000 items (a 1000 × 128
# Matrix{Float64}, ε = 1, l2, ascending) through the Julia API, against the same two C functions
# called directly in a loop.
#
#   julia --project=packages/julia/RankRelax packages/julia/RankRelax/bench/soft_rank.jl [rounds]
#
# Timed, per forward + backward, in rounds that interleave every variant so that all see the same
# machine load (this machine is shared); each result is the median over all calls:
#   raw        the two C functions by ccall on buffers allocated once: the core's own cost;
#   api!       soft_rank_forward! + soft_rank_pullback!: the Julia API into the arrays of a tape and
#              a gradient array from an earlier call (a training loop over one shape);
#   api        soft_rank_forward + soft_rank_pullback: allocates the output, residual and gradient
#              arrays (2.5 MB) on every call, as any allocating API does;
#   C          bench/soft_rank_loop.c, a C program on the same data (when a C compiler is found):
#              buffers allocated once, and malloc'ed per call. A fresh process per round (median of
#              its 40 calls after 5 warm-up calls).
# The overhead of the binding is api! against raw (same process, same buffers); on a busy machine
# the kernels' own noise swamps it, so phase 0 also times the binding alone (kernels replaced by
# no-ops) and divides by the kernels' time. api against raw adds the first touch of 2.5 MB of fresh
# memory per call, which the C program pays too when it allocates per call.
using Random
using RankRelax

const B, N = 128, 1000
const ROUNDS = length(ARGS) >= 1 ? parse(Int, ARGS[1]) : 40
const BLOCK = 10
const HERE = @__DIR__
const ROOT = normpath(joinpath(HERE, "..", "..", "..", ".."))

const x = 2 .* rand(MersenneTwister(1), N, B) .- 1
const cot = randn(MersenneTwister(2), N, B)

function api_call(x, cot)
    ranks, tape = soft_rank_forward(x)
    grad, grad_eps = soft_rank_pullback(tape, cot)
    return grad
end

function api_inplace_call(tape, grad, x, cot)
    ranks, tape = soft_rank_forward!(tape, x)
    grad, grad_eps = soft_rank_pullback!(grad, tape, cot)
    return grad
end

const FNS = RankRelax._RR_KERNEL_FNS
function raw_call(x, cot, ranks, perm, grad, grad_eps)
    s = ccall(FNS.rr_soft_rank_forward_f64[], Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Bool}, Ptr{Float64}, Ptr{Int32}),
        B, N, 1.0, Int32(0), Int32(0), x, C_NULL, ranks, perm)
    s == 0 || error("forward failed")
    s = ccall(FNS.rr_soft_rank_backward_f64[], Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Bool}, Ptr{Float64}, Ptr{Int32},
         Ptr{Float64}, Ptr{Float64}, Ptr{Float64}),
        B, N, 1.0, Int32(0), Int32(0), x, C_NULL, ranks, perm, cot, grad, grad_eps)
    s == 0 || error("backward failed")
    return grad
end

const ranks, perm, grad, grad_eps = similar(x), Vector{Int32}(undef, B * N), similar(x), zeros(B)
const tape = soft_rank_forward(x)[2]
const grad2 = similar(x)
# same results, and everything compiled before timing
@assert api_call(x, cot) == raw_call(x, cot, ranks, perm, grad, grad_eps) == api_inplace_call(tape, grad2, x, cot)

median_(v) = (s = sort(v); isodd(length(s)) ? s[(end+1)÷2] : (s[end÷2] + s[end÷2+1]) / 2)

# The C program (bench/soft_rank_loop.c) on the same data, when a C compiler is found: run once
# per round, between the Julia blocks, so that it too sees the same machine load.
cc = something(Sys.which("cc"), Sys.which("gcc"), Sys.which("clang"), Some(nothing))
exe = nothing
if cc !== nothing
    libdir = dirname(RankRelax.library_path())
    dir = mktempdir()
    exe = joinpath(dir, "soft_rank_loop")
    include_dir = joinpath(ROOT, "crates", "rank-relax-ffi", "include")
    source = joinpath(HERE, "soft_rank_loop.c")
    run(`$cc -O2 -std=c99 -Wall -Wextra -Werror -I $include_dir $source -L $libdir -lrank_relax_c -Wl,-rpath,$libdir -o $exe`)
    data = joinpath(dir, "data.bin")
    open(io -> (write(io, x); write(io, cot)), data, "w")   # n × B column-major = [B, n] row-major
end
c_run(mode) = parse(Float64, split(read(`$exe $B $N $(4BLOCK) $mode $data`, String))[6])

minimum_(v) = minimum(v)
# a block: one untimed call (it pays for switching buffers and caches), then BLOCK timed ones
block!(v, f) = (f(); for _ in 1:BLOCK; push!(v, @elapsed f()); end)

# Phase 1, the binding's overhead: raw ccall, the in-place API and the C program, interleaved; no
# call allocates arrays. Phase 2, the cost of allocating: raw ccall, the allocating API and the C
# program that mallocs per call, interleaved.
times = Dict(k => Float64[] for k in (:raw, :inplace, :c, :raw2, :api, :c_alloc))
for r in 1:ROUNDS   # raw ccall on the very arrays the in-place API uses (the tape's and grad2)
    block!(times[:raw], () -> raw_call(x, cot, tape.ranks, tape.permutation, grad2, grad_eps))
    block!(times[:inplace], () -> api_inplace_call(tape, grad2, x, cot))
    exe === nothing || push!(times[:c], c_run("prealloc") / 1e6)   # the program's median, in s
end
GC.gc()
for r in 1:ROUNDS
    block!(times[:raw2], () -> raw_call(x, cot, ranks, perm, grad, grad_eps))
    block!(times[:api], () -> api_call(x, cot))
    exe === nothing || push!(times[:c_alloc], c_run("alloc") / 1e6)
end

# Phase 0, the binding's own time, free of the kernel's (and of its noise): the same API calls with
# the two C functions swapped for ones that return at once (so only the Julia side runs: argument
# conversion, checks, tape, and for the allocating API the allocation, though not the first touch).
noop_fwd(b::Csize_t, n::Csize_t, e::Float64, r::Int32, d::Int32, x::Ptr{Float64}, y::Ptr{Float64}, p::Ptr{Int32}) = Int32(0)
noop_bwd(b::Csize_t, n::Csize_t, e::Float64, r::Int32, d::Int32, x::Ptr{Float64}, y::Ptr{Float64}, p::Ptr{Int32},
         c::Ptr{Float64}, g::Ptr{Float64}, ge::Ptr{Float64}) = Int32(0)
function binding_time(f, calls)
    real_fwd, real_bwd = FNS.rr_soft_rank_forward_f64[], FNS.rr_soft_rank_backward_f64[]
    FNS.rr_soft_rank_forward_f64[] = @cfunction(noop_fwd, Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Float64}, Ptr{Int32}))
    FNS.rr_soft_rank_backward_f64[] = @cfunction(noop_bwd, Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Float64}, Ptr{Int32}, Ptr{Float64},
         Ptr{Float64}, Ptr{Float64}))
    try
        f()
        return minimum(@elapsed(for _ in 1:calls; f(); end) / calls for _ in 1:5)
    finally
        FNS.rr_soft_rank_forward_f64[], FNS.rr_soft_rank_backward_f64[] = real_fwd, real_bwd
    end
end
bind_inplace = binding_time(() -> api_inplace_call(tape, grad2, x, cot), 10_000)
bind_api = binding_time(() -> api_call(x, cot), 200)
bind_raw = binding_time(() -> raw_call(x, cot, ranks, perm, grad, grad_eps), 10_000)

us(x) = lpad(round(x * 1e6; digits = 1), 9)
pct(r) = string(r >= 1 ? "+" : "", round(100 * (r - 1); digits = 2), " %")
row(label, k) = println("  ", rpad(label, 48), us(median_(times[k])), us(minimum_(times[k])))
ratio(a, b) = string(pct(median_(times[a]) / median_(times[b])), " (median), ", pct(minimum_(times[a]) / minimum_(times[b])), " (min)")

println("soft_rank forward + pullback, Float64, $B samples × $N items (a $N × $B Matrix), ",
    "RANK_RELAX_NUM_THREADS=", get(ENV, "RANK_RELAX_NUM_THREADS", "(default)"), ", Julia ", VERSION, ", ",
    ROUNDS, " rounds × ", BLOCK, " calls")
println("  ", rpad("µs per forward + backward", 48), "   median      min")
println(" phase 1: no array allocated per call")
row("raw ccall, buffers allocated once (the core)", :raw)
row("Julia API in place (forward! + pullback!)", :inplace)
exe === nothing || row("C program, buffers allocated once", :c)
println(" phase 2: arrays allocated per call")
row("raw ccall, buffers allocated once (the core)", :raw2)
row("Julia API allocating (forward + pullback)", :api)
exe === nothing || row("C program, buffers malloc'ed on every call", :c_alloc)
println(" phase 0: the binding's own time (kernels replaced by no-ops), best of 5")
println("  ", rpad("raw ccall", 48), lpad(round(bind_raw * 1e6; digits = 3), 9))
println("  ", rpad("Julia API in place", 48), lpad(round(bind_inplace * 1e6; digits = 3), 9))
println("  ", rpad("Julia API allocating (allocation, no first touch)", 48), lpad(round(bind_api * 1e6; digits = 3), 9))
println(" overhead of the Julia API")
println("  binding time in place / raw ccall kernel time: ",
    round(100 * (bind_inplace - bind_raw) / median_(times[:raw]); digits = 3), " % (median), ",
    round(100 * (bind_inplace - bind_raw) / minimum_(times[:raw]); digits = 3), " % (min)")
println("  in place vs raw ccall:         ", ratio(:inplace, :raw))
exe === nothing || println("  in place vs the C program:     ", ratio(:inplace, :c))
println("  allocating vs raw ccall:       ", ratio(:api, :raw2))
exe === nothing || println("  allocating vs C that allocates: ", ratio(:api, :c_alloc))
