# Zero copy: the pointers the ccall layer hands to the C library are the caller's own arrays. A
# recording kernel (a @cfunction that notes its pointer arguments, then calls the real kernel) is
# swapped into the function-pointer table for the duration of a call.

const RECORDED = Dict{Symbol,Ptr{Cvoid}}()
const REAL_FWD = Ref{Ptr{Cvoid}}(C_NULL)
const REAL_BWD = Ref{Ptr{Cvoid}}(C_NULL)

function recording_forward(batch::Csize_t, n::Csize_t, eps::Float64, reg::Int32, dir::Int32,
                           values::Ptr{Float64}, mask::Ptr{Bool}, ranks::Ptr{Float64}, perm::Ptr{Int32})::Int32
    RECORDED[:values] = values
    RECORDED[:mask] = mask
    RECORDED[:ranks] = ranks
    return ccall(REAL_FWD[], Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Bool}, Ptr{Float64}, Ptr{Int32}),
        batch, n, eps, reg, dir, values, mask, ranks, perm)
end

function recording_backward(batch::Csize_t, n::Csize_t, eps::Float64, reg::Int32, dir::Int32,
                            values::Ptr{Float64}, mask::Ptr{Bool}, ranks::Ptr{Float64}, perm::Ptr{Int32},
                            cot::Ptr{Float64}, grad::Ptr{Float64}, grad_eps::Ptr{Float64})::Int32
    RECORDED[:saved_values] = values
    RECORDED[:saved_mask] = mask
    RECORDED[:saved_ranks] = ranks
    RECORDED[:cotangent] = cot
    RECORDED[:grad] = grad
    return ccall(REAL_BWD[], Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Bool}, Ptr{Float64}, Ptr{Int32},
         Ptr{Float64}, Ptr{Float64}, Ptr{Float64}),
        batch, n, eps, reg, dir, values, mask, ranks, perm, cot, grad, grad_eps)
end

"""Runs `f()` with the soft_rank Float64 kernels replaced by the recording ones."""
function recording(f)
    fns = RankRelax._RR_KERNEL_FNS
    REAL_FWD[] = fns.rr_soft_rank_forward_f64[]
    REAL_BWD[] = fns.rr_soft_rank_backward_f64[]
    empty!(RECORDED)
    fns.rr_soft_rank_forward_f64[] = @cfunction(recording_forward, Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Bool}, Ptr{Float64}, Ptr{Int32}))
    fns.rr_soft_rank_backward_f64[] = @cfunction(recording_backward, Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Bool}, Ptr{Float64}, Ptr{Int32},
         Ptr{Float64}, Ptr{Float64}, Ptr{Float64}))
    try
        return f()
    finally
        fns.rr_soft_rank_forward_f64[] = REAL_FWD[]
        fns.rr_soft_rank_backward_f64[] = REAL_BWD[]
    end
end

@testset "zero copy" begin
    x = randn(MersenneTwister(1), 128, 16)  # n × B: 16 samples of 128 items
    cot = randn(MersenneTwister(2), 128, 16)
    GC.@preserve x cot begin
        ranks, grads = recording() do
            r, tape = soft_rank_forward(x; regularization_strength = 0.5)
            r, soft_rank_pullback(tape, cot)
        end
        @test RECORDED[:values] == Ptr{Cvoid}(pointer(x))        # the Matrix's own memory
        @test RECORDED[:ranks] == Ptr{Cvoid}(pointer(ranks))     # the result is what C wrote
        @test RECORDED[:saved_values] == Ptr{Cvoid}(pointer(x))  # the tape saved x itself
        @test RECORDED[:saved_ranks] == Ptr{Cvoid}(pointer(ranks))
        @test RECORDED[:cotangent] == Ptr{Cvoid}(pointer(cot))
        @test RECORDED[:grad] == Ptr{Cvoid}(pointer(grads[1]))
        @test RECORDED[:mask] == C_NULL && RECORDED[:saved_mask] == C_NULL  # no mask: a null pointer
        @test ranks == soft_rank(x; regularization_strength = 0.5)  # the hook changed nothing
        # A mask that is an Array{Bool} is passed as is, and the tape keeps it for the pullback.
        mask = rand(MersenneTwister(4), Bool, 128, 16)
        GC.@preserve mask begin
            recording() do
                soft_rank_pullback(last(soft_rank_forward(x; mask = mask)), cot)
            end
            @test RECORDED[:mask] == Ptr{Cvoid}(pointer(mask))
            @test RECORDED[:saved_mask] == Ptr{Cvoid}(pointer(mask))
        end
        # A Vector is passed as is, too.
        v = x[:, 3]
        recording(() -> soft_rank(v))
        @test RECORDED[:values] == Ptr{Cvoid}(pointer(v))
    end

    # The tape keeps the caller's arrays (Float32 as well), no copies.
    x32 = Float32.(x)
    _, tape32 = soft_rank_forward(x32)
    @test tape32.values === x32
    _, tape = spearman_loss_forward(x, cot)
    @test tape.predictions === x && tape.targets === cot

    # Anything else is copied into a dense Array first, and computes the same.
    xs = randn(MersenneTwister(3), 10, 6)
    strided = view(xs, 1:2:9, :)        # non-contiguous
    @test soft_rank(strided) == soft_rank(copy(strided))
    _, tape = soft_rank_forward(strided)
    @test tape.values isa Matrix{Float64} && tape.values == strided
    @test soft_rank(view(xs, :, 2)) == soft_rank(xs[:, 2])   # a contiguous view is copied too
    @test soft_rank(transpose(xs)) == soft_rank(permutedims(xs))
    @test soft_rank(1:5) == soft_rank(collect(1.0:5.0))       # integers → Float64
    @test eltype(soft_rank(Int32[3, 1, 2])) == Float64
    @test eltype(soft_sort(Float32[3, 1, 2])) == Float32
    # mixed precision runs in Float64
    @test eltype(spearman_loss(Float32[1, 2, 3], [1.0, 3.0, 2.0]; regularization_strength = 0.1)) == Float64
    @test spearman_loss(Float32[1, 2, 3], Float32[1, 3, 2]) isa Float32
    @test spearman_loss(Int32[1, 2, 3], Float32[1, 3, 2]) isa Float64  # not promote_type's Float32
    @test ndcg_loss(Bool[1, 0, 1], Float32[1, 3, 2]) isa Float64
