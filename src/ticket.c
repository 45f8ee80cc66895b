/*
 * Ticket templates.  The header block is split on the raw source, line by
 * line, before any rendering: a value that arrives with a payload can only
 * ever land inside the field whose template produced it.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "psabridge/ticket.h"

static const char *const ticket_names[TICKET_NFIELDS] = {
    [TICKET_SUMMARY] = "Summary", [TICKET_PRIORITY] = "Priority",
    [TICKET_STATUS] = "Status",	  [TICKET_BOARD] = "Board",
    [TICKET_QUEUE] = "Queue",	  [TICKET_TYPE] = "Type",
    [TICKET_SUBTYPE] = "Subtype", [TICKET_ITEM] = "Item",
    [TICKET_SOURCE] = "Source",
};

/*
 * Values are rendered whole, then cut: a long payload value shortens the
 * ticket instead of failing it.  This bounds the rendering itself.
 */
#define TICKET_RENDER_MAX (16 * 1024 * 1024)

struct ticket_template {
	struct mustache *field[TICKET_NFIELDS];
	struct mustache *description;
};

const char *
ticket_field_name(enum ticket_field f)
{
	return f < TICKET_NFIELDS ? ticket_names[f] : "?";
}

static void __attribute__((format(printf, 4, 5)))
ticket_error(struct mustache_error *err, int line, int column, const char *fmt,
	     ...)
{
	va_list ap;

	err->line = line;
	err->column = column;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

static int
ticket_field_lookup(const char *name, size_t len)
{
	int f;

	for (f = 0; f < TICKET_NFIELDS; f++) {
		if (strlen(ticket_names[f]) == len &&
		    strncasecmp(ticket_names[f], name, len) == 0)
			return f;
	}
	return -1;
}

/* Compiles one "Name: value" header line (without its line break). */
static int
ticket_header(struct ticket_template *t, const char *line, size_t len,
	      int lineno, mustache_partial_fn pfn, void *arg,
	      struct mustache_error *err)
{
	const char *colon = memchr(line, ':', len);
	char name[32];
	size_t off;
	int f;

	if (colon == NULL) {
		ticket_error(
		    err, lineno, 1,
		    "expected \"Name: value\" or a blank line before the "
		    "description");
		return -1;
	}
	snprintf(name, sizeof(name), "%.*s", (int)(colon - line), line);
	if ((f = ticket_field_lookup(line, (size_t)(colon - line))) == -1) {
		ticket_error(
		    err, lineno, 1,
		    "unknown header \"%s\" (known: Summary, Priority, Status, "
		    "Board, Queue, Type, Subtype, Item, Source)",
		    name);
		return -1;
	}
	if (t->field[f] != NULL) {
		ticket_error(err, lineno, 1, "header \"%s\" given twice", name);
		return -1;
	}
	off = (size_t)(colon - line) + 1;
	while (off < len && (line[off] == ' ' || line[off] == '\t'))
		off++;
	if (mustache_compile(line + off, len - off, pfn, arg, &t->field[f],
			     err) == -1) {
		err->column += (int)off;
		err->line = lineno;
		return -1;
	}
	return 0;
}

static int
ticket_check_required(const struct ticket_template *t,
		      struct mustache_error *err)
{
	if (t->field[TICKET_SUMMARY] == NULL) {
		ticket_error(err, 1, 1, "the \"%s:\" header is missing",
			     "Summary");
		return -1;
	}
	if (t->field[TICKET_PRIORITY] == NULL) {
		ticket_error(err, 1, 1, "the \"%s:\" header is missing",
			     "Priority");
		return -1;
	}
	return 0;
}

int
ticket_template_compile(const char *src, size_t len,
			mustache_partial_fn partial_fn, void *arg,
			struct ticket_template **out,
			struct mustache_error *err)
{
	struct ticket_template *t;
	size_t pos = 0;
	int lineno = 1, blank = 0;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		ticket_error(err, 0, 0, "out of memory");
		return -1;
	}
	while (pos < len) {
		const char *nl = memchr(src + pos, '\n', len - pos);
		size_t end = nl ? (size_t)(nl - src) : len;
		size_t ll = end - pos;

		if (ll > 0 && src[pos + ll - 1] == '\r')
			ll--;
		if (ll == 0) {
			blank = 1;
			pos = nl ? end + 1 : len;
			lineno++;
			break;
		}
		if (ticket_header(t, src + pos, ll, lineno, partial_fn, arg,
				  err) == -1)
			goto fail;
		pos = nl ? end + 1 : len;
		lineno++;
	}
	if (!blank) {
		ticket_error(
		    err, lineno, 1,
		    "no blank line between the headers and the description");
		goto fail;
	}
	if (ticket_check_required(t, err) == -1)
		goto fail;
	if (mustache_compile(src + pos, len - pos, partial_fn, arg,
			     &t->description, err) == -1) {
		err->line += lineno - 1;
		goto fail;
	}
	*out = t;
	return 0;
fail:
	ticket_template_free(t);
	return -1;
}

