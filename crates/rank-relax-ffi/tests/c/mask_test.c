/* Masks through the C API, for every op of the generated op table (so an op added to the spec is
 * covered without a change here) and every value of its enum params. A call of 4 rows of 12 items
 * with a mask: row 0 full, rows 1 and 2 with absent items (row 2 fewer than an int param bounded by
 * n asks for, which is then clamped to the row), row 3 empty; NaN at every absent item of every
 * input (in an int32 input, group ids, an id present items have), and finite garbage in the
 * cotangents and tangents there. Then:
 *   - each masked row is bit for bit the call without a mask on that row's present items alone
 *     (batch 1, n_valid items, every input compacted to them, int32 ones too, an int param bounded
 *     by n clamped to n_valid), for the forward, the backward (gradients 0 at absent items, per-row
 *     param gradients), the JVP and the HVP, in f64; the forward also in f32. An output along n
 *     holds the compacted row either
 *     at the present items' positions or first (sorted order), each n dim on its own (neural_sort:
 *     rows sorted, columns by item); the layout is found on row 1 and must then hold everywhere;
 *   - an output of positions (int32, indexes) holds the compacted call's positions mapped to the
 *     caller's row, and -1 past the present items; a [batch, k] output (k an int param bounded by
 *     n) holds the compacted call's min(k, n_valid) values first, then padding;
 *   - the empty row is all zeros (-1 in an output of positions), its param gradients too;
 *   - an all-true mask is bit for bit the call with a NULL mask, in every pass.
 * Prints `N passed, N failed`. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "harness.h"
#include "rank_relax.h"

#define B 4
#define N CALL_N
#define T_EPS 0.4

/* Where a row's present items are. */
typedef struct {
    size_t n_valid;
    size_t pos[N]; /* the i-th present item's column */
    long inv[N];   /* a column's index among the present items, -1 if absent */
} row_map;

static int present(size_t row, size_t j, unsigned seed)
{
    switch (row) {
    case 0:
        return 1;
    case 1:
        return (j * 5 + seed) % 3 != 0; /* absent items in the middle, about one in three */
    case 2:
        return j % 4 == 2 || j == 5 || j == 7; /* 5 items, fewer than N / 2 */
    default:
        return 0;
    }
}

static row_map make_map(const bool *mask, size_t row)
{
    row_map m;
    size_t j;
    m.n_valid = 0;
    for (j = 0; j < N; j++) {
        m.inv[j] = mask[row * N + j] ? (long)m.n_valid : -1;
        if (mask[row * N + j]) m.pos[m.n_valid++] = j;
    }
    return m;
}

/* The index of the mask among the inputs (the op's optional bool input). */
static size_t mask_input(const rrt_op *op)
{
    size_t i;
    for (i = 0; i < op->num_inputs; i++) {
        if (op->inputs[i].is_bool && op->inputs[i].optional) return i;
    }
    return op->num_inputs;
}

/* Every kernel of a call in f64 (the JVP and HVP along the call's tangents and T_EPS). */
static int run_all(const rrt_op *op, const rrt_param_value *p, call_buffers *b)
{
    const void *inputs[CALL_MAX_TENSORS], *saves[CALL_MAX_TENSORS];
    const double *tangents[CALL_MAX_TENSORS];
    double *grads[CALL_MAX_TENSORS], *hvps[CALL_MAX_TENSORS], pt[1] = {T_EPS};
    size_t i;
    call_inputs(op, b, b->in, inputs);
    if (op->forward_f64(b->batch, b->n, p, inputs, (void *const *)b->out, b->res) != RR_OK) return 0;
    call_saves(op, b, b->in, b->out, saves);
    call_tangents(op, b->tan, tangents);
    for (i = 0; i < op->num_grads; i++) {
        grads[i] = b->grad[op->grads[i]];
        hvps[i] = b->hvp[op->grads[i]];
    }
    return op->backward_f64(b->batch, b->n, p, saves, (const void *const *)b->res, (const double *const *)b->cot,
                            grads, b->pgrad) == RR_OK &&
           op->jvp_f64(b->batch, b->n, p, saves, (const void *const *)b->res, tangents, pt, b->otan) == RR_OK &&
           op->hvp_f64(b->batch, b->n, p, saves, (const void *const *)b->res, (const double *const *)b->cot, tangents,
                       pt, hvps, b->phvp) == RR_OK;
}

