/* The HVP (second order) of every op of the C API that has one, driven by the generated op table
 * so an op added to the spec is covered without a change here. The HVP is the derivative of what
 * the backward writes (each gradient, and per row each param gradient) along a tangent of the
 * inputs and of ε, at fixed cotangents. For every op, every value of its enum params, and an ε
 * tangent of 0 and of 0.4:
 *   - against central finite differences of the f64 backward (forward then backward at the moved
 *     inputs and ε; distinct values, so the piecewise-linear ops stay on one piece);
 *   - the Hessian is symmetric: <(w, c), hvp(t, s)> = <(t, s), hvp(w, c)>;
 *   - the f32 HVP against the f64 HVP of the same float-rounded inputs (an int32 input, group ids,
 *     the same buffer in both);
 *   - a NaN tangent and a NaN cotangent are refused with the core's message naming the op.
 * Prints `N passed, N failed`. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "calls.h"
#include "harness.h"
#include "rank_relax.h"

#define B CALL_BATCH
#define N CALL_N
#define STEP 1e-5

/* The gradients (and per-row param gradients) of the f64 backward at inputs + h * tangents and
 * ε + h * s, at the call's cotangents. */
static int backward_at(const rrt_op *op, const rrt_param_value *p, call_buffers *b, double h, double s,
                       double *const *grads, double *const *pgrads)
{
    rrt_param_value q[CALL_MAX_PARAMS];
    double *moved[CALL_MAX_TENSORS] = {NULL};
    const void *inputs[CALL_MAX_TENSORS], *saves[CALL_MAX_TENSORS];
    size_t i, j, e = call_eps_param(op);
    int ok;
    memcpy(q, p, op->num_params * sizeof *q);
    if (e < op->num_params) q[e].real += h * s;
    for (i = 0; i < op->num_inputs; i++) {
        moved[i] = xcalloc(b->in_len[i], sizeof(double));
        for (j = 0; j < b->in_len[i]; j++) {
            moved[i][j] = b->in[i][j] + h * b->tan[i][j];
        }
    }
    call_inputs(op, b, moved, inputs);
    ok = op->forward_f64(B, N, q, inputs, (void *const *)b->out, b->res) == RR_OK;
    call_saves(op, b, moved, b->out, saves);
    ok = ok && op->backward_f64(B, N, q, saves, (const void *const *)b->res, (const double *const *)b->cot, grads,
                                pgrads) == RR_OK;
    for (i = 0; i < op->num_inputs; i++) {
        free(moved[i]);
    }
    return ok;
}

/* The f64 HVP at the call's point along (b->tan, s), into b->hvp and b->phvp. */
static int hvp_at(const rrt_op *op, const rrt_param_value *p, call_buffers *b, double s)
{
    const void *inputs[CALL_MAX_TENSORS], *saves[CALL_MAX_TENSORS];
    const double *tangents[CALL_MAX_TENSORS];
    double pt[1] = {s};
    double *hvps[CALL_MAX_TENSORS];
    size_t i;
    call_inputs(op, b, b->in, inputs);
    if (op->forward_f64(B, N, p, inputs, (void *const *)b->out, b->res) != RR_OK) return 0;
    call_saves(op, b, b->in, b->out, saves);
    call_tangents(op, b->tan, tangents);
    for (i = 0; i < op->num_grads; i++) {
        hvps[i] = b->hvp[op->grads[i]];
    }
    return op->hvp_f64(B, N, p, saves, (const void *const *)b->res, (const double *const *)b->cot, tangents, pt, hvps,
                       b->phvp) == RR_OK;
}

/* <(w, c), (hvp, phvp)> over every gradient and row. */
static double pair(const rrt_op *op, const call_buffers *b, double *const *w, double c)
{
    double sum = 0.0;
    size_t i, j;
    for (i = 0; i < op->num_grads; i++) {
        size_t k = op->grads[i];
        for (j = 0; j < b->in_len[k]; j++) {
            sum += w[k][j] * b->hvp[k][j];
        }
    }
    for (j = 0; op->num_param_grads > 0 && j < B; j++) {
        sum += c * b->phvp[0][j];
    }
    return sum;
}

