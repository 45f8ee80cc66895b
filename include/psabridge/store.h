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
	char id[STORE_ID_LEN + 1]; /* filled by store_append() */
};

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

/* NULL is safe. */
void store_close(struct store *st);

/* Writes a new UUIDv7 for time ms into out (STORE_ID_LEN + 1 bytes). */
int store_new_id(int64_t ms, char *out);

#endif
