# The generated ChainRulesCore extension, loaded (the file itself, unchanged) against the test-only
# stand-in in test/stubs/ChainRulesCore: no registry is reachable here, so this checks the glue (the
# signatures, NoTangent for the function and non-differentiable arguments, the ε tangent of the
# positional form, unthunking, zero cotangents) and that each rrule matches the plain pullback, not
# the real ChainRulesCore or Zygote.

pushfirst!(LOAD_PATH, joinpath(@__DIR__, "stubs"))
using ChainRulesCore
const EXT_FILE = joinpath(@__DIR__, "..", "ext", "RankRelaxChainRulesCoreExt.jl")
include(EXT_FILE)
popfirst!(LOAD_PATH)

@testset "rrules (against the test stub of ChainRulesCore)" begin
    @test !isdefined(ChainRulesCore, :frule)  # the stub (the real package has frule), so this is the glue only
    @test Base.PkgId(ChainRulesCore).uuid == Base.UUID("d360d2e6-b24c-11e9-a2a3-2a2ae2dbcce4")
    @test parentmodule(RankRelaxChainRulesCoreExt) === Main
    nrules = sum(1 + (isempty(meta.param_grads) ? 0 : 1) for meta in values(OPS))
    @test length(methods(ChainRulesCore.rrule)) == 1 + nrules  # the stub's fallback + the extension's

    rng = MersenneTwister(7)
    for (op, meta) in pairs(OPS), shape in ((6,), (6, 3))
        kw = merge(test_params(meta), Dict{Symbol,Any}(:regularization_strength => 0.7))
        for (name, values) in pairs(meta.enums)
            kw[name] = last(values)
        end
        inputs = [name in meta.differentiable ? randn(rng, shape...) : Float64.(rand(rng, 0:3, shape...))
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
        meta.output_rank >= 2 && continue
        kw = merge(test_params(meta), Dict{Symbol,Any}(:regularization_strength => 0.7))
        inputs = [name in meta.differentiable ? randn(rng, 3, 6) : Float64.(rand(rng, 0:3, 3, 6)) for name in meta.inputs]
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
