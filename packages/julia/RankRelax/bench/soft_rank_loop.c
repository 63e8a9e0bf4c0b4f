/* The baseline of bench/soft_rank.jl: rr_soft_rank_forward_f64 + rr_soft_rank_backward_f64 called
 * directly from C in a loop at the same shape (batch 128 × n 1000 unless given), with the output,
 * residual and gradient buffers allocated once ("prealloc", the default) or malloc'ed and freed on
 * every call ("alloc", as an allocating API does). Prints one line:
 * `c <mode> <batch> <n> <reps> <median_us> <min_us>`.
 *
 *   cc -O2 -I crates/rank-relax-ffi/include soft_rank_loop.c -L target/release -lrank_relax_c
 *   ./a.out [batch] [n] [reps] [prealloc|alloc] [data.bin]
 *
 * data.bin, if given, holds the values then the cotangent (batch × n doubles each, row-major, native
 * byte order), so the program times the very inputs bench/soft_rank.jl does.
 */
#define _POSIX_C_SOURCE 199309L /* clock_gettime */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rank_relax.h"

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e6 + (double)t.tv_nsec / 1e3;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    size_t batch = argc > 1 ? (size_t)atol(argv[1]) : 128;
    size_t n = argc > 2 ? (size_t)atol(argv[2]) : 1000;
    int reps = argc > 3 ? atoi(argv[3]) : 200;
    int fresh = argc > 4 && strcmp(argv[4], "alloc") == 0;
    size_t len = batch * n;
    double *x = malloc(len * sizeof *x), *ranks = malloc(len * sizeof *ranks);
    double *cot = malloc(len * sizeof *cot), *grad = malloc(len * sizeof *grad);
    double *grad_eps = malloc(batch * sizeof *grad_eps);
    int32_t *perm = malloc(len * sizeof *perm);
    double *times = malloc((size_t)reps * sizeof *times);
    uint64_t state = 12345;
    if (argc > 5) {
        FILE *f = fopen(argv[5], "rb");
        if (f == NULL || fread(x, sizeof *x, len, f) != len || fread(cot, sizeof *cot, len, f) != len) {
            fprintf(stderr, "soft_rank_loop: cannot read %zu + %zu doubles from %s\n", len, len, argv[5]);
            return 1;
        }
        fclose(f);
    } else {
        for (size_t i = 0; i < len; i++) { /* deterministic values in [-1, 1) */
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            x[i] = (double)(state >> 11) / 9007199254740992.0 * 2.0 - 1.0;
            cot[i] = x[(i * 7919) % (i + 1)];
        }
    }
    for (int r = -5; r < reps; r++) { /* 5 warm-up rounds */
        double t0 = now_us();
        if (fresh) {
            ranks = malloc(len * sizeof *ranks);
            perm = malloc(len * sizeof *perm);
            grad = malloc(len * sizeof *grad);
            grad_eps = malloc(batch * sizeof *grad_eps);
        }
        if (rr_soft_rank_forward_f64(batch, n, 1.0, RR_REGULARIZATION_L2, RR_DIRECTION_ASCENDING, x, NULL, ranks, perm) != RR_OK ||
            rr_soft_rank_backward_f64(batch, n, 1.0, RR_REGULARIZATION_L2, RR_DIRECTION_ASCENDING, x, NULL, ranks, perm, cot,
                                      grad, grad_eps) != RR_OK) {
            fprintf(stderr, "soft_rank_loop: %s\n", rr_last_error());
            return 1;
        }
        if (fresh) {
            free(ranks);
            free(perm);
            free(grad);
            free(grad_eps);
        }
        if (r >= 0) times[r] = now_us() - t0;
    }
    qsort(times, (size_t)reps, sizeof *times, cmp);
    printf("c %s %zu %zu %d %.1f %.1f\n", fresh ? "alloc" : "prealloc", batch, n, reps, times[reps / 2], times[0]);
    return 0;
}
