/* The C runner of the shared bad-input matrix.
 *
 * Every case of testdata/bad-input.json (env RANK_RELAX_BAD_INPUT, default
 * testdata/bad-input.json relative to the working directory, i.e. the repository root) tagged
 * "c" goes through the public C API, in each of its dtypes: errors must give the expected status
 * and rr_last_error() text, valid cases the expected output, gradients and finiteness. Params are
 * numbers, enum names (or {"code": N}), booleans, integers and lists of numbers; tensors are
 * nested lists of any rank ([B][n], [B][m], [B][n][n]), of JSON booleans for a bool input (a
 * mask), which is NULL when the case leaves it out, and of JSON integers in int32 range for an
 * int32 input (group ids: passed as int32_t exactly in both dtypes, never rounded; any other
 * number there makes the case malformed). The C modifiers of a case ("c": {"null" |
 * "misalign"}; "null" may name a list param, whose length stays), "alias" and "call_shape" are
 * applied here; "cast" is binding-level and does not apply to C, whose call takes the declared
 * element types;
 * the format is in testdata/README.md. Ops come from the generated table, so a new op is covered
 * as soon as the matrix has cases for it. Prints `N passed, N failed`. */
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

#define MAX_ARGS 12
#define DEFAULT_MATRIX "testdata/bad-input.json"
#define FORMAT "rank-relax bad-input matrix v1"

/* ---- tensors of the file --------------------------------------------------------------- */

typedef struct {
    double *data;
    size_t len;
    size_t shape[4];
    size_t rank;
} tensor;

/* A number of the file: a JSON number or "nan", "inf", "-inf"; 0 if it is none of those. */
static int number(const json_value *v, double *out)
{
    if (v == NULL) {
        return 0;
    }
    if (v->type == JSON_NUMBER) {
        *out = v->number;
        return 1;
    }
    if (v->type == JSON_STRING) {
        if (strcmp(v->string, "nan") == 0) {
            *out = NAN;
        } else if (strcmp(v->string, "inf") == 0) {
            *out = INFINITY;
        } else if (strcmp(v->string, "-inf") == 0) {
            *out = -INFINITY;
        } else {
            return 0;
        }
        return 1;
    }
    return 0;
}

/* An element of a tensor: a number, or for a bool tensor a JSON boolean (1 or 0). */
static int element(const json_value *v, int bools, double *out)
{
    if (!bools) {
        return number(v, out);
    }
    if (v == NULL || (v->type != JSON_TRUE && v->type != JSON_FALSE)) {
        return 0;
    }
    *out = v->type == JSON_TRUE ? 1.0 : 0.0;
    return 1;
}

/* Copies the elements of the nested list `v` at `depth` of `t`'s shape into `t->data`. */
static int fill_nested(const json_value *v, tensor *t, size_t depth, int bools, size_t *filled)
{
    size_t i;
    if (depth == t->rank) {
        return *filled < t->len && element(v, bools, &t->data[(*filled)++]);
    }
    if (v->type != JSON_ARRAY || v->count != t->shape[depth]) {
        return 0;
    }
    for (i = 0; i < v->count; i++) {
        if (!fill_nested(&v->items[i], t, depth + 1, bools, filled)) {
            return 0;
        }
    }
    return 1;
}

static int read_tensor_of(const json_value *v, int bools, tensor *t);

/* A nested list of numbers of any rank up to 4 ([B][n], [B][n][n], [n]), a scalar, or a
 * generator {"shape", "fill", "set"}. */
static int read_tensor(const json_value *v, tensor *t)
{
    return read_tensor_of(v, 0, t);
}

/* The same with JSON booleans for elements when `bools` (a mask): a generator's fill is then
 * true or false. */
