# Every case of the reference file through the public API:
# - Float64 against the file (outputs 1e-9 abs + rel; VJPs 1e-7 abs + 1e-9 rel, as ALGORITHMS.md);
# - Float32 against our own Float64 result on the Float32-rounded inputs, params and cotangent
#   (1e-4 relative to the sample's largest magnitude; for losses that scale is at least 1, for
#   gradients at least 1e-4, see below);
# - the first sample as a Vector, which must give the matrix's first column (or loss) exactly.

const REFERENCE = parse_json(read(REFERENCE_PATH, String))

@testset "reference vectors ($(basename(REFERENCE_PATH)))" begin
    @test REFERENCE["format"] == "rank-relax reference vectors v1"
    cases = REFERENCE["cases"]
    @test length(cases) > 0
    seen = Set{Symbol}()
    for (i, case) in enumerate(cases)
        op = Symbol(case["op"])
        push!(seen, op)
        @test haskey(OPS, op)
        haskey(OPS, op) || continue
        meta = OPS[op]
        kw = kwargs_of(case["params"])
        label = string("case ", i, " ", op, " ", case["params"])
        inputs = inputs_of(op, case)
        want = to_julia(case["output"])
        has_vjp = haskey(case, "vjp")
        cot = has_vjp ? to_julia(case["cotangent"]) : nothing

        # Float64 against the file
        out, grads = run_op(op, inputs, kw, cot)
        @test out == meta.fn(inputs...; kw...)
        @test close_to(out, want; atol = 1e-9, rtol = 1e-9, what = string(label, " output"))
        if has_vjp
            for (k, name) in enumerate(meta.differentiable)
                haskey(case["vjp"], String(name)) || continue
                @test close_to(grads[k], to_julia(case["vjp"][String(name)]); atol = 1e-7, rtol = 1e-9,
                    what = string(label, " vjp ", name))
            end
        end

        # Float32 against Float64 on the same rounded inputs
        inputs32 = [Float32.(x) for x in inputs]
        kw32 = Dict{Symbol,Any}(k => (v isa Real ? Float32(v) : v) for (k, v) in kw)
        kw64 = Dict{Symbol,Any}(k => (v isa Real ? Float64(v) : v) for (k, v) in kw32)
        cot32 = cot === nothing ? nothing : Float32.(cot)
        out32, grads32 = run_op(op, inputs32, kw32, cot32)
        out64, grads64 = run_op(op, [Float64.(x) for x in inputs32], kw64, cot32 === nothing ? nothing : Float64.(cot32))
        @test eltype(out32) == Float32
        # A loss is 1 − (a ratio of order 1): its scale is 1, not its own value (often ~1e-16).
        @test close_per_sample(out32, out64; tol = 1e-4, per_row = meta.per_row, floor = meta.per_row ? 1.0 : 0.0,
            what = string(label, " Float32 output"))
        if has_vjp
            for k in 1:length(meta.differentiable)
                @test eltype(grads32[k]) == Float32
                # A floor on the scale for samples whose gradient is 0 in exact arithmetic (n = 2
                # Spearman, saturated sigmoids): there only rounding noise (< 1e-13) is left.
                @test close_per_sample(grads32[k], grads64[k]; tol = 1e-4, per_row = false, floor = 1e-4,
                    what = string(label, " Float32 vjp ", meta.differentiable[k]))
            end
        end

        # the first sample as a Vector
        vinputs = [x[:, 1] for x in inputs]
        vout, vgrads = run_op(op, vinputs, kw, cot === nothing ? nothing : (meta.per_row ? cot[1] : cot[:, 1]))
        @test vout == (meta.per_row ? out[1] : out[:, 1])
        if has_vjp
            vout2, vgrads2 = run_op(op, inputs, kw, cot)
            for k in 1:length(meta.differentiable)
                @test vgrads[k] == vgrads2[k][:, 1]
            end
        end
    end
    @test seen == Set(keys(OPS))  # the file covers every op
end
