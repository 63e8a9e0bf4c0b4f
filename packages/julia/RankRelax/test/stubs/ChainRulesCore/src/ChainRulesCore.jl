# Test-only stand-in for ChainRulesCore: the names RankRelaxChainRulesCoreExt uses (rrule,
# NoTangent, ZeroTangent, AbstractZero, unthunk) plus a Thunk to check that cotangents are unthunked.
# Same meaning as in ChainRulesCore 1.x, none of its machinery.
__precompile__(false)

module ChainRulesCore

export rrule, NoTangent, ZeroTangent, AbstractZero, unthunk, Thunk

abstract type AbstractTangent end
abstract type AbstractZero <: AbstractTangent end
struct NoTangent <: AbstractZero end
struct ZeroTangent <: AbstractZero end

struct Thunk{F} <: AbstractTangent
    f::F
end
unthunk(x) = x
unthunk(t::Thunk) = t.f()

"""`rrule(f, args...; kwargs...)`: `nothing` unless a rule is defined, as in ChainRulesCore."""
rrule(::Any, ::Vararg{Any}; kwargs...) = nothing

end # module
