// tests/c/generated/rr_ops_table.h: a table of every op for the hand-written C test program, with
// adapters of one signature per pass, so the test replays any op of the reference file (and any
// op added to the spec later) without knowing its arguments.
import { code, file, join } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { EnumIR, IR, OpIR, ParamIR, TensorIR, TypeNames, VariantKernelIR } from '../../ir/types.ts';
import { isPerRow } from '../../ir/shape.ts';
import { unsupported } from '../../emit/capabilities.ts';
import { assertNever } from '../../util/never.ts';
import { matchParam } from '../../ir/match.ts';
import { matchElem } from '../../ir/match.ts';
import { cDefault, cEnumConstant, cName, cType } from './names.ts';

function cString(s: string): string {
  return JSON.stringify(s);
}

function renderTypes(): string {
  return code`
    typedef enum { RRT_REAL, RRT_ENUM, RRT_BOOL } rrt_param_type;

    /** A param value: \`real\` for real params, \`code\` for enums, \`flag\` for bools. */
    typedef struct {
        double real;
        int32_t code;
        bool flag;
    } rrt_param_value;

    typedef struct {
        const char *name;
        int32_t code;
    } rrt_enum_value;

    typedef struct {
        const char *name;
        rrt_param_type type;
        /** "finite", "positive" or "nonnegative" for real params, else NULL. */
        const char *constraint;
        bool grad;
        rrt_param_value default_value;
        const rrt_enum_value *values;
        size_t num_values;
    } rrt_param;

    typedef struct {
        const char *name;
        /** Shape [batch] (else [batch, n]). */
        bool per_row;
        /** Element type int32 (else the op's real type). */
        bool is_int32;
        /** For inputs: receives a gradient. */
        bool differentiable;
        /** For inputs: "finite" or "nonnegative". */
        const char *constraint;
    } rrt_tensor;

    typedef struct {
        const char *name;
        /** An output of the forward (else an input). */
        bool from_output;
        size_t index;
    } rrt_save;

    typedef int32_t (*rrt_forward_f64)(size_t batch, size_t n, const rrt_param_value *params,
                                       const double *const *inputs, double *const *outputs,
                                       void *const *residuals);
    typedef int32_t (*rrt_forward_f32)(size_t batch, size_t n, const rrt_param_value *params,
                                       const float *const *inputs, float *const *outputs,
                                       void *const *residuals);
    typedef int32_t (*rrt_backward_f64)(size_t batch, size_t n, const rrt_param_value *params,
                                        const double *const *saves, const void *const *residuals,
                                        const double *const *cotangents, double *const *grads,
                                        double *const *param_grads);
    typedef int32_t (*rrt_backward_f32)(size_t batch, size_t n, const rrt_param_value *params,
                                        const float *const *saves, const void *const *residuals,
                                        const float *const *cotangents, float *const *grads,
                                        float *const *param_grads);

    typedef struct {
        const char *name;
        size_t min_n;
        const rrt_param *params;
        size_t num_params;
        const rrt_tensor *inputs;
        size_t num_inputs;
        const rrt_tensor *outputs;
        size_t num_outputs;
        const rrt_tensor *residuals;
        size_t num_residuals;
        const rrt_save *saves;
        size_t num_saves;
        /** Index into inputs of each gradient the backward writes. */
        const size_t *grads;
        size_t num_grads;
        /** Index into params of each per-row param gradient the backward writes. */
        const size_t *param_grads;
        size_t num_param_grads;
        rrt_forward_f32 forward_f32;
        rrt_forward_f64 forward_f64;
        rrt_backward_f32 backward_f32;
        rrt_backward_f64 backward_f64;
    } rrt_op;
  `;
}

function renderEnumTable(e: EnumIR): string {
  return code`
    static const rrt_enum_value rrt_enum_${e.name.snake}[] = {
        ${e.values.map((v) => `{${cString(v.name.spec)}, ${cEnumConstant(e, v)}},`)}
    };
  `;
}

function paramRow(p: ParamIR): string {
  const name = cString(p.name.spec);
  switch (p.type) {
    case 'real':
      return `{${name}, RRT_REAL, ${cString(p.constraint)}, ${p.grad}, {${cDefault(p)}, 0, false}, NULL, 0},`;
    case 'enum':
      return `{${name}, RRT_ENUM, NULL, false, {0.0, ${cEnumConstant(p.enum, p.default)}, false}, rrt_enum_${p.enum.name.snake}, ${p.enum.values.length}},`;
    case 'bool':
      return `{${name}, RRT_BOOL, NULL, false, {0.0, 0, ${cDefault(p)}}, NULL, 0},`;
    case 'int':
    case 'list':
      return unsupported('c', `${p.type} params`);
    default:
      return assertNever(p, 'param type');
  }
}

function tensorRow(t: TensorIR, differentiable = false, constraint: string | null = null): string {
  const isInt = matchElem(t.elem, { real: () => false, int32: () => true, bool: () => unsupported('c', 'bool buffers') });
  return `{${cString(t.name.spec)}, ${isPerRow(t.shape)}, ${isInt}, ${differentiable}, ${constraint === null ? 'NULL' : cString(constraint)}},`;
}

/** A static array, or nothing when empty (C99 has no empty arrays; the table then holds NULL). */
function array(type: string, name: string, rows: readonly string[]): string {
  if (rows.length === 0) return '';
  return code`
    static const ${type} ${name}[] = {
        ${rows}
    };
  `;
}

function ref(name: string, count: number): string {
  return count === 0 ? 'NULL, 0' : `${name}, ${count}`;
}

