/* The in-place backward of soft_rank, soft_sort and soft_topk through the C API: grad_values may
 * be the cotangent buffer itself, and the gradient written over it is bit for bit the one written to a
 * separate buffer; a gradient that overlaps the cotangent only in part is refused, and so is one
 * that is another read buffer; the same with a mask, whose memory a gradient must not share (a
 * read buffer may).
 * Prints `N passed, N failed`. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "rank_relax.h"

#define BATCH 7
#define N 33
#define LEN (BATCH * N)

/* Values with ties (a coarse grid), so PAV blocks of several sizes appear. */
static double value(size_t i, unsigned seed)
{
    return (double)(((i + seed) * 7919u) % 17u) / 4.0 - 2.0;
}

static double cotangent(size_t i)
{
    return (double)((i * 104729u) % 23u) / 11.0 - 1.0;
}

static void soft_rank_f64(int32_t reg, int32_t dir, unsigned seed)
{
    double x[LEN], ranks[LEN], u[LEN], g[LEN], ge[BATCH], ug[LEN + 1], ge2[BATCH];
    bool mask[LEN];
    int32_t perm[LEN];
    size_t i;
    for (i = 0; i < LEN; i++) {
        x[i] = value(i, seed);
        u[i] = cotangent(i);
    }
    check(rr_soft_rank_forward_f64(BATCH, N, 0.3, reg, dir, x, NULL, ranks, perm) == RR_OK,
          "soft_rank forward: %s", rr_last_error());
    check(rr_soft_rank_backward_f64(BATCH, N, 0.3, reg, dir, x, NULL, ranks, perm, u, g, ge) == RR_OK,
          "soft_rank backward: %s", rr_last_error());
    memcpy(ug, u, sizeof u);
    check(rr_soft_rank_backward_f64(BATCH, N, 0.3, reg, dir, x, NULL, ranks, perm, ug, ug, ge2) == RR_OK,
          "soft_rank backward in place: %s", rr_last_error());
    check(memcmp(ug, g, sizeof g) == 0, "soft_rank f64 (reg %d, dir %d): in place != separate",
          reg, dir);
    check(memcmp(ge2, ge, sizeof ge) == 0, "soft_rank f64: the eps-gradient differs in place");

    /* Overlapping by one element is not the same buffer: refused, and nothing is written. */
    memcpy(ug, u, sizeof u);
    ug[LEN] = 0.0;
    check(rr_soft_rank_backward_f64(BATCH, N, 0.3, reg, dir, x, NULL, ranks, perm, ug, ug + 1, ge2)
              == RR_ERR_INVALID_ARGUMENT &&
              strstr(rr_last_error(), "overlap") != NULL,
          "soft_rank: a partly overlapping gradient is refused (%s)", rr_last_error());
    check(memcmp(ug, u, sizeof u) == 0, "soft_rank: the refused call wrote nothing");
    /* The gradient over another read buffer (values) is still an overlap. */
    check(rr_soft_rank_backward_f64(BATCH, N, 0.3, reg, dir, x, NULL, ranks, perm, u, x, ge2)
              == RR_ERR_INVALID_ARGUMENT,
          "soft_rank: a gradient over values is refused (%s)", rr_last_error());

    /* With a mask: in place is bit for bit the separate gradient, and a gradient over the mask's
     * memory is an overlap (the mask is read). */
    for (i = 0; i < LEN; i++) {
        mask[i] = i % 4 != 1;
    }
    check(rr_soft_rank_forward_f64(BATCH, N, 0.3, reg, dir, x, mask, ranks, perm) == RR_OK,
          "soft_rank masked forward: %s", rr_last_error());
    check(rr_soft_rank_backward_f64(BATCH, N, 0.3, reg, dir, x, mask, ranks, perm, u, g, ge) == RR_OK,
          "soft_rank masked backward: %s", rr_last_error());
    memcpy(ug, u, sizeof u);
    check(rr_soft_rank_backward_f64(BATCH, N, 0.3, reg, dir, x, mask, ranks, perm, ug, ug, ge2) == RR_OK,
          "soft_rank masked backward in place: %s", rr_last_error());
    check(memcmp(ug, g, sizeof g) == 0 && memcmp(ge2, ge, sizeof ge) == 0,
          "soft_rank f64 masked (reg %d, dir %d): in place == separate", reg, dir);
    check(g[1] == 0.0 && ug[1] == 0.0, "soft_rank f64 masked: an absent item's gradient is 0");
    check(rr_soft_rank_backward_f64(BATCH, N, 0.3, reg, dir, x, (const bool *)ug, ranks, perm, u, ug, ge2)
              == RR_ERR_INVALID_ARGUMENT &&
              strstr(rr_last_error(), "soft_rank: grad_values overlaps mask") != NULL,
          "soft_rank: a gradient over the mask is refused (%s)", rr_last_error());
    /* Read buffers may share memory: a mask inside the values, whose bytes are all 1 (true). */
    memset(x, 1, sizeof x);
    check(rr_soft_rank_forward_f64(BATCH, N, 0.3, reg, dir, x, NULL, g, perm) == RR_OK &&
              rr_soft_rank_forward_f64(BATCH, N, 0.3, reg, dir, x, (const bool *)x, ranks, perm) == RR_OK &&
              memcmp(ranks, g, sizeof g) == 0,
          "soft_rank: a mask sharing the values' memory is read, the same as no mask (%s)", rr_last_error());
}

