/*
 * Unit tests for config (and diag, which it reports through).  Every test
 * writes its config into a fresh mkdtemp() directory; messages are checked
 * for their exact "FILE:LINE: " prefix and a key word.
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
#include <sys/stat.h>
#include <unistd.h>

#include "psabridge/config.h"
#include "psabridge/diag.h"
#include "fixture.h"

#define HOOK_TOKEN  "hook-secret-1"
#define ADMIN_TOKEN "admin-secret-2"

/* A valid config, so that a test can add exactly one mistake to it. */
#define LISTEN "listen = \"127.0.0.1:0\";\n"
#define STATE  "state_dir = \"var\";\n"
#define SOURCES                                                                \
	"sources = ({ name = \"defensx\"; path = \"/hooks/defensx\";\n"        \
	"  token = \"env:DEFENSX_HOOK_TOKEN\"; });\n"
#define MINIMAL LISTEN STATE SOURCES

struct fx {
	struct fixture_dir tmp;
	char path[PATH_MAX]; /* the config file */
	char cwd[PATH_MAX];  /* set while a test has moved away */
	struct diag d;
	struct config *cfg;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fixture_dir_make(&fx->tmp, "test");
	snprintf(fx->path, sizeof(fx->path), "%s/psabridge.cfg", fx->tmp.path);
	diag_init(&fx->d);
	setenv("DEFENSX_HOOK_TOKEN", HOOK_TOKEN, 1);
	setenv("PSABRIDGE_ADMIN_TOKEN", ADMIN_TOKEN, 1);
	unsetenv("CREDENTIALS_DIRECTORY");
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	if (fx->cwd[0] != '\0' && chdir(fx->cwd) == -1)
		return -1;
	config_free(fx->cfg);
	diag_free(&fx->d);
	fixture_dir_remove(&fx->tmp);
	free(fx);
	return 0;
}

static int
fx_load(struct fx *fx, const char *text)
{
	fixture_write_text(&fx->tmp, "psabridge.cfg", 0600, text);
	return config_load(fx->path, &fx->cfg, &fx->d);
}

#define expect_error(fx, line, word)                                           \
	assert_true(                                                           \
	    fixture_diag_has(&(fx)->d, DIAG_ERROR, (fx)->path, line, word))
#define expect_warning(fx, line, word)                                         \
	assert_true(                                                           \
	    fixture_diag_has(&(fx)->d, DIAG_WARNING, (fx)->path, line, word))

/* No message may ever carry a secret's value. */
static void
assert_no_secret_in_diag(const struct fx *fx, const char *secret)
{
	size_t i;

	for (i = 0; i < fx->d.len; i++)
		assert_null(strstr(fx->d.entries[i].text, secret));
}

static void
assert_load_fails(struct fx *fx, const char *text, size_t nerrors)
{
	assert_int_equal(fx_load(fx, text), -1);
	assert_null(fx->cfg);
	if (fx->d.nerrors != nerrors)
		diag_print(&fx->d, stderr);
	assert_int_equal(fx->d.nerrors, nerrors);
}

/* --- a whole file ------------------------------------------------------- */

static void
test_sample_config_loads_every_field(void **state)
{
	struct fx *fx = *state;
	char want[PATH_MAX];
	const struct config_source *src;

	assert_int_equal(
	    fx_load(fx, "listen    = \"127.0.0.1:8080\";        # callbacks\n"
			"state_dir = \"var\";                    # SQLite\n"
			"limits = { max_body_bytes = 65536; max_header_bytes = "
			"8192;\n"
			"           request_timeout_s = 10; max_connections = "
			"1024; };\n"
			"admin  = { listen = \"127.0.0.1:8081\"; "
			"token = \"env:PSABRIDGE_ADMIN_TOKEN\"; };\n"
			"sources = (\n"
			"  { name = \"defensx\"; path = \"/hooks/defensx\"; "
			"token = \"env:DEFENSX_HOOK_TOKEN\";\n"
			"    dedup_window = \"24h\"; }\n"
			");\n"),
	    0);
	assert_int_equal(fx->d.nerrors + fx->d.nwarnings, 0);
	assert_string_equal(fx->cfg->file, fx->path);
	assert_string_equal(fx->cfg->dir, fx->tmp.path);
	assert_string_equal(fx->cfg->listen, "127.0.0.1:8080");
	snprintf(want, sizeof(want), "%s/var", fx->tmp.path);
	assert_string_equal(fx->cfg->state_dir, want);
	assert_int_equal(fx->cfg->max_body_bytes, 65536);
	assert_int_equal(fx->cfg->max_header_bytes, 8192);
	assert_int_equal(fx->cfg->request_timeout_s, 10);
	assert_int_equal(fx->cfg->max_connections, 1024);
	assert_string_equal(fx->cfg->admin_listen, "127.0.0.1:8081");
	assert_string_equal(fx->cfg->admin_token, ADMIN_TOKEN);
	assert_int_equal(fx->cfg->nsources, 1);
	src = &fx->cfg->sources[0];
	assert_string_equal(src->name, "defensx");
	assert_string_equal(src->path, "/hooks/defensx");
	assert_string_equal(src->token, HOOK_TOKEN);
	assert_int_equal(src->dedup_window_s, 86400);
	assert_int_equal(src->line, 7);
}

