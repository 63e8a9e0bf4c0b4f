# The generated ChainRulesCore extension, loaded (the file itself, unchanged) against the test-only
# stand-in in test/stubs/ChainRulesCore: no registry is reachable here, so this checks the glue (the
# signatures, NoTangent for the function and non-differentiable arguments, the ε tangent of the
# positional form, unthunking, zero cotangents) and that each rrule matches the plain pullback and
# each frule the plain pushforward, not the real ChainRulesCore or Zygote.

pushfirst!(LOAD_PATH, joinpath(@__DIR__, "stubs"))
using ChainRulesCore
const EXT_FILE = joinpath(@__DIR__, "..", "ext", "RankRelaxChainRulesCoreExt.jl")
include(EXT_FILE)
popfirst!(LOAD_PATH)

@testset "rrules (against the test stub of ChainRulesCore)" begin
    @test !isdefined(ChainRulesCore, :rrule_via_ad)  # the stub (the real package has it), so this is the glue only
    @test Base.PkgId(ChainRulesCore).uuid == Base.UUID("d360d2e6-b24c-11e9-a2a3-2a2ae2dbcce4")
    @test parentmodule(RankRelaxChainRulesCoreExt) === Main
    nrules = sum(1 + (isempty(meta.param_grads) ? 0 : 1) + (meta.hvp === nothing ? 0 : 1) for meta in values(OPS))
    @test length(methods(ChainRulesCore.rrule)) == 1 + nrules  # the stub's fallback + the extension's (second order too)

    rng = MersenneTwister(7)
    for (op, meta) in pairs(OPS), shape in ((6,), (6, 3))
        haskey(meta, :raw) && continue  # several outputs: their rules are tested in outputs.jl
        kw = merge(test_params(meta), Dict{Symbol,Any}(:regularization_strength => 0.7))
        for (name, values) in pairs(meta.enums)
            kw[name] = last(values)
        end
        inputs = [name in meta.differentiable ? randn(rng, shape...) : fixed_input(rng, meta, name, shape...)
                  for name in meta.inputs]
        want_out, tape = meta.forward(inputs...; kw...)
        cot = random_cotangent(rng, want_out)
        want = meta.pullback(tape, cot)
        ndiff = length(meta.differentiable)

        # keyword form: tangents for the function and each input
        out, back = rrule(meta.fn, inputs...; kw...)
        @test out == want_out
        t = back(cot)
        @test length(t) == 1 + length(meta.inputs)
        @test t[1] === NoTangent()
        for (i, name) in enumerate(meta.inputs)
            k = findfirst(==(name), meta.differentiable)
            if k === nothing
                @test t[1+i] === NoTangent()
            else
                @test t[1+i] == want[k]
            end
        end
        @test back(Thunk(() -> cot)) == t
        z = back(ZeroTangent())
        @test z[1] === NoTangent() && all(x -> x isa AbstractZero, z)
        @test occursin(string("#", nameof(meta.pullback), "#"), string(nameof(typeof(back))))  # a named pullback

        # positional form: one more tangent per param with a gradient
        isempty(meta.param_grads) && continue
        rest = Dict{Symbol,Any}(k => v for (k, v) in kw if !(k in meta.param_grads))
        grads_params = [kw[p] for p in meta.param_grads]
        out, back = rrule(meta.fn, inputs..., grads_params...; rest...)
        @test out == want_out
        t = back(cot)
        @test length(t) == 1 + length(meta.inputs) + length(meta.param_grads)
        @test t[end] == want[ndiff+1]
        @test t[2:end-1] == back(cot)[2:end-1]
        @test rrule(meta.fn, inputs..., grads_params...; rest...)[2](ZeroTangent())[end] === ZeroTangent()
    end
    # items along dims = 2: the rule passes dims on and its pullback gives the caller's layout
    for (op, meta) in pairs(OPS)
        haskey(meta, :raw) && continue  # several outputs: their rules are tested in outputs.jl
        meta.output_rank >= 2 && continue
        kw = merge(test_params(meta), Dict{Symbol,Any}(:regularization_strength => 0.7))
        inputs = [name in meta.differentiable ? randn(rng, 3, 6) : fixed_input(rng, meta, name, 3, 6) for name in meta.inputs]
        want_out, tape = meta.forward(inputs...; kw..., dims = 2)
        out, back = rrule(meta.fn, inputs...; kw..., dims = 2)
        @test out == want_out
        cot = random_cotangent(rng, out)
        want = meta.pullback(tape, cot)
        t = back(cot)
        k = findfirst(==(first(meta.differentiable)), meta.inputs)
        @test t[1+k] == want[1] && size(t[1+k]) == (3, 6)
    end
    # no rule for something else
    @test rrule(sum, [1.0]) === nothing
