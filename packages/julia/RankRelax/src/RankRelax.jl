"""
    RankRelax

Differentiable sorting and ranking (soft rank, soft ranks within groups, soft sort, Spearman and
NDCG losses, soft top-k, soft quantiles, NeuralSort) with analytical gradients, over the rank-relax
C library (`librank_relax_c`).

Arrays are `n × B`: each column is one sample (the same memory as the core's row-major `[B, n]`,
passed without a copy); a `Vector` is one sample. Outputs of other shapes reverse the core's dims
the same way (`[B, m]` is `m × B`, `[B, n, n]` is `n × n × B`). The `dims` keyword puts the items along
any axis of an array of any number of dims (`dims = 2`: one sample per row). Every op has a function (`soft_rank`), a forward
that also returns a tape (`soft_rank_forward`), a plain pullback function (`soft_rank_pullback`),
and forward mode: the Jacobian-vector product (`soft_rank_jvp`) and its plain form on a tape
(`soft_rank_pushforward`); with Julia ≥ 1.9 and ChainRulesCore installed, the extension
`RankRelaxChainRulesCoreExt` defines `rrule`s and `frule`s so Zygote, Diffractor and friends
differentiate through them.

The library is found at load time: the path in `ENV["RANK_RELAX_LIB"]` if set, else the copy bundled
in the package's `deps/` (release tarballs), else the cargo build output of the repository this
package lives in (`target/release`, or `\$CARGO_TARGET_DIR/release`).
"""
module RankRelax

# This file is hand-written: the library loader with its ABI check, the exception type, and the
# array helpers the generated code calls. Everything op-specific is in generated.jl, generated from
# bindings-spec/rank-relax.yaml by codegen/ (its Julia emitter); edit the spec or the emitter, not it.

using Libdl

export RankRelaxError

"""
    RankRelaxError(status, message)

A failure of the rank-relax library that is not a problem with the arguments (a NULL pointer, an
internal error). Bad arguments throw `ArgumentError` instead, with the library's message.
"""
struct RankRelaxError <: Exception
    status::Int32
    message::String
end

function Base.showerror(io::IO, e::RankRelaxError)
    print(io, "RankRelaxError: ", e.message, " (status ", e.status, ")")
end

include("generated.jl")

# ------------------------------------------------------------------------------------------------
# Array helpers called by generated.jl. Names start with `_rr_`, which spec names never do.

# The element type a call runs in: Float32 when every input is Float32, else Float64 (integers or
# Bools beside Float32 run in Float64, as documented: not promote_type, which would give Float32).
_rr_float_type(xs::AbstractArray...) = all(x -> eltype(x) === Float32, xs) ? Float32 : Float64

# The array handed to the library: the input itself when it is an Array of the right element type
# (no copy; an Array is always dense), else a dense copy (views, ranges, transposes, integers, …).
_rr_dense(::Type{T}, x::Array{T}) where {T} = x
_rr_dense(::Type{T}, x::AbstractArray) where {T} = copyto!(Array{T}(undef, size(x)), x)
_rr_dense(::Type, ::Nothing) = nothing

# A bool input (a mask) as the library takes it: an Array{Bool}, whose bytes are C `bool`s, passed
# without a copy; a BitArray or a view is copied into one. `nothing` (an omitted optional input)
# stays `nothing`, the kernels' null pointer. Any other value names the op and the argument.
_rr_bools(::String, ::String, x::Array{Bool}) = x
_rr_bools(::String, ::String, x::AbstractArray{Bool}) = copyto!(Array{Bool}(undef, size(x)), x)
_rr_bools(::String, ::String, ::Nothing) = nothing
_rr_bools(op::String, argument::String, x) = throw(ArgumentError(_rr_msg_not_bool_array(op, argument, _rr_describe(x))))

