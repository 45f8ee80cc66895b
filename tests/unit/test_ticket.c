/*
 * Unit tests for ticket templates: the header block is split on the
 * template source before rendering, errors name the line and column in
 * the file, rendered header values are flattened to one line and cut on a
 * UTF-8 boundary, and nothing a payload holds can add or change a field.
 * The render context is the DefensX Agent.Uninstall fixture of
 * tests/data/defensx, sometimes with extra payload members.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "psabridge/envelope.h"
#include "psabridge/ticket.h"

struct fx {
	struct ticket_template *t;
	struct ticket tk;
	struct mustache_error err;
	cJSON *ctx;
};

static int
fx_setup(void **state)
{
	const char *data = getenv("PSABRIDGE_TEST_DATA");
	char path[PATH_MAX], text[8192];
	struct fx *fx = calloc(1, sizeof(*fx));
	size_t n;
	FILE *fp;

	assert_non_null(fx);
	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/defensx/agent-uninstall.json", data);
	assert_non_null(fp = fopen(path, "r"));
	n = fread(text, 1, sizeof(text) - 1, fp);
	assert_int_equal(fclose(fp), 0);
	text[n] = '\0';
	assert_non_null(fx->ctx = cJSON_Parse(text));
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	ticket_clear(&fx->tk);
	ticket_template_free(fx->t);
	cJSON_Delete(fx->ctx);
	free(fx);
	return 0;
}

/* Sets payload.<name> to a string value in the render context. */
static void
fx_payload(struct fx *fx, const char *name, const char *value)
{
	cJSON *p = cJSON_GetObjectItemCaseSensitive(fx->ctx, "payload");

	assert_non_null(p);
	cJSON_DeleteItemFromObjectCaseSensitive(p, name);
	assert_non_null(cJSON_AddStringToObject(p, name, value));
}

static int
fx_compile(struct fx *fx, const char *src)
{
	ticket_template_free(fx->t);
	fx->t = NULL;
	memset(&fx->err, 0, sizeof(fx->err));
	return ticket_template_compile(src, strlen(src), NULL, NULL, &fx->t,
				       &fx->err);
}

static void
fx_compile_ok(struct fx *fx, const char *src)
{
	if (fx_compile(fx, src) != 0)
		fail_msg("compile failed: %d:%d: %s", fx->err.line,
			 fx->err.column, fx->err.message);
	assert_non_null(fx->t);
}

/* Compiling src fails at line:column with a message holding text. */
static void
fx_compile_fails(struct fx *fx, const char *src, int line, int column,
		 const char *text)
{
	assert_int_equal(fx_compile(fx, src), -1);
	assert_null(fx->t);
	if (fx->err.line != line || fx->err.column != column ||
	    strstr(fx->err.message, text) == NULL)
		fail_msg("wanted %d:%d: ...%s..., got %d:%d: %s", line, column,
			 text, fx->err.line, fx->err.column, fx->err.message);
}

static void
fx_render_ok(struct fx *fx)
{
	ticket_clear(&fx->tk);
	if (ticket_render(fx->t, fx->ctx, &fx->tk, &fx->err) != 0)
		fail_msg("render failed: %d:%d: %s", fx->err.line,
			 fx->err.column, fx->err.message);
}

#define SUMMARY(fx)  ((fx)->tk.field[TICKET_SUMMARY])
#define PRIORITY(fx) ((fx)->tk.field[TICKET_PRIORITY])

