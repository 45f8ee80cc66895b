/*
 * Unit tests for src/commit.c: group commit on its own thread, answers on
 * the loop thread, draining before shutdown.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>
#include <pthread.h>

#include "psabridge/commit.h"
#include "psabridge/store.h"

#define NITEMS 100

struct fixture {
	char dir[64];
	struct store *st;
	struct event_base *base;
	struct commit *c;
	struct commit_item items[NITEMS];
	char bodies[NITEMS][128];
	int done, drained;
	pthread_t loop_thread;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/psabridge-commit-XXXXXX");
	if (mkdtemp(f->dir) == NULL ||
	    store_open(NULL, f->dir, 24 * 3600 * 1000LL, &f->st, err,
		       sizeof(err)) == -1 ||
	    (f->base = event_base_new()) == NULL ||
	    (f->c = commit_new(f->base, f->st, err, sizeof(err))) == NULL)
		return -1;
	f->loop_thread = pthread_self();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	commit_free(f->c);
	store_close(f->st);
	event_base_free(f->base);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static void
item_done(struct commit_item *item, void *arg)
{
	struct fixture *f = arg;

	(void)item;
	/* answers must come back on the loop thread */
	assert_true(pthread_equal(pthread_self(), f->loop_thread));
	f->done++;
}

static void
drained(void *arg)
{
	struct fixture *f = arg;

	f->drained++;
	event_base_loopbreak(f->base);
}

static void
submit(struct fixture *f, int i, const char *body)
{
	struct commit_item *it = &f->items[i];

	memset(it, 0, sizeof(*it));
	/* body is the payload; the envelope around it makes it a callback */
	snprintf(f->bodies[i], sizeof(f->bodies[i]),
		 "{\"event\":\"Agent.Create\",\"time\":1,\"payload\":%s}",
		 body);
	it->ev.source = "defensx";
	it->ev.received_ms = 1000;
	it->ev.body = f->bodies[i];
	it->ev.body_len = strlen(f->bodies[i]);
	it->ev.dedup_window_ms = 60000;
	it->done = item_done;
	it->arg = f;
	commit_submit(f->c, it);
}

static void
one_loop_turn_is_one_transaction(void **state)
{
	struct fixture *f = *state;
	struct commit_stats stats;
	char body[32];
	int i;

	for (i = 0; i < NITEMS; i++) {
		snprintf(body, sizeof(body), "{\"n\":%d}", i);
		submit(f, i, body);
	}
	commit_drain(f->c, drained, f);
	event_base_dispatch(f->base);
	assert_int_equal(f->done, NITEMS);
	assert_int_equal(f->drained, 1);
	commit_get_stats(f->c, &stats);
	assert_int_equal(stats.batches, 1);
	assert_int_equal(stats.events, NITEMS);
	for (i = 0; i < NITEMS; i++)
		assert_int_equal(f->items[i].ev.outcome, STORE_STORED);
}

static void
the_thread_hashes_bodies_so_duplicates_are_found(void **state)
{
	struct fixture *f = *state;

	submit(f, 0, "{\"same\":true}");
	submit(f, 1, "{\"same\":true}");
	submit(f, 2, "{\"other\":true}");
	commit_drain(f->c, drained, f);
	event_base_dispatch(f->base);
	assert_int_equal(f->items[0].ev.outcome, STORE_STORED);
	assert_int_equal(f->items[1].ev.outcome, STORE_DUPLICATE);
	assert_string_equal(f->items[1].ev.id, f->items[0].ev.id);
	assert_int_equal(f->items[2].ev.outcome, STORE_STORED);
}

static void
drain_with_nothing_queued_calls_back_at_once(void **state)
{
	struct fixture *f = *state;

	commit_drain(f->c, drained, f);
	assert_int_equal(f->drained, 1);
}

static void
a_healthy_store_reports_healthy(void **state)
{
	struct fixture *f = *state;
	char err[256];

	assert_int_equal(commit_health(f->c, err, sizeof(err)), 0);
}

static void
an_invalid_body_is_rejected_and_nothing_is_committed(void **state)
{
	struct fixture *f = *state;
	struct commit_stats stats;

	submit(f, 0, "[1,2]"); /* payload must be an object */
	commit_drain(f->c, drained, f);
	event_base_dispatch(f->base);
	assert_int_equal(f->items[0].ev.outcome, STORE_REJECTED);
	assert_non_null(strstr(f->items[0].reject, "payload"));
	commit_get_stats(f->c, &stats);
	assert_int_equal(stats.batches, 0);
}

static void
the_thread_reads_type_and_time_from_the_body(void **state)
{
	struct fixture *f = *state;

	submit(f, 0, "{}");
	commit_drain(f->c, drained, f);
	event_base_dispatch(f->base);
	assert_int_equal(f->items[0].ev.outcome, STORE_STORED);
	assert_string_equal(f->items[0].ev.event_type, "Agent.Create");
	assert_int_equal(f->items[0].ev.vendor_time, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(one_loop_turn_is_one_transaction,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		the_thread_hashes_bodies_so_duplicates_are_found, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		drain_with_nothing_queued_calls_back_at_once, setup, teardown),
	    cmocka_unit_test_setup_teardown(a_healthy_store_reports_healthy,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		an_invalid_body_is_rejected_and_nothing_is_committed, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		the_thread_reads_type_and_time_from_the_body, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
