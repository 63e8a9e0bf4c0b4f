# The `mask` keyword of every op (ALGORITHMS.md, "Masks"): each sample computed as if it held only
# its present items, in their order, and scattered back. Checked against the op on each compacted
# sample (outputs, pullback, JVP, HVP), with NaN and ±Inf at the absent positions; a mask of all
# true against no mask, bit for bit; finite differences of the masked pullback and JVP; `dims`, the
# tape, the `!` forms and bad masks. Uses random_inputs, dotc (gradients.jl) and param_tangents (jvp.jl).

"""
A random n × B mask: sample 1 all present, sample 2 none, sample 3 one item, the others between
2 and n - 1 items at random positions.
"""
function random_mask(rng, n, B)
    m = zeros(Bool, n, B)
    for j in 1:B
        count = j == 1 ? n : j == 2 ? 0 : j == 3 ? 1 : rand(rng, 2:n-1)
        m[randperm(rng, n)[1:count], j] .= true
    end
    return m
end

"""`x` with NaN, Inf and -Inf (in turn) at the absent positions of `mask`: values the op never reads."""
function padded(x::AbstractArray{T}, mask) where {T}
    y = copy(x)
    pads = (T(NaN), T(Inf), T(-Inf))
    for (k, i) in enumerate(findall(!, mask))
        y[i] = pads[mod1(k, 3)]
    end
    return y
end

"""
Group ids with, at each absent position of `mask`, the id of a present item of the same sample (or
typemin where none is): read, the absent item would join that group and change its ranks.
"""
function padded(x::AbstractArray{<:Integer}, mask)
    y = copy(x)
    for i in findall(!, mask)
        column = CartesianIndices(y)[i].I[2:end]
        present = [y[j, column...] for j in axes(y, 1) if mask[j, column...]]
        y[i] = isempty(present) ? typemin(eltype(y)) : first(present)
    end
    return y
end

"""
Where the compacted sample's output lies in the masked one: `:row` a number per sample (a loss),
`:items` one per item (scattered to the present positions), `:sorted` one per sorted position (the
first n_valid), `:levels` one per quantile (unchanged), `:matrix` NeuralSort's n × n (items × sorted
positions in Julia's layout: present items, first n_valid positions), `:first` the first k sorted
positions of soft_sort_topk (the compacted sample's min(k, n_valid), then zeros).
"""
function placement(op::Symbol, meta)
    meta.per_row && return :row
    haskey(meta, :raw) && return :first
    meta.output_rank == 2 && return :matrix
    op in (:soft_sort, :neural_sort_apply) && return :sorted
    op == :soft_quantile && return :levels
    return :items
end

"""The compacted sample's output `c` (its n_valid present items `p`) placed in a sample of n items."""
function scatter(kind::Symbol, c, p, n; len = n)
    kind === :row && return c
    kind === :first && return [c; zeros(eltype(c), len - length(c))]
    kind === :levels && return c
    if kind === :matrix
        z = zeros(eltype(c), n, n)
        z[p, 1:length(p)] = c
        return z
    end
    z = zeros(eltype(c), n)
    z[kind === :items ? p : (1:length(p))] = c
    return z
end

"""The part of a sample's cotangent (or tangent of the output) that the compacted sample has."""
function gather(kind::Symbol, c, p)
    kind === :row && return c
    kind === :levels && return c
    kind === :matrix && return c[p, 1:length(p)]
    kind === :first && return c[1:min(length(c), length(p))]
    return kind === :items ? c[p] : c[1:length(p)]
end

"""Sample j of an output or cotangent (a number per sample for a loss)."""
sample_of(x, j, kind::Symbol) = kind === :row ? x[j] : kind === :matrix ? x[:, :, j] : x[:, j]

"""The keywords of the compacted sample: k clamped to its n_valid, as the masked call clamps it."""
compact_kw(kw, nv) = haskey(kw, :k) ? merge(kw, Dict{Symbol,Any}(:k => min(kw[:k], nv))) : kw