# An int32 input (group ids) as the library takes it: an Array{Int32}, passed without a copy; any
# other array of integers (Int64, Julia's default; a view, a range, a transpose) is copied into one
# once every value is checked to fit in Int32 (the first that does not is named, printed as an
# integer). The values are ids, passed as they are: no 1-based shift. A Bool array is refused even
# though Bool <: Integer in Julia (true/false would be a mistake, not ids 1 and 0), as are floats,
# even integral ones, and anything else; `nothing` (an omitted optional input) stays `nothing`.
_rr_ints(::String, ::String, x::Array{Int32}) = x
function _rr_ints(op::String, argument::String, x::AbstractArray{<:Integer})
    for v in x
        v isa Bool && throw(ArgumentError(_rr_msg_not_int_array(op, argument, _rr_describe(x))))
        typemin(Int32) <= v <= typemax(Int32) ||
            throw(ArgumentError(_rr_msg_int_out_of_range(op, argument, string(v))))
    end
    return copyto!(Array{Int32}(undef, size(x)), x)
end
_rr_ints(op::String, argument::String, x::AbstractArray{Bool}) =
    throw(ArgumentError(_rr_msg_not_int_array(op, argument, _rr_describe(x))))
_rr_ints(::String, ::String, ::Nothing) = nothing
_rr_ints(op::String, argument::String, x) = throw(ArgumentError(_rr_msg_not_int_array(op, argument, _rr_describe(x))))

# Element types by the spec's dtype names, as every binding's messages name them.
const _RR_DTYPE_NAMES = Dict{Type,String}(Float64 => "float64", Float32 => "float32", Float16 => "float16",
    Int64 => "int64", Int32 => "int32", Int16 => "int16", Int8 => "int8", UInt64 => "uint64", UInt32 => "uint32",
    UInt16 => "uint16", UInt8 => "uint8", Bool => "bool", ComplexF64 => "complex128", ComplexF32 => "complex64")

# What a refused value is, for a message (`got`), in the words every binding shares: an array by its
# element type's dtype name, a number with its value, else its kind.
function _rr_describe(x)
    x isa AbstractArray && return _rr_got_array(get(_RR_DTYPE_NAMES, eltype(x), string(eltype(x))))
    x isa Bool && return _rr_got_bool()
    x isa Integer && return _rr_got_integer(string(x))
    x isa AbstractFloat && return _rr_got_float(string(x))
    x isa AbstractString && return _rr_got_string()
    x === nothing && return _rr_got_nothing()
    return _rr_got_other(string(typeof(x)))
end

# A call of an op's function `f` whose inputs matched none of its methods: the first input that is
# not an array of reals, or for the int32 inputs named in `ints` an array of integers that fit in
# Int32 (`_rr_ints`' message), is named; if each is one, the MethodError Julia would throw for the
# call's arguments `args` (the inputs, with the tape or the tangents of the other forms).
function _rr_refuse(f, op::String, names::Tuple, inputs::Tuple, ints::Tuple = (), args::Tuple = inputs)
    for (name, x) in zip(names, inputs)
        if name in ints
            x isa AbstractArray || throw(ArgumentError(_rr_msg_not_int_array(op, name, _rr_describe(x))))
            _rr_ints(op, name, x)
        elseif !(x isa AbstractArray{<:Real})
            throw(ArgumentError(_rr_msg_not_real_array(op, name, _rr_describe(x))))
        end
    end
    throw(MethodError(f, args))
end

# (batch, n) of the core's row-major [batch, n] view of an input.
_rr_rows(x::AbstractVector) = (1, length(x))
_rr_rows(x::AbstractMatrix) = (size(x, 2), size(x, 1))

# A size in the core's row-major terms, as its messages write shapes: [B, n], or [n] for a vector.
_rr_shape_text(sz::Tuple) = string("[", join(reverse(sz), ", "), "]")

function _rr_check_same_size(op::String, a::String, x::AbstractArray, b::String, y)
    y === nothing && return nothing  # an optional input left out
    if !(y isa AbstractArray)
        throw(ArgumentError(string(op, ": ", b, " must be an array of the shape of ", a, ", ",
            _rr_shape_text(size(x)), ", got ", repr(y), " of type ", typeof(y))))
    end
    size(x) == size(y) && return nothing
    throw(ArgumentError(_rr_msg_shapes_differ(op, a, _rr_shape_text(size(x)), b, _rr_shape_text(size(y)))))
end

