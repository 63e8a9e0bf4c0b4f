/* The JVP (forward mode) of every op of the C API that has one, driven by the generated op table
 * so an op added to the spec is covered without a change here. For every op, every value of its
 * enum params, and an ε tangent of 0 and of 0.4:
 *   - the f64 JVP against central finite differences of the f64 forward, moving the differentiable
 *     inputs and ε together (distinct values, so the piecewise-linear ops stay on one piece), and
 *     not zero everywhere (the inputs exercise the derivative);
 *   - adjointness with the backward: <u, jvp(t, t_eps)> = <vjp(u), t> + t_eps * sum_rows grad_eps;
 *   - an output without a tangent (int32 positions) the same at the point and at both steps;
 *   - the f32 JVP against the f64 JVP of the same float-rounded inputs (int32 outputs equal; an
 *     int32 input, group ids, is the same buffer in both and never moves);
 *   - a NaN tangent and a NaN ε tangent are refused with the core's message naming the op.
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
#define STEP 1e-6

/* The f64 forward at inputs + h * tangents and ε + h * t_eps, into `out` (residuals into b->res).
 * An int32 output is written as int32_t into its (double-sized) buffer. */
static int forward_at(const rrt_op *op, const rrt_param_value *p, call_buffers *b, double h, double t_eps,
                      double *const *out)
{
    rrt_param_value q[CALL_MAX_PARAMS];
    double *moved[CALL_MAX_TENSORS] = {NULL};
    const void *inputs[CALL_MAX_TENSORS];
    size_t i, j, e = call_eps_param(op);
    int status;
    memcpy(q, p, op->num_params * sizeof *q);
    if (e < op->num_params) q[e].real += h * t_eps;
    for (i = 0; i < op->num_inputs; i++) {
        moved[i] = xcalloc(b->in_len[i], sizeof(double));
        for (j = 0; j < b->in_len[i]; j++) {
            moved[i][j] = b->in[i][j] + h * b->tan[i][j];
        }
    }
    call_inputs(op, b, moved, inputs);
    status = op->forward_f64(B, N, q, inputs, (void *const *)out, b->res);
    for (i = 0; i < op->num_inputs; i++) {
        free(moved[i]);
    }
    return status;
}

