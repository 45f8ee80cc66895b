/*
 * Unit tests for the template set: every NAME.ticket, NAME.json.mustache
 * and NAME.mustache of a directory, compiled at load, named without the
 * extension, with partials resolved from what was loaded.  Each test
 * writes its files into a fresh mkdtemp() directory; messages are checked
 * for their exact "PATH:LINE: column C: " prefix.
 */
#define _GNU_SOURCE /* AT_EMPTY_PATH, for the fstat() below */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "psabridge/diag.h"
#include "psabridge/templates.h"
#include "fixture.h"

/*
 * fstat() on an open file does not fail on demand, so this program
 * defines its own, which the library linked into it calls: it fails
 * with fx_fstat_errno when that is set, else asks the kernel as the real
 * one does.
 */
static int fx_fstat_errno;

int
fstat(int fd, struct stat *st)
{
	if (fx_fstat_errno != 0) {
		errno = fx_fstat_errno;
		return -1;
	}
	return fstatat(fd, "", st, AT_EMPTY_PATH);
}

struct fx {
	struct fixture_dir tmp;
	struct diag d;
	struct templates *t;
	cJSON *ctx;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fixture_dir_make(&fx->tmp, "test");
	diag_init(&fx->d);
	assert_non_null(fx->ctx = cJSON_Parse(
			    "{\"source\":\"defensx\",\"payload\":{\"hostname\":"
			    "\"WIN \\\"10\\\"\"}}"));
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	fx_fstat_errno = 0;
	templates_free(fx->t);
	diag_free(&fx->d);
	cJSON_Delete(fx->ctx);
	fixture_dir_remove(&fx->tmp);
	free(fx);
	return 0;
}

static void
fx_load_ok(struct fx *fx)
{
	int rc = templates_load(fx->tmp.path, &fx->t, &fx->d);

	if (rc != 0 || fx->d.len != 0)
		diag_print(&fx->d, stderr);
	assert_int_equal(rc, 0);
	assert_int_equal(fx->d.len, 0);
	assert_non_null(fx->t);
}

static void
fx_load_fails(struct fx *fx, size_t nerrors)
{
	assert_int_equal(templates_load(fx->tmp.path, &fx->t, &fx->d), -1);
	assert_null(fx->t);
	if (fx->d.nerrors != nerrors)
		diag_print(&fx->d, stderr);
	assert_int_equal(fx->d.nerrors, nerrors);
}

/* Some error is exactly "dir/file" followed by rest. */
static int
fx_has_error(const struct fx *fx, const char *file, const char *rest)
{
	char want[PATH_MAX + 1024];
	size_t i;

	snprintf(want, sizeof(want), "%s%s%s%s", fx->tmp.path, file ? "/" : "",
		 file ? file : "", rest);
	for (i = 0; i < fx->d.len; i++)
		if (fx->d.entries[i].level == DIAG_ERROR &&
		    strncmp(fx->d.entries[i].text, want, strlen(want)) == 0)
			return 1;
	fprintf(stderr, "wanted an error starting \"%s\", have:\n", want);
	diag_print(&fx->d, stderr);
	return 0;
}

#define expect_error(fx, file, rest) assert_true(fx_has_error(fx, file, rest))

/* Renders the text or JSON template called name as its kind escapes. */
static char *
fx_render(struct fx *fx, const char *name)
{
	const struct templates_entry *e = templates_find(fx->t, name);
	struct mustache_error err;
	char *out = NULL;
	size_t len;

	assert_non_null(e);
	assert_non_null(e->body);
	if (mustache_render(e->body, fx->ctx, templates_escape(e->kind), 65536,
			    &out, &len, &err) != 0)
		fail_msg("%s: %d:%d: %s", name, err.line, err.column,
			 err.message);
	assert_int_equal(strlen(out), len);
	return out;
}