# The inputs of a `_forward!` call fit its tape: the same element type and size.
function _rr_check_tape(fn::String, ::Type{T}, sz::Tuple, ::Type{S}, inputs::Pair...) where {T,S}
    if S !== T
        throw(ArgumentError(string(fn, ": the inputs would run in ", S, " but the tape holds ", T, " arrays")))
    end
    for (name, x) in inputs
        size(x) == sz && continue
        throw(ArgumentError(string(fn, ": ", name, " has shape ", _rr_shape_text(size(x)),
            " but the tape is for shape ", _rr_shape_text(sz))))
    end
    return nothing
end

# A gradient array given to a `_pullback!` call: an Array of the tape's element type and size.
function _rr_check_grad(fn::String, name::String, g::AbstractArray, ::Type{T}, sz::Tuple) where {T}
    g isa Array{T} && size(g) == sz && return nothing
    throw(ArgumentError(string(fn, ": ", name, " must be an Array{", T, "} of shape ", _rr_shape_text(sz),
        ", got ", typeof(g), " of shape ", _rr_shape_text(size(g)))))
end

# The Julia size of an output of core shape [batch, d1, …, dk] for inputs of size `sz`, given
# `row` = (dk, …, d1): the core's row-major dims reversed (the items axis first, the same memory),
# then B for a matrix input (none for a vector).
_rr_size(::Tuple{Int}, row::Int...) = row
_rr_size(sz::Tuple{Int,Int}, row::Int...) = (row..., sz[2])

# An int param as the library takes it (`I`): an Integer that is not a Bool (a Bool would mean a
# mistake, not 0 or 1) and fits `I`; the library checks its range.
function _rr_integer(::Type{I}, op::String, argument::String, value) where {I<:Integer}
    if !(value isa Integer) || value isa Bool
        throw(ArgumentError(_rr_msg_not_int(op, argument, _rr_describe(value))))
    end
    typemin(I) <= value <= typemax(I) ||
        throw(ArgumentError(string(op, ": ", argument, " = ", value, " is out of range")))
    return I(value)
end

# The value of an int param that is the extent of outputs (`k` of `[batch, k]`), checked as the
# library would before any array of that extent is allocated: an integer within its bounds, each a
# `text => value` pair (`"n" => n`; `nothing => nothing` where unbounded).
function _rr_int_dim(op::String, argument::String, value, min::Pair, max::Pair)
    v = _rr_integer(Int64, op, argument, value)
    lo = something(last(min), typemin(Int64))
    hi = something(last(max), typemax(Int64))
    lo <= v <= hi && return Int(v)
    throw(ArgumentError(string(op, ": ", argument, " must be in [", something(first(min), "-inf"), ", ",
        something(first(max), "inf"), "] = [", lo, ", ", hi, "], got ", value)))
end

# An int param of a `_forward!` call whose value is an extent of the tape's arrays keeps that value.
function _rr_check_tape_value(fn::String, op::String, argument::String, value, expected::Integer)
    _rr_integer(Int64, op, argument, value) == expected && return nothing
    throw(ArgumentError(string(fn, ": ", argument, " = ", value, " but the tape is for ", argument, " = ", expected)))
end

# An output of item positions (0-based, -1 for none) as Julia indices, in place: 1-based, 0 for none.
_rr_one_based!(x::Array{Int32}) = (x .+= Int32(1); x)

# The number of elements of a list-of-reals param, after checking that it is one: a vector whose
# elements are real numbers (Bools are refused, as for int params).
function _rr_list_length(op::String, argument::String, value)
    if !(value isa AbstractVector) || !all(x -> x isa Real && !(x isa Bool), value)
        throw(ArgumentError(_rr_msg_not_real_list(op, argument, _rr_describe(value))))
    end
    return length(value)
end

# A list-of-reals param as the library takes it: a Vector of the call's float type (the library
# checks the values: empty, NaN, out of range).
function _rr_real_list(::Type{T}, op::String, argument::String, value) where {T}
    _rr_list_length(op, argument, value)
    return T[convert(T, x) for x in value]
end

# A list param of a `_forward!` call keeps the length the tape's arrays were made for.
function _rr_check_tape_length(fn::String, op::String, argument::String, value, len::Int)
    _rr_list_length(op, argument, value) == len && return nothing
    count = length(value) == 1 ? "1 element" : string(length(value), " elements")
    throw(ArgumentError(string(fn, ": ", argument, " has ", count, " but the tape is for ", len)))
end

