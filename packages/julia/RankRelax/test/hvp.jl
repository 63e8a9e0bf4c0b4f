# Second order: `<op>_hvp` and `<op>_pullback_hvp` of every op that has an HVP kernel, every enum
# combination. Float64 against central differences of the pullback (at a fixed cotangent) along the
# tangents of the inputs and of ε, symmetric (⟨t₂, H t₁⟩ = ⟨t₁, H t₂⟩, ε included), Float32 against
# Float64 on rounded inputs; items along another axis (`dims`); bad cotangents and tangents. Uses
# helpers from gradients.jl and jvp.jl.

"""`meta`'s params moved by `s` along the ε tangents `tε`."""
moved_params(meta, kw, tε, s) = merge(kw, Dict{Symbol,Any}(p => kw[p] + s * tε[k] for (k, p) in enumerate(meta.param_grads)))

"""⟨a, b⟩ of two results shaped as the pullback returns them (arrays, then summed numbers)."""
dot_results(a, b) = sum(dotc(x, y) for (x, y) in zip(a, b))

"""The pullback's results as the directions of an HVP: the input parts, then the ε parts."""
split_direction(meta, d) = (collect(d[1:length(meta.differentiable)]), collect(d[length(meta.differentiable)+1:end]))

"""A result as an array (the ε part is a number) for the elementwise comparisons."""
as_array(x) = x isa AbstractArray ? x : [x]

const HVP_OPS = [(op, meta) for (op, meta) in pairs(OPS) if meta.hvp !== nothing]

@testset "HVP: finite differences of the pullback, symmetry, Float32" begin
    @test length(HVP_OPS) >= 6
    rng = MersenneTwister(20261207)
    h = 1e-6
    for (op, meta) in HVP_OPS
        @test meta.pullback_hvp !== nothing && meta.jvp !== nothing
        largest = 0.0  # the checks are not all of zeros
        for combo in enum_combinations(meta), ε in (0.5, 2.0)
            kw = merge(combo, test_params(meta), Dict{Symbol,Any}(:regularization_strength => ε))
            label = string(op, " ", kw)
            inputs = jvp_inputs(rng, meta, op, 5, 3)
            out, tape = meta.forward(inputs...; kw...)
            g = random_cotangent(rng, out)
            tangents = random_tangents(rng, meta, inputs)
            tε = [randn(rng) for _ in meta.param_grads]
            pullback_at(xs, params) = meta.pullback(last(meta.forward(xs...; params...)), g)
            central(fp, fm) = map((a, b) -> (a .- b) ./ 2h, fp, fm)

            # along the input tangents, along ε, then both: each against the pullback's central difference
            got = meta.hvp(inputs..., g, tangents...; kw...)
            fd = central(pullback_at(moved(meta, inputs, tangents, h), kw), pullback_at(moved(meta, inputs, tangents, -h), kw))
            @test length(got) == length(fd) == length(meta.differentiable) + length(meta.param_grads)
            for k in eachindex(got)
                @test close_to(as_array(got[k]), as_array(fd[k]); atol = 1e-6, rtol = 1e-5, what = string(label, " hvp[", k, "] in the inputs"))
            end
            if !isempty(meta.param_grads)
                zero_tangents = [zero(t) for t in tangents]
                got_ε = meta.hvp(inputs..., g, zero_tangents...; kw..., param_tangents(meta, tε)...)
                fd_ε = central(pullback_at(inputs, moved_params(meta, kw, tε, h)), pullback_at(inputs, moved_params(meta, kw, tε, -h)))
                for k in eachindex(got_ε)
                    @test close_to(as_array(got_ε[k]), as_array(fd_ε[k]); atol = 1e-6, rtol = 1e-5, what = string(label, " hvp[", k, "] in ε"))
                end
            end
            both = meta.hvp(inputs..., g, tangents...; kw..., param_tangents(meta, tε)...)
            fd_both = central(pullback_at(moved(meta, inputs, tangents, h), moved_params(meta, kw, tε, h)),
                pullback_at(moved(meta, inputs, tangents, -h), moved_params(meta, kw, tε, -h)))
            for k in eachindex(both)
                @test close_to(as_array(both[k]), as_array(fd_both[k]); atol = 1e-6, rtol = 1e-5, what = string(label, " hvp[", k, "] in both"))
            end
            largest = max(largest, maximum(x -> maximum(abs, x), both))

            # the tape form is the same function, shaped as the pullback's results
            @test meta.pullback_hvp(tape, g, tangents...; param_tangents(meta, tε)...) == both
            grads = meta.pullback(tape, g)
            @test map(size, both) == map(size, grads) && all(x -> eltype(x) == Float64, both)

            # symmetric: ⟨t₂, H t₁⟩ = ⟨t₁, H t₂⟩ with t = (input tangents, ε tangent)
            tangents2 = random_tangents(rng, meta, inputs)
            tε2 = [randn(rng) for _ in meta.param_grads]
            other = meta.hvp(inputs..., g, tangents2...; kw..., param_tangents(meta, tε2)...)
            lhs = dot_results(both, (tangents2..., tε2...))
            rhs = dot_results(other, (tangents..., tε...))
            @test abs(lhs - rhs) <= 1e-9 * max(1.0, abs(lhs))

            # Float32 against Float64 on the Float32-rounded inputs, cotangent, tangents and params
            inputs32 = with_reals(x -> Float32.(x), meta, inputs)  # group ids stay integers
            g32 = Float32.(g)
            tangents32 = [Float32.(t) for t in tangents]
            kw32 = convert_floats(kw, Float32)
            got32 = meta.hvp(inputs32..., g32, tangents32...; kw32..., param_tangents(meta, Float32.(tε))...)
            want32 = meta.hvp(with_reals(x -> Float64.(x), meta, inputs32)..., Float64.(g32), map(t -> Float64.(t), tangents32)...;
                convert_floats(kw32, Float64)..., param_tangents(meta, Float64.(Float32.(tε)))...)
            @test all(x -> eltype(x) == Float32, got32)
            for k in eachindex(got32)
                @test close_per_sample(as_array(got32[k]), as_array(want32[k]); tol = 2e-3, per_row = !(want32[k] isa AbstractArray), floor = 1e-2,
                    what = string(label, " Float32 hvp[", k, "]"))
            end

            # one sample as a Vector: the first column's result
            v = meta.hvp([x[:, 1] for x in inputs]..., sample(g, 1, meta.per_row), [t[:, 1] for t in tangents]...; kw...)
            @test all(v[k] ≈ got[k][:, 1] for k in 1:length(meta.differentiable))
        end
        @test largest > 1e-2
    end
