# soft_rank_grouped, the op with an int32 input (`groups`, group ids): the replay of its reference
# file (RANK_RELAX_REFERENCE_GROUPED, default testdata/reference/soft-rank-grouped.json) in Float64
# against the file and in Float32 against our own Float64 result on the rounded inputs, masked cases
# included; its meaning (each group is soft_rank of the row holding only it, whatever the ids); the
# integer arrays it takes (Int32 without a copy, Int64 — Julia's default — and the others converted,
# the same result) and those it refuses, in every form; items along another axis. The table-driven
# files (gradients, JVP, HVP, masks, rules, bad input) cover it with the other ops.

const GROUPED_REFERENCE = let p = get(ENV, "RANK_RELAX_REFERENCE_GROUPED", "")
    isempty(p) ? joinpath(REPO_ROOT, "testdata", "reference", "soft-rank-grouped.json") : p
end

"""The exception `f()` throws (nothing if none)."""
grouped_error(f) = try
    f()
    nothing
catch e
    e
end

"""Whether `f()` throws an ArgumentError whose message is `msg`."""
refused_with(f, msg) = (e = grouped_error(f); e isa ArgumentError && e.msg == msg)

@testset "reference vectors ($(basename(GROUPED_REFERENCE)))" begin
    @test isfile(GROUPED_REFERENCE)
    if isfile(GROUPED_REFERENCE)
        reference = parse_json(read(GROUPED_REFERENCE, String))
        @test reference["format"] == "rank-relax reference vectors v1"
        cases = reference["cases"]
        @test length(cases) > 0
        # the file covers every op with an int32 input
        @test Set(Symbol(c["op"]) for c in cases) == Set(op for (op, meta) in pairs(OPS) if !isempty(meta.int_inputs))
        nmasked = 0
        for (i, case) in enumerate(cases)
            op = Symbol(case["op"])
            meta = OPS[op]
            kw = merge(kwargs_of(case["params"]), optional_of(op, case))
            nmasked += haskey(kw, :mask)
            label = string(basename(GROUPED_REFERENCE), " case ", i, " ", op, " ", case["params"], haskey(kw, :mask) ? " masked" : "")
            inputs = inputs_of(op, case)
            @test all(x -> eltype(x) == Int32, inputs[[k for (k, name) in enumerate(meta.inputs) if name in meta.int_inputs]])
            output = first(meta.cotangents)
            want = to_julia(case["outputs"][String(output)])
            cot = to_julia(case["cotangents"][String(output)])

            # Float64 against the file: the output, the VJP, the ε-gradient (summed over the rows)
            out, grads = run_op(op, inputs, kw, cot)
            @test out == meta.fn(inputs...; kw...)
            @test close_to(out, want; atol = 1e-9, rtol = 1e-9, what = string(label, " ", output))
            for (k, name) in enumerate(meta.differentiable)
                @test close_to(grads[k], to_julia(case["vjp"][String(name)]); atol = 1e-7, rtol = 1e-9,
                    what = string(label, " vjp ", name))
            end
            for (k, name) in enumerate(meta.param_grads)
                per_row = to_julia(case[string("grad_", name)])
                @test close_to([grads[length(meta.differentiable)+k]], [sum(per_row)];
                    atol = 1e-7 * length(per_row), rtol = 1e-9, what = string(label, " grad_", name))
            end

            # the ids as Int64 (Julia's default integers): the same call, bit for bit
            inputs64 = [name in meta.int_inputs ? Int64.(x) : x for (name, x) in zip(meta.inputs, inputs)]
            out64, grads64 = run_op(op, inputs64, kw, cot)
            @test isequal(out64, out) && isequal(grads64, grads)

            # Float32 against Float64 on the same rounded inputs (the ids are integers in both)
            inputs32 = with_reals(x -> Float32.(x), meta, inputs)
            kw32 = convert_floats(kw, Float32)
            out32, grads32 = run_op(op, inputs32, kw32, Float32.(cot))
            want32, wgrads32 = run_op(op, with_reals(x -> Float64.(x), meta, inputs32), convert_floats(kw32, Float64),
                Float64.(Float32.(cot)))
            @test eltype(out32) == Float32
            @test close_per_sample(out32, want32; tol = 1e-4, per_row = false, what = string(label, " Float32 ", output))
            for k in 1:length(meta.differentiable)
                @test eltype(grads32[k]) == Float32
                @test close_per_sample(grads32[k], wgrads32[k]; tol = 1e-4, per_row = false, floor = 1e-4,
                    what = string(label, " Float32 vjp ", meta.differentiable[k]))
            end

            # the first sample as a Vector; the samples as rows (items along dims = 2)
            vkw = Dict{Symbol,Any}(k => (k in meta.optional ? v[:, 1] : v) for (k, v) in kw)
            vout, vgrads = run_op(op, [x[:, 1] for x in inputs], vkw, cot[:, 1])
            @test vout == out[:, 1] && all(k -> vgrads[k] == grads[k][:, 1], 1:length(meta.differentiable))
            rkw = Dict{Symbol,Any}(k => (k in meta.optional ? permutedims(v) : v) for (k, v) in kw)
            rout, rtape = meta.forward(map(permutedims, inputs)...; rkw..., dims = 2)
            @test rout == permutedims(out)
            @test meta.pullback(rtape, permutedims(cot)) == (map(permutedims, grads[1:length(meta.differentiable)])...,
                grads[length(meta.differentiable)+1:end]...)
        end
        @test nmasked > 0
    end
