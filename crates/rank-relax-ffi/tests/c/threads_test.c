/* The C API from many threads at once.
 *
 * Every op (forward and backward, f64 and f32) is first computed sequentially on a few inputs
 * (the first without a mask, the others with one; an int32 input holds group ids);
 * then THREADS threads call all of them concurrently, each in its own order, and compare every
 * output and gradient bit for bit with the sequential result, while one more thread keeps
 * changing rr_set_num_threads (which rebuilds the core's pool under the running calls). Each
 * worker also makes a failing call of its own before every round and checks afterwards that
 * rr_last_error() still holds its own message: the message is thread-local, and other threads'
 * failures never overwrite it. Prints `N passed, N failed`. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generated/rr_ops_table.h"
#include "harness.h"
#include "rank_relax.h"
#include "shapes.h"

#define MAX_ARGS 8
#define THREADS 8
#define ROUNDS 6
#define INPUTS 3
#define BATCH 96
#define N 48

/* One forward + backward of one op in one dtype on one input: every buffer. */
typedef struct {
    const rrt_op *op;
    int f32;
    rrt_param_value params[MAX_ARGS];
    void *inputs[MAX_ARGS], *outputs[MAX_ARGS], *residuals[MAX_ARGS];
    void *cotangents[MAX_ARGS], *grads[MAX_ARGS], *param_grads[MAX_ARGS];
} run;

static size_t tensor_len(const run *r, const rrt_tensor *t)
{
    return shape_len(t, BATCH, N, r->params);
}

static size_t elem(const run *r, const rrt_tensor *t)
{
    return t->is_bool ? sizeof(bool) : t->is_int32 ? sizeof(int32_t) : r->f32 ? sizeof(float) : sizeof(double);
}

static void run_alloc(run *r, const rrt_op *op, int f32, unsigned seed)
{
    size_t i, j;
    memset(r, 0, sizeof *r);
    r->op = op;
    r->f32 = f32;
    for (i = 0; i < op->num_params; i++) {
        r->params[i] = op->params[i].default_value;
        if (op->params[i].type == RRT_REAL) {
            r->params[i].real = 0.25;
        }
    }
    for (i = 0; i < op->num_inputs; i++) {
        /* The first input has no mask (NULL), the others one. */
        if (op->inputs[i].optional && seed == 0) {
            continue;
        }
        r->inputs[i] = xcalloc(tensor_len(r, &op->inputs[i]), elem(r, &op->inputs[i]));
        for (j = 0; j < tensor_len(r, &op->inputs[i]); j++) {
            /* Deterministic values with ties: a small LCG, quantised to 1/16. */
            unsigned v = (unsigned)(j * 2654435761u + seed * 40503u + i * 977u) >> 7;
            double x = (double)(v % 64) / 16.0 - 2.0;
            if (op->inputs[i].constraint != NULL && strcmp(op->inputs[i].constraint, "nonnegative") == 0) {
                x = (double)(v % 4);
            }
            if (op->inputs[i].is_bool) {
                /* A mask with about one item in five absent. */
                ((bool *)r->inputs[i])[j] = v % 5 != 0;
            } else if (op->inputs[i].is_int32) {
                /* Group ids, the same in both precisions. */
                ((int32_t *)r->inputs[i])[j] = harness_group_id(j, seed + (unsigned)i);
            } else if (f32) {
                ((float *)r->inputs[i])[j] = (float)x;
            } else {
                ((double *)r->inputs[i])[j] = x;
            }
        }
    }
    for (i = 0; i < op->num_outputs; i++) {
        r->outputs[i] = xcalloc(tensor_len(r, &op->outputs[i]), elem(r, &op->outputs[i]));
        if (!op->outputs[i].differentiable) {
            continue;
        }
        r->cotangents[i] = xcalloc(tensor_len(r, &op->outputs[i]), elem(r, &op->outputs[i]));
        for (j = 0; j < tensor_len(r, &op->outputs[i]); j++) {
            double u = (double)((j * 7 + seed) % 13) / 8.0 - 0.75;
            if (f32) {
                ((float *)r->cotangents[i])[j] = (float)u;
            } else {
                ((double *)r->cotangents[i])[j] = u;
            }
        }
    }
    for (i = 0; i < op->num_residuals; i++) {
        r->residuals[i] = xcalloc(tensor_len(r, &op->residuals[i]), elem(r, &op->residuals[i]));
    }
    for (i = 0; i < op->num_grads; i++) {
        r->grads[i] = xcalloc(tensor_len(r, &op->inputs[op->grads[i]]), elem(r, &op->inputs[op->grads[i]]));
    }
    for (i = 0; i < op->num_param_grads; i++) {
        r->param_grads[i] = xcalloc(BATCH, f32 ? sizeof(float) : sizeof(double));
    }
}

