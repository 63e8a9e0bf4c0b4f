# Items along any axis (`dims`): for every op, a call with `dims` equals the dims = 1 call on the
# array with that axis moved first, outputs and gradients; dims = 1 on a Vector or Matrix is the
# library's own layout, unchanged; bad values of dims are ArgumentErrors naming the op and dims.

"""Inputs of `meta`'s op of size `sz`: random values for differentiable inputs, small counts (group ids) for the others."""
dims_inputs(rng, meta, sz) =
    [name in meta.differentiable ? randn(rng, sz...) : fixed_input(rng, meta, name, sz...) for name in meta.inputs]

"""The keywords the tests call `meta`'s op with: its test params, ε, the last value of each enum."""
function dims_kwargs(meta)
    kw = merge(test_params(meta), Dict{Symbol,Any}(:regularization_strength => 0.7))
    for (name, values) in pairs(meta.enums)
        kw[name] = last(values)
    end
    return (; kw...)
end

"""An output (or gradient) of the items-first call with axis 1 put back at `d`: the caller's layout."""
axis_back(y::Real, rank, d) = y
axis_back(y::AbstractArray, rank, d) =
    rank == 0 || d == 1 ? y : permutedims(y, ntuple(i -> i < d ? i + 1 : (i == d ? 1 : i), ndims(y)))
"""An array of the caller's layout with axis `d` moved first."""
axis_first(x::AbstractArray, d) = d == 1 ? x : permutedims(x, ntuple(i -> i == 1 ? d : (i <= d ? i - 1 : i), ndims(x)))

"""Bytes allocated by `f(xs…; kw…)` once compiled."""
allocated_by(f, xs, kw) = (f(xs...; kw...); @allocated f(xs...; kw...))

@testset "items along dims" begin
    rng = MersenneTwister(23)
    n = 5
    for (op, meta) in pairs(OPS)
        kw = dims_kwargs(meta)
        rank = meta.output_rank
        # items along dims = 2 of a B × n matrix, and along the middle axis of a 3 × n × 4 array
        for (sz, d) in (((3, n), 2), ((3, n, 4), 2), ((n, 3, 4), 1), ((3, 4, n), 3))
            xs = dims_inputs(rng, meta, sz)
            first_xs = [axis_first(x, d) for x in xs]
            if rank >= 2 && d != 1
                err = try
                    meta.forward(xs...; kw..., dims = d)
                    nothing
                catch e
                    e
                end
                @test err isa ArgumentError
                @test err isa ArgumentError && occursin(string(op), err.msg) && occursin("dims = $d", err.msg)
                @test_throws ArgumentError meta.fn(xs...; kw..., dims = d)
                continue
            end
            want, want_tape = meta.forward(first_xs...; kw...)
            got, tape = meta.forward(xs...; kw..., dims = d)
            @test tape isa RankRelax.AxisTape
            @test got == axis_back(want, rank, d)
            @test meta.fn(xs...; kw..., dims = d) == got
            # a loss drops the items axis: one value per sample, in the other axes
            rank == 0 && @test size(got) == Tuple(sz[i] for i in 1:length(sz) if i != d)
            cot = random_cotangent(rng, got)
            grads = meta.pullback(tape, cot)
            want_grads = meta.pullback(want_tape, rank == 0 ? cot : axis_first(cot, d))
            @test length(grads) == length(want_grads)
            for (g, w) in zip(grads, want_grads)
                @test g == axis_back(w, 1, d)
            end
            @test all(g -> !(g isa AbstractArray) || size(g) == sz, grads)
            # dims on the pullback: optional, the forward's
            @test meta.pullback(tape, cot; dims = d) == grads
            err = try
                meta.pullback(tape, cot; dims = d + 1)
                nothing
            catch e
                e
            end
            @test err isa ArgumentError && occursin(string(nameof(meta.pullback), ": dims = ", d + 1), err.msg)
            # the pullback refuses a cotangent in the wrong layout
            wrong = randn(rng, (size(cot) .+ 1)...)
            @test_throws ArgumentError meta.pullback(tape, wrong)
        end

        # an array of more dims with dims = 1: the n × B call on the same memory
        xs = dims_inputs(rng, meta, (n, 3, 4))
        got, tape = meta.forward(xs...; kw...)
        want, _ = meta.forward([reshape(x, n, :) for x in xs]...; kw...)
        @test got == reshape(want, size(want)[1:rank]..., 3, 4)
        @test tape isa RankRelax.AxisTape && tape.tape._rr_size == (n, 12)

        # dims = 1 on a Matrix and a Vector: today's call, its tape and its allocations
        for sz in ((n, 3), (n,))
            xs = dims_inputs(rng, meta, sz)
            want, want_tape = meta.forward(xs...; kw...)
            got, tape = meta.forward(xs...; kw..., dims = 1)
            @test got == want
            @test typeof(tape) == typeof(want_tape) && !(tape isa RankRelax.AxisTape)
            c = random_cotangent(rng, got)
            @test meta.pullback(tape, c; dims = 1) == meta.pullback(tape, c)
            @test_throws ArgumentError meta.pullback(tape, c; dims = 2)
            @test meta.fn(xs...; kw..., dims = Int32(1)) == want
            # the inputs saved in the tape are the caller's arrays, not copies
            for f in fieldnames(typeof(tape)), x in xs
                @test (getfield(tape, f) === x) == (getfield(want_tape, f) === x)
            end
            @test any(f -> any(x -> getfield(tape, f) === x, xs), fieldnames(typeof(tape)))
        end
        # no copy of the input: a (runtime) dims = 1 costs a few bytes, not the input's size
        xs = dims_inputs(rng, meta, (200, 50))
        @test allocated_by(meta.fn, xs, merge(kw, (dims = 1,))) < allocated_by(meta.fn, xs, kw) + sizeof(first(xs)) ÷ 10

        # bad dims: not an integer, or not an axis of the input
        xs = dims_inputs(rng, meta, (n, 3))
        for bad in (0, 3, -1, 1.0, true, :x, "1", nothing)
            err = try
                meta.fn(xs...; kw..., dims = bad)
                nothing
            catch e
                e
            end
            @test err isa ArgumentError && occursin(string(op, ": dims"), err.msg)
        end
        @test_throws ArgumentError meta.fn(dims_inputs(rng, meta, (n,))...; kw..., dims = 2)
        if length(meta.inputs) > 1
            ys = dims_inputs(rng, meta, (3, n))
            ys[end] = last(meta.inputs) in meta.differentiable ? randn(rng, 3, n + 1) :
                fixed_input(rng, meta, last(meta.inputs), 3, n + 1)
            @test_throws ArgumentError meta.fn(ys...; kw..., dims = 2)
        end
    end

    # Float32 stays Float32; views and other arrays are read like Arrays
    x = randn(rng, Float32, 3, 6)
    @test soft_rank(x; dims = 2) isa Matrix{Float32}
    @test soft_rank(view(x, :, 1:5); dims = 2) == soft_rank(x[:, 1:5]; dims = 2)
end