end

@testset "HVP: items along dims" begin
    rng = MersenneTwister(37)
    n = 5
    for (op, meta) in HVP_OPS
        kw = dims_kwargs(meta)
        rank = meta.output_rank
        tε = param_tangents(meta, [0.3 for _ in meta.param_grads])
        for (sz, d) in (((3, n), 2), ((3, n, 4), 2), ((n, 3, 4), 1))
            xs = dims_inputs(rng, meta, sz)
            op == :ndcg_loss && (selectdim(xs[2], d, 1) .= 3.0)
            ts = random_tangents(rng, meta, xs)
            if rank >= 2 && d != 1
                @test_throws ArgumentError meta.hvp(xs..., randn(rng, sz...), ts...; kw..., dims = d)
                continue
            end
            out, tape = meta.forward(xs...; kw..., dims = d)
            g = random_cotangent(rng, out)
            got = meta.hvp(xs..., g, ts...; kw..., tε..., dims = d)
            @test meta.pullback_hvp(tape, g, ts...; tε..., dims = d) == got
            # the same call with the items axis moved first (a loss's cotangent has no items axis)
            _, want_tape = meta.forward([axis_first(x, d) for x in xs]...; kw...)
            want_g = rank == 0 ? g : axis_first(g, d)
            want = meta.pullback_hvp(want_tape, want_g, [axis_first(t, d) for t in ts]...; tε...)
            for k in eachindex(got)
                @test got[k] == (want[k] isa AbstractArray ? axis_back(want[k], 1, d) : want[k])
            end
            @test size(got[1]) == sz
            err = thrown(() -> meta.pullback_hvp(tape, g, ts...; dims = d + 1))
            @test err isa ArgumentError && occursin(string(nameof(meta.pullback_hvp), ": dims = ", d + 1), err.msg)
        end
    end
end

@testset "HVP: bad cotangents and tangents" begin
    rng = MersenneTwister(9)
    for (op, meta) in HVP_OPS
        kw = dims_kwargs(meta)
        inputs = jvp_inputs(rng, meta, op, 4, 2)
        out, tape = meta.forward(inputs...; kw...)
        g = random_cotangent(rng, out)
        tangents = random_tangents(rng, meta, inputs)
        # a NaN cotangent: the library's message (op and argument)
        bad_g = copy(g)
        bad_g[end] = NaN
        e = thrown(() -> meta.hvp(inputs..., bad_g, tangents...; kw...))
        @test e isa ArgumentError && startswith(e.msg, string(op, ": cotangent_", meta.output)) && endswith(e.msg, "is NaN")
        # the cotangent of the wrong size
        e = thrown(() -> meta.pullback_hvp(tape, randn(rng, 7), tangents...))
        @test e isa ArgumentError && startswith(e.msg, string(op, ": ", meta.output, " has shape ")) &&
              occursin(string(" but cotangent_", meta.output, " has shape [7]"), e.msg)
        for (k, name) in enumerate(meta.differentiable)
            bad = Any[tangents...]
            bad[k] = randn(rng, 3, 2)
            e = thrown(() -> meta.hvp(inputs..., g, bad...; kw...))
            @test e isa ArgumentError &&
                  e.msg == string(op, ": tangent_", name, " must be a real array of the shape of ", name, ", [2, 4], got shape [2, 3]")
            bad[k] = copy(tangents[k])
            bad[k][3, 2] = NaN
            e = thrown(() -> meta.hvp(inputs..., g, bad...; kw...))
            @test e isa ArgumentError && e.msg == string(op, ": tangent_", name, "[1, 2] is NaN")
            bad[k][3, 2] = Inf
            e = thrown(() -> meta.pullback_hvp(tape, g, bad...))
            @test e isa ArgumentError && e.msg == string(op, ": tangent_", name, "[1, 2] is +inf")
        end
        for p in meta.param_grads
            e = thrown(() -> meta.hvp(inputs..., g, tangents...; kw..., Symbol("tangent_", p) => NaN))
            @test e isa ArgumentError && e.msg == string(op, ": tangent_", p, " is NaN")
        end
        e = thrown(() -> meta.hvp(inputs..., g, tangents...; kw..., regularization_strength = -1.0))
        @test e isa ArgumentError && startswith(e.msg, string(op, ": regularization_strength"))
    end
end
