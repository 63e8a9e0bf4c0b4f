// The Julia target: RankRelax.jl's generated files. src/generated.jl (the ccall layer, the public API
// with docstrings from the spec, tapes and pullbacks) is included by the hand-written
// src/RankRelax.jl (loader, ABI check, array helpers); ext/ holds the ChainRulesCore extension.
import { file } from '../../emit/code.ts';
import type { Emitter } from '../../emit/types.ts';
import type { IR, OpIR } from '../../ir/types.ts';
import { renderApi } from './api.ts';
import { describeJulia } from './describe.ts';
import { renderKernels } from './kernels.ts';
import { renderEnum, renderEnumSubsets, renderOpsTable } from './meta.ts';
import { renderExtension } from './rrules.ts';
import { renderMessages, renderPrelude, renderRuntime, renderStatus, renderTables } from './runtime.ts';
import { EXT_DIR, EXT_MODULE, GENERATED_PATH } from './syntax.ts';
import { INT_INPUTS } from '../../emit/capabilities.ts';

function rule(title: string): string {
  return `# ${'-'.repeat(3)} ${title} ${'-'.repeat(Math.max(3, 100 - 7 - title.length))}`;
}

function renderOp(op: OpIR): string[] {
  return [rule(op.name.spec), '', ...renderKernels(op), ...renderEnumSubsets(op), ...renderApi(op)];
}

export function renderGenerated(ir: IR): string {
  return file(
    renderPrelude(ir),
    '',
    renderTables(ir),
    '',
    rule('runtime'),
    '',
    renderRuntime(ir),
    '',
    renderStatus(ir),
    '',
    renderMessages(ir),
    '',
    ...ir.enums.flatMap((e) => [renderEnum(e), '']),
    ...ir.ops.flatMap(renderOp),
    rule('every op'),
    '',
    renderOpsTable(ir),
  );
}

export const juliaEmitter: Emitter = {
  name: 'julia',
  description: 'Julia: RankRelax.jl ccall layer, API, pullbacks and pushforwards (src/generated.jl) and the ChainRulesCore extension',
  owns: [GENERATED_PATH, `${EXT_DIR}/`],
  // Any number of outputs (one is returned as is, several as a NamedTuple; the tape holds them), int32
  // ones among them (item positions 1-based); inputs of [batch, n] (a call reads its shape from each);
  // outputs of [batch], [batch, n], [batch, m] (m a list param's length), [batch, k] (k an int param's
  // value) and [batch, n, n]; the JVP kernel (`<op>_jvp`, `<op>_pushforward`, a ChainRulesCore `frule`);
  // the HVP kernel (`<op>_hvp`, `<op>_pullback_hvp`, an rrule of the pullback so that second order
  // through the rrule is exact). Optional inputs are keywords defaulting to `nothing` (a null pointer);
  // bool inputs are `Array{Bool}`s; int32 inputs (group ids) any array of integers but Bools, passed as an
  // `Array{Int32}` (checked to fit), never differentiable, never converted to floats.
  capabilities: { ...INT_INPUTS, perRowInputs: false },
  emit: (ir) => [
    { path: GENERATED_PATH, contents: renderGenerated(ir) },
    { path: `${EXT_DIR}/${EXT_MODULE}.jl`, contents: renderExtension(ir) },
  ],
  describe: describeJulia,
};
