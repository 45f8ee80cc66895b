/*
 * The SQLite store's jobs: taking due jobs for delivery, recording
 * attempts, and the operator's queries and actions.  Runs on the delivery
 * thread's own connection (see worker.c); SQLite serialises its writes
 * with the commit thread's, WAL lets them read meanwhile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "psabridge/store.h"
#include "store-sqlite-internal.h"

#define STORE_JOBS_LIMIT_MAX 1000

static char *
store_jobs_dup(sqlite3_stmt *st, int col)
{
	const unsigned char *v = sqlite3_column_text(st, col);

	return v != NULL ? strdup((const char *)v) : NULL;
}

static void
store_jobs_copy_id(char *dst, sqlite3_stmt *st, int col)
{
	const unsigned char *v = sqlite3_column_text(st, col);

	snprintf(dst, STORE_ID_LEN + 1, "%s", v ? (const char *)v : "");
}

/* Runs sql (no rows) inside the caller's transaction. */
static int
store_jobs_exec(struct store_sqlite *s, const char *sql, char *err,
		size_t errlen)
{
	return store_sqlite_exec(s->db, sql, err, errlen);
}

/* Every store_jobs_begin() that returns 0 is ended by store_jobs_end(). */
static int
store_jobs_begin(struct store_sqlite *s, char *err, size_t errlen)
{
	store_sqlite_write_lock();
	if (store_jobs_exec(s, "BEGIN IMMEDIATE", err, errlen) == 0)
		return 0;
	store_sqlite_write_unlock();
	return -1;
}

static int
store_jobs_end(struct store_sqlite *s, int ok, char *err, size_t errlen)
{
	int rc = -1;

	if (ok && store_jobs_exec(s, "COMMIT", err, errlen) == 0)
		rc = 0;
	else if (sqlite3_get_autocommit(s->db) == 0)
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
	store_sqlite_write_unlock();
	return rc;
}

static int
store_jobs_read_due(sqlite3_stmt *st, struct store_due *d)
{
	memset(d, 0, sizeof(*d));
	store_jobs_copy_id(d->id, st, 0);
	store_jobs_copy_id(d->event_id, st, 1);
	d->rule = store_jobs_dup(st, 2);
	d->action = store_jobs_dup(st, 3);
	d->template = store_jobs_dup(st, 4);
	d->correlate = store_jobs_dup(st, 5);
	d->attempts = sqlite3_column_int(st, 6);
	d->created_ms = sqlite3_column_int64(st, 7);
	d->source = store_jobs_dup(st, 8);
	d->body_len = (size_t)sqlite3_column_bytes(st, 9);
	d->body = store_jobs_dup(st, 9);
	d->received_ms = sqlite3_column_int64(st, 10);
	d->flags = sqlite3_column_int(st, 11);
	d->last_error = store_jobs_dup(st, 12);
	d->ticket_id = store_jobs_dup(st, 13);
	return d->rule && d->action && d->source && d->body ? 0 : -1;
}

const char store_sqlite_jobs_due_sql[] =
    "SELECT j.id, j.event_id, j.rule, j.action, j.template, j.correlate,"
    " j.attempts, j.created_at, e.source, e.body, e.received_at,"
    " j.flags, j.last_error, t.ticket_id"
    " FROM jobs j JOIN events e ON e.id = j.event_id"
    " LEFT JOIN tickets t ON t.target = j.target"
    "  AND t.correlate = j.correlate AND t.state = 'open'"
    " WHERE j.target = ?1 AND j.state = 'pending' AND j.next_at <= ?2"
    " AND (j.correlate IS NULL OR NOT EXISTS (SELECT 1 FROM jobs p"
    "  WHERE p.target = j.target AND p.correlate = j.correlate"
    "  AND p.seq < j.seq AND p.state IN ('pending', 'held', 'inflight')))"
    " ORDER BY j.seq LIMIT ?3";

int
store_sqlite_jobs_take(struct store *sto, const char *target, size_t limit,
		       int64_t now_ms, struct store_due **out, size_t *n,
		       char *err, size_t errlen)
{
	struct store_sqlite *s = (struct store_sqlite *)sto;
	sqlite3_stmt *st = NULL, *mark = NULL;
	struct store_due *due = NULL;
	size_t k = 0;
	int rc, ok = 0;

	*out = NULL;
	*n = 0;
	if (limit > STORE_JOBS_LIMIT_MAX)
		limit = STORE_JOBS_LIMIT_MAX;
	if (limit == 0 || (due = calloc(limit, sizeof(*due))) == NULL)
		return limit == 0 ? 0 : -1;
	if (store_jobs_begin(s, err, errlen) == -1) {
		free(due);
		return -1;
	}
	if (sqlite3_prepare_v2(s->db, store_sqlite_jobs_due_sql, -1, &st,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(
		s->db, "UPDATE jobs SET state = 'inflight' WHERE id = ?", -1,
		&mark, NULL) != SQLITE_OK)
		goto sqlerr;
	sqlite3_bind_text(st, 1, target, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, now_ms);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)limit);
	while (k < limit && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (store_jobs_read_due(st, &due[k++]) == -1)
			goto sqlerr;
	}
	for (size_t i = 0; i < k; i++) {
		sqlite3_bind_text(mark, 1, due[i].id, -1, SQLITE_STATIC);
		if (store_sqlite_step_done(mark) == -1)
			goto sqlerr;
	}
	ok = 1;
	goto out;
