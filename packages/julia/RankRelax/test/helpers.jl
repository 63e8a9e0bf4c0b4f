# Shared by the test files: the reference file, conversions between its [B][n] rows and Julia's
# n × B matrices, calling any op through the `_RR_OPS` table, and tolerant comparisons.

const OPS = RankRelax._RR_OPS
const REPO_ROOT = normpath(joinpath(@__DIR__, "..", "..", "..", ".."))
const REFERENCE_PATH = let p = get(ENV, "RANK_RELAX_REFERENCE", "")
    isempty(p) ? normpath(joinpath(REPO_ROOT, "testdata", "reference", "ops-v1.json")) : p
end

"""rows [B][n] → n × B Matrix{Float64} (column j = row j); [B] → Vector."""
function to_julia(rows::Vector)
    isempty(rows) && return zeros(0)
    rows[1] isa Vector || return Float64.(rows)
    n = length(rows[1])
    m = Matrix{Float64}(undef, n, length(rows))
    for (j, r) in enumerate(rows)
        m[:, j] = Float64.(r)
    end
    return m
end

"""The case's params as keyword arguments (enum values as Symbols)."""
function kwargs_of(params::Dict)
    kw = Dict{Symbol,Any}()
    for (k, v) in params
        kw[Symbol(k)] = v isa AbstractString ? Symbol(v) : v
    end
    return kw
end

"""Every input of a case, in the op's argument order, converted with `f`."""
inputs_of(op::Symbol, case::Dict, f = identity) = [f(to_julia(case["inputs"][String(x)])) for x in OPS[op].inputs]

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

"""
Float32 agreement: per sample, |got - want| ≤ tol · (largest |want| of that sample, at least `floor`).
`per_row`: each element is its own sample (a loss); else each column is one.
"""
function close_per_sample(got, want; tol, per_row::Bool, floor = 0.0, what = "")
    size(got) == size(want) || (println("  ", what, ": size ", size(got), " ≠ ", size(want)); return false)
    as_columns(x) = per_row ? reshape(Float64.(collect(x)), 1, :) : reshape(Float64.(collect(x)), size(x, 1), :)
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