static void
test_headers_and_description_render_from_the_event(void **state)
{
	struct fx *fx = *state;
	enum ticket_field f;

	fx_compile_ok(fx,
		      "Summary: DefensX agent removed from "
		      "{{payload.hostname}}\n"
		      "Priority: high\n"
		      "Board: Security\n"
		      "\n"
		      "The agent on {{payload.hostname}} ({{payload.product}})"
		      " was removed.\n"
		      "Version {{payload.version}}\n");
	fx_render_ok(fx);
	assert_string_equal(SUMMARY(fx), "DefensX agent removed from WIN10-4");
	assert_string_equal(PRIORITY(fx), "high");
	assert_string_equal(fx->tk.field[TICKET_BOARD], "Security");
	for (f = TICKET_STATUS; f < TICKET_NFIELDS; f++)
		if (f != TICKET_BOARD)
			assert_null(fx->tk.field[f]);
	assert_string_equal(
	    fx->tk.description,
	    "The agent on WIN10-4 (Windows 10 Pro) was removed.\n"
	    "Version 1.8.78\n");
}

static void
test_every_known_header_is_accepted_in_any_case(void **state)
{
	struct fx *fx = *state;
	enum ticket_field f;

	fx_compile_ok(fx, "summary: s\nPRIORITY: p\nStatus: st\nboard: b\n"
			  "Queue: q\nType: t\nSubType: sub\nItem: i\n"
			  "Source: src\n\n");
	fx_render_ok(fx);
	for (f = 0; f < TICKET_NFIELDS; f++)
		assert_non_null(fx->tk.field[f]);
	assert_string_equal(fx->tk.field[TICKET_SUBTYPE], "sub");
	assert_string_equal(fx->tk.field[TICKET_SOURCE], "src");
	assert_string_equal(fx->tk.description, "");
}

static void
test_blanks_after_the_colon_are_not_part_of_the_value(void **state)
{
	struct fx *fx = *state;

	fx_compile_ok(fx,
		      "Summary:  \t {{payload.hostname}}\nPriority:low\n\n");
	fx_render_ok(fx);
	assert_string_equal(SUMMARY(fx), "WIN10-4");
	assert_string_equal(PRIORITY(fx), "low");
}

static void
test_field_names_print_as_documented(void **state)
{
	(void)state;
	assert_string_equal(ticket_field_name(TICKET_SUMMARY), "Summary");
	assert_string_equal(ticket_field_name(TICKET_PRIORITY), "Priority");
	assert_string_equal(ticket_field_name(TICKET_SUBTYPE), "Subtype");
	assert_string_equal(ticket_field_name(TICKET_SOURCE), "Source");
	assert_string_equal(ticket_field_name(TICKET_NFIELDS), "?");
}

static void
test_missing_summary_is_an_error(void **state)
{
	fx_compile_fails(*state, "Priority: high\n\nbody\n", 1, 1,
			 "\"Summary:\" header is missing");
}

static void
test_missing_priority_is_an_error(void **state)
{
	fx_compile_fails(*state, "Summary: s\nStatus: New\n\nbody\n", 1, 1,
			 "\"Priority:\" header is missing");
}

static void
test_unknown_header_is_an_error_at_its_line(void **state)
{
	fx_compile_fails(*state, "Summary: s\nPriority: high\nUrgency: now\n\n",
			 3, 1, "unknown header \"Urgency\"");
}

static void
test_repeated_header_is_an_error_at_the_second_one(void **state)
{
	fx_compile_fails(*state,
			 "Summary: s\nPriority: high\nsummary: again\n\nbody\n",
			 3, 1, "header \"summary\" given twice");
}

static void
test_headers_without_a_blank_line_are_an_error(void **state)
{
	struct fx *fx = *state;

	fx_compile_fails(fx, "Summary: s\nPriority: high\n", 3, 1,
			 "no blank line between the headers and the "
			 "description");
	fx_compile_fails(fx, "Summary: s\nPriority: high", 3, 1,
			 "no blank line");
}

static void
test_description_without_a_blank_line_is_a_header_error(void **state)
{
	fx_compile_fails(*state,
			 "Summary: s\nPriority: high\nThe agent was removed.\n",
			 3, 1, "expected \"Name: value\" or a blank line");
}

