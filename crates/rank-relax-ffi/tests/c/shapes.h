/* Extents of the tensors of the generated op table (generated/rr_ops_table.h): a tensor is batch
 * rows of the product of its row dims, each n, the length of a list param or the value of an int
 * param of the call (0 when negative). */
#ifndef RR_TEST_SHAPES_H
#define RR_TEST_SHAPES_H

#include <stddef.h>

#include "generated/rr_ops_table.h"

/* The value of one row dim in a call of `n` items per row with these params. */
static inline size_t shape_dim(rrt_dim d, size_t n, const rrt_param_value *params)
{
    switch (d.kind) {
    case RRT_DIM_N:
        return n;
    case RRT_DIM_LENGTH:
        return params[d.param].list_len;
    case RRT_DIM_PARAM:
        return params[d.param].integer < 0 ? 0 : (size_t)params[d.param].integer;
    }
    return 0;
}

/* Elements of one row: 1 for [batch], n for [batch, n], m for [batch, m], k for [batch, k], n * n for
 * [batch, n, n]. */
static inline size_t shape_row_len(const rrt_tensor *t, size_t n, const rrt_param_value *params)
{
    size_t len = 1, i;
    for (i = 0; i < t->rank; i++) {
        len *= shape_dim(t->row[i], n, params);
    }
    return len;
}

/* Elements of the whole tensor. */
static inline size_t shape_len(const rrt_tensor *t, size_t batch, size_t n, const rrt_param_value *params)
{
    return batch * shape_row_len(t, n, params);
}

#endif
