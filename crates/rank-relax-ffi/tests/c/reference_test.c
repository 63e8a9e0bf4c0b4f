/* The C API replays the reference vectors and checks its error paths.
 *
 * Every case of the reference files goes through the public C API: RANK_RELAX_REFERENCE (paths
 * separated by ':'; default testdata/reference/ops-v1.json relative to the working directory, i.e.
 * the repository root), then testdata/reference/wave2-topk-quantile.json, wave2-neural-sort.json
 * and masks.json (whose cases give a mask input, a `[B][n]` list of JSON booleans) unless a path of
 * RANK_RELAX_REFERENCE has their file name, RANK_RELAX_REFERENCE_SORT_TOPK (default
 * testdata/reference/soft-sort-topk.json) and RANK_RELAX_REFERENCE_GROUPED (default
 * testdata/reference/soft-rank-grouped.json). A case of an op with one output gives `output` and
 * `cotangent`; one of an op with several gives `outputs` and `cotangents` by output name (a
 * cotangent for each differentiable output). An int32 input (is_int32: soft_rank_grouped's group
 * ids) is a `[B][n]` list of JSON integers in int32 range, passed as int32_t exactly (never through
 * a real), the same buffer in both precisions:
 *   - f64: real outputs to 1e-9 (absolute + relative), int32 outputs exactly, VJP and the per-row
 *     gradient of a param (where the file gives it) to 1e-7 absolute + 1e-9 relative;
 *   - f32: forward, VJP and param gradients against the f64 API on the same f32-rounded inputs
 *     (int32 outputs exactly)
 *     (params, lists and cotangents rounded too), to 1e-4 of the row's largest magnitude (+1e-6
 *     absolute, so that a row of zeros compares sanely; +1e-5 for a row's param gradient, one sum
 *     whose terms may cancel).
 * Then, for every op: bad params (out of range, unknown enum codes, NULL, empty and out-of-range
 * lists), NaN and out-of-domain real inputs, NULL and overlapping buffers, overflowing shapes, masks
 * (NaN at an absent item, a byte other than 0 or 1, an output over the mask), int32 inputs (the
 * int32 extremes valid, NULL refused, an output over them an overlap), too-short rows, empty
 * batches; the status and rr_last_error() naming the op.
 *
 * Ops are driven through the generated table (generated/rr_ops_table.h), so a new op in the spec
 * is covered without changes here. Prints `N passed, N failed`; exits non-zero on any failure. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generated/rr_ops_table.h"
#include "harness.h"
#include "json.h"
#include "rank_relax.h"
#include "shapes.h"

#define MAX_ARGS 8
#define DEFAULT_REFERENCE "testdata/reference/ops-v1.json"

/* Replayed besides RANK_RELAX_REFERENCE: the reference vectors of the ops added after ops-v1. */
static const char *const more_references[] = {
    "testdata/reference/wave2-topk-quantile.json",
    "testdata/reference/wave2-neural-sort.json",
    "testdata/reference/masks.json",
};

#define SORT_TOPK_REFERENCE "testdata/reference/soft-sort-topk.json"
#define GROUPED_REFERENCE "testdata/reference/soft-rank-grouped.json"

static size_t elem_size(const rrt_tensor *t, int f32)
{
    return t->is_bool ? sizeof(bool) : t->is_int32 ? sizeof(int32_t) : (f32 ? sizeof(float) : sizeof(double));
}

/* ---- one call's buffers, for either precision ------------------------------------------- */

typedef struct {
    const rrt_op *op;
    size_t batch, n;
    int f32;
    rrt_param_value params[MAX_ARGS];
    /* The call's own copies of its list params (both precisions). */
    double *lists[MAX_ARGS];
    float *lists_f32[MAX_ARGS];
    /* A bool input (a mask) is NULL, absent, unless the test sets it (buffers_mask); an int32
     * input (group ids) holds int32_t in either precision. */
    void *inputs[MAX_ARGS];
    void *outputs[MAX_ARGS];
    void *residuals[MAX_ARGS];
    void *cotangents[MAX_ARGS];
    void *grads[MAX_ARGS];
    void *param_grads[MAX_ARGS];
} call_buffers;

static size_t tensor_len(const call_buffers *b, const rrt_tensor *t)
{
    return shape_len(t, b->batch, b->n, b->params);
}

/* Every buffer of a call, sized from its shape with `params` (NULL: the defaults), whose lists are
 * copied (each value also as a float for the f32 kernels). */
static void buffers_alloc(call_buffers *b, const rrt_op *op, size_t batch, size_t n, int f32,
                          const rrt_param_value *params)
{
    size_t i, j;
    size_t real = f32 ? sizeof(float) : sizeof(double);
    memset(b, 0, sizeof *b);
    b->op = op;
    b->batch = batch;
    b->n = n;
    b->f32 = f32;
    for (i = 0; i < op->num_params; i++) {
        b->params[i] = params != NULL ? params[i] : op->params[i].default_value;
        if (op->params[i].type == RRT_LIST) {
            size_t len = b->params[i].list_len;
            b->lists[i] = xcalloc(len, sizeof(double));
            b->lists_f32[i] = xcalloc(len, sizeof(float));
            for (j = 0; j < len; j++) {
                b->lists[i][j] = b->params[i].list[j];
                b->lists_f32[i][j] = (float)b->params[i].list[j];
            }
            b->params[i].list = b->lists[i];
            b->params[i].list_f32 = b->lists_f32[i];
        }
    }
    for (i = 0; i < op->num_inputs; i++) {
        if (!op->inputs[i].is_bool) {
            b->inputs[i] = xcalloc(tensor_len(b, &op->inputs[i]), elem_size(&op->inputs[i], f32));
        }
    }
    for (i = 0; i < op->num_outputs; i++) {
        b->outputs[i] = xcalloc(tensor_len(b, &op->outputs[i]), elem_size(&op->outputs[i], f32));
        if (op->outputs[i].differentiable) {
            b->cotangents[i] = xcalloc(tensor_len(b, &op->outputs[i]), real);
        }
    }
    for (i = 0; i < op->num_residuals; i++) {
        b->residuals[i] = xcalloc(tensor_len(b, &op->residuals[i]), elem_size(&op->residuals[i], f32));
    }
    for (i = 0; i < op->num_grads; i++) {
        b->grads[i] = xcalloc(tensor_len(b, &op->inputs[op->grads[i]]), real);
    }
    for (i = 0; i < op->num_param_grads; i++) {
        b->param_grads[i] = xcalloc(batch, real);
    }
}

