/* Unit tests for src/log.c: untrusted values cannot forge log fields. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "psabridge/log.h"

static const char *
quote(const char *s, size_t max)
{
	static char buf[256];

	return log_quote(buf, sizeof(buf), s, strlen(s), max);
}

static void
plain_text_is_quoted(void **state)
{
	(void)state;
	assert_string_equal(quote("WIN10-4", 100), "\"WIN10-4\"");
}

static void
quotes_and_backslashes_are_escaped(void **state)
{
	(void)state;
	assert_string_equal(quote("a\"b\\c", 100), "\"a\\\"b\\\\c\"");
}

static void
newlines_and_control_bytes_cannot_start_a_new_line(void **state)
{
	(void)state;
	assert_string_equal(quote("x\nlevel=error\r\x01", 100),
			    "\"x\\x0alevel=error\\x0d\\x01\"");
}

static void
non_ascii_bytes_are_hex_escaped(void **state)
{
	(void)state;
	assert_string_equal(quote("\xc3\xa9", 100), "\"\\xc3\\xa9\"");
}

static void
long_values_are_cut_and_marked(void **state)
{
	(void)state;
	assert_string_equal(quote("abcdefghij", 4), "\"abcd...\"");
}

static void
a_small_buffer_still_gets_a_terminated_string(void **state)
{
	char buf[12];

	(void)state;
	log_quote(buf, sizeof(buf), "\n\n\n\n\n\n\n\n", 8, 100);
	assert_true(strlen(buf) < sizeof(buf));
	assert_int_equal(buf[0], '"');
	assert_int_equal(buf[strlen(buf) - 1], '"');
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(plain_text_is_quoted),
	    cmocka_unit_test(quotes_and_backslashes_are_escaped),
	    cmocka_unit_test(
		newlines_and_control_bytes_cannot_start_a_new_line),
	    cmocka_unit_test(non_ascii_bytes_are_hex_escaped),
	    cmocka_unit_test(long_values_are_cut_and_marked),
	    cmocka_unit_test(a_small_buffer_still_gets_a_terminated_string),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