static void
test_mustache_error_in_a_header_names_its_column_in_the_line(void **state)
{
	struct fx *fx = *state;

	/* "{{}}" starts at column 11 of "Priority: {{}}" */
	fx_compile_fails(fx, "Summary: s\nPriority: {{}}\n\n", 2, 11,
			 "empty tag name");
	/* after blanks the value starts later: column 13 */
	fx_compile_fails(fx, "Summary: s\nPriority: \t {{}}\n\n", 2, 13,
			 "empty tag name");
}

static void
test_a_section_cannot_span_header_lines(void **state)
{
	/* each header is compiled on its own: the section is unclosed */
	fx_compile_fails(*state,
			 "Summary: {{#payload}}x\nPriority: {{/payload}}\n\n",
			 1, 10, "unclosed section \"payload\"");
}

static void
test_mustache_error_in_the_description_names_its_line_in_the_file(void **state)
{
	struct fx *fx = *state;

	/* headers 1-2, blank line 3: the description starts at line 4 */
	fx_compile_fails(fx, "Summary: s\nPriority: high\n\nok\n{{/x}}\n", 5, 1,
			 "closing tag \"x\" without an open section");
	fx_compile_fails(fx, "Summary: s\nPriority: high\n\nab {{#a}}\n", 4, 4,
			 "unclosed section \"a\"");
}

static void
test_line_breaks_in_a_header_value_become_one_space(void **state)
{
	struct fx *fx = *state;

	fx_payload(fx, "hostname", "WIN10\r\n\r\n4\tbox\x0b\x0cz");
	fx_compile_ok(fx, "Summary: on {{payload.hostname}}!\nPriority: high\n"
			  "\n{{payload.hostname}}");
	fx_render_ok(fx);
	assert_string_equal(SUMMARY(fx), "on WIN10 4 box z!");
	/* the description keeps its line breaks */
	assert_string_equal(fx->tk.description, "WIN10\r\n\r\n4\tbox\x0b\x0cz");
}

static void
test_a_header_value_never_starts_with_a_space(void **state)
{
	struct fx *fx = *state;

	fx_payload(fx, "hostname", "\r\n\tWIN10-4");
	fx_compile_ok(fx, "Summary: {{payload.hostname}}\nPriority: high\n\n");
	fx_render_ok(fx);
	assert_string_equal(SUMMARY(fx), "WIN10-4");
}

static void
test_a_payload_value_cannot_add_or_change_a_field(void **state)
{
	struct fx *fx = *state;
	enum ticket_field f;

	fx_payload(fx, "hostname",
		   "WIN10-4\nPriority: low\nStatus: Closed\n\nfake body");
	fx_compile_ok(fx, "Summary: removed from {{payload.hostname}}\n"
			  "Priority: high\n\nreal body");
	fx_render_ok(fx);
	assert_string_equal(PRIORITY(fx), "high");
	for (f = TICKET_STATUS; f < TICKET_NFIELDS; f++)
		assert_null(fx->tk.field[f]);
	assert_string_equal(SUMMARY(fx), "removed from WIN10-4 Priority: low "
					 "Status: Closed fake body");
	assert_string_equal(fx->tk.description, "real body");
}

static int
fx_partial(const char *name, char **source, void *arg)
{
	(void)arg;
	if (strcmp(name, "who") == 0)
		*source = strdup("{{payload.hostname}}\nPriority: low");
	else if (strcmp(name, "broken") == 0)
		*source = strdup("{{#open}}");
	else
		return -1;
	return *source != NULL ? 0 : -1;
}

static void
test_a_partial_with_line_breaks_cannot_add_a_field(void **state)
{
	struct fx *fx = *state;
	const char *src = "Summary: {{> who}}\nPriority: high\n\n{{> who}}";

	assert_int_equal(ticket_template_compile(src, strlen(src), fx_partial,
						 NULL, &fx->t, &fx->err),
			 0);
	fx_render_ok(fx);
	assert_string_equal(SUMMARY(fx), "WIN10-4 Priority: low");
	assert_string_equal(PRIORITY(fx), "high");
	assert_string_equal(fx->tk.description, "WIN10-4\nPriority: low");
}