static int read_tensor_of(const json_value *v, int bools, tensor *t)
{
    size_t i, j;
    memset(t, 0, sizeof *t);
    if (v == NULL) {
        return 0;
    }
    if (v->type == JSON_OBJECT) {
        const json_value *shape = json_get(v, "shape");
        const json_value *fill = json_get(v, "fill");
        const json_value *set = json_get(v, "set");
        double constant = 0.0;
        int ramp = 0, grades = 0;
        if (shape == NULL || shape->type != JSON_ARRAY || shape->count > 4) {
            return 0;
        }
        t->rank = shape->count;
        t->len = 1;
        for (i = 0; i < t->rank; i++) {
            t->shape[i] = (size_t)shape->items[i].number;
            t->len *= t->shape[i];
        }
        if (!bools && fill != NULL && fill->type == JSON_STRING && strcmp(fill->string, "ramp") == 0) {
            ramp = 1;
        } else if (!bools && fill != NULL && fill->type == JSON_STRING && strcmp(fill->string, "grades") == 0) {
            grades = 1;
        } else if (!element(fill, bools, &constant)) {
            return 0;
        }
        t->data = xcalloc(t->len, sizeof(double));
        for (i = 0; i < t->len; i++) {
            t->data[i] = ramp ? (double)((7 * i + 3) % 11) / 4.0 - 1.0 : grades ? (double)((3 * i + 1) % 4) : constant;
        }
        for (i = 0; set != NULL && i < set->count; i++) {
            const json_value *at = json_get(&set->items[i], "at");
            size_t flat = 0;
            if (at == NULL || at->count != t->rank) {
                return 0;
            }
            for (j = 0; j < t->rank; j++) {
                flat = flat * t->shape[j] + (size_t)at->items[j].number;
            }
            if (flat >= t->len || !element(json_get(&set->items[i], "value"), bools, &t->data[flat])) {
                return 0;
            }
        }
        return 1;
    }
    if (v->type == JSON_ARRAY) {
        /* The shape from the first element at each depth; every other element must match it. */
        const json_value *first = v;
        size_t filled = 0;
        t->len = 1;
        while (first->type == JSON_ARRAY && t->rank < 4) {
            t->shape[t->rank++] = first->count;
            t->len *= first->count;
            first = first->count > 0 ? &first->items[0] : first;
            if (t->len == 0) {
                break;
            }
        }
        t->data = xcalloc(t->len, sizeof(double));
        return fill_nested(v, t, 0, bools, &filled) && filled == t->len;
    }
    t->data = xcalloc(1, sizeof(double));
    t->len = 1;
    return element(v, bools, &t->data[0]);
}

/* ---- one call: buffers by name ----------------------------------------------------------- */

typedef enum { ELEM_REAL, ELEM_INT32, ELEM_BOOL } elem_type;

typedef struct {
    const char *name;
    void *ptr;
    size_t len;
    elem_type type;
} slot;

typedef struct {
    const rrt_op *op;
    size_t batch, n;
    int f32;
    rrt_param_value params[MAX_ARGS];
    double *lists[MAX_ARGS]; /* the values of list params, */
    float *lists_f32[MAX_ARGS]; /* and as floats for the f32 kernels */
    void *inputs[MAX_ARGS], *outputs[MAX_ARGS], *residuals[MAX_ARGS];
    void *cotangents[MAX_ARGS], *grads[MAX_ARGS], *param_grads[MAX_ARGS];
    char names[4][MAX_ARGS][96]; /* cotangent_*, grad_*, grad_<param> */
    slot fwd[3 * MAX_ARGS], bwd[5 * MAX_ARGS];
    size_t num_fwd, num_bwd;
    void *spill; /* the block an "alias" with an offset places two buffers in */
} call;

static size_t tensor_len(const call *c, const rrt_tensor *t)
{
    return shape_len(t, c->batch, c->n, c->params);
}

static size_t real_size(const call *c)
{
    return c->f32 ? sizeof(float) : sizeof(double);
}

static double get(const call *c, const void *buffer, size_t i)
{
    return c->f32 ? (double)((const float *)buffer)[i] : ((const double *)buffer)[i];
}

static void set(const call *c, void *buffer, size_t i, double v)
{
    if (c->f32) {
        ((float *)buffer)[i] = (float)v;
    } else {
        ((double *)buffer)[i] = v;
    }
}

static elem_type type_of(const rrt_tensor *t)
{
    return t->is_bool ? ELEM_BOOL : t->is_int32 ? ELEM_INT32 : ELEM_REAL;
}

static size_t elem_size(const call *c, elem_type type)
{
    return type == ELEM_BOOL ? sizeof(bool) : type == ELEM_INT32 ? sizeof(int32_t) : real_size(c);
}

