/*
 * The operator's questions to the SQLite store (admin API, `psabridge
 * queue`, the web page): answers built as JSON straight from the rows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "psabridge/store.h"
#include "store-sqlite-internal.h"

#define STORE_QUERY_LIMIT_MAX 1000

/* Row -> object: every column under its name; NULL columns left out. */
static cJSON *
store_query_row(sqlite3_stmt *st)
{
	cJSON *o = cJSON_CreateObject();
	int i, n = sqlite3_column_count(st);

	for (i = 0; o != NULL && i < n; i++) {
		const char *name = sqlite3_column_name(st, i);

		switch (sqlite3_column_type(st, i)) {
		case SQLITE_INTEGER:
			cJSON_AddNumberToObject(
			    o, name, (double)sqlite3_column_int64(st, i));
			break;
		case SQLITE_FLOAT:
			cJSON_AddNumberToObject(o, name,
						sqlite3_column_double(st, i));
			break;
		case SQLITE_TEXT:
			cJSON_AddStringToObject(
			    o, name, (const char *)sqlite3_column_text(st, i));
			break;
		default:
			break;
		}
	}
	return o;
}

/* Every row of st as an array; NULL on error. */
static cJSON *
store_query_rows(sqlite3_stmt *st)
{
	cJSON *a = cJSON_CreateArray(), *row;
	int rc;

	while (a != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if ((row = store_query_row(st)) == NULL) {
			cJSON_Delete(a);
			return NULL;
		}
		cJSON_AddItemToArray(a, row);
	}
	if (a != NULL && rc != SQLITE_DONE) {
		cJSON_Delete(a);
		return NULL;
	}
	return a;
}

/* Prepares sql and binds q's fields by name (:id :state ...). */
static sqlite3_stmt *
store_query_prepare(struct store_sqlite *s, const char *sql,
		    const struct store_query *q)
{
	size_t limit = q->limit == 0 || q->limit > STORE_QUERY_LIMIT_MAX
			   ? (q->limit == 0 ? 50 : STORE_QUERY_LIMIT_MAX)
			   : q->limit;
	sqlite3_stmt *st;
	int i;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	if ((i = sqlite3_bind_parameter_index(st, ":id")) > 0)
		sqlite3_bind_text(st, i, q->id, -1, SQLITE_STATIC);
	if ((i = sqlite3_bind_parameter_index(st, ":state")) > 0)
		sqlite3_bind_text(st, i, q->state, -1, SQLITE_STATIC);
	if ((i = sqlite3_bind_parameter_index(st, ":target")) > 0)
		sqlite3_bind_text(st, i, q->target, -1, SQLITE_STATIC);
	if ((i = sqlite3_bind_parameter_index(st, ":before")) > 0)
		sqlite3_bind_text(st, i, q->before, -1, SQLITE_STATIC);
	if ((i = sqlite3_bind_parameter_index(st, ":limit")) > 0)
		sqlite3_bind_int64(st, i, (sqlite3_int64)limit);
	if ((i = sqlite3_bind_parameter_index(st, ":event_type")) > 0)
		sqlite3_bind_text(st, i, q->event_type, -1, SQLITE_STATIC);
	if ((i = sqlite3_bind_parameter_index(st, ":customer")) > 0)
		sqlite3_bind_text(st, i, q->customer, -1, SQLITE_STATIC);
	if ((i = sqlite3_bind_parameter_index(st, ":host")) > 0)
		sqlite3_bind_text(st, i, q->host, -1, SQLITE_STATIC);
	if ((i = sqlite3_bind_parameter_index(st, ":job_state")) > 0)
		sqlite3_bind_text(st, i, q->job_state, -1, SQLITE_STATIC);
	if ((i = sqlite3_bind_parameter_index(st, ":now")) > 0)
		sqlite3_bind_int64(st, i, (sqlite3_int64)q->now_ms);
	return st;
}

static cJSON *
store_query_sql(struct store_sqlite *s, const char *sql,
		const struct store_query *q)
{
	sqlite3_stmt *st = store_query_prepare(s, sql, q);
	cJSON *a;

	if (st == NULL)
		return NULL;
	a = store_query_rows(st);
	sqlite3_finalize(st);
	return a;
}

#define STORE_Q_JOB_COLUMNS                                                    \
	"j.id, j.event_id, j.rule, j.target, j.action, j.template,"            \
	" j.correlate, j.customer_id, j.state, j.created_at,"                  \
	" j.attempts AS attempt_count,"                                        \
	" j.next_at, j.last_status, j.last_error, j.ticket_id, j.finished_at"

/*
 * The customer and the hostname are read from the stored body: the events
 * table has no columns for them, and a list page reads only `limit` rows
 * past the filters.  Every stored body was parsed as JSON at ingest;
 * json_valid() keeps one that is not from failing the whole list.
 */
#define STORE_Q_CUSTOMER                                                       \
	"(CASE WHEN json_valid(e.body) THEN"                                   \
	" json_extract(e.body, '$.payload.customer_id') END)"
#define STORE_Q_HOSTNAME                                                       \
	"(CASE WHEN json_valid(e.body) THEN"                                   \
	" json_extract(e.body, '$.payload.hostname') END)"

