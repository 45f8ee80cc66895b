/* Unit tests for the store front and its SQLite backend. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "psabridge/store.h"
#include "store-sqlite-internal.h"

struct fixture {
	char dir[64];
	struct store *st;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/psabridge-store-XXXXXX");
	if (mkdtemp(f->dir) == NULL ||
	    store_open(NULL, f->dir, 24 * 3600 * 1000LL, &f->st, err,
		       sizeof(err)) == -1)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	store_close(f->st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
event_init(struct store_event *ev, const char *body, int64_t ms)
{
	memset(ev, 0, sizeof(*ev));
	ev->source = "defensx";
	ev->event_type = "Agent.Create";
	ev->vendor_time = 1677237885;
	ev->received_ms = ms;
	ev->body = body;
	ev->body_len = strlen(body);
	ev->dedup_window_ms = 60 * 1000;
	/* the hash only has to tell bodies apart here */
	memset(ev->hash, 0, sizeof(ev->hash));
	memcpy(ev->hash, body,
	       strlen(body) < sizeof(ev->hash) ? strlen(body)
					       : sizeof(ev->hash));
}

static int
count_events(struct fixture *f)
{
	char path[128];
	sqlite3 *db;
	sqlite3_stmt *st;
	int n = -1;

	snprintf(path, sizeof(path), "%s/psabridge.db", f->dir);
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM events",
					    -1, &st, NULL),
			 SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

static void
append_stores_each_event_with_a_uuidv7(void **state)
{
	struct fixture *f = *state;
	struct store_event a, b, *evs[] = {&a, &b};
	char err[256];

	event_init(&a, "{\"a\":1}", 1000000);
	event_init(&b, "{\"b\":2}", 1000001);
	assert_int_equal(store_append(f->st, evs, 2, err, sizeof(err)), 0);
	assert_int_equal(a.outcome, STORE_STORED);
	assert_int_equal(b.outcome, STORE_STORED);
	assert_int_equal(strlen(a.id), STORE_ID_LEN);
	assert_int_equal(a.id[14], '7'); /* version nibble */
	assert_string_not_equal(a.id, b.id);
	assert_int_equal(count_events(f), 2);
}

static void
same_body_within_the_window_is_a_duplicate_of_the_first(void **state)
{
	struct fixture *f = *state;
	struct store_event a, b, c, *evs[1];
	char err[256];

	event_init(&a, "{\"same\":1}", 1000000);
	evs[0] = &a;
	assert_int_equal(store_append(f->st, evs, 1, err, sizeof(err)), 0);
	event_init(&b, "{\"same\":1}", 1000000 + 59 * 1000);
	evs[0] = &b;
	assert_int_equal(store_append(f->st, evs, 1, err, sizeof(err)), 0);
	assert_int_equal(b.outcome, STORE_DUPLICATE);
	assert_string_equal(b.id, a.id);
	/* past the window it is a new event */
	event_init(&c, "{\"same\":1}", 1000000 + 61 * 1000);
	evs[0] = &c;
	assert_int_equal(store_append(f->st, evs, 1, err, sizeof(err)), 0);
	assert_int_equal(c.outcome, STORE_STORED);
	assert_string_not_equal(c.id, a.id);
	assert_int_equal(count_events(f), 2);
}

static void
duplicates_inside_one_batch_are_stored_once(void **state)
{
	struct fixture *f = *state;
	struct store_event a, b, *evs[] = {&a, &b};
	char err[256];

	event_init(&a, "{\"x\":1}", 5000);
	event_init(&b, "{\"x\":1}", 5001);
	assert_int_equal(store_append(f->st, evs, 2, err, sizeof(err)), 0);
	assert_int_equal(a.outcome, STORE_STORED);
	assert_int_equal(b.outcome, STORE_DUPLICATE);
	assert_string_equal(a.id, b.id);
	assert_int_equal(count_events(f), 1);
}

