# Shared by the test files: the reference files, conversions between their row-major nested lists
# ([B][n], [B][m], [B][n][n]) and Julia's arrays with the dims reversed (n × B, m × B, n × n × B),
# calling any op through the `_RR_OPS` table, and tolerant comparisons.

# An op with several outputs as the table-driven tests see it: `fn`, `forward` and `forward_into`
# give the output with a cotangent alone, so that every test of one output covers it (the NamedTuple
# itself, the item positions and the rules are tested in outputs.jl, from `raw`, the table's entry).
function primary_view(meta)
    length(meta.outputs) == 1 && return meta
    pick(out) = getproperty(out, first(meta.cotangents))
    return merge(meta, (
        fn = (xs...; kw...) -> pick(meta.fn(xs...; kw...)),
        forward = (xs...; kw...) -> ((out, tape) = meta.forward(xs...; kw...); (pick(out), tape)),
        forward_into = (tape, xs...; kw...) -> ((out, t) = meta.forward_into(tape, xs...; kw...); (pick(out), t)),
        output = first(meta.cotangents),
        raw = meta,
    ))
end
const OPS = map(primary_view, RankRelax._RR_OPS)
const REPO_ROOT = normpath(joinpath(@__DIR__, "..", "..", "..", ".."))
const REFERENCE_PATH = let p = get(ENV, "RANK_RELAX_REFERENCE", "")
    isempty(p) ? normpath(joinpath(REPO_ROOT, "testdata", "reference", "ops-v1.json")) : p
end
# The reference files: RANK_RELAX_REFERENCE (the first ops), the later ops' files and the masked
# cases beside it.
const REFERENCE_PATHS = [REFERENCE_PATH;
    [joinpath(dirname(REFERENCE_PATH), f) for f in ("wave2-topk-quantile.json", "wave2-neural-sort.json", "masks.json")]]

"""
Nested lists, row-major [d1][d2]…[dk] → a Float64 Array of size (dk, …, d2, d1), the same memory
order: [B][n] rows become the columns of an n × B Matrix, [B][n][n] an n × n × B array whose
[j, i, b] is the list's [b][i][j]; [B] → Vector.
"""
to_julia(rows::Vector) = isempty(rows) ? zeros(0) : nested_array(Float64, Float64, rows)

"""
Nested lists, row-major [d1][d2]…[dk] → an `Array{E}` of size (dk, …, d2, d1), the same memory
order, each element through `conv`.
"""
function nested_array(::Type{E}, conv, rows::Vector) where {E}
    dims = Int[]
    x = rows
    while x isa Vector
        push!(dims, length(x))
        x = isempty(x) ? nothing : x[1]
    end
    flat = E[]
    flatten!(v) = v isa Vector ? foreach(flatten!, v) : push!(flat, conv(v))
    flatten!(rows)
    return reshape(flat, reverse(dims)...)
end

"""
Nested lists of JSON integers, row-major [B][n] (or [n]) → an Int32 Array of size (n, B): an int32
input (group ids) kept as integers, never through a float. A value outside Int32 is an error of the
file.
"""
to_julia_ints(rows::Vector) = isempty(rows) ? zeros(Int32, 0) : nested_array(Int32, v -> Int32(v::Integer), rows)

"""The case's params as keyword arguments (enum values as Symbols, lists as Vector{Float64})."""
function kwargs_of(params::Dict)
    kw = Dict{Symbol,Any}()
    for (k, v) in params
        kw[Symbol(k)] = v isa AbstractString ? Symbol(v) : v isa Vector ? Float64.(v) : v
    end
    return kw
end

"""The values of int and list params in tests that pick their own (the other params keep their defaults)."""
const TEST_PARAMS = Dict{Symbol,Any}(:k => 2, :quantiles => [0.1, 0.5, 0.75])

"""The TEST_PARAMS of `meta`'s params."""
test_params(meta) = Dict{Symbol,Any}(p => v for (p, v) in TEST_PARAMS if p in meta.params)

"""A random cotangent of an output: a number for a per-row output of a Vector input, else an array of its size."""
random_cotangent(rng, out::Real) = randn(rng, typeof(out))
random_cotangent(rng, out::AbstractArray) = randn(rng, eltype(out), size(out)...)

"""Sample `j` of an output: its last dim (a number for a per-row output)."""
sample(out, j, per_row::Bool) = per_row ? out[j] : collect(selectdim(out, ndims(out), j))