static void buffers_free(call_buffers *b)
{
    size_t i;
    for (i = 0; i < MAX_ARGS; i++) {
        free(b->lists[i]);
        free(b->lists_f32[i]);
        free(b->inputs[i]);
        free(b->outputs[i]);
        free(b->residuals[i]);
        free(b->cotangents[i]);
        free(b->grads[i]);
        free(b->param_grads[i]);
    }
}

/* Sets bool input `i` from `values` (nonzero = true); NULL leaves it absent. */
static void buffers_mask(call_buffers *b, size_t i, const double *values)
{
    size_t j, len = tensor_len(b, &b->op->inputs[i]);
    free(b->inputs[i]);
    b->inputs[i] = NULL;
    if (values == NULL) {
        return;
    }
    b->inputs[i] = xcalloc(len, sizeof(bool));
    for (j = 0; j < len; j++) {
        ((bool *)b->inputs[i])[j] = values[j] != 0.0;
    }
}

/* Sets int32 input `i` from `values`, integers in int32 range (load_case checks them). */
static void buffers_ints(call_buffers *b, size_t i, const double *values)
{
    size_t j, len = tensor_len(b, &b->op->inputs[i]);
    for (j = 0; j < len; j++) {
        ((int32_t *)b->inputs[i])[j] = (int32_t)values[j];
    }
}

static int32_t call_forward(call_buffers *b)
{
    if (b->f32) {
        return b->op->forward_f32(b->batch, b->n, b->params, (const void *const *)b->inputs, b->outputs,
                                  b->residuals);
    }
    return b->op->forward_f64(b->batch, b->n, b->params, (const void *const *)b->inputs, b->outputs,
                              b->residuals);
}

static int32_t call_backward(call_buffers *b)
{
    const void *saves[MAX_ARGS];
    size_t i;
    for (i = 0; i < b->op->num_saves; i++) {
        const rrt_save *s = &b->op->saves[i];
        saves[i] = s->from_output ? b->outputs[s->index] : b->inputs[s->index];
    }
    if (b->f32) {
        return b->op->backward_f32(b->batch, b->n, b->params, saves,
                                   (const void *const *)b->residuals, (const float *const *)b->cotangents,
                                   (float *const *)b->grads, (float *const *)b->param_grads);
    }
    return b->op->backward_f64(b->batch, b->n, b->params, saves,
                               (const void *const *)b->residuals, (const double *const *)b->cotangents,
                               (double *const *)b->grads, (double *const *)b->param_grads);
}

static double get(const call_buffers *b, const void *buffer, size_t i)
{
    return b->f32 ? (double)((const float *)buffer)[i] : ((const double *)buffer)[i];
}

/* Element i of a buffer of tensor `t`: real, or int32 (an output of positions). */
static double get_elem(const call_buffers *b, const rrt_tensor *t, const void *buffer, size_t i)
{
    return t->is_int32 ? (double)((const int32_t *)buffer)[i] : get(b, buffer, i);
}

static void set(const call_buffers *b, void *buffer, size_t i, double v)
{
    if (b->f32) {
        ((float *)buffer)[i] = (float)v;
    } else {
        ((double *)buffer)[i] = v;
    }
}

/* ---- reading a case -------------------------------------------------------------------- */

/* Copies a nested JSON array of shape dims[0] x ... x dims[rank - 1] into `dst`, row-major; 0 if
 * the shape is wrong. The elements are numbers, or booleans (1 and 0) when `bools`. */
static int read_nested(const json_value *v, const size_t *dims, size_t rank, int bools, double *dst)
{
    size_t i, stride = 1;
    if (v == NULL) {
        return 0;
    }
    if (rank == 0) {
        if (bools) {
            *dst = v->type == JSON_TRUE ? 1.0 : 0.0;
            return v->type == JSON_TRUE || v->type == JSON_FALSE;
        }
        *dst = v->number;
        return v->type == JSON_NUMBER;
    }
    if (v->type != JSON_ARRAY || v->count != dims[0]) {
        return 0;
    }
    for (i = 1; i < rank; i++) {
        stride *= dims[i];
    }
    for (i = 0; i < dims[0]; i++) {
        if (!read_nested(&v->items[i], dims + 1, rank - 1, bools, dst + i * stride)) {
            return 0;
        }
    }
    return 1;
}

/* Copies the JSON array of tensor `t` ([B], [B][n], [B][m], [B][n][n]) into `dst`; 0 if the shape
 * is wrong. */
static int read_tensor(const json_value *v, const rrt_tensor *t, size_t batch, size_t n,
                       const rrt_param_value *params, double *dst)
{
    size_t dims[1 + RRT_MAX_ROW_RANK], i;
    dims[0] = batch;
    for (i = 0; i < t->rank; i++) {
        dims[1 + i] = shape_dim(t->row[i], n, params);
    }
    return read_nested(v, dims, 1 + t->rank, t->is_bool, dst);
}

typedef struct {
    const char *file;
    size_t index;
    const rrt_op *op;
    size_t batch, n;
    rrt_param_value params[MAX_ARGS];
    double *lists[MAX_ARGS];    /* the values of list params */
    double *inputs[MAX_ARGS];   /* NULL for an optional input the case leaves out; an int32
                                   input's integers, exact in a double */
    double *outputs[MAX_ARGS];
    double *cotangents[MAX_ARGS]; /* by output index; all NULL when the case checks no VJP */
    int has_cotangents;
    double *vjp[MAX_ARGS];      /* by gradient index; NULL if the file gives none */
    double *param_grads[MAX_ARGS]; /* by param gradient index, [B]; NULL if the file gives none */
} ref_case;

static size_t case_len(const ref_case *c, const rrt_tensor *t)
{
    return shape_len(t, c->batch, c->n, c->params);
}

