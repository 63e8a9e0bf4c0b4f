# The shared bad-input matrix (testdata/bad-input.json; format in testdata/README.md): every case
# tagged "julia", once per dtype it lists, through the public API (the op itself for pass
# "forward"; `<op>_forward` then `<op>_pullback` with the cotangent for pass "backward"; the `!`
# forms for a case with an `alias`, see `bi_alias_call`).
#
# Julia layout: the matrix's row-major [d0, d1, …] tensors are Julia arrays of size (…, d1, d0) with
# the same memory, so [B][n] rows become the columns of an n × B matrix (and the core's messages,
# which write shapes and positions row-major, apply unchanged). A TENSOR of JSON booleans (nested
# lists, or a fill true/false with `set`s), the mask, is an Array{Bool} passed as the keyword of
# that optional input; other optional inputs are keywords too. An int32 input (group ids) is read as
# integers (never through the case's float dtype) and passed as an Int32 array, unless the case casts
# it (to float64, bool, int64, …: from its integer values). Views (the README's definitions,
# read in that layout): "transpose" = `transpose` of a contiguous B × n array; "reverse" =
# `view(R, n:-1:1, :)` of a contiguous R holding each column reversed (a negative stride); "step" =
# `view(S, 1:2:2n, :)` of a contiguous 2n × B array. Casts: int32/int64 truncate like NumPy's
# astype, bool is `x != 0`, complex128 is `ComplexF64`, float64/float32 convert (a mask: 0 or 1). A 0-d input is a zero-dimensional Array.
#
# Expectations: every error (the core's, and the API's own from the spec's message table) →
# ArgumentError whose message equals the case's text ("contains": every fragment, a form no case uses).
# RankRelaxError (a panic or NULL status) or any other exception fails the case. `ok` → no
# exception, no NaN anywhere, and the listed checks. `overrides.julia` replaces `expect`.

const BAD_INPUT_PATH = let p = get(ENV, "RANK_RELAX_BAD_INPUT", "")
    isempty(p) ? joinpath(REPO_ROOT, "testdata", "bad-input.json") : p
end

"""A NUMBER of the matrix: a number or "nan", "inf", "-inf"."""
function bi_number(x)
    x isa AbstractString || return Float64(x)
    x == "nan" && return NaN
    x == "inf" && return Inf
    x == "-inf" && return -Inf
    error("bad-input: not a number: ", repr(x))
end

"""
A param as the case gives it, rounded to `T` where it is real: a float (or "nan", …) → `T`; a list
of NUMBERs → `Vector{T}`; integers (int params), enum names, and values of a wrong type as they are.
"""
function bi_param(v, ::Type{T}) where {T}
    is_number(x) = (x isa Real && !(x isa Bool)) || x in ("nan", "inf", "-inf")
    v isa AbstractFloat && return T(v)
    v isa AbstractString && is_number(v) && return T(bi_number(v))
    v isa Vector && all(is_number, v) && return T[T(bi_number(x)) for x in v]
    return v
end

"""Element i (0-based, flat row-major) of a FILL, computed in integers then converted."""
function bi_fill(fill, i::Int)
    fill == "ramp" && return (mod(7i + 3, 11) - 4) / 4
    fill == "grades" && return Float64(mod(3i + 1, 4))
    return bi_number(fill)
end

"""Whether a TENSOR holds JSON booleans (a mask): its fill, or its first leaf."""
function bi_is_bool(t)
    t isa Dict && return t["fill"] isa Bool
    while t isa Vector && !isempty(t)
        t = t[1]
    end
    return t isa Bool
end

"""A TENSOR of booleans as an Array{Bool}, its dims reversed as for `bi_tensor`."""
function bi_bool_tensor(t)
    if t isa Dict
        a = fill(t["fill"]::Bool, Tuple(reverse(Int.(t["shape"]))))
        for s in get(t, "set", Any[])
            a[reverse(Int.(s["at"]) .+ 1)...] = s["value"]::Bool
        end
        return a
    end
    return convert(Array{Bool}, bi_tensor(t) .!= 0)
end

