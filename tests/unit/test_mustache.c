/*
 * Unit tests for src/mustache.c: escaping per output, hostile values, the
 * output cap, error positions, partial limits, names and numbers.  The
 * specification suite itself runs in mustache_spec.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "psabridge/mustache.h"

#define MAX_OUT (1024 * 1024)

/* Partials for a test: NULL-terminated name, source pairs. */
struct partials {
	const char *const *pairs;
	int calls;
};

static int
serve_partial(const char *name, char **source, void *arg)
{
	struct partials *p = arg;
	size_t i;

	p->calls++;
	for (i = 0; p->pairs[i] != NULL; i += 2)
		if (strcmp(p->pairs[i], name) == 0) {
			*source = strdup(p->pairs[i + 1]);
			return *source != NULL ? 0 : -1;
		}
	return -1;
}

/*
 * Compiles and renders tpl against the JSON text ctx.  Returns the output
 * (caller frees) or NULL with *err filled.
 */
static char *
render_with(const char *tpl, const char *ctx, enum mustache_escape esc,
	    size_t max, struct partials *parts, struct mustache_error *err)
{
	struct mustache *t = NULL;
	cJSON *data = cJSON_Parse(ctx);
	char *out = NULL;
	size_t len;

	assert_non_null(data);
	if (mustache_compile(tpl, strlen(tpl), parts ? serve_partial : NULL,
			     parts, &t, err) == 0 &&
	    mustache_render(t, data, esc, max, &out, &len, err) == 0)
		assert_int_equal(strlen(out), len);
	mustache_free(t);
	cJSON_Delete(data);
	return out;
}

static void
assert_renders(const char *tpl, const char *ctx, enum mustache_escape esc,
	       const char *want)
{
	struct mustache_error err;
	char *out = render_with(tpl, ctx, esc, MAX_OUT, NULL, &err);

	if (out == NULL)
		fail_msg("%d:%d: %s", err.line, err.column, err.message);
	assert_string_equal(out, want);
	free(out);
}

/* Compiling tpl fails at line:column with a message containing what. */
static void
assert_compile_error(const char *tpl, int line, int column, const char *what)
{
	struct mustache_error err;
	struct mustache *t = NULL;

	assert_int_equal(
	    mustache_compile(tpl, strlen(tpl), NULL, NULL, &t, &err), -1);
	assert_null(t);
	assert_int_equal(err.line, line);
	assert_int_equal(err.column, column);
	assert_non_null(strstr(err.message, what));
}

static void
html_escaping_replaces_amp_lt_gt_and_quotes(void **state)
{
	(void)state;
	assert_renders("{{x}}", "{\"x\":\"<a href=\\\"u\\\">&</a>'\"}",
		       MUSTACHE_ESCAPE_HTML,
		       "&lt;a href=&quot;u&quot;&gt;&amp;&lt;/a&gt;'");
}

static void
json_escaping_escapes_quotes_backslashes_and_control_bytes(void **state)
{
	(void)state;
	assert_renders(
	    "{{x}}",
	    "{\"x\":\"a\\\"b\\\\c\\r\\n\\t\\b\\f\\u0001\\u001f/\\u007f\"}",
	    MUSTACHE_ESCAPE_JSON,
	    "a\\\"b\\\\c\\r\\n\\t\\b\\f\\u0001\\u001f/\x7f");
}

static void
json_escaping_keeps_utf8_as_is(void **state)
{
	(void)state;
	assert_renders("{{x}}",
		       "{\"x\":\"Müller \\u00e9 \\u2028 \\ud83d\\ude00\"}",
		       MUSTACHE_ESCAPE_JSON,
		       "M\xc3\xbcller \xc3\xa9 \xe2\x80\xa8 \xf0\x9f\x98\x80");
}

/*
 * Whatever the values, a JSON template's output parses, has exactly the
 * template's keys, and carries each value back unchanged.
 */
