/* Unit tests for src/dedup.c: the in-memory index of recent events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/sha.h>

#include "psabridge/dedup.h"

static void
key(int n, unsigned char *hash, char *id)
{
	char text[32];

	snprintf(text, sizeof(text), "event-%d", n);
	SHA256((const unsigned char *)text, strlen(text), hash);
	snprintf(id, DEDUP_ID_LEN + 1, "%036d", n);
}

static void
an_added_event_is_found_within_its_window(void **state)
{
	struct dedup *d = dedup_new(60000);
	unsigned char h[32];
	char id[DEDUP_ID_LEN + 1], got[DEDUP_ID_LEN + 1];

	(void)state;
	key(1, h, id);
	assert_int_equal(dedup_find(d, "defensx", h, 0, got), 0);
	assert_int_equal(dedup_add(d, "defensx", h, id, 1000), 0);
	assert_int_equal(dedup_find(d, "defensx", h, 500, got), 1);
	assert_string_equal(got, id);
	/* outside the window asked for: not a duplicate */
	assert_int_equal(dedup_find(d, "defensx", h, 1001, got), 0);
	dedup_free(d);
}

static void
the_same_body_from_another_source_is_not_a_duplicate(void **state)
{
	struct dedup *d = dedup_new(60000);
	unsigned char h[32];
	char id[DEDUP_ID_LEN + 1], got[DEDUP_ID_LEN + 1];

	(void)state;
	key(1, h, id);
	dedup_add(d, "defensx", h, id, 1000);
	assert_int_equal(dedup_find(d, "other", h, 0, got), 0);
	dedup_free(d);
}

static void
a_newer_copy_replaces_the_entry(void **state)
{
	struct dedup *d = dedup_new(600000);
	unsigned char h[32];
	char id1[DEDUP_ID_LEN + 1], id2[DEDUP_ID_LEN + 1];
	char got[DEDUP_ID_LEN + 1];

	(void)state;
	key(1, h, id1);
	snprintf(id2, sizeof(id2), "%036d", 2); /* same body, a later id */
	dedup_add(d, "s", h, id1, 1000);
	dedup_add(d, "s", h, id2, 5000);
	assert_int_equal(dedup_count(d), 1);
	assert_int_equal(dedup_find(d, "s", h, 0, got), 1);
	assert_string_equal(got, id2);
	dedup_free(d);
}

static void
entries_older_than_the_horizon_are_evicted(void **state)
{
	struct dedup *d = dedup_new(10000);
	unsigned char h1[32], h2[32];
	char id1[DEDUP_ID_LEN + 1], id2[DEDUP_ID_LEN + 1];
	char got[DEDUP_ID_LEN + 1];

	(void)state;
	key(1, h1, id1);
	key(2, h2, id2);
	dedup_add(d, "s", h1, id1, 1000);
	dedup_add(d, "s", h2, id2, 20000); /* 1000 is now out of the horizon */
	assert_int_equal(dedup_count(d), 1);
	assert_int_equal(dedup_find(d, "s", h1, 0, got), 0);
	assert_int_equal(dedup_find(d, "s", h2, 0, got), 1);
	dedup_free(d);
}

static void
every_entry_stays_findable_while_the_table_grows(void **state)
{
	struct dedup *d = dedup_new(INT64_MAX / 2);
	unsigned char h[32];
	char id[DEDUP_ID_LEN + 1], got[DEDUP_ID_LEN + 1];
	int i, n = 200000;

	(void)state;
	for (i = 0; i < n; i++) {
		key(i, h, id);
		assert_int_equal(dedup_add(d, "s", h, id, i), 0);
		/* mid-rehash lookups see both the moved and unmoved halves */
		if (i % 997 == 0) {
			key(i / 2, h, id);
			assert_int_equal(dedup_find(d, "s", h, 0, got), 1);
			assert_string_equal(got, id);
		}
	}
	assert_int_equal(dedup_count(d), (size_t)n);
	for (i = 0; i < n; i++) {
		key(i, h, id);
		assert_int_equal(dedup_find(d, "s", h, 0, got), 1);
		assert_string_equal(got, id);
	}
	dedup_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(an_added_event_is_found_within_its_window),
	    cmocka_unit_test(
		the_same_body_from_another_source_is_not_a_duplicate),
	    cmocka_unit_test(a_newer_copy_replaces_the_entry),
	    cmocka_unit_test(entries_older_than_the_horizon_are_evicted),
	    cmocka_unit_test(every_entry_stays_findable_while_the_table_grows),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