static void
a_zero_window_never_deduplicates(void **state)
{
	struct fixture *f = *state;
	struct store_event a, b, *evs[] = {&a, &b};
	char err[256];

	event_init(&a, "{\"x\":1}", 5000);
	event_init(&b, "{\"x\":1}", 5001);
	a.dedup_window_ms = b.dedup_window_ms = 0;
	assert_int_equal(store_append(f->st, evs, 2, err, sizeof(err)), 0);
	assert_int_equal(b.outcome, STORE_STORED);
	assert_int_equal(count_events(f), 2);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
reopen(struct fixture *f, int64_t horizon_ms)
{
	char err[256];

	store_close(f->st);
	assert_int_equal(
	    store_open("sqlite", f->dir, horizon_ms, &f->st, err, sizeof(err)),
	    0);
}

static void
events_and_their_dedup_survive_reopening(void **state)
{
	struct fixture *f = *state;
	struct store_event a, b, *evs[1] = {&a};
	char err[256];
	int64_t t = now_ms();

	event_init(&a, "{\"keep\":1}", t - 1000);
	assert_int_equal(store_append(f->st, evs, 1, err, sizeof(err)), 0);
	reopen(f, 60 * 1000);
	event_init(&b, "{\"keep\":1}", t);
	evs[0] = &b;
	assert_int_equal(store_append(f->st, evs, 1, err, sizeof(err)), 0);
	assert_int_equal(b.outcome, STORE_DUPLICATE);
	assert_string_equal(b.id, a.id);
}

static void
reopening_forgets_events_older_than_the_horizon(void **state)
{
	struct fixture *f = *state;
	struct store_event a, b, *evs[1] = {&a};
	char err[256];
	int64_t t = now_ms();

	event_init(&a, "{\"old\":1}", t - 120 * 1000);
	a.dedup_window_ms = 600 * 1000;
	assert_int_equal(store_append(f->st, evs, 1, err, sizeof(err)), 0);
	reopen(f, 60 * 1000);
	event_init(&b, "{\"old\":1}", t);
	b.dedup_window_ms = 600 * 1000;
	evs[0] = &b;
	assert_int_equal(store_append(f->st, evs, 1, err, sizeof(err)), 0);
	assert_int_equal(b.outcome, STORE_STORED);
	assert_int_equal(count_events(f), 2);
}

static void
a_store_from_a_newer_psabridge_is_refused(void **state)
{
	struct fixture *f = *state;
	char path[128], err[256];
	sqlite3 *db;

	store_close(f->st);
	f->st = NULL;
	snprintf(path, sizeof(path), "%s/psabridge.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(db, "PRAGMA user_version = 999", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_open(NULL, f->dir, 24 * 3600 * 1000LL, &f->st,
				    err, sizeof(err)),
			 -1);
	assert_non_null(strstr(err, "newer"));
}

/*
 * Taking a few due jobs must read them in seq order from an index, not sort
 * every due job first: with a long queue (a target back after an outage)
 * the sort made each take cost milliseconds.  And whether an earlier job
 * of the same key is unfinished must be one index probe, not a walk over
 * every finished job of that key: with thousands of events under one key
 * a take held the write lock for seconds and ingest answered 503.
 */
static void
taking_due_jobs_sorts_nothing(void **state)
{
	struct fixture *f = *state;
	char path[128], *sql, plan[1024] = "";
	sqlite3_stmt *st;
	sqlite3 *db;
	size_t n = 0;

	snprintf(path, sizeof(path), "%s/psabridge.db", f->dir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sql =
	    sqlite3_mprintf("EXPLAIN QUERY PLAN %s", store_sqlite_jobs_due_sql);
	assert_non_null(sql);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	while (sqlite3_step(st) == SQLITE_ROW)
		n += (size_t)snprintf(plan + n, sizeof(plan) - n, "%s\n",
				      (const char *)sqlite3_column_text(st, 3));
	sqlite3_finalize(st);
	sqlite3_free(sql);
	sqlite3_close(db);
	assert_non_null(strstr(plan, "SEARCH j USING INDEX jobs_take"));
	assert_non_null(
	    strstr(plan, "SEARCH p USING COVERING INDEX jobs_open"));
	assert_null(strstr(plan, "TEMP B-TREE"));
}

static void
unknown_backend_is_an_error(void **state)
{
	struct fixture *f = *state;
	struct store *st = NULL;
	char err[256];

	assert_int_equal(store_open("postgres", f->dir, 24 * 3600 * 1000LL, &st,
				    err, sizeof(err)),
			 -1);
	assert_null(st);
	assert_non_null(strstr(err, "postgres"));
}

static void
a_failed_batch_marks_every_event_failed_and_stores_nothing(void **state)
{
	struct fixture *f = *state;
	struct store_event a, b, *evs[] = {&a, &b};
	char err[256] = "";

	event_init(&a, "{\"ok\":1}", 9000);
	event_init(&b, "{\"bad\":1}", 9001);
	b.event_type = NULL; /* NOT NULL constraint: the insert fails */
	b.dedup_window_ms = 0;
	assert_int_equal(store_append(f->st, evs, 2, err, sizeof(err)), -1);
	assert_int_equal(a.outcome, STORE_FAILED);
	assert_int_equal(b.outcome, STORE_FAILED);
	assert_true(strlen(err) > 0);
	assert_int_equal(count_events(f), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		append_stores_each_event_with_a_uuidv7, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		same_body_within_the_window_is_a_duplicate_of_the_first, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		duplicates_inside_one_batch_are_stored_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_zero_window_never_deduplicates,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		events_and_their_dedup_survive_reopening, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		reopening_forgets_events_older_than_the_horizon, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		a_store_from_a_newer_psabridge_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(taking_due_jobs_sorts_nothing,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(unknown_backend_is_an_error, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		a_failed_batch_marks_every_event_failed_and_stores_nothing,
		setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