# A per-row output for the caller: a number for a vector input, the vector of B values for a matrix.
_rr_per_row(buffer::Vector, ::AbstractVector) = buffer[1]
_rr_per_row(buffer::Vector, ::AbstractMatrix) = buffer

# The cotangent of an output of the input's size, as a dense array.
function _rr_cotangent(::Type{T}, op::String, output::String, c, sz::Tuple) where {T}
    if c isa AbstractArray{<:Real} && size(c) != sz
        throw(ArgumentError(_rr_msg_shapes_differ(op, output, _rr_shape_text(sz), string("cotangent_", output),
            _rr_shape_text(size(c)))))
    end
    if !(c isa AbstractArray{<:Real})
        got = c isa AbstractArray ? string("shape ", _rr_shape_text(size(c))) : string(typeof(c))
        throw(ArgumentError(string(op, ": the cotangent of ", output, " must be a real array of shape ",
            _rr_shape_text(sz), ", got ", got)))
    end
    return _rr_dense(T, c)
end

# The same from a tape's input size: a number for a vector, the B values for a matrix.
_rr_per_row(buffer::Vector, ::Tuple{Int}) = buffer[1]
_rr_per_row(buffer::Vector, ::Tuple{Int,Int}) = buffer

# A tangent `name` of input `input` (size `sz`) has that size: the library reads exactly the
# input's number of elements, so any other size is refused here.
function _rr_check_tangent(op::String, name::String, input::String, t, sz::Tuple)
    t isa AbstractArray{<:Real} && size(t) == sz && return nothing
    got = t isa AbstractArray ? string("shape ", _rr_shape_text(size(t))) : string(typeof(t))
    throw(ArgumentError(string(op, ": ", name, " must be a real array of the shape of ", input, ", ",
        _rr_shape_text(sz), ", got ", got)))
end

# The tangent as the library takes it: checked, then dense.
function _rr_tangent(::Type{T}, op::String, name::String, input::String, t, sz::Tuple) where {T}
    _rr_check_tangent(op, name, input, t, sz)
    return _rr_dense(T, t)
end

# The cotangent of a per-row output: a number for a vector input, B numbers for a matrix.
function _rr_cotangent_rows(::Type{T}, op::String, output::String, c, sz::Tuple{Int}) where {T}
    c isa Real && return T[c]
    if c isa AbstractArray{<:Real} && length(c) == 1
        return T[first(c)]
    end
    throw(ArgumentError(string(op, ": the cotangent of ", output, " must be a number for a vector input, got ",
        typeof(c))))
end
function _rr_cotangent_rows(::Type{T}, op::String, output::String, c, sz::Tuple{Int,Int}) where {T}
    if c isa AbstractVector{<:Real} && length(c) != sz[2]
        throw(ArgumentError(_rr_msg_shapes_differ(op, output, _rr_shape_text((sz[2],)), string("cotangent_", output),
            _rr_shape_text(size(c)))))
    end
    if !(c isa AbstractVector{<:Real})
        got = c isa AbstractArray ? string("shape ", _rr_shape_text(size(c))) : string(typeof(c))
        throw(ArgumentError(string(op, ": the cotangent of ", output, " must be a vector of length ", sz[2],
            " (one per column), got ", got)))
    end
    return _rr_dense(T, c)
end

# ------------------------------------------------------------------------------------------------
# Items along any axis (`dims`; the tape type `AxisTape` is in generated.jl). The library takes items along the first axis of an `n × B` matrix;
# a call with another axis, or an array of more dimensions, runs on that matrix (the items axis
# moved first by a copy, the other axes flattened into B) and puts the outputs back.

# Whether a call takes today's path: items along the first axis of Vectors or Matrices.
_rr_items_first(dims, ::AbstractVecOrMat...) = dims isa Integer && !(dims isa Bool) && dims == 1
_rr_items_first(dims, ::AbstractArray...) = false

# `dims` as an Int, after checking it is an axis of an array of `N` dimensions.
function _rr_check_dims(op::String, dims, N::Int)
    if !(dims isa Integer) || dims isa Bool
        throw(ArgumentError(_rr_msg_not_int(op, "dims", _rr_describe(dims))))
    end
    1 <= dims <= N || throw(ArgumentError(string(op, ": dims = ", dims, " is out of range for an array of ", N,
        N == 1 ? " dimension" : " dimensions")))
    return Int(dims)
