/*
 * Unit tests for secret: secret_resolve() on each form of reference, with
 * its exact messages.  Files live in a fresh mkdtemp() directory; every
 * check also asserts that no message carries the secret's value.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psabridge/secret.h"
#include "fixture.h"

#define LITERAL_WARNING                                                        \
	"literal secret in the config file; use \"env:NAME\" or \"file:PATH\""

#define MODE_WARNING                                                           \
	"secret file \"%s/hook\" is readable by group or others; run chmod "   \
	"600 on it"

struct fx {
	struct fixture_dir tmp;
	char cwd[PATH_MAX]; /* set while a test has moved away */
	char *out;
	struct secret_report rep;
	char want[PATH_MAX + 256]; /* an expected message, built by a test */
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fixture_dir_make(&fx->tmp, "secret");
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
	secret_free(fx->out);
	fixture_dir_remove(&fx->tmp);
	free(fx);
	return 0;
}

/* n bytes of 'k', NUL-terminated; the caller frees. */
static char *
fx_repeat(size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, 'k', n);
	s[n] = '\0';
	return s;
}

static int
fx_resolve(struct fx *fx, const char *ref, const char *base_dir)
{
	secret_free(fx->out); /* NULL on the first call of a test */
	fx->out = NULL;
	/* Garbage first: the report must be reset by every call. */
	memset(&fx->rep, 'x', sizeof(fx->rep));
	return secret_resolve(ref, base_dir, &fx->out, &fx->rep);
}

static void
assert_no_value_in_report(const struct fx *fx, const char *value)
{
	assert_null(strstr(fx->rep.error, value));
	assert_null(strstr(fx->rep.warning, value));
}

static void
assert_resolves(struct fx *fx, const char *ref, const char *base_dir,
		const char *value, const char *warning)
{
	assert_int_equal(fx_resolve(fx, ref, base_dir), 0);
	assert_non_null(fx->out);
	assert_string_equal(fx->out, value);
	assert_string_equal(fx->rep.error, "");
	assert_string_equal(fx->rep.warning, warning);
	assert_no_value_in_report(fx, value);
}

static void
assert_fails(struct fx *fx, const char *ref, const char *base_dir,
	     const char *error, const char *warning)
{
	assert_int_equal(fx_resolve(fx, ref, base_dir), -1);
	assert_null(fx->out);
	assert_string_equal(fx->rep.error, error);
	assert_string_equal(fx->rep.warning, warning);
}

/* fx->want = fmt (a literal) with the fixture's directory for its %s. */
#define fx_msg(fx, fmt)                                                        \
	(snprintf((fx)->want, sizeof((fx)->want), fmt, (fx)->tmp.path),        \
	 (fx)->want)

/* --- env: --------------------------------------------------------------- */

static void
test_env_reference_returns_the_variable(void **state)
{
	struct fx *fx = *state;

	setenv("PSABRIDGE_T_SECRET", "from-env\n", 1);
	assert_resolves(fx, "env:PSABRIDGE_T_SECRET", fx->tmp.path,
			"from-env\n", "");
	unsetenv("PSABRIDGE_T_SECRET");
}

static void
test_env_unset_variable_is_error_naming_it(void **state)
{
	struct fx *fx = *state;

	unsetenv("PSABRIDGE_T_UNSET");
	assert_fails(fx, "env:PSABRIDGE_T_UNSET", NULL,
		     "environment variable PSABRIDGE_T_UNSET is not set", "");
}

static void
test_env_empty_variable_is_error(void **state)
{
	struct fx *fx = *state;

	setenv("PSABRIDGE_T_EMPTY", "", 1);
	assert_fails(fx, "env:PSABRIDGE_T_EMPTY", NULL,
		     "environment variable PSABRIDGE_T_EMPTY is empty", "");
	unsetenv("PSABRIDGE_T_EMPTY");
}

static void
test_env_reference_needs_a_variable_name(void **state)
{
	struct fx *fx = *state;

	/* Never a literal either: no warning, and no fallback. */
	assert_fails(fx, "env:", NULL, "\"env:\" is not a variable name", "");
	assert_fails(fx, "env:A-B", NULL, "\"env:A-B\" is not a variable name",
		     "");
	assert_fails(fx, "env:1A", NULL, "\"env:1A\" is not a variable name",
		     "");
	assert_fails(fx, "env:a\"b\\c\td", NULL,
		     "\"env:a?b?c?d\" is not a variable name", "");
}