static void
test_limits_values_are_read_not_defaulted(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_load(fx, MINIMAL
				 "limits = { max_body_bytes = 1048576;\n"
				 "  max_header_bytes = 1024;\n"
				 "  request_timeout_s = 3600;\n"
				 "  max_connections = 1000000; };\n"),
			 0);
	assert_int_equal(fx->cfg->max_body_bytes, 1048576);
	assert_int_equal(fx->cfg->max_header_bytes, 1024);
	assert_int_equal(fx->cfg->request_timeout_s, 3600);
	assert_int_equal(fx->cfg->max_connections, 1000000);
}

static void
test_defaults_when_limits_and_admin_omitted(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_load(fx, MINIMAL), 0);
	assert_int_equal(fx->cfg->max_body_bytes, 65536);
	assert_int_equal(fx->cfg->max_header_bytes, 8192);
	assert_int_equal(fx->cfg->request_timeout_s, 10);
	assert_int_equal(fx->cfg->max_connections, 1024);
	assert_null(fx->cfg->admin_listen);
	assert_null(fx->cfg->admin_token);
	assert_int_equal(fx->cfg->sources[0].dedup_window_s, 86400);
	assert_int_equal(fx->d.nerrors + fx->d.nwarnings, 0);
}

static void
test_each_omitted_limit_keeps_its_default(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(
	    fx_load(fx, MINIMAL "limits = { max_connections = 7; };\n"), 0);
	assert_int_equal(fx->cfg->max_connections, 7);
	assert_int_equal(fx->cfg->max_body_bytes, 65536);
	assert_int_equal(fx->cfg->max_header_bytes, 8192);
	assert_int_equal(fx->cfg->request_timeout_s, 10);
}

static void
test_admin_token_is_optional(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(
	    fx_load(fx, MINIMAL "admin = { listen = \"[::1]:0\"; };\n"), 0);
	assert_string_equal(fx->cfg->admin_listen, "[::1]:0");
	assert_null(fx->cfg->admin_token);
}

static void
test_admin_without_listen_is_error_at_admin_line(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, MINIMAL "admin = {\n};\n", 1);
	expect_error(fx, 5, "missing required key \"listen\" in admin");
}

static void
test_missing_top_keys_reported_without_line(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, STATE, 2);
	expect_error(fx, 0, "missing required key \"listen\"");
	expect_error(fx, 0, "missing required key \"sources\"");
}

static void
test_missing_source_keys_name_the_source(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(
	    fx, LISTEN STATE "sources = (\n  { name = \"a\"; }\n);\n", 2);
	expect_error(fx, 4, "missing required key \"path\" in sources[0]");
	expect_error(fx, 4, "missing required key \"token\" in sources[0]");
}

static void
test_three_errors_reported_at_once(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx,
			  "listen = \"nothost\";\n" STATE
			  "limits = { max_connections = 0; };\n"
			  "sources = ({ name = \"bad name\"; path = \"/x\";\n"
			  "  token = \"env:DEFENSX_HOOK_TOKEN\"; });\n",
			  3);
	expect_error(fx, 1, "listen: \"nothost\" is not an address");
	expect_error(fx, 3, "limits.max_connections: 0 is out of range");
	expect_error(fx, 4,
		     "sources[0].name: \"bad name\" is not a valid name");
}

static void
test_warnings_do_not_fail_the_load(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_load(fx,
				 MINIMAL "admin = { listen = \"127.0.0.1:0\";\n"
					 "  token = \"literal-admin\"; };\n"),
			 0);
	assert_int_equal(fx->d.nerrors, 0);
	assert_int_equal(fx->d.nwarnings, 1);
	assert_string_equal(fx->cfg->admin_token, "literal-admin");
}

static void
test_failed_load_leaves_earlier_diag_entries(void **state)
{
	struct fx *fx = *state;

	diag_warn(&fx->d, NULL, 0, "from before");
	assert_load_fails(fx, LISTEN SOURCES, 1);
	assert_int_equal(fx->d.nwarnings, 1);
	assert_string_equal(fx->d.entries[0].text, "from before");
}

/* --- unknown keys and wrong types --------------------------------------- */

static void
test_unknown_top_level_key_is_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, MINIMAL "foo = 1;\nrule = ();\n", 2);
	expect_error(fx, 5, "unknown key \"foo\"");
	expect_error(fx, 6, "unknown key \"rule\"");
}

