/* The JVP (forward mode) of every op of the C API that has one, driven by the generated op table
 * so an op added to the spec is covered without a change here. For every op, every value of its
 * enum params and both directions of the ε tangent:
 *   - the f64 JVP against central finite differences of the f64 forward, moving the differentiable
 *     inputs and ε together (distinct values, so the piecewise-linear ops stay on one piece);
 *   - adjointness with the backward: <u, jvp(t, t_eps)> = <vjp(u), t> + t_eps * sum_rows grad_eps;
 *   - the f32 JVP against the f64 JVP of the same float-rounded inputs;
 *   - a NaN tangent and a NaN ε tangent are refused with the core's message naming the op.
 * Prints `N passed, N failed`. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rank_relax.h"
#include "shapes.h"

#define BATCH 3
#define N 12
#define MAX_TENSORS 4
#define STEP 1e-6

/* Distinct values (no ties) in about [-2, 2]; `nonnegative` folds them to [0, 2]. */
static double value(size_t i, unsigned seed, int nonnegative)
{
    double v = (double)(((i + 3u * seed) * 7919u) % 101u) / 25.0 - 2.0 + 1e-3 * (double)i;
    return nonnegative ? fabs(v) : v;
}

/* Buffers of one call of an op, in f64 and f32. */
typedef struct {
    size_t len[3][MAX_TENSORS]; /* inputs, outputs, residuals */
    double *in[MAX_TENSORS], *out[MAX_TENSORS], *tan[MAX_TENSORS], *otan[MAX_TENSORS], *cot[MAX_TENSORS];
    double *grad[MAX_TENSORS], *pgrad[MAX_TENSORS];
    float *in32[MAX_TENSORS], *out32[MAX_TENSORS], *tan32[MAX_TENSORS], *otan32[MAX_TENSORS];
    void *res[MAX_TENSORS], *res32[MAX_TENSORS];
} buffers;

static void alloc_all(const rrt_op *op, const rrt_param_value *p, buffers *b)
{
    size_t i;
    memset(b, 0, sizeof *b);
    for (i = 0; i < op->num_inputs; i++) {
        size_t len = shape_len(&op->inputs[i], BATCH, N, p);
        b->len[0][i] = len;
        b->in[i] = xcalloc(len, sizeof(double));
        b->tan[i] = xcalloc(len, sizeof(double));
        b->grad[i] = xcalloc(len, sizeof(double));
        b->in32[i] = xcalloc(len, sizeof(float));
        b->tan32[i] = xcalloc(len, sizeof(float));
    }
    for (i = 0; i < op->num_outputs; i++) {
        size_t len = shape_len(&op->outputs[i], BATCH, N, p);
        b->len[1][i] = len;
        b->out[i] = xcalloc(len, sizeof(double));
        b->otan[i] = xcalloc(len, sizeof(double));
        b->cot[i] = xcalloc(len, sizeof(double));
        b->out32[i] = xcalloc(len, sizeof(float));
        b->otan32[i] = xcalloc(len, sizeof(float));
    }
    for (i = 0; i < op->num_residuals; i++) {
        size_t len = shape_len(&op->residuals[i], BATCH, N, p);
        b->len[2][i] = len;
        b->res[i] = xcalloc(len, op->residuals[i].is_int32 ? sizeof(int32_t) : sizeof(double));
        b->res32[i] = xcalloc(len, op->residuals[i].is_int32 ? sizeof(int32_t) : sizeof(float));
    }
    for (i = 0; i < op->num_param_grads; i++) {
        b->pgrad[i] = xcalloc(BATCH, sizeof(double));
    }
}

static void free_all(buffers *b)
{
    size_t i;
    for (i = 0; i < MAX_TENSORS; i++) {
        free(b->in[i]);
        free(b->out[i]);
        free(b->tan[i]);
        free(b->otan[i]);
        free(b->cot[i]);
        free(b->grad[i]);
        free(b->pgrad[i]);
        free(b->in32[i]);
        free(b->out32[i]);
        free(b->tan32[i]);
        free(b->otan32[i]);
        free(b->res[i]);
        free(b->res32[i]);
    }
}

