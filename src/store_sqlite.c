/*
 * SQLite backend of the store.
 *
 * Durability: journal_mode=WAL with synchronous=FULL, set on every
 * connection, so a COMMIT returns only after the WAL is on disk.  One
 * connection, used by the commit thread only (SQLITE_OPEN_NOMUTEX).
 *
 * Schema changes are forward migrations numbered by PRAGMA user_version:
 * store_sqlite_migrations[i] takes a database from version i to i + 1.
 * Never edit a released entry; append a new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "psabridge/dedup.h"
#include "psabridge/store.h"
#include "store-sqlite-internal.h"

#define STORE_SQLITE_LOCK "psabridge.lock"

extern const struct store_ops store_sqlite_ops;

static const char *const store_sqlite_migrations[] = {
    /* 0 -> 1: events */
    "CREATE TABLE events ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  source TEXT NOT NULL,"
    "  event_type TEXT NOT NULL,"
    "  vendor_time INTEGER NOT NULL,"
    "  received_at INTEGER NOT NULL,"
    "  body TEXT NOT NULL,"
    "  body_hash BLOB NOT NULL,"
    "  state TEXT NOT NULL DEFAULT 'received');"
    "CREATE INDEX events_received ON events (received_at);"
    "CREATE TABLE jobs ("
    "  seq INTEGER PRIMARY KEY,"
    "  id TEXT NOT NULL UNIQUE,"
    "  event_id TEXT NOT NULL REFERENCES events (id),"
    "  rule TEXT NOT NULL,"
    "  target TEXT NOT NULL,"
    "  action TEXT NOT NULL,"
    "  template TEXT,"
    "  correlate TEXT,"
    "  customer_id TEXT,"
    "  state TEXT NOT NULL,"
    "  created_at INTEGER NOT NULL);"
    "CREATE INDEX jobs_event ON jobs (event_id);"
    "CREATE INDEX jobs_state ON jobs (state, seq);",
    /* 1 -> 2: delivery: attempts, retry times, disabled targets */
    "ALTER TABLE jobs ADD COLUMN attempts INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN next_at INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN last_status INTEGER;"
    "ALTER TABLE jobs ADD COLUMN last_error TEXT;"
    "ALTER TABLE jobs ADD COLUMN ticket_id TEXT;"
    "ALTER TABLE jobs ADD COLUMN finished_at INTEGER;"
    "CREATE INDEX jobs_due ON jobs (target, state, next_at);"
    "CREATE INDEX jobs_key ON jobs (target, correlate, seq);"
    "CREATE TABLE attempts ("
    "  seq INTEGER PRIMARY KEY,"
    "  job_id TEXT NOT NULL,"
    "  started_at INTEGER NOT NULL,"
    "  duration_ms INTEGER NOT NULL,"
    "  status INTEGER,"
    "  error TEXT,"
    "  response TEXT,"
    "  outcome TEXT NOT NULL);"
    "CREATE INDEX attempts_job ON attempts (job_id);"
    "CREATE TABLE targets_state ("
    "  name TEXT PRIMARY KEY,"
    "  disabled INTEGER NOT NULL,"
    "  reason TEXT,"
    "  since INTEGER);",
    /*
     * 2 -> 3: take due jobs in seq order straight from an index (the range
     * on next_at made SQLite sort every due job to return a few), and find
     * a key's unfinished jobs without reading its finished ones (many
     * events under one key made each take cost O(jobs of that key)).
     */
    "DROP INDEX jobs_due;"
    "CREATE INDEX jobs_take ON jobs (target, state, seq, next_at);"
    "CREATE INDEX jobs_open ON jobs (target, correlate, state, seq);",
    /*
     * 3 -> 4: the ticket lifecycle.  A job's action options (flags, see
     * store.h), and which ticket each (target, correlation key) has: the
     * one a create opened, until a close closes it.
     */
    "ALTER TABLE jobs ADD COLUMN flags INTEGER NOT NULL DEFAULT 0;"
    "CREATE TABLE tickets ("
    "  target TEXT NOT NULL,"
    "  correlate TEXT NOT NULL,"
    "  ticket_id TEXT NOT NULL,"
    "  state TEXT NOT NULL,"
    "  updated_at INTEGER NOT NULL,"
    "  PRIMARY KEY (target, correlate)) WITHOUT ROWID;",
};

