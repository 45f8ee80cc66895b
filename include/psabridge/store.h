/*
 * store: where acknowledged events live.  Backends sit behind struct
 * store_ops (OpenSMTPD's queue_backend); SQLite is the first, and ingest
 * and delivery only ever talk to this interface.
 *
 * A store handle is used by one thread at a time: the commit thread.
 */
#ifndef PSABRIDGE_STORE_H
#define PSABRIDGE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#define STORE_ID_LEN   36 /* a UUIDv7 in its text form */
#define STORE_HASH_LEN 32 /* SHA-256 of the raw body */

enum store_outcome {
	STORE_STORED,	 /* a new event, committed */
	STORE_DUPLICATE, /* same body from the same source within its window */
	STORE_FAILED,	 /* not stored: the sender must try again */
	STORE_REJECTED,	 /* not a valid callback: never stored */
};

/* A job an event's routing produced, stored with it. */
struct store_job {
	const char *rule;
	const char *target;
	const char *action;	   /* create, note, close, notify */
	const char *template;	   /* NULL: the target's default */
	const char *correlate;	   /* the rendered key, or NULL */
	const char *customer_id;   /* for releasing held jobs, or NULL */
	int held;		   /* 1: waits for the customer's mapping */
	int flags;		   /* STORE_JOB_NO_DEDUP, ... */
	char id[STORE_ID_LEN + 1]; /* filled by store_append() */
};

/* A job's action options (rules.h), stored with it. */
#define STORE_JOB_NO_DEDUP	 0x1 /* create: always a new ticket */
#define STORE_JOB_CREATE_MISSING 0x2 /* note, close: create when none */

/* One event to append.  The caller owns every pointer. */
struct store_event {
	const char *source;
	const char *event_type;
	int64_t vendor_time; /* the envelope's "time", Unix seconds */
	int64_t received_ms; /* when it arrived, Unix milliseconds */
	const char *body;
	size_t body_len;
	unsigned char hash[STORE_HASH_LEN];
	int64_t dedup_window_ms; /* 0: never a duplicate */
	const char *state;	 /* routed, unrouted, dropped; NULL: received */
	struct store_job *jobs;	 /* stored with the event, in order */
	size_t njobs;
	/* Filled by store_append(): */
	enum store_outcome outcome;
	char id[STORE_ID_LEN + 1]; /* the new id, or the first one's */
};

/* --- delivery --------------------------------------------------------- */

/* A job ready to be sent, with what its target needs of the event. */
struct store_due {
	char id[STORE_ID_LEN + 1];
	char event_id[STORE_ID_LEN + 1];
	char *rule, *action, *template,
	    *correlate;	     /* template, correlate: NULL */
	char *source, *body; /* the event's */
	size_t body_len;
	int64_t received_ms; /* the event's */
	int64_t created_ms;  /* the job's: the give-up clock starts here */
	int attempts;	     /* made before this one */
	int flags;	     /* STORE_JOB_NO_DEDUP, ... */
	char *last_error;    /* the previous attempt's, or NULL */
	char *ticket_id; /* the open ticket of (target, correlate), or NULL */
};

/* Frees the strings of one and zeroes it. */
void store_due_clear(struct store_due *due);
/* Frees the strings of each of n and the array.  NULL is safe. */
void store_due_free(struct store_due *due, size_t n);

enum store_outcome_job { STORE_JOB_DONE, STORE_JOB_RETRY, STORE_JOB_DEAD };

/* What a done job did to the ticket of its (target, correlation key). */
enum store_ticket_change {
	STORE_TICKET_SAME,   /* nothing to remember */
	STORE_TICKET_OPEN,   /* ticket_id is the key's open ticket */
	STORE_TICKET_CLOSED, /* the key has no open ticket any more */
};

/* One attempt's result; the caller owns the strings. */
struct store_attempt {
	char job_id[STORE_ID_LEN + 1];
	int64_t started_ms, duration_ms;
	int status;	       /* HTTP status, 0 without an answer */
	const char *error;     /* why it failed, or NULL */
	const char *response;  /* a snippet of the answer, or NULL */
	const char *ticket_id; /* the ticket acted on, or NULL */
	enum store_ticket_change ticket_change;
	enum store_outcome_job outcome;
	int64_t next_ms; /* STORE_JOB_RETRY: not before */
};