static void
test_each_suffix_gives_its_kind_and_a_name_without_extension(void **state)
{
	struct fx *fx = *state;
	const struct templates_entry *e;
	char path[PATH_MAX];
	size_t i, seen = 0;

	fixture_write_text(&fx->tmp, "agent.ticket", 0644,
			   "Summary: s\nPriority: high\n\nbody\n");
	fixture_write_text(&fx->tmp, "card.json.mustache", 0644,
			   "{\"host\":\"{{payload.hostname}}\"}");
	fixture_write_text(&fx->tmp, "note.mustache", 0644,
			   "host {{payload.hostname}}");
	fx_load_ok(fx);
	assert_int_equal(templates_count(fx->t), 3);
	assert_string_equal(templates_dir(fx->t), fx->tmp.path);

	assert_non_null(e = templates_find(fx->t, "agent"));
	assert_int_equal(e->kind, TEMPLATES_TICKET);
	assert_non_null(e->ticket);
	assert_null(e->body);
	snprintf(path, sizeof(path), "%s/agent.ticket", fx->tmp.path);
	assert_string_equal(e->path, path);

	assert_non_null(e = templates_find(fx->t, "card"));
	assert_int_equal(e->kind, TEMPLATES_JSON);
	assert_non_null(e->body);
	assert_null(e->ticket);

	assert_non_null(e = templates_find(fx->t, "note"));
	assert_int_equal(e->kind, TEMPLATES_TEXT);
	assert_non_null(e->body);

	/* only the bare name finds a template */
	assert_null(templates_find(fx->t, "agent.ticket"));
	assert_null(templates_find(fx->t, "card.json"));
	assert_null(templates_find(fx->t, "card.json.mustache"));
	assert_null(templates_find(fx->t, "note.mustache"));

	for (i = 0; i < templates_count(fx->t); i++) {
		assert_non_null(e = templates_at(fx->t, i));
		seen |= e->kind == TEMPLATES_TICKET ? 1u
			: e->kind == TEMPLATES_JSON ? 2u
						    : 4u;
	}
	assert_int_equal(seen, 7);
	assert_null(templates_at(fx->t, 3));
}

static void
test_json_templates_escape_values_and_text_templates_do_not(void **state)
{
	struct fx *fx = *state;
	char *out;

	assert_int_equal(templates_escape(TEMPLATES_JSON),
			 MUSTACHE_ESCAPE_JSON);
	assert_int_equal(templates_escape(TEMPLATES_TEXT),
			 MUSTACHE_ESCAPE_NONE);
	assert_int_equal(templates_escape(TEMPLATES_TICKET),
			 MUSTACHE_ESCAPE_NONE);

	fixture_write_text(&fx->tmp, "card.json.mustache", 0644,
			   "{\"host\":\"{{payload.hostname}}\"}");
	fixture_write_text(&fx->tmp, "note.mustache", 0644,
			   "host {{payload.hostname}}");
	fx_load_ok(fx);
	out = fx_render(fx, "card");
	assert_string_equal(out, "{\"host\":\"WIN \\\"10\\\"\"}");
	free(out);
	out = fx_render(fx, "note");
	assert_string_equal(out, "host WIN \"10\"");
	free(out);
}

static void
test_two_files_with_the_same_name_are_an_error(void **state)
{
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "a.ticket", 0644,
			   "Summary: s\nPriority: high\n\n");
	fixture_write_text(&fx->tmp, "a.mustache", 0644, "text");
	fx_load_fails(fx, 1);
	expect_error(fx, NULL, ": two templates are called \"a\"");
}

static void
test_json_and_text_templates_with_the_same_name_are_an_error(void **state)
{
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "card.json.mustache", 0644, "{}");
	fixture_write_text(&fx->tmp, "card.mustache", 0644, "text");
	fx_load_fails(fx, 1);
	expect_error(fx, NULL, ": two templates are called \"card\"");
}

static void
test_a_compile_error_names_path_line_and_column(void **state)
{
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "note.mustache", 0644,
			   "line one\nab {{#open}}\n");
	fx_load_fails(fx, 1);
	expect_error(fx, "note.mustache",
		     ":2: column 4: unclosed section \"open\"");
}