static int forward_f32(const rrt_op *op, const rrt_param_value *p, call_buffers *b)
{
    const void *inputs[CALL_MAX_TENSORS];
    call_inputs32(op, b, b->in32, inputs);
    return op->forward_f32(b->batch, b->n, p, inputs, (void *const *)b->out32, b->res32) == RR_OK;
}

/* The element of the compacted row that element `flat` of a full row of `t` holds, or -1 where the
 * full row holds padding (0, or -1 in an output of positions). Bit d of `layout` set: dim d (an n
 * dim) holds the present items first; clear: at their positions. A dim that is an int param
 * bounded by n (k) is clamped to the present items in the compacted call, which fill it first.
 * Other dims (a list's length) are the same in both. */
static long compact_index(const rrt_tensor *t, const rrt_param_value *p, const row_map *m, unsigned layout,
                          size_t flat)
{
    size_t coords[RRT_MAX_ROW_RANK], d;
    long index = 0;
    for (d = t->rank; d-- > 0;) {
        size_t extent = shape_dim(t->row[d], N, p);
        coords[d] = flat % extent;
        flat /= extent;
    }
    for (d = 0; d < t->rank; d++) {
        long c = (long)coords[d];
        size_t extent = shape_dim(t->row[d], N, p);
        if (t->row[d].kind == RRT_DIM_N) {
            extent = m->n_valid;
            c = layout & (1u << d) ? (coords[d] < m->n_valid ? c : -1) : m->inv[coords[d]];
            if (c < 0) return -1;
        }
        if (t->row[d].kind == RRT_DIM_PARAM && extent > m->n_valid) {
            extent = m->n_valid;
            if (coords[d] >= extent) return -1;
        }
        index = index * (long)extent + c;
    }
    return index;
}

/* An int32 row (an output of positions holds int32_t in its buffer) against the compacted row: the
 * compacted call's positions mapped to the caller's row where the layout places them, -1 elsewhere
 * (0 for other int32 outputs). */
static int same_int_row(const rrt_tensor *t, const rrt_param_value *p, const row_map *m, unsigned layout, size_t row,
                        const int32_t *got, const int32_t *want, char *why, size_t why_size)
{
    size_t len = shape_row_len(t, N, p), f;
    for (f = 0; f < len; f++) {
        long c = compact_index(t, p, m, layout, f);
        long g = got[row * len + f], w = c < 0 ? (t->indexes ? -1 : 0) : want[c];
        if (t->indexes && c >= 0) w = w < 0 ? -1 : (long)m->pos[w];
        if (g != w) {
            snprintf(why, why_size, "%s[%lu, %lu] = %ld, want %ld", t->name, (unsigned long)row, (unsigned long)f, g, w);
            return 0;
        }
    }
    return 1;
}

/* Row `row` of the full buffer `got` ([B, …t]) against the compacted row `want`: equal where the
 * layout places it, 0 elsewhere. Describes the first miss. */
static int same_row(const rrt_tensor *t, const rrt_param_value *p, const row_map *m, unsigned layout, size_t row,
                    const double *got, const double *want, char *why, size_t why_size)
{
    size_t len = shape_row_len(t, N, p), f;
    if (t->is_int32) {
        return same_int_row(t, p, m, layout, row, (const int32_t *)got, (const int32_t *)want, why, why_size);
    }
    for (f = 0; f < len; f++) {
        long c = compact_index(t, p, m, layout, f);
        double g = got[row * len + f], w = c < 0 ? 0.0 : want[c];
        if (memcmp(&g, &w, sizeof g) != 0 && !(c < 0 && g == 0.0)) {
            snprintf(why, why_size, "[%lu, %lu] = %.17g, want %.17g", (unsigned long)row, (unsigned long)f, g, w);
            return 0;
        }
    }
    return 1;
}