static void add_slot(slot *slots, size_t *count, const char *name, void *ptr, size_t len, elem_type type)
{
    slots[*count].name = name;
    slots[*count].ptr = ptr;
    slots[*count].len = len;
    slots[*count].type = type;
    (*count)++;
}

/* A call of `op` with the default params and no buffers yet. */
static void call_init(call *c, const rrt_op *op, size_t batch, size_t n, int f32)
{
    size_t i;
    memset(c, 0, sizeof *c);
    c->op = op;
    c->batch = batch;
    c->n = n;
    c->f32 = f32;
    for (i = 0; i < op->num_params; i++) {
        c->params[i] = op->params[i].default_value;
    }
}

/* Allocates every buffer of a call, sized from its shape and params, and lists them in each
 * pass's argument order. */
static void call_alloc(call *c)
{
    const rrt_op *op = c->op;
    size_t batch = c->batch;
    size_t i;
    for (i = 0; i < op->num_inputs; i++) {
        size_t len = tensor_len(c, &op->inputs[i]);
        elem_type type = type_of(&op->inputs[i]);
        /* A bool buffer stays aligned when "misalign" moves it by a byte: room for that byte. */
        c->inputs[i] = xcalloc(len + (type == ELEM_BOOL), elem_size(c, type));
        add_slot(c->fwd, &c->num_fwd, op->inputs[i].name, c->inputs[i], len, type);
    }
    for (i = 0; i < op->num_outputs; i++) {
        size_t len = tensor_len(c, &op->outputs[i]);
        elem_type type = type_of(&op->outputs[i]);
        c->outputs[i] = xcalloc(len, elem_size(c, type));
        if (op->outputs[i].differentiable) {
            c->cotangents[i] = xcalloc(len, real_size(c));
        }
        add_slot(c->fwd, &c->num_fwd, op->outputs[i].name, c->outputs[i], len, type);
    }
    for (i = 0; i < op->num_residuals; i++) {
        size_t len = tensor_len(c, &op->residuals[i]);
        elem_type type = type_of(&op->residuals[i]);
        c->residuals[i] = xcalloc(len, elem_size(c, type));
        add_slot(c->fwd, &c->num_fwd, op->residuals[i].name, c->residuals[i], len, type);
    }
    for (i = 0; i < op->num_saves; i++) {
        const rrt_save *s = &op->saves[i];
        const rrt_tensor *t = s->from_output ? &op->outputs[s->index] : &op->inputs[s->index];
        add_slot(c->bwd, &c->num_bwd, s->name, s->from_output ? c->outputs[s->index] : c->inputs[s->index],
                 tensor_len(c, t), type_of(t));
    }
    for (i = 0; i < op->num_residuals; i++) {
        add_slot(c->bwd, &c->num_bwd, op->residuals[i].name, c->residuals[i], tensor_len(c, &op->residuals[i]),
                 type_of(&op->residuals[i]));
    }
    for (i = 0; i < op->num_outputs; i++) {
        if (!op->outputs[i].differentiable) {
            continue;
        }
        snprintf(c->names[0][i], sizeof c->names[0][i], "cotangent_%s", op->outputs[i].name);
        add_slot(c->bwd, &c->num_bwd, c->names[0][i], c->cotangents[i], tensor_len(c, &op->outputs[i]), ELEM_REAL);
    }
    for (i = 0; i < op->num_grads; i++) {
        const rrt_tensor *t = &op->inputs[op->grads[i]];
        c->grads[i] = xcalloc(tensor_len(c, t), real_size(c));
        snprintf(c->names[1][i], sizeof c->names[1][i], "grad_%s", t->name);
        add_slot(c->bwd, &c->num_bwd, c->names[1][i], c->grads[i], tensor_len(c, t), ELEM_REAL);
    }
    for (i = 0; i < op->num_param_grads; i++) {
        c->param_grads[i] = xcalloc(batch, real_size(c));
        snprintf(c->names[2][i], sizeof c->names[2][i], "grad_%s", op->params[op->param_grads[i]].name);
        add_slot(c->bwd, &c->num_bwd, c->names[2][i], c->param_grads[i], batch, ELEM_REAL);
    }
}

static void call_free(call *c)
{
    size_t i;
    for (i = 0; i < MAX_ARGS; i++) {
        free(c->lists[i]);
        free(c->lists_f32[i]);
        free(c->inputs[i]);
        free(c->outputs[i]);
        free(c->residuals[i]);
        free(c->cotangents[i]);
        free(c->grads[i]);
        free(c->param_grads[i]);
    }
    free(c->spill);
}