static void
test_unknown_key_in_limits_is_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, MINIMAL "limits = {\n  max_bodybytes = 5; };\n",
			  1);
	expect_error(fx, 6, "unknown key \"max_bodybytes\" in limits");
}

static void
test_unknown_key_in_admin_is_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(
	    fx,
	    MINIMAL "admin = { listen = \"127.0.0.1:0\";\n  tokn = \"x\"; };\n",
	    1);
	expect_error(fx, 6, "unknown key \"tokn\" in admin");
}

static void
test_unknown_key_in_each_source_is_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx,
			  LISTEN STATE "sources = (\n"
				       "  { name = \"a\"; path = \"/a\"; token "
				       "= \"env:DEFENSX_HOOK_TOKEN\"; },\n"
				       "  { name = \"b\"; path = \"/b\"; token "
				       "= \"env:DEFENSX_HOOK_TOKEN\";\n"
				       "    dedup = \"1h\"; }\n"
				       ");\n",
			  1);
	expect_error(fx, 6, "unknown key \"dedup\" in sources[1]");
}

static void
test_duration_given_as_integer_names_expected_type(void **state)
{
	struct fx *fx = *state;
	char want[PATH_MAX + 128];

	assert_load_fails(fx,
			  LISTEN STATE
			  "sources = ({ name = \"a\"; path = \"/a\";\n"
			  "  token = \"env:DEFENSX_HOOK_TOKEN\";\n"
			  "  dedup_window = 24; });\n",
			  1);
	snprintf(want, sizeof(want),
		 "%s:5: sources[0].dedup_window: expected a duration string "
		 "like \"24h\", got an integer",
		 fx->path);
	assert_string_equal(fx->d.entries[0].text, want);
}

static void
test_wrong_types_name_key_and_expected_type(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx,
			  "listen = 8080;\n"
			  "state_dir = [\"var\"];\n"
			  "limits = { max_body_bytes = \"64k\";\n"
			  "  request_timeout_s = 1.5; };\n"
			  "admin = \"127.0.0.1:9\";\n"
			  "sources = { name = \"a\"; };\n",
			  6);
	expect_error(fx, 1,
		     "listen: expected a string \"host:port\", got an "
		     "integer");
	expect_error(fx, 2, "state_dir: expected a string");
	expect_error(fx, 3,
		     "limits.max_body_bytes: expected an integer, got "
		     "a string");
	expect_error(fx, 4,
		     "limits.request_timeout_s: expected an integer, "
		     "got a float");
	expect_error(fx, 5, "admin: expected a group");
	expect_error(fx, 6, "sources: expected a list");
}

static void
test_source_that_is_not_a_group_is_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, LISTEN STATE "sources = (\n  \"defensx\" );\n",
			  1);
	expect_error(fx, 4, "sources[0]: expected a group");
}

static void
test_int64_literal_is_accepted_as_integer(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(
	    fx_load(fx, MINIMAL "limits = { max_body_bytes = 4096L; };\n"), 0);
	assert_int_equal(fx->cfg->max_body_bytes, 4096);
}

static void
test_limits_out_of_range_are_errors(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx,
			  MINIMAL "limits = {\n"
				  "  max_body_bytes = 67108865;\n"
				  "  max_header_bytes = 1023;\n"
				  "  request_timeout_s = 3601;\n"
				  "  max_connections = 1000001; };\n",
			  4);
	expect_error(fx, 6,
		     "max_body_bytes: 67108865 is out of range "
		     "1..67108864");
	expect_error(fx, 7,
		     "max_header_bytes: 1023 is out of range "
		     "1024..1048576");
	expect_error(fx, 8, "request_timeout_s: 3601 is out of range 1..3600");
	expect_error(fx, 9,
		     "max_connections: 1000001 is out of range "
		     "1..1000000");
}

static void
test_limits_accept_their_bounds(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_load(fx, MINIMAL "limits = {\n"
					     "  max_body_bytes = 67108864;\n"
					     "  max_header_bytes = 1048576;\n"
					     "  request_timeout_s = 1;\n"
					     "  max_connections = 1; };\n"),
			 0);
	assert_int_equal(fx->cfg->max_body_bytes, 64 << 20);
	assert_int_equal(fx->cfg->max_header_bytes, 1 << 20);
	assert_int_equal(fx->cfg->request_timeout_s, 1);
	assert_int_equal(fx->cfg->max_connections, 1);
}

/* --- syntax, files, includes -------------------------------------------- */

static void
test_syntax_error_reports_libconfig_line(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, LISTEN STATE "limits = { max_body_bytes = ; };\n",
			  1);
	expect_error(fx, 3, "syntax error: ");
}