static void
json_output_parses_and_keeps_the_template_keys_for_hostile_values(void **state)
{
	static const char *const hostile[] = {
	    "\", \"injected\": \"x",
	    "\\",
	    "\\\"",
	    "\"}",
	    "\"}, {\"text\": \"",
	    "{{x}}",
	    "{{{x}}} {{>p}} {{=<% %>=}}",
	    "line1\r\nline2\n\ttab",
	    "\x01\x02\x1b[31m\x1f",
	    "</script><!--",
	    "\\u0022",
	    "\xc3\xa9\xe2\x80\xa8",
	};
	const char *tpl =
	    "{\"text\":\"Host {{payload.hostname}}: {{payload.reason}}\","
	    "\"url\":\"{{payload.url}}\"}";
	struct mustache_error err;
	cJSON *ctx, *payload, *doc;
	struct mustache *t;
	char *out, *want;
	size_t i, len;

	(void)state;
	assert_int_equal(
	    mustache_compile(tpl, strlen(tpl), NULL, NULL, &t, &err), 0);
	for (i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		ctx = cJSON_CreateObject();
		payload = cJSON_AddObjectToObject(ctx, "payload");
		cJSON_AddStringToObject(payload, "hostname", hostile[i]);
		cJSON_AddStringToObject(payload, "reason", hostile[i]);
		cJSON_AddStringToObject(payload, "url", hostile[i]);
		assert_int_equal(mustache_render(t, ctx, MUSTACHE_ESCAPE_JSON,
						 MAX_OUT, &out, &len, &err),
				 0);
		doc = cJSON_Parse(out);
		if (doc == NULL)
			fail_msg("value %zu gave invalid JSON: %s", i, out);
		assert_int_equal(cJSON_GetArraySize(doc), 2);
		assert_string_equal(doc->child->string, "text");
		assert_string_equal(doc->child->next->string, "url");
		assert_string_equal(
		    cJSON_GetObjectItemCaseSensitive(doc, "url")->valuestring,
		    hostile[i]);
		want = malloc(2 * strlen(hostile[i]) + 16);
		sprintf(want, "Host %s: %s", hostile[i], hostile[i]);
		assert_string_equal(
		    cJSON_GetObjectItemCaseSensitive(doc, "text")->valuestring,
		    want);
		free(want);
		cJSON_Delete(doc);
		free(out);
		cJSON_Delete(ctx);
	}
	mustache_free(t);
}

static void
tags_inside_values_are_not_expanded(void **state)
{
	(void)state;
	assert_renders("{{x}}|{{{x}}}", "{\"x\":\"{{y}} {{>p}}\",\"y\":\"no\"}",
		       MUSTACHE_ESCAPE_NONE, "{{y}} {{>p}}|{{y}} {{>p}}");
}

static void
plain_output_leaves_values_unchanged(void **state)
{
	(void)state;
	assert_renders("[{{x}}]", "{\"x\":\"<&> \\\"q\\\" \\\\ \\r\\n\"}",
		       MUSTACHE_ESCAPE_NONE, "[<&> \"q\" \\ \r\n]");
}

static void
triple_mustache_and_ampersand_are_never_escaped(void **state)
{
	(void)state;
	assert_renders("{{{x}}} {{&x}}", "{\"x\":\"\\\"<\\n\"}",
		       MUSTACHE_ESCAPE_JSON, "\"<\n \"<\n");
	assert_renders("{{{x}}}", "{\"x\":\"<&>\"}", MUSTACHE_ESCAPE_HTML,
		       "<&>");
}

static void
a_100kb_value_is_escaped_in_full(void **state)
{
	const size_t n = 100 * 1024;
	const char *tpl = "{\"v\":\"{{x}}\"}";
	struct mustache_error err;
	struct mustache *t;
	cJSON *ctx, *doc;
	char *big, *out;
	size_t i, len;

	(void)state;
	big = malloc(n + 1);
	for (i = 0; i < n; i++)
		big[i] = "\"\\\nab"[i % 5];
	big[n] = '\0';
	ctx = cJSON_CreateObject();
	cJSON_AddStringToObject(ctx, "x", big);
	assert_int_equal(
	    mustache_compile(tpl, strlen(tpl), NULL, NULL, &t, &err), 0);
	assert_int_equal(mustache_render(t, ctx, MUSTACHE_ESCAPE_JSON, MAX_OUT,
					 &out, &len, &err),
			 0);
	assert_int_equal(len, 8 + n + 3 * n / 5);
	assert_non_null(doc = cJSON_Parse(out));
	assert_string_equal(cJSON_GetObjectItem(doc, "v")->valuestring, big);
	cJSON_Delete(doc);
	free(out);
	mustache_free(t);
	cJSON_Delete(ctx);
	free(big);
}