static void
test_env_value_is_capped_at_4096_bytes(void **state)
{
	struct fx *fx = *state;
	char *big = fx_repeat(SECRET_MAX + 1);

	setenv("PSABRIDGE_T_BIG", big + 1, 1);
	assert_resolves(fx, "env:PSABRIDGE_T_BIG", NULL, big + 1, "");
	setenv("PSABRIDGE_T_BIG", big, 1);
	assert_fails(fx, "env:PSABRIDGE_T_BIG", NULL,
		     "environment variable PSABRIDGE_T_BIG is longer than "
		     "4096 bytes",
		     "");
	unsetenv("PSABRIDGE_T_BIG");
	free(big);
}

/* --- file: -------------------------------------------------------------- */

static void
test_file_is_relative_to_base_dir(void **state)
{
	struct fx *fx = *state;
	char ref[PATH_MAX + 8], slash[PATH_MAX];

	fixture_mkdir(&fx->tmp, "secrets");
	fixture_write_text(&fx->tmp, "secrets/hook", 0600, "s3cret");
	assert_resolves(fx, "file:secrets/hook", fx->tmp.path, "s3cret", "");
	snprintf(slash, sizeof(slash), "%s/", fx->tmp.path);
	assert_resolves(fx, "file:secrets/hook", slash, "s3cret", "");
	/* An absolute path ignores the base directory. */
	snprintf(ref, sizeof(ref), "file:%s/secrets/hook", fx->tmp.path);
	assert_resolves(fx, ref, "/nonexistent", "s3cret", "");
	/* Relative to the base directory, not to the current one. */
	assert_fails(fx, "file:secrets/hook", "/nonexistent",
		     "cannot open secret file \"/nonexistent/secrets/hook\": "
		     "No such file or directory",
		     "");
}

static void
test_file_without_base_dir_is_relative_to_cwd(void **state)
{
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "hook", 0600, "s3cret");
	assert_non_null(getcwd(fx->cwd, sizeof(fx->cwd)));
	assert_int_equal(chdir(fx->tmp.path), 0);
	assert_resolves(fx, "file:hook", NULL, "s3cret", "");
	assert_resolves(fx, "file:hook", ".", "s3cret", "");
}

static void
test_file_drops_one_trailing_newline(void **state)
{
	static const struct {
		const char *text, *value;
	} cases[] = {
	    {"s3cret\n", "s3cret"},	{"s3cret\r\n", "s3cret"},
	    {"s3cret\n\n", "s3cret\n"}, {"s3cret\n\r\n", "s3cret\n"},
	    {"s3cret\r", "s3cret\r"},	{"s3\ncret", "s3\ncret"},
	    {" s3cret ", " s3cret "},
	};
	struct fx *fx = *state;
	size_t i;

	fixture_write_text(&fx->tmp, "hook", 0600, "");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		FILE *fp = fopen(fx->tmp.made[0], "w");

		assert_non_null(fp);
		assert_true(fputs(cases[i].text, fp) >= 0);
		assert_int_equal(fclose(fp), 0);
		assert_resolves(fx, "file:hook", fx->tmp.path, cases[i].value,
				"");
	}
}

static void
test_file_of_only_a_newline_is_empty(void **state)
{
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "nl", 0600, "\n");
	fixture_write_text(&fx->tmp, "crlf", 0600, "\r\n");
	fixture_write_text(&fx->tmp, "none", 0600, "");
	assert_fails(fx, "file:nl", fx->tmp.path,
		     fx_msg(fx, "file \"%s/nl\" is empty"), "");
	assert_fails(fx, "file:crlf", fx->tmp.path,
		     fx_msg(fx, "file \"%s/crlf\" is empty"), "");
	assert_fails(fx, "file:none", fx->tmp.path,
		     fx_msg(fx, "file \"%s/none\" is empty"), "");
}

/* The cap counts the bytes as read, a trailing newline included. */
static void
test_file_is_capped_at_4096_bytes_as_read(void **state)
{
	struct fx *fx = *state;
	char *big = fx_repeat(SECRET_MAX + 1);

	fixture_write_text(&fx->tmp, "max", 0600, big + 1);
	fixture_write_text(&fx->tmp, "big", 0600, big);
	big[SECRET_MAX] = '\n';
	fixture_write_text(&fx->tmp, "maxnl", 0600, big);
	big[SECRET_MAX] = '\0';
	assert_resolves(fx, "file:max", fx->tmp.path, big, "");
	assert_fails(fx, "file:big", fx->tmp.path,
		     fx_msg(fx, "file \"%s/big\" is longer than 4096 bytes"),
		     "");
	assert_fails(fx, "file:maxnl", fx->tmp.path,
		     fx_msg(fx, "file \"%s/maxnl\" is longer than 4096 bytes"),
		     "");
	free(big);
}

