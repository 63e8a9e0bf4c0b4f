# Central finite differences of every pullback, every op, every enum combination, Float64:
# for L(x) = ⟨cotangent, f(x)⟩, ∂L/∂x_k ≈ (L(x + h e_k) − L(x − h e_k)) / 2h for every element of
# every differentiable input, and the same for ε against the summed ε-gradient. Random inputs
# (no ties), n = 5 items, B = 3 samples; int and list params from TEST_PARAMS.

"""Every combination of the op's enum values, as keyword Dicts."""
function enum_combinations(meta)
    combos = [Dict{Symbol,Any}()]
    for (name, values) in pairs(meta.enums)
        combos = [merge(c, Dict{Symbol,Any}(name => v)) for c in combos for v in values]
    end
    return combos
end

"""Random inputs for an op: normal scores; graded relevance 0–3 (group ids for int32 inputs) for non-differentiable inputs."""
function random_inputs(rng, meta, n, B)
    return [name in meta.differentiable ? 2 .* randn(rng, n, B) : fixed_input(rng, meta, name, n, B)
            for name in meta.inputs]
end

dotc(c, y) = sum(c .* y)

@testset "finite differences" begin
    rng = MersenneTwister(20240607)
    h = 1e-6
    for (op, meta) in pairs(OPS)
        for combo in enum_combinations(meta), ε in (0.3, 1.0)
            kw = merge(combo, test_params(meta), Dict{Symbol,Any}(:regularization_strength => ε))
            n, B = 5, 3
            inputs = random_inputs(rng, meta, n, B)
            if op == :ndcg_loss
                inputs[2][1, :] .= 3.0  # every sample has some relevance (IDCG > 0)
            end
            out, tape = meta.forward(inputs...; kw...)
            cot = random_cotangent(rng, out)
            grads = meta.pullback(tape, cot)
            @test length(grads) == length(meta.differentiable) + length(meta.param_grads)
            L(xs, kws) = dotc(cot, meta.fn(xs...; kws...))
            for (k, name) in enumerate(meta.differentiable)
                i = findfirst(==(name), meta.inputs)
                fd = similar(inputs[i])
                for j in eachindex(inputs[i])
                    plus = deepcopy(inputs); plus[i][j] += h
                    minus = deepcopy(inputs); minus[i][j] -= h
                    fd[j] = (L(plus, kw) - L(minus, kw)) / 2h
                end
                @test close_to(grads[k], fd; atol = 1e-6, rtol = 1e-5, what = string(op, " ", kw, " d/d", name))
            end
            for (k, name) in enumerate(meta.param_grads)
                g = grads[length(meta.differentiable) + k]
                up = merge(kw, Dict{Symbol,Any}(name => kw[name] + h))
                down = merge(kw, Dict{Symbol,Any}(name => kw[name] - h))
                fd = (L(inputs, up) - L(inputs, down)) / 2h
                @test close_to([g], [fd]; atol = 1e-6, rtol = 1e-5, what = string(op, " ", kw, " d/d", name))
                # the positional form computes the same thing
                @test meta.fn(inputs..., kw[name]; merge(combo, test_params(meta))...) == out
            end
        end
    end
end