static void
output_over_the_cap_is_an_error_not_a_cut(void **state)
{
	struct mustache_error err;
	char *out;

	(void)state;
	out = render_with("ab\n{{x}}", "{\"x\":\"0123456789\"}",
			  MUSTACHE_ESCAPE_NONE, 13, NULL, &err);
	assert_non_null(out);
	assert_string_equal(out, "ab\n0123456789");
	free(out);
	out = render_with("ab\n{{x}}", "{\"x\":\"0123456789\"}",
			  MUSTACHE_ESCAPE_NONE, 12, NULL, &err);
	assert_null(out);
	assert_string_equal(err.message, "output over 12 bytes");
	assert_int_equal(err.line, 2);
	assert_int_equal(err.column, 1);
}

static void
output_cap_counts_escaped_bytes(void **state)
{
	struct mustache_error err;

	(void)state;
	assert_null(render_with("{{x}}", "{\"x\":\"\\\"\"}",
				MUSTACHE_ESCAPE_JSON, 1, NULL, &err));
	assert_null(render_with("{{x}}", "{\"x\":\"&\"}", MUSTACHE_ESCAPE_HTML,
				4, NULL, &err));
}

static void
unclosed_tag_reports_its_line_and_column(void **state)
{
	(void)state;
	assert_compile_error("line one\n  ab {{name", 2, 6, "unclosed tag");
	assert_compile_error("{{{x}}", 1, 1, "unclosed tag");
}

static void
unclosed_section_reports_its_opening_tag(void **state)
{
	(void)state;
	assert_compile_error("a\nb {{#s}}\n{{#t}}{{/t}}c", 2, 3,
			     "unclosed section \"s\"");
}

static void
mismatched_closing_tag_reports_the_closing_tag(void **state)
{
	(void)state;
	assert_compile_error("{{#a}}\n  {{/b}}", 2, 3, "does not match");
	assert_compile_error("x {{/a}}", 1, 3, "without an open section");
}

static void
bad_tags_are_errors(void **state)
{
	(void)state;
	assert_compile_error("{{=<% =}}", 1, 1, "bad delimiters");
	assert_compile_error("{{=a= b=}}", 1, 1, "bad delimiters");
	assert_compile_error("{{ }}", 1, 1, "empty tag name");
	assert_compile_error("{{a b}}", 1, 1, "space in tag name");
	assert_compile_error("\n{{a..b}}", 2, 1, "empty part");
}

static void
columns_count_characters_not_bytes(void **state)
{
	(void)state;
	assert_compile_error("\xc3\xa9\xc3\xa9{{x", 1, 3, "unclosed tag");
}

static void
sections_nested_too_deep_are_an_error(void **state)
{
	char tpl[101 * 6 + 1];
	size_t i;

	(void)state;
	for (i = 0; i < 101; i++)
		memcpy(tpl + 6 * i, "{{#a}}", 6);
	tpl[sizeof(tpl) - 1] = '\0';
	assert_compile_error(tpl, 1, 601, "nested deeper than 100");
}

static void
missing_partial_renders_as_nothing(void **state)
{
	static const char *const pairs[] = {NULL};
	struct partials p = {pairs, 0};
	struct mustache_error err;
	char *out;

	(void)state;
	out = render_with("[{{>nope}}]", "{}", MUSTACHE_ESCAPE_NONE, MAX_OUT,
			  &p, &err);
	assert_string_equal(out, "[]");
	assert_int_equal(p.calls, 1);
	free(out);
}

/* `levels` objects inside each other, {"c":{"c":...{"c":false}}}. */
static char *
nested_data(int levels)
{
	char *s = malloc(6 * (size_t)levels + 6), *p = s;
	int i;

	for (i = 0; i < levels; i++)
		p += sprintf(p, "{\"c\":");
	p += sprintf(p, "false");
	for (i = 0; i < levels; i++)
		*p++ = '}';
	*p = '\0';
	return s;
}

