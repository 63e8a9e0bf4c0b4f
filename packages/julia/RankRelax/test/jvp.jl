# Forward mode: `<op>_jvp` and `<op>_pushforward` of every op, every enum combination. Float64
# against central finite differences of the forward along the tangent (of the inputs, of ε, both),
# adjoint to the pullback (⟨u, J t⟩ = ⟨Jᵀu, t⟩), Float32 against Float64 on rounded inputs; items
# along another axis (`dims`); bad tangents. Uses enum_combinations, random_inputs and dotc from
# gradients.jl.

"""The param tangent keywords of `meta`'s op (`tangent_regularization_strength = …`), one value each."""
param_tangents(meta, values) = Dict{Symbol,Any}(Symbol("tangent_", p) => v for (p, v) in zip(meta.param_grads, values))

"""Random tangents of the differentiable inputs of `inputs`, in the order `<op>_jvp` takes them."""
random_tangents(rng, meta, inputs) = [randn(rng, size(inputs[findfirst(==(name), meta.inputs)])...) for name in meta.differentiable]

"""The inputs moved by `s` along the tangents (differentiable inputs only)."""
function moved(meta, inputs, tangents, s)
    return [name in meta.differentiable ? x .+ s .* tangents[findfirst(==(name), meta.differentiable)] : x
            for (name, x) in zip(meta.inputs, inputs)]
end

"""A JVP call's inputs for `meta`'s op, with ndcg_loss's relevance positive in every sample (IDCG > 0)."""
function jvp_inputs(rng, meta, op, n, B)
    inputs = random_inputs(rng, meta, n, B)
    op == :ndcg_loss && (inputs[2][1, :] .= 3.0)
    return inputs
end

@testset "JVP: finite differences, adjointness, Float32" begin
    rng = MersenneTwister(20261206)
    h = 1e-6
    for (op, meta) in pairs(OPS)
        @test meta.jvp !== nothing && meta.pushforward !== nothing
        largest = 0.0  # the checks above are not all of zeros
        for combo in enum_combinations(meta), ε in (0.5, 2.0)
            kw = merge(combo, test_params(meta), Dict{Symbol,Any}(:regularization_strength => ε))
            label = string(op, " ", kw)
            inputs = jvp_inputs(rng, meta, op, 5, 3)
            tangents = random_tangents(rng, meta, inputs)
            tε = [randn(rng) for _ in meta.param_grads]
            zero_tangents = [zero(t) for t in tangents]
            f(xs, δε) = meta.fn(xs...; merge(kw, Dict{Symbol,Any}(p => kw[p] + δε for p in meta.param_grads))...)

            # the input tangents alone, the ε tangent alone, then both: each against its central difference
            got = meta.jvp(inputs..., tangents...; kw...)
            fd = (f(moved(meta, inputs, tangents, h), 0.0) .- f(moved(meta, inputs, tangents, -h), 0.0)) ./ 2h
            @test close_to(got, fd; atol = 1e-6, rtol = 1e-5, what = string(label, " jvp in the inputs"))
            if !isempty(meta.param_grads)
                got_ε = meta.jvp(inputs..., zero_tangents...; kw..., param_tangents(meta, tε)...)
                fd_ε = (f(inputs, h * tε[1]) .- f(inputs, -h * tε[1])) ./ 2h
                @test close_to(got_ε, fd_ε; atol = 1e-6, rtol = 1e-5, what = string(label, " jvp in ε"))
                both = meta.jvp(inputs..., tangents...; kw..., param_tangents(meta, tε)...)
                fd_both = (f(moved(meta, inputs, tangents, h), h * tε[1]) .-
                           f(moved(meta, inputs, tangents, -h), -h * tε[1])) ./ 2h
                @test close_to(both, fd_both; atol = 1e-6, rtol = 1e-5, what = string(label, " jvp in both"))
            else
                both = got
            end

            # the pushforward of a forward's tape is the same function
            out, tape = meta.forward(inputs...; kw...)
            @test meta.pushforward(tape, tangents...; param_tangents(meta, tε)...) == both
            @test size(both) == size(out) && eltype(both) == Float64
            largest = max(largest, maximum(abs, got))

            # adjoint to the pullback: ⟨u, jvp(t, tε)⟩ = ⟨vjp(u), t⟩ + Σ tε·grad_ε
            u = random_cotangent(rng, out)
            grads = meta.pullback(tape, u)
            ndiff = length(meta.differentiable)
            terms = [[dotc(grads[k], tangents[k]) for k in 1:ndiff]; [tε[k] * grads[ndiff+k] for k in 1:length(tε)]]
            lhs, rhs = dotc(u, both), sum(terms)
            scale = max(1.0, abs(lhs), sum(abs, terms))
            @test abs(lhs - rhs) <= 1e-10 * scale

            # Float32 against Float64 on the Float32-rounded inputs, tangents and params
            inputs32 = with_reals(x -> Float32.(x), meta, inputs)  # group ids stay integers
            tangents32 = [Float32.(t) for t in tangents]
            kw32 = convert_floats(kw, Float32)
            got32 = meta.jvp(inputs32..., tangents32...; kw32..., param_tangents(meta, Float32.(tε))...)
            want32 = meta.jvp(with_reals(x -> Float64.(x), meta, inputs32)..., map(t -> Float64.(t), tangents32)...;
                convert_floats(kw32, Float64)..., param_tangents(meta, Float64.(Float32.(tε)))...)
            @test eltype(got32) == Float32
            @test close_per_sample(got32, want32; tol = 1e-4, per_row = meta.per_row, floor = 1e-3,
                what = string(label, " Float32 jvp"))

            # one sample as a Vector: the first column's result
            v = meta.jvp([x[:, 1] for x in inputs]..., [t[:, 1] for t in tangents]...; kw..., param_tangents(meta, tε)...)
            @test v == sample(both, 1, meta.per_row)
        end
        @test largest > 1e-2
    end