static const rrt_op *find_op(const char *name)
{
    size_t i;
    for (i = 0; i < RRT_NUM_OPS; i++) {
        if (strcmp(rrt_ops[i].name, name) == 0) {
            return &rrt_ops[i];
        }
    }
    return NULL;
}

static void free_case(ref_case *c)
{
    size_t i;
    for (i = 0; i < MAX_ARGS; i++) {
        free(c->lists[i]);
        free(c->inputs[i]);
        free(c->vjp[i]);
        free(c->param_grads[i]);
        free(c->outputs[i]);
        free(c->cotangents[i]);
    }
}

/* The index of an op's one output (`with_cotangent`: its one differentiable output), or
 * num_outputs when it has several. */
static size_t sole_output(const rrt_op *op, int with_cotangent)
{
    size_t i, found = op->num_outputs, count = 0;
    for (i = 0; i < op->num_outputs; i++) {
        if (!with_cotangent || op->outputs[i].differentiable) {
            found = i;
            count++;
        }
    }
    return count == 1 ? found : op->num_outputs;
}

/* Output `i` of a case: `outputs.<name>`, or `output` for an op with one output; the same for
 * `cotangents` / `cotangent`, where one differentiable output is enough. */
static const json_value *case_output(const json_value *json, const rrt_op *op, size_t i, const char *plural,
                                     const char *single)
{
    const json_value *all = json_get(json, plural);
    if (all != NULL) {
        return json_get(all, op->outputs[i].name);
    }
    return sole_output(op, strcmp(plural, "cotangents") == 0) == i ? json_get(json, single) : NULL;
}

/* Fills `c` from the JSON case; on a malformed case returns 0 with `why` set. */
static int load_case(const json_value *json, const char *file, size_t index, ref_case *c, char *why, size_t why_size)
{
    const json_value *op_name = json_get(json, "op");
    const json_value *params = json_get(json, "params");
    const json_value *inputs = json_get(json, "inputs");
    const json_value *first;
    const rrt_op *op;
    size_t i, k;

    memset(c, 0, sizeof *c);
    c->file = file;
    c->index = index;
    if (op_name == NULL || op_name->type != JSON_STRING) {
        snprintf(why, why_size, "no op");
        return 0;
    }
    op = find_op(op_name->string);
    if (op == NULL) {
        snprintf(why, why_size, "op %s is not in the C API", op_name->string);
        return 0;
    }
    c->op = op;
    if (op->num_outputs > MAX_ARGS || op->num_inputs > MAX_ARGS || op->num_params > MAX_ARGS) {
        snprintf(why, why_size, "%s: more tensors than the reader holds", op->name);
        return 0;
    }
    first = json_get(inputs, op->inputs[0].name);
    if (first == NULL || first->type != JSON_ARRAY || first->count == 0 || first->items[0].type != JSON_ARRAY) {
        snprintf(why, why_size, "%s: input %s missing or not [B][n]", op->name, op->inputs[0].name);
        return 0;
    }
    c->batch = first->count;
    c->n = first->items[0].count;

    for (i = 0; i < op->num_params; i++) {
        const rrt_param *p = &op->params[i];
        const json_value *v = json_get(params, p->name);
        c->params[i] = p->default_value;
        if (v == NULL) {
            continue;
        }
        if (p->type == RRT_REAL && v->type == JSON_NUMBER) {
            c->params[i].real = v->number;
        } else if (p->type == RRT_BOOL && (v->type == JSON_TRUE || v->type == JSON_FALSE)) {
            c->params[i].flag = v->type == JSON_TRUE;
        } else if (p->type == RRT_INT && v->type == JSON_NUMBER && v->number == floor(v->number) &&
                   fabs(v->number) < 9007199254740992.0) {
            c->params[i].integer = (int64_t)v->number;
        } else if (p->type == RRT_LIST && v->type == JSON_ARRAY) {
            c->lists[i] = xcalloc(v->count, sizeof(double));
            for (k = 0; k < v->count; k++) {
                if (v->items[k].type != JSON_NUMBER) {
                    snprintf(why, why_size, "%s: %s[%lu] is not a number", op->name, p->name, (unsigned long)k);
                    return 0;
                }
                c->lists[i][k] = v->items[k].number;
            }
            c->params[i].list = c->lists[i];
            c->params[i].list_f32 = NULL;
            c->params[i].list_len = v->count;
        } else if (p->type == RRT_ENUM && v->type == JSON_STRING) {
            for (k = 0; k < p->num_values && strcmp(p->values[k].name, v->string) != 0; k++) {
            }
            if (k == p->num_values) {
                snprintf(why, why_size, "%s: unknown %s \"%s\"", op->name, p->name, v->string);
                return 0;
            }
            c->params[i].code = p->values[k].code;
        } else {
            snprintf(why, why_size, "%s: param %s has the wrong type", op->name, p->name);
            return 0;
        }
    }
    for (i = 0; i < op->num_inputs; i++) {
        const rrt_tensor *t = &op->inputs[i];
        if (t->optional && json_get(inputs, t->name) == NULL) {
            continue;
        }
        c->inputs[i] = xcalloc(case_len(c, t), sizeof(double));
        if (!read_tensor(json_get(inputs, t->name), t, c->batch, c->n, c->params, c->inputs[i])) {
            snprintf(why, why_size, "%s: input %s has the wrong shape", op->name, t->name);
            return 0;
        }
        for (k = 0; t->is_int32 && k < case_len(c, t); k++) {
            double x = c->inputs[i][k];
            if (!(x == floor(x) && x >= (double)INT32_MIN && x <= (double)INT32_MAX)) {
                snprintf(why, why_size, "%s: input %s holds %.17g, not an int32", op->name, t->name, x);
                return 0;
            }
        }
    }
    for (i = 0; i < op->num_outputs; i++) {
        const rrt_tensor *t = &op->outputs[i];
        c->outputs[i] = xcalloc(case_len(c, t), sizeof(double));
        if (!read_tensor(case_output(json, op, i, "outputs", "output"), t, c->batch, c->n, c->params, c->outputs[i])) {
            snprintf(why, why_size, "%s: output %s missing or of the wrong shape", op->name, t->name);
            return 0;
        }
    }
    if (json_get(json, "cotangent") != NULL || json_get(json, "cotangents") != NULL) {
        const json_value *vjp = json_get(json, "vjp");
        c->has_cotangents = 1;
        for (i = 0; i < op->num_outputs; i++) {
            const rrt_tensor *t = &op->outputs[i];
            if (!t->differentiable) {
                continue;
            }
            c->cotangents[i] = xcalloc(case_len(c, t), sizeof(double));
            if (!read_tensor(case_output(json, op, i, "cotangents", "cotangent"), t, c->batch, c->n, c->params,
                             c->cotangents[i])) {
                snprintf(why, why_size, "%s: cotangent of %s missing or of the wrong shape", op->name, t->name);
                return 0;
            }
        }
        for (k = 0; vjp != NULL && k < vjp->count; k++) {
            for (i = 0; i < op->num_grads && strcmp(op->inputs[op->grads[i]].name, vjp->keys[k]) != 0; i++) {
            }
            if (i == op->num_grads) {
                snprintf(why, why_size, "%s: vjp names %s, which gets no gradient", op->name, vjp->keys[k]);
                return 0;
            }
        }
        for (i = 0; i < op->num_grads; i++) {
            const rrt_tensor *t = &op->inputs[op->grads[i]];
            const json_value *g = json_get(vjp, t->name);
            if (g == NULL) {
                continue;
            }
            c->vjp[i] = xcalloc(case_len(c, t), sizeof(double));
            if (!read_tensor(g, t, c->batch, c->n, c->params, c->vjp[i])) {
                snprintf(why, why_size, "%s: vjp %s has the wrong shape", op->name, t->name);
                return 0;
            }
        }
        /* The per-row gradient of a param: "grad_<param>": [B]. */
        for (i = 0; i < op->num_param_grads; i++) {
            char key[128];
            const json_value *g;
            size_t batch_dim[1];
            snprintf(key, sizeof key, "grad_%s", op->params[op->param_grads[i]].name);
            g = json_get(json, key);
            if (g == NULL) {
                continue;
            }
            batch_dim[0] = c->batch;
            c->param_grads[i] = xcalloc(c->batch, sizeof(double));
            if (!read_nested(g, batch_dim, 1, 0, c->param_grads[i])) {
                snprintf(why, why_size, "%s: %s is not [B]", op->name, key);
                return 0;
            }
        }
    }
    return 1;
}