"""Inputs of `meta`'s op with ndcg_loss's relevance positive at some present item of every sample."""
function mask_inputs(rng, meta, op, mask::AbstractMatrix{Bool}, ::Type{T}) where {T}
    inputs = random_inputs(rng, meta, size(mask)...)
    if op == :ndcg_loss
        for j in 1:size(mask, 2)
            i = findfirst(mask[:, j])
            i === nothing || (inputs[2][i, j] = 3.0)
        end
    end
    return with_reals(x -> T.(x), meta, inputs)
end

@testset "masks: every op against its compacted samples" begin
    rng = MersenneTwister(1717)
    n, B = 6, 5
    for (op, meta) in pairs(OPS), T in (Float64, Float32)
        @test meta.optional == (:mask,)
        kind = placement(op, meta)
        kw = merge(test_params(meta), Dict{Symbol,Any}(:regularization_strength => 0.6))
        mask = random_mask(rng, n, B)
        clean = mask_inputs(rng, meta, op, mask, T)
        inputs = [padded(x, mask) for x in clean]
        label = string(op, " ", T)

        out, tape = meta.forward(inputs...; kw..., mask = mask)
        @test tape.mask === mask  # saved without a copy
        @test meta.fn(inputs...; kw..., mask = mask) == out
        @test eltype(out) == T && all(isfinite, out)
        cot = random_cotangent(rng, out)
        grads = meta.pullback(tape, cot)
        tangents = [T.(randn(rng, n, B)) for _ in meta.differentiable]
        tε = param_tangents(meta, fill(0.3, length(meta.param_grads)))
        jvp = meta.jvp(inputs..., tangents...; kw..., mask = mask, tε...)
        hvps = meta.hvp(inputs..., cot, tangents...; kw..., mask = mask, tε...)
        @test all(g -> all(isfinite, g), grads) && all(isfinite, jvp) && all(h -> all(isfinite, h), hvps)

        ndiff = length(meta.differentiable)
        εgrad, εhvp = zeros(length(meta.param_grads)), zeros(length(meta.param_grads))
        for j in 1:B
            p = findall(mask[:, j])
            nv = length(p)
            cj = sample_of(cot, j, kind)
            if nv < max(meta.min_n, 1)
                # no item (or too few for the op, Spearman's n_valid < 2): zeros, and zero derivatives
                @test iszero(sample_of(out, j, kind))
                @test all(g -> iszero(g[:, j]), grads[1:ndiff])
                @test iszero(sample_of(jvp, j, kind))
                @test all(h -> iszero(h[:, j]), hvps[1:ndiff])
                continue
            end
            ckw = compact_kw(kw, nv)
            xs = [x[p, j] for x in clean]
            c_out, c_tape = meta.forward(xs...; ckw...)
            @test isequal(sample_of(out, j, kind), scatter(kind, c_out, p, n; len = size(out, 1)))
            c_grads = meta.pullback(c_tape, gather(kind, cj, p))
            c_tangents = [t[p, j] for t in tangents]
            c_jvp = meta.pushforward(c_tape, c_tangents...; tε...)
            c_hvps = meta.pullback_hvp(c_tape, gather(kind, cj, p), c_tangents...; tε...)
            @test isequal(sample_of(jvp, j, kind), scatter(kind, c_jvp, p, n; len = size(out, 1)))
            for k in 1:ndiff
                # the present items' gradients are the compacted sample's, the absent ones 0
                @test isequal(grads[k][:, j], scatter(:items, c_grads[k], p, n))
                @test isequal(hvps[k][:, j], scatter(:items, c_hvps[k], p, n))
            end
            εgrad .+= [c_grads[ndiff+k] for k in 1:length(meta.param_grads)]
            εhvp .+= [c_hvps[ndiff+k] for k in 1:length(meta.param_grads)]
        end
        # ε's derivatives are summed over the samples (in another order here)
        rtol = T === Float64 ? 1e-12 : 1e-5
        for k in 1:length(meta.param_grads)
            @test isapprox(grads[ndiff+k], εgrad[k]; rtol = rtol, atol = rtol)
            @test isapprox(hvps[ndiff+k], εhvp[k]; rtol = rtol, atol = rtol)
        end

        # the `!` forms: a new mask in the same tape's arrays, the gradients into given arrays
        mask2 = random_mask(rng, n, B)
        inputs2 = [padded(x, mask2) for x in mask_inputs(rng, meta, op, mask2, T)]
        want2 = meta.fn(inputs2...; kw..., mask = mask2)
        got2, tape2 = meta.forward_into(tape, inputs2...; kw..., mask = mask2)
        @test isequal(got2, want2) && tape2.mask === mask2
        gs = [Array{T}(undef, n, B) for _ in 1:ndiff]
        into = meta.pullback_into(gs..., tape2, cot)
        @test all(k -> into[k] === gs[k], 1:ndiff)
        @test isequal(collect(into), collect(meta.pullback(last(meta.forward(inputs2...; kw..., mask = mask2)), cot)))
        # with no mask, the tape of the same `!` form holds none
        @test meta.forward_into(tape2, clean...; kw...)[2].mask === nothing
    end
