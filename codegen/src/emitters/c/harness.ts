// tests/c/generated/rr_ops_table.h: a table of every op for the hand-written C test program, with
// adapters of one signature per pass, so the test replays any op of the reference file (and any
// op added to the spec later) without knowing its arguments.
import { code, file, join } from '../../emit/code.ts';
import { banner } from '../../emit/text.ts';
import type { DimIR, EnumIR, EnumParamIR, IntBoundIR, IR, ListParamIR, OpIR, ParamIR, Pass, TensorIR, TypeNames, VariantKernelIR } from '../../ir/types.ts';
import { rowRank } from '../../ir/shape.ts';
import { unsupported } from '../../emit/capabilities.ts';
import { assertNever } from '../../util/never.ts';
import { matchParam } from '../../ir/match.ts';
import { matchElem } from '../../ir/match.ts';
import { cDefault, cEnumConstant, cName, cReal, cType } from './names.ts';

function cString(s: string): string {
  return JSON.stringify(s);
}

/** The most dims after batch of any tensor (at least 1, so the row array is never empty). */
function maxRowRank(ir: IR): number {
  const ranks = ir.ops.flatMap((op) => [...op.inputs, ...op.outputs, ...op.residuals].map((t) => rowRank(t.shape)));
  return Math.max(1, ...ranks);
}