static void
test_duplicate_key_is_a_syntax_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, MINIMAL "listen = \"127.0.0.1:1\";\n", 1);
	expect_error(fx, 5, "syntax error: duplicate setting name");
}

static void
test_missing_config_file_is_error_with_reason(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX + 16];

	snprintf(path, sizeof(path), "%s/absent.cfg", fx->tmp.path);
	assert_int_equal(config_load(path, &fx->cfg, &fx->d), -1);
	assert_null(fx->cfg);
	assert_true(fixture_diag_has(&(fx)->d, DIAG_ERROR, path, 0,
				     "cannot read: No such file or directory"));
}

static void
test_directory_as_config_file_is_error(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(config_load(fx->tmp.path, &fx->cfg, &fx->d), -1);
	assert_true(fixture_diag_has(&(fx)->d, DIAG_ERROR, fx->tmp.path, 0,
				     "not a regular"));
}

static void
test_include_is_relative_to_config_dir(void **state)
{
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "sources.cfg", 0600, SOURCES);
	assert_int_equal(fx_load(fx, LISTEN STATE "@include \"sources.cfg\"\n"),
			 0);
	assert_string_equal(fx->cfg->sources[0].name, "defensx");
}

static void
test_error_in_included_file_names_that_file(void **state)
{
	struct fx *fx = *state;
	char inc[PATH_MAX + 16];

	fixture_write_text(&fx->tmp, "limits.cfg", 0600,
			   "\nlimits = { bogus = 1; };\n");
	assert_load_fails(fx, MINIMAL "@include \"limits.cfg\"\n", 1);
	snprintf(inc, sizeof(inc), "%s/limits.cfg", fx->tmp.path);
	assert_true(fixture_diag_has(&(fx)->d, DIAG_ERROR, inc, 2,
				     "unknown key \"bogus\" in limits"));
}

static void
test_syntax_error_in_included_file_names_that_file(void **state)
{
	struct fx *fx = *state;
	char inc[PATH_MAX + 16];

	fixture_write_text(&fx->tmp, "bad.cfg", 0600, "a = 1;\nb = ;\n");
	assert_load_fails(fx, MINIMAL "@include \"bad.cfg\"\n", 1);
	snprintf(inc, sizeof(inc), "%s/bad.cfg", fx->tmp.path);
	assert_true(
	    fixture_diag_has(&(fx)->d, DIAG_ERROR, inc, 2, "syntax error"));
}

static void
test_relative_config_path_resolves_state_dir_from_cwd(void **state)
{
	struct fx *fx = *state;
	char *base = strrchr(fx->tmp.path, '/');
	char rel[PATH_MAX], want[PATH_MAX];

	fixture_write_text(&fx->tmp, "hook.secret", 0600, "from-file\n");
	assert_non_null(getcwd(fx->cwd, sizeof(fx->cwd)));
	*base = '\0';
	assert_int_equal(chdir(fx->tmp.path), 0);
	*base = '/';
	snprintf(rel, sizeof(rel), "%s/psabridge.cfg", base + 1);
	fixture_write_text(&fx->tmp, "psabridge.cfg", 0600,
			   LISTEN STATE
			   "sources = ({ name = \"a\"; path = \"/a\";\n"
			   "  token = \"file:hook.secret\"; });\n");
	assert_int_equal(config_load(rel, &fx->cfg, &fx->d), 0);
	snprintf(want, sizeof(want), "%s/var", base + 1);
	assert_string_equal(fx->cfg->state_dir, want);
	assert_string_equal(fx->cfg->dir, base + 1);
	assert_string_equal(fx->cfg->sources[0].token, "from-file");
}

static void
test_absolute_state_dir_is_kept(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(
	    fx_load(fx, LISTEN "state_dir = \"/var/lib/psabridge\";\n" SOURCES),
	    0);
	assert_string_equal(fx->cfg->state_dir, "/var/lib/psabridge");
}

static void
test_empty_state_dir_is_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, LISTEN "state_dir = \"\";\n" SOURCES, 1);
	expect_error(fx, 2, "state_dir: must not be empty");
}

/* --- durations ---------------------------------------------------------- */

