# Ops with several outputs (soft_sort_topk): the NamedTuple they return, int32 item positions
# (1-based, 0 for none), [B, k] extents from the value of k (k = 0 and k = n, errors before any
# allocation), masks, items along `dims`, the rules against the ChainRulesCore test stub (the
# cotangent of a NamedTuple whose int field is ignored; a Tangent from the frule), and the replay of
# the soft_sort_topk reference file (RANK_RELAX_REFERENCE_SORT_TOPK). Everything of the output with
# a cotangent alone (finite differences, JVP, HVP, masks, bad input) runs in the table-driven files.

const MULTI = [(op, meta.raw) for (op, meta) in pairs(OPS) if haskey(meta, :raw)]

"""The hard top-k positions of a vector, ties by position, 1-based."""
hard_topk(x, k, descending) = sortperm(x; rev = descending, alg = MergeSort)[1:k]
# sortperm with rev keeps equal items in order (a stable sort), as the core's ties by position.

@testset "several outputs: a NamedTuple, 1-based item positions, [B, k] extents" begin
    @test !isempty(MULTI)
    rng = MersenneTwister(31)
    for (op, meta) in MULTI
        @test length(meta.outputs) > 1 && !isempty(meta.indexes)
        x = randn(rng, 5, 3)
        for k in (0, 1, 3, 5), T in (Float64, Float32)
            out = meta.fn(T.(x); k = k, regularization_strength = 1e-3)
            @test out isa NamedTuple && keys(out) == meta.outputs
            for name in meta.outputs
                @test size(getproperty(out, name)) == (k, 3)
                @test eltype(getproperty(out, name)) == (name in meta.indexes ? Int32 : T)
            end
        end
        @test meta.fn([1.0, 2.0]; k = 0).indices == Int32[]
    end

    # soft_sort_topk: the indices are the hard top-k, the values those items as ε → 0
    x = [0.3 2.0; -1.0 5.0; 2.5 2.0; 0.7 -3.0]
    for direction in (:descending, :ascending), k in 0:4
        r = soft_sort_topk(x; k = k, direction = direction, regularization_strength = 1e-4)
        for j in 1:2
            want = hard_topk(x[:, j], k, direction == :descending)
            @test r.indices[:, j] == want
            @test isapprox(r.top_values[:, j], x[want, j]; atol = 1e-3)
        end
        v = soft_sort_topk(x[:, 2]; k = k, direction = direction, regularization_strength = 1e-4)
        @test v.indices == r.indices[:, 2] && v.top_values == r.top_values[:, 2]
    end
    # a masked row with fewer present items than k: them all, then 0 and 0 ("none")
    mask = Bool[1 1; 0 1; 1 1; 0 1]
    r = soft_sort_topk(x; k = 3, mask = mask, regularization_strength = 1e-4)
    @test r.indices[:, 1] == Int32[3, 1, 0] && r.top_values[3, 1] == 0
    @test r.indices[:, 2] == hard_topk(x[:, 2], 3, true)
    # the soft values: the first k of soft_sort, in either layout
    s = soft_sort(x; regularization_strength = 0.5, direction = :descending)
    @test soft_sort_topk(x; k = 2, regularization_strength = 0.5).top_values ≈ s[1:2, :]
end