static void
test_file_with_nul_byte_is_rejected(void **state)
{
	struct fx *fx = *state;

	fixture_write(&fx->tmp, "nul", 0600, "ab\0cd", 5);
	fixture_write(&fx->tmp, "lead", 0600, "\0s3cret", 7);
	assert_fails(fx, "file:nul", fx->tmp.path,
		     fx_msg(fx, "file \"%s/nul\" contains a NUL byte"), "");
	assert_fails(fx, "file:lead", fx->tmp.path,
		     fx_msg(fx, "file \"%s/lead\" contains a NUL byte"), "");
	assert_no_value_in_report(fx, "s3cret");
}

static void
test_file_readable_by_group_or_others_warns(void **state)
{
	static const mode_t loose[] = {0644, 0640, 0604, 0444};
	static const mode_t tight[] = {0600, 0400, 0700};
	struct fx *fx = *state;
	const char *path;
	size_t i;

	fixture_write_text(&fx->tmp, "hook", 0600, "s3cret");
	path = fx->tmp.made[0];
	for (i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
		assert_int_equal(chmod(path, loose[i]), 0);
		assert_resolves(fx, "file:hook", fx->tmp.path, "s3cret",
				fx_msg(fx, MODE_WARNING));
	}
	for (i = 0; i < sizeof(tight) / sizeof(tight[0]); i++) {
		assert_int_equal(chmod(path, tight[i]), 0);
		assert_resolves(fx, "file:hook", fx->tmp.path, "s3cret", "");
	}
}

static void
test_mode_warning_comes_with_a_content_error(void **state)
{
	struct fx *fx = *state;
	char warn[sizeof(fx->want)];

	fixture_write_text(&fx->tmp, "hook", 0644, "\n");
	strcpy(warn, fx_msg(fx, MODE_WARNING));
	assert_fails(fx, "file:hook", fx->tmp.path,
		     fx_msg(fx, "file \"%s/hook\" is empty"), warn);
}

static void
test_missing_file_is_error_with_reason(void **state)
{
	struct fx *fx = *state;

	assert_fails(fx, "file:nope", fx->tmp.path,
		     fx_msg(fx, "cannot open secret file \"%s/nope\": No such "
				"file or directory"),
		     "");
}

/* A FIFO must not hang the load: it is opened without blocking. */
static void
test_directory_and_fifo_are_not_regular_files(void **state)
{
	struct fx *fx = *state;

	fixture_mkdir(&fx->tmp, "adir");
	assert_int_equal(mkfifo(fixture_path(&fx->tmp, "fifo"), 0600), 0);
	alarm(10); /* a hang kills the program: a failure, not a wait */
	assert_fails(
	    fx, "file:adir", fx->tmp.path,
	    fx_msg(fx, "secret file \"%s/adir\" is not a regular file"), "");
	assert_fails(
	    fx, "file:fifo", fx->tmp.path,
	    fx_msg(fx, "secret file \"%s/fifo\" is not a regular file"), "");
	alarm(0);
}

static void
test_path_in_message_is_cut_and_made_printable(void **state)
{
	struct fx *fx = *state;
	char ref[256], want[256];

	memset(ref, 'p', sizeof(ref) - 1);
	ref[sizeof(ref) - 1] = '\0';
	memcpy(ref, "file:/nonexistent/a\"b", 21);
	/* 80 characters of the path, then "...". */
	snprintf(want, sizeof(want),
		 "cannot open secret file \"/nonexistent/a?b%.*s...\": No "
		 "such file or directory",
		 80 - 16, ref + 21);
	assert_fails(fx, ref, NULL, want, "");
}

static void
test_file_reference_without_path_is_error(void **state)
{
	struct fx *fx = *state;

	assert_fails(fx, "file:", fx->tmp.path, "\"file:\" names no file", "");
}

/* --- cred: -------------------------------------------------------------- */