end

@testset "soft_rank_grouped: each group is soft_rank of the row holding only it" begin
    rng = MersenneTwister(2027)
    for T in (Float64, Float32), regularization in (:l2, :kl), direction in (:ascending, :descending)
        kw = (regularization_strength = 0.4, regularization = regularization, direction = direction)
        x = T.(randn(rng, 9, 4))
        g = rand(rng, Int32[typemin(Int32), -1, 0, 5, typemax(Int32)], 9, 4)
        g[:, 4] .= 7  # one group: soft_rank itself
        r, tape = soft_rank_grouped_forward(x, g; kw...)
        c = T.(randn(rng, 9, 4))
        grad, gε = soft_rank_grouped_pullback(tape, c)
        ε_sum = zero(T)
        for j in 1:4, id in unique(g[:, j])
            members = findall(==(id), g[:, j])
            want, want_tape = soft_rank_forward(x[members, j]; kw...)
            @test r[members, j] ≈ want
            wgrad, wε = soft_rank_pullback(want_tape, c[members, j])
            @test grad[members, j] ≈ wgrad
            ε_sum += wε
        end
        @test isapprox(gε, ε_sum; rtol = T === Float64 ? 1e-12 : 1e-4)
        @test r[:, 4] == soft_rank(x[:, 4]; kw...)
        # ids are labels: any relabelling that keeps which items share an id gives the same result
        # (bit for bit), 0-based or 1-based, negative or the Int32 extremes; no shift is applied
        for relabel in (v -> v == typemax(Int32) ? Int32(-3) : v, v -> ~v, v -> v == 0 ? typemin(Int32) : v == typemin(Int32) ? Int32(0) : v)
            h = map(relabel, g)
            @test soft_rank_grouped(x, h; kw...) == r
        end
        # all ids distinct: every item alone, rank 1 and no gradient
        solo = reshape(Int32.(1:36), 9, 4)
        @test soft_rank_grouped(x, solo; kw...) == ones(T, 9, 4)
        @test first(soft_rank_grouped_pullback(last(soft_rank_grouped_forward(x, solo; kw...)), c)) == zeros(T, 9, 4)
    end
end