end

@testset "masks: all present is no mask, bit for bit; a BitArray or a view is a mask" begin
    rng = MersenneTwister(99)
    for (op, meta) in pairs(OPS), T in (Float64, Float32), sz in ((7,), (7, 3))
        kw = merge(test_params(meta), Dict{Symbol,Any}(:regularization_strength => 0.8))
        inputs = with_reals(x -> T.(x), meta, random_inputs(rng, meta, 7, 3))
        inputs = [length(sz) == 1 ? x[:, 1] : x for x in inputs]
        everything = fill(true, sz)
        out, tape = meta.forward(inputs...; kw...)
        @test tape.mask === nothing
        cot = random_cotangent(rng, out)
        tangents = [T.(randn(rng, sz...)) for _ in meta.differentiable]
        tε = param_tangents(meta, fill(0.25, length(meta.param_grads)))
        for m in (everything, trues(sz), view(fill(true, sz..., 2), ntuple(_ -> Colon(), length(sz))..., 1))
            @test isequal(meta.fn(inputs...; kw..., mask = m), out)
            mout, mtape = meta.forward(inputs...; kw..., mask = m)
            @test mtape.mask isa Array{Bool} && (m isa Array{Bool} ? mtape.mask === m : mtape.mask == m)
            @test isequal(meta.pullback(mtape, cot), meta.pullback(tape, cot))
            @test isequal(meta.jvp(inputs..., tangents...; kw..., mask = m, tε...), meta.jvp(inputs..., tangents...; kw..., tε...))
            @test isequal(meta.hvp(inputs..., cot, tangents...; kw..., mask = m, tε...),
                meta.hvp(inputs..., cot, tangents...; kw..., tε...))
        end
        # a BitArray mask is converted (the library reads bytes), with the result of the same Array{Bool}
        bits = bitrand(rng, sz...)
        bits[1] = true
        padded_inputs = [padded(x, bits) for x in inputs]
        @test isequal(meta.fn(padded_inputs...; kw..., mask = bits), meta.fn(padded_inputs...; kw..., mask = Array{Bool}(bits)))
    end
end

@testset "masks: finite differences of the masked pullback and JVP" begin
    rng = MersenneTwister(4242)
    h = 1e-6
    n, B = 6, 4
    for (op, meta) in pairs(OPS)
        kw = merge(test_params(meta), Dict{Symbol,Any}(:regularization_strength => 0.7))
        mask = random_mask(rng, n, B)
        mask[:, 3] .= true
        mask[[2, 5], 3] .= false  # a sample with two absent items in the middle
        clean = mask_inputs(rng, meta, op, mask, Float64)
        inputs = [padded(x, mask) for x in clean]
        out, tape = meta.forward(inputs...; kw..., mask = mask)
        cot = random_cotangent(rng, out)
        grads = meta.pullback(tape, cot)
        L(xs, kws) = dotc(cot, meta.fn(xs...; kws..., mask = mask))
        for (k, name) in enumerate(meta.differentiable)
            i = findfirst(==(name), meta.inputs)
            fd = zeros(n, B)
            for j in findall(mask)  # moving a present item; the absent ones are NaN and unread
                plus = deepcopy(inputs); plus[i][j] += h
                minus = deepcopy(inputs); minus[i][j] -= h
                fd[j] = (L(plus, kw) - L(minus, kw)) / 2h
            end
            @test close_to(grads[k], fd; atol = 1e-6, rtol = 1e-5, what = string(op, " masked d/d", name))
            @test all(iszero, grads[k][.!mask])
        end
        for (k, name) in enumerate(meta.param_grads)
            up = merge(kw, Dict{Symbol,Any}(name => kw[name] + h))
            down = merge(kw, Dict{Symbol,Any}(name => kw[name] - h))
            @test close_to([grads[length(meta.differentiable)+k]], [(L(inputs, up) - L(inputs, down)) / 2h];
                atol = 1e-6, rtol = 1e-5, what = string(op, " masked d/d", name))
        end
        # the JVP along tangents that are NaN at the absent items too (unread), against the forward's difference
        tangents = [padded(randn(rng, n, B), mask) for _ in meta.differentiable]
        step(s) = [name in meta.differentiable ? x .+ s .* tangents[findfirst(==(name), meta.differentiable)] : x
                   for (name, x) in zip(meta.inputs, inputs)]
        got = meta.jvp(inputs..., tangents...; kw..., mask = mask)
        fd = (meta.fn(step(h)...; kw..., mask = mask) .- meta.fn(step(-h)...; kw..., mask = mask)) ./ 2h
        @test all(isfinite, got)
        @test close_to(got, fd; atol = 1e-6, rtol = 1e-5, what = string(op, " masked jvp"))
    end