static void run_free(run *r)
{
    size_t i;
    for (i = 0; i < MAX_ARGS; i++) {
        free(r->inputs[i]);
        free(r->outputs[i]);
        free(r->residuals[i]);
        free(r->cotangents[i]);
        free(r->grads[i]);
        free(r->param_grads[i]);
    }
}

/* Forward then backward; the status of the first that fails. */
static int32_t run_call(run *r)
{
    const rrt_op *op = r->op;
    const void *saves[MAX_ARGS];
    int32_t status;
    size_t i;
    status = r->f32 ? op->forward_f32(BATCH, N, r->params, (const void *const *)r->inputs, r->outputs, r->residuals)
                    : op->forward_f64(BATCH, N, r->params, (const void *const *)r->inputs, r->outputs, r->residuals);
    if (status != RR_OK) {
        return status;
    }
    for (i = 0; i < op->num_saves; i++) {
        const rrt_save *s = &op->saves[i];
        saves[i] = s->from_output ? r->outputs[s->index] : r->inputs[s->index];
    }
    return r->f32 ? op->backward_f32(BATCH, N, r->params, saves,
                                     (const void *const *)r->residuals, (const float *const *)r->cotangents,
                                     (float *const *)r->grads, (float *const *)r->param_grads)
                  : op->backward_f64(BATCH, N, r->params, saves,
                                     (const void *const *)r->residuals, (const double *const *)r->cotangents,
                                     (double *const *)r->grads, (double *const *)r->param_grads);
}

/* Bitwise equality of every output, residual and gradient. */
static int same_bits(const run *a, const run *b)
{
    const rrt_op *op = a->op;
    size_t i;
    for (i = 0; i < op->num_outputs; i++) {
        if (memcmp(a->outputs[i], b->outputs[i], tensor_len(a, &op->outputs[i]) * elem(a, &op->outputs[i])) != 0) {
            return 0;
        }
    }
    for (i = 0; i < op->num_residuals; i++) {
        if (memcmp(a->residuals[i], b->residuals[i], tensor_len(a, &op->residuals[i]) * elem(a, &op->residuals[i])) !=
            0) {
            return 0;
        }
    }
    for (i = 0; i < op->num_grads; i++) {
        const rrt_tensor *t = &op->inputs[op->grads[i]];
        if (memcmp(a->grads[i], b->grads[i], tensor_len(a, t) * elem(a, t)) != 0) {
            return 0;
        }
    }
    for (i = 0; i < op->num_param_grads; i++) {
        if (memcmp(a->param_grads[i], b->param_grads[i], BATCH * (a->f32 ? sizeof(float) : sizeof(double))) != 0) {
            return 0;
        }
    }
    return 1;
}

#define JOBS (RRT_NUM_OPS * 2 * INPUTS)

static run expected[JOBS];
static volatile int stop_toggling;

typedef struct {
    int id;
    unsigned long calls, mismatches, failures, lost_messages;
    char first_problem[512];
} worker;

static void note(worker *w, const char *what, const run *r, const char *detail)
{
    if (w->first_problem[0] == '\0') {
        snprintf(w->first_problem, sizeof w->first_problem, "thread %d: %s %s %s: %s", w->id, what, r->op->name,
                 r->f32 ? "f32" : "f64", detail);
    }
}