static void
test_a_failed_render_leaves_no_fields(void **state)
{
	struct fx *fx = *state;
	const char *src =
	    "Summary: s\nPriority: high\nStatus: {{> broken}}\n\n";
	enum ticket_field f;

	assert_int_equal(ticket_template_compile(src, strlen(src), fx_partial,
						 NULL, &fx->t, &fx->err),
			 0);
	assert_int_equal(ticket_render(fx->t, fx->ctx, &fx->tk, &fx->err), -1);
	assert_true(fx->err.message[0] != '\0');
	for (f = 0; f < TICKET_NFIELDS; f++)
		assert_null(fx->tk.field[f]);
	assert_null(fx->tk.description);
}

/* A header value of `prefix` ASCII bytes followed by `tail`. */
static void
fx_long_summary(struct fx *fx, size_t prefix, const char *tail)
{
	char *v = malloc(prefix + strlen(tail) + 1);

	assert_non_null(v);
	memset(v, 'a', prefix);
	strcpy(v + prefix, tail);
	fx_payload(fx, "hostname", v);
	free(v);
	fx_compile_ok(fx, "Summary: {{payload.hostname}}\nPriority: high\n\n");
	fx_render_ok(fx);
}

static void
test_long_header_values_are_cut_at_the_field_max(void **state)
{
	struct fx *fx = *state;

	fx_long_summary(fx, 2000, "");
	assert_int_equal(strlen(SUMMARY(fx)), TICKET_FIELD_MAX);
	/* exactly the maximum is kept whole, a two-byte character included */
	fx_long_summary(fx, TICKET_FIELD_MAX - 2, "\xc3\xa9");
	assert_int_equal(strlen(SUMMARY(fx)), TICKET_FIELD_MAX);
	assert_string_equal(SUMMARY(fx) + TICKET_FIELD_MAX - 2, "\xc3\xa9");
}

static void
test_the_cut_never_splits_a_utf8_character(void **state)
{
	static const struct {
		size_t prefix; /* ASCII bytes before the character */
		const char *ch;
		size_t kept; /* bytes the cut value must have */
	} cases[] = {
	    /* é (2 bytes) straddles the limit: dropped whole */
	    {TICKET_FIELD_MAX - 1, "\xc3\xa9", TICKET_FIELD_MAX - 1},
	    /* € (3 bytes) at every offset across the limit */
	    {TICKET_FIELD_MAX - 1, "\xe2\x82\xac", TICKET_FIELD_MAX - 1},
	    {TICKET_FIELD_MAX - 2, "\xe2\x82\xac", TICKET_FIELD_MAX - 2},
	    {TICKET_FIELD_MAX - 3, "\xe2\x82\xac", TICKET_FIELD_MAX},
	    /* U+1F600 (4 bytes) */
	    {TICKET_FIELD_MAX - 1, "\xf0\x9f\x98\x80", TICKET_FIELD_MAX - 1},
	    {TICKET_FIELD_MAX - 3, "\xf0\x9f\x98\x80", TICKET_FIELD_MAX - 3},
	    {TICKET_FIELD_MAX - 4, "\xf0\x9f\x98\x80", TICKET_FIELD_MAX},
	};
	struct fx *fx = *state;
	size_t i, where;
	char tail[64];

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		/* more text after the character: the value is over the max */
		snprintf(tail, sizeof(tail), "%sbbbb", cases[i].ch);
		fx_long_summary(fx, cases[i].prefix, tail);
		if (strlen(SUMMARY(fx)) != cases[i].kept)
			fail_msg("case %zu: kept %zu bytes, wanted %zu", i,
				 strlen(SUMMARY(fx)), cases[i].kept);
		assert_int_equal(envelope_check_utf8(
				     SUMMARY(fx), strlen(SUMMARY(fx)), &where),
				 0);
	}
}