void
ticket_template_free(struct ticket_template *t)
{
	int f;

	if (t == NULL)
		return;
	for (f = 0; f < TICKET_NFIELDS; f++)
		mustache_free(t->field[f]);
	mustache_free(t->description);
	free(t);
}

/* Line breaks and tabs become spaces; runs of them collapse to one. */
static void
ticket_flatten(char *s)
{
	char *start = s, *o = s;
	int space = 0;

	for (; *s != '\0'; s++) {
		if (*s == '\r' || *s == '\n' || *s == '\t' || *s == '\v' ||
		    *s == '\f') {
			if (!space && o > start)
				*o++ = ' ';
			space = 1;
			continue;
		}
		space = 0;
		*o++ = *s;
	}
	while (o > start && o[-1] == ' ')
		o--;
	*o = '\0';
}

/* Cuts s to at most max bytes without splitting a UTF-8 sequence. */
static void
ticket_cut(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return;
	while (max > 0 && ((unsigned char)s[max] & 0xc0) == 0x80)
		max--;
	s[max] = '\0';
}

int
ticket_render(const struct ticket_template *t, const cJSON *ctx,
	      struct ticket *out, struct mustache_error *err)
{
	size_t len;
	int f;

	memset(out, 0, sizeof(*out));
	for (f = 0; f < TICKET_NFIELDS; f++) {
		if (t->field[f] == NULL)
			continue;
		if (mustache_render(t->field[f], ctx, MUSTACHE_ESCAPE_NONE,
				    TICKET_RENDER_MAX, &out->field[f], &len,
				    err) == -1)
			goto fail;
		ticket_flatten(out->field[f]);
		ticket_cut(out->field[f], TICKET_FIELD_MAX);
		ticket_flatten(out->field[f]); /* the cut may end on a space */
	}
	if (mustache_render(t->description, ctx, MUSTACHE_ESCAPE_NONE,
			    TICKET_RENDER_MAX, &out->description, &len,
			    err) == -1)
		goto fail;
	ticket_cut(out->description, TICKET_DESCRIPTION_MAX);
	return 0;
fail:
	ticket_clear(out);
	return -1;
}

void
ticket_clear(struct ticket *t)
{
	int f;

	for (f = 0; f < TICKET_NFIELDS; f++)
		free(t->field[f]);
	free(t->description);
	memset(t, 0, sizeof(*t));
}

cJSON *
ticket_to_json(const struct ticket *t)
{
	cJSON *o = cJSON_CreateObject();
	char key[32];
	size_t i;
	int f;

	if (o == NULL)
		return NULL;
	for (f = 0; f < TICKET_NFIELDS; f++) {
		if (t->field[f] == NULL)
			continue;
		snprintf(key, sizeof(key), "%s", ticket_names[f]);
		for (i = 0; key[i] != '\0'; i++)
			key[i] = (char)(key[i] >= 'A' && key[i] <= 'Z'
					    ? key[i] - 'A' + 'a'
					    : key[i]);
		if (cJSON_AddStringToObject(o, key, t->field[f]) == NULL)
			goto fail;
	}
	if (t->description != NULL &&
	    cJSON_AddStringToObject(o, "description", t->description) == NULL)
		goto fail;
	return o;
fail:
	cJSON_Delete(o);
	return NULL;
}
