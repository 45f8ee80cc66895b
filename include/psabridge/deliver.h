/*
 * deliver: sends jobs to their targets, reliably.
 *
 * A periodic tick (and a kick when new jobs are stored) takes due jobs of
 * each target from the store, as many as the target's max_in_flight and
 * rate allow, builds each request (target.h), sends it (httpc.h, or a line
 * appended for the file target), classifies the answer and records the
 * attempt.  2xx: done.  No answer, a timeout, 3xx, 408, 425, 429, 500,
 * 502, 503, 504: retried with exponential backoff and jitter, honouring
 * Retry-After within [retry.first, retry.max], until retry.give_up_after
 * from the job's creation; then dead.  Other 4xx and 5xx: dead at once;
 * 410 also disables the target until an operator enables it again.
 *
 * Jobs of one target and correlation key go one at a time, in order (the
 * store does not hand out a job while an earlier one of its key is not
 * finished).  A job is marked in flight before it is sent; after a crash
 * it is sent again: at-least-once.
 */
#ifndef PSABRIDGE_DELIVER_H
#define PSABRIDGE_DELIVER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct event_base;
struct worker;
struct httpc;
struct targets;
struct router;
struct deliver;

/*
 * Starts delivering for targets (borrowed: replaced by deliver_reload
 * before the old ones are freed) with router's templates and customers
 * (a reference is taken).  Jobs left in flight by a crash are requeued
 * first.  NULL with a message in err on failure.
 */
struct deliver *deliver_new(struct event_base *base, struct worker *w,
			    struct httpc *h, const struct targets *targets,
			    struct router *router, char *err, size_t errlen);

/*
 * A new configuration: targets and router as in deliver_new.  0, or -1
 * (out of memory) with nothing changed: the old targets stay in use, so
 * the caller must keep the configuration they belong to.
 */
int deliver_reload(struct deliver *d, const struct targets *targets,
		   struct router *router);

/* New jobs may be due: look now rather than at the next tick. */
void deliver_kick(struct deliver *d);

/* An operator re-enabled target name (the store is updated already). */
void deliver_enable(struct deliver *d, const char *name);

/*
 * Each target's state for the admin API and metrics: an array of
 * {name, type, state ("ok", "retrying", "disabled"), in_flight,
 * last_error, attempts{done, retry, dead}, latency buckets}.
 */
cJSON *deliver_targets_json(const struct deliver *d);

/* Prometheus text lines for the delivery metrics, appended to buf. */
struct evbuffer;
void deliver_metrics(const struct deliver *d, struct evbuffer *buf);

/*
 * Stops taking jobs and hands what finished to the worker to record.
 * Requests still in flight are abandoned when the client is freed after
 * this: their jobs stay in flight in the store and are sent again at the
 * next start (at-least-once).
 */
void deliver_stop(struct deliver *d);

/* Call after httpc_free() and worker_free().  NULL is safe. */
void deliver_free(struct deliver *d);

#endif
