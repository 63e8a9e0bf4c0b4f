/* Plumbing shared by the C test programs (see harness.h). */
#include "harness.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

int harness_verbose;
static unsigned long passed_count, failed_count;

void check(int ok, const char *fmt, ...)
{
    va_list args;
    if (ok) {
        passed_count++;
        if (!harness_verbose) {
            return;
        }
        printf("ok    ");
    } else {
        failed_count++;
        printf("FAIL  ");
    }
    va_start(args, fmt);
    vprintf(fmt, args);
    va_end(args);
    printf("\n");
}

void *xcalloc(size_t count, size_t size)
{
    void *p = calloc(count == 0 ? 1 : count, size);
    if (p == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return p;
}

int32_t harness_group_id(size_t i, unsigned seed)
{
    static const int32_t ids[4] = {-3, INT32_MAX, 0, INT32_MIN};
    /* i * 3 runs through every residue in 4 consecutive items; i / 4 shifts the cycle so that a
     * group is not one stride. */
    return ids[(i * 3u + i / 4u + seed) % 4u];
}

void harness_count(unsigned long passed, unsigned long failed)
{
    passed_count += passed;
    failed_count += failed;
}

int harness_finish(void)
{
    printf("%lu passed, %lu failed\n", passed_count, failed_count);
    return failed_count == 0 ? 0 : 1;
}