"""
Every input of a case, in the op's argument order: the real ones converted with `f`, the int32 ones
(`meta.int_inputs`, group ids) as Int32 arrays of the file's integers.
"""
inputs_of(op::Symbol, case::Dict, f = identity) =
    [x in OPS[op].int_inputs ? to_julia_ints(case["inputs"][String(x)]) : f(to_julia(case["inputs"][String(x)]))
     for x in OPS[op].inputs]

"""`inputs` (in `meta`'s argument order) with the real ones converted by `f`; the int32 ones (group ids) as they are."""
with_reals(f, meta, inputs) = [name in meta.int_inputs ? x : f(x) for (name, x) in zip(meta.inputs, inputs)]

"""The group ids of the tests' random int32 inputs: two groups per sample on average, of any Int32 values."""
const GROUP_IDS = Int32[-7, 3]

"""
A random non-differentiable input `name` of `meta`'s op, of size `sz`: group ids (Int32) for an int32
input, else graded relevance 0–3 in `T`.
"""
fixed_input(rng, meta, name::Symbol, sz...; T::Type = Float64) =
    name in meta.int_inputs ? rand(rng, GROUP_IDS, sz...) : T.(rand(rng, 0:3, sz...))

"""
The optional inputs a case gives, as keywords: a mask's [B][n] JSON booleans as an n × B
`Array{Bool}` (the other optional inputs as reals).
"""
function optional_of(op::Symbol, case::Dict)
    kw = Dict{Symbol,Any}()
    for x in OPS[op].optional
        haskey(case["inputs"], String(x)) || continue
        a = to_julia(case["inputs"][String(x)])
        kw[x] = x === :mask ? convert(Array{Bool}, a .!= 0) : a
    end
    return kw
end

"""forward + pullback through the public functions: (output, gradients of the differentiable inputs…, param gradients…)."""
function run_op(op::Symbol, inputs, kw, cotangent)
    out, tape = OPS[op].forward(inputs...; kw...)
    grads = cotangent === nothing ? () : OPS[op].pullback(tape, cotangent)
    return out, grads
end

"""|got - want| ≤ atol + rtol·|want| elementwise; on failure prints the worst element."""
function close_to(got, want; atol, rtol, what = "")
    size(got) == size(want) || (println("  ", what, ": size ", size(got), " ≠ ", size(want)); return false)
    ok = true
    worst, at = 0.0, 0
    for i in eachindex(got, want)
        err = abs(Float64(got[i]) - Float64(want[i]))
        bound = atol + rtol * abs(Float64(want[i]))
        if !(err <= bound)
            ok = false
            if err - bound > worst
                worst, at = err - bound, i
            end
        end
    end
    ok || println("  ", what, ": worst element ", at, ": got ", got[at], ", want ", want[at])
    return ok
end

# A loss of one sample has a number for its cotangent (and its derivative).
function close_to(got::Real, want::Real; atol, rtol, what = "")
    ok = abs(Float64(got) - Float64(want)) <= atol + rtol * abs(Float64(want))
    ok || println("  ", what, ": got ", got, ", want ", want)
    return ok
end

"""
Float32 agreement: per sample, |got - want| ≤ tol · (largest |want| of that sample, at least `floor`).
`per_row`: each element is its own sample (a loss); else each column is one.
"""
function close_per_sample(got, want; tol, per_row::Bool, floor = 0.0, what = "")
    size(got) == size(want) || (println("  ", what, ": size ", size(got), " ≠ ", size(want)); return false)
    as_columns(x) = per_row ? reshape(Float64.(collect(x)), 1, :) : reshape(Float64.(collect(x)), :, ndims(x) == 1 ? 1 : size(x, ndims(x)))
    g, w = as_columns(got), as_columns(want)
    ok = true
    for j in 1:size(w, 2)
        scale = max(maximum(abs.(w[:, j])), floor)
        err = maximum(abs.(g[:, j] .- w[:, j]))
        if !(err <= tol * scale)
            ok = false
            println("  ", what, ": sample ", j, ": error ", err, " > ", tol, " × ", scale)
        end
    end
    return ok
end

"""`cmd` with `pair` added to its environment (Base.addenv is Julia ≥ 1.6)."""
function addenv_(cmd::Cmd, pair::Pair{String,String})
    env = copy(ENV)
    env[first(pair)] = last(pair)
    return setenv(cmd, env)
end