/* The saves of the table, pointing at the inputs and outputs of this call. */
static void saves_of(const rrt_op *op, double *const *in, double *const *out, const double **saves)
{
    size_t i;
    for (i = 0; i < op->num_saves; i++) {
        saves[i] = op->saves[i].from_output ? out[op->saves[i].index] : in[op->saves[i].index];
    }
}

static void saves_of32(const rrt_op *op, float *const *in, float *const *out, const float **saves)
{
    size_t i;
    for (i = 0; i < op->num_saves; i++) {
        saves[i] = op->saves[i].from_output ? out[op->saves[i].index] : in[op->saves[i].index];
    }
}

/* The tangents in the order of the table's gradients (the JVP's order). */
static void tangents_of(const rrt_op *op, double *const *tan, const double **out)
{
    size_t i;
    for (i = 0; i < op->num_grads; i++) {
        out[i] = tan[op->grads[i]];
    }
}

/* The index of the param with a gradient (ε), or num_params. */
static size_t eps_param(const rrt_op *op)
{
    return op->num_param_grads > 0 ? op->param_grads[0] : op->num_params;
}

/* Forward in f64 at inputs + h * tangents and ε + h * t_eps; writes b->out. */
static int forward_at(const rrt_op *op, const rrt_param_value *p, buffers *b, double h, double t_eps, double **moved)
{
    rrt_param_value q[8];
    size_t i, j, e = eps_param(op);
    memcpy(q, p, op->num_params * sizeof *q);
    if (e < op->num_params) q[e].real += h * t_eps;
    for (i = 0; i < op->num_inputs; i++) {
        for (j = 0; j < b->len[0][i]; j++) {
            moved[i][j] = b->in[i][j] + (op->inputs[i].differentiable ? h * b->tan[i][j] : 0.0);
        }
    }
    return op->forward_f64(BATCH, N, q, (const double *const *)moved, b->out, b->res);
}