@testset "several outputs: items along dims, forward!, errors" begin
    rng = MersenneTwister(32)
    for (op, meta) in MULTI
        x = randn(rng, 6, 4)
        want = meta.fn(x; k = 2)
        got = meta.fn(permutedims(x); k = 2, dims = 2)
        @test keys(got) == keys(want)
        for name in meta.outputs
            @test getproperty(got, name) == permutedims(getproperty(want, name))
        end
        cube = reshape(x, 6, 2, 2)
        got3, tape3 = meta.forward(cube; k = 2)
        @test tape3.output_size == map(size, got3) == (top_values = (2, 2, 2), indices = (2, 2, 2))
        for name in meta.outputs
            @test getproperty(got3, name) == reshape(getproperty(want, name), 2, 2, 2)
        end
        c = randn(rng, 2, 2, 2)
        @test first(meta.pullback(tape3, c)) ≈ reshape(first(meta.pullback(last(meta.forward(x; k = 2)), reshape(c, 2, 4))), 6, 2, 2)
        @test_throws ArgumentError meta.pullback(tape3, randn(rng, 2, 4))

        # forward! into the arrays of a tape: the same results, k must stay the tape's
        out, tape = meta.forward(x; k = 2)
        y = randn(rng, 6, 4)
        out2, _ = meta.forward_into(tape, y; k = 2)
        @test out2 == meta.fn(y; k = 2)
        @test out2.indices === tape.indices
        err = try meta.forward_into(tape, y; k = 3); nothing catch e; e end
        @test err isa ArgumentError && occursin("k = 3 but the tape is for k = 2", err.msg)

        # k out of range or not an integer: named errors before any allocation
        for (bad, msg) in ((7, "k must be in [0, n] = [0, 6], got 7"), (-1, "k must be in [0, n] = [0, 6], got -1"),
                           (2.0, "k must be an integer"), (true, "k must be an integer"), (typemax(Int), "got $(typemax(Int))"))
            err = try meta.fn(x; k = bad); nothing catch e; e end
            @test err isa ArgumentError && startswith(err.msg, string(op, ": ")) && occursin(msg, err.msg)
        end
    end
end

pushfirst!(LOAD_PATH, joinpath(@__DIR__, "stubs"))
using ChainRulesCore
popfirst!(LOAD_PATH)
isdefined(Main, :RankRelaxChainRulesCoreExt) || include(joinpath(@__DIR__, "..", "ext", "RankRelaxChainRulesCoreExt.jl"))

@testset "several outputs: rrule and frule (against the test stub of ChainRulesCore)" begin
    rng = MersenneTwister(33)
    for (op, meta) in MULTI, shape in ((6,), (6, 3)), positional in (false, true)
        name = first(meta.cotangents)
        ints = [o for o in meta.outputs if !(o in meta.cotangents)]
        kw = Dict{Symbol,Any}(:k => 3, :regularization_strength => 0.7)
        x = randn(rng, shape...)
        want_out, tape = meta.forward(x; kw...)
        c = randn(rng, size(getproperty(want_out, name))...)
        want = meta.pullback(tape, c)
        params = positional ? [kw[p] for p in meta.param_grads] : []
        rest = positional ? Dict{Symbol,Any}(k => v for (k, v) in kw if !(k in meta.param_grads)) : kw

        out, back = rrule(meta.fn, x, params...; rest...)
        @test out == want_out
        t = back(Tangent{typeof(out)}(; NamedTuple{(name, ints...)}((c, map(_ -> NoTangent(), ints)...))...))
        @test length(t) == 2 + length(params) && t[1] === NoTangent() && t[2] == want[1]
        positional && @test t[3] == want[2]
        # a NamedTuple cotangent (nothing or a zero for the int field), a Tangent without it, a thunk
        @test back(NamedTuple{(name, ints...)}((c, map(_ -> nothing, ints)...))) == t
        @test back(NamedTuple{(name, ints...)}((c, map(_ -> ZeroTangent(), ints)...))) == t
        @test back(Tangent{typeof(out)}(; NamedTuple{(name,)}((Thunk(() -> c),))...)) == t
        @test back(Thunk(() -> Tangent{typeof(out)}(; NamedTuple{(name,)}((c,))...))) == t
        z = back(ZeroTangent())
        @test z[1] === NoTangent() && all(x -> x isa AbstractZero, z)
        @test all(x -> x isa AbstractZero, back(Tangent{typeof(out)}(; NamedTuple{(name,)}((ZeroTangent(),))...)))

        ẋ = randn(rng, shape...)
        tε = positional ? [0.3] : []
        out, ẏ = frule((NoTangent(), ẋ, tε...), meta.fn, x, params...; rest...)
        @test out == want_out
        @test ẏ isa Tangent
        @test getproperty(ẏ, name) == meta.pushforward(tape, ẋ; tangent_regularization_strength = positional ? 0.3 : 0.0)
        @test all(o -> getproperty(ẏ, o) === NoTangent(), ints)
        out, ẏ = frule((NoTangent(), ZeroTangent(), map(_ -> ZeroTangent(), tε)...), meta.fn, x, params...; rest...)
        @test ẏ === ZeroTangent()
    end
