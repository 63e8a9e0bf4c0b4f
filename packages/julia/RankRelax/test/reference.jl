# Every case of the reference files (REFERENCE_PATHS) through the public API:
# - Float64 against the file (outputs 1e-9 abs + rel; VJPs 1e-7 abs + 1e-9 rel, as ALGORITHMS.md;
#   the ε-gradient, where a case lists it per row, against the pullback's sum of it);
# - Float32 against our own Float64 result on the Float32-rounded inputs, params and cotangent
#   (1e-4 relative to the sample's largest magnitude; for losses that scale is at least 1, for
#   gradients at least 1e-4, see below);
# - the first sample as a Vector, which must give the first sample of the batch's result exactly.
# A case's optional inputs (masks.json's `mask`) are keywords, the same in every dtype.

"""A keyword Dict with its floats (and lists of floats) converted by `f`; ints, enums and masks as they are."""
convert_floats(kw, f) = Dict{Symbol,Any}(k => (v isa AbstractFloat ? f(v) : v isa AbstractVector{<:AbstractFloat} ? f.(v) : v) for (k, v) in kw)

const REFERENCE_OPS_SEEN = Set{Symbol}()
for path in REFERENCE_PATHS
    reference = parse_json(read(path, String))
    @testset "reference vectors ($(basename(path)))" begin
        @test reference["format"] == "rank-relax reference vectors v1"
        cases = reference["cases"]
        @test length(cases) > 0
        for (i, case) in enumerate(cases)
            op = Symbol(case["op"])
            push!(REFERENCE_OPS_SEEN, op)
            @test haskey(OPS, op)
            haskey(OPS, op) || continue
            meta = OPS[op]
            kw = merge(kwargs_of(case["params"]), optional_of(op, case))
            label = string(basename(path), " case ", i, " ", op, " ", case["params"])
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
                for (k, name) in enumerate(meta.param_grads)
                    key = string("grad_", name)
                    haskey(case, key) || continue
                    per_row = to_julia(case[key])
                    @test close_to([grads[length(meta.differentiable)+k]], [sum(per_row)];
                        atol = 1e-7 * length(per_row), rtol = 1e-9, what = string(label, " ", key))
                end
            end

            # Float32 against Float64 on the same rounded inputs
            inputs32 = with_reals(x -> Float32.(x), meta, inputs)
            kw32 = convert_floats(kw, Float32)  # a mask (of Bool) as it is
            kw64 = convert_floats(kw32, Float64)
            cot32 = cot === nothing ? nothing : Float32.(cot)
            out32, grads32 = run_op(op, inputs32, kw32, cot32)
            out64, grads64 = run_op(op, with_reals(x -> Float64.(x), meta, inputs32), kw64, cot32 === nothing ? nothing : Float64.(cot32))
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
            vkw = Dict{Symbol,Any}(k => (k in meta.optional ? v[:, 1] : v) for (k, v) in kw)
            vout, vgrads = run_op(op, vinputs, vkw, cot === nothing ? nothing : sample(cot, 1, meta.per_row))
            @test vout == sample(out, 1, meta.per_row)
            if has_vjp
                for k in 1:length(meta.differentiable)
                    @test vgrads[k] == grads[k][:, 1]
                end
            end
        end
    end
end
# the files cover every op; those with several outputs (outputs.jl) and those with int32 inputs
# (grouped.jl) have their own file
@test REFERENCE_OPS_SEEN == Set(op for (op, meta) in pairs(OPS) if !haskey(meta, :raw) && isempty(meta.int_inputs))