static void *work(void *arg)
{
    worker *w = arg;
    char mine[128];
    int round;
    size_t k;
    /* This thread's own failure: a negative ε naming the thread. */
    double bad_eps = -(double)(w->id + 1);
    double x[2] = {1.0, 2.0}, out[2];
    int32_t perm[2];
    snprintf(mine, sizeof mine, "soft_rank: regularization_strength must be finite and > 0, got -%d", w->id + 1);
    for (round = 0; round < ROUNDS; round++) {
        if (rr_soft_rank_forward_f64(1, 2, bad_eps, RR_REGULARIZATION_L2, RR_DIRECTION_ASCENDING, x, NULL, out,
                                     perm) != RR_ERR_INVALID_ARGUMENT) {
            w->failures++;
        }
        for (k = 0; k < JOBS; k++) {
            /* Each thread walks the jobs in its own order. */
            size_t j = (k * 7 + (size_t)w->id * 5 + (size_t)round * 3) % JOBS;
            run r;
            int32_t status;
            run_alloc(&r, expected[j].op, expected[j].f32, (unsigned)(j % INPUTS));
            status = run_call(&r);
            w->calls++;
            if (status != RR_OK) {
                w->failures++;
                note(w, "call failed:", &r, rr_last_error());
            } else if (!same_bits(&r, &expected[j])) {
                w->mismatches++;
                note(w, "bits differ from the sequential result:", &r, "");
            }
            run_free(&r);
        }
        if (strcmp(rr_last_error(), mine) != 0) {
            w->lost_messages++;
            if (w->first_problem[0] == '\0') {
                snprintf(w->first_problem, sizeof w->first_problem, "thread %d: rr_last_error() is \"%s\", want \"%s\"",
                         w->id, rr_last_error(), mine);
            }
        }
    }
    return NULL;
}

static void *toggle(void *arg)
{
    size_t k = 0;
    static const size_t counts[] = {1, 2, 0, 3};
    (void)arg;
    while (!stop_toggling) {
        rr_set_num_threads(counts[k++ % 4]);
    }
    rr_set_num_threads(0);
    return NULL;
}

int main(void)
{
    pthread_t threads[THREADS], toggler;
    worker workers[THREADS];
    unsigned long passed = 0, failed = 0;
    size_t op, j = 0;
    int f32, s, t;

    for (op = 0; op < RRT_NUM_OPS; op++) {
        for (f32 = 0; f32 <= 1; f32++) {
            for (s = 0; s < INPUTS; s++) {
                run_alloc(&expected[j], &rrt_ops[op], f32, (unsigned)s);
                if (run_call(&expected[j]) != RR_OK) {
                    printf("FAIL  sequential %s %s: %s\n", rrt_ops[op].name, f32 ? "f32" : "f64", rr_last_error());
                    failed++;
                } else {
                    passed++;
                }
                j++;
            }
        }
    }

    memset(workers, 0, sizeof workers);
    pthread_create(&toggler, NULL, toggle, NULL);
    for (t = 0; t < THREADS; t++) {
        workers[t].id = t;
        pthread_create(&threads[t], NULL, work, &workers[t]);
    }
    for (t = 0; t < THREADS; t++) {
        pthread_join(threads[t], NULL);
    }
    stop_toggling = 1;
    pthread_join(toggler, NULL);

    for (t = 0; t < THREADS; t++) {
        worker *w = &workers[t];
        int ok = w->calls == (unsigned long)ROUNDS * JOBS && w->mismatches == 0 && w->failures == 0 &&
                 w->lost_messages == 0;
        if (ok) {
            passed++;
        } else {
            failed++;
            printf("FAIL  thread %d: %lu calls, %lu mismatches, %lu failures, %lu lost messages; %s\n", t, w->calls,
                   w->mismatches, w->failures, w->lost_messages, w->first_problem);
        }
    }
    printf("threads: %d threads x %d rounds x %d jobs (every op, forward + backward, f64 and f32), "
           "bit-identical to sequential; rr_last_error() thread-local\n",
           THREADS, ROUNDS, JOBS);
    for (j = 0; j < JOBS; j++) {
        run_free(&expected[j]);
    }
    harness_count(passed, failed);
    return harness_finish();
}