"""A TENSOR as a Float64 Julia array (dims reversed: [B][n] → n × B, [B][n][n] → n × n × B, [L] → Vector, number → 0-d)."""
function bi_tensor(t)
    if t isa Dict
        shape = Int.(t["shape"])
        a = Array{Float64}(undef, Tuple(reverse(shape)))
        for i in 0:length(a)-1
            a[i+1] = bi_fill(t["fill"], i)
        end
        for s in get(t, "set", Any[])
            at = Int.(s["at"]) .+ 1
            a[reverse(at)...] = bi_number(s["value"])
        end
        return a
    elseif t isa Vector
        # nested lists, row-major: the same memory order as the reversed dims
        return nested_array(Float64, v -> v isa Bool ? Float64(v) : bi_number(v), t)
    else
        return fill(bi_number(t))  # a 0-d array
    end
end

"""
A TENSOR of integers (an int32 input: group ids) as an Int64 Julia array, dims reversed as for
`bi_tensor`: the JSON integers as they are (a fill or a set must be an integer too). Int64, so that a
value outside Int32 survives to a `cast` to int64; the runner makes it Int32 otherwise.
"""
function bi_int_tensor(t)
    t isa Dict && return map(x -> Int64(x), bi_tensor(t))  # an InexactError for a non-integer fill
    t isa Vector || return fill(Int64(t::Integer))
    return nested_array(Int64, v -> Int64(v::Integer), t)
end

"""`a` (of the case's dtype) as the non-contiguous view `kind` whose values are `a`."""
function bi_view(a::AbstractMatrix, kind::String)
    n, b = size(a)
    if kind == "transpose"
        return transpose(collect(transpose(a)))
    elseif kind == "reverse"
        r = a[n:-1:1, :]
        return view(r, n:-1:1, :)
    elseif kind == "step"
        s = zeros(eltype(a), 2n, b)
        s[1:2:2n, :] = a
        return view(s, 1:2:2n, :)
    end
    error("bad-input: unknown view ", kind)
end

function bi_cast(a::AbstractArray, to::String)
    to == "float64" && return map(Float64, a)
    to == "float32" && return map(Float32, a)
    to == "int32" && return map(x -> Int32(trunc(x)), a)
    to == "int64" && return map(x -> Int64(trunc(x)), a)
    to == "bool" && return map(x -> x != 0, a)
    to == "complex128" && return map(ComplexF64, a)
    to == "float16" && return map(Float16, a)
    error("bad-input: unknown cast ", to)
end

"""The default cotangent: ones of the output's shape (a number for a per-row output of a Vector)."""
ones_like(out::Real) = one(out)
ones_like(out::AbstractArray) = ones(eltype(out), size(out))

"""Calls the case through the public API: (output, gradients or nothing); `cot` nothing = ones."""
function bi_call(meta, pass::String, inputs, kw, cot)
    if pass == "forward"
        return meta.fn(inputs...; kw...), nothing
    end
    out, tape = meta.forward(inputs...; kw...)
    return out, meta.pullback(tape, cot === nothing ? ones_like(out) : cot)
end

