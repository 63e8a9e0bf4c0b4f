# The ChainRulesCore extension against the real ChainRulesCore + ChainRulesTestUtils (finite
# differences of every rrule and frule, tangent types, thunks): for CI on Julia ≥ 1.9, where package extensions
# load. Not part of runtests.jl (no registry here, and Julia 1.5 has no extensions). Run it in an
# environment that has RankRelax dev'ed from the checkout plus ChainRulesCore, ChainRulesTestUtils
# and Test, e.g. (.github/workflows/ci.yml):
#   julia -e 'using Pkg; Pkg.activate(temp = true); Pkg.develop(path = "packages/julia/RankRelax");
#             Pkg.add(["ChainRulesCore", "ChainRulesTestUtils", "Test"]);
#             include("packages/julia/RankRelax/test/chainrules_real.jl")'
# On Julia < 1.9 it prints a skip message and does nothing.

if VERSION < v"1.9"
    @info "chainrules_real.jl skipped: Julia $(VERSION) < 1.9 loads no package extensions (RankRelaxChainRulesCoreExt needs 1.9)"
else
    # Loaded, then the tests evaluated from a quote: Julia < 1.9 (without these packages) must not
    # expand the macros below, and expanding them needs the packages loaded first.
    Core.eval(Main, :(using Test, Random, RankRelax, ChainRulesCore, ChainRulesTestUtils))
    Core.eval(Main, quote
    # every rule of a call: the rrule (reverse mode) and the frule (forward mode)
    test_rules(args...; kwargs...) = (test_rrule(args...; kwargs...); test_frule(args...; kwargs...))
    @testset "rrules and frules against the real ChainRulesCore (ChainRulesTestUtils)" begin
        @test Base.get_extension(RankRelax, :RankRelaxChainRulesCoreExt) !== nothing
        rng = MersenneTwister(3)
        # distinct values (ties are kinks of the l2 projection), spaced so finite differences of
        # step ~1e-6 (Float64) stay inside one piece
        distinct(T, dims...) = T.(reshape(randperm(rng, prod(dims)), dims...) ./ 2 .+ 0.01 .* randn(rng, dims...))
        grades(T, dims...) = T.(rand(rng, 0:3, dims...))
        for T in (Float64, Float32), shape in ((6,), (6, 3))
            # Float32: finite differences in Float32 are coarse
            tol = T === Float64 ? (rtol = 1e-6, atol = 1e-8) : (rtol = 2e-2, atol = 2e-2)
            ε = T(0.7)
            for reg in (:l2, :kl), dir in (:ascending, :descending)
                x = distinct(T, shape...)
                test_rules(soft_rank, x; fkwargs = (regularization_strength = ε, regularization = reg, direction = dir),
                    check_inferred = false, tol...)
                test_rules(soft_rank, x, ε; fkwargs = (regularization = reg, direction = dir), check_inferred = false, tol...)
                test_rules(soft_sort, x; fkwargs = (regularization_strength = ε, regularization = reg, direction = dir),
                    check_inferred = false, tol...)
                test_rules(soft_sort, x, ε; fkwargs = (regularization = reg, direction = dir), check_inferred = false, tol...)
            end
            for dir in (:ascending, :descending)
                x = distinct(T, shape...)
                test_rules(sigmoid_rank, x; fkwargs = (regularization_strength = ε, direction = dir), check_inferred = false, tol...)
                test_rules(sigmoid_rank, x, ε; fkwargs = (direction = dir,), check_inferred = false, tol...)
            end
            for reg in (:l2, :kl)
                p, t = distinct(T, shape...), distinct(T, shape...)
                test_rules(spearman_loss, p, t; fkwargs = (regularization_strength = ε, regularization = reg),
                    check_inferred = false, tol...)
                test_rules(spearman_loss, p, t, ε; fkwargs = (regularization = reg,), check_inferred = false, tol...)
                s, rel = distinct(T, shape...), grades(T, shape...)
                # relevance is not differentiable: its tangent must be NoTangent, not checked by FD
                test_rules(ndcg_loss, s, rel ⊢ NoTangent(); fkwargs = (regularization_strength = ε, regularization = reg),
                    check_inferred = false, tol...)
                test_rules(ndcg_loss, s, rel ⊢ NoTangent(), ε; fkwargs = (regularization = reg,), check_inferred = false, tol...)
            end
            for reg in (:l2, :kl), dir in (:ascending, :descending)
                # group ids are integers, not differentiable: their tangent must be NoTangent
                x, g = distinct(T, shape...), rand(rng, Int32[-1, 4], shape...)
                test_rules(soft_rank_grouped, x, g ⊢ NoTangent();
                    fkwargs = (regularization_strength = ε, regularization = reg, direction = dir), check_inferred = false, tol...)
                test_rules(soft_rank_grouped, x, g ⊢ NoTangent(), ε; fkwargs = (regularization = reg, direction = dir),
                    check_inferred = false, tol...)
            end
            for reg in (:l2, :p43), dir in (:ascending, :descending)
                x = distinct(T, shape...)
                test_rules(soft_topk, x; fkwargs = (k = 2, regularization_strength = ε, regularization = reg, direction = dir),
                    check_inferred = false, tol...)
                test_rules(soft_topk, x, ε; fkwargs = (k = 2, regularization = reg, direction = dir), check_inferred = false, tol...)
            end
            for reg in (:l2, :kl)
                x = distinct(T, shape...)
                q = [0.1, 0.5, 0.75]
                test_rules(soft_quantile, x; fkwargs = (quantiles = q, regularization_strength = ε, regularization = reg),
                    check_inferred = false, tol...)
                test_rules(soft_quantile, x, ε; fkwargs = (quantiles = q, regularization = reg), check_inferred = false, tol...)
            end
            for dir in (:ascending, :descending)
                x, y = distinct(T, shape...), distinct(T, shape...)
                test_rules(neural_sort, x; fkwargs = (regularization_strength = ε, direction = dir), check_inferred = false, tol...)
                test_rules(neural_sort, x, ε; fkwargs = (direction = dir,), check_inferred = false, tol...)
                test_rules(neural_sort_apply, x, y; fkwargs = (regularization_strength = ε, direction = dir),
                    check_inferred = false, tol...)
                test_rules(neural_sort_apply, x, y, ε; fkwargs = (direction = dir,), check_inferred = false, tol...)
            end
        end
    end
    end)
end