#define STORE_SQLITE_VERSION                                                   \
	(int)(sizeof(store_sqlite_migrations) /                                \
	      sizeof(store_sqlite_migrations[0]))

/*
 * One writer at a time among this process's connections (ingest's and
 * delivery's).  SQLite alone would make the second writer poll, sleeping up
 * to 100 ms between tries: a connection writing short transactions back to
 * back (delivery draining a fast target) then starves the other for
 * seconds, and ingest answers 503.  A mutex wakes the waiter on release.
 * Taken around every explicit write transaction, never nested.
 */
static pthread_mutex_t store_sqlite_writer = PTHREAD_MUTEX_INITIALIZER;

void
store_sqlite_write_lock(void)
{
	pthread_mutex_lock(&store_sqlite_writer);
}

void
store_sqlite_write_unlock(void)
{
	pthread_mutex_unlock(&store_sqlite_writer);
}

void
store_sqlite_error(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s (sqlite error %d)", what,
		 db ? sqlite3_errmsg(db) : "out of memory",
		 db ? sqlite3_extended_errcode(db) : SQLITE_NOMEM);
}

int
store_sqlite_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		store_sqlite_error(db, sql, err, errlen);
		return -1;
	}
	return 0;
}

static int
store_sqlite_user_version(sqlite3 *db, int *version)
{
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*version = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

static int
store_sqlite_migrate(sqlite3 *db, char *err, size_t errlen)
{
	char sql[64];
	int v;

	if (store_sqlite_user_version(db, &v) == -1) {
		store_sqlite_error(db, "reading the schema version", err,
				   errlen);
		return -1;
	}
	if (v > STORE_SQLITE_VERSION) {
		snprintf(err, errlen,
			 "the store has schema version %d, newer than this "
			 "psabridge knows (%d): run the newer psabridge",
			 v, STORE_SQLITE_VERSION);
		return -1;
	}
	for (; v < STORE_SQLITE_VERSION; v++) {
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (store_sqlite_exec(db, "BEGIN IMMEDIATE", err, errlen) ==
			-1 ||
		    store_sqlite_exec(db, store_sqlite_migrations[v], err,
				      errlen) == -1 ||
		    store_sqlite_exec(db, sql, err, errlen) == -1 ||
		    store_sqlite_exec(db, "COMMIT", err, errlen) == -1) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return -1;
		}
	}
	return 0;
}

static int
store_sqlite_prepare(struct store_sqlite *s, char *err, size_t errlen)
{
	static const struct {
		size_t offset;
		const char *sql;
	} stmts[] = {
	    {offsetof(struct store_sqlite, begin), "BEGIN IMMEDIATE"},
	    {offsetof(struct store_sqlite, commit), "COMMIT"},
	    {offsetof(struct store_sqlite, rollback), "ROLLBACK"},
	    {offsetof(struct store_sqlite, insert),
	     "INSERT INTO events (id, source, event_type, vendor_time,"
	     " received_at, body, body_hash, state)"
	     " VALUES (?,?,?,?,?,?,?,?)"},
	    {offsetof(struct store_sqlite, insert_job),
	     "INSERT INTO jobs (id, event_id, rule, target, action,"
	     " template, correlate, customer_id, state, created_at, flags)"
	     " VALUES (?,?,?,?,?,?,?,?,?,?,?)"},
	};
	size_t i;

	for (i = 0; i < sizeof(stmts) / sizeof(stmts[0]); i++) {
		sqlite3_stmt **slot =
		    (sqlite3_stmt **)((char *)s + stmts[i].offset);

		if (sqlite3_prepare_v3(s->db, stmts[i].sql, -1,
				       SQLITE_PREPARE_PERSISTENT, slot,
				       NULL) != SQLITE_OK) {
			store_sqlite_error(s->db, "preparing a statement", err,
					   errlen);
			return -1;
		}
	}
	return 0;
}