"""
A case with an `alias` [WRITTEN, OTHER, OFFSET?] (C ABI names) through the `!` forms, which hand the
caller's arrays to the library as they are. Pass "forward": `<op>_forward!(tape, inputs…)` of a
tape of the same inputs, with the input OTHER replaced by the tape's array WRITTEN (the op's output:
the two of one size, OFFSET 0). Pass "backward": `<op>_pullback!(grads…, tape, cotangent)` with the
gradient WRITTEN (`grad_<input>`) an Array over the memory of OTHER (an input, `cotangent_<output>`
or another gradient) from its element OFFSET: OTHER itself when OFFSET is 0 and the sizes agree,
else `unsafe_wrap`s of one block that holds both (OTHER's values copied in).
"""
function bi_alias_call(meta, pass::String, inputs, kw, cot, alias, ::Type{T}) where {T}
    written, other = String(alias[1]), String(alias[2])
    offset = length(alias) > 2 ? Int(alias[3]) : 0
    out, tape = meta.forward(inputs...; kw...)
    cot === nothing && (cot = ones_like(out))
    if pass == "forward"
        k = findfirst(==(Symbol(other)), meta.inputs)
        (k === nothing || Symbol(written) != meta.output || offset != 0) &&
            error("bad-input: alias ", alias, " is not an output over an input")
        args = Any[inputs...]
        args[k] = getproperty(tape, meta.output)
        size(args[k]) == size(inputs[k]) || error("bad-input: alias ", alias, ": the output is not the input's size")
        return meta.forward_into(tape, args...; kw...)[1], nothing
    end
    arrays = Dict{String,Any}(String(name) => x for (name, x) in zip(meta.inputs, inputs))
    arrays[string("cotangent_", meta.output)] = cot
    grads = [string("grad_", name) for name in meta.differentiable]
    for (g, name) in zip(grads, meta.differentiable)
        arrays[g] = Array{T}(undef, size(arrays[String(name)]))
    end
    (haskey(arrays, written) && haskey(arrays, other)) || error("bad-input: alias ", alias, " names an unknown buffer")
    w, o = arrays[written], arrays[other]
    block = T[]
    if offset == 0 && size(w) == size(o)
        arrays[written] = o
    else
        block = zeros(T, max(length(o), offset + length(w)))
        copyto!(block, 1, o, 1, length(o))
        arrays[other] = unsafe_wrap(Array, pointer(block), size(o))
        arrays[written] = unsafe_wrap(Array, pointer(block, offset + 1), size(w))
    end
    GC.@preserve block begin
        result = meta.pullback_into((arrays[g] for g in grads)..., tape, arrays[string("cotangent_", meta.output)])
        return out, map(copy, result)
    end
end

as_array(x) = x isa AbstractArray ? x : [x]  # a loss of a Vector input is a number

function bi_close(got, want, tol)
    got = as_array(got)
    size(got) == size(want) || return string("size ", size(got), " ≠ ", size(want))
    for i in eachindex(got, want)
        g, w = Float64(got[i]), want[i]
        abs(g - w) <= tol * (1 + abs(w)) || return string("element ", i, ": got ", g, ", want ", w)
    end
    return ""
end

all_results(out, grads) = vcat(Float64.(vec(as_array(out))),
    grads === nothing ? Float64[] : reduce(vcat, [Float64.(vec(as_array(g))) for g in grads]; init = Float64[]))

