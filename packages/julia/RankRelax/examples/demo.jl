# End-to-end demo: learn a linear scorer by gradient descent on the Spearman loss, with the
# gradient from `spearman_loss_pullback` (no AD package). Each query has n items with d features;
# the targets are a hidden linear score plus noise. The Spearman correlation of the learned scores
# with the targets (hard ranks) rises on the training queries and on held-out ones.
#
#   julia --project=packages/julia/RankRelax packages/julia/RankRelax/examples/demo.jl
using LinearAlgebra
using Random
using RankRelax

const d, n, queries = 8, 20, 64
rng = MersenneTwister(2024)
features = randn(rng, d, n, 2queries)                  # d × n × queries
w_true = randn(rng, d)
targets = dropdims(sum(features .* w_true; dims = 1); dims = 1) .+ 0.5 .* randn(rng, n, 2queries)  # n × queries
train, test = 1:queries, queries+1:2queries

scores(w, q) = dropdims(sum(features[:, :, q] .* w; dims = 1); dims = 1)   # n × |q|: one column per query

"""Hard Spearman correlation per column (ranks by sortperm, no ties in random data), averaged."""
function spearman(a::AbstractMatrix, b::AbstractMatrix)
    rank(v) = invperm(sortperm(v))
    c = [cor_(rank(a[:, j]), rank(b[:, j])) for j in 1:size(a, 2)]
    return sum(c) / length(c)
end
cor_(x, y) = (xc = x .- sum(x) / length(x); yc = y .- sum(y) / length(y); dot(xc, yc) / (norm(xc) * norm(yc)))

w = randn(rng, d)      # a random start
lr, ε = 0.5, 0.1
println("epoch   loss     train corr   test corr")
first_corr = spearman(scores(w, test), targets[:, test])
for epoch in 0:40
    s = scores(w, train)
    loss, tape = spearman_loss_forward(s, targets[:, train]; regularization_strength = ε)
    if epoch % 5 == 0
        println(lpad(epoch, 5), "   ", rpad(round(sum(loss) / length(loss); digits = 4), 8), " ",
            rpad(round(spearman(s, targets[:, train]); digits = 4), 12), " ",
            round(spearman(scores(w, test), targets[:, test]); digits = 4))
    end
    # mean loss over queries: cotangent 1/B per query; d(loss)/d(scores) → d(loss)/dw
    grad_scores, _, _ = spearman_loss_pullback(tape, fill(1 / length(train), length(train)))
    grad_w = vec(sum(features[:, :, train] .* reshape(grad_scores, 1, n, length(train)); dims = (2, 3)))
    global w -= lr * grad_w
end
last_corr = spearman(scores(w, test), targets[:, test])
println("held-out Spearman correlation: ", round(first_corr; digits = 4), " → ", round(last_corr; digits = 4))
last_corr > first_corr + 0.3 || error("the correlation did not rise")