static void
partials_nest_64_deep_and_no_deeper(void **state)
{
	static const char *const pairs[] = {"n", "{{#c}}.{{>n}}{{/c}}", NULL};
	struct partials p = {pairs, 0};
	struct mustache_error err;
	char *data, *out;

	(void)state;
	data = nested_data(64); /* the top {{>n}} and 63 more */
	out = render_with("{{>n}}", data, MUSTACHE_ESCAPE_NONE, MAX_OUT, &p,
			  &err);
	assert_non_null(out);
	assert_int_equal(strlen(out), 63);
	free(out);
	free(data);
	data = nested_data(65);
	out = render_with("{{>n}}", data, MUSTACHE_ESCAPE_NONE, MAX_OUT, &p,
			  &err);
	assert_null(out);
	assert_string_equal(err.message,
			    "partial \"n\": partials nested deeper than 64");
	assert_int_equal(err.line, 1);
	assert_int_equal(err.column, 8);
	free(data);
}

static void
self_including_partial_fails_instead_of_recursing_forever(void **state)
{
	static const char *const pairs[] = {"loop", "x{{>loop}}", NULL};
	struct partials p = {pairs, 0};
	struct mustache_error err;

	(void)state;
	assert_null(render_with("{{>loop}}", "{}", MUSTACHE_ESCAPE_NONE,
				MAX_OUT, &p, &err));
	assert_non_null(strstr(err.message, "nested deeper than 64"));
	assert_int_equal(p.calls, 1); /* loaded once per render */
}

static void
block_overriding_itself_fails_instead_of_recursing_forever(void **state)
{
	static const char *const pairs[] = {"p", "{{$a}}{{/a}}", NULL};
	struct partials p = {pairs, 0};
	struct mustache_error err;

	(void)state;
	assert_null(render_with("{{<p}}{{$a}}x{{$a}}y{{/a}}{{/a}}{{/p}}", "{}",
				MUSTACHE_ESCAPE_NONE, MAX_OUT, &p, &err));
	assert_non_null(strstr(err.message, "blocks nested deeper than 64"));
}

static void
nested_loops_that_print_nothing_stop_after_a_step_budget(void **state)
{
	struct mustache_error err;
	char ctx[200] = "{\"a\":[0";
	int i;

	(void)state;
	for (i = 1; i < 40; i++)
		snprintf(ctx + strlen(ctx), sizeof(ctx) - strlen(ctx), ",%d",
			 i);
	strcat(ctx, "]}");
	/* 40^5 visits would take minutes; the budget is ten million. */
	assert_null(render_with("{{#a}}{{#a}}{{#a}}{{#a}}{{#a}}{{nope}}"
				"{{/a}}{{/a}}{{/a}}{{/a}}{{/a}}",
				ctx, MUSTACHE_ESCAPE_NONE, MAX_OUT, NULL,
				&err));
	assert_string_equal(err.message, "more than 10000000 steps");
}

static void
partial_that_does_not_compile_reports_its_name_and_position(void **state)
{
	static const char *const pairs[] = {"bad", "ok\n  {{#s}}", NULL};
	struct partials p = {pairs, 0};
	struct mustache_error err;

	(void)state;
	assert_null(render_with("{{>bad}}", "{}", MUSTACHE_ESCAPE_NONE, MAX_OUT,
				&p, &err));
	assert_string_equal(err.message,
			    "partial \"bad\": unclosed section \"s\"");
	assert_int_equal(err.line, 2);
	assert_int_equal(err.column, 3);
}

static void
standalone_partial_is_indented_line_by_line(void **state)
{
	static const char *const pairs[] = {"p", "a {{x}}\nb\n", NULL};
	struct partials p = {pairs, 0};
	struct mustache_error err;
	char *out;

	(void)state;
	out = render_with("list:\n  {{>p}}\nend", "{\"x\":\"1\\n2\"}",
			  MUSTACHE_ESCAPE_NONE, MAX_OUT, &p, &err);
	assert_string_equal(out, "list:\n  a 1\n2\n  b\nend");
	free(out);
}

static void
dynamic_partial_name_comes_from_the_data(void **state)
{
	static const char *const pairs[] = {"agent", "A:{{id}}", NULL};
	struct partials p = {pairs, 0};
	struct mustache_error err;
	char *out;

	(void)state;
	out = render_with(
	    "{{#ev}}{{>*kind}};{{/ev}}",
	    "{\"ev\":[{\"kind\":\"agent\",\"id\":1},{\"kind\":\"x\"},{}]}",
	    MUSTACHE_ESCAPE_NONE, MAX_OUT, &p, &err);
	assert_string_equal(out, "A:1;;;");
	free(out);
}

