/* The int, list and op-specific enum params of the C API, and the extents of buffers whose shape is
 * not [batch, n]:
 *   - soft_topk's k out of [0, n] and its regularization code 2 are refused with the core's
 *     message; k = 0 and k = n give masks that sum to k;
 *   - soft_sort_topk's k out of [0, n] (-1, n + 1, INT64_MAX, INT64_MIN) is refused with the core's
 *     message before it sizes a buffer, neither output touched; k = 0 takes NULL outputs; k = n
 *     writes [batch, n] (soft_sort's values, a permutation of positions) and nothing past it;
 *   - soft_quantile's quantiles: NULL with a length, empty, NaN or 1.5 are refused; the result
 *     of m levels is [batch, m] whatever n is;
 *   - every element of a [batch, m] or [batch, n, n] output and of the gradients is written, and
 *     nothing after it (guard elements past the extent stay untouched); a [batch, n, n] extent
 *     that overflows size_t is refused before any buffer is touched.
 * Prints `N passed, N failed`. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "rank_relax.h"

#define BATCH 3
#define N 5
#define GUARD 4
#define SENTINEL -12345.0

/* The last error is exactly `want`. */
static void expect(int32_t status, int32_t want_status, const char *want, const char *what)
{
    const char *got = rr_last_error();
    check(status == want_status && strcmp(got, want) == 0, "%s: status %d \"%s\" (want %d \"%s\")", what, (int)status,
          status == RR_OK ? "" : got, (int)want_status, want);
}

static double value(size_t i)
{
    return (double)((i * 7919u) % 13u) / 3.0 - 2.0;
}

/* A buffer of `len` elements followed by GUARD more, all SENTINEL. */
static double *guarded(size_t len)
{
    double *b = xcalloc(len + GUARD, sizeof(double));
    size_t i;
    for (i = 0; i < len + GUARD; i++) {
        b[i] = SENTINEL;
    }
    return b;
}

/* Every element of the extent written (finite, not SENTINEL) and the guards intact. */
static void expect_extent(const double *b, size_t len, const char *what)
{
    size_t i, unwritten = 0, touched = 0;
    for (i = 0; i < len; i++) {
        unwritten += b[i] == SENTINEL || !isfinite(b[i]);
    }
    for (i = len; i < len + GUARD; i++) {
        touched += b[i] != SENTINEL;
    }
    check(unwritten == 0 && touched == 0, "%s: all %lu elements written (%lu not), no guard touched (%lu were)", what,
          (unsigned long)len, (unsigned long)unwritten, (unsigned long)touched);
}

static void soft_topk(void)
{
    double x[BATCH * N], selection[BATCH * N], u[BATCH * N], g[BATCH * N], ge[BATCH];
    float xf[BATCH * N], selectionf[BATCH * N];
    int32_t perm[BATCH * N];
    int64_t k;
    size_t i, r;
    for (i = 0; i < BATCH * N; i++) {
        x[i] = value(i);
        xf[i] = (float)x[i];
        u[i] = 1.0;
    }
    expect(rr_soft_topk_forward_f64(BATCH, N, N + 1, 0.5, RR_TOPK_REGULARIZATION_L2, RR_DIRECTION_DESCENDING, x,
                                    NULL, selection, perm),
           RR_ERR_INVALID_ARGUMENT, "soft_topk: k must be in [0, n] = [0, 5], got 6", "soft_topk k = n + 1");
    expect(rr_soft_topk_forward_f32(BATCH, N, -1, 0.5f, RR_TOPK_REGULARIZATION_L2, RR_DIRECTION_DESCENDING, xf, NULL,
                                    selectionf, perm),
           RR_ERR_INVALID_ARGUMENT, "soft_topk: k must be in [0, n] = [0, 5], got -1", "soft_topk f32 k = -1");
    expect(rr_soft_topk_forward_f64(BATCH, N, INT64_MAX, 0.5, RR_TOPK_REGULARIZATION_L2, RR_DIRECTION_DESCENDING, x,
                                    NULL, selection, perm),
           RR_ERR_INVALID_ARGUMENT, "soft_topk: k must be in [0, n] = [0, 5], got 9223372036854775807",
           "soft_topk k = INT64_MAX");
    expect(rr_soft_topk_forward_f64(BATCH, N, 2, 0.5, 2, RR_DIRECTION_DESCENDING, x, NULL, selection, perm),
           RR_ERR_INVALID_ARGUMENT, "soft_topk: regularization must be one of 0 (l2), 1 (p43), got 2",
           "soft_topk regularization code 2");
    expect(rr_soft_topk_forward_f32(BATCH, N, 2, 0.5f, 2, RR_DIRECTION_DESCENDING, xf, NULL, selectionf, perm),
           RR_ERR_INVALID_ARGUMENT, "soft_topk: regularization must be one of 0 (l2), 1 (p43), got 2",
           "soft_topk f32 regularization code 2");
    check(rr_soft_topk_forward_f64(BATCH, N, 2, 0.5, RR_TOPK_REGULARIZATION_P43, RR_DIRECTION_DESCENDING, x,
                                   NULL, selection, perm) == RR_OK,
          "soft_topk p43 forward: %s", rr_last_error());
    expect(rr_soft_topk_backward_f64(BATCH, N, 2, 0.5, 2, RR_DIRECTION_DESCENDING, x, NULL, perm, u, g, ge),
           RR_ERR_INVALID_ARGUMENT, "soft_topk: regularization must be one of 0 (l2), 1 (p43), got 2",
           "soft_topk backward regularization code 2");

    for (k = 0; k <= N; k += N) {
        int ok = rr_soft_topk_forward_f64(BATCH, N, k, 0.5, RR_TOPK_REGULARIZATION_L2, RR_DIRECTION_ASCENDING, x,
                                          NULL, selection, perm) == RR_OK;
        for (r = 0; ok && r < BATCH; r++) {
            double sum = 0.0;
            for (i = 0; i < N; i++) {
                sum += selection[r * N + i];
            }
            ok = fabs(sum - (double)k) <= 1e-12;
        }
        check(ok, "soft_topk k = %d: every row sums to k (%s)", (int)k, rr_last_error());
    }
}

