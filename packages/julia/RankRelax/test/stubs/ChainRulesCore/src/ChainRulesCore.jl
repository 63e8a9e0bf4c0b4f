# Test-only stand-in for ChainRulesCore: the names RankRelaxChainRulesCoreExt uses (rrule, frule,
# NoTangent, ZeroTangent, AbstractZero, Tangent, unthunk) plus a Thunk to check that (co)tangents are
# unthunked.
# Same meaning as in ChainRulesCore 1.x, none of its machinery.
__precompile__(false)

module ChainRulesCore

export rrule, frule, NoTangent, ZeroTangent, AbstractZero, Tangent, unthunk, Thunk

abstract type AbstractTangent end
abstract type AbstractZero <: AbstractTangent end
struct NoTangent <: AbstractZero end
struct ZeroTangent <: AbstractZero end

struct Thunk{F} <: AbstractTangent
    f::F
end
# The tangent of a struct or NamedTuple of type P: its fields by name, a missing one ZeroTangent().
struct Tangent{P,T} <: AbstractTangent
    backing::T
end
Tangent{P}(; fields...) where {P} = (b = values(fields); Tangent{P,typeof(b)}(b))
Base.propertynames(t::Tangent) = propertynames(getfield(t, :backing))
Base.getproperty(t::Tangent, name::Symbol) =
    hasproperty(getfield(t, :backing), name) ? unthunk(getproperty(getfield(t, :backing), name)) : ZeroTangent()

unthunk(x) = x
unthunk(t::Thunk) = t.f()

"""`rrule(f, args...; kwargs...)`: `nothing` unless a rule is defined, as in ChainRulesCore."""
rrule(::Any, ::Vararg{Any}; kwargs...) = nothing

"""`frule((Δf, Δx...), f, x...; kwargs...)`: `nothing` unless a rule is defined, as in ChainRulesCore."""
frule(::Any, ::Any, ::Vararg{Any}; kwargs...) = nothing

end # module
