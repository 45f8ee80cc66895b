/*
 * The template set.  Sources are kept after compiling: they are what
 * partials include.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "psabridge/templates.h"

struct templates_source {
	char *name; /* as {{> name}} says it */
	char *text;
};

struct templates {
	char *dir;
	struct templates_entry *entries;
	size_t n, cap;
	struct templates_source *sources;
	size_t nsources, capsources;
};

static const struct {
	const char *suffix;
	enum templates_kind kind;
} templates_suffixes[] = {
    {".ticket", TEMPLATES_TICKET},
    {".json.mustache", TEMPLATES_JSON},
    {".mustache", TEMPLATES_TEXT},
};

enum mustache_escape
templates_escape(enum templates_kind kind)
{
	return kind == TEMPLATES_JSON ? MUSTACHE_ESCAPE_JSON
				      : MUSTACHE_ESCAPE_NONE;
}

int
templates_read_file(const char *path, size_t max, char **out, size_t *len)
{
	struct stat st;
	char *buf = NULL;
	FILE *fp;
	size_t n;

	*out = NULL;
	if ((fp = fopen(path, "rb")) == NULL)
		return -1;
	if (fstat(fileno(fp), &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		errno = S_ISREG(st.st_mode) ? EFBIG : EISDIR;
		goto fail;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL)
		goto fail;
	n = fread(buf, 1, (size_t)st.st_size, fp);
	if (ferror(fp)) {
		errno = EIO;
		goto fail;
	}
	buf[n] = '\0';
	fclose(fp);
	*out = buf;
	*len = n;
	return 0;
fail:
	free(buf);
	fclose(fp);
	return -1;
}

/* Strips a known suffix; the kind, or -1 for files that are not ours. */
static int
templates_classify(const char *file, char *name, size_t size)
{
	size_t i, fl = strlen(file);

	for (i = 0;
	     i < sizeof(templates_suffixes) / sizeof(templates_suffixes[0]);
	     i++) {
		size_t sl = strlen(templates_suffixes[i].suffix);

		if (fl > sl && fl - sl < size &&
		    strcmp(file + fl - sl, templates_suffixes[i].suffix) == 0) {
			memcpy(name, file, fl - sl);
			name[fl - sl] = '\0';
			return (int)templates_suffixes[i].kind;
		}
	}
	return -1;
}

static int
templates_lookup_source(const struct templates *t, const char *name,
			char **source)
{
	size_t i;

	for (i = 0; i < t->nsources; i++) {
		if (strcmp(t->sources[i].name, name) == 0) {
			*source = strdup(t->sources[i].text);
			return *source != NULL ? 0 : -1;
		}
	}
	return -1;
}

/* Partials: NAME.mustache first, then NAME.json.mustache. */
static int
templates_partial(const char *name, char **source, void *arg)
{
	const struct templates *t = arg;
	char key[512];

	snprintf(key, sizeof(key), "%s.mustache", name);
	if (templates_lookup_source(t, key, source) == 0)
		return 0;
	snprintf(key, sizeof(key), "%s.json.mustache", name);
	return templates_lookup_source(t, key, source);
}

int
templates_partial_from_dir(const char *name, char **source, void *arg)
{
	const char *dir = arg;
	char path[4096];
	size_t len;

	if (strchr(name, '/') != NULL || strcmp(name, "..") == 0)
		return -1;
	snprintf(path, sizeof(path), "%s/%s.mustache", dir, name);
	if (templates_read_file(path, TEMPLATES_FILE_MAX, source, &len) == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s.json.mustache", dir, name);
	return templates_read_file(path, TEMPLATES_FILE_MAX, source, &len);
}

static int
templates_grow(void **arr, size_t *cap, size_t n, size_t elem)
{
	void *p;
	size_t ncap;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	if ((p = realloc(*arr, ncap * elem)) == NULL)
		return -1;
	*arr = p;
	*cap = ncap;
	return 0;
}

/* Reads one file into the source list; 0, or -1 with d told why. */
static int
templates_read_one(struct templates *t, const char *file, struct diag *d)
{
	char path[4096], *text = NULL;
	struct templates_source *s;
	size_t len;

	snprintf(path, sizeof(path), "%s/%s", t->dir, file);
	if (templates_read_file(path, TEMPLATES_FILE_MAX, &text, &len) == -1) {
		diag_error(d, path, 0, "cannot read the template: %s",
			   strerror(errno));
		return -1;
	}
	if (strlen(text) != len) {
		diag_error(d, path, 0, "the template contains a NUL byte");
		free(text);
		return -1;
	}
	if (templates_grow((void **)&t->sources, &t->capsources, t->nsources,
			   sizeof(*t->sources)) == -1 ||
	    (s = &t->sources[t->nsources], s->name = strdup(file)) == NULL) {
		diag_error(d, path, 0, "out of memory");
		free(text);
		return -1;
	}
	s->text = text;
	t->nsources++;
	return 0;
}

static int
templates_compile_one(struct templates *t, const struct templates_source *s,
		      struct diag *d)
{
	struct templates_entry *e;
	struct mustache_error err;
	char name[256];
	int kind, rc;

	if ((kind = templates_classify(s->name, name, sizeof(name))) == -1)
		return 0;
	if (templates_find(t, name) != NULL) {
		diag_error(d, t->dir, 0,
			   "two templates are called \"%s\" (%s and another)",
			   name, s->name);
		return -1;
	}
	if (templates_grow((void **)&t->entries, &t->cap, t->n,
			   sizeof(*t->entries)) == -1)
		return -1;
	e = &t->entries[t->n];
	memset(e, 0, sizeof(*e));
	e->kind = (enum templates_kind)kind;
	e->name = strdup(name);
	e->path = malloc(strlen(t->dir) + strlen(s->name) + 2);
	if (e->name == NULL || e->path == NULL) {
		free(e->name);
		free(e->path);
		return -1;
	}
	sprintf(e->path, "%s/%s", t->dir, s->name);
	t->n++;
	if (kind == TEMPLATES_TICKET)
		rc = ticket_template_compile(s->text, strlen(s->text),
					     templates_partial, t, &e->ticket,
					     &err);
	else
		rc = mustache_compile(s->text, strlen(s->text),
				      templates_partial, t, &e->body, &err);
	if (rc == -1)
		diag_error(d, e->path, err.line, "column %d: %s", err.column,
			   err.message);
	return rc;
}

static int
templates_scan(struct templates *t, struct diag *d)
{
	struct dirent *de;
	char name[256];
	DIR *dir;
	int ret = 0;

	if ((dir = opendir(t->dir)) == NULL) {
		diag_error(d, t->dir, 0,
			   "cannot open the templates directory: %s",
			   strerror(errno));
		return -1;
	}
	while ((de = readdir(dir)) != NULL) {
		if (de->d_name[0] == '.' ||
		    templates_classify(de->d_name, name, sizeof(name)) == -1)
			continue;
		if (templates_read_one(t, de->d_name, d) == -1)
			ret = -1;
	}
	closedir(dir);
	return ret;
}

int
templates_load(const char *dir, struct templates **out, struct diag *d)
{
	struct templates *t;
	size_t errors = d->nerrors, i;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->dir = strdup(dir)) == NULL) {
		free(t);
		diag_error(d, dir, 0, "out of memory");
		return -1;
	}
	templates_scan(t, d);
	/* every source is read before compiling: partials can be anywhere */
	for (i = 0; i < t->nsources; i++)
		templates_compile_one(t, &t->sources[i], d);
	if (d->nerrors > errors) {
		templates_free(t);
		return -1;
	}
	*out = t;
	return 0;
}

void
templates_free(struct templates *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++) {
		free(t->entries[i].name);
		free(t->entries[i].path);
		ticket_template_free(t->entries[i].ticket);
		mustache_free(t->entries[i].body);
	}
	for (i = 0; i < t->nsources; i++) {
		free(t->sources[i].name);
		free(t->sources[i].text);
	}
	free(t->entries);
	free(t->sources);
	free(t->dir);
	free(t);
}

const struct templates_entry *
templates_find(const struct templates *t, const char *name)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		if (strcmp(t->entries[i].name, name) == 0)
			return &t->entries[i];
	}
	return NULL;
}

int
templates_exists(const char *name, void *arg)
{
	return templates_find(arg, name) != NULL;
}

const char *
templates_dir(const struct templates *t)
{
	return t->dir;
}

size_t
templates_count(const struct templates *t)
{
	return t->n;
}

const struct templates_entry *
templates_at(const struct templates *t, size_t i)
{
	return i < t->n ? &t->entries[i] : NULL;
}
