/*
 * What store_sqlite.c (events, the schema) and store_sqlite_jobs.c
 * (delivery and the operator's view of jobs) share.  Not an API.
 */
#ifndef PSABRIDGE_STORE_SQLITE_INTERNAL_H
#define PSABRIDGE_STORE_SQLITE_INTERNAL_H

#include <stddef.h>

#include <sqlite3.h>

#include "psabridge/store.h"

#define STORE_SQLITE_FILE "psabridge.db"

struct dedup;

struct store_sqlite {
	struct store base; /* first: a struct store * points here */
	int lock_fd;	   /* flock()ed: one psabridge per state_dir */
	sqlite3 *db;
	sqlite3_stmt *begin, *commit, *rollback, *insert;
	sqlite3_stmt *insert_job;
	struct dedup *dedup; /* recent events, see dedup.h; NULL: secondary */
};

void store_sqlite_error(sqlite3 *db, const char *what, char *err,
			size_t errlen);
/* Around every explicit write transaction: see store_sqlite.c. */
void store_sqlite_write_lock(void);
void store_sqlite_write_unlock(void);
int store_sqlite_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);
/* Steps a statement that returns no rows and resets it: 0 or -1. */
int store_sqlite_step_done(sqlite3_stmt *st);

/* Inserts job (its id filled here) inside the caller's transaction. */
int store_sqlite_insert_job(struct store_sqlite *s, const char *event_id,
			    struct store_job *job, int64_t created_ms);

/* The take's query; a test checks its plan sorts nothing. */
extern const char store_sqlite_jobs_due_sql[];
int store_sqlite_jobs_take(struct store *st, const char *target, size_t limit,
			   int64_t now_ms, struct store_due **out, size_t *n,
			   char *err, size_t errlen);
int store_sqlite_jobs_record(struct store *st, const struct store_attempt *a,
			     size_t n, char *err, size_t errlen);
int store_sqlite_jobs_requeue(struct store *st, size_t *n, char *err,
			      size_t errlen);
int store_sqlite_jobs_retry(struct store *st, const char *job_id,
			    const char *target, const char *state,
			    int64_t now_ms, size_t *n, char *err,
			    size_t errlen);
int store_sqlite_jobs_add(struct store *st, const char *event_id,
			  struct store_job *jobs, size_t n, int64_t now_ms,
			  char *err, size_t errlen);
int store_sqlite_target_disable(struct store *st, const char *name,
				int disabled, const char *reason,
				int64_t now_ms, size_t *n, char *err,
				size_t errlen);
int store_sqlite_query(struct store *st, const struct store_query *q,
		       cJSON **out, char *err, size_t errlen);

#define STORE_SQLITE_JOBS_OPS                                                  \
	.jobs_take = store_sqlite_jobs_take,                                   \
	.jobs_record = store_sqlite_jobs_record,                               \
	.jobs_requeue = store_sqlite_jobs_requeue,                             \
	.jobs_retry = store_sqlite_jobs_retry,                                 \
	.jobs_add = store_sqlite_jobs_add,                                     \
	.target_disable = store_sqlite_target_disable,                         \
	.query = store_sqlite_query

#endif