/* Checks one call; returns the largest |hvp| it saw. */
static double check_op(const rrt_op *op, const rrt_param_value *p, const char *label, unsigned seed, double s)
{
    call_buffers b, w;
    double *gp[CALL_MAX_TENSORS] = {NULL}, *gm[CALL_MAX_TENSORS] = {NULL}, *pp[CALL_MAX_TENSORS] = {NULL};
    double *pm[CALL_MAX_TENSORS] = {NULL};
    double worst = 0.0, worst32 = 0.0, largest = 0.0, th, wh;
    const double c = -0.3;
    size_t i, j, e = call_eps_param(op);
    int ok;

    call_alloc(op, p, &b);
    call_fill(op, &b, seed);
    for (i = 0; i < op->num_grads; i++) {
        size_t len = b.in_len[op->grads[i]];
        gp[i] = xcalloc(len, sizeof(double));
        gm[i] = xcalloc(len, sizeof(double));
    }
    for (i = 0; i < op->num_param_grads; i++) {
        pp[i] = xcalloc(B, sizeof(double));
        pm[i] = xcalloc(B, sizeof(double));
    }

    ok = backward_at(op, p, &b, STEP, s, gp, pp) && backward_at(op, p, &b, -STEP, s, gm, pm) && hvp_at(op, p, &b, s);
    check(ok, "%s %s, s %g: forward, backward and hvp run (%s)", op->name, label, s, ok ? "" : rr_last_error());
    if (!ok) goto done;
    for (i = 0; i < op->num_grads; i++) {
        size_t k = op->grads[i];
        for (j = 0; j < b.in_len[k]; j++) {
            double fd = (gp[i][j] - gm[i][j]) / (2.0 * STEP);
            double err = fabs(fd - b.hvp[k][j]) / (1.0 + fabs(fd));
            if (err > worst) worst = err;
            if (fabs(b.hvp[k][j]) > largest) largest = fabs(b.hvp[k][j]);
        }
    }
    for (i = 0; i < op->num_param_grads; i++) {
        for (j = 0; j < B; j++) {
            double fd = (pp[i][j] - pm[i][j]) / (2.0 * STEP);
            double err = fabs(fd - b.phvp[i][j]) / (1.0 + fabs(fd));
            if (err > worst) worst = err;
            if (fabs(b.phvp[i][j]) > largest) largest = fabs(b.phvp[i][j]);
        }
    }
    check(worst < 1e-4, "%s %s, eps %g, s %g: hvp matches central differences of the backward (worst relative error %.3g)",
          op->name, label, p[e].real, s, worst);

    /* Symmetry: the same point along another direction (w, c). */
    call_alloc(op, p, &w);
    for (i = 0; i < op->num_outputs; i++) {
        memcpy(w.cot[i], b.cot[i], b.out_len[i] * sizeof(double));
    }
    for (i = 0; i < op->num_inputs; i++) {
        memcpy(w.in[i], b.in[i], b.in_len[i] * sizeof(double));
        if (b.int_len[i] > 0) memcpy(w.ints[i], b.ints[i], b.int_len[i] * sizeof(int32_t)); /* the same groups */
        for (j = 0; j < b.in_len[i]; j++) {
            w.tan[i][j] = op->inputs[i].differentiable ? call_value(j, seed + 29u + 3u * (unsigned)i, 0) / 3.0 : 0.0;
        }
    }
    ok = hvp_at(op, p, &w, c);
    th = pair(op, &b, w.tan, c); /* <(w, c), H(t, s)> */
    wh = pair(op, &w, b.tan, s); /* <(t, s), H(w, c)> */
    check(ok && fabs(th - wh) <= 1e-9 * (1.0 + fabs(th)), "%s %s, s %g: symmetric, %.17g vs %.17g (%s)", op->name,
          label, s, th, wh, ok ? "" : rr_last_error());
    call_free(&w);

    /* f32 against f64 on the same (float-rounded) inputs. */
    {
        rrt_param_value p32[CALL_MAX_PARAMS];
        const void *inputs32[CALL_MAX_TENSORS], *saves32[CALL_MAX_TENSORS];
        const float *tangents32[CALL_MAX_TENSORS];
        float *hvps32[CALL_MAX_TENSORS];
        float pt32[1] = {(float)s};
        memcpy(p32, p, op->num_params * sizeof *p32);
        if (e < op->num_params) p32[e].real = (double)(float)p[e].real;
        call_inputs32(op, &b, b.in32, inputs32);
        ok = op->forward_f32(B, N, p32, inputs32, (void *const *)b.out32, b.res32) == RR_OK;
        call_saves32(op, &b, b.in32, b.out32, saves32);
        call_tangents32(op, b.tan32, tangents32);
        for (i = 0; i < op->num_grads; i++) {
            hvps32[i] = b.hvp32[op->grads[i]];
        }
        ok = ok && op->hvp_f32(B, N, p32, saves32, (const void *const *)b.res32, (const float *const *)b.cot32,
                               tangents32, pt32, hvps32, b.phvp32) == RR_OK;
        for (i = 0; ok && i < op->num_grads; i++) {
            size_t k = op->grads[i];
            for (j = 0; j < b.in_len[k]; j++) {
                double err = fabs((double)b.hvp32[k][j] - b.hvp[k][j]) / (1.0 + fabs(b.hvp[k][j]));
                if (err > worst32) worst32 = err;
            }
        }
        check(ok && worst32 < 5e-3, "%s %s, s %g: f32 hvp within %.3g of f64 (%s)", op->name, label, s, worst32,
              ok ? "" : rr_last_error());
    }

    /* A NaN tangent, then a NaN cotangent, are refused with the op's name in the message. */
    {
        const void *saves[CALL_MAX_TENSORS];
        const double *tangents[CALL_MAX_TENSORS];
        double *hvps[CALL_MAX_TENSORS], pt[1] = {s};
        int32_t status;
        double keep;
        size_t k;
        call_saves(op, &b, b.in, b.out, saves);
        call_tangents(op, b.tan, tangents);
        for (i = 0; i < op->num_grads; i++) {
            hvps[i] = b.hvp[op->grads[i]];
        }
        keep = b.tan[op->grads[0]][1];
        b.tan[op->grads[0]][1] = NAN;
        status = op->hvp_f64(B, N, p, saves, (const void *const *)b.res, (const double *const *)b.cot, tangents, pt,
                             hvps, b.phvp);
        check(status == RR_ERR_INVALID_VALUE && strncmp(rr_last_error(), op->name, strlen(op->name)) == 0 &&
                  strstr(rr_last_error(), "tangent_") != NULL,
              "%s %s: a NaN tangent is refused (%d: %s)", op->name, label, (int)status, rr_last_error());
        b.tan[op->grads[0]][1] = keep;
        for (k = 0; !op->outputs[k].differentiable; k++) {
        }
        keep = b.cot[k][0];
        b.cot[k][0] = NAN;
        status = op->hvp_f64(B, N, p, saves, (const void *const *)b.res, (const double *const *)b.cot, tangents, pt,
                             hvps, b.phvp);
        check(status == RR_ERR_INVALID_VALUE && strncmp(rr_last_error(), op->name, strlen(op->name)) == 0 &&
                  strstr(rr_last_error(), "cotangent_") != NULL,
              "%s %s: a NaN cotangent is refused (%d: %s)", op->name, label, (int)status, rr_last_error());
        b.cot[k][0] = keep;
    }

done:
    for (i = 0; i < CALL_MAX_TENSORS; i++) {
        free(gp[i]);
        free(gm[i]);
        free(pp[i]);
        free(pm[i]);
    }
    call_free(&b);
    return largest;
}

