/* rank-relax from C: soft ranks of a small example, how ε moves them towards the hard ranks,
 * their gradient, a row with an absent item (a mask), and what an error looks like. Build and
 * run: bash scripts/demo-c.sh */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>

#include "rank_relax.h"

static void print_row(const char *label, const double *x, size_t n)
{
    size_t i;
    printf("%-28s", label);
    for (i = 0; i < n; i++) {
        printf(" %8.4f", x[i]);
    }
    printf("\n");
}

int main(void)
{
    const double values[5] = {0.8, -1.2, 2.5, 0.75, 0.0};
    const double strengths[3] = {1.0, 0.1, 0.001};
    double ranks[5], grad[5], grad_eps[1];
    int32_t permutation[5];
    const double cotangent[5] = {1.0, 0.0, 0.0, 0.0, 0.0}; /* d ranks[0] / d values */
    char label[64];
    size_t k;
    int32_t status;

    printf("rank-relax %s (ABI %u, hash %016llx)\n\n", rr_version(), rr_abi_version(),
           (unsigned long long)rr_abi_hash());
    if (rr_abi_hash() != RR_ABI_HASH) {
        fprintf(stderr, "this header does not match the library\n");
        return 1;
    }
    print_row("values", values, 5);
    for (k = 0; k < 3; k++) {
        status = rr_soft_rank_forward_f64(1, 5, strengths[k], RR_REGULARIZATION_L2, RR_DIRECTION_ASCENDING,
                                          values, NULL, ranks, permutation);
        if (status != RR_OK) {
            fprintf(stderr, "error %d: %s\n", (int)status, rr_last_error());
            return 1;
        }
        snprintf(label, sizeof label, "soft ranks, eps = %g", strengths[k]);
        print_row(label, ranks, 5);
    }

    status = rr_soft_rank_forward_f64(1, 5, 1.0, RR_REGULARIZATION_KL, RR_DIRECTION_DESCENDING, values, NULL,
                                      ranks, permutation);
    if (status != RR_OK) {
        fprintf(stderr, "error %d: %s\n", (int)status, rr_last_error());
        return 1;
    }
    print_row("kl, descending, eps = 1", ranks, 5);

    status = rr_soft_rank_forward_f64(1, 5, 1.0, RR_REGULARIZATION_L2, RR_DIRECTION_ASCENDING, values, NULL,
                                      ranks, permutation);
    if (status == RR_OK) {
        status = rr_soft_rank_backward_f64(1, 5, 1.0, RR_REGULARIZATION_L2, RR_DIRECTION_ASCENDING, values, NULL,
                                           ranks, permutation, cotangent, grad, grad_eps);
    }
    if (status != RR_OK) {
        fprintf(stderr, "error %d: %s\n", (int)status, rr_last_error());
        return 1;
    }
    print_row("d ranks[0] / d values", grad, 5);
    printf("%-28s %8.4f\n\n", "d ranks[0] / d eps", grad_eps[0]);

    {
        /* A mask: item 2 is absent (padding, never read, so NaN is fine); the others are ranked
         * among themselves and item 2 gets rank 0. NULL instead of a mask means every item. */
        const double padded[5] = {0.8, -1.2, NAN, 0.75, 0.0};
        const bool present[5] = {true, true, false, true, true};
        status = rr_soft_rank_forward_f64(1, 5, 0.001, RR_REGULARIZATION_L2, RR_DIRECTION_ASCENDING, padded,
                                          present, ranks, permutation);
        if (status != RR_OK) {
            fprintf(stderr, "error %d: %s\n", (int)status, rr_last_error());
            return 1;
        }
        print_row("masked, item 2 absent", ranks, 5);
        printf("\n");
    }

    status = rr_soft_rank_forward_f64(1, 5, 0.0, RR_REGULARIZATION_L2, RR_DIRECTION_ASCENDING, values, NULL,
                                      ranks, permutation);
    printf("with eps = 0: status %d, rr_last_error() = \"%s\"\n", (int)status, rr_last_error());
    return status == RR_ERR_INVALID_ARGUMENT ? 0 : 1;
}