@testset "soft_rank_grouped: the integer arrays it takes" begin
    rng = MersenneTwister(2028)
    x = randn(rng, 6, 3)
    g32 = rand(rng, Int32[-2, 0, 9], 6, 3)
    want = soft_rank_grouped(x, g32; regularization_strength = 0.3)
    # an Array{Int32} goes to the library as it is; other integer arrays are copied into one
    @test RankRelax._rr_ints("soft_rank_grouped", "groups", g32) === g32
    for g in (Int64.(g32), Int16.(g32), Int8.(g32), BigInt.(g32), view(vcat(g32, g32), 1:6, :), transpose(permutedims(g32)),
              Integer[v for v in g32], Union{Int32,Int64}[v for v in g32])
        converted = RankRelax._rr_ints("soft_rank_grouped", "groups", g)
        @test converted isa Matrix{Int32} && converted == g32 && converted !== g
        @test soft_rank_grouped(x, g; regularization_strength = 0.3) == want
    end
    @test soft_rank_grouped(x, UInt8.(g32 .+ 2); regularization_strength = 0.3) == want  # unsigned, relabelled
    @test soft_rank_grouped(x[:, 1], 1:6) == ones(6)  # a range: every item its own group
    @test soft_rank_grouped(Float32.(x), g32) isa Matrix{Float32}  # the ids do not decide the float type
    @test soft_rank_grouped(Int32.(round.(x .* 10)), g32) isa Matrix{Float64}
    # the extremes of Int32 are ids like any other, in any integer type
    ext = Int64[typemin(Int32), typemax(Int32), typemin(Int32), 0, typemax(Int32), 0]
    @test soft_rank_grouped(x[:, 1], ext) == soft_rank_grouped(x[:, 1], Int32[1, 2, 1, 3, 2, 3])

    # the tape keeps the values, the mask and the ranks, never the ids (only the forward reads them)
    @test !(:groups in fieldnames(SoftRankGroupedTape))
    out, tape = soft_rank_grouped_forward(x, g32)
    @test tape.values === x
    # forward! in the arrays of that tape, with other ids (of another integer type)
    h = rand(rng, -1:1, 6, 3)
    out2, tape2 = soft_rank_grouped_forward!(tape, x, h)
    @test out2 === out && out2 == soft_rank_grouped(x, h)
    c = randn(rng, 6, 3)
    @test soft_rank_grouped_pullback(tape2, c) == soft_rank_grouped_pullback(last(soft_rank_grouped_forward(x, h)), c)
    @test refused_with(() -> soft_rank_grouped_forward!(tape, x, h[1:5, :]),
        "soft_rank_grouped_forward!: groups has shape [3, 5] but the tape is for shape [3, 6]")
    # the JVP and the HVP take the ids like the op
    t = randn(rng, 6, 3)
    @test soft_rank_grouped_jvp(x, Int64.(g32), t) == soft_rank_grouped_jvp(x, g32, t) ==
          soft_rank_grouped_pushforward(last(soft_rank_grouped_forward(x, g32)), t)
    @test soft_rank_grouped_hvp(x, Int64.(g32), c, t) == soft_rank_grouped_hvp(x, g32, c, t)
end