static void
test_duration_parse_accepts_units_and_zero(void **state)
{
	long v = -1;

	(void)state;
	assert_int_equal(config_parse_duration("90s", &v), 0);
	assert_int_equal(v, 90);
	assert_int_equal(config_parse_duration("15m", &v), 0);
	assert_int_equal(v, 900);
	assert_int_equal(config_parse_duration("24h", &v), 0);
	assert_int_equal(v, 86400);
	assert_int_equal(config_parse_duration("7d", &v), 0);
	assert_int_equal(v, 604800);
	assert_int_equal(config_parse_duration("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(config_parse_duration("106751991167300d", &v), 0);
	assert_int_equal(v, 106751991167300L * 86400);
}

static void
test_duration_parse_rejects_malformed(void **state)
{
	static const char *const bad[] = {
	    "",	    "5",
	    "5x",   "-5s",
	    "5s5",  "99999999999999999999d",
	    "s",    "+5s",
	    " 5s",  "5s ",
	    "5 s",  "0s",
	    "00",   "5S",
	    "1.5h", "106751991167301d",
	};
	size_t i;
	long v = 42;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (config_parse_duration(bad[i], &v) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_int_equal(v, 42);
	}
	assert_int_equal(config_parse_duration(NULL, &v), -1);
}

static void
test_dedup_window_is_parsed_and_zero_disables(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_load(fx, LISTEN STATE
				 "sources = (\n"
				 "  { name = \"a\"; path = \"/a\"; token = "
				 "\"env:DEFENSX_HOOK_TOKEN\";\n"
				 "    dedup_window = \"90s\"; },\n"
				 "  { name = \"b\"; path = \"/b\"; token = "
				 "\"env:DEFENSX_HOOK_TOKEN\";\n"
				 "    dedup_window = \"0\"; });\n"),
			 0);
	assert_int_equal(fx->cfg->sources[0].dedup_window_s, 90);
	assert_int_equal(fx->cfg->sources[1].dedup_window_s, 0);
	assert_int_equal(fx->cfg->sources[1].line, 6);
}

static void
test_bad_dedup_window_is_error_at_its_line(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx,
			  LISTEN STATE
			  "sources = ({ name = \"a\"; path = \"/a\";\n"
			  "  token = \"env:DEFENSX_HOOK_TOKEN\";\n"
			  "  dedup_window = \"5x\"; });\n",
			  1);
	expect_error(fx, 5,
		     "sources[0].dedup_window: \"5x\" is not a duration");
}

/* --- addresses ---------------------------------------------------------- */

static void
test_address_parse_accepts_host_port_and_v6(void **state)
{
	char *host = NULL;
	int port = -1;

	(void)state;
	assert_int_equal(config_parse_address("127.0.0.1:8080", &host, &port),
			 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8080);
	free(host);
	assert_int_equal(config_parse_address("[::1]:80", &host, &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 80);
	free(host);
	assert_int_equal(config_parse_address("localhost:0", &host, &port), 0);
	assert_string_equal(host, "localhost");
	assert_int_equal(port, 0);
	free(host);
	assert_int_equal(config_parse_address("h:65535", &host, &port), 0);
	assert_int_equal(port, 65535);
	free(host);
}

static void
test_address_parse_rejects_malformed(void **state)
{
	static const char *const bad[] = {
	    ":80",	    "host",  "h:70000", "h:",	       "h:-1",	"h:+80",
	    "h:123456",	    "h :80", "::1:80",	"[::1]80",     "[::1]", "[]:80",
	    "[nothost]:80", "h:80x", "a:b:80",	"[::1]:65536", "",
	};
	char sentinel, *host;
	size_t i;
	int port;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		host = &sentinel; /* must come back NULL */
		if (config_parse_address(bad[i], &host, &port) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_null(host);
	}
}

static void
test_bad_listen_address_is_error_at_its_line(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, STATE SOURCES "listen = \"h:70000\";\n", 1);
	expect_error(fx, 4, "listen: \"h:70000\" is not an address");
}

static void
test_bad_admin_listen_is_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, MINIMAL "admin = {\n  listen = \":80\"; };\n", 1);
	expect_error(fx, 6, "admin.listen: \":80\" is not an address");
}

static void
test_same_listen_and_admin_address_is_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx,
			  "listen = \"127.0.0.1:8080\";\n" STATE SOURCES
			  "admin = {\n  listen = \"127.0.0.1:8080\"; };\n",
			  1);
	expect_error(fx, 6,
		     "admin.listen: \"127.0.0.1:8080\" is also the "
		     "listen address");
}

static void
test_both_listeners_on_port_zero_do_not_clash(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(
	    fx_load(fx, MINIMAL "admin = { listen = \"127.0.0.1:0\"; };\n"), 0);
}

/* --- sources ------------------------------------------------------------ */

static void
test_source_names_and_paths_must_be_unique(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(
	    fx,
	    LISTEN STATE
	    "sources = (\n"
	    "  { name = \"a\"; path = \"/a\"; token = "
	    "\"env:DEFENSX_HOOK_TOKEN\"; },\n"
	    "  { name = \"b\"; path = \"/b\"; token = "
	    "\"env:DEFENSX_HOOK_TOKEN\"; },\n"
	    "  { name = \"a\";\n"
	    "    path = \"/b\"; token = \"env:DEFENSX_HOOK_TOKEN\"; }\n"
	    ");\n",
	    2);
	expect_error(fx, 6,
		     "sources[2].name: \"a\" is already used by "
		     "sources[0] (line 4)");
	expect_error(fx, 7,
		     "sources[2].path: \"/b\" is already used by "
		     "sources[1] (line 5)");
}

