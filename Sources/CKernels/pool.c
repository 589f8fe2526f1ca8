/* The engine's worker pool (see include/pool.h). */
#define _GNU_SOURCE
#include "pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define PK_PAUSE() _mm_pause()
#else
#define PK_PAUSE() ((void)0)
#endif

enum { MAX_WORKERS = 63 };

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static atomic_uint generation;       /* one more for every job published */
static atomic_int sleepers;          /* workers waiting on `wake` */
static atomic_int pending;           /* workers that have not yet finished the current job */
static atomic_flag busy = ATOMIC_FLAG_INIT;
/* The current job; written before `generation` is raised, read after a worker sees it raised. */
static pk_pool_fn job_fn;
static void *job_context;
static long job_parts;
static int workers;                  /* started, not counting the caller; changed only while busy */
static unsigned first_seen[MAX_WORKERS + 1];
static long spin_ns = -1;
static _Thread_local int inside;     /* this thread is running a part */

static long now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000L + t.tv_nsec;
}

long pk_pool_spin_us(void) {
    if (spin_ns < 0) {
        const char *s = getenv("PARAMKIT_POOL_SPIN_US");
        long us = s ? strtol(s, NULL, 10) : 200;
        spin_ns = (us < 0 ? 0 : us > 1000000 ? 1000000 : us) * 1000;
    }
    return spin_ns / 1000;
}

static void *worker(void *arg) {
    long id = (long)arg;
    unsigned seen = first_seen[id];
    inside = 1;
    for (;;) {
        unsigned g;
        long deadline = 0;
        for (unsigned n = 1; (g = atomic_load_explicit(&generation, memory_order_acquire)) == seen; n++) {
            PK_PAUSE();
            if (n % 64) continue;
            long t = now_ns();
            if (!deadline) {
                deadline = t + spin_ns;
            } else if (t >= deadline) {
                /* The caller raises `generation` and then reads `sleepers`; this thread raises
                   `sleepers` and then reads `generation` (both sequentially consistent), so one of
                   the two sees the other and no wake-up is lost. */
                pthread_mutex_lock(&lock);
                atomic_fetch_add(&sleepers, 1);
                while (atomic_load(&generation) == seen) pthread_cond_wait(&wake, &lock);
                atomic_fetch_sub(&sleepers, 1);
                pthread_mutex_unlock(&lock);
                deadline = 0;
            }
        }
        seen = g;
        if (id < job_parts) job_fn(job_context, id);
        atomic_fetch_sub_explicit(&pending, 1, memory_order_release);
    }
    return NULL;
}

static void serial(int parts, pk_pool_fn fn, void *context) {
    for (long p = 0; p < parts; p++) fn(context, p);
}

void pk_pool_run(int threads, int parts, pk_pool_fn fn, void *context) {
    if (parts <= 1 || threads <= 1 || inside || atomic_flag_test_and_set(&busy)) {
        serial(parts, fn, context);
        return;
    }
    pk_pool_spin_us();
    int want = threads - 1 < MAX_WORKERS ? threads - 1 : MAX_WORKERS;
    while (workers < want) {
        pthread_t t;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
        first_seen[workers + 1] = atomic_load(&generation);
        int failed = pthread_create(&t, &attr, worker, (void *)(long)(workers + 1));
        pthread_attr_destroy(&attr);
        if (failed) break;  /* the parts it would have run run here */
        workers++;
    }
    job_fn = fn;
    job_context = context;
    job_parts = parts;
    atomic_store(&pending, workers);
    atomic_fetch_add(&generation, 1);
    if (atomic_load(&sleepers) > 0) {
        pthread_mutex_lock(&lock);
        pthread_cond_broadcast(&wake);
        pthread_mutex_unlock(&lock);
    }
    inside = 1;
    fn(context, 0);
    for (long p = workers + 1; p < parts; p++) fn(context, p);
    inside = 0;
    for (unsigned n = 1; atomic_load_explicit(&pending, memory_order_acquire) > 0; n++) {
        PK_PAUSE();
        if (n % 4096 == 0) sched_yield();
    }
    atomic_flag_clear(&busy);
}
