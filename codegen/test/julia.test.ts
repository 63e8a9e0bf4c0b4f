// The Julia goldens must parse, and src/generated.jl must load (its definitions evaluate) in a bare
// module standing in for RankRelax, on the Julia the project uses (1.5); skipped where no julia is
// installed. The real spec's files are loaded and exercised by the package's own tests
// (scripts/test-julia.sh). Then the emitter's helpers and its refusal of ops it cannot bind.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { afterAll, describe, expect, it } from 'vitest';

import { unsupportedFeatures } from '../src/emit/capabilities.ts';
import { juliaEmitter } from '../src/emitters/julia/index.ts';
import { juliaString, juliaSymbol, packed } from '../src/emitters/julia/syntax.ts';
import { ident } from '../src/ir/names.ts';
import { juliaName } from '../src/emitters/julia/names.ts';
import { irFromText } from '../src/pipeline.ts';
import { editedSpec, FIXTURES, fixtureIr, ROOT, specIr } from './helpers.ts';

function findJulia(): string | null {
  const local = join(ROOT, '.tools/bin/julia');
  if (existsSync(local)) return local;
  try {
    execFileSync('julia', ['--version'], { stdio: 'ignore' });
    return 'julia';
  } catch {
    return null;
  }
}

// Parses every file given (a syntax error or incomplete expression fails); evaluates the first one
// (generated.jl) in a module that has only what RankRelax.jl defines before including it.
const CHECK = String.raw`
for path in ARGS
    src = read(path, String)
    pos = 1
    while pos <= ncodeunits(src)
        ex, pos = Meta.parse(src, pos)
        if ex isa Expr && ex.head in (:error, :incomplete)
            error(string(path, ": ", ex.args[1]))
        end
    end
end
m = Module(:RankRelax)
Core.eval(m, :(struct RankRelaxError <: Exception; status::Int32; message::String; end))
Base.include(m, ARGS[1])
isdefined(m, :_RR_OPS) || error("no _RR_OPS")
for op in keys(m._RR_OPS)
    for f in (m._RR_OPS[op].fn, m._RR_OPS[op].forward, m._RR_OPS[op].pullback)
        isempty(methods(f)) && error(string(op, ": no methods"))
    end
end
println("ok ", join(keys(m._RR_OPS), " "))
`;