sqlerr:
	store_sqlite_error(s->db, "taking due jobs", err, errlen);
out:
	sqlite3_finalize(st);
	sqlite3_finalize(mark);
	if (store_jobs_end(s, ok, err, errlen) == -1) {
		store_due_free(due, k);
		return -1;
	}
	*out = due;
	*n = k;
	return 0;
}

static const char *const store_jobs_outcomes[] = {
    [STORE_JOB_DONE] = "done",
    [STORE_JOB_RETRY] = "pending",
    [STORE_JOB_DEAD] = "dead",
};

static int
store_jobs_record_ticket(sqlite3_stmt *open, sqlite3_stmt *close,
			 const struct store_attempt *a)
{
	sqlite3_stmt *st;

	if (a->outcome != STORE_JOB_DONE ||
	    a->ticket_change == STORE_TICKET_SAME ||
	    (a->ticket_change == STORE_TICKET_OPEN && a->ticket_id == NULL))
		return 0;
	st = a->ticket_change == STORE_TICKET_OPEN ? open : close;
	sqlite3_bind_text(st, 1, a->job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, a->started_ms + a->duration_ms);
	if (a->ticket_change == STORE_TICKET_OPEN)
		sqlite3_bind_text(st, 3, a->ticket_id, -1, SQLITE_STATIC);
	if (store_sqlite_step_done(st) == -1)
		return -1;
	sqlite3_clear_bindings(st);
	return 0;
}

