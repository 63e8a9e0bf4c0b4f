# Bad input throws ArgumentError with the library's message (the same text as every binding; the
# core writes element positions as [sample, item], 0-based, i.e. Julia's x[item+1, sample+1]).

"""The message of the exception `f()` throws, checking its type."""
function thrown(f, T::Type = ArgumentError)
    try
        f()
    catch e
        e isa T || rethrow()
        return e isa ArgumentError ? e.msg : sprint(showerror, e)
    end
    error("no exception thrown")
end

@testset "errors" begin
    @test thrown(() -> soft_rank([1.0, NaN, 3.0])) == "soft_rank: values[0, 1] is NaN"
    x = rand(3, 2)
    x[2, 2] = Inf
    @test thrown(() -> soft_rank(x)) == "soft_rank: values[1, 1] is +inf"
    @test thrown(() -> soft_sort(Float32.(-x))) == "soft_sort: values[1, 1] is -inf"
    @test thrown(() -> sigmoid_rank([1.0, 2.0]; regularization_strength = 0)) ==
          "sigmoid_rank: regularization_strength must be finite and > 0, got 0"
    @test thrown(() -> soft_rank([1.0, 2.0]; regularization_strength = -1.5)) ==
          "soft_rank: regularization_strength must be finite and > 0, got -1.5"
    @test thrown(() -> soft_rank(Float32[1, 2]; regularization_strength = NaN)) ==
          "soft_rank: regularization_strength must be finite and > 0, got NaN"
    @test thrown(() -> soft_rank([1.0, 2.0], 0.0)) ==
          "soft_rank: regularization_strength must be finite and > 0, got 0"
    @test thrown(() -> soft_rank([1.0, 2.0]; regularization = :up)) ==
          "soft_rank: regularization must be one of \"l2\", \"kl\", got \"up\""
    @test thrown(() -> soft_sort([1.0, 2.0]; direction = "Ascending")) ==
          "soft_sort: direction must be one of \"ascending\", \"descending\", got \"Ascending\""
    @test thrown(() -> soft_rank([1.0, 2.0]; direction = 1)) ==
          "soft_rank: direction must be one of \"ascending\", \"descending\", got 1"
    @test soft_rank([2.0, 1.0]; regularization = "kl", direction = "descending") ==
          soft_rank([2.0, 1.0]; regularization = :kl, direction = :descending)  # strings work too
    @test thrown(() -> spearman_loss(rand(3, 2), rand(4, 2))) ==
          "spearman_loss: predictions has shape [2, 3] but targets has shape [2, 4]"
    @test thrown(() -> spearman_loss(rand(3), rand(3, 1))) ==
          "spearman_loss: predictions has shape [3] but targets has shape [1, 3]"
    @test thrown(() -> ndcg_loss(rand(2, 3), rand(3, 2))) ==
          "ndcg_loss: scores has shape [3, 2] but relevance has shape [2, 3]"
    @test thrown(() -> spearman_loss([1.0], [2.0])) == "spearman_loss: needs n >= 2 items per row, got n = 1"
    @test thrown(() -> ndcg_loss([1.0, 2.0], [0.0, -1.0])) == "ndcg_loss: relevance[0, 1] is negative (-1)"
    @test thrown(() -> ndcg_loss([1.0, 2.0], [0.0, NaN])) == "ndcg_loss: relevance[0, 1] is NaN"

    # int params: an Integer (not a Bool) that the core checks against n
    @test thrown(() -> soft_topk([3.0, 1.0, 2.0]; k = 2.5)) ==
          "soft_topk: k must be an integer, got a float (2.5)"
    @test thrown(() -> soft_topk([3.0, 1.0, 2.0]; k = true)) ==
          "soft_topk: k must be an integer, got a bool"
    @test thrown(() -> soft_topk([3.0, 1.0, 2.0]; k = 2.0)) ==
          "soft_topk: k must be an integer, got a float (2.0)"
    @test thrown(() -> soft_topk([3.0, 1.0, 2.0]; k = "2")) ==
          "soft_topk: k must be an integer, got a string"
    @test thrown(() -> soft_topk([3.0, 1.0, 2.0]; k = big(2)^70)) ==
          "soft_topk: k = 1180591620717411303424 is out of range"
    @test thrown(() -> soft_topk([3.0, 1.0, 2.0]; k = 5)) == "soft_topk: k must be in [0, n] = [0, 3], got 5"
    @test thrown(() -> soft_topk(rand(3, 2); k = -1)) == "soft_topk: k must be in [0, n] = [0, 3], got -1"
    @test soft_topk([3.0, 1.0, 2.0]; k = Int32(2)) == soft_topk([3.0, 1.0, 2.0]; k = 2)
    @test soft_topk([3.0, 1.0, 2.0]; k = UInt8(2)) == soft_topk([3.0, 1.0, 2.0]; k = 2)
    # an op's own enum: soft_topk's regularization is l2 or p43, not soft_rank's kl
    @test thrown(() -> soft_topk([3.0, 1.0, 2.0]; regularization = :kl)) ==
          "soft_topk: regularization must be one of \"l2\", \"p43\", got \"kl\""
    # list params: a vector of reals, which the core checks
    @test thrown(() -> soft_quantile([3.0, 1.0, 2.0]; quantiles = Float64[])) ==
          "soft_quantile: quantiles is empty; needs at least one quantile"
    @test thrown(() -> soft_quantile([3.0, 1.0, 2.0]; quantiles = [])) ==
          "soft_quantile: quantiles is empty; needs at least one quantile"
    @test thrown(() -> soft_quantile(Float32[3, 1, 2]; quantiles = [0.5, NaN])) == "soft_quantile: quantiles[1] is NaN"
    @test thrown(() -> soft_quantile([3.0, 1.0, 2.0]; quantiles = [1.5])) ==
          "soft_quantile: quantiles[0] = 1.5 is not in [0, 1]"
    @test thrown(() -> soft_quantile([3.0, 1.0, 2.0]; quantiles = "0.5")) ==
          "soft_quantile: quantiles must be a list of real numbers, got a string"
    @test thrown(() -> soft_quantile([3.0, 1.0, 2.0]; quantiles = 0.5)) ==
          "soft_quantile: quantiles must be a list of real numbers, got a float (0.5)"
    @test thrown(() -> soft_quantile([3.0, 1.0, 2.0]; quantiles = [true])) ==
          "soft_quantile: quantiles must be a list of real numbers, got an array of bool"
    @test soft_quantile([3.0, 1.0, 2.0]; quantiles = Any[0, 1]) == soft_quantile([3.0, 1.0, 2.0]; quantiles = [0.0, 1.0])
    @test soft_quantile([3.0, 1.0, 2.0]; quantiles = 0:1) == soft_quantile([3.0, 1.0, 2.0]; quantiles = [0.0, 1.0])
    @test thrown(() -> soft_quantile(zeros(0))) == "soft_quantile: needs n >= 1 items per row, got n = 0"
    @test thrown(() -> neural_sort([3.0, 1.0]; regularization_strength = 0)) ==
          "neural_sort: regularization_strength must be finite and > 0, got 0"
    @test thrown(() -> neural_sort_apply(rand(3, 2), rand(2, 3))) ==
          "neural_sort_apply: values has shape [2, 3] but payload has shape [3, 2]"

    # cotangents of the wrong shape
    _, tape = soft_rank_forward(rand(3, 2))
    @test thrown(() -> soft_rank_pullback(tape, rand(2, 3))) ==
          "soft_rank: ranks has shape [2, 3] but cotangent_ranks has shape [3, 2]"
    _, tape = spearman_loss_forward(rand(3, 2), rand(3, 2))
    @test thrown(() -> spearman_loss_pullback(tape, rand(3))) ==
          "spearman_loss: loss has shape [2] but cotangent_loss has shape [3]"
    _, tape = spearman_loss_forward(rand(3), rand(3))
    @test occursin("must be a number for a vector input", thrown(() -> spearman_loss_pullback(tape, rand(3))))
    @test spearman_loss_pullback(tape, 1.0) == spearman_loss_pullback(tape, [1.0])
    _, tape = soft_quantile_forward(rand(4, 3); quantiles = [0.1, 0.9])
    @test thrown(() -> soft_quantile_pullback(tape, rand(4, 3))) ==
          "soft_quantile: result has shape [3, 2] but cotangent_result has shape [3, 4]"
    _, tape = neural_sort_forward(rand(4))
    @test thrown(() -> neural_sort_pullback(tape, rand(4))) ==
          "neural_sort: permutation_matrix has shape [4, 4] but cotangent_permutation_matrix has shape [4]"

    # not arrays of real numbers: named, in the words of every binding
    @test thrown(() -> soft_rank(["a", "b"])) == "soft_rank: values must be an array of float32 or float64, got an array of String"
    @test thrown(() -> soft_rank([1.0 + 2im, 3.0 + 0im])) ==
          "soft_rank: values must be an array of float32 or float64, got an array of complex128"
    @test thrown(() -> spearman_loss([1.0, 2.0], "ab")) ==
          "spearman_loss: targets must be an array of float32 or float64, got a string"
    @test thrown(() -> soft_rank(0.5)) == "soft_rank: values must be an array of float32 or float64, got a float (0.5)"
    @test_throws MethodError soft_rank([1.0, 2.0], 0.5, 3)
    # a 0-dimensional array has no axis for the items (arrays of 3 or more dims: dims.jl)
    @test thrown(() -> soft_rank(fill(1.0))) ==
          "soft_rank: values must have at least 1 dimension (the items' axis), got a 0-d array"

    # the library's other failures are RankRelaxError
    e = RankRelaxError(Int32(5), "boom")
    @test sprint(showerror, e) == "RankRelaxError: boom (status 5)"
    @test RankRelax.set_num_threads(0) === nothing
    @test_throws InexactError RankRelax.set_num_threads(-1)

    # empty input is fine where the op allows it
    @test soft_rank(zeros(0)) == zeros(0)
    @test size(soft_rank(zeros(3, 0))) == (3, 0)
end
