/* Buffers for one call of any op of the generated table (generated/rr_ops_table.h), in f64 and
 * f32, and the argument arrays the table's adapters take: shared by the JVP and HVP tests. */
#ifndef RR_TEST_CALLS_H
#define RR_TEST_CALLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shapes.h"

#define CALL_BATCH 3
#define CALL_N 12
#define CALL_MAX_TENSORS 4
#define CALL_MAX_PARAMS 8

typedef struct {
    /* the call's shape: CALL_BATCH x CALL_N unless allocated with call_alloc_shape */
    size_t batch, n;
    /* real inputs have in_len elements; a bool input (a mask) has none of the real buffers below
     * and is mask[i]: NULL (absent) unless the test sets it (batch * n elements, freed by call_free);
     * an int32 input (is_int32: group ids) has none of them either (in_len 0) and is ints[i], of
     * int_len[i] elements, one buffer for the f64 and the f32 calls */
    size_t in_len[CALL_MAX_TENSORS], out_len[CALL_MAX_TENSORS], int_len[CALL_MAX_TENSORS];
    bool *mask[CALL_MAX_TENSORS];
    int32_t *ints[CALL_MAX_TENSORS];
    /* inputs, their tangents, and the backward's gradients (and HVPs) of them */
    double *in[CALL_MAX_TENSORS], *tan[CALL_MAX_TENSORS], *grad[CALL_MAX_TENSORS], *hvp[CALL_MAX_TENSORS];
    /* outputs, their cotangents, and the JVP's tangents of them; an int32 output (is_int32) holds
     * int32_t in its buffer, and its cotangent and tangent are unused */
    double *out[CALL_MAX_TENSORS], *cot[CALL_MAX_TENSORS], *otan[CALL_MAX_TENSORS];
    /* per-row param gradients (and their HVPs), CALL_BATCH values each */
    double *pgrad[CALL_MAX_TENSORS], *phvp[CALL_MAX_TENSORS];
    float *in32[CALL_MAX_TENSORS], *tan32[CALL_MAX_TENSORS], *out32[CALL_MAX_TENSORS], *cot32[CALL_MAX_TENSORS];
    float *otan32[CALL_MAX_TENSORS], *hvp32[CALL_MAX_TENSORS], *phvp32[CALL_MAX_TENSORS];
    void *res[CALL_MAX_TENSORS], *res32[CALL_MAX_TENSORS];
} call_buffers;

/* Distinct values (no ties) in about [-2, 2]; `nonnegative` folds them to [0, 2]. */
double call_value(size_t i, unsigned seed, int nonnegative);

/* Allocates every buffer of a call of `op` with params `p` (zeroed), CALL_BATCH x CALL_N. */
void call_alloc(const rrt_op *op, const rrt_param_value *p, call_buffers *b);
/* The same for a call of `batch` rows of `n` items. */
void call_alloc_shape(const rrt_op *op, const rrt_param_value *p, size_t batch, size_t n, call_buffers *b);

/* Fills the inputs and their tangents (zero for inputs without a gradient) and the cotangents,
 * rounded to float so the f32 and f64 calls see the same numbers; an int32 input gets group ids
 * (harness_group_id). */
void call_fill(const rrt_op *op, call_buffers *b, unsigned seed);

void call_free(call_buffers *b);

/* The inputs as the table's adapters take them: `in[i]` (the real inputs: b->in, or a moved copy),
 * or b->mask[i] for a bool input, b->ints[i] for an int32 input. */
void call_inputs(const rrt_op *op, const call_buffers *b, double *const *in, const void **inputs);
void call_inputs32(const rrt_op *op, const call_buffers *b, float *const *in, const void **inputs);

/* The saves of the table, pointing at this call's inputs (masks and int32 inputs of `b` included)
 * and outputs. */
void call_saves(const rrt_op *op, const call_buffers *b, double *const *in, double *const *out, const void **saves);
void call_saves32(const rrt_op *op, const call_buffers *b, float *const *in, float *const *out, const void **saves);

/* The tangents in the order of the table's gradients (the JVP's and HVP's order). */
void call_tangents(const rrt_op *op, double *const *tan, const double **out);
void call_tangents32(const rrt_op *op, float *const *tan, const float **out);

/* The index of the param with a gradient (ε), or num_params. */
size_t call_eps_param(const rrt_op *op);

/* The params of a test call: defaults, ε = 0.7, an int bounded by n at n / 2, a list {0.3, 0.8}. */
void call_params(const rrt_op *op, rrt_param_value *p);

/* Calls `fn(op, p, label)` for every combination of the op's enum params (at most two). */
void call_each_variant(const rrt_op *op, void (*fn)(const rrt_op *, const rrt_param_value *, const char *));

#endif