static void
test_a_ticket_error_names_path_line_and_column(void **state)
{
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "agent.ticket", 0644,
			   "Summary: s\nColour: red\n\n");
	fx_load_fails(fx, 1);
	expect_error(fx, "agent.ticket", ":2: column 1: unknown header");
}

static void
test_every_broken_template_is_reported_at_once(void **state)
{
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "good.mustache", 0644, "fine");
	fixture_write_text(&fx->tmp, "a.mustache", 0644, "{{/x}}");
	fixture_write_text(&fx->tmp, "b.json.mustache", 0644, "{\n{{}}\n}");
	fixture_write_text(&fx->tmp, "c.ticket", 0644, "Priority: high\n\n");
	fx_load_fails(fx, 3);
	expect_error(fx, "a.mustache", ":1: column 1: closing tag \"x\"");
	expect_error(fx, "b.json.mustache", ":2: column 1: empty tag name");
	expect_error(fx, "c.ticket", ":1: column 1: the \"Summary:\" header");
}

static void
test_partials_resolve_to_text_templates_of_the_set(void **state)
{
	struct fx *fx = *state;
	const struct templates_entry *e;
	struct ticket tk;
	struct mustache_error err;
	char *out;

	fixture_write_text(&fx->tmp, "footer.mustache", 0644,
			   "-- sent by {{source}}");
	fixture_write_text(&fx->tmp, "msg.mustache", 0644,
			   "Hi {{payload.hostname}} {{> footer}}");
	fixture_write_text(
	    &fx->tmp, "agent.ticket", 0644,
	    "Summary: s {{> footer}}\nPriority: high\n\nbody {{> footer}}");
	fx_load_ok(fx);
	out = fx_render(fx, "msg");
	assert_string_equal(out, "Hi WIN \"10\" -- sent by defensx");
	free(out);
	assert_non_null(e = templates_find(fx->t, "agent"));
	assert_int_equal(ticket_render(e->ticket, fx->ctx, &tk, &err), 0);
	assert_string_equal(tk.field[TICKET_SUMMARY], "s -- sent by defensx");
	assert_string_equal(tk.description, "body -- sent by defensx");
	ticket_clear(&tk);
}

static void
test_partials_come_from_the_loaded_set_not_the_disk(void **state)
{
	struct fx *fx = *state;
	char *out;

	fixture_write_text(&fx->tmp, "footer.mustache", 0644, "-- {{source}}");
	fixture_write_text(&fx->tmp, "msg.mustache", 0644, "Hi{{> footer}}");
	fx_load_ok(fx);
	/* changed, then removed, after the load: what was loaded is used */
	fixture_write_text(&fx->tmp, "footer.mustache", 0644,
			   "changed on disk");
	assert_int_equal(remove(fx->tmp.made[0]), 0);
	out = fx_render(fx, "msg");
	assert_string_equal(out, "Hi-- defensx");
	free(out);
}

static void
test_a_partial_falls_back_to_a_json_template(void **state)
{
	struct fx *fx = *state;
	char *out;

	fixture_write_text(&fx->tmp, "facts.json.mustache", 0644,
			   "\"host\":\"{{payload.hostname}}\"");
	fixture_write_text(&fx->tmp, "card.json.mustache", 0644,
			   "{ {{> facts}} }");
	fx_load_ok(fx);
	out = fx_render(fx, "card");
	assert_string_equal(out, "{ \"host\":\"WIN \\\"10\\\"\" }");
	free(out);
}

static void
test_a_ticket_template_is_not_a_partial(void **state)
{
	struct fx *fx = *state;
	char *out;

	fixture_write_text(&fx->tmp, "agent.ticket", 0644,
			   "Summary: s\nPriority: high\n\n");
	fixture_write_text(&fx->tmp, "msg.mustache", 0644, "[{{> agent}}]");
	fx_load_ok(fx);
	out = fx_render(fx, "msg");
	assert_string_equal(out, "[]");
	free(out);
}