static void
parent_blocks_override_the_parents_defaults(void **state)
{
	static const char *const pairs[] = {
	    "base",
	    "Summary: {{$title}}DefensX event{{/title}}\n"
	    "{{$body}}No details.{{/body}}\n",
	    NULL};
	struct partials p = {pairs, 0};
	struct mustache_error err;
	char *out;

	(void)state;
	out = render_with("{{<base}}\n{{$title}}Unblock {{h}}{{/title}}\n"
			  "{{/base}}\n",
			  "{\"h\":\"WIN10-4\"}", MUSTACHE_ESCAPE_NONE, MAX_OUT,
			  &p, &err);
	assert_string_equal(out, "Summary: Unblock WIN10-4\nNo details.\n");
	free(out);
}

static void
dotted_names_walk_objects_and_array_indexes(void **state)
{
	const char *ctx = "{\"payload\":{\"hostname\":\"WIN10-4\",\"items\":"
			  "[\"a\",{\"n\":\"b\"}]},\"customer\":{\"name\":"
			  "\"Acme\"}}";

	(void)state;
	assert_renders("{{payload.hostname}}/{{customer.name}}", ctx,
		       MUSTACHE_ESCAPE_NONE, "WIN10-4/Acme");
	assert_renders("{{payload.items.0}}{{payload.items.1.n}}", ctx,
		       MUSTACHE_ESCAPE_NONE, "ab");
	assert_renders("[{{payload.nope.x}}{{payload.items.9}}{{nope}}]", ctx,
		       MUSTACHE_ESCAPE_NONE, "[]");
	/* A broken chain does not fall back to an outer context. */
	assert_renders("{{#customer}}[{{payload.hostname.name}}]{{/customer}}",
		       ctx, MUSTACHE_ESCAPE_NONE, "[]");
	assert_renders("{{#payload}}{{hostname}} {{customer.name}}{{/payload}}",
		       ctx, MUSTACHE_ESCAPE_NONE, "WIN10-4 Acme");
}

static void
dotted_names_are_never_single_keys(void **state)
{
	(void)state;
	assert_renders("[{{a.b}}]", "{\"a.b\":\"x\"}", MUSTACHE_ESCAPE_NONE,
		       "[]");
}

static void
numbers_print_as_their_shortest_text(void **state)
{
	(void)state;
	assert_renders(
	    "{{a}} {{b}} {{c}} {{d}} {{e}} {{f}}",
	    "{\"a\":1650,\"b\":1677241081,\"c\":-3,\"d\":1.21,\"e\":0.1,"
	    "\"f\":-0.0}",
	    MUSTACHE_ESCAPE_NONE, "1650 1677241081 -3 1.21 0.1 0");
	assert_renders("{{a}} {{b}} {{c}} {{d}}",
		       "{\"a\":9007199254740993,\"b\":1e300,\"c\":-2.5e-7,"
		       "\"d\":0.30000000000000004}",
		       MUSTACHE_ESCAPE_NONE,
		       "9007199254740992 1e+300 -2.5e-07 0.30000000000000004");
}

static void
booleans_print_as_words_and_null_as_nothing(void **state)
{
	(void)state;
	assert_renders("{{t}} {{f}} [{{n}}]",
		       "{\"t\":true,\"f\":false,\"n\":null}",
		       MUSTACHE_ESCAPE_JSON, "true false []");
}

static void
objects_print_as_compact_json(void **state)
{
	(void)state;
	assert_renders("{{o}}", "{\"o\":{\"a\":[1,\"x\"]}}",
		       MUSTACHE_ESCAPE_JSON, "{\\\"a\\\":[1,\\\"x\\\"]}");
}