static void soft_quantile(void)
{
    const double q[3] = {0.1, 0.5, 0.9};
    const double bad[2] = {0.5, 1.5};
    const double nan_q[2] = {0.5, NAN};
    const float badf[2] = {0.5f, 1.5f};
    double x[BATCH * N], res[BATCH * 3], ge[BATCH];
    float xf[BATCH * N], resf[BATCH * 3];
    int32_t perm[BATCH * N];
    double *result, *u, *g;
    size_t i;
    for (i = 0; i < BATCH * N; i++) {
        x[i] = value(i);
        xf[i] = (float)x[i];
    }
    expect(rr_soft_quantile_forward_f64(BATCH, N, NULL, 2, 0.5, RR_REGULARIZATION_L2, x, NULL, res, perm),
           RR_ERR_NULL_POINTER, "soft_quantile: quantiles is NULL but has 2 elements", "quantiles NULL, length 2");
    expect(rr_soft_quantile_forward_f32(BATCH, N, NULL, 2, 0.5f, RR_REGULARIZATION_L2, xf, NULL, resf, perm),
           RR_ERR_NULL_POINTER, "soft_quantile: quantiles is NULL but has 2 elements",
           "f32 quantiles NULL, length 2");
    expect(rr_soft_quantile_forward_f64(BATCH, N, q, 0, 0.5, RR_REGULARIZATION_L2, x, NULL, res, perm),
           RR_ERR_INVALID_ARGUMENT, "soft_quantile: quantiles is empty; needs at least one quantile",
           "quantiles of length 0");
    expect(rr_soft_quantile_forward_f64(BATCH, N, NULL, 0, 0.5, RR_REGULARIZATION_L2, x, NULL, res, perm),
           RR_ERR_INVALID_ARGUMENT, "soft_quantile: quantiles is empty; needs at least one quantile",
           "quantiles NULL, length 0");
    expect(rr_soft_quantile_forward_f64(BATCH, N, bad, 2, 0.5, RR_REGULARIZATION_L2, x, NULL, res, perm),
           RR_ERR_INVALID_ARGUMENT, "soft_quantile: quantiles[1] = 1.5 is not in [0, 1]", "a quantile of 1.5");
    expect(rr_soft_quantile_forward_f32(BATCH, N, badf, 2, 0.5f, RR_REGULARIZATION_L2, xf, NULL, resf, perm),
           RR_ERR_INVALID_ARGUMENT, "soft_quantile: quantiles[1] = 1.5 is not in [0, 1]", "f32: a quantile of 1.5");
    expect(rr_soft_quantile_forward_f64(BATCH, N, nan_q, 2, 0.5, RR_REGULARIZATION_L2, x, NULL, res, perm),
           RR_ERR_INVALID_ARGUMENT, "soft_quantile: quantiles[1] is NaN", "a NaN quantile");
    expect(rr_soft_quantile_forward_f64(BATCH, N, q, 3, 0.5, 5, x, NULL, res, perm), RR_ERR_INVALID_ARGUMENT,
           "soft_quantile: regularization must be one of 0 (l2), 1 (kl), got 5", "regularization code 5");

    /* [batch, m] with m = 3 levels of rows of n = 5: the result, its cotangent and the gradient. */
    result = guarded(BATCH * 3);
    u = guarded(BATCH * 3);
    g = guarded(BATCH * N);
    check(rr_soft_quantile_forward_f64(BATCH, N, q, 3, 0.5, RR_REGULARIZATION_L2, x, NULL, result, perm) == RR_OK,
          "soft_quantile forward: %s", rr_last_error());
    expect_extent(result, BATCH * 3, "soft_quantile result [batch, m]");
    for (i = 0; i < BATCH * 3; i++) {
        u[i] = 1.0 - 0.25 * (double)i;
    }
    check(rr_soft_quantile_backward_f64(BATCH, N, q, 3, 0.5, RR_REGULARIZATION_L2, x, NULL, perm, u, g, ge) == RR_OK,
          "soft_quantile backward: %s", rr_last_error());
    expect_extent(g, BATCH * N, "soft_quantile grad_values [batch, n]");
    /* Row 0 increases, so its median (nearly hard at a small ε) is its third value. */
    check(rr_soft_quantile_forward_f64(1, N, q + 1, 1, 1e-6, RR_REGULARIZATION_L2, x, NULL, res, perm) == RR_OK &&
              fabs(res[0] - value(2)) < 1e-9,
          "soft_quantile: the median of row 0 is %.17g (got %.17g)", value(2), res[0]);
    free(result);
    free(u);
    free(g);
}

