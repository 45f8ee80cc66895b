/*
 * Runs the official Mustache specification (https://github.com/mustache/spec,
 * copied unchanged to tests/data/mustache-spec/) against src/mustache.c:
 *
 *	mustache_spec tests/data/mustache-spec
 *
 * Every *.json file there is run, with its "partials" served through the
 * partial callback and HTML escaping, as the specification expects.  Prints
 * "FILE: N/M passed" per file and, for each failing test, its name with the
 * expected and the actual output.  Exits non-zero if a test of a required
 * file fails or a required file is missing.  The optional ~inheritance and
 * ~dynamic-names are implemented in full, so they are required too; the
 * ~lambdas file does not apply to C and is not copied.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "psabridge/mustache.h"

#define SPEC_MAX_FILE (4 * 1024 * 1024)
#define SPEC_MAX_OUT  (1024 * 1024)

static const char *const spec_required[] = {
    "comments.json",	 "delimiters.json",	"interpolation.json",
    "inverted.json",	 "partials.json",	"sections.json",
    "~inheritance.json", "~dynamic-names.json",
};
#define SPEC_NREQUIRED (sizeof(spec_required) / sizeof(spec_required[0]))

static int
spec_partial(const char *name, char **source, void *arg)
{
	const cJSON *p = cJSON_GetObjectItemCaseSensitive(arg, name);

	if (!cJSON_IsString(p))
		return -1;
	*source = strdup(p->valuestring);
	return *source != NULL ? 0 : -1;
}

/* The whole file, NUL-terminated; caller frees. */
static char *
spec_read(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t n;

	if (f == NULL)
		return NULL;
	if ((buf = malloc(SPEC_MAX_FILE + 1)) != NULL) {
		n = fread(buf, 1, SPEC_MAX_FILE + 1, f);
		if (n > SPEC_MAX_FILE || ferror(f)) {
			free(buf);
			buf = NULL;
		} else {
			buf[n] = '\0';
		}
	}
	fclose(f);
	return buf;
}

/* s as a JSON string, so that newlines and tabs show. */
static void
spec_show(const char *label, const char *s)
{
	cJSON *j = cJSON_CreateString(s != NULL ? s : "(none)");
	char *text = j != NULL ? cJSON_PrintUnformatted(j) : NULL;

	printf("    %-9s %s\n", label, text != NULL ? text : "?");
	free(text);
	cJSON_Delete(j);
}

/* 1 if the test passes. */
static int
spec_test(const cJSON *test)
{
	const char *name = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(test, "name"));
	const char *tpl = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(test, "template"));
	const char *want = cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(test, "expected"));
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(test, "data");
	cJSON *partials = cJSON_GetObjectItemCaseSensitive(test, "partials");
	struct mustache_error err = {0};
	struct mustache *t = NULL;
	char *got = NULL;
	size_t len = 0;
	int ok = 0;

	if (tpl == NULL || want == NULL) {
		printf("  FAIL %s: no template or expected output\n",
		       name != NULL ? name : "(unnamed)");
		return 0;
	}
	if (mustache_compile(tpl, strlen(tpl), spec_partial, partials, &t,
			     &err) == 0)
		mustache_render(t, data, MUSTACHE_ESCAPE_HTML, SPEC_MAX_OUT,
				&got, &len, &err);
	ok = got != NULL && len == strlen(want) && memcmp(got, want, len) == 0;
	if (!ok) {
		printf("  FAIL %s\n", name != NULL ? name : "(unnamed)");
		spec_show("template", tpl);
		spec_show("expected", want);
		if (got != NULL)
			spec_show("got", got);
		else
			printf("    error     %d:%d: %s\n", err.line,
			       err.column, err.message);
	}
	free(got);
	mustache_free(t);
	return ok;
}

/* Runs one file; returns the number of failures, or -1 if unreadable. */
static int
spec_file(const char *dir, const char *file)
{
	char path[4096];
	const cJSON *test, *tests;
	cJSON *root = NULL;
	char *text;
	int n = 0, passed = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((text = spec_read(path)) == NULL ||
	    (root = cJSON_Parse(text)) == NULL) {
		printf("%s: cannot read or parse\n", file);
		free(text);
		return -1;
	}
	tests = cJSON_GetObjectItemCaseSensitive(root, "tests");
	cJSON_ArrayForEach(test, tests)
	{
		n++;
		passed += spec_test(test);
	}
	printf("%s: %d/%d passed\n", file, passed, n);
	cJSON_Delete(root);
	free(text);
	return n > 0 ? n - passed : -1;
}

static int
spec_is_json(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

int
main(int argc, char **argv)
{
	struct dirent **names = NULL;
	int i, n, failed, status = 0;
	size_t r, seen = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s SPEC_DIR\n", argv[0]);
		return 2;
	}
	if ((n = scandir(argv[1], &names, spec_is_json, alphasort)) < 0) {
		perror(argv[1]);
		return 2;
	}
	for (i = 0; i < n; i++) {
		failed = spec_file(argv[1], names[i]->d_name);
		for (r = 0; r < SPEC_NREQUIRED; r++)
			if (strcmp(names[i]->d_name, spec_required[r]) == 0)
				break;
		if (r < SPEC_NREQUIRED) {
			seen++;
			if (failed != 0)
				status = 1;
		}
		free(names[i]);
	}
	free(names);
	if (seen != SPEC_NREQUIRED) {
		printf("missing: %zu of %zu required spec files\n",
		       SPEC_NREQUIRED - seen, SPEC_NREQUIRED);
		status = 1;
	}
	return status;
}
