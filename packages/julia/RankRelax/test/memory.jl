# Zero copy: the pointers the ccall layer hands to the C library are the caller's own arrays. A
# recording kernel (a @cfunction that notes its pointer arguments, then calls the real kernel) is
# swapped into the function-pointer table for the duration of a call.

const RECORDED = Dict{Symbol,Ptr{Cvoid}}()
const REAL_FWD = Ref{Ptr{Cvoid}}(C_NULL)
const REAL_BWD = Ref{Ptr{Cvoid}}(C_NULL)

function recording_forward(batch::Csize_t, n::Csize_t, eps::Float64, reg::Int32, dir::Int32,
                           values::Ptr{Float64}, ranks::Ptr{Float64}, perm::Ptr{Int32})::Int32
    RECORDED[:values] = values
    RECORDED[:ranks] = ranks
    return ccall(REAL_FWD[], Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Float64}, Ptr{Int32}),
        batch, n, eps, reg, dir, values, ranks, perm)
end

function recording_backward(batch::Csize_t, n::Csize_t, eps::Float64, reg::Int32, dir::Int32,
                            values::Ptr{Float64}, ranks::Ptr{Float64}, perm::Ptr{Int32}, cot::Ptr{Float64},
                            grad::Ptr{Float64}, grad_eps::Ptr{Float64})::Int32
    RECORDED[:saved_values] = values
    RECORDED[:saved_ranks] = ranks
    RECORDED[:cotangent] = cot
    RECORDED[:grad] = grad
    return ccall(REAL_BWD[], Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Float64}, Ptr{Int32}, Ptr{Float64},
         Ptr{Float64}, Ptr{Float64}),
        batch, n, eps, reg, dir, values, ranks, perm, cot, grad, grad_eps)
end

"""Runs `f()` with the soft_rank Float64 kernels replaced by the recording ones."""
function recording(f)
    fns = RankRelax._RR_KERNEL_FNS
    REAL_FWD[] = fns.rr_soft_rank_forward_f64[]
    REAL_BWD[] = fns.rr_soft_rank_backward_f64[]
    empty!(RECORDED)
    fns.rr_soft_rank_forward_f64[] = @cfunction(recording_forward, Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Float64}, Ptr{Int32}))
    fns.rr_soft_rank_backward_f64[] = @cfunction(recording_backward, Int32,
        (Csize_t, Csize_t, Float64, Int32, Int32, Ptr{Float64}, Ptr{Float64}, Ptr{Int32}, Ptr{Float64},
         Ptr{Float64}, Ptr{Float64}))
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
        @test ranks == soft_rank(x; regularization_strength = 0.5)  # the hook changed nothing
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
end