/* ---- comparisons ----------------------------------------------------------------------- */

/* |got - want| <= abs_tol + rel_tol * |want| everywhere; else describes the first miss. `t`: the
 * tensor of an int32 output (compared exactly), else NULL. */
static int compare_abs_rel(const call_buffers *b, const rrt_tensor *t, const void *got, const double *want,
                           size_t len, size_t width, double abs_tol, double rel_tol, const char *what, char *why,
                           size_t why_size)
{
    size_t i;
    if (t != NULL && t->is_int32) {
        abs_tol = rel_tol = 0.0;
    }
    for (i = 0; i < len; i++) {
        double g = t != NULL ? get_elem(b, t, got, i) : get(b, got, i);
        if (!(fabs(g - want[i]) <= abs_tol + rel_tol * fabs(want[i]))) {
            snprintf(why, why_size, "%s[%lu, %lu] = %.17g, want %.17g", what, (unsigned long)(i / width),
                     (unsigned long)(i % width), g, want[i]);
            return 0;
        }
    }
    return 1;
}

/* f32 result vs f64 result: per row, |got - want| <= 1e-4 * max|want in row| + abs_tol; `t`: the
 * tensor of an int32 output (the same exactly), else NULL. */
static int compare_rowwise(const call_buffers *b32, const rrt_tensor *t, const void *got, const call_buffers *b64,
                           const void *want, size_t rows, size_t width, double abs_tol, const char *what, char *why,
                           size_t why_size)
{
    size_t r, j;
    int exact = t != NULL && t->is_int32;
    for (r = 0; r < rows; r++) {
        double scale = 0.0;
        for (j = 0; j < width && !exact; j++) {
            double w = fabs(get(b64, want, r * width + j));
            scale = w > scale ? w : scale;
        }
        for (j = 0; j < width; j++) {
            double g = exact ? get_elem(b32, t, got, r * width + j) : get(b32, got, r * width + j);
            double w = exact ? get_elem(b64, t, want, r * width + j) : get(b64, want, r * width + j);
            if (exact ? g != w : !(fabs(g - w) <= 1e-4 * scale + abs_tol)) {
                snprintf(why, why_size, "%s[%lu, %lu] = %.9g, f64 gives %.17g (row max %.3g)", what, (unsigned long)r,
                         (unsigned long)j, g, w, scale);
                return 0;
            }
        }
    }
    return 1;
}

/* ---- the reference cases --------------------------------------------------------------- */

static const char *last_error(void)
{
    return rr_last_error();
}