end

@testset "frules (against the test stub of ChainRulesCore)" begin
    nrules = sum(1 + (isempty(meta.param_grads) ? 0 : 1) for meta in values(OPS))
    @test length(methods(ChainRulesCore.frule)) == 1 + nrules  # the stub's fallback + the extension's

    rng = MersenneTwister(11)
    for (op, meta) in pairs(OPS), shape in ((6,), (6, 3))
        haskey(meta, :raw) && continue  # several outputs: their rules are tested in outputs.jl
        kw = merge(test_params(meta), Dict{Symbol,Any}(:regularization_strength => 0.7))
        for (name, values) in pairs(meta.enums)
            kw[name] = last(values)
        end
        inputs = [name in meta.differentiable ? randn(rng, shape...) : fixed_input(rng, meta, name, shape...)
                  for name in meta.inputs]
        op == :ndcg_loss && (inputs[2][1, :] .= 3.0)
        want_out, tape = meta.forward(inputs...; kw...)
        # a tangent per argument: the differentiable inputs' are used, the others' ignored
        given = [randn(rng, shape...) for _ in meta.inputs]
        tangents = [given[findfirst(==(name), meta.inputs)] for name in meta.differentiable]
        want = meta.pushforward(tape, tangents...)

        # keyword form
        out, ẏ = frule((NoTangent(), given...), meta.fn, inputs...; kw...)
        @test out == want_out && ẏ == want
        @test frule((NoTangent(), map(t -> Thunk(() -> t), given)...), meta.fn, inputs...; kw...) == (out, ẏ)
        nodiff = [name in meta.differentiable ? t : NoTangent() for (name, t) in zip(meta.inputs, given)]
        @test frule((NoTangent(), nodiff...), meta.fn, inputs...; kw...) == (out, ẏ)
        # every tangent zero: ZeroTangent, without a call to the library
        @test frule((NoTangent(), map(_ -> ZeroTangent(), given)...), meta.fn, inputs...; kw...) == (out, ZeroTangent())
        # a zero tangent beside a given one is zeros
        if length(meta.differentiable) == 2
            first_only = [name == meta.differentiable[1] ? t : ZeroTangent() for (name, t) in zip(meta.inputs, given)]
            @test frule((NoTangent(), first_only...), meta.fn, inputs...; kw...)[2] ==
                  meta.pushforward(tape, tangents[1], zero(tangents[2]))
        end

        # positional form: the tangent of each param with a gradient
        isempty(meta.param_grads) && continue
        rest = Dict{Symbol,Any}(k => v for (k, v) in kw if !(k in meta.param_grads))
        params = [kw[p] for p in meta.param_grads]
        tε = [randn(rng) for _ in meta.param_grads]
        out, ẏ = frule((NoTangent(), given..., tε...), meta.fn, inputs..., params...; rest...)
        @test out == want_out
        @test ẏ == meta.pushforward(tape, tangents...; param_tangents(meta, tε)...)
        zε = map(_ -> ZeroTangent(), tε)
        @test frule((NoTangent(), given..., zε...), meta.fn, inputs..., params...; rest...)[2] == want
        only_ε = frule((NoTangent(), map(_ -> ZeroTangent(), given)..., tε...), meta.fn, inputs..., params...; rest...)[2]
        @test only_ε == meta.pushforward(tape, map(zero, tangents)...; param_tangents(meta, tε)...)
        @test frule((NoTangent(), map(_ -> NoTangent(), given)..., zε...), meta.fn, inputs..., params...; rest...) ==
              (out, ZeroTangent())
    end
    # items along dims = 2: the rule passes dims on and its tangent is in the caller's layout
    for (op, meta) in pairs(OPS)
        haskey(meta, :raw) && continue  # several outputs: their rules are tested in outputs.jl
        meta.output_rank >= 2 && continue
        kw = merge(test_params(meta), Dict{Symbol,Any}(:regularization_strength => 0.7))
        inputs = [name in meta.differentiable ? randn(rng, 3, 6) : fixed_input(rng, meta, name, 3, 6) for name in meta.inputs]
        op == :ndcg_loss && (inputs[2][:, 1] .= 3.0)
        given = [randn(rng, 3, 6) for _ in meta.inputs]
        out, ẏ = frule((NoTangent(), given...), meta.fn, inputs...; kw..., dims = 2)
        want_out, tape = meta.forward(inputs...; kw..., dims = 2)
        tangents = [given[findfirst(==(name), meta.inputs)] for name in meta.differentiable]
        @test out == want_out && ẏ == meta.pushforward(tape, tangents...)
        @test size(ẏ) == size(out)
    end
    @test frule((NoTangent(), [1.0]), sum, [1.0]) === nothing