static void
test_source_name_pattern_is_enforced(void **state)
{
	struct fx *fx = *state;
	char text[1024];

	snprintf(
	    text, sizeof(text),
	    LISTEN STATE "sources = (\n"
			 "  { name = \"%.64s\"; path = \"/a\"; token = "
			 "\"env:DEFENSX_HOOK_TOKEN\"; },\n"
			 "  { name = \"%.65s\"; path = \"/b\"; token = "
			 "\"env:DEFENSX_HOOK_TOKEN\"; },\n"
			 "  { name = \"\"; path = \"/c\"; token = "
			 "\"env:DEFENSX_HOOK_TOKEN\"; },\n"
			 "  { name = \"a.b\"; path = \"/d\"; token = "
			 "\"env:DEFENSX_HOOK_TOKEN\"; }\n"
			 ");\n",
	    "x123456789x123456789x123456789x123456789x123456789x123456789_-Zz",
	    "x123456789x123456789x123456789x123456789x123456789x123456789_-"
	    "Zzz");
	assert_load_fails(fx, text, 3);
	expect_error(fx, 5, "sources[1].name: ");
	expect_error(fx, 6, "sources[2].name: \"\" is not a valid name");
	expect_error(fx, 7, "sources[3].name: \"a.b\" is not a valid name");
}

static void
test_source_path_must_be_a_plain_absolute_path(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx,
			  LISTEN STATE
			  "sources = (\n"
			  "  { name = \"a\"; path = \"hooks/a\"; token = "
			  "\"env:DEFENSX_HOOK_TOKEN\"; },\n"
			  "  { name = \"b\"; path = \"/b?x=1\"; token = "
			  "\"env:DEFENSX_HOOK_TOKEN\"; },\n"
			  "  { name = \"c\"; path = \"/c#x\"; token = "
			  "\"env:DEFENSX_HOOK_TOKEN\"; },\n"
			  "  { name = \"d\"; path = \"/d e\"; token = "
			  "\"env:DEFENSX_HOOK_TOKEN\"; }\n"
			  ");\n",
			  4);
	expect_error(fx, 4, "sources[0].path: \"hooks/a\" must start with");
	expect_error(fx, 5, "sources[1].path: \"/b?x=1\" must not contain");
	expect_error(fx, 6, "sources[2].path: \"/c#x\" must not contain");
	expect_error(fx, 7,
		     "sources[3].path: \"/d e\" must not contain spaces");
}

static void
test_empty_sources_list_is_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, LISTEN STATE "sources = ();\n", 1);
	expect_error(fx, 3, "sources: must list at least one source");
}

/* --- secrets ------------------------------------------------------------ */

/*
 * One test or more per form, for the FILE:LINE and key that config adds;
 * the resolver's own rules are pinned in test_secret.c.
 */

#define FILE_TOKEN_CFG(ref)                                                    \
	LISTEN STATE "sources = ({ name = \"a\"; path = \"/a\";\n"             \
		     "  token = \"" ref "\"; });\n"

static void
test_file_secret_is_relative_to_config_dir_and_newline_stripped(void **state)
{
	struct fx *fx = *state;

	fixture_mkdir(&fx->tmp, "secrets");
	fixture_write_text(&fx->tmp, "secrets/hook", 0600, "s3cret\n");
	assert_int_equal(fx_load(fx, FILE_TOKEN_CFG("file:secrets/hook")), 0);
	assert_string_equal(fx->cfg->sources[0].token, "s3cret");
	assert_int_equal(fx->d.nwarnings, 0);
}

static void
test_group_readable_secret_file_warns_chmod(void **state)
{
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "hook", 0644, "s3cret-644");
	fixture_write_text(&fx->tmp, "group", 0640, "s3cret-640");
	fixture_write_text(&fx->tmp, "other", 0604, "s3cret-604");
	assert_int_equal(
	    fx_load(
		fx, LISTEN STATE
		"sources = (\n"
		"  { name = \"a\"; path = \"/a\"; token = \"file:hook\"; },\n"
		"  { name = \"b\"; path = \"/b\"; token = \"file:group\"; },\n"
		"  { name = \"c\"; path = \"/c\"; token = \"file:other\"; "
		"});\n"),
	    0);
	assert_int_equal(fx->d.nwarnings, 3);
	expect_warning(fx, 4, "sources[0].token: secret file");
	expect_warning(fx, 4, "readable by group or others; run chmod 600");
	expect_warning(fx, 5, "sources[1].token: secret file");
	expect_warning(fx, 6, "sources[2].token: secret file");
	assert_no_secret_in_diag(fx, "s3cret");
	assert_string_equal(fx->cfg->sources[0].token, "s3cret-644");
}

