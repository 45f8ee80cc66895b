/*
 * What deliver.c (the engine) and deliver_report.c (what operators see of
 * it) share.  Not an API.
 */
#ifndef PSABRIDGE_DELIVER_INTERNAL_H
#define PSABRIDGE_DELIVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "psabridge/store.h"

#define DELIVER_TICK_MS	    1000
#define DELIVER_SNIPPET_MAX 2048 /* of a response, kept with the attempt */
#define DELIVER_NBUCKETS    10

/* Upper bounds of the attempt latency histogram, seconds. */
extern const double deliver_buckets[DELIVER_NBUCKETS];
/* "done", "retry", "dead", by enum store_outcome_job. */
extern const char *const deliver_outcome_names[3];

struct deliver_target {
	char name[65];
	const struct target *t; /* NULL: no longer configured */
	int in_flight;
	int taking;    /* a take is with the worker */
	int disabled;  /* a 410 said so, until an operator enables it */
	int retrying;  /* the last attempt will be retried */
	double tokens; /* rate bucket */
	int64_t refill_ms;
	char last_error[256];
	uint64_t outcomes[3];			/* done, retry, dead */
	uint64_t buckets[DELIVER_NBUCKETS + 1]; /* latency, cumulative later */
	double latency_sum;
};

struct deliver {
	struct event_base *base;
	struct worker *worker;
	struct httpc *httpc;
	struct router *router;
	struct deliver_target *targets;
	size_t ntargets;
	/*
	 * tick: the periodic look (EV_PERSIST, 1 s); kick: a one-off look
	 * now.  Separate events: activating a persistent timer by hand
	 * re-arms it a period later than it was due, so kicks would keep
	 * pushing the periodic look (and every retry) back.
	 */
	struct event *tick, *kick, *flush;
	struct store_attempt *pending; /* attempts to record */
	char **pending_strings;	       /* their strings */
	size_t npending, npending_strings;
	int ready; /* the requeue at start is done */
	int stopping;
};

#endif