end

"""
φ(x, ε, c) = ⟨W, the first pullback at (x, ε) for the cotangent c⟩, the function whose gradient the
nested pullback is: `W` are the cotangents of the gradients (arrays, then a number per param).
"""
function pulled(meta, inputs, kw, cot, W; dims = 1)
    grads = meta.pullback(last(meta.forward(inputs...; kw..., dims = dims)), cot)
    return sum(sum(w .* g) for (w, g) in zip(W, grads))
end

"""Central differences of `f` at each element of the array `x` (or the number)."""
function central_each(f, x; h = 1e-6)
    x isa Real && return (f(x + h) - f(x - h)) / 2h
    d = zero(x)
    for i in eachindex(x)
        e = zero(x)
        e[i] = h
        d[i] = (f(x .+ e) - f(x .- e)) / 2h
    end
    return d
end

@testset "second order: the rrules' pullback has an rrule (against the test stub of ChainRulesCore)" begin
    rng = MersenneTwister(13)
    for (op, meta) in pairs(OPS)
        @test isdefined(RankRelaxChainRulesCoreExt, Symbol("_rr_", op, "_grads")) == (meta.hvp !== nothing)
        meta.hvp === nothing && continue
        grads_fn = getfield(RankRelaxChainRulesCoreExt, Symbol("_rr_", op, "_grads"))
        for combo in enum_combinations(meta), (shape, dims) in (((6, 3), 1), ((6,), 1), ((3, 6), 2))
            meta.output_rank >= 2 && dims != 1 && continue
            ε = 0.7
            kw = merge(combo, test_params(meta))
            label = string(op, " ", combo, " ", shape, " dims = ", dims)
            inputs = [name in meta.differentiable ? randn(rng, shape...) : fixed_input(rng, meta, name, shape...)
                      for name in meta.inputs]
            op == :ndcg_loss && (selectdim(inputs[2], dims, 1) .= 3.0)
            out, tape = meta.forward(inputs...; kw..., regularization_strength = ε, dims = dims)
            cot = random_cotangent(rng, out)
            ndiff = length(meta.differentiable)
            W = Any[[randn(rng, shape...) for _ in 1:ndiff]; [randn(rng) for _ in meta.param_grads]]

            # the first-order rrule calls the differentiable function: same gradients
            params = [ε for _ in meta.param_grads]
            grads, back2 = rrule(grads_fn, tape, inputs..., params..., cot)
            @test grads == meta.pullback(tape, cot)
            t = back2(Tuple(W))
            @test length(t) == 2 + length(meta.inputs) + length(meta.param_grads) + 1
            @test t[1] === NoTangent() && t[2] === NoTangent()

            # each against central differences of the first pullback: inputs, ε, the cotangent
            for (i, name) in enumerate(meta.inputs)
                if !(name in meta.differentiable)
                    @test t[2+i] === NoTangent()
                    continue
                end
                fd = central_each(x -> pulled(meta, [j == i ? x : y for (j, y) in enumerate(inputs)],
                    merge(kw, Dict{Symbol,Any}(:regularization_strength => ε)), cot, W; dims = dims), inputs[i])
                @test close_to(t[2+i], fd; atol = 1e-6, rtol = 1e-5, what = string(label, " d/d", name))
            end
            for (k, p) in enumerate(meta.param_grads)
                fd = central_each(e -> pulled(meta, inputs, merge(kw, Dict{Symbol,Any}(p => e)), cot, W; dims = dims), ε)
                @test isapprox(t[2+length(meta.inputs)+k], fd; atol = 1e-6, rtol = 1e-5)
            end
            fd_cot = central_each(c -> pulled(meta, inputs, merge(kw, Dict{Symbol,Any}(:regularization_strength => ε)), c, W;
                dims = dims), cot)
            @test close_to(t[end], fd_cot; atol = 1e-6, rtol = 1e-5, what = string(label, " d/dcotangent"))

            # the keyword form passes no param: no tangent for it, the same for the rest
            tk = rrule(grads_fn, tape, inputs..., map(_ -> nothing, params)..., cot)[2](Tuple(W))
            @test all(tk[2+length(meta.inputs)+k] === NoTangent() for k in 1:length(params))
            @test tk[3:2+length(meta.inputs)] == t[3:2+length(meta.inputs)] && tk[end] == t[end]

            # thunks are unthunked; a zero part is zeros; all zero is zero without a call
            @test back2(Thunk(() -> Tuple(map(w -> Thunk(() -> w), W)))) == t
            Z = Any[[ZeroTangent()]; W[2:end]]
            @test back2(Tuple(Z)) == back2(Tuple(Any[[zero(W[1])]; W[2:end]]))
            z = back2(ZeroTangent())
            @test all(x -> x isa AbstractZero, z)
            @test back2(Tuple(map(_ -> ZeroTangent(), W))) == z
        end
    end
