# The library loader: where it looks, the error that names every place, the ABI check, and that the
# package, the spec and the library agree on the version.

@testset "loader" begin
    libfile = RankRelax._rr_libfile()
    @test occursin("rank_relax_c", libfile)
    @test isfile(RankRelax.library_path())
    @test basename(RankRelax.library_path()) == libfile
    @test RankRelax.library_version() == RankRelax._RR_VERSION

    # one version: Project.toml, the spec (generated constant), the library
    project = read(joinpath(@__DIR__, "..", "Project.toml"), String)
    m = match(r"(?m)^version = \"([^\"]+)\"", project)
    @test m !== nothing && m.captures[1] == RankRelax._RR_VERSION

    # where it looks
    @test RankRelax._rr_candidates(Dict("RANK_RELAX_LIB" => "/x/lib.so")) == ["RANK_RELAX_LIB" => "/x/lib.so"]
    found = RankRelax._rr_candidates(Dict("CARGO_TARGET_DIR" => "/tmp/tgt"); root = "/repo", deps = "/pkg/deps")
    @test last.(found) == [joinpath("/pkg/deps", libfile), joinpath("/tmp/tgt", "release", libfile),
        joinpath("/repo", "target", "release", libfile)]
    @test last.(RankRelax._rr_candidates(Dict{String,String}(); root = "/repo", deps = "/pkg/deps")) ==
        [joinpath("/pkg/deps", libfile), joinpath("/repo", "target", "release", libfile)]

    # the error names every place it looked, and what to do
    msg = try
        RankRelax._rr_open(Dict("CARGO_TARGET_DIR" => "/nonexistent/target"); root = "/nonexistent/repo")
        ""
    catch e
        sprint(showerror, e)
    end
    @test occursin(joinpath("/nonexistent/target", "release", libfile), msg)
    @test occursin(joinpath("/nonexistent/repo", "target", "release", libfile), msg)
    @test occursin("cargo build --release -p rank-relax-ffi", msg)
    @test occursin("RANK_RELAX_LIB", msg)
    msg = try
        RankRelax._rr_open(Dict("RANK_RELAX_LIB" => "/nonexistent/librr.so"))
        ""
    catch e
        sprint(showerror, e)
    end
    @test occursin("/nonexistent/librr.so (RANK_RELAX_LIB): no such file", msg)
    @test occursin("Fix or unset RANK_RELAX_LIB", msg)
    not_a_library = joinpath(@__DIR__, "..", "Project.toml")
    msg = try
        RankRelax._rr_open(Dict("RANK_RELAX_LIB" => not_a_library))
        ""
    catch e
        sprint(showerror, e)
    end
    @test occursin("exists but dlopen failed", msg)
    # RANK_RELAX_LIB pointing at the real library works
    path, handle = RankRelax._rr_open(Dict("RANK_RELAX_LIB" => RankRelax.library_path()))
    @test path == RankRelax.library_path()

    # the ABI check
    @test RankRelax._rr_check_abi("lib", RankRelax._RR_ABI_VERSION, RankRelax._RR_ABI_HASH) === nothing
    @test RankRelax._rr_abi_hash() == RankRelax._RR_ABI_HASH
    @test RankRelax._rr_abi_version() == RankRelax._RR_ABI_VERSION
    msg = try
        RankRelax._rr_check_abi("/some/lib.so", RankRelax._RR_ABI_VERSION, 0x0123456789abcdef)
        ""
    catch e
        sprint(showerror, e)
    end
    @test occursin("/some/lib.so has ABI version $(RankRelax._RR_ABI_VERSION) and hash 0x0123456789abcdef", msg)
    @test occursin(string(RankRelax._RR_ABI_HASH; base = 16, pad = 16), msg)
    @test_throws ErrorException RankRelax._rr_check_abi("lib", RankRelax._RR_ABI_VERSION + 1, RankRelax._RR_ABI_HASH)

    # loading again (the path __init__ takes) works
    @test RankRelax._rr_load!() == RankRelax.library_path()
    @test soft_rank([2.0, 1.0]; regularization_strength = 0.01) ≈ [2.0, 1.0]

    # `using RankRelax` in a fresh process fails loudly when the library is missing
    project = normpath(joinpath(@__DIR__, ".."))
    cmd = `$(Base.julia_cmd()) --startup-file=no --project=$project -e "using RankRelax"`
    cmd = addenv_(cmd, "RANK_RELAX_LIB" => "/nonexistent/librank_relax_c.so")
    err = IOBuffer()
    proc = run(pipeline(ignorestatus(cmd); stdout = devnull, stderr = err))
    out = String(take!(err))
    @test proc.exitcode != 0
    @test occursin("/nonexistent/librank_relax_c.so (RANK_RELAX_LIB): no such file", out)
end