static const char store_q_events[] =
    "SELECT e.id, e.source, e.event_type, e.vendor_time, e.received_at,"
    " e.state, (SELECT count(*) FROM jobs j WHERE j.event_id = e.id) AS jobs,"
    " (SELECT group_concat(j.state) FROM jobs j WHERE j.event_id = e.id)"
    "  AS job_states, " STORE_Q_CUSTOMER " AS customer_id, " STORE_Q_HOSTNAME
    " AS hostname FROM events e WHERE (:state IS NULL OR e.state = :state)"
    " AND (:event_type IS NULL OR e.event_type = :event_type)"
    " AND (:customer IS NULL OR CAST(" STORE_Q_CUSTOMER " AS TEXT) = :customer)"
    " AND (:host IS NULL OR instr(lower(CAST(" STORE_Q_HOSTNAME " AS TEXT)),"
    "  lower(:host)) > 0)"
    " AND (:job_state IS NULL OR EXISTS (SELECT 1 FROM jobs j"
    "  WHERE j.event_id = e.id AND j.state = :job_state))"
    " AND (:before IS NULL OR e.seq < (SELECT seq FROM events"
    "  WHERE id = :before))"
    " ORDER BY e.seq DESC LIMIT :limit";

static const char store_q_jobs[] =
    "SELECT " STORE_Q_JOB_COLUMNS ", e.event_type FROM jobs j"
    " JOIN events e ON e.id = j.event_id"
    " WHERE (:state IS NULL OR j.state = :state)"
    " AND (:target IS NULL OR j.target = :target)"
    " AND (:before IS NULL OR j.seq < (SELECT seq FROM jobs"
    "  WHERE id = :before))"
    " ORDER BY j.seq DESC LIMIT :limit";

static const char store_q_attempts[] =
    "SELECT started_at, duration_ms, status, error, response, outcome"
    " FROM attempts WHERE job_id = :id ORDER BY seq";

/* Adds each job's attempts under "attempts". */
static int
store_query_attempts(struct store_sqlite *s, cJSON *jobs)
{
	struct store_query q = {.kind = STORE_Q_JOB};
	cJSON *job, *att;

	cJSON_ArrayForEach(job, jobs)
	{
		q.id = cJSON_GetStringValue(cJSON_GetObjectItem(job, "id"));
		if ((att = store_query_sql(s, store_q_attempts, &q)) == NULL)
			return -1;
		cJSON_AddItemToObject(job, "attempts", att);
	}
	return 0;
}

static int
store_query_event(struct store_sqlite *s, const struct store_query *q,
		  cJSON **out)
{
	cJSON *rows, *ev, *jobs;

	rows = store_query_sql(
	    s,
	    "SELECT id, source, event_type, vendor_time, received_at, state,"
	    " body FROM events WHERE id = :id",
	    q);
	if (rows == NULL)
		return -1;
	if ((ev = cJSON_DetachItemFromArray(rows, 0)) == NULL) {
		cJSON_Delete(rows);
		*out = NULL; /* no such event */
		return 0;
	}
	cJSON_Delete(rows);
	jobs = store_query_sql(s,
			       "SELECT " STORE_Q_JOB_COLUMNS " FROM jobs j"
			       " WHERE j.event_id = :id ORDER BY j.seq",
			       q);
	if (jobs == NULL || store_query_attempts(s, jobs) == -1) {
		cJSON_Delete(jobs);
		cJSON_Delete(ev);
		return -1;
	}
	cJSON_AddItemToObject(ev, "jobs", jobs);
	*out = ev;
	return 0;
}

static int
store_query_job(struct store_sqlite *s, const struct store_query *q,
		cJSON **out)
{
	cJSON *rows, *job, *att;

	rows = store_query_sql(s,
			       "SELECT " STORE_Q_JOB_COLUMNS
			       ", e.event_type, e.source FROM jobs j"
			       " JOIN events e ON e.id = j.event_id"
			       " WHERE j.id = :id",
			       q);
	if (rows == NULL)
		return -1;
	job = cJSON_DetachItemFromArray(rows, 0);
	cJSON_Delete(rows);
	if (job == NULL) {
		*out = NULL;
		return 0;
	}
	if ((att = store_query_sql(s, store_q_attempts, q)) == NULL) {
		cJSON_Delete(job);
		return -1;
	}
	cJSON_AddItemToObject(job, "attempts", att);
	*out = job;
	return 0;
}

static cJSON *
store_query_stats(struct store_sqlite *s, const struct store_query *q)
{
	cJSON *o = cJSON_CreateObject(), *jobs, *events, *oldest;

	jobs = store_query_sql(s,
			       "SELECT target, state, count(*) AS count"
			       " FROM jobs GROUP BY target, state",
			       q);
	events = store_query_sql(s,
				 "SELECT state, count(*) AS count FROM events"
				 " GROUP BY state",
				 q);
	oldest = store_query_sql(s,
				 "SELECT target, min(created_at) AS created_at"
				 " FROM jobs WHERE state IN ('pending',"
				 " 'inflight') GROUP BY target",
				 q);
	if (o == NULL || jobs == NULL || events == NULL || oldest == NULL) {
		cJSON_Delete(o);
		cJSON_Delete(jobs);
		cJSON_Delete(events);
		cJSON_Delete(oldest);
		return NULL;
	}
	cJSON_AddItemToObject(o, "jobs", jobs);
	cJSON_AddItemToObject(o, "events", events);
	cJSON_AddItemToObject(o, "oldest_pending", oldest);
	return o;
}