static int same_row32(const rrt_tensor *t, const rrt_param_value *p, const row_map *m, unsigned layout, size_t row,
                      const float *got, const float *want)
{
    size_t len = shape_row_len(t, N, p), f;
    char why[256];
    if (t->is_int32) {
        return same_int_row(t, p, m, layout, row, (const int32_t *)got, (const int32_t *)want, why, sizeof why);
    }
    for (f = 0; f < len; f++) {
        long c = compact_index(t, p, m, layout, f);
        float g = got[row * len + f], w = c < 0 ? 0.0f : want[c];
        if (memcmp(&g, &w, sizeof g) != 0 && !(c < 0 && g == 0.0f)) return 0;
    }
    return 1;
}

/* The layout of each output, found on a row with absent items in the middle: the first that
 * matches (at most 2^rank); ~0u if none does. */
static unsigned find_layout(const rrt_tensor *t, const rrt_param_value *p, const row_map *m, size_t row,
                            const double *got, const double *want)
{
    unsigned layout;
    char why[256];
    for (layout = 0; layout < (1u << t->rank); layout++) {
        if (same_row(t, p, m, layout, row, got, want, why, sizeof why)) return layout;
    }
    return ~0u;
}

/* The call without a mask on row `row`'s present items: inputs, tangents and cotangents
 * compacted, an int param bounded by n clamped to them. */
static void compact_call(const rrt_op *op, const rrt_param_value *p, const call_buffers *b, size_t row,
                         const row_map *m, const unsigned *layouts, rrt_param_value *pc, call_buffers *c)
{
    size_t i, k;
    memcpy(pc, p, op->num_params * sizeof *pc);
    for (i = 0; i < op->num_params; i++) {
        const rrt_param *q = &op->params[i];
        if (q->type == RRT_INT && q->max.set && q->max.is_n && pc[i].integer > (int64_t)m->n_valid) {
            pc[i].integer = (int64_t)m->n_valid;
        }
    }
    call_alloc_shape(op, pc, 1, m->n_valid, c);
    for (i = 0; i < op->num_inputs; i++) {
        const rrt_tensor *t = &op->inputs[i];
        if (t->is_bool) continue;
        for (k = 0; k < c->int_len[i]; k++) {
            /* An int32 input (group ids): the ids of the present items. */
            c->ints[i][k] = b->ints[i][t->rank == 0 ? row : row * N + m->pos[k]];
        }
        for (k = 0; k < c->in_len[i]; k++) {
            size_t from = t->rank == 0 ? row : row * N + m->pos[k];
            c->in[i][k] = b->in[i][from];
            c->tan[i][k] = b->tan[i][from];
            c->in32[i][k] = b->in32[i][from];
        }
    }
    for (i = 0; i < op->num_outputs; i++) {
        const rrt_tensor *t = &op->outputs[i];
        size_t len = shape_row_len(t, N, p);
        for (k = 0; k < len; k++) {
            long at = compact_index(t, p, m, layouts[i], k);
            if (at >= 0) c->cot[i][at] = b->cot[i][row * len + k];
        }
    }
}

static unsigned next_seed = 1;