/** `p[0].real`, `in[1]`, `(int32_t *)res[0]` … for one kernel argument list. */
function adapterCall(k: VariantKernelIR, dtype: TypeNames): string {
  const counters = new Map<string, number>();
  const next = (group: string) => {
    const i = counters.get(group) ?? 0;
    counters.set(group, i + 1);
    return i;
  };
  const args = k.args.map((a) => {
    if (a.kind === 'dim') return cName(a.name);
    if (a.kind === 'param') {
      const i = next('p');
      return matchParam(a.param, {
        real: () => (dtype.id === 'f64' ? `p[${i}].real` : `(float)p[${i}].real`),
        enum: () => `p[${i}].code`,
        bool: () => `p[${i}].flag`,
        int: () => unsupported('c', 'int params'), list: () => unsupported('c', 'list params'),
      });
    }
    const group = { input: 'in', output: 'out', residual: 'res', save: 'saves', cotangent: 'cot', grad: 'grads', param_grad: 'pgrads' }[a.role as string] ?? 'x';
    const i = next(group);
    if (group === 'res') return `(${a.mutable ? '' : 'const '}${cType(a.type)} *)res[${i}]`;
    return `${group}[${i}]`;
  });
  const used = new Set(counters.keys());
  const groups = k.pass === 'forward' ? ['p', 'in', 'out', 'res'] : ['p', 'saves', 'res', 'cot', 'grads', 'pgrads'];
  const unused = groups.filter((g) => !used.has(g)).map((g) => `(void)${g};`);
  return code`
    ${unused}
    return ${k.cSymbol}(${join(args, ', ')});
  `;
}

function renderAdapters(op: OpIR): string {
  return join(
    op.variants.map((v) => {
      const t = cType(v.dtype);
      return code`
        static int32_t rrt_${op.name.snake}_forward_${v.dtype.id}(size_t batch, size_t n, const rrt_param_value *p,
            const ${t} *const *in, ${t} *const *out, void *const *res)
        {
            ${adapterCall(v.forward, v.dtype)}
        }

        static int32_t rrt_${op.name.snake}_backward_${v.dtype.id}(size_t batch, size_t n, const rrt_param_value *p,
            const ${t} *const *saves, const void *const *res, const ${t} *const *cot, ${t} *const *grads,
            ${t} *const *pgrads)
        {
            ${adapterCall(v.backward, v.dtype)}
        }
      `;
    }),
    '\n\n',
  );
}

function renderOpTables(op: OpIR): string {
  const s = `rrt_${op.name.snake}`;
  const paramIndex = (name: string) => op.params.findIndex((p) => p.name.spec === name);
  const inputIndex = (name: string) => op.inputs.findIndex((x) => x.name.spec === name);
  return join(
    [
      `/* ${op.name.spec} */`,
      array('rrt_param', `${s}_params`, op.params.map(paramRow)),
      array('rrt_tensor', `${s}_inputs`, op.inputs.map((x) => tensorRow(x, x.differentiable, x.constraint))),
      array('rrt_tensor', `${s}_outputs`, op.outputs.map((x) => tensorRow(x))),
      array('rrt_tensor', `${s}_residuals`, op.residuals.map((x) => tensorRow(x))),
      array('rrt_save', `${s}_saves`, op.saves.map((x) => {
        const list = x.source === 'input' ? op.inputs : op.outputs;
        return `{${cString(x.name.spec)}, ${x.source === 'output'}, ${list.findIndex((t) => t.name.spec === x.name.spec)}},`;
      })),
      array('size_t', `${s}_grads`, op.grads.map((g) => `${inputIndex(g.of.name.spec)},`)),
      array('size_t', `${s}_param_grads`, op.paramGrads.map((g) => `${paramIndex(g.of.name.spec)},`)),
      renderAdapters(op),
    ],
    '\n\n',
  );
}

function renderOpRow(op: OpIR): string {
  const s = `rrt_${op.name.snake}`;
  return code`
    {
        ${cString(op.name.spec)},
        ${op.minN},
        ${ref(`${s}_params`, op.params.length)},
        ${ref(`${s}_inputs`, op.inputs.length)},
        ${ref(`${s}_outputs`, op.outputs.length)},
        ${ref(`${s}_residuals`, op.residuals.length)},
        ${ref(`${s}_saves`, op.saves.length)},
        ${ref(`${s}_grads`, op.grads.length)},
        ${ref(`${s}_param_grads`, op.paramGrads.length)},
        ${s}_forward_f32,
        ${s}_forward_f64,
        ${s}_backward_f32,
        ${s}_backward_f64,
    },
  `;
}

export function renderTestTable(ir: IR): string {
  return file(
    banner(ir, 'c-block'),
    '/* Every op of the C API as data, with adapters of one signature per pass, for the C test program. */',
    '#ifndef RR_OPS_TABLE_H',
    '#define RR_OPS_TABLE_H',
    '',
    `#include "${ir.native.header}"`,
    '',
    renderTypes(),
    '',
    join(ir.enums.map(renderEnumTable), '\n\n'),
    '',
    join(ir.ops.map(renderOpTables), '\n\n'),
    '',
    `#define RRT_NUM_OPS ${ir.ops.length}`,
    '',
    'static const rrt_op rrt_ops[RRT_NUM_OPS] = {',
    code`
      ${ir.ops.map(renderOpRow)}
    `.replace(/^/gm, '    '),
    '};',
    '',
    '#endif /* RR_OPS_TABLE_H */',
  );
}
