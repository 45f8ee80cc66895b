/*
 * diag: collects "FILE:LINE: message" entries so that a reader of a
 * user-written file can report every problem in one pass.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psabridge/diag.h"

void
diag_init(struct diag *d)
{
	memset(d, 0, sizeof(*d));
}

/* Room for one more entry; -1 when memory is exhausted. */
static int
diag_grow(struct diag *d)
{
	struct diag_entry *n;
	size_t cap;

	if (d->len < d->cap)
		return 0;
	cap = d->cap ? d->cap * 2 : 8;
	if (cap > SIZE_MAX / sizeof(*n))
		return -1;
	n = realloc(d->entries, cap * sizeof(*n));
	if (n == NULL)
		return -1;
	d->entries = n;
	d->cap = cap;
	return 0;
}

/* Formats "FILE:LINE: " (or less) followed by the message; caller frees. */
static char *diag_format(const char *file, int line, const char *fmt,
			 va_list ap) __attribute__((format(printf, 3, 0)));

static char *
diag_format(const char *file, int line, const char *fmt, va_list ap)
{
	char prefix[64] = "";
	char *text = NULL;
	size_t plen;
	va_list aq;
	int mlen;

	if (file != NULL && line > 0)
		snprintf(prefix, sizeof(prefix), ":%d: ", line);
	else if (file != NULL)
		snprintf(prefix, sizeof(prefix), ": ");
	plen = (file != NULL ? strlen(file) : 0) + strlen(prefix);
	va_copy(aq, ap);
	mlen = vsnprintf(NULL, 0, fmt, aq);
	va_end(aq);
	if (mlen < 0)
		goto out;
	text = malloc(plen + (size_t)mlen + 1);
	if (text == NULL)
		goto out;
	snprintf(text, plen + 1, "%s%s", file != NULL ? file : "", prefix);
	vsnprintf(text + plen, (size_t)mlen + 1, fmt, ap);
out:
	return text;
}

static void diag_add(struct diag *d, enum diag_level level, const char *file,
		     int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));

static void
diag_add(struct diag *d, enum diag_level level, const char *file, int line,
	 const char *fmt, va_list ap)
{
	char *text;

	/* Counted first: an entry lost to memory still fails the load. */
	if (level == DIAG_ERROR)
		d->nerrors++;
	else
		d->nwarnings++;
	text = diag_format(file, line, fmt, ap);
	if (text == NULL || diag_grow(d) == -1) {
		free(text);
		return;
	}
	d->entries[d->len].level = level;
	d->entries[d->len].text = text;
	d->len++;
}

void
diag_error(struct diag *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(d, DIAG_ERROR, file, line, fmt, ap);
	va_end(ap);
}

void
diag_warn(struct diag *d, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	diag_add(d, DIAG_WARNING, file, line, fmt, ap);
	va_end(ap);
}

void
diag_print(const struct diag *d, FILE *fp)
{
	size_t i, dropped;

	for (i = 0; i < d->len; i++)
		fprintf(fp, "%s%s\n",
			d->entries[i].level == DIAG_WARNING ? "warning: " : "",
			d->entries[i].text);
	dropped = d->nerrors + d->nwarnings - d->len;
	if (dropped > 0)
		fprintf(fp, "%zu more problem(s) not shown: out of memory\n",
			dropped);
}

void
diag_free(struct diag *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->len; i++)
		free(d->entries[i].text);
	free(d->entries);
	diag_init(d);
}