static void check_variant(const rrt_op *op, const rrt_param_value *p, const char *label)
{
    size_t mi = mask_input(op), i, j, row;
    unsigned seed = next_seed++, layouts[CALL_MAX_TENSORS];
    call_buffers b, all, none;
    row_map maps[B];
    char why[256] = "";
    int ok;

    if (mi == op->num_inputs) {
        check(0, "%s: has an optional bool input (a mask)", op->name);
        return;
    }
    call_alloc_shape(op, p, B, N, &b);
    call_fill(op, &b, seed);
    b.mask[mi] = xcalloc(B * N, sizeof(bool));
    for (row = 0; row < B; row++) {
        for (j = 0; j < N; j++) {
            b.mask[mi][row * N + j] = present(row, j, seed);
        }
        maps[row] = make_map(b.mask[mi], row);
    }
    /* Absent items are never read: NaN there; in an int32 input (group ids, every int32 valid)
     * the id of a group of present items, which an absent item must not join. */
    for (i = 0; i < op->num_inputs; i++) {
        if (op->inputs[i].is_bool || op->inputs[i].rank != 1 || op->inputs[i].row[0].kind != RRT_DIM_N) continue;
        for (j = 0; j < B * N; j++) {
            if (b.mask[mi][j] || op->inputs[i].is_int32) {
                if (!b.mask[mi][j]) b.ints[i][j] = INT32_MAX;
                continue;
            }
            b.in[i][j] = NAN;
            b.in32[i][j] = NAN;
        }
    }
    ok = run_all(op, p, &b) && forward_f32(op, p, &b);
    check(ok, "%s %s: every kernel runs with a mask and NaN at absent items (%s)", op->name, label,
          ok ? "" : rr_last_error());
    if (!ok) {
        call_free(&b);
        return;
    }

    for (row = 0; row < B; row++) {
        const row_map *m = &maps[row];
        rrt_param_value pc[CALL_MAX_PARAMS];
        call_buffers c;
        int same = 1, same32 = 1;
        if (m->n_valid < op->min_n) {
            /* No item (or too few for the op): zeros everywhere. */
            int zeros = 1;
            for (i = 0; i < op->num_outputs; i++) {
                const rrt_tensor *t = &op->outputs[i];
                size_t len = shape_row_len(t, N, p);
                for (j = 0; j < len; j++) {
                    /* An output of positions holds -1 (no item). */
                    zeros = zeros && (t->is_int32 ? ((const int32_t *)b.out[i])[row * len + j] == (t->indexes ? -1 : 0)
                                                  : b.out[i][row * len + j] == 0.0 && b.otan[i][row * len + j] == 0.0);
                }
            }
            for (i = 0; i < op->num_grads; i++) {
                size_t k = op->grads[i], len = shape_row_len(&op->inputs[k], N, p);
                for (j = 0; j < len; j++) {
                    zeros = zeros && b.grad[k][row * len + j] == 0.0 && b.hvp[k][row * len + j] == 0.0;
                }
            }
            for (i = 0; i < op->num_param_grads; i++) {
                zeros = zeros && b.pgrad[i][row] == 0.0 && b.phvp[i][row] == 0.0;
            }
            check(zeros, "%s %s: row %lu with %lu items gives zeros in every kernel", op->name, label,
                  (unsigned long)row, (unsigned long)m->n_valid);
            continue;
        }
        if (row == 0 || row == 1) {
            /* The layouts: row 0 has every item, row 1 absent ones in the middle. */
            call_buffers probe;
            rrt_param_value pp[CALL_MAX_PARAMS];
            unsigned zero[CALL_MAX_TENSORS] = {0};
            compact_call(op, p, &b, row, m, zero, pp, &probe);
            ok = forward_f32(op, pp, &probe) && run_all(op, pp, &probe);
            for (i = 0; i < op->num_outputs; i++) {
                layouts[i] = ok ? find_layout(&op->outputs[i], p, m, row, b.out[i], probe.out[i]) : ~0u;
                ok = ok && layouts[i] != ~0u;
            }
            call_free(&probe);
            check(ok, "%s %s: each output of masked row %lu is the compacted call's, placed by item or first",
                  op->name, label, (unsigned long)row);
            if (!ok) break;
        }
        compact_call(op, p, &b, row, m, layouts, pc, &c);
        ok = run_all(op, pc, &c) && forward_f32(op, pc, &c);
        check(ok, "%s %s: the compacted call of row %lu runs (%s)", op->name, label, (unsigned long)row,
              ok ? "" : rr_last_error());
        if (!ok) {
            call_free(&c);
            continue;
        }
        for (i = 0; same && i < op->num_outputs; i++) {
            same = same_row(&op->outputs[i], p, m, layouts[i], row, b.out[i], c.out[i], why, sizeof why) &&
                   (!op->outputs[i].differentiable ||
                    same_row(&op->outputs[i], p, m, layouts[i], row, b.otan[i], c.otan[i], why, sizeof why));
            same32 = same32 && same_row32(&op->outputs[i], p, m, layouts[i], row, b.out32[i], c.out32[i]);
        }
        for (i = 0; same && i < op->num_grads; i++) {
            const rrt_tensor *t = &op->inputs[op->grads[i]];
            same = same_row(t, p, m, 0, row, b.grad[op->grads[i]], c.grad[op->grads[i]], why, sizeof why) &&
                   same_row(t, p, m, 0, row, b.hvp[op->grads[i]], c.hvp[op->grads[i]], why, sizeof why);
        }
        for (i = 0; same && i < op->num_param_grads; i++) {
            same = memcmp(&b.pgrad[i][row], &c.pgrad[i][0], sizeof(double)) == 0 &&
                   memcmp(&b.phvp[i][row], &c.phvp[i][0], sizeof(double)) == 0;
            if (!same) {
                snprintf(why, sizeof why, "param gradient %.17g / hvp %.17g, compacted %.17g / %.17g", b.pgrad[i][row],
                         b.phvp[i][row], c.pgrad[i][0], c.phvp[i][0]);
            }
        }
        check(same, "%s %s: row %lu (%lu items) = the compacted call in forward, backward, jvp and hvp%s%s", op->name,
              label, (unsigned long)row, (unsigned long)m->n_valid, same ? "" : ": ", why);
        check(same32, "%s %s: row %lu = the compacted call in the f32 forward", op->name, label, (unsigned long)row);
        call_free(&c);
    }
    call_free(&b);

    /* Every item present is the call without a mask, bit for bit. */
    call_alloc_shape(op, p, B, N, &all);
    call_alloc_shape(op, p, B, N, &none);
    call_fill(op, &all, seed);
    call_fill(op, &none, seed);
    all.mask[mi] = xcalloc(B * N, sizeof(bool));
    memset(all.mask[mi], true, B * N * sizeof(bool));
    ok = run_all(op, p, &all) && run_all(op, p, &none) && forward_f32(op, p, &all) && forward_f32(op, p, &none);
    for (i = 0; ok && i < op->num_outputs; i++) {
        size_t bytes = all.out_len[i] * sizeof(double);
        ok = memcmp(all.out[i], none.out[i], bytes) == 0 && memcmp(all.otan[i], none.otan[i], bytes) == 0 &&
             memcmp(all.out32[i], none.out32[i], all.out_len[i] * sizeof(float)) == 0;
    }
    for (i = 0; ok && i < op->num_inputs; i++) {
        size_t bytes = all.in_len[i] * sizeof(double);
        ok = memcmp(all.grad[i], none.grad[i], bytes) == 0 && memcmp(all.hvp[i], none.hvp[i], bytes) == 0;
    }
    for (i = 0; ok && i < op->num_param_grads; i++) {
        ok = memcmp(all.pgrad[i], none.pgrad[i], B * sizeof(double)) == 0 &&
             memcmp(all.phvp[i], none.phvp[i], B * sizeof(double)) == 0;
    }
    check(ok, "%s %s: an all-true mask is bit for bit a NULL mask in every kernel", op->name, label);
    call_free(&all);
    call_free(&none);
}

int main(int argc, char **argv)
{
    size_t i;
    harness_verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    for (i = 0; i < RRT_NUM_OPS; i++) {
        const rrt_op *op = &rrt_ops[i];
        check(op->jvp_f64 != NULL && op->hvp_f64 != NULL, "%s: has a JVP and an HVP", op->name);
        if (op->jvp_f64 == NULL || op->hvp_f64 == NULL) continue;
        call_each_variant(op, check_variant);
    }
    return harness_finish();
}