end

# The `dims` of a pullback call: optional, but when given, the one of the forward call (the tape's).
function _rr_check_tape_dims(fn::String, tape_dims::Int, dims)
    dims isa Integer && !(dims isa Bool) && dims == tape_dims && return nothing
    throw(ArgumentError(string(fn, ": dims = ", repr(dims), " but the tape is of a call with dims = ", tape_dims)))
end

# The permutation that moves axis d first, its inverse, and a size without axis d.
_rr_axis_first(d::Int, N::Int) = ntuple(i -> i == 1 ? d : (i <= d ? i - 1 : i), N)
_rr_axis_back(d::Int, N::Int) = ntuple(i -> i < d ? i + 1 : (i == d ? 1 : i), N)
_rr_drop(sz::Tuple, d::Int) = ntuple(i -> sz[i < d ? i : i + 1], length(sz) - 1)

# An array in the library's layout: its first `rank` axes kept (axis d moved first; no copy when
# d = 1), the others flattened into B. Rank 0 is a Vector of B.
function _rr_to_items(x::AbstractArray, rank::Int, d::Int)
    rank == 0 && return reshape(x, :)
    y = d == 1 ? x : permutedims(x, _rr_axis_first(d, ndims(x)))
    return reshape(y, size(y)[1:rank]..., :)
end

# The inverse: an array of the library's layout (its `rank` axes, then B) with B unflattened into
# `outer` and, for one axis, that axis put back at d.
function _rr_from_items(x::AbstractArray, rank::Int, d::Int, outer::Tuple)
    y = reshape(x, size(x)[1:rank]..., outer...)
    (rank == 0 || d == 1) && return y
    return permutedims(y, _rr_axis_back(d, ndims(y)))
end

# `forward(inputs…; optional…, kw…)` with the items of every input along `dims`, the optional
# inputs (keywords; `nothing` when left out) moved like the others; `rank` is the number of
# item/level dims of one sample of the output (0 for a loss: that axis is dropped), a tuple of
# them for an op with several outputs (a NamedTuple, each moved back on its own).
function _rr_forward_along(forward, op::String, names::Tuple, inputs::Tuple, optional::NamedTuple, dims,
        rank::Union{Int,Tuple}; kw...)
    x = first(inputs)
    ndims(x) == 0 && throw(ArgumentError(_rr_msg_no_items_axis(op, first(names))))
    d = _rr_check_dims(op, dims, ndims(x))
    for (name, y) in zip(Base.tail(names), Base.tail(inputs))
        _rr_check_same_size(op, first(names), x, name, y)
    end
    for (name, y) in pairs(optional)
        _rr_check_same_size(op, first(names), x, string(name), y)
    end
    moved = map(y -> y === nothing ? nothing : _rr_to_items(y, 1, d), optional)
    if maximum(rank) >= 2 && d != 1
        throw(ArgumentError(string(op, ": dims = ", d, " is not supported: each sample of its output has ", rank,
            " item dims, so their place along another axis would be ambiguous; use dims = 1")))
    end
    out, tape = forward(map(y -> _rr_to_items(y, 1, d), inputs)...; moved..., kw...)
    outer = _rr_drop(size(x), d)
    if out isa NamedTuple
        y = NamedTuple{keys(out)}(map((o, r) -> _rr_from_items(o, r, d, outer), values(out), rank))
        return y, AxisTape(tape, d, size(x), map(size, y))
    end
    y = _rr_from_items(out, rank, d, outer)
    return y, AxisTape(tape, d, size(x), size(y))
end

# The size of output `output` of the call of an AxisTape (its one output, or the named one).
_rr_output_size(t::AxisTape, output::String) =
    t.output_size isa NamedTuple ? getproperty(t.output_size, Symbol(output)) : t.output_size

# The cotangent of a call with `dims`: an array of the output's size in the caller's layout.
function _rr_check_axis_cotangent(op::String, output::String, t::AxisTape, c)
    sz = _rr_output_size(t, output)
    if !(c isa AbstractArray{<:Real}) || size(c) != sz
        got = c isa AbstractArray ? string("shape ", _rr_shape_text(size(c))) : string(typeof(c))
        throw(ArgumentError(string(op, ": the cotangent of ", output, " must be a real array of shape ",
            _rr_shape_text(sz), ", got ", got)))
    end
    return nothing