static void
store_sqlite_close(struct store *st)
{
	struct store_sqlite *s = (struct store_sqlite *)st;

	if (s == NULL)
		return;
	sqlite3_finalize(s->begin);
	sqlite3_finalize(s->commit);
	sqlite3_finalize(s->rollback);
	sqlite3_finalize(s->insert);
	sqlite3_finalize(s->insert_job);
	dedup_free(s->dedup);
	sqlite3_close(s->db);
	if (s->lock_fd != -1)
		close(s->lock_fd);
	free(s);
}

/*
 * Two daemons on one store would each deliver every job: refuse to start
 * the second.  The lock goes away with the process, even after kill -9.
 */
static int
store_sqlite_lock(struct store_sqlite *s, const char *state_dir, char *err,
		  size_t errlen)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", state_dir, STORE_SQLITE_LOCK);
	s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd == -1) {
		snprintf(err, errlen, "opening %s: %s", path, strerror(errno));
		return -1;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) == -1) {
		snprintf(err, errlen,
			 "%s is in use by another psabridge (%s is locked)",
			 state_dir, path);
		return -1;
	}
	return 0;
}

/* Refills the dedup index from the events within the horizon. */
static int
store_sqlite_load_dedup(struct store_sqlite *s, int64_t horizon_ms, char *err,
			size_t errlen)
{
	sqlite3_stmt *st;
	struct timespec now;
	int rc;

	clock_gettime(CLOCK_REALTIME, &now);
	if ((s->dedup = dedup_new(horizon_ms)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (sqlite3_prepare_v2(s->db,
			       "SELECT source, body_hash, id, received_at"
			       " FROM events WHERE received_at >= ?"
			       " ORDER BY received_at",
			       -1, &st, NULL) != SQLITE_OK) {
		store_sqlite_error(s->db, "loading recent events", err, errlen);
		return -1;
	}
	sqlite3_bind_int64(st, 1, (int64_t)now.tv_sec * 1000 - horizon_ms);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *src = (const char *)sqlite3_column_text(st, 0);
		const char *id = (const char *)sqlite3_column_text(st, 2);

		if (src == NULL || id == NULL ||
		    sqlite3_column_bytes(st, 1) != STORE_HASH_LEN ||
		    strlen(id) != STORE_ID_LEN)
			continue;
		dedup_add(s->dedup, src, sqlite3_column_blob(st, 1), id,
			  sqlite3_column_int64(st, 3));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		store_sqlite_error(s->db, "loading recent events", err, errlen);
		return -1;
	}
	return 0;
}

/*
 * secondary: a second connection to an open store, for the delivery and
 * admin thread: no lock (the daemon holds it), no migration, no dedup.
 */
static int
store_sqlite_open_as(struct store **out, const char *state_dir,
		     int64_t dedup_horizon_ms, int secondary, char *err,
		     size_t errlen)
{
	struct store_sqlite *s = NULL;
	char *path = NULL;
	int ret = -1;

	*out = NULL;
	if (mkdir(state_dir, 0700) == -1 && errno != EEXIST) {
		snprintf(err, errlen, "creating the state directory %s: %s",
			 state_dir, strerror(errno));
		goto out;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	s->base.ops = &store_sqlite_ops;
	s->lock_fd = -1;
	if ((path = sqlite3_mprintf("%s/%s", state_dir, STORE_SQLITE_FILE)) ==
	    NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!secondary && store_sqlite_lock(s, state_dir, err, errlen) == -1)
		goto out;
	if (sqlite3_open_v2(path, &s->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		snprintf(err, errlen, "opening %s: %s", path,
			 s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(s->db, 2000);
	if (store_sqlite_exec(s->db, "PRAGMA journal_mode = WAL", err,
			      errlen) == -1 ||
	    store_sqlite_exec(s->db, "PRAGMA synchronous = FULL", err,
			      errlen) == -1 ||
	    (!secondary && store_sqlite_migrate(s->db, err, errlen) == -1) ||
	    store_sqlite_prepare(s, err, errlen) == -1 ||
	    (!secondary &&
	     store_sqlite_load_dedup(s, dedup_horizon_ms, err, errlen) == -1))
		goto out;
	*out = &s->base;
	s = NULL;
	ret = 0;
out:
	store_sqlite_close(s ? &s->base : NULL);
	sqlite3_free(path);
	return ret;
}

static int
store_sqlite_open(struct store **out, const char *state_dir,
		  int64_t dedup_horizon_ms, char *err, size_t errlen)
{
	return store_sqlite_open_as(out, state_dir, dedup_horizon_ms, 0, err,
				    errlen);
}

static int
store_sqlite_open_secondary(struct store **out, const char *state_dir,
			    char *err, size_t errlen)
{
	return store_sqlite_open_as(out, state_dir, 0, 1, err, errlen);
}

int
store_sqlite_step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
store_sqlite_insert(struct store_sqlite *s, struct store_event *ev)
{
	sqlite3_stmt *st = s->insert;
	int ret;

	if (store_new_id(ev->received_ms, ev->id) == -1)
		return -1;
	sqlite3_bind_text(st, 1, ev->id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ev->source, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, ev->event_type, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, ev->vendor_time);
	sqlite3_bind_int64(st, 5, ev->received_ms);
	sqlite3_bind_text(st, 6, ev->body, (int)ev->body_len, SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, ev->hash, STORE_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, ev->state ? ev->state : "received", -1,
			  SQLITE_STATIC);
	ret = store_sqlite_step_done(st);
	sqlite3_clear_bindings(st);
	return ret;
}

int
store_sqlite_insert_job(struct store_sqlite *s, const char *event_id,
			struct store_job *job, int64_t created_ms)
{
	sqlite3_stmt *st = s->insert_job;
	int ret;

	if (store_new_id(created_ms, job->id) == -1)
		return -1;
	sqlite3_bind_text(st, 1, job->id, STORE_ID_LEN, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, event_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, job->rule, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, job->target, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, job->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, job->template, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, job->correlate, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, job->customer_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, job->held ? "held" : "pending", -1,
			  SQLITE_STATIC);
	sqlite3_bind_int64(st, 10, created_ms);
	sqlite3_bind_int(st, 11, job->flags);
	ret = store_sqlite_step_done(st);
	sqlite3_clear_bindings(st);
	return ret;
}

/*
 * A copy of ev received within its window: in the index (committed
 * events) or earlier in this batch.  1 (ev->id set) or 0.
 */
static int
store_sqlite_is_dup(struct store_sqlite *s, struct store_event **evs, size_t i)
{
	struct store_event *ev = evs[i];
	size_t j;

	if (ev->dedup_window_ms <= 0)
		return 0;
	if (dedup_find(s->dedup, ev->source, ev->hash,
		       ev->received_ms - ev->dedup_window_ms, ev->id))
		return 1;
	for (j = 0; j < i; j++) {
		if (evs[j]->outcome == STORE_STORED &&
		    memcmp(evs[j]->hash, ev->hash, STORE_HASH_LEN) == 0 &&
		    strcmp(evs[j]->source, ev->source) == 0) {
			memcpy(ev->id, evs[j]->id, STORE_ID_LEN + 1);
			return 1;
		}
	}
	return 0;
}

static int
store_sqlite_append_one(struct store_sqlite *s, struct store_event **evs,
			size_t i)
{
	struct store_event *ev = evs[i];
	size_t k;

	if (store_sqlite_is_dup(s, evs, i)) {
		ev->outcome = STORE_DUPLICATE;
		return 0;
	}
	if (store_sqlite_insert(s, ev) == -1)
		return -1;
	for (k = 0; k < ev->njobs; k++) {
		if (store_sqlite_insert_job(s, ev->id, &ev->jobs[k],
					    ev->received_ms) == -1)
			return -1;
	}
	ev->outcome = STORE_STORED;
	return 0;
}

static int
store_sqlite_append_locked(struct store *st, struct store_event **evs, size_t n,
			   char *err, size_t errlen)
{
	struct store_sqlite *s = (struct store_sqlite *)st;
	size_t i;

	if (store_sqlite_step_done(s->begin) == -1) {
		store_sqlite_error(s->db, "BEGIN", err, errlen);
		goto fail;
	}
	for (i = 0; i < n; i++)
		evs[i]->outcome = STORE_FAILED;
	for (i = 0; i < n; i++) {
		if (store_sqlite_append_one(s, evs, i) == -1) {
			store_sqlite_error(s->db, "storing an event", err,
					   errlen);
			goto rollback;
		}
	}
	if (store_sqlite_step_done(s->commit) == -1) {
		store_sqlite_error(s->db, "COMMIT", err, errlen);
		goto rollback;
	}
	/* only what is on disk is known to the index */
	for (i = 0; i < n; i++) {
		if (evs[i]->outcome == STORE_STORED)
			dedup_add(s->dedup, evs[i]->source, evs[i]->hash,
				  evs[i]->id, evs[i]->received_ms);
	}
	return 0;
rollback:
	/* After some errors SQLite has already rolled back; that is fine. */
	if (sqlite3_get_autocommit(s->db) == 0)
		store_sqlite_step_done(s->rollback);
fail:
	for (i = 0; i < n; i++)
		evs[i]->outcome = STORE_FAILED;
	return -1;
}

static int
store_sqlite_ping(struct store *st, char *err, size_t errlen)
{
	struct store_sqlite *s = (struct store_sqlite *)st;
	int v;

	if (store_sqlite_user_version(s->db, &v) == -1) {
		store_sqlite_error(s->db, "reading the store", err, errlen);
		return -1;
	}
	return 0;
}

/* Collects the distinct customer ids of held jobs. */
static int
store_sqlite_held_ids(struct store_sqlite *s, char ***ids, size_t *n)
{
	sqlite3_stmt *st;
	char **p;
	int rc;

	*ids = NULL;
	*n = 0;
	if (sqlite3_prepare_v2(
		s->db,
		"SELECT DISTINCT customer_id FROM jobs WHERE state = 'held'"
		" AND customer_id IS NOT NULL",
		-1, &st, NULL) != SQLITE_OK)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);

		if ((p = realloc(*ids, (*n + 1) * sizeof(*p))) == NULL)
			break;
		*ids = p;
		if (((*ids)[*n] = strdup(id ? id : "")) == NULL)
			break;
		(*n)++;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int
store_sqlite_append(struct store *st, struct store_event **evs, size_t n,
		    char *err, size_t errlen)
{
	int rc;

	store_sqlite_write_lock();
	rc = store_sqlite_append_locked(st, evs, n, err, errlen);
	store_sqlite_write_unlock();
	return rc;
}

static int
store_sqlite_release_held_locked(
    struct store *sto, int (*mapped)(const char *customer_id, void *arg),
    void *arg, size_t *released, char *err, size_t errlen)
{
	struct store_sqlite *s = (struct store_sqlite *)sto;
	sqlite3_stmt *st = NULL;
	char **ids;
	size_t n, i;
	int ret = -1;

	*released = 0;
	if (store_sqlite_held_ids(s, &ids, &n) == -1 ||
	    store_sqlite_step_done(s->begin) == -1 ||
	    sqlite3_prepare_v2(
		s->db,
		"UPDATE jobs SET state = 'pending' WHERE state = 'held'"
		" AND customer_id = ?",
		-1, &st, NULL) != SQLITE_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (!mapped(ids[i], arg))
			continue;
		sqlite3_bind_text(st, 1, ids[i], -1, SQLITE_STATIC);
		if (store_sqlite_step_done(st) == -1)
			goto out;
		*released += (size_t)sqlite3_changes(s->db);
	}
	if (store_sqlite_step_done(s->commit) == -1)
		goto out;
	ret = 0;
out:
	if (ret == -1) {
		store_sqlite_error(s->db, "releasing held jobs", err, errlen);
		if (sqlite3_get_autocommit(s->db) == 0)
			store_sqlite_step_done(s->rollback);
	}
	sqlite3_finalize(st);
	for (i = 0; ids != NULL && i < n; i++)
		free(ids[i]);
	free(ids);
	return ret;
}

static int
store_sqlite_release_held(struct store *sto,
			  int (*mapped)(const char *customer_id, void *arg),
			  void *arg, size_t *released, char *err, size_t errlen)
{
	int rc;

	store_sqlite_write_lock();
	rc = store_sqlite_release_held_locked(sto, mapped, arg, released, err,
					      errlen);
	store_sqlite_write_unlock();
	return rc;
}

/*
 * The online backup API copies the pages under a read transaction, so
 * the copy is one consistent state even while the daemon commits; a busy
 * source is retried.  The destination is created 0600: it holds callbacks.
 */
static int
store_sqlite_backup(const char *state_dir, const char *dest, char *err,
		    size_t errlen)
{
	sqlite3 *src = NULL, *dst = NULL;
	sqlite3_backup *b = NULL;
	char *path = NULL;
	int fd, rc, ret = -1;

	if ((fd = open(dest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) ==
	    -1) {
		snprintf(err, errlen, "%s: %s", dest, strerror(errno));
		return -1;
	}
	close(fd);
	path = sqlite3_mprintf("%s/%s", state_dir, STORE_SQLITE_FILE);
	if (path == NULL ||
	    sqlite3_open_v2(path, &src, SQLITE_OPEN_READONLY, NULL) !=
		SQLITE_OK ||
	    sqlite3_open_v2(dest, &dst, SQLITE_OPEN_READWRITE, NULL) !=
		SQLITE_OK) {
		snprintf(err, errlen, "opening %s: %s", path ? path : "store",
			 src ? sqlite3_errmsg(src) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(src, 5000);
	if ((b = sqlite3_backup_init(dst, "main", src, "main")) == NULL) {
		store_sqlite_error(dst, "starting the backup", err, errlen);
		goto out;
	}
	/*
	 * All pages in one step, under one read transaction: in steps, a
	 * write by the daemon between them would restart the copy, forever
	 * under steady traffic.  WAL lets the daemon write meanwhile.
	 */
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY ||
	       rc == SQLITE_LOCKED)
		sqlite3_sleep(50);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "copying %s: %s", path,
			 sqlite3_errstr(rc));
		goto out;
	}
	ret = 0;
out:
	sqlite3_backup_finish(b);
	sqlite3_close(dst);
	sqlite3_close(src);
	sqlite3_free(path);
	if (ret == -1)
		unlink(dest);
	return ret;
}

const struct store_ops store_sqlite_ops = {
    .name = "sqlite",
    .open = store_sqlite_open,
    .append = store_sqlite_append,
    .ping = store_sqlite_ping,
    .release_held = store_sqlite_release_held,
    .backup = store_sqlite_backup,
    .open_secondary = store_sqlite_open_secondary,
    STORE_SQLITE_JOBS_OPS,
    .close = store_sqlite_close,
};