end

@testset "masks: items along another axis (dims) move the mask with them" begin
    rng = MersenneTwister(5)
    for (op, meta) in pairs(OPS)
        meta.output_rank >= 2 && continue  # dims = 1 only
        kw = test_params(meta)
        mask = random_mask(rng, 6, 4)
        mask[:, 2] .= true  # every sample has an item (ndcg_loss: positive relevance)
        inputs = [padded(x, mask) for x in mask_inputs(rng, meta, op, mask, Float64)]
        want, tape = meta.forward(inputs...; kw..., mask = mask)
        cot = random_cotangent(rng, want)
        want_grads = meta.pullback(tape, cot)
        # samples as rows (dims = 2), and as a 3-d array with the items along its second axis
        rows = [permutedims(x) for x in inputs]
        got, t2 = meta.forward(rows...; kw..., mask = permutedims(mask), dims = 2)
        @test isequal(got, meta.per_row ? want : permutedims(want))
        g2 = meta.pullback(t2, meta.per_row ? cot : permutedims(cot))
        @test all(k -> isequal(g2[k], permutedims(want_grads[k])), 1:length(meta.differentiable))
        cube(x) = permutedims(reshape(x, size(x, 1), 2, 2), (2, 1, 3))
        got3 = meta.fn(map(cube, inputs)...; kw..., mask = cube(BitArray(mask)), dims = 2)
        @test isequal(got3, meta.per_row ? reshape(want, 2, 2) : cube(want))
        # a mask of another size, or not of Bool, along another axis
        err = try meta.fn(rows...; kw..., mask = mask, dims = 2); nothing catch e; e end
        @test err isa ArgumentError && occursin(string(op), err.msg) && occursin("mask", err.msg)
        err = try meta.fn(rows...; kw..., mask = Float64.(permutedims(mask)), dims = 2); nothing catch e; e end
        @test err isa ArgumentError && occursin(string(op), err.msg) && occursin("mask", err.msg)
    end
end

@testset "masks: bad masks name the op and the argument" begin
    rng = MersenneTwister(11)
    for (op, meta) in pairs(OPS)
        kw = test_params(meta)
        inputs = random_inputs(rng, meta, 5, 3)
        bad = (Float64.(trues(5, 3)), Int32.(trues(5, 3)), trues(5, 2), fill(true, 15), fill(true, 5), true, "mask")
        for m in bad
            err = try meta.fn(inputs...; kw..., mask = m); nothing catch e; e end
            @test err isa ArgumentError && occursin(string(op, ": "), err.msg) && occursin("mask", err.msg)
            err = try meta.jvp(inputs..., [zeros(5, 3) for _ in meta.differentiable]...; kw..., mask = m); nothing catch e; e end
            @test err isa ArgumentError && occursin("mask", err.msg)
        end
        err = try meta.fn(inputs...; kw..., mask = trues(5, 2)); nothing catch e; e end
        @test occursin("[2, 5]", err.msg) && occursin("[3, 5]", err.msg)  # both shapes, row-major
    end
end