static void
test_missing_secret_file_is_error_with_reason(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, FILE_TOKEN_CFG("file:nope"), 1);
	expect_error(fx, 4, "No such file or directory");
	expect_error(fx, 4, "sources[0].token: cannot open secret file");
}

static void
test_env_secret_missing_or_empty_variable_is_error(void **state)
{
	struct fx *fx = *state;

	unsetenv("DEFENSX_HOOK_TOKEN");
	setenv("PSABRIDGE_TEST_EMPTY", "", 1);
	assert_load_fails(fx,
			  LISTEN STATE SOURCES
			  "admin = { listen = \"127.0.0.1:1\";\n"
			  "  token = \"env:PSABRIDGE_TEST_EMPTY\"; };\n",
			  2);
	expect_error(fx, 4,
		     "sources[0].token: environment variable "
		     "DEFENSX_HOOK_TOKEN is not set");
	expect_error(fx, 6,
		     "admin.token: environment variable "
		     "PSABRIDGE_TEST_EMPTY is empty");
	unsetenv("PSABRIDGE_TEST_EMPTY");
}

static void
test_literal_secret_loads_with_warning_not_echoed(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_load(fx, FILE_TOKEN_CFG("hunter2-literal")), 0);
	assert_string_equal(fx->cfg->sources[0].token, "hunter2-literal");
	expect_warning(fx, 4,
		       "sources[0].token: literal secret in the config "
		       "file; use \"env:NAME\" or \"file:PATH\"");
	assert_no_secret_in_diag(fx, "hunter2");
}

static void
test_empty_literal_secret_is_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, FILE_TOKEN_CFG(""), 1);
	expect_error(fx, 4, "sources[0].token: the secret is empty");
}

static void
test_cred_secret_reads_credentials_directory(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX + 16];

	fixture_mkdir(&fx->tmp, "creds");
	fixture_write_text(&fx->tmp, "creds/hook", 0400, "from-systemd\n");
	snprintf(dir, sizeof(dir), "%s/creds", fx->tmp.path);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	assert_int_equal(fx_load(fx, FILE_TOKEN_CFG("cred:hook")), 0);
	assert_string_equal(fx->cfg->sources[0].token, "from-systemd");
	assert_int_equal(fx->d.nwarnings, 0);
}

static void
test_cred_secret_without_credentials_directory_is_error(void **state)
{
	struct fx *fx = *state;

	assert_load_fails(fx, FILE_TOKEN_CFG("cred:hook"), 1);
	expect_error(fx, 4, "CREDENTIALS_DIRECTORY");
}

static void
test_secret_reference_without_name_is_error(void **state)
{
	struct fx *fx = *state;

	setenv("CREDENTIALS_DIRECTORY", fx->tmp.path, 1);
	assert_load_fails(
	    fx,
	    LISTEN STATE
	    "sources = (\n"
	    "  { name = \"a\"; path = \"/a\"; token = \"env:\"; },\n"
	    "  { name = \"b\"; path = \"/b\"; token = \"file:\"; },\n"
	    "  { name = \"c\"; path = \"/c\"; token = \"cred:../x\"; },\n"
	    "  { name = \"d\"; path = \"/d\"; token = \"env:A-B\"; },\n"
	    "  { name = \"e\"; path = \"/e\"; token = \"cred:..\"; });\n",
	    5);
	expect_error(fx, 4, "sources[0].token: \"env:\" is not a variable");
	expect_error(fx, 5, "sources[1].token: \"file:\" names no file");
	expect_error(fx, 6, "sources[2].token: \"cred:../x\" names no");
	expect_error(fx, 7, "sources[3].token: \"env:A-B\" is not a variable");
	expect_error(fx, 8, "sources[4].token: \"cred:..\" names no");
}

/* --- diag --------------------------------------------------------------- */

static void
test_diag_formats_file_line_prefixes(void **state)
{
	struct diag d;

	(void)state;
	diag_init(&d);
	diag_error(&d, "a.cfg", 12, "bad %s", "thing");
	diag_warn(&d, "a.cfg", 0, "no line");
	diag_error(&d, NULL, 3, "no file");
	assert_int_equal(d.len, 3);
	assert_int_equal(d.nerrors, 2);
	assert_int_equal(d.nwarnings, 1);
	assert_string_equal(d.entries[0].text, "a.cfg:12: bad thing");
	assert_int_equal(d.entries[0].level, DIAG_ERROR);
	assert_string_equal(d.entries[1].text, "a.cfg: no line");
	assert_int_equal(d.entries[1].level, DIAG_WARNING);
	assert_string_equal(d.entries[2].text, "no file");
	diag_free(&d);
}

