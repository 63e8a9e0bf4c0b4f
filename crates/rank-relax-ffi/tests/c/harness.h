/* Plumbing shared by the C test programs: pass/fail counting, allocation that never returns NULL,
 * the group ids of an int32 input, and the closing `N passed, N failed` line. */
#ifndef RR_TEST_HARNESS_H
#define RR_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>

/* Print each passing check too (set from `-v`). */
extern int harness_verbose;

/* Count a check; print it when it fails (or always, when verbose). printf-style message. */
void check(int ok, const char *fmt, ...);

/* calloc that exits with status 2 when out of memory; never returns NULL, even for 0 items. */
void *xcalloc(size_t count, size_t size);

/* Element `i` of a generated int32 input (an is_int32 input of the op table: group ids, which
 * every int32 is): a few ids cycling along a row, so a row of 4 or more items has 4 groups, among
 * them a negative id and INT32_MIN and INT32_MAX. Integers, never a real rounded: the f32 and the
 * f64 call of a test take the same buffer. `seed` varies the pattern. */
int32_t harness_group_id(size_t i, unsigned seed);

/* Record a check counted elsewhere (e.g. by worker threads). */
void harness_count(unsigned long passed, unsigned long failed);

/* Print `N passed, N failed` and return the process exit status (0 when nothing failed). */
int harness_finish(void);

#endif