/* Calls the forward with the pointers of `c->fwd` (which a case may have changed). */
static int32_t call_forward(const call *c)
{
    const void *in[MAX_ARGS];
    void *out[MAX_ARGS], *res[MAX_ARGS];
    const rrt_op *op = c->op;
    size_t i, k = 0;
    for (i = 0; i < op->num_inputs; i++) {
        in[i] = c->fwd[k++].ptr;
    }
    for (i = 0; i < op->num_outputs; i++) {
        out[i] = c->fwd[k++].ptr;
    }
    for (i = 0; i < op->num_residuals; i++) {
        res[i] = c->fwd[k++].ptr;
    }
    if (c->f32) {
        return op->forward_f32(c->batch, c->n, c->params, in, out, res);
    }
    return op->forward_f64(c->batch, c->n, c->params, in, out, res);
}

/* Calls the backward with the pointers of `c->bwd`. */
static int32_t call_backward(const call *c)
{
    const void *saves[MAX_ARGS], *res[MAX_ARGS], *cot[MAX_ARGS];
    void *grads[MAX_ARGS], *pgrads[MAX_ARGS];
    const rrt_op *op = c->op;
    size_t i, k = 0;
    for (i = 0; i < op->num_saves; i++) {
        saves[i] = c->bwd[k++].ptr;
    }
    for (i = 0; i < op->num_residuals; i++) {
        res[i] = c->bwd[k++].ptr;
    }
    /* Indexed like the outputs; one without a cotangent has no slot. */
    for (i = 0; i < op->num_outputs; i++) {
        cot[i] = op->outputs[i].differentiable ? c->bwd[k++].ptr : NULL;
    }
    for (i = 0; i < op->num_grads; i++) {
        grads[i] = c->bwd[k++].ptr;
    }
    for (i = 0; i < op->num_param_grads; i++) {
        pgrads[i] = c->bwd[k++].ptr;
    }
    if (c->f32) {
        return op->backward_f32(c->batch, c->n, c->params, saves, res, (const float *const *)cot,
                                (float *const *)grads, (float *const *)pgrads);
    }
    return op->backward_f64(c->batch, c->n, c->params, saves, res, (const double *const *)cot,
                            (double *const *)grads, (double *const *)pgrads);
}

static slot *find_slot(slot *slots, size_t count, const char *name)
{
    size_t i;
    for (i = 0; i < count; i++) {
        if (strcmp(slots[i].name, name) == 0) {
            return &slots[i];
        }
    }
    return NULL;
}

/* The value of the list param `name`, or NULL if the op has none of that name. */
static rrt_param_value *list_param(call *c, const char *name)
{
    size_t i;
    for (i = 0; i < c->op->num_params; i++) {
        if (c->op->params[i].type == RRT_LIST && strcmp(c->op->params[i].name, name) == 0) {
            return &c->params[i];
        }
    }
    return NULL;
}

/* ---- one case ---------------------------------------------------------------------------- */

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

static int32_t status_of_kind(const char *kind)
{
    if (strcmp(kind, "InvalidValue") == 0) {
        return RR_ERR_INVALID_VALUE;
    }
    if (strcmp(kind, "InvalidArgument") == 0) {
        return RR_ERR_INVALID_ARGUMENT;
    }
    if (strcmp(kind, "ShapeMismatch") == 0) {
        return RR_ERR_SHAPE_MISMATCH;
    }
    if (strcmp(kind, "NullPointer") == 0) {
        return RR_ERR_NULL_POINTER;
    }
    return -1;
}