static void neural_sort(void)
{
    double x[BATCH * N], p[4], y[4], ge[BATCH];
    double *pm = guarded(BATCH * N * N), *u = guarded(BATCH * N * N), *g = guarded(BATCH * N);
    double *payload = guarded(BATCH * N), *out = guarded(BATCH * N), *gp = guarded(BATCH * N);
    size_t i, r, j;
    int stochastic = 1;
    for (i = 0; i < BATCH * N; i++) {
        x[i] = value(i);
        payload[i] = (double)i;
    }
    check(rr_neural_sort_forward_f64(BATCH, N, 0.5, RR_DIRECTION_ASCENDING, x, NULL, pm) == RR_OK,
          "neural_sort forward: %s", rr_last_error());
    expect_extent(pm, BATCH * N * N, "neural_sort permutation_matrix [batch, n, n]");
    for (r = 0; r < BATCH * N; r++) {
        double sum = 0.0;
        for (j = 0; j < N; j++) {
            sum += pm[r * N + j];
        }
        stochastic = stochastic && fabs(sum - 1.0) <= 1e-12;
    }
    check(stochastic, "neural_sort: every row of every matrix sums to 1");
    for (i = 0; i < BATCH * N * N; i++) {
        u[i] = (double)(i % 7) / 7.0;
    }
    check(rr_neural_sort_backward_f64(BATCH, N, 0.5, RR_DIRECTION_ASCENDING, x, NULL, pm, u, g, ge) == RR_OK,
          "neural_sort backward: %s", rr_last_error());
    expect_extent(g, BATCH * N, "neural_sort grad_values");
    check(rr_neural_sort_apply_forward_f64(BATCH, N, 0.5, RR_DIRECTION_ASCENDING, x, payload, NULL, out) == RR_OK,
          "neural_sort_apply forward: %s", rr_last_error());
    expect_extent(out, BATCH * N, "neural_sort_apply output");
    check(rr_neural_sort_apply_backward_f64(BATCH, N, 0.5, RR_DIRECTION_ASCENDING, x, payload, NULL, out, g, gp, ge) ==
              RR_OK,
          "neural_sort_apply backward: %s", rr_last_error());
    expect_extent(gp, BATCH * N, "neural_sort_apply grad_payload");

    /* τ ≤ 0 is refused, naming the param. */
    expect(rr_neural_sort_forward_f64(BATCH, N, 0.0, RR_DIRECTION_ASCENDING, x, NULL, pm), RR_ERR_INVALID_ARGUMENT,
           "neural_sort: regularization_strength must be finite and > 0, got 0", "neural_sort tau = 0");
    /* n × n overflows size_t although batch × n does not: refused before any buffer is read. */
    {
        size_t big = (size_t)1 << (sizeof(size_t) * 4 + 1);
        int32_t status = rr_neural_sort_forward_f64(1, big, 0.5, RR_DIRECTION_ASCENDING, p, NULL, y);
        check(status == RR_ERR_SHAPE_MISMATCH &&
                  strstr(rr_last_error(), "neural_sort: permutation_matrix has") != NULL &&
                  strstr(rr_last_error(), "overflows") != NULL,
              "neural_sort: a [batch, n, n] extent that overflows is refused (got %d: %s)", (int)status,
              rr_last_error());
    }
    free(pm);
    free(u);
    free(g);
    free(payload);
    free(out);
    free(gp);
}