static void
test_cred_reads_credentials_directory_not_base_dir(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX];

	fixture_mkdir(&fx->tmp, "creds");
	fixture_write_text(&fx->tmp, "creds/hook", 0400, "from-systemd\n");
	fixture_write_text(&fx->tmp, "hook", 0600, "from-base-dir");
	snprintf(dir, sizeof(dir), "%s/creds", fx->tmp.path);
	setenv("CREDENTIALS_DIRECTORY", dir, 1);
	assert_resolves(fx, "cred:hook", fx->tmp.path, "from-systemd", "");
	assert_fails(fx, "cred:nope", fx->tmp.path,
		     fx_msg(fx, "cannot open secret file \"%s/creds/nope\": No "
				"such file or directory"),
		     "");
}

static void
test_cred_without_credentials_directory_is_error(void **state)
{
	static const char *const want =
	    "\"cred:hook\" needs CREDENTIALS_DIRECTORY, which is not set "
	    "(systemd LoadCredential=)";
	struct fx *fx = *state;

	fixture_write_text(&fx->tmp, "hook", 0600, "from-base-dir");
	assert_fails(fx, "cred:hook", fx->tmp.path, want, "");
	setenv("CREDENTIALS_DIRECTORY", "", 1);
	assert_fails(fx, "cred:hook", fx->tmp.path, want, "");
}

static void
test_cred_name_must_be_a_plain_name(void **state)
{
	struct fx *fx = *state;

	setenv("CREDENTIALS_DIRECTORY", fx->tmp.path, 1);
	assert_fails(fx, "cred:", NULL, "\"cred:\" names no credential", "");
	assert_fails(fx, "cred:.", NULL, "\"cred:.\" names no credential", "");
	assert_fails(fx, "cred:..", NULL, "\"cred:..\" names no credential",
		     "");
	assert_fails(fx, "cred:../x", NULL, "\"cred:../x\" names no credential",
		     "");
	assert_fails(fx, "cred:a/b", NULL, "\"cred:a/b\" names no credential",
		     "");
}

/* --- literals ----------------------------------------------------------- */

static void
test_literal_is_returned_and_flagged(void **state)
{
	struct fx *fx = *state;

	assert_resolves(fx, "hunter2-literal", fx->tmp.path, "hunter2-literal",
			LITERAL_WARNING);
	/* Only the exact prefixes make a reference. */
	assert_resolves(fx, "ENV:hunter2", NULL, "ENV:hunter2",
			LITERAL_WARNING);
	assert_resolves(fx, "files:hunter2", NULL, "files:hunter2",
			LITERAL_WARNING);
}

static void
test_empty_literal_is_error_without_warning(void **state)
{
	struct fx *fx = *state;

	assert_fails(fx, "", NULL, "the secret is empty", "");
}

static void
test_long_literal_warns_and_fails(void **state)
{
	struct fx *fx = *state;
	char *big = fx_repeat(SECRET_MAX + 1);

	assert_fails(fx, big, NULL, "the secret is longer than 4096 bytes",
		     LITERAL_WARNING);
	assert_resolves(fx, big + 1, NULL, big + 1, LITERAL_WARNING);
	free(big);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_env_reference_returns_the_variable),
	    T(test_env_unset_variable_is_error_naming_it),
	    T(test_env_empty_variable_is_error),
	    T(test_env_reference_needs_a_variable_name),
	    T(test_env_value_is_capped_at_4096_bytes),
	    T(test_file_is_relative_to_base_dir),
	    T(test_file_without_base_dir_is_relative_to_cwd),
	    T(test_file_drops_one_trailing_newline),
	    T(test_file_of_only_a_newline_is_empty),
	    T(test_file_is_capped_at_4096_bytes_as_read),
	    T(test_file_with_nul_byte_is_rejected),
	    T(test_file_readable_by_group_or_others_warns),
	    T(test_mode_warning_comes_with_a_content_error),
	    T(test_missing_file_is_error_with_reason),
	    T(test_directory_and_fifo_are_not_regular_files),
	    T(test_path_in_message_is_cut_and_made_printable),
	    T(test_file_reference_without_path_is_error),
	    T(test_cred_reads_credentials_directory_not_base_dir),
	    T(test_cred_without_credentials_directory_is_error),
	    T(test_cred_name_must_be_a_plain_name),
	    T(test_literal_is_returned_and_flagged),
	    T(test_empty_literal_is_error_without_warning),
	    T(test_long_literal_warns_and_fails),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