/* Sets the params of a case; 0 (with `why`) if one cannot be expressed in C. */
static int read_params(call *c, const json_value *params, char *why, size_t why_size)
{
    const rrt_op *op = c->op;
    size_t i, k;
    for (i = 0; params != NULL && i < params->count; i++) {
        const json_value *v = &params->items[i];
        const rrt_param *p = NULL;
        for (k = 0; k < op->num_params; k++) {
            if (strcmp(op->params[k].name, params->keys[i]) == 0) {
                p = &op->params[k];
                break;
            }
        }
        if (p == NULL) {
            snprintf(why, why_size, "unknown param %s", params->keys[i]);
            return 0;
        }
        if (p->type == RRT_REAL && number(v, &c->params[k].real)) {
            continue;
        }
        if (p->type == RRT_BOOL && (v->type == JSON_TRUE || v->type == JSON_FALSE)) {
            c->params[k].flag = v->type == JSON_TRUE;
            continue;
        }
        if (p->type == RRT_INT && v->type == JSON_NUMBER && v->number == floor(v->number) &&
            fabs(v->number) < 9007199254740992.0) {
            c->params[k].integer = (int64_t)v->number;
            continue;
        }
        if (p->type == RRT_LIST && v->type == JSON_ARRAY) {
            size_t e;
            free(c->lists[k]);
            free(c->lists_f32[k]);
            c->lists[k] = xcalloc(v->count, sizeof(double));
            c->lists_f32[k] = xcalloc(v->count, sizeof(float));
            for (e = 0; e < v->count && number(&v->items[e], &c->lists[k][e]); e++) {
                c->lists_f32[k][e] = (float)c->lists[k][e];
            }
            if (e == v->count) {
                c->params[k].list = c->lists[k];
                c->params[k].list_f32 = c->lists_f32[k];
                c->params[k].list_len = v->count;
                continue;
            }
        }
        if (p->type == RRT_ENUM && v->type == JSON_OBJECT && json_get(v, "code") != NULL) {
            c->params[k].code = (int32_t)json_get(v, "code")->number;
            continue;
        }
        if (p->type == RRT_ENUM && v->type == JSON_STRING) {
            size_t e;
            for (e = 0; e < p->num_values && strcmp(p->values[e].name, v->string) != 0; e++) {
            }
            if (e < p->num_values) {
                c->params[k].code = p->values[e].code;
                continue;
            }
        }
        snprintf(why, why_size, "param %s cannot be given to C", p->name);
        return 0;
    }
    return 1;
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

/* Output `i` of an object of the file: `<plural>.<name>`, or `<single>` for an op with one output
 * ("outputs" / "output"), or one differentiable output ("cotangents" / "cotangent"); NULL when
 * absent. */
static const json_value *output_of(const json_value *v, const rrt_op *op, size_t i, const char *plural,
                                   const char *single)
{
    const json_value *all = json_get(v, plural);
    if (all != NULL) {
        return json_get(all, op->outputs[i].name);
    }
    return sole_output(op, strcmp(plural, "cotangents") == 0) == i ? json_get(v, single) : NULL;
}

static int is_finite_buffer(const call *c, const void *buffer, size_t len)
{
    size_t i;
    for (i = 0; i < len; i++) {
        if (!isfinite(get(c, buffer, i))) {
            return 0;
        }
    }
    return 1;
}

/* Compares a buffer with a tensor of the file: |got - want| <= tol * (1 + |want|); an int32 buffer
 * (`int32`) exactly. */
static int matches(const call *c, const void *got, int int32, size_t len, const json_value *want, char *why,
                   size_t why_size, const char *what)
{
    tensor t;
    size_t i;
    int ok = read_tensor(want, &t) && t.len == len;
    if (!ok) {
        snprintf(why, why_size, "%s: the expected tensor has %lu elements, the buffer %lu", what, (unsigned long)t.len,
                 (unsigned long)len);
    }
    for (i = 0; ok && i < len; i++) {
        double g = int32 ? (double)((const int32_t *)got)[i] : get(c, got, i);
        double tol = int32 ? 0.0 : c->f32 ? 1e-5 : 1e-9;
        if (!(fabs(g - t.data[i]) <= tol * (1.0 + fabs(t.data[i])))) {
            snprintf(why, why_size, "%s[%lu] = %.17g, want %.17g", what, (unsigned long)i, g, t.data[i]);
            ok = 0;
        }
    }
    free(t.data);
    return ok;
}

/* Runs one case in one dtype; returns 1 if it held, else 0 with `why`. */
static int run_case(const json_value *cs, const rrt_op *op, int f32, const json_value *expect, char *why,
                    size_t why_size)
{
    const json_value *pass = json_get(cs, "pass");
    const json_value *mods = json_get(cs, "c");
    const json_value *call_shape = json_get(cs, "call_shape");
    const json_value *want_error = json_get(expect, "error");
    int backward = pass != NULL && pass->type == JSON_STRING && strcmp(pass->string, "backward") == 0;
    int ok = 1;
    size_t batch = 0, n = 0, i;
    int32_t status;
    call c;
    tensor t;

    if (call_shape != NULL) {
        /* Shapes taken as numbers: every buffer NULL (batch × n may not even fit memory). */
        double b = json_get(call_shape, "batch")->number, m = json_get(call_shape, "n")->number;
        if (b >= 18446744073709551616.0 || m >= 18446744073709551616.0 || (double)(size_t)b != b) {
            snprintf(why, why_size, "call_shape does not fit size_t");
            return 0;
        }
        call_init(&c, op, 0, 0, f32);
        if (!read_params(&c, json_get(cs, "params"), why, why_size)) {
            call_free(&c);
            return 0;
        }
        call_alloc(&c);
        c.batch = (size_t)b;
        c.n = (size_t)m;
        for (i = 0; i < c.num_fwd; i++) {
            c.fwd[i].ptr = NULL;
        }
    } else {
        if (!read_tensor(json_get(json_get(cs, "inputs"), op->inputs[0].name), &t) || t.rank != 2) {
            snprintf(why, why_size, "input %s is not [B][n]", op->inputs[0].name);
            free(t.data);
            return 0;
        }
        batch = t.shape[0];
        n = t.shape[1];
        free(t.data);
        call_init(&c, op, batch, n, f32);
        if (!read_params(&c, json_get(cs, "params"), why, why_size)) {
            call_free(&c);
            return 0;
        }
        call_alloc(&c);
        for (i = 0; i < op->num_inputs; i++) {
            const rrt_tensor *in = &op->inputs[i];
            const json_value *v = json_get(json_get(cs, "inputs"), in->name);
            size_t j;
            if (v == NULL && in->optional) {
                /* Left out: NULL in every pass. */
                free(c.inputs[i]);
                c.inputs[i] = NULL;
                find_slot(c.fwd, c.num_fwd, in->name)->ptr = NULL;
                if (find_slot(c.bwd, c.num_bwd, in->name) != NULL) {
                    find_slot(c.bwd, c.num_bwd, in->name)->ptr = NULL;
                }
                continue;
            }
            if (!read_tensor_of(v, in->is_bool, &t) || t.len != tensor_len(&c, in)) {
                snprintf(why, why_size, "input %s does not have the first input's shape%s", in->name,
                         in->is_bool ? " or is not of booleans" : "");
                free(t.data);
                call_free(&c);
                return 0;
            }
            for (j = 0; j < t.len; j++) {
                double x = t.data[j];
                if (in->is_int32 && !(x == floor(x) && x >= (double)INT32_MIN && x <= (double)INT32_MAX)) {
                    snprintf(why, why_size, "input %s holds %.17g, not an int32", in->name, x);
                    free(t.data);
                    call_free(&c);
                    return 0;
                }
                if (in->is_bool) {
                    ((bool *)c.inputs[i])[j] = t.data[j] != 0.0;
                } else if (in->is_int32) {
                    ((int32_t *)c.inputs[i])[j] = (int32_t)x;
                } else {
                    set(&c, c.inputs[i], j, t.data[j]);
                }
            }
            free(t.data);
        }
        /* Each differentiable output's cotangent: the case's, else ones. */
        for (i = 0; i < op->num_outputs; i++) {
            const json_value *cot = output_of(cs, op, i, "cotangents", "cotangent");
            size_t j, len = tensor_len(&c, &op->outputs[i]);
            if (!op->outputs[i].differentiable) {
                continue;
            }
            if (cot == NULL) {
                for (j = 0; j < len; j++) {
                    set(&c, c.cotangents[i], j, 1.0);
                }
                continue;
            }
            if (!read_tensor(cot, &t) || t.len != len) {
                snprintf(why, why_size, "the cotangent of %s does not have its shape", op->outputs[i].name);
                free(t.data);
                call_free(&c);
                return 0;
            }
            for (j = 0; j < len; j++) {
                set(&c, c.cotangents[i], j, t.data[j]);
            }
            free(t.data);
        }
    }
    if (backward) {
        status = call_forward(&c);
        if (status != RR_OK) {
            snprintf(why, why_size, "the forward before the backward returned %d: %s", (int)status, rr_last_error());
            call_free(&c);
            return 0;
        }
    }
    /* The C modifiers act on the pass under test. */
    if (mods != NULL) {
        slot *slots = backward ? c.bwd : c.fwd;
        size_t count = backward ? c.num_bwd : c.num_fwd;
        const json_value *null = json_get(mods, "null");
        const json_value *misalign = json_get(mods, "misalign");
        if (null != NULL && strcmp(null->string, "*") == 0) {
            for (i = 0; i < count; i++) {
                slots[i].ptr = NULL;
            }
        } else if (null != NULL && list_param(&c, null->string) != NULL) {
            rrt_param_value *list = list_param(&c, null->string);
            list->list = NULL;
            list->list_f32 = NULL;
        } else if (null != NULL) {
            slot *s = find_slot(slots, count, null->string);
            if (s == NULL) {
                snprintf(why, why_size, "no buffer %s", null->string);
                ok = 0;
            } else {
                s->ptr = NULL;
            }
        }
        if (misalign != NULL) {
            slot *s = find_slot(slots, count, misalign->string);
            if (s == NULL) {
                snprintf(why, why_size, "no buffer %s", misalign->string);
                ok = 0;
            } else {
                s->ptr = (char *)s->ptr + 1;
            }
        }
    }
    /* "alias": [WRITTEN, OTHER(, OFFSET)]: WRITTEN starts at OTHER's element OFFSET. When it
     * would run past OTHER's end, both move into one block that holds them (OTHER's data copied),
     * so that no pointer of the call reaches outside memory of the test. */
    if (ok && json_get(cs, "alias") != NULL) {
        const json_value *alias = json_get(cs, "alias");
        slot *slots = backward ? c.bwd : c.fwd;
        size_t count = backward ? c.num_bwd : c.num_fwd;
        slot *w = find_slot(slots, count, alias->items[0].string);
        slot *o = find_slot(slots, count, alias->items[1].string);
        size_t offset = alias->count > 2 ? (size_t)alias->items[2].number : 0;
        if (w == NULL || o == NULL) {
            snprintf(why, why_size, "alias names an unknown buffer");
            ok = 0;
        } else {
            /* Both in bytes: the buffers may have two element types (a gradient over a mask). */
            size_t w_size = elem_size(&c, w->type), o_size = elem_size(&c, o->type);
            size_t start = offset * o_size, end = start + w->len * w_size;
            if (end <= o->len * o_size) {
                w->ptr = (char *)o->ptr + start;
            } else {
                /* Aligned for either element type. */
                c.spill = xcalloc((end + sizeof(double) - 1) / sizeof(double), sizeof(double));
                memcpy(c.spill, o->ptr, o->len * o_size);
                o->ptr = c.spill;
                w->ptr = (char *)c.spill + start;
            }
        }
    }
    if (!ok) {
        call_free(&c);
        return 0;
    }
    status = backward ? call_backward(&c) : call_forward(&c);

    if (want_error != NULL) {
        const json_value *kind = json_get(want_error, "kind");
        const json_value *message = json_get(want_error, "message");
        const json_value *contains = json_get(want_error, "contains");
        const char *got = rr_last_error();
        if (status != status_of_kind(kind->string)) {
            snprintf(why, why_size, "status %d, want %d (%s): %s", (int)status, (int)status_of_kind(kind->string),
                     kind->string, status == RR_OK ? "" : got);
            ok = 0;
        } else if (message != NULL && strcmp(got, message->string) != 0) {
            snprintf(why, why_size, "message\n   got: %s\n  want: %s", got, message->string);
            ok = 0;
        }
        for (i = 0; ok && contains != NULL && i < contains->count; i++) {
            if (strstr(got, contains->items[i].string) == NULL) {
                snprintf(why, why_size, "message \"%s\" lacks \"%s\"", got, contains->items[i].string);
                ok = 0;
            }
        }
        call_free(&c);
        return ok;
    }
    if (status != RR_OK) {
        snprintf(why, why_size, "returned %d: %s", (int)status, rr_last_error());
        call_free(&c);
        return 0;
    }
    for (i = 0; ok && i < op->num_outputs; i++) {
        const json_value *want = output_of(expect, op, i, "outputs", "output");
        if (want != NULL) {
            ok = matches(&c, c.outputs[i], op->outputs[i].is_int32, tensor_len(&c, &op->outputs[i]), want, why,
                         why_size, op->outputs[i].name);
        }
    }
    for (i = 0; ok && i < op->num_grads; i++) {
        const rrt_tensor *in = &op->inputs[op->grads[i]];
        const json_value *want = json_get(json_get(expect, "vjp"), in->name);
        if (want != NULL && backward) {
            ok = matches(&c, c.grads[i], 0, tensor_len(&c, in), want, why, why_size, c.names[1][i]);
        }
    }
    if (ok && json_get(expect, "finite") != NULL && json_get(expect, "finite")->type == JSON_TRUE) {
        for (i = 0; ok && i < op->num_outputs; i++) {
            ok = op->outputs[i].is_int32 || is_finite_buffer(&c, c.outputs[i], tensor_len(&c, &op->outputs[i]));
        }
        for (i = 0; ok && backward && i < op->num_grads; i++) {
            ok = is_finite_buffer(&c, c.grads[i], tensor_len(&c, &op->inputs[op->grads[i]]));
        }
        for (i = 0; ok && backward && i < op->num_param_grads; i++) {
            ok = is_finite_buffer(&c, c.param_grads[i], c.batch);
        }
        if (!ok) {
            snprintf(why, why_size, "a result is not finite");
        }
    }
    call_free(&c);
    return ok;
}

static int tagged(const json_value *cs, const char *binding)
{
    const json_value *bindings = json_get(cs, "bindings");
    size_t i;
    if (bindings == NULL) {
        return 1;
    }
    for (i = 0; i < bindings->count; i++) {
        if (strcmp(bindings->items[i].string, binding) == 0) {
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *path = getenv("RANK_RELAX_BAD_INPUT");
    char error[256];
    char *text;
    json_value *root;
    const json_value *cases;
    size_t i, k, runs = 0, tagged_cases = 0;
    harness_verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    if (path == NULL || path[0] == '\0') {
        path = DEFAULT_MATRIX;
    }
    text = json_read_file(path);
    if (text == NULL) {
        printf("cannot read the bad-input matrix %s (set RANK_RELAX_BAD_INPUT)\n0 passed, 1 failed\n", path);
        return 1;
    }
    root = json_parse(text, error, sizeof error);
    free(text);
    if (root == NULL) {
        printf("cannot parse %s: %s\n0 passed, 1 failed\n", path, error);
        return 1;
    }
    check(json_get(root, "format") != NULL && strcmp(json_get(root, "format")->string, FORMAT) == 0,
          "format is \"" FORMAT "\"");
    cases = json_get(root, "cases");
    for (i = 0; cases != NULL && i < cases->count; i++) {
        const json_value *cs = &cases->items[i];
        const char *id = json_get(cs, "id")->string;
        const json_value *dtypes = json_get(cs, "dtypes");
        const json_value *expect = json_get(json_get(cs, "overrides"), "c");
        const rrt_op *op;
        if (!tagged(cs, "c")) {
            continue;
        }
        tagged_cases++;
        op = find_op(json_get(cs, "op")->string);
        if (op == NULL) {
            check(0, "%s: op %s is not in the C API", id, json_get(cs, "op")->string);
            continue;
        }
        if (expect == NULL) {
            expect = json_get(cs, "expect");
        }
        for (k = 0; k < 2; k++) {
            const char *dtype = k == 0 ? "float64" : "float32";
            char why[1024] = "";
            size_t d;
            int held, wanted = dtypes == NULL;
            for (d = 0; dtypes != NULL && d < dtypes->count; d++) {
                wanted = wanted || strcmp(dtypes->items[d].string, dtype) == 0;
            }
            if (!wanted) {
                continue;
            }
            runs++;
            held = run_case(cs, op, k == 1, expect, why, sizeof why);
            check(held, "%s (%s)%s%s", id, dtype, why[0] ? ": " : "", why);
        }
    }
    printf("bad-input matrix: %lu runs of %lu cases tagged c (of %lu) from %s\n", (unsigned long)runs,
           (unsigned long)tagged_cases, cases != NULL ? (unsigned long)cases->count : 0UL, path);
    check(runs > 100, "the matrix has cases for C");
    json_free(root);
    return harness_finish();
}