static void run_case_f64(const ref_case *c)
{
    const rrt_op *op = c->op;
    call_buffers b;
    char why[512] = "";
    int ok = 1;
    int32_t status;
    size_t i;

    buffers_alloc(&b, op, c->batch, c->n, 0, c->params);
    for (i = 0; i < op->num_inputs; i++) {
        if (op->inputs[i].is_bool) {
            buffers_mask(&b, i, c->inputs[i]);
        } else if (op->inputs[i].is_int32) {
            buffers_ints(&b, i, c->inputs[i]);
        } else {
            memcpy(b.inputs[i], c->inputs[i], case_len(c, &op->inputs[i]) * sizeof(double));
        }
    }
    status = call_forward(&b);
    if (status != RR_OK) {
        snprintf(why, sizeof why, "forward returned %d: %s", (int)status, last_error());
        ok = 0;
    }
    for (i = 0; ok && i < op->num_outputs; i++) {
        const rrt_tensor *out = &op->outputs[i];
        ok = compare_abs_rel(&b, out, b.outputs[i], c->outputs[i], case_len(c, out),
                             shape_row_len(out, c->n, c->params), 1e-9, 1e-9, out->name, why, sizeof why);
    }
    if (ok && c->has_cotangents) {
        for (i = 0; i < op->num_outputs; i++) {
            if (c->cotangents[i] != NULL) {
                memcpy(b.cotangents[i], c->cotangents[i], case_len(c, &op->outputs[i]) * sizeof(double));
            }
        }
        status = call_backward(&b);
        if (status != RR_OK) {
            snprintf(why, sizeof why, "backward returned %d: %s", (int)status, last_error());
            ok = 0;
        }
        for (i = 0; ok && i < op->num_grads; i++) {
            const rrt_tensor *t = &op->inputs[op->grads[i]];
            if (c->vjp[i] != NULL) {
                char what[128];
                snprintf(what, sizeof what, "grad_%s", t->name);
                ok = compare_abs_rel(&b, NULL, b.grads[i], c->vjp[i], case_len(c, t),
                                     shape_row_len(t, c->n, c->params), 1e-7, 1e-9, what, why, sizeof why);
            }
        }
        for (i = 0; ok && i < op->num_param_grads; i++) {
            size_t r;
            if (c->param_grads[i] != NULL) {
                char what[128];
                snprintf(what, sizeof what, "grad_%s", op->params[op->param_grads[i]].name);
                ok = compare_abs_rel(&b, NULL, b.param_grads[i], c->param_grads[i], c->batch, 1, 1e-7, 1e-9, what,
                                     why, sizeof why);
                continue;
            }
            for (r = 0; r < c->batch; r++) {
                if (!isfinite(((double *)b.param_grads[i])[r])) {
                    snprintf(why, sizeof why, "grad_%s[%lu] is not finite", op->params[op->param_grads[i]].name,
                             (unsigned long)r);
                    ok = 0;
                }
            }
        }
    }
    check(ok, "%s case %lu (%s, f64, %lu x %lu)%s%s", c->file, (unsigned long)c->index, op->name,
          (unsigned long)c->batch, (unsigned long)c->n, ok ? "" : ": ", why);
    buffers_free(&b);
}

static void run_case_f32(const ref_case *c)
{
    const rrt_op *op = c->op;
    call_buffers b32, b64;
    char why[512] = "";
    int ok = 1;
    int32_t s32, s64;
    size_t i, j;

    buffers_alloc(&b32, op, c->batch, c->n, 1, c->params);
    buffers_alloc(&b64, op, c->batch, c->n, 0, c->params);
    /* Both calls take the f32-rounded params. */
    for (i = 0; i < op->num_params; i++) {
        b32.params[i].real = (double)(float)c->params[i].real;
        b64.params[i].real = b32.params[i].real;
        for (j = 0; op->params[i].type == RRT_LIST && j < c->params[i].list_len; j++) {
            b64.lists[i][j] = (double)b64.lists_f32[i][j];
        }
    }
    for (i = 0; i < op->num_inputs; i++) {
        if (op->inputs[i].is_bool) {
            buffers_mask(&b32, i, c->inputs[i]);
            buffers_mask(&b64, i, c->inputs[i]);
            continue;
        }
        if (op->inputs[i].is_int32) {
            /* Integers: the same ids in both calls, never rounded to float. */
            buffers_ints(&b32, i, c->inputs[i]);
            buffers_ints(&b64, i, c->inputs[i]);
            continue;
        }
        for (j = 0; j < case_len(c, &op->inputs[i]); j++) {
            float x = (float)c->inputs[i][j];
            ((float *)b32.inputs[i])[j] = x;
            ((double *)b64.inputs[i])[j] = (double)x;
        }
    }
    s32 = call_forward(&b32);
    if (s32 != RR_OK) {
        snprintf(why, sizeof why, "f32 forward returned %d: %s", (int)s32, last_error());
        ok = 0;
    }
    s64 = call_forward(&b64);
    if (ok && s64 != RR_OK) {
        snprintf(why, sizeof why, "f64 forward on f32-rounded input returned %d: %s", (int)s64, last_error());
        ok = 0;
    }
    for (i = 0; ok && i < op->num_outputs; i++) {
        const rrt_tensor *out = &op->outputs[i];
        ok = compare_rowwise(&b32, out, b32.outputs[i], &b64, b64.outputs[i], c->batch,
                             shape_row_len(out, c->n, c->params), 1e-6, out->name, why, sizeof why);
    }
    if (ok && c->has_cotangents) {
        for (i = 0; i < op->num_outputs; i++) {
            for (j = 0; c->cotangents[i] != NULL && j < case_len(c, &op->outputs[i]); j++) {
                float g = (float)c->cotangents[i][j];
                ((float *)b32.cotangents[i])[j] = g;
                ((double *)b64.cotangents[i])[j] = (double)g;
            }
        }
        s32 = call_backward(&b32);
        s64 = call_backward(&b64);
        if (s32 != RR_OK || s64 != RR_OK) {
            snprintf(why, sizeof why, "backward returned %d (f32) / %d (f64): %s", (int)s32, (int)s64, last_error());
            ok = 0;
        }
        for (i = 0; ok && i < op->num_grads; i++) {
            const rrt_tensor *t = &op->inputs[op->grads[i]];
            if (c->vjp[i] != NULL) {
                char what[128];
                snprintf(what, sizeof what, "grad_%s", t->name);
                ok = compare_rowwise(&b32, NULL, b32.grads[i], &b64, b64.grads[i], c->batch,
                                     shape_row_len(t, c->n, c->params), 1e-6, what, why, sizeof why);
            }
        }
        for (i = 0; ok && i < op->num_param_grads; i++) {
            if (c->param_grads[i] != NULL) {
                char what[128];
                snprintf(what, sizeof what, "grad_%s", op->params[op->param_grads[i]].name);
                /* A row's ε-gradient is one value, a sum that may cancel to ~0 (a loss row of many
                 * items): the f32 rounding of its terms, ~1e-6, then remains. */
                ok = compare_rowwise(&b32, NULL, b32.param_grads[i], &b64, b64.param_grads[i], c->batch, 1, 1e-5,
                                     what, why, sizeof why);
            }
        }
    }
    check(ok, "%s case %lu (%s, f32, %lu x %lu)%s%s", c->file, (unsigned long)c->index, op->name,
          (unsigned long)c->batch, (unsigned long)c->n, ok ? "" : ": ", why);
    buffers_free(&b32);
    buffers_free(&b64);
}