static void
sections_loop_over_lists_and_skip_empty_values(void **state)
{
	const char *ctx = "{\"list\":[{\"n\":1},{\"n\":2}],\"empty\":[],"
			  "\"blank\":\"\",\"zero\":0,\"obj\":{\"n\":3}}";

	(void)state;
	assert_renders("{{#list}}<{{n}}>{{/list}}", ctx, MUSTACHE_ESCAPE_NONE,
		       "<1><2>");
	assert_renders("{{#obj}}{{n}}{{/obj}}", ctx, MUSTACHE_ESCAPE_NONE, "3");
	assert_renders("[{{#empty}}x{{/empty}}{{#blank}}x{{/blank}}"
		       "{{#nope}}x{{/nope}}]",
		       ctx, MUSTACHE_ESCAPE_NONE, "[]");
	assert_renders("{{#zero}}{{.}}{{/zero}}", ctx, MUSTACHE_ESCAPE_NONE,
		       "0");
	assert_renders("{{^blank}}none{{/blank}}{{^list}}x{{/list}}", ctx,
		       MUSTACHE_ESCAPE_NONE, "none");
}

static void
standalone_tag_lines_leave_no_blank_lines(void **state)
{
	(void)state;
	assert_renders("Customer:\n"
		       "{{#customer.name}}\n"
		       "  {{customer.name}}\n"
		       "{{/customer.name}}\n"
		       "{{! a comment }}\n"
		       "{{^customer.name}}\n"
		       "  (unknown)\n"
		       "{{/customer.name}}\n"
		       "End\n",
		       "{\"customer\":{}}", MUSTACHE_ESCAPE_NONE,
		       "Customer:\n  (unknown)\nEnd\n");
}

static void
set_delimiters_allow_literal_braces(void **state)
{
	(void)state;
	assert_renders("{{=<% %>=}}{{x}} <%x%>", "{\"x\":1}",
		       MUSTACHE_ESCAPE_NONE, "{{x}} 1");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(html_escaping_replaces_amp_lt_gt_and_quotes),
	    cmocka_unit_test(
		json_escaping_escapes_quotes_backslashes_and_control_bytes),
	    cmocka_unit_test(json_escaping_keeps_utf8_as_is),
	    cmocka_unit_test(
		json_output_parses_and_keeps_the_template_keys_for_hostile_values),
	    cmocka_unit_test(tags_inside_values_are_not_expanded),
	    cmocka_unit_test(plain_output_leaves_values_unchanged),
	    cmocka_unit_test(triple_mustache_and_ampersand_are_never_escaped),
	    cmocka_unit_test(a_100kb_value_is_escaped_in_full),
	    cmocka_unit_test(output_over_the_cap_is_an_error_not_a_cut),
	    cmocka_unit_test(output_cap_counts_escaped_bytes),
	    cmocka_unit_test(unclosed_tag_reports_its_line_and_column),
	    cmocka_unit_test(unclosed_section_reports_its_opening_tag),
	    cmocka_unit_test(mismatched_closing_tag_reports_the_closing_tag),
	    cmocka_unit_test(bad_tags_are_errors),
	    cmocka_unit_test(columns_count_characters_not_bytes),
	    cmocka_unit_test(sections_nested_too_deep_are_an_error),
	    cmocka_unit_test(missing_partial_renders_as_nothing),
	    cmocka_unit_test(partials_nest_64_deep_and_no_deeper),
	    cmocka_unit_test(
		self_including_partial_fails_instead_of_recursing_forever),
	    cmocka_unit_test(
		block_overriding_itself_fails_instead_of_recursing_forever),
	    cmocka_unit_test(
		nested_loops_that_print_nothing_stop_after_a_step_budget),
	    cmocka_unit_test(
		partial_that_does_not_compile_reports_its_name_and_position),
	    cmocka_unit_test(standalone_partial_is_indented_line_by_line),
	    cmocka_unit_test(dynamic_partial_name_comes_from_the_data),
	    cmocka_unit_test(parent_blocks_override_the_parents_defaults),
	    cmocka_unit_test(dotted_names_walk_objects_and_array_indexes),
	    cmocka_unit_test(dotted_names_are_never_single_keys),
	    cmocka_unit_test(numbers_print_as_their_shortest_text),
	    cmocka_unit_test(booleans_print_as_words_and_null_as_nothing),
	    cmocka_unit_test(objects_print_as_compact_json),
	    cmocka_unit_test(sections_loop_over_lists_and_skip_empty_values),
	    cmocka_unit_test(standalone_tag_lines_leave_no_blank_lines),
	    cmocka_unit_test(set_delimiters_allow_literal_braces),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