end

@testset "rules with a mask (against the test stub of ChainRulesCore)" begin
    # the mask is a keyword: no tangent slot; the rules pass it on, so the rrule's pullback and the
    # frule's tangent are the masked ones (zero at the absent items), second order included
    rng = MersenneTwister(17)
    for (op, meta) in pairs(OPS), positional in (false, true)
        haskey(meta, :raw) && continue  # several outputs: their rules are tested in outputs.jl
        positional && isempty(meta.param_grads) && continue
        kw = merge(test_params(meta), Dict{Symbol,Any}(:regularization_strength => 0.7))
        mask = fill(true, 6, 3)
        mask[[2, 5], 1] .= false
        mask[:, 2] .= false
        mask[1, 3] = false
        inputs = [name in meta.differentiable ? randn(rng, 6, 3) : fixed_input(rng, meta, name, 6, 3) for name in meta.inputs]
        op == :ndcg_loss && (inputs[2][6, :] .= 3.0)
        inputs = [padded(x, mask) for x in inputs]  # values the op never reads (masks.jl)
        want_out, tape = meta.forward(inputs...; kw..., mask = mask)
        cot = random_cotangent(rng, want_out)
        want = meta.pullback(tape, cot)
        params = positional ? [kw[p] for p in meta.param_grads] : []
        rest = positional ? Dict{Symbol,Any}(k => v for (k, v) in kw if !(k in meta.param_grads)) : kw
        out, back = rrule(meta.fn, inputs..., params...; rest..., mask = mask)
        @test isequal(out, want_out)
        t = back(cot)
        @test length(t) == 1 + length(meta.inputs) + length(params)
        for (k, name) in enumerate(meta.differentiable)
            g = t[1+findfirst(==(name), meta.inputs)]
            @test g == want[k] && all(iszero, g[.!mask])
        end
        positional && @test t[end] == want[end]

        given = [randn(rng, 6, 3) for _ in meta.inputs]
        tangents = [given[findfirst(==(name), meta.inputs)] for name in meta.differentiable]
        tε = [0.4 for _ in params]
        out, ẏ = frule((NoTangent(), given..., tε...), meta.fn, inputs..., params...; rest..., mask = mask)
        @test isequal(out, want_out)
        @test ẏ == meta.pushforward(tape, tangents...; param_tangents(meta, positional ? tε : zeros(length(meta.param_grads)))...)

        # the nested pullback reads the mask from the tape: the masked HVP
        grads_fn = getfield(RankRelaxChainRulesCoreExt, Symbol("_rr_", op, "_grads"))
        ps = positional ? params : map(_ -> nothing, meta.param_grads)
        _, back2 = rrule(grads_fn, tape, inputs..., ps..., cot)
        W = Any[[randn(rng, 6, 3) for _ in meta.differentiable]; [0.0 for _ in meta.param_grads]]
        t2 = back2(Tuple(W))
        hv = meta.pullback_hvp(tape, cot, W[1:length(meta.differentiable)]...)
        for (k, name) in enumerate(meta.differentiable)
            @test t2[2+findfirst(==(name), meta.inputs)] == hv[k]
            @test all(iszero, hv[k][.!mask])
        end
    end
end