static unsigned next_seed = 1;

/* At ε = 0.7 and 5 (soft_sort is nearly hard at 0.7 on these values, its blocks are singletons:
 * the ranks' ε is not the sort's), each with an ε tangent of 0 and 0.4: some HVP is not zero. */
static void check_variant(const rrt_op *op, const rrt_param_value *p, const char *label)
{
    rrt_param_value q[CALL_MAX_PARAMS];
    size_t e = call_eps_param(op);
    double largest = 0.0, eps[2] = {0.7, 5.0};
    size_t k;
    memcpy(q, p, op->num_params * sizeof *q);
    for (k = 0; k < 2; k++) {
        double a, b;
        if (e < op->num_params) q[e].real = eps[k];
        a = check_op(op, q, label, next_seed++, 0.0);
        b = check_op(op, q, label, next_seed++, 0.4);
        largest = fmax(largest, fmax(a, b));
    }
    check(largest > 1e-4, "%s %s: the hvp is not zero everywhere (largest %.3g)", op->name, label, largest);
}

int main(int argc, char **argv)
{
    size_t i, with_hvp = 0;
    harness_verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    for (i = 0; i < RRT_NUM_OPS; i++) {
        const rrt_op *op = &rrt_ops[i];
        if (op->hvp_f64 == NULL) continue;
        with_hvp++;
        check(op->num_inputs <= CALL_MAX_TENSORS && op->num_outputs <= CALL_MAX_TENSORS &&
                  op->num_residuals <= CALL_MAX_TENSORS && op->num_params <= CALL_MAX_PARAMS && op->num_grads > 0,
              "%s: fits the test's buffers", op->name);
        call_each_variant(op, check_variant);
    }
    check(with_hvp == RRT_NUM_OPS, "every op has an HVP (%lu of %d)", (unsigned long)with_hvp, RRT_NUM_OPS);
    return harness_finish();
}
