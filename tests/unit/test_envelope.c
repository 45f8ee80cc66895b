/* Unit tests for src/envelope.c: what a callback body must look like. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "psabridge/envelope.h"

static int
parse(const char *body, size_t len, struct envelope *env)
{
	char err[160];

	return envelope_parse(body, len, env, err, sizeof(err));
}

static int
parse_str(const char *body)
{
	struct envelope env;

	return parse(body, strlen(body), &env);
}

static char *
read_fixture(const char *name, size_t *len)
{
	char path[1024];
	char *buf;
	FILE *fp;
	long n;

	snprintf(path, sizeof(path), "%s/defensx/%s",
		 getenv("PSABRIDGE_TEST_DATA"), name);
	assert_non_null(fp = fopen(path, "rb"));
	fseek(fp, 0, SEEK_END);
	n = ftell(fp);
	rewind(fp);
	assert_non_null(buf = malloc((size_t)n));
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	fclose(fp);
	*len = (size_t)n;
	return buf;
}

static void
vendor_fixtures_are_accepted(void **state)
{
	static const struct {
		const char *file, *event;
		int64_t time;
	} cases[] = {
	    {"agent-create.json", "Agent.Create", 1677237885},
	    {"agent-uninstall.json", "Agent.Uninstall", 1677324285},
	    {"agent-reinstall.json", "Agent.Reinstall", 1677324285},
	    {"agent-delete.json", "Agent.Delete", 1677324285},
	    {"userrequest-create.json", "UserRequest.Create", 1677241081},
	};
	struct envelope env;
	size_t i, len;
	char *body;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		body = read_fixture(cases[i].file, &len);
		assert_int_equal(parse(body, len, &env), 0);
		assert_string_equal(env.event, cases[i].event);
		assert_int_equal(env.time, cases[i].time);
		free(body);
	}
}

static void
extra_members_are_allowed(void **state)
{
	(void)state;
	assert_int_equal(parse_str("{\"event\":\"X\",\"time\":1,"
				   "\"payload\":{},\"extra\":[1,2]}"),
			 0);
}

static void
missing_or_mistyped_members_are_rejected(void **state)
{
	static const char *bad[] = {
	    "{\"time\":1,\"payload\":{}}",
	    "{\"event\":\"X\",\"payload\":{}}",
	    "{\"event\":\"X\",\"time\":1}",
	    "{\"event\":1,\"time\":1,\"payload\":{}}",
	    "{\"event\":\"\",\"time\":1,\"payload\":{}}",
	    "{\"event\":\"X\",\"time\":\"1\",\"payload\":{}}",
	    "{\"event\":\"X\",\"time\":1.5,\"payload\":{}}",
	    "{\"event\":\"X\",\"time\":1e999,\"payload\":{}}",
	    "{\"event\":\"X\",\"time\":1,\"payload\":[]}",
	    "{\"event\":\"X\",\"time\":1,\"payload\":null}",
	    "{\"Event\":\"X\",\"time\":1,\"payload\":{}}",
	    "[1,2,3]",
	    "\"just a string\"",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse_str(bad[i]) != -1)
			fail_msg("accepted: %s", bad[i]);
	}
}

static void
duplicate_envelope_members_are_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse_str("{\"event\":\"A\",\"event\":\"B\","
				   "\"time\":1,\"payload\":{}}"),
			 -1);
}

static void
malformed_and_trailing_garbage_are_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse_str("{\"event\":\"X\",\"time\":1,"), -1);
	assert_int_equal(parse_str("{\"event\":\"X\",\"time\":1,"
				   "\"payload\":{}} garbage"),
			 -1);
	assert_int_equal(parse_str("{\"event\":\"X\",\"time\":1,"
				   "\"payload\":{}}{}"),
			 -1);
	assert_int_equal(parse_str(""), -1);
	/* whitespace after the object is fine */
	assert_int_equal(parse_str("{\"event\":\"X\",\"time\":1,"
				   "\"payload\":{}}\n"),
			 0);
}