static void check_op(const rrt_op *op, const rrt_param_value *p, const char *label, unsigned seed, double t_eps)
{
    call_buffers b;
    const void *inputs[CALL_MAX_TENSORS], *saves[CALL_MAX_TENSORS], *saves32[CALL_MAX_TENSORS];
    const double *tangents[CALL_MAX_TENSORS];
    const float *tangents32[CALL_MAX_TENSORS];
    double *plus[CALL_MAX_TENSORS] = {NULL}, *minus[CALL_MAX_TENSORS] = {NULL}, pt[1] = {t_eps};
    double lhs = 0.0, rhs = 0.0, worst = 0.0, worst32 = 0.0, largest = 0.0;
    float pt32[1] = {(float)t_eps};
    rrt_param_value p32[CALL_MAX_PARAMS];
    size_t i, j, e = call_eps_param(op);
    int ok;

    call_alloc(op, p, &b);
    call_fill(op, &b, seed);
    for (i = 0; i < op->num_outputs; i++) {
        plus[i] = xcalloc(b.out_len[i], sizeof(double));
        minus[i] = xcalloc(b.out_len[i], sizeof(double));
    }

    /* Central differences, then the forward at the point itself, which leaves the saves and
     * residuals for the JVP and the backward. */
    call_inputs(op, &b, b.in, inputs);
    ok = forward_at(op, p, &b, STEP, t_eps, plus) == RR_OK && forward_at(op, p, &b, -STEP, t_eps, minus) == RR_OK &&
         op->forward_f64(B, N, p, inputs, (void *const *)b.out, b.res) == RR_OK;
    call_saves(op, &b, b.in, b.out, saves);
    call_tangents(op, b.tan, tangents);
    ok = ok && op->jvp_f64(B, N, p, saves, (const void *const *)b.res, tangents, pt, b.otan) == RR_OK;
    check(ok, "%s %s: forward and jvp run (%s)", op->name, label, ok ? "" : rr_last_error());
    if (!ok) goto done;
    for (i = 0; i < op->num_outputs; i++) {
        if (!op->outputs[i].differentiable) {
            /* No tangent: an int32 output (positions) is the same on both sides of the point. */
            check(memcmp(plus[i], b.out[i], b.out_len[i] * sizeof(int32_t)) == 0 &&
                      memcmp(minus[i], b.out[i], b.out_len[i] * sizeof(int32_t)) == 0,
                  "%s %s: %s does not move along the tangent", op->name, label, op->outputs[i].name);
            continue;
        }
        for (j = 0; j < b.out_len[i]; j++) {
            double fd = (plus[i][j] - minus[i][j]) / (2.0 * STEP);
            double err = fabs(fd - b.otan[i][j]) / (1.0 + fabs(fd));
            if (err > worst) worst = err;
            if (fabs(b.otan[i][j]) > largest) largest = fabs(b.otan[i][j]);
        }
    }
    check(worst < 1e-5, "%s %s, t_eps %g: jvp matches central differences (worst relative error %.3g)", op->name,
          label, t_eps, worst);
    check(largest > 1e-4, "%s %s, t_eps %g: the tangent is not zero everywhere (largest %.3g)", op->name, label, t_eps,
          largest);

    /* Adjointness with the backward. */
    ok = op->backward_f64(B, N, p, saves, (const void *const *)b.res, (const double *const *)b.cot, b.grad,
                          b.pgrad) == RR_OK;
    for (i = 0; ok && i < op->num_outputs; i++) {
        for (j = 0; op->outputs[i].differentiable && j < b.out_len[i]; j++) {
            lhs += b.cot[i][j] * b.otan[i][j];
        }
    }
    for (i = 0; ok && i < op->num_grads; i++) {
        for (j = 0; j < b.in_len[op->grads[i]]; j++) {
            rhs += b.grad[i][j] * b.tan[op->grads[i]][j];
        }
    }
    for (j = 0; ok && op->num_param_grads > 0 && j < B; j++) {
        rhs += t_eps * b.pgrad[0][j];
    }
    check(ok && fabs(lhs - rhs) <= 1e-10 * (1.0 + fabs(lhs)), "%s %s: <u, jvp(t)> = %.17g, <vjp(u), t> = %.17g (%s)",
          op->name, label, lhs, rhs, ok ? "" : rr_last_error());

    /* f32 against f64 on the same (float-rounded) inputs. */
    memcpy(p32, p, op->num_params * sizeof *p32);
    if (e < op->num_params) p32[e].real = (double)(float)p[e].real;
    call_inputs32(op, &b, b.in32, inputs);
    ok = op->forward_f32(B, N, p32, inputs, (void *const *)b.out32, b.res32) == RR_OK;
    call_saves32(op, &b, b.in32, b.out32, saves32);
    call_tangents32(op, b.tan32, tangents32);
    ok = ok && op->jvp_f32(B, N, p32, saves32, (const void *const *)b.res32, tangents32, pt32, b.otan32) == RR_OK;
    for (i = 0; ok && i < op->num_outputs; i++) {
        if (!op->outputs[i].differentiable) {
            check(memcmp(b.out32[i], b.out[i], b.out_len[i] * sizeof(int32_t)) == 0, "%s %s: f32 %s is f64's",
                  op->name, label, op->outputs[i].name);
            continue;
        }
        for (j = 0; j < b.out_len[i]; j++) {
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
        status = op->jvp_f64(B, N, p, saves, (const void *const *)b.res, tangents, pt, b.otan);
        check(status == RR_ERR_INVALID_VALUE && strncmp(rr_last_error(), op->name, strlen(op->name)) == 0 &&
                  strstr(rr_last_error(), "tangent_") != NULL,
              "%s %s: a NaN tangent is refused (%d: %s)", op->name, label, (int)status, rr_last_error());
        b.tan[op->grads[0]][1] = keep;
    }
    if (op->num_param_grads > 0) {
        double nan_eps[1] = {NAN};
        int32_t status = op->jvp_f64(B, N, p, saves, (const void *const *)b.res, tangents, nan_eps, b.otan);
        check(status == RR_ERR_INVALID_VALUE && strncmp(rr_last_error(), op->name, strlen(op->name)) == 0 &&
                  strstr(rr_last_error(), "tangent_") != NULL,
              "%s %s: a NaN ε tangent is refused (%d: %s)", op->name, label, (int)status, rr_last_error());
    }

done:
    for (i = 0; i < op->num_outputs; i++) {
        free(plus[i]);
        free(minus[i]);
    }
    call_free(&b);
}

static unsigned next_seed = 1;

static void check_variant(const rrt_op *op, const rrt_param_value *p, const char *label)
{
    check_op(op, p, label, next_seed++, 0.0);
    check_op(op, p, label, next_seed++, 0.4);
}

int main(int argc, char **argv)
{
    size_t i, with_jvp = 0;
    harness_verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    for (i = 0; i < RRT_NUM_OPS; i++) {
        const rrt_op *op = &rrt_ops[i];
        if (op->jvp_f64 == NULL) continue;
        with_jvp++;
        check(op->num_inputs <= CALL_MAX_TENSORS && op->num_outputs <= CALL_MAX_TENSORS &&
                  op->num_residuals <= CALL_MAX_TENSORS && op->num_params <= CALL_MAX_PARAMS,
              "%s: fits the test's buffers", op->name);
        call_each_variant(op, check_variant);
    }
    check(with_jvp == RRT_NUM_OPS, "every op has a JVP (%lu of %d)", (unsigned long)with_jvp, RRT_NUM_OPS);
    return harness_finish();
}
