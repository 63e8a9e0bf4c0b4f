# Benchmark: soft_rank forward + pullback at B = 128 samples × n = 1000 items (a 1000 × 128
# Matrix{Float64}) through the Julia API (soft_rank_forward + soft_rank_pullback: allocating the
# outputs, the tape, the gradient) against the same two C functions called directly in a loop on
# preallocated buffers:
#   - "raw ccall": from this Julia process, interleaved with the API in alternating blocks so both
#     see the same machine load (the comparison the overhead ratio uses);
#   - "C program": bench/soft_rank_loop.c, compiled and run when a C compiler is present.
# Reports the median time per forward+backward and the overhead ratio.
#
#   julia --project=packages/julia/RankRelax packages/julia/RankRelax/bench/soft_rank.jl [rounds]
using Random
using RankRelax

const B, N = 128, 1000
const ROUNDS = length(ARGS) >= 1 ? parse(Int, ARGS[1]) : 30
const BLOCK = 10                       # calls per block

x = 2 .* rand(MersenneTwister(1), N, B) .- 1
cot = randn(MersenneTwister(2), N, B)

function api_call(x, cot)
    ranks, tape = soft_rank_forward(x)
    grad, grad_eps = soft_rank_pullback(tape, cot)
    return grad
end

# the same C functions on buffers allocated once
const fns = RankRelax._RR_KERNEL_FNS
ranks = similar(x); perm = Vector{Int32}(undef, B * N); grad = similar(x); grad_eps = zeros(B)
function raw_call(x, cot, ranks, perm, grad, grad_eps)
    s = ccall(fns.rr_soft_rank_forward_f64[], Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Float64}, Ptr{Int32}),
        B, N, 1.0, Int32(0), Int32(0), x, ranks, perm)
    s == 0 || error("forward failed")
    s = ccall(fns.rr_soft_rank_backward_f64[], Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Float64}, Ptr{Int32}, Ptr{Float64},
         Ptr{Float64}, Ptr{Float64}),
        B, N, 1.0, Int32(0), Int32(0), x, ranks, perm, cot, grad, grad_eps)
    s == 0 || error("backward failed")
    return grad
end

@assert api_call(x, cot) == raw_call(x, cot, ranks, perm, grad, grad_eps)   # same result (and warm-up)

median_(v) = (s = sort(v); isodd(length(s)) ? s[(end+1)÷2] : (s[end÷2] + s[end÷2+1]) / 2)

api_t, raw_t = Float64[], Float64[]
for r in 1:ROUNDS
    for _ in 1:BLOCK
        push!(api_t, @elapsed api_call(x, cot))
    end
    for _ in 1:BLOCK
        push!(raw_t, @elapsed raw_call(x, cot, ranks, perm, grad, grad_eps))
    end
end
api, raw = median_(api_t) * 1e6, median_(raw_t) * 1e6

println("soft_rank forward + pullback, Float64, $B samples × $N items, threads: ",
    get(ENV, "RANK_RELAX_NUM_THREADS", "default"), ", $(ROUNDS * BLOCK) calls each")
println("  Julia API (soft_rank_forward + soft_rank_pullback): median ", round(api; digits = 1), " µs")
println("  raw ccall loop, preallocated buffers:               median ", round(raw; digits = 1), " µs")
println("  overhead ratio (API / raw ccall):                   ", round(api / raw; digits = 4),
    "  (", round(100 * (api / raw - 1); digits = 2), " %)")

# The same loop as a C program, when a compiler is around.
root = normpath(joinpath(@__DIR__, "..", "..", "..", ".."))
cc = something(Sys.which("cc"), Sys.which("gcc"), Sys.which("clang"), Some(nothing))
if cc !== nothing
    libdir = dirname(RankRelax.library_path())
    exe = joinpath(mktempdir(), "soft_rank_loop")
    run(`$cc -O2 -std=c99 -I $(joinpath(root, "crates", "rank-relax-ffi", "include")) $(joinpath(@__DIR__, "soft_rank_loop.c"))
         -L $libdir -lrank_relax_c -Wl,-rpath,$libdir -o $exe`)
    fields = split(read(`$exe $B $N $(ROUNDS * BLOCK)`, String))
    c = parse(Float64, fields[5])
    println("  C program loop (bench/soft_rank_loop.c):            median ", round(c; digits = 1), " µs")
    println("  overhead ratio (API / C program):                   ", round(api / c; digits = 4),
        "  (", round(100 * (api / c - 1); digits = 2), " %)")
end