/* What the operator asks (admin API); results come as JSON. */
enum store_query_kind {
	STORE_Q_EVENTS,	  /* events, newest first: state, limit, before */
	STORE_Q_EVENT,	  /* one event with its jobs and attempts: id */
	STORE_Q_JOBS,	  /* jobs, newest first: state, target, limit, before */
	STORE_Q_JOB,	  /* one job with its event summary and attempts: id */
	STORE_Q_STATS,	  /* counts by target and state, oldest pending */
	STORE_Q_TARGETS,  /* disabled targets */
	STORE_Q_UNMAPPED, /* customer ids holding jobs, with counts */
	STORE_Q_TICKETS,  /* each key's ticket, newest first: state, target,
			     limit */
	STORE_Q_WAITING,  /* pending and held jobs by target and state */
	STORE_Q_OVERVIEW  /* the web page's overview: now_ms */
};

/*
 * STORE_Q_EVENTS also filters on event_type (exact), customer
 * (payload.customer_id, exact), host (a case-insensitive substring of
 * payload.hostname) and job_state (events with a job in that state).
 *
 * STORE_Q_OVERVIEW answers, relative to now_ms:
 *   events_hour, events_day  [{event_type, count}] received in the last
 *                            hour and 24 hours
 *   events_timeline          [{hour, event_type, count}] the last 24 hours
 *                            by hour (hour: its start, Unix ms)
 *   jobs_timeline            [{hour, state, count}] jobs of the events of
 *                            each of those hours, by their state now
 *   jobs                     [{target, state, count}]
 *   oldest_pending           [{target, created_at}]
 * Every string is borrowed; NULL (or 0) is no filter.
 */
struct store_query {
	enum store_query_kind kind;
	const char *id;
	const char *state;
	const char *target;
	const char *before; /* an id: only older rows */
	size_t limit;
	const char *event_type, *customer, *host, *job_state;
	int64_t now_ms;
};

struct store;

struct store_ops {
	const char *name;
	int (*open)(struct store **out, const char *state_dir,
		    int64_t dedup_horizon_ms, char *err, size_t errlen);
	int (*append)(struct store *st, struct store_event **evs, size_t n,
		      char *err, size_t errlen);
	int (*ping)(struct store *st, char *err, size_t errlen);
	int (*release_held)(struct store *st,
			    int (*mapped)(const char *customer_id, void *arg),
			    void *arg, size_t *released, char *err,
			    size_t errlen);
	void (*close)(struct store *st);
	int (*backup)(const char *state_dir, const char *dest, char *err,
		      size_t errlen);
	int (*open_secondary)(struct store **out, const char *state_dir,
			      char *err, size_t errlen);
	int (*jobs_take)(struct store *st, const char *target, size_t limit,
			 int64_t now_ms, struct store_due **out, size_t *n,
			 char *err, size_t errlen);
	int (*jobs_record)(struct store *st, const struct store_attempt *a,
			   size_t n, char *err, size_t errlen);
	int (*jobs_requeue)(struct store *st, size_t *n, char *err,
			    size_t errlen);
	int (*jobs_retry)(struct store *st, const char *job_id,
			  const char *target, const char *state, int64_t now_ms,
			  size_t *n, char *err, size_t errlen);
	int (*jobs_add)(struct store *st, const char *event_id,
			struct store_job *jobs, size_t n, int64_t now_ms,
			char *err, size_t errlen);
	int (*target_disable)(struct store *st, const char *name, int disabled,
			      const char *reason, int64_t now_ms, size_t *n,
			      char *err, size_t errlen);
	int (*query)(struct store *st, const struct store_query *q, cJSON **out,
		     char *err, size_t errlen);
};

/* Every backend's handle starts with this. */
struct store {
	const struct store_ops *ops;
};