static int
store_jobs_record_one(sqlite3_stmt *ins, sqlite3_stmt *upd,
		      const struct store_attempt *a)
{
	const char *state = store_jobs_outcomes[a->outcome];

	sqlite3_bind_text(ins, 1, a->job_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(ins, 2, a->started_ms);
	sqlite3_bind_int64(ins, 3, a->duration_ms);
	if (a->status > 0)
		sqlite3_bind_int(ins, 4, a->status);
	sqlite3_bind_text(ins, 5, a->error, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 6, a->response, -1, SQLITE_STATIC);
	sqlite3_bind_text(ins, 7,
			  a->outcome == STORE_JOB_RETRY ? "retry" : state, -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(upd, 1, state, -1, SQLITE_STATIC);
	sqlite3_bind_int64(upd, 2,
			   a->outcome == STORE_JOB_RETRY ? a->next_ms : 0);
	if (a->status > 0)
		sqlite3_bind_int(upd, 3, a->status);
	sqlite3_bind_text(upd, 4, a->error, -1, SQLITE_STATIC);
	sqlite3_bind_text(upd, 5, a->ticket_id, -1, SQLITE_STATIC);
	if (a->outcome != STORE_JOB_RETRY)
		sqlite3_bind_int64(upd, 6, a->started_ms + a->duration_ms);
	sqlite3_bind_text(upd, 7, a->job_id, -1, SQLITE_STATIC);
	if (store_sqlite_step_done(ins) == -1 ||
	    store_sqlite_step_done(upd) == -1)
		return -1;
	sqlite3_clear_bindings(ins);
	sqlite3_clear_bindings(upd);
	return 0;
}

int
store_sqlite_jobs_record(struct store *sto, const struct store_attempt *a,
			 size_t n, char *err, size_t errlen)
{
	struct store_sqlite *s = (struct store_sqlite *)sto;
	sqlite3_stmt *ins = NULL, *upd = NULL, *topen = NULL, *tclose = NULL;
	size_t i;
	int ok = 0;

	if (store_jobs_begin(s, err, errlen) == -1)
		return -1;
	if (sqlite3_prepare_v2(
		s->db,
		"INSERT INTO tickets (target, correlate, ticket_id, state,"
		" updated_at) SELECT target, correlate, ?3, 'open', ?2"
		" FROM jobs WHERE id = ?1 AND correlate IS NOT NULL"
		" ON CONFLICT (target, correlate) DO UPDATE SET"
		" ticket_id = excluded.ticket_id, state = 'open',"
		" updated_at = excluded.updated_at",
		-1, &topen, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "UPDATE tickets SET state = 'closed',"
			       " updated_at = ?2 WHERE (target, correlate) ="
			       " (SELECT target, correlate FROM jobs"
			       " WHERE id = ?1)",
			       -1, &tclose, NULL) != SQLITE_OK)
		goto out;
	if (sqlite3_prepare_v2(s->db,
			       "INSERT INTO attempts (job_id, started_at,"
			       " duration_ms, status, error, response, outcome)"
			       " VALUES (?,?,?,?,?,?,?)",
			       -1, &ins, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(s->db,
			       "UPDATE jobs SET state = ?1, next_at = ?2,"
			       " attempts = attempts + 1, last_status = ?3,"
			       " last_error = ?4,"
			       " ticket_id = coalesce(?5, ticket_id),"
			       " finished_at = ?6 WHERE id = ?7",
			       -1, &upd, NULL) != SQLITE_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (store_jobs_record_one(ins, upd, &a[i]) == -1 ||
		    store_jobs_record_ticket(topen, tclose, &a[i]) == -1)
			goto out;
	}
	ok = 1;
out:
	if (!ok)
		store_sqlite_error(s->db, "recording attempts", err, errlen);
	sqlite3_finalize(ins);
	sqlite3_finalize(upd);
	sqlite3_finalize(topen);
	sqlite3_finalize(tclose);
	return store_jobs_end(s, ok, err, errlen);
}

/*
 * Runs one statement with text parameters ?1..?3 and an integer ?4, those
 * the SQL uses (binding one it lacks is a harmless SQLITE_RANGE);
 * *n = rows changed.
 */
static int
store_jobs_update(struct store_sqlite *s, const char *sql, const char *p1,
		  const char *p2, const char *p3, int64_t i4, size_t *n,
		  const char *what, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int ok = 0;

	if (n != NULL)
		*n = 0;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	sqlite3_bind_text(st, 1, p1, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p2, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, p3, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, i4);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto out;
	if (n != NULL)
		*n = (size_t)sqlite3_changes(s->db);
	ok = 1;
out:
	if (!ok)
		store_sqlite_error(s->db, what, err, errlen);
	sqlite3_finalize(st);
	return ok ? 0 : -1;
}

int
store_sqlite_jobs_requeue(struct store *sto, size_t *n, char *err,
			  size_t errlen)
{
	return store_jobs_update((struct store_sqlite *)sto,
				 "UPDATE jobs SET state = 'pending'"
				 " WHERE state = 'inflight'",
				 NULL, NULL, NULL, 0, n,
				 "requeueing jobs left in flight", err, errlen);
}

int
store_sqlite_jobs_retry(struct store *sto, const char *job_id,
			const char *target, const char *state, int64_t now_ms,
			size_t *n, char *err, size_t errlen)
{
	return store_jobs_update(
	    (struct store_sqlite *)sto,
	    "UPDATE jobs SET state = 'pending', next_at = ?4,"
	    " finished_at = NULL"
	    " WHERE (?1 IS NULL OR id = ?1) AND (?2 IS NULL OR target = ?2)"
	    " AND (?3 IS NULL OR state = ?3)"
	    " AND state IN ('dead', 'done', 'held', 'pending')",
	    job_id, target, state, now_ms, n, "retrying jobs", err, errlen);
}

int
store_sqlite_jobs_add(struct store *sto, const char *event_id,
		      struct store_job *jobs, size_t n, int64_t now_ms,
		      char *err, size_t errlen)
{
	struct store_sqlite *s = (struct store_sqlite *)sto;
	struct store_event ev;
	size_t i;
	int ok = 0;

	memset(&ev, 0, sizeof(ev));
	snprintf(ev.id, sizeof(ev.id), "%s", event_id);
	ev.received_ms = now_ms;
	if (store_jobs_begin(s, err, errlen) == -1)
		return -1;
	for (i = 0; i < n; i++) {
		if (store_sqlite_insert_job(s, ev.id, &jobs[i], now_ms) == -1)
			goto out;
	}
	ok = 1;
out:
	if (!ok)
		store_sqlite_error(s->db, "adding jobs", err, errlen);
	return store_jobs_end(s, ok, err, errlen);
}

int
store_sqlite_target_disable(struct store *sto, const char *name, int disabled,
			    const char *reason, int64_t now_ms, size_t *n,
			    char *err, size_t errlen)
{
	return store_jobs_update(
	    (struct store_sqlite *)sto,
	    disabled
		? "INSERT INTO targets_state (name, disabled, reason, since)"
		  " VALUES (?1, 1, ?2, ?4) ON CONFLICT (name) DO UPDATE"
		  " SET disabled = 1, reason = ?2, since = ?4"
		: "DELETE FROM targets_state WHERE name = ?1",
	    name, disabled ? reason : NULL, NULL, now_ms, n,
	    "changing a target's state", err, errlen);
}