static void
test_an_unknown_directory_is_an_error(void **state)
{
	struct fx *fx = *state;

	strncat(fx->tmp.path, "/absent",
		sizeof(fx->tmp.path) - strlen(fx->tmp.path) - 1);
	assert_int_equal(templates_load(fx->tmp.path, &fx->t, &fx->d), -1);
	assert_null(fx->t);
	assert_int_equal(fx->d.nerrors, 1);
	expect_error(fx, NULL,
		     ": cannot open the templates directory: No such file");
	/* teardown removes the real directory */
	fx->tmp.path[strlen(fx->tmp.path) - strlen("/absent")] = '\0';
}

static void
test_templates_exists_answers_for_names_of_the_set(void **state)
{
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "agent.ticket", 0644,
			   "Summary: s\nPriority: high\n\n");
	fixture_write_text(&fx->tmp, "card.json.mustache", 0644, "{}");
	fx_load_ok(fx);
	assert_int_equal(templates_exists("agent", fx->t), 1);
	assert_int_equal(templates_exists("card", fx->t), 1);
	assert_int_equal(templates_exists("card.json", fx->t), 0);
	assert_int_equal(templates_exists("agent.ticket", fx->t), 0);
	assert_int_equal(templates_exists("teams", fx->t), 0);
}

static void
test_files_without_a_known_suffix_are_ignored(void **state)
{
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "README.md", 0644, "{{#not a template");
	fixture_write_text(&fx->tmp, "note.mustache.bak", 0644, "{{#broken");
	fixture_write_text(&fx->tmp, "note.mustache~", 0644, "{{#broken");
	fixture_write_text(&fx->tmp, "mustache", 0644, "{{#broken");
	fixture_write_text(&fx->tmp, "ticket", 0644, "{{#broken");
	fixture_write_text(&fx->tmp, ".hidden.mustache", 0644, "{{#broken");
	fixture_write_text(&fx->tmp, "note.mustache", 0644, "fine");
	fx_load_ok(fx);
	assert_int_equal(templates_count(fx->t), 1);
	assert_non_null(templates_find(fx->t, "note"));
	assert_null(templates_find(fx->t, "README"));
	assert_null(templates_find(fx->t, ".hidden"));
}

static void
test_an_empty_directory_loads_an_empty_set(void **state)
{
	struct fx *fx = *state;

	fx_load_ok(fx);
	assert_int_equal(templates_count(fx->t), 0);
	assert_null(templates_find(fx->t, "anything"));
	assert_null(templates_at(fx->t, 0));
}

static void
test_a_template_with_a_nul_byte_is_an_error(void **state)
{
	struct fx *fx = *state;

	fixture_write(&fx->tmp, "note.mustache", 0644, "ab\0cd", 5);
	fx_load_fails(fx, 1);
	expect_error(fx, "note.mustache", ": the template contains a NUL byte");
}

static void
test_a_directory_named_like_a_template_is_an_error(void **state)
{
	struct fx *fx = *state;

	fixture_mkdir(&fx->tmp, "sub.mustache");
	fx_load_fails(fx, 1);
	expect_error(fx, "sub.mustache", ": cannot read the template: ");
}

static void
test_partial_from_dir_reads_name_mustache_then_json(void **state)
{
	struct fx *fx = *state;
	char *src = NULL;

	fixture_write_text(&fx->tmp, "footer.mustache", 0644, "text footer");
	fixture_write_text(&fx->tmp, "facts.json.mustache", 0644, "json facts");
	assert_int_equal(
	    templates_partial_from_dir("footer", &src, fx->tmp.path), 0);
	assert_string_equal(src, "text footer");
	free(src);
	assert_int_equal(
	    templates_partial_from_dir("facts", &src, fx->tmp.path), 0);
	assert_string_equal(src, "json facts");
	free(src);
	assert_int_equal(
	    templates_partial_from_dir("absent", &src, fx->tmp.path), -1);
	assert_null(src);
}