static void
test_cut_applies_after_flattening(void **state)
{
	struct fx *fx = *state;
	char tail[6];

	/* 1000 line breaks collapse to one space: nothing is cut */
	char *v = malloc(2000 + 1);

	assert_non_null(v);
	memset(v, 'a', 500);
	memset(v + 500, '\n', 1000);
	memset(v + 1500, 'b', 500);
	v[2000] = '\0';
	fx_payload(fx, "hostname", v);
	free(v);
	fx_compile_ok(fx, "Summary: {{payload.hostname}}\nPriority: high\n\n");
	fx_render_ok(fx);
	assert_int_equal(strlen(SUMMARY(fx)), 1001);
	snprintf(tail, sizeof(tail), "%s", SUMMARY(fx) + 498);
	assert_string_equal(tail, "aa bb");
}

static void
test_a_header_value_over_four_kib_is_cut_not_refused(void **state)
{
	struct fx *fx = *state;

	/* rendered whole first: 4 times the field maximum used to fail */
	fx_long_summary(fx, 4 * TICKET_FIELD_MAX + 1, "");
	assert_int_equal(strlen(SUMMARY(fx)), TICKET_FIELD_MAX);
	fx_long_summary(fx, 100000, "\xe2\x82\xac");
	assert_int_equal(strlen(SUMMARY(fx)), TICKET_FIELD_MAX);
	assert_string_equal(PRIORITY(fx), "high");
}

static void
test_a_description_over_twice_its_max_is_cut_not_refused(void **state)
{
	struct fx *fx = *state;
	size_t n = 2 * TICKET_DESCRIPTION_MAX + 1;
	char *v = malloc(n + 1);

	assert_non_null(v);
	memset(v, 'd', n);
	v[n] = '\0';
	fx_payload(fx, "hostname", v);
	free(v);
	fx_compile_ok(fx, "Summary: s\nPriority: high\n\n{{payload.hostname}}");
	fx_render_ok(fx);
	assert_int_equal(strlen(fx->tk.description), TICKET_DESCRIPTION_MAX);
	assert_string_equal(SUMMARY(fx), "s");
}

static void
test_line_breaks_at_the_end_of_a_header_value_leave_no_space(void **state)
{
	static const char *const values[] = {
	    "WIN10\n",
	    "WIN10\r\n",
	    "WIN10\t\r\n\n",
	};
	struct fx *fx = *state;
	size_t i;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		fx_payload(fx, "hostname", values[i]);
		fx_compile_ok(fx, "Summary: {{payload.hostname}}\n"
				  "Priority: {{payload.hostname}}\n"
				  "Status: {{payload.hostname}}-4\n\n");
		fx_render_ok(fx);
		if (strcmp(SUMMARY(fx), "WIN10") != 0)
			fail_msg("value %zu: summary \"%s\"", i, SUMMARY(fx));
		assert_string_equal(PRIORITY(fx), "WIN10");
		/* inside the value the break is still one space */
		assert_string_equal(fx->tk.field[TICKET_STATUS], "WIN10 -4");
	}
	/* nothing but line breaks leaves an empty value */
	fx_payload(fx, "hostname", "\r\n\n");
	fx_render_ok(fx);
	assert_string_equal(SUMMARY(fx), "");
}

static void
test_ticket_to_json_uses_lower_case_keys_and_leaves_absent_fields_out(
    void **state)
{
	struct fx *fx = *state;
	cJSON *j, *item;
	char *text;

	fx_compile_ok(fx, "Summary: on {{payload.hostname}}\nPriority: high\n"
			  "SubType: Agent\n\nbody");
	fx_render_ok(fx);
	assert_non_null(j = ticket_to_json(&fx->tk));
	assert_non_null(text = cJSON_PrintUnformatted(j));
	assert_string_equal(text, "{\"summary\":\"on WIN10-4\",\"priority\":"
				  "\"high\",\"subtype\":\"Agent\","
				  "\"description\":\"body\"}");
	free(text);
	item = cJSON_GetObjectItemCaseSensitive(j, "status");
	assert_null(item);
	cJSON_Delete(j);
}