static void check_op(const rrt_op *op, const rrt_param_value *p, const char *label, unsigned seed, double t_eps)
{
    buffers b;
    const double *saves[MAX_TENSORS], *tangents[MAX_TENSORS];
    const float *saves32[MAX_TENSORS], *tangents32[MAX_TENSORS];
    double *moved[MAX_TENSORS], *plus[MAX_TENSORS], *minus[MAX_TENSORS], pt[1], lhs = 0.0, rhs = 0.0, worst = 0.0, worst32 = 0.0, largest = 0.0;
    float pt32[1];
    rrt_param_value p32[8];
    size_t i, j, e = eps_param(op);
    int ok;

    alloc_all(op, p, &b);
    for (i = 0; i < op->num_inputs; i++) {
        int nonneg = op->inputs[i].constraint != NULL && strcmp(op->inputs[i].constraint, "nonnegative") == 0;
        moved[i] = xcalloc(b.len[0][i], sizeof(double));
        for (j = 0; j < b.len[0][i]; j++) {
            b.in[i][j] = value(j, seed + 5u * (unsigned)i, nonneg);
            b.tan[i][j] = op->inputs[i].differentiable ? value(j, seed + 11u + 7u * (unsigned)i, 0) / 2.0 : 0.0;
            /* Round to float so the f32 and f64 calls see the same numbers. */
            b.in[i][j] = (double)(float)b.in[i][j];
            b.tan[i][j] = (double)(float)b.tan[i][j];
            b.in32[i][j] = (float)b.in[i][j];
            b.tan32[i][j] = (float)b.tan[i][j];
        }
    }
    for (i = 0; i < op->num_outputs; i++) {
        plus[i] = xcalloc(b.len[1][i], sizeof(double));
        minus[i] = xcalloc(b.len[1][i], sizeof(double));
        for (j = 0; j < b.len[1][i]; j++) {
            b.cot[i][j] = value(j, seed + 17u, 0);
        }
    }
    pt[0] = t_eps;
    pt32[0] = (float)t_eps;

    /* Central differences: the forward at +h and -h, copied out, then at the point itself, which
     * leaves the saves and residuals for the JVP and the backward. */
    ok = forward_at(op, p, &b, STEP, t_eps, moved) == RR_OK;
    for (i = 0; ok && i < op->num_outputs; i++) {
        memcpy(plus[i], b.out[i], b.len[1][i] * sizeof(double));
    }
    ok = ok && forward_at(op, p, &b, -STEP, t_eps, moved) == RR_OK;
    for (i = 0; ok && i < op->num_outputs; i++) {
        memcpy(minus[i], b.out[i], b.len[1][i] * sizeof(double));
    }
    ok = ok && op->forward_f64(BATCH, N, p, (const double *const *)b.in, b.out, b.res) == RR_OK;
    saves_of(op, b.in, b.out, saves);
    tangents_of(op, b.tan, tangents);
    ok = ok && op->jvp_f64(BATCH, N, p, saves, (const void *const *)b.res, tangents, pt, b.otan) == RR_OK;
    check(ok, "%s %s: forward and jvp run (%s)", op->name, label, ok ? "" : rr_last_error());
    if (!ok) goto done;
    for (i = 0; i < op->num_outputs; i++) {
        for (j = 0; j < b.len[1][i]; j++) {
            double fd = (plus[i][j] - minus[i][j]) / (2.0 * STEP);
            double err = fabs(fd - b.otan[i][j]) / (1.0 + fabs(fd));
            if (err > worst) worst = err;
        }
    }
    check(worst < 1e-5, "%s %s, t_eps %g: jvp matches central differences (worst relative error %.3g)", op->name,
          label, t_eps, worst);
    /* The inputs must exercise the derivative: a JVP that is zero everywhere would match trivially. */
    for (i = 0; i < op->num_outputs; i++) {
        for (j = 0; j < b.len[1][i]; j++) {
            if (fabs(b.otan[i][j]) > largest) largest = fabs(b.otan[i][j]);
        }
    }
    check(largest > 1e-4, "%s %s, t_eps %g: the tangent is not zero everywhere (largest %.3g)", op->name, label, t_eps,
          largest);

    /* Adjointness with the backward. */
    ok = op->backward_f64(BATCH, N, p, saves, (const void *const *)b.res, (const double *const *)b.cot, b.grad,
                          b.pgrad) == RR_OK;
    for (i = 0; ok && i < op->num_outputs; i++) {
        for (j = 0; j < b.len[1][i]; j++) {
            lhs += b.cot[i][j] * b.otan[i][j];
        }
    }
    for (i = 0; ok && i < op->num_grads; i++) {
        for (j = 0; j < b.len[0][op->grads[i]]; j++) {
            rhs += b.grad[i][j] * b.tan[op->grads[i]][j];
        }
    }
    for (j = 0; ok && op->num_param_grads > 0 && j < BATCH; j++) {
        rhs += t_eps * b.pgrad[0][j];
    }
    check(ok && fabs(lhs - rhs) <= 1e-10 * (1.0 + fabs(lhs)), "%s %s: <u, jvp(t)> = %.17g, <vjp(u), t> = %.17g (%s)",
          op->name, label, lhs, rhs, ok ? "" : rr_last_error());

    /* f32 against f64 on the same (float-rounded) inputs. */
    memcpy(p32, p, op->num_params * sizeof *p32);
    if (e < op->num_params) p32[e].real = (double)(float)p[e].real;
    ok = op->forward_f32(BATCH, N, p32, (const float *const *)b.in32, b.out32, b.res32) == RR_OK;
    saves_of32(op, b.in32, b.out32, saves32);
    for (i = 0; i < op->num_grads; i++) {
        tangents32[i] = b.tan32[op->grads[i]];
    }
    ok = ok && op->jvp_f32(BATCH, N, p32, saves32, (const void *const *)b.res32, tangents32, pt32, b.otan32) == RR_OK;
    for (i = 0; ok && i < op->num_outputs; i++) {
        for (j = 0; j < b.len[1][i]; j++) {
            double err = fabs((double)b.otan32[i][j] - b.otan[i][j]) / (1.0 + fabs(b.otan[i][j]));
            if (err > worst32) worst32 = err;
        }
    }
    check(ok && worst32 < 2e-3, "%s %s: f32 jvp within %.3g of f64 (%s)", op->name, label, worst32,
          ok ? "" : rr_last_error());

    /* A NaN tangent, then a NaN ε tangent, are refused with the op's name in the message. */
    if (op->num_grads > 0) {
        double keep = b.tan[op->grads[0]][1];
        int32_t status;
        b.tan[op->grads[0]][1] = NAN;
        status = op->jvp_f64(BATCH, N, p, saves, (const void *const *)b.res, tangents, pt, b.otan);
        check(status == RR_ERR_INVALID_VALUE && strncmp(rr_last_error(), op->name, strlen(op->name)) == 0 &&
                  strstr(rr_last_error(), "tangent_") != NULL,
              "%s %s: a NaN tangent is refused (%d: %s)", op->name, label, (int)status, rr_last_error());
        b.tan[op->grads[0]][1] = keep;
    }
    if (op->num_param_grads > 0) {
        double nan_eps[1] = {NAN};
        int32_t status = op->jvp_f64(BATCH, N, p, saves, (const void *const *)b.res, tangents, nan_eps, b.otan);
        check(status == RR_ERR_INVALID_VALUE && strncmp(rr_last_error(), op->name, strlen(op->name)) == 0 &&
                  strstr(rr_last_error(), "tangent_") != NULL,
              "%s %s: a NaN ε tangent is refused (%d: %s)", op->name, label, (int)status, rr_last_error());
    }

done:
    for (i = 0; i < op->num_inputs; i++) {
        free(moved[i]);
    }
    for (i = 0; i < op->num_outputs; i++) {
        free(plus[i]);
        free(minus[i]);
    }
    free_all(&b);
}