end

# `pullback(tape.tape, cotangent)` with the cotangent and the gradients in the caller's layout.
function _rr_pullback_along(pullback, op::String, output::String, t::AxisTape{P,N}, c) where {P,N}
    _rr_check_axis_cotangent(op, output, t, c)
    rank = length(_rr_output_size(t, output)) - N + 1
    outer = _rr_drop(t.size, t.dims)
    grads = pullback(t.tape, _rr_to_items(c, rank, t.dims))
    return map(g -> g isa AbstractArray ? _rr_from_items(g, 1, t.dims, outer) : g, grads)
end

# `pushforward(tape.tape, tangents…; kw…)` with the tangents (of the inputs `inputs`) and the
# output tangent in the caller's layout (each of a NamedTuple of them); an output tangent of the
# `n × B` call has its sample's dims, then B.
function _rr_pushforward_along(pushforward, op::String, names::Tuple, inputs::Tuple, t::AxisTape,
        tangents::Tuple; kw...)
    for (name, input, x) in zip(names, inputs, tangents)
        _rr_check_tangent(op, name, input, x, t.size)
    end
    out = pushforward(t.tape, map(x -> _rr_to_items(x, 1, t.dims), tangents)...; kw...)
    back(o) = _rr_from_items(o, ndims(o) - 1, t.dims, _rr_drop(t.size, t.dims))
    return out isa NamedTuple ? map(back, out) : back(out)
end

# `pullback_hvp(tape.tape, cotangent, tangents…; kw…)` with the cotangent, the tangents and the
# results in the caller's layout (the cotangent checked as by the pullback, the tangents as by the pushforward).
function _rr_hvp_along(pullback_hvp, op::String, output::String, names::Tuple, inputs::Tuple, t::AxisTape{P,N},
        c, tangents::Tuple; kw...) where {P,N}
    _rr_check_axis_cotangent(op, output, t, c)
    for (name, input, x) in zip(names, inputs, tangents)
        _rr_check_tangent(op, name, input, x, t.size)
    end
    rank = length(_rr_output_size(t, output)) - N + 1
    outer = _rr_drop(t.size, t.dims)
    hvps = pullback_hvp(t.tape, _rr_to_items(c, rank, t.dims), map(x -> _rr_to_items(x, 1, t.dims), tangents)...; kw...)
    return map(h -> h isa AbstractArray ? _rr_from_items(h, 1, t.dims, outer) : h, hvps)
end

# ------------------------------------------------------------------------------------------------
# The library loader.

# path and handle of the loaded library
const _rr_library = Ref{Tuple{String,Ptr{Cvoid}}}(("", C_NULL))

"""
    RankRelax.library_path() -> String

Path of the rank-relax C library this session loaded.
"""
library_path() = _rr_library[][1]

"""
    RankRelax.library_version() -> String

Version string the loaded C library reports (`rr_version()`).
"""
library_version() = _rr_version()

# File name of the library on this platform: librank_relax_c.so, librank_relax_c.dylib, rank_relax_c.dll.
_rr_libfile() = string(Sys.iswindows() ? "" : "lib", _RR_LIBNAME, ".", Libdl.dlext)

# Root of the repository this package lives in (packages/julia/RankRelax/src → four levels up).
_rr_repo_root() = normpath(joinpath(@__DIR__, "..", "..", "..", ".."))

# The package's own deps/ folder, where a release tarball bundles the library.
_rr_deps_dir() = normpath(joinpath(@__DIR__, "..", "deps"))