@testset "soft_rank_grouped: ids it refuses, named, in every form" begin
    x = [0.5, -1.0, 2.0, 0.25]
    v, c, t = x, ones(4), ones(4)
    _, tape = soft_rank_grouped_forward(x, Int32[0, 0, 1, 1])
    forms = (
        g -> soft_rank_grouped(v, g),
        g -> soft_rank_grouped(v, g, 0.5),
        g -> soft_rank_grouped_forward(v, g),
        g -> soft_rank_grouped_forward!(tape, v, g),
        g -> soft_rank_grouped_jvp(v, g, t),
        g -> soft_rank_grouped_hvp(v, g, c, t),
        g -> soft_rank_grouped(v, g; dims = 1),
        g -> soft_rank_grouped(reshape(v, 1, 4), reshape(g isa AbstractArray ? g : [g], 1, :); dims = 2),
    )
    not_ints(got) = string("soft_rank_grouped: groups must be an array of integers, got ", got)
    for (g, msg) in (
            ([0.0, 0.0, 1.0, 1.0], not_ints("an array of float64")),  # integral floats too
            (Float32[0, 0, 1, 1], not_ints("an array of float32")),
            (Bool[0, 0, 1, 1], not_ints("an array of bool")),          # Bool <: Integer, yet not ids
            (BitVector([0, 0, 1, 1]), not_ints("an array of bool")),
            (Any[0, 0, 1, 1], not_ints("an array of Any")),
            ([0, 0, 2^31, 1], "soft_rank_grouped: groups holds 2147483648, which does not fit in int32"),
            ([0, -2^31 - 1, 0, 1], "soft_rank_grouped: groups holds -2147483649, which does not fit in int32"),
            (UInt64[0, 0, typemax(UInt64), 1], "soft_rank_grouped: groups holds 18446744073709551615, which does not fit in int32"),
            (Integer[0, true, 1, 1], not_ints("an array of Integer")))
        for f in forms[1:7]
            @test refused_with(() -> f(g), msg)
        end
        @test refused_with(() -> forms[8](g), msg)
    end
    @test refused_with(() -> soft_rank_grouped(v, "0011"), not_ints("a string"))
    @test refused_with(() -> soft_rank_grouped(v, 3), not_ints("an integer (3)"))
    @test refused_with(() -> soft_rank_grouped_jvp(v, nothing, t), not_ints("nothing"))
    # the values are named first, as by every op
    @test refused_with(() -> soft_rank_grouped(["a"], [1.5]),
        "soft_rank_grouped: values must be an array of float32 or float64, got an array of String")
    # the shapes: the ids must be of the values' size, in either layout
    @test refused_with(() -> soft_rank_grouped(rand(3, 2), Int32[0 1 0; 1 1 0]),
        "soft_rank_grouped: values has shape [2, 3] but groups has shape [3, 2]")
    @test refused_with(() -> soft_rank_grouped(rand(2, 3), zeros(Int, 2, 4); dims = 2),
        "soft_rank_grouped: values has shape [3, 2] but groups has shape [4, 2]")
    # with good ids, a call that matches no method is still Julia's MethodError
    @test grouped_error(() -> soft_rank_grouped(v, [0, 0, 1, 1], 0.5, 1)) isa MethodError
    @test grouped_error(() -> soft_rank_grouped_forward!(:tape, v, [0, 0, 1, 1])) isa MethodError
    @test grouped_error(() -> soft_rank_grouped_hvp(v, [0, 0, 1, 1], c)) isa MethodError
    @test refused_with(() -> soft_rank_grouped_jvp(v, [0, 0, 1, 1], "t"),
        "soft_rank_grouped: tangent_values must be a real array of the shape of values, [4], got String")
end

@testset "soft_rank_grouped: ids along another axis (dims) move with the values" begin
    rng = MersenneTwister(2029)
    x = randn(rng, 4, 7, 3)  # the items along dims = 2
    g = rand(rng, -1:1, 4, 7, 3)
    mask = rand(rng, Bool, 4, 7, 3)
    first_axis(a) = permutedims(a, (2, 1, 3))
    want, want_tape = soft_rank_grouped_forward(first_axis(x), first_axis(g); regularization_strength = 0.6, mask = first_axis(mask))
    got, tape = soft_rank_grouped_forward(x, g; regularization_strength = 0.6, mask = mask, dims = 2)
    @test got == first_axis(want)
    c = randn(rng, 4, 7, 3)
    @test first(soft_rank_grouped_pullback(tape, c)) == first_axis(first(soft_rank_grouped_pullback(want_tape, first_axis(c))))
    # items along the first axis of a 3-d array: the n × B call on the same memory, Int32 ids as they are
    g32 = Int32.(first_axis(g))
    @test soft_rank_grouped(first_axis(x), g32; regularization_strength = 0.6) ==
          reshape(soft_rank_grouped(reshape(first_axis(x), 7, :), reshape(g32, 7, :); regularization_strength = 0.6), 7, 4, 3)
end