static void
test_partial_from_dir_refuses_names_with_a_slash(void **state)
{
	struct fx *fx = *state;
	char *src = NULL, sub[PATH_MAX];

	/* both files exist: only the name's shape refuses them */
	fixture_mkdir(&fx->tmp, "sub");
	fixture_write_text(&fx->tmp, "sub/x.mustache", 0644, "inside");
	fixture_write_text(&fx->tmp, "x.mustache", 0644, "outside");
	snprintf(sub, sizeof(sub), "%s/sub", fx->tmp.path);
	assert_int_equal(templates_partial_from_dir("x", &src, sub), 0);
	assert_string_equal(src, "inside");
	free(src);
	src = NULL;
	assert_int_equal(
	    templates_partial_from_dir("sub/x", &src, fx->tmp.path), -1);
	assert_null(src);
	assert_int_equal(templates_partial_from_dir("../x", &src, sub), -1);
	assert_null(src);
	assert_int_equal(templates_partial_from_dir("/x", &src, fx->tmp.path),
			 -1);
	assert_null(src);
}

static void
test_read_file_refuses_files_over_the_maximum(void **state)
{
	struct fx *fx = *state;
	char *text = NULL;
	size_t len = 0;

	fixture_write_text(&fx->tmp, "f.mustache", 0644, "0123456789");
	assert_int_equal(templates_read_file(fx->tmp.made[0], 10, &text, &len),
			 0);
	assert_int_equal(len, 10);
	assert_string_equal(text, "0123456789");
	free(text);
	text = NULL;
	assert_int_equal(templates_read_file(fx->tmp.made[0], 9, &text, &len),
			 -1);
	assert_null(text);
}

static void
test_read_file_keeps_the_errno_of_a_failed_fstat(void **state)
{
	struct fx *fx = *state;
	char *text = NULL;
	size_t len = 0;
	int rc;

	fixture_write_text(&fx->tmp, "f.mustache", 0644, "0123456789");
	fx_fstat_errno = EOVERFLOW;
	errno = 0;
	rc = templates_read_file(fx->tmp.made[0], 100, &text, &len);
	fx_fstat_errno = 0;
	assert_int_equal(rc, -1);
	assert_null(text);
	/* not EFBIG or EISDIR made up from an unset struct stat */
	assert_int_equal(errno, EOVERFLOW);
}

static void
test_free_accepts_null(void **state)
{
	struct fx *fx = *state;

	templates_free(NULL);
	fx_load_ok(fx);
	templates_free(fx->t);
	fx->t = NULL;
	assert_null(fx->t);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_each_suffix_gives_its_kind_and_a_name_without_extension),
	    T(test_json_templates_escape_values_and_text_templates_do_not),
	    T(test_two_files_with_the_same_name_are_an_error),
	    T(test_json_and_text_templates_with_the_same_name_are_an_error),
	    T(test_a_compile_error_names_path_line_and_column),
	    T(test_a_ticket_error_names_path_line_and_column),
	    T(test_every_broken_template_is_reported_at_once),
	    T(test_partials_resolve_to_text_templates_of_the_set),
	    T(test_partials_come_from_the_loaded_set_not_the_disk),
	    T(test_a_partial_falls_back_to_a_json_template),
	    T(test_a_ticket_template_is_not_a_partial),
	    T(test_an_unknown_directory_is_an_error),
	    T(test_templates_exists_answers_for_names_of_the_set),
	    T(test_files_without_a_known_suffix_are_ignored),
	    T(test_an_empty_directory_loads_an_empty_set),
	    T(test_a_template_with_a_nul_byte_is_an_error),
	    T(test_a_directory_named_like_a_template_is_an_error),
	    T(test_partial_from_dir_reads_name_mustache_then_json),
	    T(test_partial_from_dir_refuses_names_with_a_slash),
	    T(test_read_file_refuses_files_over_the_maximum),
	    T(test_read_file_keeps_the_errno_of_a_failed_fstat),
	    T(test_free_accepts_null),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