/* Every combination of the op's enum params (at most two enum params of at most 4 values each). */
static void check_all(const rrt_op *op)
{
    rrt_param_value p[8];
    size_t enums[2], num_enums = 0, i, a, c;
    unsigned seed = 1;
    for (i = 0; i < op->num_params; i++) {
        const rrt_param *q = &op->params[i];
        p[i] = q->default_value;
        if (q->type == RRT_REAL && q->grad) p[i].real = 0.7;
        if (q->type == RRT_INT && q->max.set && q->max.is_n) p[i].integer = N / 2;
        if (q->type == RRT_ENUM && num_enums < 2) enums[num_enums++] = i;
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
            check_op(op, p, label, seed++, 0.0);
            check_op(op, p, label, seed++, 0.4);
        }
    }
}

int main(int argc, char **argv)
{
    size_t i, with_jvp = 0;
    harness_verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    for (i = 0; i < RRT_NUM_OPS; i++) {
        if (rrt_ops[i].jvp_f64 == NULL) continue;
        with_jvp++;
        check(rrt_ops[i].num_inputs <= MAX_TENSORS && rrt_ops[i].num_outputs <= MAX_TENSORS &&
                  rrt_ops[i].num_residuals <= MAX_TENSORS && rrt_ops[i].num_params <= 8,
              "%s: fits the test's buffers", rrt_ops[i].name);
        check_all(&rrt_ops[i]);
    }
    check(with_jvp == RRT_NUM_OPS, "every op has a JVP (%lu of %d)", (unsigned long)with_jvp, RRT_NUM_OPS);
    return harness_finish();
}