static int run_reference(const char *path)
{
    char error[256];
    char *text = json_read_file(path);
    json_value *root;
    const json_value *cases, *format;
    size_t i;

    if (text == NULL) {
        check(0, "read the reference file %s (set RANK_RELAX_REFERENCE)", path);
        return 0;
    }
    root = json_parse(text, error, sizeof error);
    free(text);
    check(root != NULL, "parse %s%s%s", path, root == NULL ? ": " : "", root == NULL ? error : "");
    if (root == NULL) {
        return 0;
    }
    format = json_get(root, "format");
    check(format != NULL && format->type == JSON_STRING && strcmp(format->string, "rank-relax reference vectors v1") == 0,
          "reference format is \"rank-relax reference vectors v1\"");
    cases = json_get(root, "cases");
    check(cases != NULL && cases->type == JSON_ARRAY && cases->count > 0, "reference has cases");
    for (i = 0; cases != NULL && cases->type == JSON_ARRAY && i < cases->count; i++) {
        ref_case c;
        char why[256] = "";
        if (!load_case(&cases->items[i], path, i, &c, why, sizeof why)) {
            check(0, "%s case %lu: %s", path, (unsigned long)i, why);
        } else {
            run_case_f64(&c);
            run_case_f32(&c);
        }
        free_case(&c);
    }
    printf("reference: %lu cases from %s\n", cases != NULL ? (unsigned long)cases->count : 0UL, path);
    json_free(root);
    return 1;
}

/* ---- error paths ----------------------------------------------------------------------- */

static int mentions(const char *message, const char *a, const char *b)
{
    return message != NULL && strstr(message, a) != NULL && (b == NULL || strstr(message, b) != NULL);
}

/* A valid call of `op` with distinct finite values (group ids in an int32 input), in the given
 * precision. */
static void valid_call(call_buffers *b, const rrt_op *op, size_t batch, size_t n, int f32)
{
    size_t i, j;
    buffers_alloc(b, op, batch, n, f32, NULL);
    for (i = 0; i < op->num_params; i++) {
        if (op->params[i].type == RRT_REAL) {
            b->params[i].real = 0.5;
        }
    }
    for (i = 0; i < op->num_inputs; i++) {
        for (j = 0; !op->inputs[i].is_bool && j < tensor_len(b, &op->inputs[i]); j++) {
            if (op->inputs[i].is_int32) {
                ((int32_t *)b->inputs[i])[j] = harness_group_id(j, (unsigned)i);
            } else {
                set(b, b->inputs[i], j, (double)((j * 7 + i * 3) % 11) * 0.25 + 0.1);
            }
        }
    }
    for (i = 0; i < op->num_outputs; i++) {
        for (j = 0; b->cotangents[i] != NULL && j < tensor_len(b, &op->outputs[i]); j++) {
            set(b, b->cotangents[i], j, 1.0 - 0.1 * (double)j);
        }
    }
}

/* The index of the first output with a cotangent (every op has one). */
static size_t first_cotangent(const rrt_op *op)
{
    size_t i;
    for (i = 0; i < op->num_outputs && !op->outputs[i].differentiable; i++) {
    }
    return i;
}

/* Runs the forward; checks the status (and that the message names the op and `word`). */
static void expect_forward(call_buffers *b, int32_t want, const char *word, const char *what)
{
    int32_t status = call_forward(b);
    const char *message = rr_last_error();
    if (want == RR_OK) {
        check(status == RR_OK, "%s %s: %s -> RR_OK (got %d: %s)", b->op->name, b->f32 ? "f32" : "f64", what,
              (int)status, status == RR_OK ? "" : message);
        return;
    }
    check(status == want && mentions(message, b->op->name, word), "%s %s: %s -> status %d naming %s%s%s (got %d: %s)",
          b->op->name, b->f32 ? "f32" : "f64", what, (int)want, b->op->name, word ? " and " : "", word ? word : "",
          (int)status, message);
}

/* An int param just outside each of its bounds. */
static void int_param_errors(call_buffers *b, size_t i)
{
    const rrt_param *p = &b->op->params[i];
    if (p->min.set) {
        b->params[i].integer = (p->min.is_n ? (int64_t)b->n : (int64_t)p->min.value) - 1;
        expect_forward(b, RR_ERR_INVALID_ARGUMENT, p->name, "int param below its minimum");
    }
    if (p->max.set) {
        b->params[i].integer = (p->max.is_n ? (int64_t)b->n : (int64_t)p->max.value) + 1;
        expect_forward(b, RR_ERR_INVALID_ARGUMENT, p->name, "int param above its maximum");
    }
    b->params[i].integer = INT64_MIN;
    expect_forward(b, p->min.set ? RR_ERR_INVALID_ARGUMENT : RR_OK, p->name, "int param INT64_MIN");
    b->params[i].integer = p->default_value.integer;
}

/* A list param: NULL with a length, too short, and with a NaN, an infinite or an out-of-range
 * element; the output keeps the extent the length gives it. */
static void list_param_errors(call_buffers *b, size_t i)
{
    const rrt_param *p = &b->op->params[i];
    rrt_param_value old = b->params[i];
    double list[2] = {0.5, 0.5};
    float list_f32[2] = {0.5f, 0.5f};
    size_t k;
    if (old.list_len < 1) {
        return;
    }
    b->params[i].list = NULL;
    b->params[i].list_f32 = NULL;
    expect_forward(b, RR_ERR_NULL_POINTER, p->name, "NULL list with a length");
    b->params[i] = old;
    if (p->min_length > 0) {
        b->params[i].list_len = 0;
        expect_forward(b, RR_ERR_INVALID_ARGUMENT, p->name, "list shorter than its minimum");
        b->params[i] = old;
    }
    b->params[i].list = list;
    b->params[i].list_f32 = list_f32;
    b->params[i].list_len = 1;
    for (k = 0; k < 4; k++) {
        double v = k == 0 ? NAN : k == 1 ? INFINITY : k == 2 ? p->max.value + 0.5 : p->min.value - 0.5;
        if ((k == 2 && !p->max.set) || (k == 3 && !p->min.set)) {
            continue;
        }
        list[0] = v;
        list_f32[0] = (float)v;
        expect_forward(b, RR_ERR_INVALID_ARGUMENT, p->name,
                       k == 0 ? "NaN list element" : k == 1 ? "infinite list element" : "list element out of range");
    }
    b->params[i] = old;
}

