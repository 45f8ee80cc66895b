/*
 * commit: group commit on a thread of its own.
 *
 * The event loop hands events over with commit_submit(); everything
 * submitted while the thread is busy goes into the next transaction, and a
 * batch starts as soon as the loop turn that produced it is over (no timer
 * wait).  The fsync of one batch thus overlaps with reading and parsing the
 * requests of the next.  When a batch is on disk, the thread wakes the loop
 * and each item's done callback runs there, on the loop thread.
 */
#ifndef PSABRIDGE_COMMIT_H
#define PSABRIDGE_COMMIT_H

#include <stddef.h>
#include <stdint.h>

#include "psabridge/envelope.h"
#include "psabridge/store.h"

struct event_base;
struct commit;

struct commit_item {
	/*
	 * in: source, received_ms, body, dedup_window_ms; out: outcome, id,
	 * and event_type, vendor_time, state, njobs from the body.
	 */
	struct store_event ev;
	char event_type[ENVELOPE_EVENT_MAX + 1]; /* ev.event_type points here */
	char reject[160]; /* why, when ev.outcome is STORE_REJECTED */
	/* replay: route this stored event's body again; its id */
	char replay_of[STORE_ID_LEN + 1];
	void (*done)(struct commit_item *item, void *arg);
	void *arg;
	struct commit_item *next; /* commit's own */
};

#define COMMIT_NBUCKETS 8
extern const double COMMIT_BUCKETS_MS[COMMIT_NBUCKETS];

/*
 * Callbacks by source and event type, for /metrics.  Event types come
 * from the vendor: past COMMIT_NKINDS pairs the rest are counted under
 * event "other", so a sender cannot grow the metrics without bound.
 */
#define COMMIT_NKINDS 64
struct commit_kind {
	char source[65];
	char event[ENVELOPE_EVENT_MAX + 1]; /* "": rejected, none known */
	uint64_t stored, duplicates, rejected;
};

struct commit_stats {
	struct commit_kind kinds[COMMIT_NKINDS + 1]; /* the last: "other" */
	size_t nkinds;
	uint64_t batches;  /* transactions attempted */
	uint64_t events;   /* events in them */
	uint64_t failures; /* transactions that failed */
	uint64_t released; /* held jobs released by reloads */
	uint64_t stored, duplicates, rejected, dropped, unrouted;
	/* commit latency: counts at or under COMMIT_BUCKETS_MS[i], and all */
	uint64_t latency[COMMIT_NBUCKETS + 1];
	double latency_sum_ms;
};

/*
 * Starts the commit thread on store st (borrowed: the caller closes it
 * after commit_free()).  Returns NULL with a message in err on failure.
 */
struct commit *commit_new(struct event_base *base, struct store *st, char *err,
			  size_t errlen);

/*
 * Routes every new event through r from the next batch on (takes a
 * reference; NULL: events are stored unrouted).  Held jobs whose customer
 * r maps are released before that batch.
 */
struct router;
void commit_set_router(struct commit *c, struct router *r);

/*
 * Queues item; item->ev.body and the strings it points to must stay valid
 * until item->done is called, exactly once, on the loop thread.
 */
void commit_submit(struct commit *c, struct commit_item *item);

/*
 * cb(arg) runs on the loop after every batch that stored jobs: delivery
 * looks for due jobs at once instead of at its next tick.
 */
void commit_on_jobs(struct commit *c, void (*cb)(void *arg), void *arg);

/* Calls cb(arg) on the loop thread once nothing is queued or in flight. */
void commit_drain(struct commit *c, void (*cb)(void *arg), void *arg);

/*
 * 0 when the last transaction or health probe succeeded; -1 otherwise,
 * with the store's message in err.  Safe from the loop thread.
 */
int commit_health(struct commit *c, char *err, size_t errlen);

void commit_get_stats(struct commit *c, struct commit_stats *out);

/* Stops and joins the thread.  Call only when drained.  NULL is safe. */
void commit_free(struct commit *c);

#endif