static void
test_diag_print_prefixes_warnings_one_per_line(void **state)
{
	struct diag d;
	char *buf = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&buf, &len);

	(void)state;
	assert_non_null(fp);
	diag_init(&d);
	diag_error(&d, "f", 1, "one");
	diag_warn(&d, "f", 2, "two");
	diag_print(&d, fp);
	assert_int_equal(fclose(fp), 0);
	assert_string_equal(buf, "f:1: one\nwarning: f:2: two\n");
	free(buf);
	diag_free(&d);
}

static void
test_diag_keeps_many_entries_in_order(void **state)
{
	struct diag d;
	char want[32];
	int i;

	(void)state;
	diag_init(&d);
	for (i = 0; i < 100; i++)
		diag_error(&d, "f", i + 1, "e%d", i);
	assert_int_equal(d.len, 100);
	assert_int_equal(d.nerrors, 100);
	for (i = 0; i < 100; i++) {
		snprintf(want, sizeof(want), "f:%d: e%d", i + 1, i);
		assert_string_equal(d.entries[i].text, want);
	}
	diag_free(&d);
}

static void
test_free_functions_accept_null_and_reset(void **state)
{
	struct diag d;

	(void)state;
	config_free(NULL);
	diag_free(NULL);
	diag_init(&d);
	diag_error(&d, "f", 1, "x");
	diag_free(&d);
	assert_int_equal(d.len, 0);
	assert_int_equal(d.nerrors, 0);
	assert_null(d.entries);
	diag_free(&d);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_sample_config_loads_every_field),
	    T(test_limits_values_are_read_not_defaulted),
	    T(test_defaults_when_limits_and_admin_omitted),
	    T(test_each_omitted_limit_keeps_its_default),
	    T(test_admin_token_is_optional),
	    T(test_admin_without_listen_is_error_at_admin_line),
	    T(test_missing_top_keys_reported_without_line),
	    T(test_missing_source_keys_name_the_source),
	    T(test_three_errors_reported_at_once),
	    T(test_warnings_do_not_fail_the_load),
	    T(test_failed_load_leaves_earlier_diag_entries),
	    T(test_unknown_top_level_key_is_error),
	    T(test_unknown_key_in_limits_is_error),
	    T(test_unknown_key_in_admin_is_error),
	    T(test_unknown_key_in_each_source_is_error),
	    T(test_duration_given_as_integer_names_expected_type),
	    T(test_wrong_types_name_key_and_expected_type),
	    T(test_source_that_is_not_a_group_is_error),
	    T(test_int64_literal_is_accepted_as_integer),
	    T(test_limits_out_of_range_are_errors),
	    T(test_limits_accept_their_bounds),
	    T(test_syntax_error_reports_libconfig_line),
	    T(test_duplicate_key_is_a_syntax_error),
	    T(test_missing_config_file_is_error_with_reason),
	    T(test_directory_as_config_file_is_error),
	    T(test_include_is_relative_to_config_dir),
	    T(test_error_in_included_file_names_that_file),
	    T(test_syntax_error_in_included_file_names_that_file),
	    T(test_relative_config_path_resolves_state_dir_from_cwd),
	    T(test_absolute_state_dir_is_kept),
	    T(test_empty_state_dir_is_error),
	    cmocka_unit_test(test_duration_parse_accepts_units_and_zero),
	    cmocka_unit_test(test_duration_parse_rejects_malformed),
	    T(test_dedup_window_is_parsed_and_zero_disables),
	    T(test_bad_dedup_window_is_error_at_its_line),
	    cmocka_unit_test(test_address_parse_accepts_host_port_and_v6),
	    cmocka_unit_test(test_address_parse_rejects_malformed),
	    T(test_bad_listen_address_is_error_at_its_line),
	    T(test_bad_admin_listen_is_error),
	    T(test_same_listen_and_admin_address_is_error),
	    T(test_both_listeners_on_port_zero_do_not_clash),
	    T(test_source_names_and_paths_must_be_unique),
	    T(test_source_name_pattern_is_enforced),
	    T(test_source_path_must_be_a_plain_absolute_path),
	    T(test_empty_sources_list_is_error),
	    T(test_file_secret_is_relative_to_config_dir_and_newline_stripped),
	    T(test_group_readable_secret_file_warns_chmod),
	    T(test_missing_secret_file_is_error_with_reason),
	    T(test_env_secret_missing_or_empty_variable_is_error),
	    T(test_literal_secret_loads_with_warning_not_echoed),
	    T(test_empty_literal_secret_is_error),
	    T(test_cred_secret_reads_credentials_directory),
	    T(test_cred_secret_without_credentials_directory_is_error),
	    T(test_secret_reference_without_name_is_error),
	    cmocka_unit_test(test_diag_formats_file_line_prefixes),
	    cmocka_unit_test(test_diag_print_prefixes_warnings_one_per_line),
	    cmocka_unit_test(test_diag_keeps_many_entries_in_order),
	    cmocka_unit_test(test_free_functions_accept_null_and_reset),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