"""Runs one case in one dtype; "" if it behaved as expected, else what went wrong."""
function bi_run(case::Dict, dtype::String)
    op = Symbol(case["op"])
    haskey(OPS, op) || return string("unknown op ", op)
    meta = OPS[op]
    T = dtype == "float32" ? Float32 : Float64
    pass = get(case, "pass", "forward")
    expect = get(get(case, "overrides", Dict{String,Any}()), "julia", case["expect"])

    # inputs in the op's order, rounded to T (an int32 input: Int32 ids, read as integers), then cast or viewed
    contiguous = Any[]
    for name in meta.inputs
        haskey(case["inputs"], String(name)) || return string("no input ", name)
        t = case["inputs"][String(name)]
        if name in meta.int_inputs
            # kept as Int64 where the case casts it (a value outside Int32 is the point of some cases)
            a = bi_int_tensor(t)
            push!(contiguous, haskey(get(case, "cast", Dict()), String(name)) ? a : convert(Array{Int32}, a))
        else
            push!(contiguous, convert(Array{T}, bi_tensor(t)))
        end
    end
    inputs = Any[]
    for (name, a) in zip(meta.inputs, contiguous)
        key = String(name)
        if haskey(get(case, "cast", Dict()), key)
            a = bi_cast(a, case["cast"][key])
        elseif haskey(get(case, "view", Dict()), key)
            a = bi_view(a, case["view"][key])
        end
        push!(inputs, a)
    end
    kw = Dict{Symbol,Any}()
    # optional inputs the case gives: keywords (a boolean TENSOR an Array{Bool}), cast or viewed likewise
    for name in meta.optional
        key = String(name)
        haskey(case["inputs"], key) || continue
        t = case["inputs"][key]
        a = bi_is_bool(t) ? bi_bool_tensor(t) : convert(Array{T}, bi_tensor(t))
        if haskey(get(case, "cast", Dict()), key)
            a = bi_cast(a, case["cast"][key])
        elseif haskey(get(case, "view", Dict()), key)
            a = bi_view(a, case["view"][key])
        end
        kw[name] = a
    end
    for (k, v) in get(case, "params", Dict{String,Any}())
        kw[Symbol(k)] = bi_param(v, T)
    end
    # a cotangent of ones of the output's shape unless the case gives one (the calls make it)
    cot = pass == "backward" && haskey(case, "cotangent") ? convert(Array{T}, bi_tensor(case["cotangent"])) : nothing

    call() = haskey(case, "alias") ? bi_alias_call(meta, pass, inputs, kw, cot, case["alias"], T) :
        bi_call(meta, pass, inputs, kw, cot)
    if haskey(expect, "error")
        err = expect["error"]
        e = try
            call()
            nothing
        catch ex
            ex
        end
        e === nothing && return "no exception thrown"
        e isa RankRelaxError && return string("RankRelaxError: ", sprint(showerror, e))
        e isa ArgumentError || return string("expected ArgumentError, got ", sprint(showerror, e))
        if haskey(err, "message")
            e.msg == err["message"] || return string("message ", repr(e.msg), " ≠ ", repr(err["message"]))
        end
        for frag in get(err, "contains", Any[])
            occursin(frag, e.msg) || return string("message ", repr(e.msg), " lacks ", repr(frag))
        end
        return ""
    end

    expect["ok"] == true || return "unknown expectation"
    out, grads = try
        call()
    catch ex
        return string("threw ", sprint(showerror, ex))
    end
    results = all_results(out, grads)
    any(isnan, results) && return "NaN in the output or gradients"
    if get(expect, "finite", false) == true
        all(isfinite, results) || return "non-finite output or gradient"
    end
    tol = T === Float64 ? 1e-9 : 1e-5
    if haskey(expect, "output")
        r = bi_close(out, bi_tensor(expect["output"]), tol)
        isempty(r) || return string("output: ", r)
    end
    if haskey(expect, "vjp")
        grads === nothing && return "vjp expected for a forward pass"
        for (name, want) in expect["vjp"]
            k = findfirst(==(Symbol(name)), meta.differentiable)
            k === nothing && return string("no gradient for ", name)
            r = bi_close(grads[k], bi_tensor(want), tol)
            isempty(r) || return string("vjp ", name, ": ", r)
        end
    end
    if get(expect, "same_as_contiguous", false) == true
        out2, grads2 = bi_call(meta, pass, contiguous, kw, cot)
        isequal(all_results(out, grads), all_results(out2, grads2)) || return "differs from the contiguous call"
    end
    if haskey(expect, "same_as_dtype")
        S = expect["same_as_dtype"] == "float32" ? Float32 : Float64
        converted = with_reals(x -> convert(Array{S}, x), meta, inputs)  # group ids stay integers
        out2, grads2 = bi_call(meta, pass, converted, kw, cot)
        isequal(all_results(out, grads), all_results(out2, grads2)) ||
            return string("differs from the call in ", S)
        eltype(as_array(out)) === S || return string("output is ", eltype(as_array(out)), ", not ", S)
    end
    return ""
end

@testset "bad-input matrix ($(basename(BAD_INPUT_PATH)))" begin
    @test isfile(BAD_INPUT_PATH)  # a missing file fails here (and the read below throws)
    doc = parse_json(read(BAD_INPUT_PATH, String))
    @test doc["format"] == "rank-relax bad-input matrix v1"
    ncases, nruns, failed = 0, 0, String[]
    ids = Set{String}()
    for case in doc["cases"]
        @test !(case["id"] in ids)
        push!(ids, case["id"])
        "julia" in get(case, "bindings", doc["bindings"]) || continue
        ncases += 1
        for dtype in get(case, "dtypes", Any["float64", "float32"])
            nruns += 1
            r = try
                bi_run(case, dtype)
            catch ex
                string("runner error: ", sprint(showerror, ex))
            end
            isempty(r) || push!(failed, string(case["id"], " [", dtype, "]: ", r))
        end
    end
    foreach(f -> println("  bad-input: ", f), failed)
    println("bad-input matrix: ", ncases, " cases, ", nruns, " runs, ", nruns - length(failed), " passed")
    @test ncases > 0
    @test isempty(failed)
end
