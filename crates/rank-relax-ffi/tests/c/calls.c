/* See calls.h. */
#include "calls.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

double call_value(size_t i, unsigned seed, int nonnegative)
{
    double v = (double)(((i + 3u * seed) * 7919u) % 101u) / 25.0 - 2.0 + 1e-3 * (double)i;
    return nonnegative ? fabs(v) : v;
}

void call_alloc(const rrt_op *op, const rrt_param_value *p, call_buffers *b)
{
    call_alloc_shape(op, p, CALL_BATCH, CALL_N, b);
}

void call_alloc_shape(const rrt_op *op, const rrt_param_value *p, size_t batch, size_t n, call_buffers *b)
{
    size_t i;
    memset(b, 0, sizeof *b);
    b->batch = batch;
    b->n = n;
    for (i = 0; i < op->num_inputs; i++) {
        const rrt_tensor *t = &op->inputs[i];
        size_t len = t->is_bool || t->is_int32 ? 0 : shape_len(t, batch, n, p);
        if (t->is_int32) {
            b->int_len[i] = shape_len(t, batch, n, p);
            b->ints[i] = xcalloc(b->int_len[i], sizeof(int32_t));
        }
        b->in_len[i] = len;
        b->in[i] = xcalloc(len, sizeof(double));
        b->tan[i] = xcalloc(len, sizeof(double));
        b->grad[i] = xcalloc(len, sizeof(double));
        b->hvp[i] = xcalloc(len, sizeof(double));
        b->in32[i] = xcalloc(len, sizeof(float));
        b->tan32[i] = xcalloc(len, sizeof(float));
        b->hvp32[i] = xcalloc(len, sizeof(float));
    }
    for (i = 0; i < op->num_outputs; i++) {
        size_t len = shape_len(&op->outputs[i], batch, n, p);
        b->out_len[i] = len;
        b->out[i] = xcalloc(len, sizeof(double));
        b->cot[i] = xcalloc(len, sizeof(double));
        b->otan[i] = xcalloc(len, sizeof(double));
        b->out32[i] = xcalloc(len, sizeof(float));
        b->cot32[i] = xcalloc(len, sizeof(float));
        b->otan32[i] = xcalloc(len, sizeof(float));
    }
    for (i = 0; i < op->num_residuals; i++) {
        size_t len = shape_len(&op->residuals[i], batch, n, p);
        b->res[i] = xcalloc(len, op->residuals[i].is_int32 ? sizeof(int32_t) : sizeof(double));
        b->res32[i] = xcalloc(len, op->residuals[i].is_int32 ? sizeof(int32_t) : sizeof(float));
    }
    for (i = 0; i < op->num_param_grads; i++) {
        b->pgrad[i] = xcalloc(batch, sizeof(double));
        b->phvp[i] = xcalloc(batch, sizeof(double));
        b->phvp32[i] = xcalloc(batch, sizeof(float));
    }
}

void call_fill(const rrt_op *op, call_buffers *b, unsigned seed)
{
    size_t i, j;
    for (i = 0; i < op->num_inputs; i++) {
        int nonneg = op->inputs[i].constraint != NULL && strcmp(op->inputs[i].constraint, "nonnegative") == 0;
        for (j = 0; j < b->in_len[i]; j++) {
            b->in[i][j] = (double)(float)call_value(j, seed + 5u * (unsigned)i, nonneg);
            b->tan[i][j] =
                op->inputs[i].differentiable ? (double)(float)(call_value(j, seed + 11u + 7u * (unsigned)i, 0) / 2.0) : 0.0;
            b->in32[i][j] = (float)b->in[i][j];
            b->tan32[i][j] = (float)b->tan[i][j];
        }
        for (j = 0; j < b->int_len[i]; j++) {
            b->ints[i][j] = harness_group_id(j, seed + 5u * (unsigned)i);
        }
    }
    for (i = 0; i < op->num_outputs; i++) {
        for (j = 0; j < b->out_len[i]; j++) {
            b->cot[i][j] = (double)(float)call_value(j, seed + 17u, 0);
            b->cot32[i][j] = (float)b->cot[i][j];
        }
    }
}

void call_free(call_buffers *b)
{
    size_t i;
    for (i = 0; i < CALL_MAX_TENSORS; i++) {
        void *all[] = {b->in[i], b->tan[i], b->grad[i], b->hvp[i], b->out[i], b->cot[i], b->otan[i], b->pgrad[i],
                       b->phvp[i], b->in32[i], b->tan32[i], b->out32[i], b->cot32[i], b->otan32[i], b->hvp32[i],
                       b->phvp32[i], b->res[i], b->res32[i], b->mask[i], b->ints[i]};
        size_t k;
        for (k = 0; k < sizeof all / sizeof all[0]; k++) {
            free(all[k]);
        }
    }
}