/* The hours of the overview: the current one and the 23 before it. */
#define STORE_Q_HOUR  "3600000"
#define STORE_Q_SINCE "((:now / " STORE_Q_HOUR " - 23) * " STORE_Q_HOUR ")"

static const char *const store_q_overview[][2] = {
    {"events_hour", "SELECT event_type, count(*) AS count FROM events"
		    " WHERE received_at > :now - " STORE_Q_HOUR
		    " GROUP BY event_type ORDER BY count DESC, event_type"},
    {"events_day", "SELECT event_type, count(*) AS count FROM events"
		   " WHERE received_at > :now - 24 * " STORE_Q_HOUR
		   " GROUP BY event_type ORDER BY count DESC, event_type"},
    {"events_timeline",
     "SELECT received_at / " STORE_Q_HOUR " * " STORE_Q_HOUR " AS hour,"
     " event_type, count(*) AS count FROM events"
     " WHERE received_at >= " STORE_Q_SINCE
     " GROUP BY hour, event_type ORDER BY hour, event_type"},
    {"jobs_timeline",
     "SELECT e.received_at / " STORE_Q_HOUR " * " STORE_Q_HOUR " AS hour,"
     " j.state, count(*) AS count FROM events e"
     " JOIN jobs j ON j.event_id = e.id"
     " WHERE e.received_at >= " STORE_Q_SINCE
     " GROUP BY hour, j.state ORDER BY hour, j.state"},
    {"jobs", "SELECT target, state, count(*) AS count FROM jobs"
	     " GROUP BY target, state ORDER BY target, state"},
    {"oldest_pending", "SELECT target, min(created_at) AS created_at"
		       " FROM jobs WHERE state IN ('pending', 'inflight')"
		       " GROUP BY target"},
};

static cJSON *
store_query_overview(struct store_sqlite *s, const struct store_query *q)
{
	cJSON *o = cJSON_CreateObject(), *a;
	size_t i;

	if (o == NULL || !cJSON_AddNumberToObject(o, "now", (double)q->now_ms))
		goto fail;
	for (i = 0; i < sizeof(store_q_overview) / sizeof(store_q_overview[0]);
	     i++) {
		if ((a = store_query_sql(s, store_q_overview[i][1], q)) == NULL)
			goto fail;
		cJSON_AddItemToObject(o, store_q_overview[i][0], a);
	}
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}

int
store_sqlite_query(struct store *sto, const struct store_query *q, cJSON **out,
		   char *err, size_t errlen)
{
	struct store_sqlite *s = (struct store_sqlite *)sto;
	int rc = 0;

	*out = NULL;
	switch (q->kind) {
	case STORE_Q_EVENTS:
		*out = store_query_sql(s, store_q_events, q);
		break;
	case STORE_Q_JOBS:
		*out = store_query_sql(s, store_q_jobs, q);
		break;
	case STORE_Q_EVENT:
		rc = store_query_event(s, q, out);
		break;
	case STORE_Q_JOB:
		rc = store_query_job(s, q, out);
		break;
	case STORE_Q_STATS:
		*out = store_query_stats(s, q);
		break;
	case STORE_Q_TARGETS:
		*out = store_query_sql(s,
				       "SELECT name, reason, since FROM"
				       " targets_state WHERE disabled = 1",
				       q);
		break;
	case STORE_Q_UNMAPPED:
		*out =
		    store_query_sql(s,
				    "SELECT customer_id, count(*) AS jobs"
				    " FROM jobs WHERE state = 'held'"
				    " GROUP BY customer_id ORDER BY jobs DESC",
				    q);
		break;
	case STORE_Q_TICKETS:
		*out = store_query_sql(
		    s,
		    "SELECT target, correlate, ticket_id, state, updated_at"
		    " FROM tickets WHERE (:state IS NULL OR state = :state)"
		    " AND (:target IS NULL OR target = :target)"
		    " ORDER BY updated_at DESC LIMIT :limit",
		    q);
		break;
	case STORE_Q_WAITING:
		/* from the state index: finished jobs are not read */
		*out = store_query_sql(s,
				       "SELECT target, state, count(*) AS count"
				       " FROM jobs WHERE state IN ('pending',"
				       " 'held') GROUP BY target, state",
				       q);
		break;
	case STORE_Q_OVERVIEW:
		*out = store_query_overview(s, q);
		break;
	}
	if (rc == -1 || (*out == NULL && q->kind != STORE_Q_EVENT &&
			 q->kind != STORE_Q_JOB)) {
		store_sqlite_error(s->db, "answering a query", err, errlen);
		return -1;
	}
	return 0;
}