/* A real input (neither a mask nor int32 ids): one that can hold NaN. */
static int real_input(const rrt_tensor *t)
{
    return !t->is_bool && !t->is_int32;
}

/* An int32 input (`i`, group ids): every int32 is valid, the extremes too; NULL is refused naming
 * it; a written buffer over it is an overlap. */
static void int_input_errors(call_buffers *b, size_t i)
{
    const rrt_op *op = b->op;
    const char *name = op->inputs[i].name;
    int32_t *ids = b->inputs[i];
    int32_t kept[2];
    void *saved;
    kept[0] = ids[0];
    kept[1] = ids[1];
    ids[0] = INT32_MIN;
    ids[1] = INT32_MAX;
    expect_forward(b, RR_OK, NULL, "INT32_MIN and INT32_MAX ids");
    ids[0] = INT32_MAX;
    ids[1] = INT32_MAX;
    expect_forward(b, RR_OK, NULL, "INT32_MAX ids in one group");
    ids[0] = kept[0];
    ids[1] = kept[1];
    b->inputs[i] = NULL;
    expect_forward(b, RR_ERR_NULL_POINTER, name, "NULL int32 input");
    b->inputs[i] = ids;
    saved = b->outputs[0];
    b->outputs[0] = ids;
    expect_forward(b, RR_ERR_INVALID_ARGUMENT, "overlap", "an output over the int32 input");
    b->outputs[0] = saved;
}

/* A mask (bool input `i`): absent items are not read (NaN there is fine) and get 0; a byte other
 * than 0 or 1 is refused naming it; a written buffer over it is an overlap. */
static void mask_errors(call_buffers *b, size_t i)
{
    const rrt_op *op = b->op;
    const char *name = op->inputs[i].name;
    size_t len = tensor_len(b, &op->inputs[i]), k;
    double *present = xcalloc(len, sizeof(double));
    double kept[MAX_ARGS];
    void *saved;
    for (k = 0; k < len; k++) {
        present[k] = k != 1;
    }
    buffers_mask(b, i, present);
    for (k = 0; k < op->num_inputs; k++) {
        if (real_input(&op->inputs[k]) && tensor_len(b, &op->inputs[k]) == len) {
            kept[k] = get(b, b->inputs[k], 1);
            set(b, b->inputs[k], 1, NAN);
        }
    }
    expect_forward(b, RR_OK, NULL, "NaN at an absent item");
    for (k = 0; k < op->num_inputs; k++) {
        if (real_input(&op->inputs[k]) && tensor_len(b, &op->inputs[k]) == len) {
            set(b, b->inputs[k], 1, kept[k]);
        }
    }
    /* C code can store any byte in a bool; 2 is no Rust bool. */
    ((unsigned char *)b->inputs[i])[2] = 2;
    expect_forward(b, RR_ERR_INVALID_VALUE, name, "a mask byte of 2");
    ((bool *)b->inputs[i])[2] = true;
    saved = b->outputs[0];
    b->outputs[0] = b->inputs[i];
    expect_forward(b, RR_ERR_INVALID_ARGUMENT, name, "an output over the mask");
    b->outputs[0] = saved;
    buffers_mask(b, i, NULL);
    free(present);
}

static void error_paths(const rrt_op *op)
{
    size_t n = op->min_n > 3 ? op->min_n : 3;
    call_buffers b;
    void *saved;
    size_t i;
    int32_t status;
    int f32;

    for (f32 = 0; f32 <= 1; f32++) {
        valid_call(&b, op, 2, n, f32);
        expect_forward(&b, RR_OK, NULL, "valid call");
        status = call_backward(&b);
        check(status == RR_OK, "%s %s: valid backward -> RR_OK (got %d: %s)", op->name, f32 ? "f32" : "f64",
              (int)status, status == RR_OK ? "" : rr_last_error());

        for (i = 0; i < op->num_inputs; i++) {
            double old;
            if (op->inputs[i].is_bool) {
                mask_errors(&b, i);
                continue;
            }
            if (op->inputs[i].is_int32) {
                /* No NaN in an int32: no non-finite value to refuse. */
                int_input_errors(&b, i);
                continue;
            }
            old = get(&b, b.inputs[i], 1);
            set(&b, b.inputs[i], 1, NAN);
            expect_forward(&b, RR_ERR_INVALID_VALUE, op->inputs[i].name, "NaN input");
            set(&b, b.inputs[i], 1, INFINITY);
            expect_forward(&b, RR_ERR_INVALID_VALUE, op->inputs[i].name, "+inf input");
            if (op->inputs[i].constraint != NULL && strcmp(op->inputs[i].constraint, "nonnegative") == 0) {
                set(&b, b.inputs[i], 1, -1.0);
                expect_forward(&b, RR_ERR_INVALID_VALUE, op->inputs[i].name, "negative input");
            }
            set(&b, b.inputs[i], 1, old);
        }
        for (i = 0; i < op->num_params; i++) {
            rrt_param_value old = b.params[i];
            const rrt_param *p = &op->params[i];
            if (p->type == RRT_REAL && strcmp(p->constraint, "positive") == 0) {
                b.params[i].real = 0.0;
                expect_forward(&b, RR_ERR_INVALID_ARGUMENT, p->name, "zero");
                b.params[i].real = -1.0;
                expect_forward(&b, RR_ERR_INVALID_ARGUMENT, p->name, "negative");
            }
            if (p->type == RRT_REAL) {
                b.params[i].real = NAN;
                expect_forward(&b, RR_ERR_INVALID_ARGUMENT, p->name, "NaN param");
            }
            if (p->type == RRT_ENUM) {
                b.params[i].code = 99;
                expect_forward(&b, RR_ERR_INVALID_ARGUMENT, p->name, "unknown enum code 99");
                b.params[i].code = -1;
                expect_forward(&b, RR_ERR_INVALID_ARGUMENT, p->name, "unknown enum code -1");
            }
            if (p->type == RRT_INT) {
                int_param_errors(&b, i);
            }
            if (p->type == RRT_LIST) {
                list_param_errors(&b, i);
            }
            b.params[i] = old;
        }

        saved = b.inputs[0];
        b.inputs[0] = NULL;
        expect_forward(&b, RR_ERR_NULL_POINTER, op->inputs[0].name, "NULL input");
        b.inputs[0] = saved;
        for (i = 0; i < op->num_outputs; i++) {
            saved = b.outputs[i];
            b.outputs[i] = NULL;
            expect_forward(&b, RR_ERR_NULL_POINTER, op->outputs[i].name, "NULL output");
            b.outputs[i] = b.inputs[0];
            expect_forward(&b, RR_ERR_INVALID_ARGUMENT, "overlap", "output aliasing an input");
            b.outputs[i] = saved;
        }

        b.batch = SIZE_MAX;
        expect_forward(&b, RR_ERR_SHAPE_MISMATCH, NULL, "batch * n overflowing");
        b.batch = 2;
        if (op->min_n > 1) {
            b.n = op->min_n - 1;
            expect_forward(&b, RR_ERR_INVALID_ARGUMENT, NULL, "too few items per row");
            b.n = n;
        }
        buffers_free(&b);

        /* An empty batch needs no memory: every pointer may be NULL. */
        {
            call_buffers empty;
            memset(&empty, 0, sizeof empty);
            empty.op = op;
            empty.n = n;
            empty.f32 = f32;
            for (i = 0; i < op->num_params; i++) {
                empty.params[i] = op->params[i].default_value;
            }
            expect_forward(&empty, RR_OK, NULL, "batch 0 with NULL buffers");
            status = call_backward(&empty);
            check(status == RR_OK, "%s %s: backward of batch 0 with NULL buffers -> RR_OK (got %d: %s)", op->name,
                  f32 ? "f32" : "f64", (int)status, status == RR_OK ? "" : rr_last_error());
        }

        /* The backward checks its buffers too. */
        valid_call(&b, op, 2, n, f32);
        expect_forward(&b, RR_OK, NULL, "valid call before backward checks");
        i = first_cotangent(op);
        saved = b.cotangents[i];
        b.cotangents[i] = NULL;
        status = call_backward(&b);
        check(status == RR_ERR_NULL_POINTER && mentions(rr_last_error(), op->name, "cotangent"),
              "%s %s: backward with a NULL cotangent -> RR_ERR_NULL_POINTER naming the op (got %d: %s)", op->name,
              f32 ? "f32" : "f64", (int)status, rr_last_error());
        b.cotangents[i] = saved;
        set(&b, b.cotangents[i], 0, NAN);
        status = call_backward(&b);
        check(status == RR_ERR_INVALID_VALUE && mentions(rr_last_error(), op->name, "cotangent"),
              "%s %s: backward with a NaN cotangent -> RR_ERR_INVALID_VALUE naming the op (got %d: %s)", op->name,
              f32 ? "f32" : "f64", (int)status, rr_last_error());
        buffers_free(&b);
    }
}