/* Input i of the call: a bool input's mask, an int32 input's ids, else the real buffer `real`. */
static const void *input_of(const rrt_op *op, const call_buffers *b, size_t i, const void *real)
{
    return op->inputs[i].is_bool ? (const void *)b->mask[i] : op->inputs[i].is_int32 ? (const void *)b->ints[i] : real;
}

void call_inputs(const rrt_op *op, const call_buffers *b, double *const *in, const void **inputs)
{
    size_t i;
    for (i = 0; i < op->num_inputs; i++) {
        inputs[i] = input_of(op, b, i, in[i]);
    }
}

void call_inputs32(const rrt_op *op, const call_buffers *b, float *const *in, const void **inputs)
{
    size_t i;
    for (i = 0; i < op->num_inputs; i++) {
        inputs[i] = input_of(op, b, i, in[i]);
    }
}

void call_saves(const rrt_op *op, const call_buffers *b, double *const *in, double *const *out, const void **saves)
{
    const void *inputs[CALL_MAX_TENSORS];
    size_t i;
    call_inputs(op, b, in, inputs);
    for (i = 0; i < op->num_saves; i++) {
        saves[i] = op->saves[i].from_output ? (const void *)out[op->saves[i].index] : inputs[op->saves[i].index];
    }
}

void call_saves32(const rrt_op *op, const call_buffers *b, float *const *in, float *const *out, const void **saves)
{
    const void *inputs[CALL_MAX_TENSORS];
    size_t i;
    call_inputs32(op, b, in, inputs);
    for (i = 0; i < op->num_saves; i++) {
        saves[i] = op->saves[i].from_output ? (const void *)out[op->saves[i].index] : inputs[op->saves[i].index];
    }
}

void call_tangents(const rrt_op *op, double *const *tan, const double **out)
{
    size_t i;
    for (i = 0; i < op->num_grads; i++) {
        out[i] = tan[op->grads[i]];
    }
}

void call_tangents32(const rrt_op *op, float *const *tan, const float **out)
{
    size_t i;
    for (i = 0; i < op->num_grads; i++) {
        out[i] = tan[op->grads[i]];
    }
}

size_t call_eps_param(const rrt_op *op)
{
    return op->num_param_grads > 0 ? op->param_grads[0] : op->num_params;
}

/* Levels off the middle: a single median of a block symmetric about it has a zero ε-derivative. */
static const double levels[2] = {0.3, 0.8};
static const float levels32[2] = {0.3f, 0.8f};

void call_params(const rrt_op *op, rrt_param_value *p)
{
    size_t i;
    for (i = 0; i < op->num_params; i++) {
        const rrt_param *q = &op->params[i];
        p[i] = q->default_value;
        if (q->type == RRT_REAL && q->grad) p[i].real = 0.7;
        if (q->type == RRT_INT && q->max.set && q->max.is_n) p[i].integer = CALL_N / 2;
        if (q->type == RRT_LIST) {
            p[i].list = levels;
            p[i].list_f32 = levels32;
            p[i].list_len = 2;
        }
    }
}

void call_each_variant(const rrt_op *op, void (*fn)(const rrt_op *, const rrt_param_value *, const char *))
{
    rrt_param_value p[CALL_MAX_PARAMS];
    size_t enums[2], num_enums = 0, i, a, c;
    call_params(op, p);
    for (i = 0; i < op->num_params; i++) {
        if (op->params[i].type == RRT_ENUM && num_enums < 2) enums[num_enums++] = i;
    }
    for (a = 0; a < (num_enums > 0 ? op->params[enums[0]].num_values : 1); a++) {
        for (c = 0; c < (num_enums > 1 ? op->params[enums[1]].num_values : 1); c++) {
            char label[96];
            size_t len = 0;
            label[0] = '\0';
            if (num_enums > 0) {
                p[enums[0]].code = op->params[enums[0]].values[a].code;
                len += (size_t)snprintf(label + len, sizeof label - len, "%s", op->params[enums[0]].values[a].name);
            }
            if (num_enums > 1) {
                p[enums[1]].code = op->params[enums[1]].values[c].code;
                snprintf(label + len, sizeof label - len, " %s", op->params[enums[1]].values[c].name);
            }
            fn(op, p, label);
        }
    }
}