const julia = findJulia();
const scratch = mkdtempSync(join(tmpdir(), 'rank-relax-julia-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const cases = [...FIXTURES.map((f) => [f, fixtureIr(f)] as const), ['spec', specIr()] as const];

describe.skipIf(julia === null)('julia goldens parse and load', () => {
  it.each(cases)('%s', (name, ir) => {
    const files = juliaEmitter.emit(ir).map((f) => {
      const path = join(scratch, name, f.path);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, f.contents);
      return path;
    });
    const generated = files.filter((p) => p.endsWith('generated.jl'));
    const others = files.filter((p) => !p.endsWith('generated.jl'));
    const out = execFileSync(julia ?? 'julia', ['--startup-file=no', '--history-file=no', '-e', CHECK, ...generated, ...others], {
      encoding: 'utf8',
    });
    expect(out).toBe(`ok ${ir.ops.map((op) => juliaName(op.name)).join(' ')}\n`);
  }, 120_000);
});

describe('julia emitter helpers', () => {
  it.each([
    ['plain', 'abc', '"abc"'],
    ['quotes and backslashes', 'a"b\\c', '"a\\"b\\\\c"'],
    ['interpolation is escaped', 'cost $x', '"cost \\$x"'],
  ])('juliaString: %s', (_, given, want) => {
    expect(juliaString(given)).toBe(want);
  });

  it('enum values are Symbols, reserved words spelled Symbol("…")', () => {
    const value = (name: string) => ({ name: ident(name), code: 0, doc: '' });
    expect(juliaSymbol(value('l2'))).toBe(':l2');
    expect(juliaSymbol(value('end'))).toBe('Symbol("end")');
  });

  it.each([
    ['fits on one line', ['a', 'b'], 'f(a, b)'],
    ['wraps with a continuation indent', Array.from({ length: 30 }, (_, i) => `arg${i}`), null],
  ])('packed: %s', (_, items, want) => {
    const out = packed('f(', items, ')', 4);
    if (want !== null) expect(out).toBe(want);
    for (const line of out.split('\n')) expect(line.length).toBeLessThanOrEqual(100);
    expect(out.replace(/\n\s*/g, ' ')).toBe(`f(${items.join(', ')})`);
  });

  it('declares what it cannot bind, so the capability check refuses the spec before it runs', () => {
    const text = editedSpec((spec) => {
      spec.ops.sigmoid_rank.inputs.splice(1, 0, { name: 'weights', shape: ['batch'], differentiable: false, doc: 'One weight per row.' });
      delete spec.ops.sigmoid_rank.example;
    });
    const ir = irFromText(text, 'edited.yaml');
    expect(unsupportedFeatures(ir, [juliaEmitter])).toEqual([
      'ops.sigmoid_rank.inputs[1].shape: the julia target does not support inputs of shape [batch] yet',
    ]);
  });

  it('sizes [batch, k] outputs by an int param\'s value, checked before they are allocated', () => {
    const text = editedSpec((spec) => {
      spec.ops.soft_topk.dims = { kk: { param: 'k' } };
      spec.ops.soft_topk.outputs[0].shape = ['batch', 'kk'];
      delete spec.ops.soft_topk.in_place_vjp;
    });
    const ir = irFromText(text, 'edited.yaml');
    expect(unsupportedFeatures(ir, [juliaEmitter])).toEqual([]);
    const generated = juliaEmitter.emit(ir).find((f) => f.path.endsWith('generated.jl'))?.contents ?? '';
    const forward = generated.slice(generated.indexOf('function soft_topk_forward('));
    const body = forward.slice(0, forward.indexOf('\nend\n'));
    expect(body).toContain('_rr_kk = _rr_int_dim("soft_topk", "k", k, 0 => 0, "n" => _rr_n)');
    expect(body.indexOf('_rr_int_dim')).toBeLessThan(body.indexOf('Array{_rr_T}(undef, _rr_size(size(values), _rr_kk))'));
    // the pullback reads k from the tape; forward! keeps the tape's k
    expect(generated).toContain('_rr_size(tape._rr_size, Int(tape.k))');
    expect(generated).toContain('_rr_check_tape_value("soft_topk_forward!", "soft_topk", "k", k, tape.k)');
  });

  it('returns several outputs as a NamedTuple, item positions 1-based, and rules that skip the int output', () => {
    const ir = specIr();
    const files = juliaEmitter.emit(ir);
    const generated = files.find((f) => f.path.endsWith('generated.jl'))?.contents ?? '';
    const ext = files.find((f) => f.path.endsWith('Ext.jl'))?.contents ?? '';
    const run = generated.slice(generated.indexOf('function _rr_soft_sort_topk_run('));
    expect(run.slice(0, run.indexOf('\nend\n'))).toMatch(
      /_rr_one_based!\(indices\)\n\s+return \(top_values = top_values, indices = indices\), _rr_tape$/,
    );
    expect(generated).toContain('_rr_indices = Array{Int32}(undef, _rr_size(size(values), _rr_k))');
    expect(generated).toContain('indexes = (:indices,),');
    expect(ext).toContain('_rr_cotangent_top_values = _rr_field(unthunk(_rr_cotangent), :top_values)');
    expect(ext).toMatch(/Tangent\{typeof\(_rr_primal\)\}\(; top_values = _rr_dprimal,\s+indices = NoTangent\(\)\)/);
  });

  it('gives an op that takes some of an enum\'s values its own parser, listing only those', () => {
    const text = editedSpec((spec) => {
      spec.ops.soft_rank.params[2] = { name: 'direction', values: ['descending'], default: 'descending' };
    });
    const generated = juliaEmitter.emit(irFromText(text, 'edited.yaml')).find((f) => f.path.endsWith('generated.jl'))?.contents ?? '';
    const parser = generated.slice(generated.indexOf('function _rr_code_soft_rank_direction('));
    expect(parser.slice(0, parser.indexOf('\nend\n'))).toContain('name == "descending" && return Int32(1)');
    expect(parser.slice(0, parser.indexOf('\nend\n'))).not.toContain('"ascending"');
    expect(generated).toContain('_rr_direction = _rr_code_soft_rank_direction("soft_rank", "direction", direction)');
    expect(generated).toContain('direction = (:descending,),');
    // soft_topk's regularization is its own enum with all its values: the enum's parser
    expect(generated).toContain('_rr_regularization = _rr_code_topk_regularization("soft_topk", "regularization", regularization)');
  });

  it('passes a list param to the library as a pointer and a length, and sizes [batch, m] and [batch, n, n] outputs from the shape', () => {
    const generated = juliaEmitter.emit(specIr()).find((f) => f.path.endsWith('generated.jl'))?.contents ?? '';
    expect(generated).toMatch(/\(Csize_t, Csize_t, Ptr\{Float64\}, Csize_t, Float64, Int32,/);
    expect(generated).toContain('batch, n, quantiles, length(quantiles), regularization_strength');
    expect(generated).toContain('_rr_result = Array{_rr_T}(undef, _rr_size(size(values), _rr_m))');
    expect(generated).toContain('_rr_permutation_matrix = Array{_rr_T}(undef, _rr_size(size(values), _rr_n, _rr_n))');
    expect(generated).toContain('_rr_k = _rr_integer(Int64, "soft_topk", "k", k)');
  });

  it('emits a rule per public method (two for an op with a param gradient) and one for the pullback of an op with an HVP', () => {
    const ir = specIr();
    const ext = juliaEmitter.emit(ir).find((f) => f.path.endsWith('RankRelaxChainRulesCoreExt.jl'));
    const publicRules = ir.ops.reduce((k, op) => k + (op.paramGrads.length > 0 ? 2 : 1), 0);
    const secondOrder = ir.ops.filter((op) => op.hvp !== null).length;
    const rules = ext?.contents.match(/^function ChainRulesCore\.rrule\(/gm) ?? [];
    expect(rules.length).toBe(publicRules + secondOrder);
    const frules = ext?.contents.match(/^function ChainRulesCore\.frule\(/gm) ?? [];
    expect(frules.length).toBe(publicRules);
  });

  it('binds the HVP kernel: <op>_hvp and <op>_pullback_hvp exported, and the rrules\' pullback differentiable through them', () => {
    const ir = specIr();
    const files = juliaEmitter.emit(ir);
    const generated = files.find((f) => f.path.endsWith('generated.jl'))?.contents ?? '';
    const ext = files.find((f) => f.path.endsWith('RankRelaxChainRulesCoreExt.jl'))?.contents ?? '';
    for (const op of ir.ops) {
      const snake = op.name.snake;
      const bound = op.hvp !== null;
      expect(generated.includes(`rr_${snake}_hvp_f64 = Ref{Ptr{Cvoid}}(C_NULL),`)).toBe(bound);
      expect(generated.includes(`function ${snake}_hvp(`)).toBe(bound);
      expect(generated.includes(`function ${snake}_pullback_hvp(`)).toBe(bound);
      expect(ext.includes(`function ChainRulesCore.rrule(::typeof(_rr_${snake}_grads),`)).toBe(bound);
    }
    // the ε HVP is per row in the library and summed, as the pullback sums ε's gradient
    expect(generated).toContain('return _rr_hvp_values, sum(_rr_hvp_regularization_strength)');
    expect(ext).toContain('_rr_hvps = RankRelax.soft_sort_pullback_hvp(_rr_tape, _rr_cotangent_sorted,');
    expect(ext).toContain('_rr_grads = _rr_soft_sort_grads(_rr_tape, values, nothing, _rr_cotangent_sorted)');
  });

  it('binds an optional bool input: a keyword defaulting to nothing, a null pointer, saved in the tape, moved with dims', () => {
    const ir = specIr();
    const files = juliaEmitter.emit(ir);
    const generated = files.find((f) => f.path.endsWith('generated.jl'))?.contents ?? '';
    const ext = files.find((f) => f.path.endsWith('RankRelaxChainRulesCoreExt.jl'))?.contents ?? '';
    // the ccall wrappers take the mask at its IR position, `nothing` as C_NULL
    expect(generated).toMatch(/function _rr_soft_rank_backward!\(batch::Int, n::Int, [^)]*values::Array\{Float64\},\s+mask::Union\{Array\{Bool\},Nothing\}, ranks::Array\{Float64\}/);
    expect(generated).toContain('something(mask, C_NULL)');
    expect(generated).toMatch(/\(Csize_t, Csize_t, Float64, Int32, Int32, Ptr\{Float64\}, Ptr\{Bool\}, Ptr\{Float64\},\s+Ptr\{Int32\}\)/);
    // the public API: a keyword after the params; the tape saves it; the call checks it against the first input
    expect(generated).toMatch(/function soft_rank\(\s+values::AbstractArray\{<:Real\};\s+regularization_strength::Real = 1\.0,\s+regularization = :l2,\s+direction = :ascending,\s+mask = nothing,\s+dims = 1,\s+\)/);
    expect(generated).toContain('    mask::Union{Array{Bool,N},Nothing}\n');
    expect(generated).toContain('_rr_mask = _rr_bools("soft_rank", "mask", mask)');
    expect(generated).toContain('_rr_check_same_size("soft_rank", "values", _rr_values, "mask", _rr_mask)');
    expect(generated).toMatch(/_rr_forward_along\(soft_rank_forward, "soft_rank",\s+\("values",\), \(values,\), \(mask = mask,\), dims, 1;/);
    // the ops table lists it apart from the positional inputs
    expect(generated).toMatch(/inputs = \(:predictions, :targets\),\s+optional = \(:mask,\),/);
    // the rules take it as a keyword (no tangent) and pass it on
    expect(ext).toMatch(/function ChainRulesCore\.rrule\(\s+::typeof\(RankRelax\.soft_rank\),\s+values::AbstractArray\{<:Real\};[^)]*mask = nothing,/);
    expect(ext).toMatch(/RankRelax\.soft_rank_forward\(values;\s[^)]*mask = mask, dims = dims\)/);
  });

  it('binds the JVP kernel: a ccall wrapper taking the ε tangent by value, <op>_jvp and <op>_pushforward exported', () => {
    const ir = specIr();
    expect(unsupportedFeatures(ir, [juliaEmitter])).toEqual([]);
    const generated = juliaEmitter.emit(ir).find((f) => f.path.endsWith('generated.jl'))?.contents ?? '';
    expect(generated).toContain('rr_soft_rank_jvp_f64 = Ref{Ptr{Cvoid}}(C_NULL),');
    expect(generated).toMatch(/ccall\(_RR_KERNEL_FNS\.rr_soft_rank_jvp_f32\[\], Int32,\s+\(Csize_t, Csize_t, Float32, Int32, Int32, Ptr\{Float32\}, Ptr\{Bool\}, Ptr\{Float32\}, Ptr\{Int32\},\s+Ptr\{Float32\}, Float32, Ptr\{Float32\}\)/);
    expect(generated).toContain('soft_rank_jvp, soft_rank_pushforward, soft_rank_hvp, soft_rank_pullback_hvp, SoftRankTape');
    // the ε tangent is converted to the tape's type; a per-row tangent is a number for a Vector
    expect(generated).toContain('_rr_tangent_regularization_strength = convert(T, tangent_regularization_strength)');
    expect(generated).toContain('return _rr_per_row(_rr_tangent_loss, tape._rr_size)');
    expect(generated).toContain('_rr_tangent_values = _rr_tangent(T, "soft_rank", "tangent_values", "values", tangent_values,');
  });
});