end

# The reference vectors of soft_sort_topk ("outputs" and "cotangents" by output name).
const SORT_TOPK_REFERENCE = let p = get(ENV, "RANK_RELAX_REFERENCE_SORT_TOPK", "")
    isempty(p) ? joinpath(REPO_ROOT, "testdata", "reference", "soft-sort-topk.json") : p
end

@testset "reference vectors ($(basename(SORT_TOPK_REFERENCE)))" begin
    @test isfile(SORT_TOPK_REFERENCE)
    if isfile(SORT_TOPK_REFERENCE)
        reference = parse_json(read(SORT_TOPK_REFERENCE, String))
        @test reference["format"] == "rank-relax reference vectors v1"
        @test length(reference["cases"]) > 0
        for (i, case) in enumerate(reference["cases"])
            op = Symbol(case["op"])
            meta = OPS[op].raw
            kw = merge(kwargs_of(case["params"]), optional_of(op, case))
            label = string(basename(SORT_TOPK_REFERENCE), " case ", i, " ", op, " ", case["params"])
            inputs = inputs_of(op, case)
            # [B][k] with k = 0 parses as B empty rows: k × B
            rows(v, T) = isempty(v) || isempty(first(v)) ? zeros(T, 0, length(v)) : T.(to_julia(v))
            for T in (Float64, Float32)
                xs = [T.(x) for x in inputs]
                kwT = convert_floats(kw, T)
                out, tape = meta.forward(xs...; kwT...)
                out64, tape64 = meta.forward([Float64.(x) for x in xs]...; convert_floats(kwT, Float64)...)
                for o in meta.outputs
                    want = rows(case["outputs"][String(o)], o in meta.indexes ? Int : Float64)
                    got = getproperty(out, o)
                    if o in meta.indexes
                        @test got == want .+ 1  # 1-based, −1 → 0
                    elseif T === Float64
                        @test close_to(got, want; atol = 1e-9, rtol = 1e-9, what = string(label, " ", o))
                    else
                        @test eltype(got) == Float32
                        @test size(got) == size(getproperty(out64, o))
                        # k = 0: nothing to compare beyond the empty shape.
                        isempty(got) || @test close_per_sample(got, getproperty(out64, o); tol = 1e-4, per_row = false, what = string(label, " Float32 ", o))
                    end
                end
                haskey(case, "cotangents") || continue
                c = rows(case["cotangents"][String(first(meta.cotangents))], T)
                grads = meta.pullback(tape, c)
                if T === Float64
                    if haskey(case, "vjp")
                        @test close_to(grads[1], to_julia(case["vjp"]["values"]); atol = 1e-7, rtol = 1e-9, what = string(label, " vjp"))
                    end
                    if haskey(case, "grad_regularization_strength")
                        per_row = to_julia(case["grad_regularization_strength"])
                        @test close_to([grads[2]], [sum(per_row)]; atol = 1e-7 * length(per_row), rtol = 1e-9,
                            what = string(label, " grad_regularization_strength"))
                    end
                elseif haskey(case, "vjp")
                    want = meta.pullback(tape64, Float64.(c))
                    @test close_per_sample(grads[1], want[1]; tol = 1e-4, per_row = false, floor = 1e-4, what = string(label, " Float32 vjp"))
                end
            end
        end
    end
end
