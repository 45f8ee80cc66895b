/*
 * worker: a thread with its own connection to the store, for everything
 * that is not ingest: taking due jobs, recording attempts, the operator's
 * queries and actions.  The event loop never touches the store; it hands
 * an operation over and gets its callback back on the loop, as the commit
 * thread does for events.
 */
#ifndef PSABRIDGE_WORKER_H
#define PSABRIDGE_WORKER_H

#include <stddef.h>

struct event_base;
struct store;
struct worker;

/* Runs on the worker thread; may call store_*() on st. */
typedef void (*worker_run_fn)(struct store *st, void *arg);
/* Runs on the loop thread once run has returned. */
typedef void (*worker_done_fn)(void *arg);

/*
 * Opens a secondary connection to the store in state_dir (which the
 * daemon has opened already) and starts the thread.  NULL with a message
 * in err on failure.
 */
struct worker *worker_new(struct event_base *base, const char *state_dir,
			  char *err, size_t errlen);

/*
 * Queues an operation: run(st, arg) on the thread, then done(arg) on the
 * loop.  Operations run one at a time, in order.  0, or -1 when out of
 * memory (nothing is called then).
 */
int worker_submit(struct worker *w, worker_run_fn run, worker_done_fn done,
		  void *arg);

/* Operations queued or running. */
size_t worker_pending(const struct worker *w);

/* Calls cb(arg) on the loop once nothing is queued or running. */
void worker_drain(struct worker *w, void (*cb)(void *arg), void *arg);

/* Finishes what is queued, stops the thread, closes.  NULL is safe. */
void worker_free(struct worker *w);

#endif