/* soft_sort_topk: [batch, k] outputs sized by k, which is checked before it sizes them. */
static void soft_sort_topk(void)
{
    double x[BATCH * N];
    int32_t perm[BATCH * N], *indices;
    double *top, *u, *g, ge[BATCH];
    int64_t k;
    size_t i, r, j;
    char what[96];
    for (i = 0; i < BATCH * N; i++) {
        x[i] = value(i) + 1e-3 * (double)i;
    }
    /* k out of [0, n]: the core's message, and neither output touched although the buffers hold
     * only [batch, 1] (k never sizes a buffer before it is checked). */
    for (k = -1; k <= N + 1; k += N + 2) {
        int64_t bad[3];
        size_t b;
        bad[0] = k;
        bad[1] = INT64_MAX;
        bad[2] = INT64_MIN;
        for (b = 0; b < 3; b++) {
            int32_t small[BATCH + GUARD];
            char want[128];
            top = guarded(BATCH);
            for (i = 0; i < BATCH + GUARD; i++) {
                small[i] = -7;
            }
            snprintf(want, sizeof want, "soft_sort_topk: k must be in [0, n] = [0, %d], got %lld", N,
                     (long long)bad[b]);
            snprintf(what, sizeof what, "soft_sort_topk: k = %lld", (long long)bad[b]);
            expect(rr_soft_sort_topk_forward_f64(BATCH, N, bad[b], 0.5, RR_REGULARIZATION_L2, RR_DIRECTION_DESCENDING, x,
                                                 NULL, top, small, perm),
                   RR_ERR_INVALID_ARGUMENT, want, what);
            for (i = 0; i < BATCH + GUARD; i++) {
                check(top[i] == SENTINEL && small[i] == -7, "%s: top_values[%lu] and indices[%lu] untouched", what,
                      (unsigned long)i, (unsigned long)i);
            }
            free(top);
        }
    }
    /* k = 0: nothing to write, NULL outputs and cotangent are fine; k = n: the whole sorted row. */
    check(rr_soft_sort_topk_forward_f64(BATCH, N, 0, 0.5, RR_REGULARIZATION_L2, RR_DIRECTION_DESCENDING, x, NULL, NULL,
                                        NULL, perm) == RR_OK,
          "soft_sort_topk: k = 0 with NULL outputs (%s)", rr_last_error());
    for (k = 0; k <= N; k += N) {
        size_t len = BATCH * (size_t)k;
        double sorted[BATCH * N];
        int32_t sperm[BATCH * N];
        top = guarded(len);
        u = guarded(len);
        g = guarded(BATCH * N);
        indices = xcalloc(len + GUARD, sizeof(int32_t));
        for (i = 0; i < len + GUARD; i++) {
            indices[i] = -7;
        }
        for (i = 0; i < len; i++) {
            u[i] = 1.0;
        }
        snprintf(what, sizeof what, "soft_sort_topk: k = %lld", (long long)k);
        check(rr_soft_sort_topk_forward_f64(BATCH, N, k, 0.5, RR_REGULARIZATION_L2, RR_DIRECTION_DESCENDING, x, NULL,
                                            top, indices, perm) == RR_OK &&
                  rr_soft_sort_topk_backward_f64(BATCH, N, k, 0.5, RR_REGULARIZATION_L2, RR_DIRECTION_DESCENDING, x,
                                                 NULL, perm, u, g, ge) == RR_OK,
              "%s: forward and backward run (%s)", what, rr_last_error());
        if (k > 0) {
            expect_extent(top, len, what);
        } else {
            check(top[0] == SENTINEL, "%s: top_values untouched", what);
        }
        expect_extent(g, BATCH * N, what);
        check(indices[len] == -7, "%s: no index past [batch, k] written", what);
        /* k = n is soft_sort, with the hard sort's positions (each row a permutation). */
        if (k == N) {
            int same = rr_soft_sort_forward_f64(BATCH, N, 0.5, RR_REGULARIZATION_L2, RR_DIRECTION_DESCENDING, x, NULL,
                                                sorted, sperm) == RR_OK &&
                       memcmp(sorted, top, sizeof sorted) == 0;
            for (r = 0; r < BATCH; r++) {
                int seen = 0;
                for (j = 0; j < N; j++) {
                    int32_t at = indices[r * N + j];
                    seen |= at >= 0 && at < N ? 1 << at : 1 << N;
                    same = same && (j == 0 || x[r * N + at] <= x[r * N + indices[r * N + j - 1]]);
                }
                same = same && seen == (1 << N) - 1;
            }
            check(same, "soft_sort_topk: k = n is soft_sort's values with a descending permutation of positions");
        }
        free(top);
        free(u);
        free(g);
        free(indices);
    }
}

int main(int argc, char **argv)
{
    harness_verbose = argc > 1 && strcmp(argv[1], "-v") == 0;
    soft_topk();
    soft_sort_topk();
    soft_quantile();
    neural_sort();
    return harness_finish();
}