static void soft_sort_f32(int32_t reg, int32_t dir, unsigned seed)
{
    float x[LEN], sorted[LEN], u[LEN], g[LEN], ge[BATCH], ug[LEN], ge2[BATCH];
    int32_t perm[LEN];
    size_t i;
    for (i = 0; i < LEN; i++) {
        x[i] = (float)value(i, seed);
        u[i] = (float)cotangent(i);
    }
    check(rr_soft_sort_forward_f32(BATCH, N, 0.3f, reg, dir, x, NULL, sorted, perm) == RR_OK,
          "soft_sort forward: %s", rr_last_error());
    check(rr_soft_sort_backward_f32(BATCH, N, 0.3f, reg, dir, x, NULL, perm, u, g, ge) == RR_OK,
          "soft_sort backward: %s", rr_last_error());
    memcpy(ug, u, sizeof u);
    check(rr_soft_sort_backward_f32(BATCH, N, 0.3f, reg, dir, x, NULL, perm, ug, ug, ge2) == RR_OK,
          "soft_sort backward in place: %s", rr_last_error());
    check(memcmp(ug, g, sizeof g) == 0, "soft_sort f32 (reg %d, dir %d): in place != separate",
          reg, dir);
    check(memcmp(ge2, ge, sizeof ge) == 0, "soft_sort f32: the eps-gradient differs in place");

    /* A NaN cotangent is refused in place as it is otherwise, naming the cotangent. */
    memcpy(ug, u, sizeof u);
    ug[N + 3] = NAN;
    check(rr_soft_sort_backward_f32(BATCH, N, 0.3f, reg, dir, x, NULL, perm, ug, ug, ge2)
              == RR_ERR_INVALID_VALUE &&
              strstr(rr_last_error(), "cotangent_sorted[1, 3]") != NULL,
          "soft_sort: a NaN cotangent in place is refused (%s)", rr_last_error());
}

static void soft_topk_f64(int64_t k, int32_t reg, int32_t dir, unsigned seed)
{
    double x[LEN], selection[LEN], u[LEN], g[LEN], ge[BATCH], ug[LEN + 1], ge2[BATCH];
    int32_t perm[LEN];
    size_t i;
    int nonzero = 0;
    for (i = 0; i < LEN; i++) {
        x[i] = value(i, seed);
        u[i] = cotangent(i);
    }
    check(rr_soft_topk_forward_f64(BATCH, N, k, 0.3, reg, dir, x, NULL, selection, perm) == RR_OK,
          "soft_topk forward: %s", rr_last_error());
    check(rr_soft_topk_backward_f64(BATCH, N, k, 0.3, reg, dir, x, NULL, perm, u, g, ge) == RR_OK,
          "soft_topk backward: %s", rr_last_error());
    for (i = 0; i < LEN; i++) {
        nonzero = nonzero || g[i] != 0.0;
    }
    check(nonzero, "soft_topk f64 (k %d, reg %d, dir %d): some gradient is non-zero", (int)k, reg, dir);
    memcpy(ug, u, sizeof u);
    check(rr_soft_topk_backward_f64(BATCH, N, k, 0.3, reg, dir, x, NULL, perm, ug, ug, ge2) == RR_OK,
          "soft_topk backward in place: %s", rr_last_error());
    check(memcmp(ug, g, sizeof g) == 0, "soft_topk f64 (k %d, reg %d, dir %d): in place != separate", (int)k, reg,
          dir);
    check(memcmp(ge2, ge, sizeof ge) == 0, "soft_topk f64: the eps-gradient differs in place");

    memcpy(ug, u, sizeof u);
    ug[LEN] = 0.0;
    check(rr_soft_topk_backward_f64(BATCH, N, k, 0.3, reg, dir, x, NULL, perm, ug, ug + 1, ge2)
              == RR_ERR_INVALID_ARGUMENT &&
              strstr(rr_last_error(), "overlap") != NULL,
          "soft_topk: a partly overlapping gradient is refused (%s)", rr_last_error());
    check(memcmp(ug, u, sizeof u) == 0, "soft_topk: the refused call wrote nothing");
    /* k is checked in place as it is otherwise, and nothing is written. */
    memcpy(ug, u, sizeof u);
    check(rr_soft_topk_backward_f64(BATCH, N, N + 1, 0.3, reg, dir, x, NULL, perm, ug, ug, ge2)
              == RR_ERR_INVALID_ARGUMENT &&
              strstr(rr_last_error(), "soft_topk: k must be in [0, n]") != NULL,
          "soft_topk: k > n in place is refused (%s)", rr_last_error());
    check(memcmp(ug, u, sizeof u) == 0, "soft_topk: the refused in-place call wrote nothing");
}

int main(void)
{
    int32_t reg, dir;
    unsigned seed = 1;
    for (reg = RR_REGULARIZATION_L2; reg <= RR_REGULARIZATION_KL; reg++) {
        for (dir = RR_DIRECTION_ASCENDING; dir <= RR_DIRECTION_DESCENDING; dir++) {
            soft_rank_f64(reg, dir, seed);
            soft_sort_f32(reg, dir, seed);
            seed++;
        }
    }
    for (reg = RR_TOPK_REGULARIZATION_L2; reg <= RR_TOPK_REGULARIZATION_P43; reg++) {
        for (dir = RR_DIRECTION_ASCENDING; dir <= RR_DIRECTION_DESCENDING; dir++) {
            soft_topk_f64(1, reg, dir, seed);
            soft_topk_f64(N / 2, reg, dir, seed);
            seed++;
        }
    }
    return harness_finish();
}