function renderTypes(ir: IR): string {
  return code`
    typedef enum { RRT_REAL, RRT_ENUM, RRT_BOOL, RRT_INT, RRT_LIST } rrt_param_type;

    /**
     * A param value: \`real\` for real params, \`code\` for enums, \`flag\` for bools, \`integer\`
     * for ints; a list is \`list_len\` values at \`list\` (f64 kernels) and \`list_f32\` (f32 kernels).
     */
    typedef struct {
        double real;
        int32_t code;
        bool flag;
        int64_t integer;
        const double *list;
        const float *list_f32;
        size_t list_len;
    } rrt_param_value;

    typedef struct {
        const char *name;
        int32_t code;
    } rrt_enum_value;

    /** An inclusive bound: none (\`set\` false), a number, or the call's n. */
    typedef struct {
        bool set;
        bool is_n;
        double value;
    } rrt_bound;

    typedef struct {
        const char *name;
        rrt_param_type type;
        /** "finite", "positive" or "nonnegative" for real params, else NULL. */
        const char *constraint;
        bool grad;
        rrt_param_value default_value;
        /** Enum params: the values the op accepts. */
        const rrt_enum_value *values;
        size_t num_values;
        /** Int params: the bounds of the value; list params: the bounds of every element. */
        rrt_bound min, max;
        /** List params: the fewest elements. */
        size_t min_length;
    } rrt_param;

    /**
     * A dim after batch: n, the length of a list param, or the value of an int param (\`param\`: its
     * index in the op's params).
     */
    typedef enum { RRT_DIM_N, RRT_DIM_LENGTH, RRT_DIM_PARAM } rrt_dim_kind;

    typedef struct {
        rrt_dim_kind kind;
        size_t param;
    } rrt_dim;

    #define RRT_MAX_ROW_RANK ${maxRowRank(ir)}

    typedef struct {
        const char *name;
        /** Dims after batch: 0 for [batch], 1 for [batch, n], [batch, m] or [batch, k], 2 for [batch, n, n]. */
        size_t rank;
        rrt_dim row[RRT_MAX_ROW_RANK];
        /** Element type int32 (else the op's real type, unless is_bool). */
        bool is_int32;
        /** Element type bool (a mask). */
        bool is_bool;
        /** For inputs: may be NULL (absent). */
        bool optional;
        /** For inputs: receives a gradient; for outputs: has a cotangent and a tangent. */
        bool differentiable;
        /** For int32 outputs: the values are positions along n (0-based, -1 for none). */
        bool indexes;
        /** For real inputs: "finite" or "nonnegative" (NULL for an int32 or bool input). */
        const char *constraint;
    } rrt_tensor;

    typedef struct {
        const char *name;
        /** An output of the forward (else an input). */
        bool from_output;
        size_t index;
    } rrt_save;

    /*
     * The adapters take each group of buffers as an array. Inputs and saves are \`const void *\`:
     * the op's real type, \`const int32_t *\` for an int32 input (is_int32), or \`const bool *\`
     * for a bool input (is_bool; NULL when optional and absent); outputs and residuals are the real type or int32_t (is_int32). Cotangents and output
     * tangents are indexed like the outputs: the entry of an output that is not differentiable is
     * never used (it may be NULL).
     */
    typedef int32_t (*rrt_forward_f64)(size_t batch, size_t n, const rrt_param_value *params,
                                       const void *const *inputs, void *const *outputs,
                                       void *const *residuals);
    typedef int32_t (*rrt_forward_f32)(size_t batch, size_t n, const rrt_param_value *params,
                                       const void *const *inputs, void *const *outputs,
                                       void *const *residuals);
    typedef int32_t (*rrt_backward_f64)(size_t batch, size_t n, const rrt_param_value *params,
                                        const void *const *saves, const void *const *residuals,
                                        const double *const *cotangents, double *const *grads,
                                        double *const *param_grads);
    typedef int32_t (*rrt_backward_f32)(size_t batch, size_t n, const rrt_param_value *params,
                                        const void *const *saves, const void *const *residuals,
                                        const float *const *cotangents, float *const *grads,
                                        float *const *param_grads);
    /** The JVP: \`param_tangents\` holds one scalar per param with grad (the order of \`param_grads\`). */
    typedef int32_t (*rrt_jvp_f64)(size_t batch, size_t n, const rrt_param_value *params,
                                   const void *const *saves, const void *const *residuals,
                                   const double *const *tangents, const double *param_tangents,
                                   double *const *output_tangents);
    typedef int32_t (*rrt_jvp_f32)(size_t batch, size_t n, const rrt_param_value *params,
                                   const void *const *saves, const void *const *residuals,
                                   const float *const *tangents, const float *param_tangents,
                                   float *const *output_tangents);
    /** The HVP: writes the derivative of each gradient of the backward (and, per row, of each param gradient). */
    typedef int32_t (*rrt_hvp_f64)(size_t batch, size_t n, const rrt_param_value *params,
                                   const void *const *saves, const void *const *residuals,
                                   const double *const *cotangents, const double *const *tangents,
                                   const double *param_tangents, double *const *hvps, double *const *param_hvps);
    typedef int32_t (*rrt_hvp_f32)(size_t batch, size_t n, const rrt_param_value *params,
                                   const void *const *saves, const void *const *residuals,
                                   const float *const *cotangents, const float *const *tangents,
                                   const float *param_tangents, float *const *hvps, float *const *param_hvps);

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
        /** NULL when the op has no JVP. */
        rrt_jvp_f32 jvp_f32;
        rrt_jvp_f64 jvp_f64;
        /** NULL when the op has no HVP. */
        rrt_hvp_f32 hvp_f32;
        rrt_hvp_f64 hvp_f64;
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

/** The table of the values an enum param accepts: its enum's, or the op's subset. */
function enumValuesName(op: OpIR, p: EnumParamIR): string {
  return p.values.length === p.enum.values.length ? `rrt_enum_${p.enum.name.snake}` : `rrt_${op.name.snake}_${p.name.snake}_values`;
}

/** `rrt_soft_quantile_quantiles_default`, and `…_f32`. */
function listDefaultName(op: OpIR, p: ListParamIR, f32: boolean): string {
  return `rrt_${op.name.snake}_${p.name.snake}_default${f32 ? '_f32' : ''}`;
}

/** What a param row needs besides itself: an enum subset's values, a list default's arrays. */
function paramData(op: OpIR, p: ParamIR): string {
  return matchParam(p, {
    real: () => '',
    bool: () => '',
    int: () => '',
    enum: (e) =>
      e.values.length === e.enum.values.length
        ? ''
        : code`
            static const rrt_enum_value ${enumValuesName(op, e)}[] = {
                ${e.values.map((v) => `{${cString(v.name.spec)}, ${cEnumConstant(e.enum, v)}},`)}
            };
          `,
    list: (l) => code`
      static const double ${listDefaultName(op, l, false)}[] = {${l.default.map(cReal).join(', ')}};
      static const float ${listDefaultName(op, l, true)}[] = {${l.default.map((x) => `${cReal(x)}f`).join(', ')}};
    `,
  });
}

/** An `rrt_bound`: an int param's bound (a number or the dim n) or a list element's, null when unbounded. */
function bound(b: IntBoundIR | number | null): string {
  if (b === null) return '{false, false, 0.0}';
  if (typeof b === 'number') return `{true, false, ${cReal(b)}}`;
  switch (b.kind) {
    case 'value':
      return `{true, false, ${cReal(b.value)}}`;
    case 'dim':
      if (b.dim !== 'n') return unsupported('c', `an int bound of the dim ${b.dim}`);
      return '{true, true, 0.0}';
    default:
      return assertNever(b, 'int bound');
  }
}

function paramRow(op: OpIR, p: ParamIR): string {
  const head = `.name = ${cString(p.name.spec)}`;
  return matchParam(p, {
    real: (r) => `{${head}, .type = RRT_REAL, .constraint = ${cString(r.constraint)}, .grad = ${r.grad}, .default_value = {.real = ${cDefault(r)}}},`,
    enum: (e) =>
      `{${head}, .type = RRT_ENUM, .default_value = {.code = ${cEnumConstant(e.enum, e.default)}}, .values = ${enumValuesName(op, e)}, .num_values = ${e.values.length}},`,
    bool: (b) => `{${head}, .type = RRT_BOOL, .default_value = {.flag = ${cDefault(b)}}},`,
    int: (i) => `{${head}, .type = RRT_INT, .default_value = {.integer = ${i.default}}, .min = ${bound(i.min)}, .max = ${bound(i.max)}},`,
    list: (l) =>
      `{${head}, .type = RRT_LIST, .default_value = {.list = ${listDefaultName(op, l, false)}, .list_f32 = ${listDefaultName(op, l, true)}, ` +
      `.list_len = ${l.default.length}}, .min = ${bound(l.min)}, .max = ${bound(l.max)}, .min_length = ${l.minLength}},`,
  });
}

function dimRow(op: OpIR, d: DimIR): string {
  switch (d.kind) {
    case 'n':
      return '{RRT_DIM_N, 0}';
    case 'length':
      return `{RRT_DIM_LENGTH, ${op.params.findIndex((p) => p.name.spec === d.param)}}`;
    case 'param':
      return `{RRT_DIM_PARAM, ${op.params.findIndex((p) => p.name.spec === d.param)}}`;
    case 'batch':
      return unsupported('c', 'batch after the first dim');
    default:
      return assertNever(d, 'dim kind');
  }
}

function tensorRow(op: OpIR, t: TensorIR, differentiable = false, constraint: string | null = null, optional = false, indexes = false): string {
  const elem = matchElem(t.elem, { real: () => '', int32: () => ', .is_int32 = true', bool: () => ', .is_bool = true' }) + (indexes ? ', .indexes = true' : '');
  const row = t.shape.row.length === 0 ? '' : `, .row = {${t.shape.row.map((d) => dimRow(op, d)).join(', ')}}`;
  return (
    `{.name = ${cString(t.name.spec)}, .rank = ${rowRank(t.shape)}${row}${elem}, ` +
    `.differentiable = ${differentiable}, .constraint = ${constraint === null ? 'NULL' : cString(constraint)}${optional ? ', .optional = true' : ''}},`
  );
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

/** The array arguments of each pass's adapter. */
const ADAPTER_GROUPS: Readonly<Record<Pass, readonly string[]>> = {
  forward: ['p', 'in', 'out', 'res'],
  backward: ['p', 'saves', 'res', 'cot', 'grads', 'pgrads'],
  jvp: ['p', 'saves', 'res', 'tan', 'ptan', 'otan'],
  hvp: ['p', 'saves', 'res', 'cot', 'tan', 'ptan', 'hvp', 'phvp'],
};

/** `p[0].real`, `in[1]`, `(int32_t *)res[0]` … for one kernel argument list. */
function adapterCall(op: OpIR, k: VariantKernelIR, dtype: TypeNames): string {
  const outputIndex = (name: string | null) => {
    const i = op.outputs.findIndex((x) => x.name.spec === name);
    if (i < 0) throw new Error(`op ${op.name.spec}: ${String(name)} is no output`);
    return i;
  };
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
        int: () => `p[${i}].integer`,
        list: () => (dtype.id === 'f64' ? `p[${i}].list, p[${i}].list_len` : `p[${i}].list_f32, p[${i}].list_len`),
      });
    }
    if (a.kind === 'scalar') return `ptan[${next('ptan')}]`;
    const group = {
      input: 'in',
      output: 'out',
      residual: 'res',
      save: 'saves',
      cotangent: 'cot',
      grad: 'grads',
      param_grad: 'pgrads',
      tangent: 'tan',
      output_tangent: 'otan',
      hvp: 'hvp',
      param_hvp: 'phvp',
    }[a.role];
    // Cotangents and output tangents are indexed like the outputs (some outputs have none).
    const i = group === 'cot' || group === 'otan' ? outputIndex(a.of) : next(group);
    if (group === 'cot' || group === 'otan') counters.set(group, 1);
    // Outputs, residuals, inputs and saves come as `void *`: their element types differ.
    if (group === 'out' || group === 'res' || group === 'in' || group === 'saves') return `(${a.mutable ? '' : 'const '}${cType(a.type)} *)${group}[${i}]`;
    return `${group}[${i}]`;
  });
  const used = new Set(counters.keys());
  const groups = ADAPTER_GROUPS[k.pass];
  const unused = groups.filter((g) => !used.has(g)).map((g) => `(void)${g};`);
  return code`
    ${unused}
    return ${k.cSymbol}(${join(args, ', ')});
  `;
}

function jvpAdapter(op: OpIR, k: VariantKernelIR, dtype: TypeNames): string {
  const t = cType(dtype);
  return code`

    static int32_t rrt_${op.name.snake}_jvp_${dtype.id}(size_t batch, size_t n, const rrt_param_value *p,
        const void *const *saves, const void *const *res, const ${t} *const *tan, const ${t} *ptan,
        ${t} *const *otan)
    {
        ${adapterCall(op, k, dtype)}
    }
  `;
}

function hvpAdapter(op: OpIR, k: VariantKernelIR, dtype: TypeNames): string {
  const t = cType(dtype);
  return code`

    static int32_t rrt_${op.name.snake}_hvp_${dtype.id}(size_t batch, size_t n, const rrt_param_value *p,
        const void *const *saves, const void *const *res, const ${t} *const *cot, const ${t} *const *tan,
        const ${t} *ptan, ${t} *const *hvp, ${t} *const *phvp)
    {
        ${adapterCall(op, k, dtype)}
    }
  `;
}

function renderAdapters(op: OpIR): string {
  return join(
    op.variants.map((v) => {
      const t = cType(v.dtype);
      return code`
        static int32_t rrt_${op.name.snake}_forward_${v.dtype.id}(size_t batch, size_t n, const rrt_param_value *p,
            const void *const *in, void *const *out, void *const *res)
        {
            ${adapterCall(op, v.forward, v.dtype)}
        }

        static int32_t rrt_${op.name.snake}_backward_${v.dtype.id}(size_t batch, size_t n, const rrt_param_value *p,
            const void *const *saves, const void *const *res, const ${t} *const *cot, ${t} *const *grads,
            ${t} *const *pgrads)
        {
            ${adapterCall(op, v.backward, v.dtype)}
        }
        ${v.jvp === null ? '' : jvpAdapter(op, v.jvp, v.dtype)}
        ${v.hvp === null ? '' : hvpAdapter(op, v.hvp, v.dtype)}
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
      ...op.params.map((p) => paramData(op, p)).filter((x) => x !== ''),
      array('rrt_param', `${s}_params`, op.params.map((p) => paramRow(op, p))),
      // A value constraint is a real input's (an int32 or bool input has none).
      array('rrt_tensor', `${s}_inputs`, op.inputs.map((x) => tensorRow(op, x, x.differentiable, x.elem === 'real' ? x.constraint : null, x.optional))),
      array('rrt_tensor', `${s}_outputs`, op.outputs.map((x) => tensorRow(op, x, x.differentiable, null, false, x.indexes))),
      array('rrt_tensor', `${s}_residuals`, op.residuals.map((x) => tensorRow(op, x))),
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
        ${op.jvp === null ? 'NULL' : `${s}_jvp_f32`},
        ${op.jvp === null ? 'NULL' : `${s}_jvp_f64`},
        ${op.hvp === null ? 'NULL' : `${s}_hvp_f32`},
        ${op.hvp === null ? 'NULL' : `${s}_hvp_f64`},
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
    renderTypes(ir),
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
