/*
 * The unit tests' shared fixtures: see fixture.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fixture.h"

void
fixture_dir_make(struct fixture_dir *t, const char *tag)
{
	const char *tmp = getenv("TMPDIR");

	memset(t, 0, sizeof(*t));
	snprintf(t->path, sizeof(t->path), "%s/psabridge-%s-XXXXXX",
		 tmp && *tmp ? tmp : "/tmp", tag);
	assert_non_null(mkdtemp(t->path));
}

void
fixture_dir_remove(struct fixture_dir *t)
{
	while (t->nmade > 0) {
		remove(t->made[--t->nmade]);
		free(t->made[t->nmade]);
	}
	if (t->path[0] != '\0')
		rmdir(t->path);
}

const char *
fixture_path(struct fixture_dir *t, const char *name)
{
	char path[PATH_MAX];
	size_t i;

	snprintf(path, sizeof(path), "%s/%s", t->path, name);
	for (i = 0; i < t->nmade; i++) /* written again: one removal */
		if (strcmp(t->made[i], path) == 0)
			return t->made[i];
	assert_true(t->nmade < FIXTURE_FILES_MAX);
	assert_non_null(t->made[t->nmade] = strdup(path));
	return t->made[t->nmade++];
}

const char *
fixture_mkdir(struct fixture_dir *t, const char *name)
{
	const char *path = fixture_path(t, name);

	assert_int_equal(mkdir(path, 0700), 0);
	return path;
}

const char *
fixture_write(struct fixture_dir *t, const char *name, mode_t mode,
	      const char *data, size_t len)
{
	const char *path = fixture_path(t, name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd != -1);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

const char *
fixture_write_text(struct fixture_dir *t, const char *name, mode_t mode,
		   const char *text)
{
	return fixture_write(t, name, mode, text, strlen(text));
}

int
fixture_diag_has(const struct diag *d, enum diag_level level, const char *file,
		 int line, const char *text)
{
	char prefix[PATH_MAX + 32];
	size_t i, n;

	if (line > 0)
		snprintf(prefix, sizeof(prefix), "%s:%d: ", file, line);
	else
		snprintf(prefix, sizeof(prefix), "%s: ", file);
	n = strlen(prefix);
	for (i = 0; i < d->len; i++)
		if (d->entries[i].level == level &&
		    strncmp(d->entries[i].text, prefix, n) == 0 &&
		    strstr(d->entries[i].text + n, text) != NULL)
			return 1;
	fprintf(stderr, "wanted %s \"%s...%s...\", have:\n",
		level == DIAG_ERROR ? "error" : "warning", prefix, text);
	diag_print(d, stderr);
	return 0;
}