static void
test_ticket_to_json_leaves_out_an_absent_description(void **state)
{
	char summary[] = "s", item[] = "";
	struct ticket tk;
	cJSON *j;
	char *text;

	(void)state;
	memset(&tk, 0, sizeof(tk));
	tk.field[TICKET_SUMMARY] = summary;
	tk.field[TICKET_ITEM] = item;
	assert_non_null(j = ticket_to_json(&tk));
	assert_non_null(text = cJSON_PrintUnformatted(j));
	assert_string_equal(text, "{\"summary\":\"s\",\"item\":\"\"}");
	free(text);
	cJSON_Delete(j);
}

static void
test_crlf_template_files_work(void **state)
{
	struct fx *fx = *state;

	fx_compile_ok(fx, "Summary: on {{payload.hostname}}\r\n"
			  "Priority: high\r\n"
			  "\r\n"
			  "Line 1\r\nLine 2\r\n");
	fx_render_ok(fx);
	assert_string_equal(SUMMARY(fx), "on WIN10-4");
	assert_string_equal(PRIORITY(fx), "high");
	assert_string_equal(fx->tk.description, "Line 1\r\nLine 2\r\n");
	/* and errors count CRLF lines like LF ones */
	fx_compile_fails(fx, "Summary: s\r\nPriority: high\r\n\r\nok\r\n{{/x}}",
			 5, 1, "without an open section");
	fx_compile_fails(fx, "Summary: s\r\nColour: red\r\n\r\n", 2, 1,
			 "unknown header \"Colour\"");
}

static void
test_clear_and_free_accept_empty_values(void **state)
{
	struct ticket tk;

	(void)state;
	memset(&tk, 0, sizeof(tk));
	ticket_clear(&tk);
	ticket_template_free(NULL);
	assert_null(tk.description);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_headers_and_description_render_from_the_event),
	    T(test_every_known_header_is_accepted_in_any_case),
	    T(test_blanks_after_the_colon_are_not_part_of_the_value),
	    T(test_field_names_print_as_documented),
	    T(test_missing_summary_is_an_error),
	    T(test_missing_priority_is_an_error),
	    T(test_unknown_header_is_an_error_at_its_line),
	    T(test_repeated_header_is_an_error_at_the_second_one),
	    T(test_headers_without_a_blank_line_are_an_error),
	    T(test_description_without_a_blank_line_is_a_header_error),
	    T(test_mustache_error_in_a_header_names_its_column_in_the_line),
	    T(test_a_section_cannot_span_header_lines),
	    T(test_mustache_error_in_the_description_names_its_line_in_the_file),
	    T(test_line_breaks_in_a_header_value_become_one_space),
	    T(test_a_header_value_never_starts_with_a_space),
	    T(test_a_payload_value_cannot_add_or_change_a_field),
	    T(test_a_partial_with_line_breaks_cannot_add_a_field),
	    T(test_a_failed_render_leaves_no_fields),
	    T(test_long_header_values_are_cut_at_the_field_max),
	    T(test_the_cut_never_splits_a_utf8_character),
	    T(test_cut_applies_after_flattening),
	    T(test_a_header_value_over_four_kib_is_cut_not_refused),
	    T(test_a_description_over_twice_its_max_is_cut_not_refused),
	    T(test_line_breaks_at_the_end_of_a_header_value_leave_no_space),
	    T(test_ticket_to_json_uses_lower_case_keys_and_leaves_absent_fields_out),
	    T(test_ticket_to_json_leaves_out_an_absent_description),
	    T(test_crlf_template_files_work),
	    T(test_clear_and_free_accept_empty_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
