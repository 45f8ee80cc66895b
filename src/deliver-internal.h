/*
 * What deliver.c (the engine) and deliver_report.c (what operators see of
 * it) share.  Not an API.
 */
#ifndef PSABRIDGE_DELIVER_INTERNAL_H
#define PSABRIDGE_DELIVER_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "psabridge/httpc.h"
#include "psabridge/store.h"
#include "psabridge/target.h"

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

/* One job on its way. */
struct deliver_job {
	struct deliver *d;
	struct store_due due;
	char target[65];
	int64_t started_ms;
	int64_t retry_first_ms, retry_max_ms, give_up_ms;
	char errbuf[512]; /* an error message made here */
	/* An exchange (PSA targets): its state and the last answer. */
	const struct target_exchange_ops *xops;
	void *x;
	struct target_delivery dl; /* the target's, ca_file copied */
	int status;
	char *response;
	char retry_after[64];
	int prep; /* no job: the target's preparation (discovery) */
};

/* deliver.c, for deliver_exchange.c and the rest of the engine. */
int64_t deliver_now_ms(void);
struct deliver_target *deliver_find(struct deliver *d, const char *name);
/* Ends what a job holds besides its due entry, and frees it. */
void deliver_job_free(struct deliver_job *j);
void deliver_attempt_init(struct store_attempt *a, const struct deliver_job *j);
/* Classifies an answer (status 0: none) into done, retry or dead. */
void deliver_classify(struct deliver_job *j, struct store_attempt *a,
		      const char *retry_after);
/* The end of one attempt: counters, the log line, the record; frees j. */
void deliver_finish(struct deliver_job *j, struct store_attempt *a,
		    double seconds);
/* A job that cannot be built will not build on a retry: dead. */
void deliver_fail_build(struct deliver_job *j, const char *why);
int deliver_http(struct deliver_job *j, const struct target_delivery *dl,
		 const struct target_request *req, httpc_done_fn done);

/* deliver_report.c: warns of jobs whose target is no longer configured. */
void deliver_check_orphans(struct deliver *d);

/* deliver_exchange.c: a PSA target's exchange (several requests a job). */
/* Starts job j's exchange on t (tj NULL with j->prep: preparing only). */
void deliver_exchange(struct deliver_job *j, const struct target *t,
		      const struct target_job *tj);
/* Each PSA target prepares (discovery, picklists): at start and reload. */
void deliver_prepare(struct deliver *d);

#endif
