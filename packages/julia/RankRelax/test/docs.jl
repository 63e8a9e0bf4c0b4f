# Every public name has a docstring (generated from the spec for the ops), and every example in
# them runs.

"""The raw text of `f`'s docstring ("" if none)."""
function doc_text(m::Module, name::Symbol)
    binding = Base.Docs.Binding(m, name)
    multi = get(Base.Docs.meta(m), binding, nothing)
    multi === nothing && return ""
    return join([join(string.(d.text)) for d in values(multi.docs)], "\n")
end

@testset "docstrings" begin
    for name in names(RankRelax)
        name === :RankRelax && continue
        @test !isempty(doc_text(RankRelax, name))
    end
    for name in (:set_num_threads, :library_path, :library_version)
        @test !isempty(doc_text(RankRelax, name))
    end
    for (op, meta) in pairs(OPS)
        meta = get(meta, :raw, meta)  # the table's own entry: its functions, not the tests' view
        several = length(meta.outputs) > 1
        text = doc_text(RankRelax, op)
        @test occursin(string("    ", op, "("), text)            # the signature
        @test occursin("# Arguments", text) && occursin("# Returns", text)
        for x in meta.inputs, p in meta.params
            @test occursin(string("`", x, "`"), text) && occursin(string("`", p, " = "), text)
        end
        @test occursin("n × B", text)
        for x in meta.optional  # a keyword whose default leaves it out, in the signature and the arguments
            @test occursin(string(x, " = nothing"), split(text, "\n")[1]) && occursin(string("- `", x, " = nothing`: "), text)
        end
        for f in (meta.forward, meta.pullback, meta.jvp, meta.pushforward)
            @test occursin(string(nameof(f)), doc_text(RankRelax, nameof(f)))
        end
        # the JVP's signature: the inputs, a tangent per differentiable input, the ε tangent
        jvp_text = doc_text(RankRelax, nameof(meta.jvp))
        tangents = join([string("tangent_", x) for x in meta.differentiable], ", ")
        @test occursin(string("    ", nameof(meta.jvp), "(", join(meta.inputs, ", "), ", ", tangents), jvp_text)
        for p in meta.param_grads
            @test occursin(string("tangent_", p, " = 0.0"), jvp_text)
            @test occursin(string("`tangent_", p, " = 0.0`"), doc_text(RankRelax, nameof(meta.pushforward)))
        end
        # the example runs and gives the op's output type
        m = match(r"```julia\n(.*?)\n```"s, text)
        @test m !== nothing
        if m !== nothing
            result = Core.eval(Main, Meta.parse(string("let; using RankRelax; ", m.captures[1], "; end")))
            @test result isa (several ? NamedTuple : meta.per_row ? Real : AbstractArray)
        end
        # the dims = 2 example (the samples as rows), for outputs that may lie along another axis
        blocks = [m.captures[1] for m in eachmatch(r"```julia\n(.*?)\n```"s, text)]
        @test length(blocks) == (meta.output_rank >= 2 ? 1 : 2)
        if length(blocks) == 2
            @test occursin("dims = 2", blocks[2])
            along = Core.eval(Main, Meta.parse(string("let; using RankRelax; ", blocks[2], "; end")))
            several && (along = first(along))
            @test along isa AbstractArray && ndims(along) == (meta.per_row ? 1 : 2)
        end
    end
end
