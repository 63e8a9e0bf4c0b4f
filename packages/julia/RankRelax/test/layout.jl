# The layout of outputs that are not the input's shape: the core's row-major [B, m] and [B, n, n]
# are Julia arrays with the dims reversed (m × B, n × n × B; the same memory), so sample b is the
# last index, and neural_sort's P[:, i, b] is the core's row i of sample b (the weights of the items
# for sorted position i).

"""NeuralSort's relaxed permutation matrix of `s` by its definition, row i = sorted position i."""
function neural_sort_rows(s::Vector{Float64}, τ::Float64, direction::Symbol)
    n = length(s)
    x = direction === :descending ? s : -s
    A1 = [sum(abs(x[j] - x[k]) for k in 1:n) for j in 1:n]
    P = zeros(n, n)
    for i in 1:n
        logits = ((n + 1 - 2i) .* x .- A1) ./ τ
        e = exp.(logits .- maximum(logits))
        P[i, :] = e ./ sum(e)
    end
    return P
end

@testset "output layout" begin
    rng = MersenneTwister(17)
    x = randn(rng, 5, 3)

    # soft_quantile: a Vector of length(quantiles) per sample, an m × B Matrix for a batch
    q = [0.0, 0.25, 1.0]
    r = soft_quantile(x; quantiles = q, regularization_strength = 1e-3)
    @test size(r) == (3, 3)
    for b in 1:3
        @test r[:, b] == soft_quantile(x[:, b]; quantiles = q, regularization_strength = 1e-3)
        @test close_to(r[:, b], [minimum(x[:, b]), sort(x[:, b])[2], maximum(x[:, b])]; atol = 1e-6, rtol = 0)
    end
    @test soft_quantile(Float32.(x); quantiles = q) isa Matrix{Float32}

    # neural_sort: n × n per sample, P[:, i] the core's row i
    for direction in (:ascending, :descending), τ in (0.5, 2.0)
        P = neural_sort(x; regularization_strength = τ, direction = direction)
        @test size(P) == (5, 5, 3)
        for b in 1:3
            @test P[:, :, b] == neural_sort(x[:, b]; regularization_strength = τ, direction = direction)
            @test close_to(P[:, :, b], permutedims(neural_sort_rows(x[:, b], τ, direction)); atol = 1e-12, rtol = 1e-12)
            # P·payload per sample (the core's row-major product) is neural_sort_apply
            payload = randn(rng, 5)
            @test close_to(transpose(P[:, :, b]) * payload,
                neural_sort_apply(x[:, b], payload; regularization_strength = τ, direction = direction);
                atol = 1e-12, rtol = 1e-12)
        end
        @test close_to(sum(P; dims = 1), ones(1, 5, 3); atol = 1e-12, rtol = 0)  # each column a distribution
    end
    s = [3.0, 1.0, 2.0]
    @test close_to(transpose(neural_sort(s; regularization_strength = 1e-3)) * s, [1.0, 2.0, 3.0]; atol = 1e-9, rtol = 0)

    # soft_topk: the input's shape, rows summing to k, descending by default
    m = soft_topk([3.0, 1.0, 2.0, 0.5]; k = 2, regularization_strength = 1e-3)
    @test m == [1.0, 0.0, 1.0, 0.0]
    @test soft_topk([3.0, 1.0, 2.0, 0.5]; k = 1, direction = :ascending, regularization_strength = 1e-3) == [0.0, 0.0, 0.0, 1.0]
    for reg in (:l2, :p43)
        mask = soft_topk(x; k = 3, regularization = reg)
        @test size(mask) == size(x)
        @test close_to(sum(mask; dims = 1), fill(3.0, 1, 3); atol = 1e-12, rtol = 0)
    end

    # forward! keeps the tape's extents: quantiles of another length are refused
    _, tape = soft_quantile_forward(x; quantiles = [0.2, 0.8])
    out, tape2 = soft_quantile_forward!(tape, x; quantiles = [0.3, 0.7])
    @test out === tape.result && out == soft_quantile(x; quantiles = [0.3, 0.7])
    @test thrown(() -> soft_quantile_forward!(tape, x; quantiles = [0.5])) ==
          "soft_quantile_forward!: quantiles has 1 element but the tape is for 2"
    @test thrown(() -> soft_quantile_forward!(tape, x; quantiles = "ab")) ==
          "soft_quantile: quantiles must be a list of real numbers, got a string"
end