end

@testset "in-place forward! and pullback!" begin
    rng = MersenneTwister(11)
    for (op, meta) in pairs(OPS), T in (Float32, Float64), shape in ((7,), (7, 4))
        mk() = [name in meta.differentiable ? randn(rng, T, shape...) : fixed_input(rng, meta, name, shape...; T = T)
                for name in meta.inputs]
        a, b = mk(), mk()
        kw = test_params(meta)
        out_a, tape = meta.forward(a...; kw...)
        out_b, tape_b = meta.forward(b...; kw...)
        cot = random_cotangent(rng, out_b)
        want = meta.pullback(tape_b, cot)
        # forward! into the arrays of the tape of `a`, on `b`: the same as the allocating forward on `b`
        out, tape2 = meta.forward_into(tape, b...; kw...)
        @test out == out_b
        @test typeof(tape2) == typeof(tape)
        if !meta.per_row
            @test out === getfield(tape, meta.output)  # the tape's own output array, reused
        end
        grads = [Array{T}(undef, shape...) for _ in meta.differentiable]
        got = meta.pullback_into(grads..., tape2, cot)
        @test all(got[k] === grads[k] for k in eachindex(grads))
        @test all(got[k] == want[k] for k in eachindex(want))
    end
    # no arrays allocated at 128 × 1000 (the forward alone allocates 1.5 MB; the in-place one a small tape)
    x = randn(MersenneTwister(4), 1000, 128)
    cot = randn(MersenneTwister(5), 1000, 128)
    _, tape = soft_rank_forward(x)
    g = similar(x)
    soft_rank_forward!(tape, x); soft_rank_pullback!(g, tape, cot)   # compile
    @test @allocated(soft_rank_forward!(tape, x)) < 10_000
    @test @allocated(soft_rank_pullback!(g, tape, cot)) < 10_000
    @test @allocated(soft_rank_forward(x)) > 1_000_000
    # misuse
    @test_throws ArgumentError soft_rank_forward!(tape, randn(999, 128))
    @test_throws ArgumentError soft_rank_forward!(tape, Float32.(x))
    @test_throws ArgumentError soft_rank_pullback!(Float32.(g), tape, cot)
    @test_throws ArgumentError soft_rank_pullback!(similar(x, 10, 10), tape, cot)
    msg = try soft_rank_forward!(tape, randn(10, 128)); "" catch e; e.msg end
    @test msg == "soft_rank_forward!: values has shape [128, 10] but the tape is for shape [128, 1000]"
    # soft_rank writes the gradient over the cotangent when they are one array (see below);
    # sigmoid_rank has no in-place backward, so there the library refuses the overlap
    small = randn(8, 3)
    _, sigmoid_tape = sigmoid_rank_forward(small)
    @test_throws ArgumentError sigmoid_rank_pullback!(small, sigmoid_tape, small)
end

# soft_rank, soft_sort and soft_topk accept the cotangent as the gradient buffer: the C library
# then writes the gradient over it (one array less), with the same result as into a separate array.
@testset "pullback! in place" begin
    for T in (Float64, Float32), (forward, pullback!) in
            ((soft_rank_forward, soft_rank_pullback!), (soft_sort_forward, soft_sort_pullback!),
             (soft_topk_forward, soft_topk_pullback!))
        x = T.(round.(randn(MersenneTwister(3), 40, 6) .* 4) ./ 4)  # ties: PAV blocks
        c = randn(MersenneTwister(4), T, 40, 6)
        _, tape = forward(x; regularization_strength=0.3)
        g, e = pullback!(similar(x), tape, c)
        buffer = copy(c)
        g2, e2 = pullback!(buffer, tape, buffer)
        @test g2 === buffer
        @test g2 == g
        @test e2 == e
    end
end