static void
embedded_nul_is_rejected(void **state)
{
	static const char body[] = "{\"event\":\"X\",\"time\":1,"
				   "\"payload\":{}}\0{\"x\":1}";
	struct envelope env;

	(void)state;
	assert_int_equal(parse(body, sizeof(body) - 1, &env), -1);
}

static void
invalid_utf8_is_rejected(void **state)
{
	static const char *bad[] = {
	    "\xff",	    "\xc0\xaf",		"\xe0\x80\xaf",
	    "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc3",
	    "\xe2\x82",
	};
	char body[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(
		    body, sizeof(body),
		    "{\"event\":\"X\",\"time\":1,\"payload\":{\"a\":\"%s\"}}",
		    bad[i]);
		if (parse_str(body) != -1)
			fail_msg("accepted invalid UTF-8 case %zu", i);
	}
	/* é, €, 😀 */
	assert_int_equal(parse_str("{\"event\":\"X\",\"time\":1,\"payload\":"
				   "{\"a\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98"
				   "\x80\"}}"),
			 0);
}

static void
lone_surrogate_escape_is_rejected(void **state)
{
	(void)state;
	assert_int_equal(parse_str("{\"event\":\"X\",\"time\":1,"
				   "\"payload\":{\"a\":\"\\ud800\"}}"),
			 -1);
}

static void
deep_nesting_is_rejected_before_parsing(void **state)
{
	size_t depth = 10000, i, o = 0;
	char *body = malloc(2 * depth + 64);

	(void)state;
	assert_non_null(body);
	o += (size_t)sprintf(body, "{\"event\":\"X\",\"time\":1,\"payload\":");
	for (i = 0; i < depth; i++)
		body[o++] = '[';
	for (i = 0; i < depth; i++)
		body[o++] = ']';
	body[o++] = '}';
	body[o] = '\0';
	assert_int_equal(parse_str(body), -1);
	free(body);
}

static void
nesting_at_the_limit_is_accepted(void **state)
{
	char body[512];
	int i, o;

	(void)state;
	/* the envelope object is level 1, payload 2, then 62 arrays */
	o = sprintf(body, "{\"event\":\"X\",\"time\":1,\"payload\":{\"a\":");
	for (i = 0; i < ENVELOPE_MAX_DEPTH - 2; i++)
		body[o++] = '[';
	for (i = 0; i < ENVELOPE_MAX_DEPTH - 2; i++)
		body[o++] = ']';
	strcpy(body + o, "}}");
	assert_int_equal(parse_str(body), 0);
	/* one more level is too deep */
	o = sprintf(body, "{\"event\":\"X\",\"time\":1,\"payload\":{\"a\":");
	for (i = 0; i < ENVELOPE_MAX_DEPTH - 1; i++)
		body[o++] = '[';
	for (i = 0; i < ENVELOPE_MAX_DEPTH - 1; i++)
		body[o++] = ']';
	strcpy(body + o, "}}");
	assert_int_equal(parse_str(body), -1);
}

static void
brackets_inside_strings_do_not_count_as_nesting(void **state)
{
	char body[512];
	int i, o;

	(void)state;
	o = sprintf(body, "{\"event\":\"X\",\"time\":1,\"payload\":{\"a\":\"");
	for (i = 0; i < 200; i++)
		body[o++] = '[';
	strcpy(body + o, "\\\"\"}}");
	assert_int_equal(parse_str(body), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(vendor_fixtures_are_accepted),
	    cmocka_unit_test(extra_members_are_allowed),
	    cmocka_unit_test(missing_or_mistyped_members_are_rejected),
	    cmocka_unit_test(duplicate_envelope_members_are_rejected),
	    cmocka_unit_test(malformed_and_trailing_garbage_are_rejected),
	    cmocka_unit_test(embedded_nul_is_rejected),
	    cmocka_unit_test(invalid_utf8_is_rejected),
	    cmocka_unit_test(lone_surrogate_escape_is_rejected),
	    cmocka_unit_test(deep_nesting_is_rejected_before_parsing),
	    cmocka_unit_test(nesting_at_the_limit_is_accepted),
	    cmocka_unit_test(brackets_inside_strings_do_not_count_as_nesting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
