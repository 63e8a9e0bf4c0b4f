/* Plumbing shared by the C test programs: pass/fail counting, allocation that never returns NULL,
 * and the closing `N passed, N failed` line. */
#ifndef RR_TEST_HARNESS_H
#define RR_TEST_HARNESS_H

#include <stddef.h>

/* Print each passing check too (set from `-v`). */
extern int harness_verbose;

/* Count a check; print it when it fails (or always, when verbose). printf-style message. */
void check(int ok, const char *fmt, ...);

/* calloc that exits with status 2 when out of memory; never returns NULL, even for 0 items. */
void *xcalloc(size_t count, size_t size);

/* Record a check counted elsewhere (e.g. by worker threads). */
void harness_count(unsigned long passed, unsigned long failed);

/* Print `N passed, N failed` and return the process exit status (0 when nothing failed). */
int harness_finish(void);

#endif