"""
    RankRelax._rr_candidates(env = ENV; root = _rr_repo_root(), deps = _rr_deps_dir()) -> Vector{Pair{String,String}}

Where the loader looks for the library, in order, as `description => path`: only
`ENV["RANK_RELAX_LIB"]` when it is set (a wrong path is an error, never silently replaced), else the
package's bundled `deps/` copy, then `\$CARGO_TARGET_DIR/release` when that is set, then
`target/release` of the repository `root`.
"""
function _rr_candidates(env = ENV; root::AbstractString = _rr_repo_root(),
        deps::AbstractString = _rr_deps_dir())
    explicit = get(env, "RANK_RELAX_LIB", "")
    isempty(explicit) || return ["RANK_RELAX_LIB" => abspath(explicit)]
    found = Pair{String,String}["the package's bundled copy" => joinpath(deps, _rr_libfile())]
    target = get(env, "CARGO_TARGET_DIR", "")
    if !isempty(target)
        push!(found, "\$CARGO_TARGET_DIR/release" => joinpath(abspath(target), "release", _rr_libfile()))
    end
    push!(found, "the repository's cargo build output" => joinpath(root, "target", "release", _rr_libfile()))
    return found
end

"""
    RankRelax._rr_open(env = ENV; root = _rr_repo_root()) -> (path, handle)

Opens the first candidate library that exists (see `_rr_candidates`). Throws an error naming every
place it looked, and why each failed, when none can be opened.
"""
function _rr_open(env = ENV; root::AbstractString = _rr_repo_root())
    candidates = _rr_candidates(env; root = root)
    tried = String[]
    for (what, path) in candidates
        if !isfile(path)
            push!(tried, string("  - ", path, " (", what, "): no such file"))
            continue
        end
        handle = try
            Libdl.dlopen(path, Libdl.RTLD_LAZY | Libdl.RTLD_LOCAL)
        catch e
            push!(tried, string("  - ", path, " (", what, "): exists but dlopen failed: ", sprint(showerror, e)))
            continue
        end
        return path, handle
    end
    explicit = haskey(env, "RANK_RELAX_LIB") && !isempty(env["RANK_RELAX_LIB"])
    hint = explicit ? "Fix or unset RANK_RELAX_LIB." :
        string("Build it with `cargo build --release -p rank-relax-ffi` in ", root,
            ", or set RANK_RELAX_LIB to the path of ", _rr_libfile(), ".")
    error(string("RankRelax: cannot load the rank-relax C library (", _rr_libfile(), "). Looked in:\n",
        join(tried, "\n"), "\n", hint))
end

"""
    RankRelax._rr_check_abi(path, abi_version, abi_hash)

Throws unless the library at `path` reports the ABI version and hash these bindings were generated
for (`_RR_ABI_VERSION`, `_RR_ABI_HASH`): a library built from another spec would be called with the
wrong arguments.
"""
function _rr_check_abi(path::AbstractString, abi_version::Integer, abi_hash::Integer)
    abi_version == _RR_ABI_VERSION && abi_hash == _RR_ABI_HASH && return nothing
    error(string("RankRelax: ", path, " has ABI version ", abi_version, " and hash 0x", string(abi_hash; base = 16, pad = 16),
        ", but these bindings were generated for ABI version ", _RR_ABI_VERSION, " and hash 0x",
        string(_RR_ABI_HASH; base = 16, pad = 16), ". Rebuild the library (`cargo build --release -p rank-relax-ffi`) ",
        "or regenerate the bindings (`pnpm generate`) so that both come from the same spec."))
end

function _rr_bind!(table::NamedTuple, handle::Ptr{Cvoid}, path::AbstractString)
    for (symbol, ref) in pairs(table)
        ptr = Libdl.dlsym(handle, symbol; throw_error = false)
        if ptr === nothing || ptr == C_NULL
            error(string("RankRelax: ", path, " has no function ", symbol, "; it is not a rank-relax C library ",
                "of this version. Rebuild it with `cargo build --release -p rank-relax-ffi`."))
        end
        ref[] = ptr
    end
    return nothing
end

"""
    RankRelax._rr_load!(env = ENV) -> path

Finds and opens the library, binds the runtime functions, checks the ABI, binds every kernel.
Called by `__init__`; safe to call again (e.g. after rebuilding the library).
"""
function _rr_load!(env = ENV)
    path, handle = _rr_open(env)
    _rr_bind!(_RR_RUNTIME_FNS, handle, path)
    _rr_check_abi(path, _rr_abi_version(), _rr_abi_hash())
    _rr_bind!(_RR_KERNEL_FNS, handle, path)
    _rr_library[] = (path, handle)
    return path
end

function __init__()
    _rr_load!()
    return nothing
end

end # module RankRelax