/*
 * Opens the backend named (NULL: "sqlite") on state_dir, creating and
 * migrating its schema.  dedup_horizon_ms is the longest dedup window any
 * source asks for: duplicates are recognised that far back.  Returns 0 and a
 * handle the caller closes with store_close(), or -1 with a message in err.
 */
int store_open(const char *backend, const char *state_dir,
	       int64_t dedup_horizon_ms, struct store **out, char *err,
	       size_t errlen);

/*
 * Appends n events in one transaction and one flush to disk.  Each event's
 * outcome and id are set.  On failure returns -1, every outcome is
 * STORE_FAILED and nothing of the batch is stored.
 */
int store_append(struct store *st, struct store_event **evs, size_t n,
		 char *err, size_t errlen);

/* Returns 0 when the store answers, -1 with a message otherwise. */
int store_ping(struct store *st, char *err, size_t errlen);

/*
 * Moves every held job whose customer_id mapped() now knows to pending,
 * in one transaction; *released says how many.  0 or -1.
 */
int store_release_held(struct store *st,
		       int (*mapped)(const char *customer_id, void *arg),
		       void *arg, size_t *released, char *err, size_t errlen);

/*
 * Copies the store of state_dir into the new file dest (refused when it
 * exists), consistently, while a daemon may be writing to it (SQLite's
 * online backup).  0, or -1 with a message in err.
 */
int store_backup(const char *backend, const char *state_dir, const char *dest,
		 char *err, size_t errlen);

/*
 * A second connection to a store that store_open() holds, for the thread
 * that delivers jobs and answers the operator: no lock, no migration.
 */
int store_open_secondary(const char *backend, const char *state_dir,
			 struct store **out, char *err, size_t errlen);

/*
 * Takes up to limit pending jobs of target that are due at now_ms, oldest
 * first, and marks them in flight, in one transaction.  A job waits while
 * an earlier job with the same target and correlation key is not finished
 * (pending, held or in flight): a close never overtakes its create.
 * *out (n entries) is freed with store_due_free().  0 or -1.
 */
int store_jobs_take(struct store *st, const char *target, size_t limit,
		    int64_t now_ms, struct store_due **out, size_t *n,
		    char *err, size_t errlen);

/*
 * Records n attempts and their jobs' new states, and the tickets they
 * opened or closed, in one transaction.
 */
int store_jobs_record(struct store *st, const struct store_attempt *a, size_t n,
		      char *err, size_t errlen);

/*
 * At start: jobs left in flight by a crash are pending again (they are
 * sent again: at-least-once).  *n says how many.
 */
int store_jobs_requeue(struct store *st, size_t *n, char *err, size_t errlen);

/*
 * Makes jobs pending and due now: the job job_id (in state, if not NULL),
 * or with job_id NULL every job in state (of target, if not NULL).
 * *n says how many.  0 or -1.
 */
int store_jobs_retry(struct store *st, const char *job_id, const char *target,
		     const char *state, int64_t now_ms, size_t *n, char *err,
		     size_t errlen);

/* Adds jobs to an existing event (replay).  Fills each job's id. */
int store_jobs_add(struct store *st, const char *event_id,
		   struct store_job *jobs, size_t n, int64_t now_ms, char *err,
		   size_t errlen);

/*
 * Disables (a 410 said so) or enables a target; *n (may be NULL) says
 * whether anything changed.  0 or -1.
 */
int store_target_disable(struct store *st, const char *name, int disabled,
			 const char *reason, int64_t now_ms, size_t *n,
			 char *err, size_t errlen);

/*
 * Answers q as JSON (caller frees with cJSON_Delete()); for STORE_Q_EVENT
 * and STORE_Q_JOB, *out is NULL when there is no such id.  0 or -1.
 */
int store_query(struct store *st, const struct store_query *q, cJSON **out,
		char *err, size_t errlen);

/* NULL is safe. */
void store_close(struct store *st);

/* Writes a new UUIDv7 for time ms into out (STORE_ID_LEN + 1 bytes). */
int store_new_id(int64_t ms, char *out);

#endif
