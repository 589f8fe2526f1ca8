/* The engine's worker threads: a fixed pool that runs one job of a few parts at a time.

   A training step calls a parallel loop a few hundred times, each for tens to hundreds of
   microseconds of work. Waking a sleeping thread for each (a semaphore post, and in a virtual
   machine an inter-processor interrupt through the hypervisor) costs about as much as the work.
   So a worker that has finished a part keeps polling for the next job for a short while (about
   200 µs, `pk_pool_spin_us`) before it sleeps on a condition variable; the caller runs part 0
   itself and polls until every other part is done.

   Part p of a job always runs on worker p (the caller is worker 0), and a job that cannot use the
   pool — one part, a call from inside a part, or a call while another thread's job runs — runs
   its parts in order on the calling thread: the same parts either way, so results never depend on
   scheduling. */
#ifndef PARAMKIT_POOL_H
#define PARAMKIT_POOL_H

typedef void (*pk_pool_fn)(void *context, long part);

/* Runs fn(context, p) for p in 0 ..< parts, part 0 on the calling thread, the others on the pool's
   workers (started on first use; `threads` - 1 of them). Returns when every part has returned.
   parts must be ≤ threads. */
void pk_pool_run(int threads, int parts, pk_pool_fn fn, void *context);

/* How long a worker polls for the next job before it sleeps, in microseconds (default 200;
   PARAMKIT_POOL_SPIN_US overrides it, 0 sleeps at once). */
long pk_pool_spin_us(void);

#endif