end

@testset "JVP: items along dims" begin
    rng = MersenneTwister(31)
    n = 5
    for (op, meta) in pairs(OPS)
        kw = dims_kwargs(meta)
        rank = meta.output_rank
        tε = param_tangents(meta, [0.3 for _ in meta.param_grads])
        for (sz, d) in (((3, n), 2), ((3, n, 4), 2), ((n, 3, 4), 1))
            xs = dims_inputs(rng, meta, sz)
            op == :ndcg_loss && (selectdim(xs[2], d, 1) .= 3.0)
            ts = random_tangents(rng, meta, xs)
            if rank >= 2 && d != 1
                @test_throws ArgumentError meta.jvp(xs..., ts...; kw..., dims = d)
                continue
            end
            got = meta.jvp(xs..., ts...; kw..., tε..., dims = d)
            # the same call with the items axis moved first
            _, want_tape = meta.forward([axis_first(x, d) for x in xs]...; kw...)
            want = meta.pushforward(want_tape, [axis_first(t, d) for t in ts]...; tε...)
            @test got == axis_back(want, rank, d)
            rank == 0 && @test size(got) == Tuple(sz[i] for i in 1:length(sz) if i != d)
            _, tape = meta.forward(xs...; kw..., dims = d)
            @test meta.pushforward(tape, ts...; tε..., dims = d) == got
            # adjoint to the pullback in the caller's layout
            u = random_cotangent(rng, got)
            grads = meta.pullback(tape, u)
            lhs = dotc(u, got)
            rhs = sum(dotc(grads[k], ts[k]) for k in 1:length(ts)) +
                sum(Float64[0.3 * grads[length(ts)+k] for k in 1:length(meta.param_grads)])
            @test isapprox(lhs, rhs; rtol = 1e-10, atol = 1e-10)
            # the tape's dims, and tangents in the caller's layout only
            err = try
                meta.pushforward(tape, ts...; dims = d + 1)
                nothing
            catch e
                e
            end
            @test err isa ArgumentError && occursin(string(nameof(meta.pushforward), ": dims = ", d + 1), err.msg)
            wrong = [axis_first(t, d) for t in ts]
            if size(first(wrong)) != sz
                err = try
                    meta.pushforward(tape, wrong...)
                    nothing
                catch e
                    e
                end
                name = first(meta.differentiable)
                @test err isa ArgumentError &&
                      startswith(err.msg, string(op, ": tangent_", name, " must be a real array of the shape of ", name))
            end
        end
    end
end

"""The exception `f()` throws, or nothing."""
thrown(f) = try
    f()
    nothing
catch e
    e
end

@testset "JVP: bad tangents" begin
    rng = MersenneTwister(5)
    for (op, meta) in pairs(OPS)
        kw = dims_kwargs(meta)
        inputs = jvp_inputs(rng, meta, op, 4, 2)
        tangents = random_tangents(rng, meta, inputs)
        for (k, name) in enumerate(meta.differentiable)
            # the wrong size: an ArgumentError naming the op, the tangent and the input's shape
            bad = Any[tangents...]
            bad[k] = randn(rng, 3, 2)
            e = thrown(() -> meta.jvp(inputs..., bad...; kw...))
            @test e isa ArgumentError &&
                  e.msg == string(op, ": tangent_", name, " must be a real array of the shape of ", name, ", [2, 4], got shape [2, 3]")
            bad[k] = fill("x", 4, 2)
            e = thrown(() -> meta.jvp(inputs..., bad...; kw...))
            @test e isa ArgumentError && startswith(e.msg, string(op, ": tangent_", name, " must be a real array"))
            # a NaN: the library's message, its position row-major ([sample, item])
            bad[k] = copy(tangents[k])
            bad[k][3, 2] = NaN
            e = thrown(() -> meta.jvp(inputs..., bad...; kw...))
            @test e isa ArgumentError && e.msg == string(op, ": tangent_", name, "[1, 2] is NaN")
            bad[k][3, 2] = -Inf
            _, tape = meta.forward(inputs...; kw...)
            e = thrown(() -> meta.pushforward(tape, bad...))
            @test e isa ArgumentError && e.msg == string(op, ": tangent_", name, "[1, 2] is -inf")
        end
        for p in meta.param_grads
            e = thrown(() -> meta.jvp(inputs..., tangents...; kw..., Symbol("tangent_", p) => NaN))
            @test e isa ArgumentError && e.msg == string(op, ": tangent_", p, " is NaN")
        end
        # the inputs are checked as by the op itself
        e = thrown(() -> meta.jvp(inputs..., tangents...; kw..., regularization_strength = -1.0))
        @test e isa ArgumentError && startswith(e.msg, string(op, ": regularization_strength"))
    end
end