/* Results do not depend on the thread count. */
static void threads_test(const rrt_op *op)
{
    call_buffers one, many;
    size_t batch = 300, n = 50, i;
    int same = 1;
    valid_call(&one, op, batch, n, 0);
    valid_call(&many, op, batch, n, 0);
    for (i = 0; i < batch * n; i++) {
        double x = sin((double)i * 12.9898) * 43758.5453;
        ((double *)one.inputs[0])[i] = ((double *)many.inputs[0])[i] = x - floor(x);
    }
    check(rr_set_num_threads(1) == RR_OK, "rr_set_num_threads(1)");
    check(call_forward(&one) == RR_OK, "%s: forward with 1 thread", op->name);
    check(rr_set_num_threads(0) == RR_OK, "rr_set_num_threads(0)");
    check(call_forward(&many) == RR_OK, "%s: forward with the default threads", op->name);
    for (i = 0; i < tensor_len(&one, &op->outputs[0]); i++) {
        same = same && ((double *)one.outputs[0])[i] == ((double *)many.outputs[0])[i];
    }
    check(same, "%s: 1 thread and the default give the same bits", op->name);
    buffers_free(&one);
    buffers_free(&many);
}

int main(int argc, char **argv)
{
    const char *paths = getenv("RANK_RELAX_REFERENCE");
    const char *topk, *grouped;
    char *list, *path;
    size_t i;
    harness_verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    if (paths == NULL || paths[0] == '\0') {
        paths = DEFAULT_REFERENCE;
    }

    check(rr_abi_version() == RR_ABI_VERSION, "rr_abi_version() == RR_ABI_VERSION (%u)", (unsigned)RR_ABI_VERSION);
    check(rr_abi_hash() == RR_ABI_HASH, "rr_abi_hash() == RR_ABI_HASH");
    check(strcmp(rr_version(), RR_VERSION) == 0, "rr_version() == RR_VERSION (%s, got %s)", RR_VERSION, rr_version());
    check(strcmp(rr_last_error(), "") == 0, "rr_last_error() is empty before any failure");

    list = xcalloc(strlen(paths) + 1, 1);
    memcpy(list, paths, strlen(paths));
    for (path = strtok(list, ":"); path != NULL; path = strtok(NULL, ":")) {
        run_reference(path);
    }
    free(list);
    for (i = 0; i < sizeof more_references / sizeof more_references[0]; i++) {
        const char *name = strrchr(more_references[i], '/') + 1;
        const char *at = strstr(paths, name);
        /* Replayed above when a path of the list ends with this file name. */
        if (at == NULL || (at != paths && at[-1] != '/' && at[-1] != ':') ||
            (at[strlen(name)] != '\0' && at[strlen(name)] != ':')) {
            run_reference(more_references[i]);
        }
    }
    topk = getenv("RANK_RELAX_REFERENCE_SORT_TOPK");
    run_reference(topk != NULL && topk[0] != '\0' ? topk : SORT_TOPK_REFERENCE);
    grouped = getenv("RANK_RELAX_REFERENCE_GROUPED");
    run_reference(grouped != NULL && grouped[0] != '\0' ? grouped : GROUPED_REFERENCE);
    for (i = 0; i < RRT_NUM_OPS; i++) {
        error_paths(&rrt_ops[i]);
    }
    printf("error paths: %lu ops\n", (unsigned long)RRT_NUM_OPS);
    threads_test(&rrt_ops[0]);

    return harness_finish();
}
