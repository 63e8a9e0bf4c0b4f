# RankRelax test suite (Test stdlib only; runs offline):
#   julia --project=packages/julia/RankRelax packages/julia/RankRelax/test/runtests.jl
# The reference vectors come from ENV["RANK_RELAX_REFERENCE"], default testdata/reference/ops-v1.json
# relative to the repository root, and the wave2-*.json and masks.json files beside it (soft_sort_topk's
# and soft_rank_grouped's from RANK_RELAX_REFERENCE_SORT_TOPK and RANK_RELAX_REFERENCE_GROUPED); the bad-input matrix from ENV["RANK_RELAX_BAD_INPUT"], default
# testdata/bad-input.json.
using Test
using LinearAlgebra
using Random
using RankRelax

include("json.jl")
using .MiniJSON: parse_json
include("helpers.jl")

# The summary table Test prints is the last output: on failure it lists each failing section and
# the process exits 1 (instead of ending on a stack trace).
try
    @testset "RankRelax" begin
        include("reference.jl")
        include("gradients.jl")
        include("memory.jl")
        include("errors.jl")
        include("layout.jl")
        include("dims.jl")
        include("jvp.jl")
        include("hvp.jl")
        include("masks.jl")
        include("bad_input.jl")
        include("loader.jl")
        include("rrules.jl")
        include("outputs.jl")
        include("grouped.jl")
        include("docs.jl")
    end
catch e
    e isa Test.TestSetException || rethrow()
    exit(1)
end
