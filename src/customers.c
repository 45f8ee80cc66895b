/*
 * customers: the CSV table mapping a vendor's customer_id to the PSA
 * client, read with libcsv (RFC 4180) in strict mode.
 *
 * libcsv does not count lines, so the file is fed to it one physical line
 * at a time ("\n", "\r\n" or a lone "\r" ends one): after each call the
 * line number is known, a row's first line is the first non-blank line fed
 * while no row is open, and an open quoted field is noticed at the end of
 * the line where its quote opened.  Every message can then name the line
 * an editor shows, even after fields that span lines.
 *
 * libcsv's default whitespace rule is kept: spaces and tabs around an
 * unquoted field are dropped (so `a, "b, c"` works), a quoted field keeps
 * every byte.  A quoting error drops the row and parsing goes on at the
 * next line, so that one pass reports every problem (up to
 * CUSTOMERS_ERRORS_MAX).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csv.h>

#include "psabridge/config.h"
#include "psabridge/customers.h"

#define CUSTOMERS_FILE_MAX    (16u << 20) /* bytes in the CSV file */
#define CUSTOMERS_FIELD_MAX   65536	  /* bytes in one field */
#define CUSTOMERS_COLUMNS_MAX 256
#define CUSTOMERS_CELLS_MAX   1000000 /* fields kept, each a cJSON item */
#define CUSTOMERS_ERRORS_MAX  50      /* per file, then the rest is skipped */
#define CUSTOMERS_SHOW_MAX    80      /* user text echoed into a message */
#define CUSTOMERS_WILDCARD    "*"
#define CUSTOMERS_CSV_OPTS    (CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL)

static const char *const customers_required[] = {
    "customer_id",
    "name",
    "connectwise_company",
    "autotask_company_id",
};

struct customers_row {
	const char *id; /* borrowed from obj */
	cJSON *obj;	/* owned */
	int line;	/* where the row starts */
	int first;	/* line of an earlier row with the same id, or 0 */
};

struct customers {
	char *file;
	enum customers_unmapped policy;
	struct customers_row *rows; /* sorted by id once loaded, "*" included */
	size_t nrows, cap;	    /* bounded by CUSTOMERS_CELLS_MAX */
	const cJSON *fallback;	    /* the "*" row under "default", or NULL */
};

/* One parse of one file. */
struct customers_parse {
	struct customers *c;
	struct diag *d;
	char *cols[CUSTOMERS_COLUMNS_MAX]; /* header names, owned */
	size_t ncols;
	int header_done;
	long id_col;	/* index of customer_id, or -1 */
	cJSON *row;	/* the row being read, owned */
	size_t nfields; /* fields seen in the current row */
	int row_bad;	/* the current row was reported, do not store it */
	size_t ncells;	/* fields stored so far */
	int line;	/* the physical line being fed */
	int row_line;	/* first line of the open row, 0 between rows */
	int quote_line; /* line where the open quoted field began, or 0 */
	int nerrors;
	int stopped; /* too many errors, or out of memory */
};

/* --- messages ----------------------------------------------------------- */

/* User text made safe to print: cut, quotes and non-ASCII replaced. */
static const char *
customers_show(const char *s, char buf[static CUSTOMERS_SHOW_MAX + 4])
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < CUSTOMERS_SHOW_MAX; i++) {
		unsigned char ch = (unsigned char)s[i];
		buf[i] =
		    ch < 0x20 || ch >= 0x7f || strchr("\"\\", ch) ? '?' : ch;
	}
	strcpy(buf + i, s[i] != '\0' ? "..." : "");
	return buf;
}

/* An error in the CSV file; line 0 names the file only. */
static __attribute__((format(printf, 3, 4))) void
customers_error(struct customers_parse *p, int line, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (p->nerrors > CUSTOMERS_ERRORS_MAX)
		return;
	if (++p->nerrors > CUSTOMERS_ERRORS_MAX) {
		diag_error(p->d, p->c->file, 0,
			   "more than %d errors, the rest of the file is not "
			   "checked",
			   CUSTOMERS_ERRORS_MAX);
		p->stopped = 1;
		return;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_error(p->d, p->c->file, line, "%s", msg);
}

static void
customers_oom(struct customers_parse *p)
{
	if (!p->stopped)
		customers_error(p, p->line, "out of memory");
	p->stopped = 1;
}

/* --- reading the file --------------------------------------------------- */

/*
 * The whole file, NUL-terminated, into *buf (caller frees).  O_NONBLOCK so
 * that a FIFO named by mistake cannot hang a load; it is refused right
 * after as not a regular file.  On error, why says what failed.
 */
static int
customers_read(const char *path, char **buf, size_t *len, char *why,
	       size_t whysize)
{
	struct stat st;
	ssize_t n = 0;
	int fd, rc = -1;

	*buf = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1 || fstat(fd, &st) == -1) {
		snprintf(why, whysize, "cannot read: %s", strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(why, whysize, "cannot read: not a regular file");
		goto out;
	}
	if ((*buf = malloc(CUSTOMERS_FILE_MAX + 2)) == NULL) {
		snprintf(why, whysize, "cannot read: %s", strerror(ENOMEM));
		goto out;
	}
	for (*len = 0; *len <= CUSTOMERS_FILE_MAX; *len += (size_t)n) {
		n = read(fd, *buf + *len, CUSTOMERS_FILE_MAX + 1 - *len);
		if (n == -1 && errno == EINTR)
			n = 0;
		else if (n <= 0)
			break;
	}
	if (n == -1)
		snprintf(why, whysize, "cannot read: %s", strerror(errno));
	else if (*len > CUSTOMERS_FILE_MAX)
		snprintf(why, whysize, "the file is larger than %u MiB",
			 CUSTOMERS_FILE_MAX >> 20);
	else
		rc = 0;
out:
	if (rc == 0)
		(*buf)[*len] = '\0';
	else {
		free(*buf);
		*buf = NULL;
	}
	if (fd != -1)
		close(fd);
	return rc;
}

/* --- text checks -------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t
customers_utf8_len(const unsigned char *s, size_t n)
{
	size_t len, i;
	unsigned long cp;

	if (s[0] < 0x80)
		return s[0] != 0;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3f);
	}
	/* overlong forms, UTF-16 surrogates, beyond U+10FFFF */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	return len;
}

/* One error per line at most: the first bad byte names the problem. */
static void
customers_check_text(struct customers_parse *p, const char *s, size_t n)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, k;

	while (i < n) {
		if ((k = customers_utf8_len(u + i, n - i)) > 0) {
			i += k;
			continue;
		}
		if (u[i] == 0)
			customers_error(p, p->line,
					"NUL byte: this is not a text file");
		else
			customers_error(
			    p, p->line,
			    "invalid UTF-8 (byte 0x%02X at byte %zu of the "
			    "line); save the file as \"CSV UTF-8\"",
			    u[i], i + 1);
		return;
	}
}

static int
customers_blank(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strchr(" \t\r\n", s[i]) == NULL || s[i] == '\0')
			return 0;
	return 1;
}

/* End of the physical line starting at pos: after "\n", "\r\n" or "\r". */
static size_t
customers_line_end(const char *buf, size_t len, size_t pos)
{
	while (pos < len && buf[pos] != '\n' && buf[pos] != '\r')
		pos++;
	if (pos < len && buf[pos] == '\r')
		pos++;
	if (pos < len && buf[pos] == '\n')
		pos++;
	return pos;
}

/* --- the header row ----------------------------------------------------- */

static void
customers_header_field(struct customers_parse *p, const char *s, size_t len,
		       size_t i)
{
	if (i >= CUSTOMERS_COLUMNS_MAX) {
		customers_error(p, p->row_line, "more than %d columns",
				CUSTOMERS_COLUMNS_MAX);
		p->stopped = 1;
		return;
	}
	while (len > 0 && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
		len--;
	if ((p->cols[i] = strndup(s, len)) == NULL) {
		customers_oom(p);
		return;
	}
	p->ncols = i + 1;
}

static void
customers_header_end(struct customers_parse *p)
{
	char shown[CUSTOMERS_SHOW_MAX + 4];
	size_t i, j, k;

	p->header_done = 1;
	for (i = 0; i < p->ncols; i++) {
		if (p->cols[i][0] == '\0')
			customers_error(p, p->row_line,
					"column %zu has no name", i + 1);
		for (j = 0; j < i && p->cols[i][0] != '\0'; j++)
			if (strcmp(p->cols[j], p->cols[i]) == 0) {
				customers_error(
				    p, p->row_line,
				    "column \"%s\" appears twice (columns "
				    "%zu and %zu)",
				    customers_show(p->cols[i], shown), j + 1,
				    i + 1);
				break;
			}
	}
	for (k = 0; k < sizeof(customers_required) / sizeof(char *); k++) {
		for (i = 0; i < p->ncols; i++)
			if (strcmp(p->cols[i], customers_required[k]) == 0)
				break;
		if (i == p->ncols)
			customers_error(p, p->row_line,
					"missing required column \"%s\"",
					customers_required[k]);
		else if (k == 0)
			p->id_col = (long)i;
	}
}

/* --- data rows ---------------------------------------------------------- */

static void
customers_row_field(struct customers_parse *p, const char *s, size_t i)
{
	cJSON *v;

	if (p->row_bad || i >= p->ncols)
		return;
	if (p->row == NULL && (p->row = cJSON_CreateObject()) == NULL) {
		customers_oom(p);
		return;
	}
	v = cJSON_CreateString(s);
	if (v == NULL || !cJSON_AddItemToObject(p->row, p->cols[i], v)) {
		cJSON_Delete(v);
		customers_oom(p);
	}
}

/* Takes obj (even on failure). */
static int
customers_add(struct customers *c, cJSON *obj, const char *id, int line)
{
	struct customers_row *n;
	size_t cap;

	if (c->nrows == c->cap) {
		cap = c->cap ? c->cap * 2 : 64;
		n = realloc(c->rows, cap * sizeof(*n));
		if (n == NULL) {
			cJSON_Delete(obj);
			return -1;
		}
		c->rows = n;
		c->cap = cap;
	}
	c->rows[c->nrows++] = (struct customers_row){id, obj, line, 0};
	return 0;
}

static void
customers_row_end(struct customers_parse *p)
{
	int line = p->row_line > 0 ? p->row_line : p->line;
	const cJSON *id;

	if (p->nfields != p->ncols) {
		customers_error(
		    p, line, "row has %zu field%s, the header has %zu",
		    p->nfields, p->nfields == 1 ? "" : "s", p->ncols);
		return;
	}
	if (p->row_bad || p->id_col < 0 || p->row == NULL)
		return;
	p->ncells += p->ncols;
	if (p->ncells > CUSTOMERS_CELLS_MAX) {
		customers_error(p, line, "more than %d fields in the table",
				CUSTOMERS_CELLS_MAX);
		p->stopped = 1;
		return;
	}
	id = cJSON_GetObjectItemCaseSensitive(p->row, customers_required[0]);
	if (id->valuestring[0] == '\0') {
		customers_error(p, line, "empty customer_id");
		return;
	}
	if (customers_add(p->c, p->row, id->valuestring, line) == -1)
		customers_oom(p);
	p->row = NULL; /* taken by customers_add, even on failure */
}

/* libcsv's field callback: s is NUL-terminated (CSV_APPEND_NULL). */
static void
customers_on_field(void *s, size_t len, void *data)
{
	struct customers_parse *p = data;
	size_t i = p->nfields++;

	p->quote_line = 0;
	if (p->stopped)
		return;
	if (len > CUSTOMERS_FIELD_MAX) {
		customers_error(p, p->row_line,
				"field %zu is longer than %d bytes", i + 1,
				CUSTOMERS_FIELD_MAX);
		p->row_bad = 1;
		if (!p->header_done)
			p->stopped = 1;
	} else if (!p->header_done)
		customers_header_field(p, s, len, i);
	else
		customers_row_field(p, s, i);
}

/* libcsv's row callback. */
static void
customers_on_row(int ch, void *data)
{
	struct customers_parse *p = data;

	(void)ch;
	if (!p->stopped && !p->header_done)
		customers_header_end(p);
	else if (!p->stopped)
		customers_row_end(p);
	cJSON_Delete(p->row);
	p->row = NULL;
	p->nfields = 0;
	p->row_bad = 0;
	p->row_line = 0;
}

/* --- feeding libcsv ----------------------------------------------------- */

/*
 * A strict-mode error: the row is dropped and a fresh parser starts at the
 * next line.  In the header there is nothing sensible to go on with.
 */
static void
customers_parse_failed(struct customers_parse *p, struct csv_parser *csv,
		       size_t at)
{
	if (csv_error(csv) != CSV_EPARSE) {
		customers_oom(p);
		return;
	}
	if (csv->quoted)
		customers_error(p, p->line,
				"field %zu: text after a closing quote (byte "
				"%zu of the line); inside a quoted field "
				"write a quote as two quotes (\"\")",
				p->nfields + 1, at + 1);
	else
		customers_error(p, p->line,
				"field %zu: quote inside an unquoted field "
				"(byte %zu of the line); quote the whole "
				"field and double the quote: \"a \"\"b\"\"\"",
				p->nfields + 1, at + 1);
	if (!p->header_done)
		p->stopped = 1;
	csv_free(csv);
	csv_init(csv, CUSTOMERS_CSV_OPTS);
	cJSON_Delete(p->row);
	p->row = NULL;
	p->nfields = 0;
	p->row_bad = 0;
	p->row_line = 0;
	p->quote_line = 0;
}

static void
customers_feed(struct customers_parse *p, struct csv_parser *csv,
	       const char *buf, size_t len)
{
	size_t pos = 0, end, n;
	int line;

	for (line = 1; pos < len && !p->stopped; line++, pos = end) {
		p->line = line;
		end = customers_line_end(buf, len, pos);
		customers_check_text(p, buf + pos, end - pos);
		if (p->row_line == 0 && !customers_blank(buf + pos, end - pos))
			p->row_line = line;
		n = csv_parse(csv, buf + pos, end - pos, customers_on_field,
			      customers_on_row, p);
		if (n < end - pos)
			customers_parse_failed(p, csv, n);
		else if (csv->quoted && p->quote_line == 0)
			p->quote_line = line;
	}
	if (!p->stopped &&
	    csv_fini(csv, customers_on_field, customers_on_row, p) == -1)
		customers_error(p, p->quote_line,
				"unterminated quoted field: the quote opened "
				"on this line is never closed");
}

/* --- after the last row ------------------------------------------------- */

static int
customers_cmp_id(const void *a, const void *b)
{
	const struct customers_row *x = a, *y = b;
	int r = strcmp(x->id, y->id);

	return r != 0 ? r : (x->line > y->line) - (x->line < y->line);
}

static int
customers_cmp_line(const void *a, const void *b)
{
	const struct customers_row *x = a, *y = b;

	return (x->line > y->line) - (x->line < y->line);
}

static int
customers_cmp_key(const void *key, const void *elem)
{
	return strcmp(key, ((const struct customers_row *)elem)->id);
}

/*
 * Sorts the rows for bsearch.  Duplicates are reported in file order: the
 * table is thrown away then, so the order it is left in does not matter.
 */
static void
customers_index(struct customers_parse *p)
{
	struct customers *c = p->c;
	char shown[CUSTOMERS_SHOW_MAX + 4];
	size_t i, ndup = 0;

	if (c->nrows == 0)
		return;
	qsort(c->rows, c->nrows, sizeof(*c->rows), customers_cmp_id);
	for (i = 1; i < c->nrows; i++)
		if (strcmp(c->rows[i].id, c->rows[i - 1].id) == 0) {
			c->rows[i].first = c->rows[i - 1].first
					       ? c->rows[i - 1].first
					       : c->rows[i - 1].line;
			ndup++;
		}
	if (ndup == 0)
		return;
	qsort(c->rows, c->nrows, sizeof(*c->rows), customers_cmp_line);
	for (i = 0; i < c->nrows; i++)
		if (c->rows[i].first > 0)
			customers_error(p, c->rows[i].line,
					"duplicate customer_id \"%s\" (first "
					"on line %d)",
					customers_show(c->rows[i].id, shown),
					c->rows[i].first);
}

static void
customers_finish(struct customers_parse *p)
{
	struct customers *c = p->c;
	const struct customers_row *r;

	if (p->stopped)
		return;
	if (!p->header_done) {
		customers_error(p, 0, "no header row: the file is empty");
		return;
	}
	customers_index(p);
	if (p->nerrors > 0)
		return;
	r = c->nrows == 0 ? NULL
			  : bsearch(CUSTOMERS_WILDCARD, c->rows, c->nrows,
				    sizeof(*r), customers_cmp_key);
	if (c->policy == CUSTOMERS_DEFAULT && r == NULL)
		customers_error(p, 0,
				"unmapped = \"default\" needs a row whose "
				"customer_id is \"*\"");
	else if (c->policy == CUSTOMERS_DEFAULT)
		c->fallback = r->obj;
	else if (r != NULL)
		diag_warn(p->d, c->file, r->line,
			  "the \"*\" row is used only with unmapped = "
			  "\"default\"; it is ignored");
}

/* Parses the len bytes of buf, the contents of path. */
static int
customers_parse(const char *path, enum customers_unmapped policy,
		const char *buf, size_t len, struct customers **out,
		struct diag *d)
{
	struct customers_parse p = {.d = d, .id_col = -1};
	struct csv_parser csv;
	size_t i;
	int rc = -1;

	*out = NULL;
	if ((p.c = calloc(1, sizeof(*p.c))) == NULL ||
	    (p.c->file = strdup(path)) == NULL) {
		diag_error(d, path, 0, "out of memory");
		goto out;
	}
	p.c->policy = policy;
	csv_init(&csv, CUSTOMERS_CSV_OPTS);
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		buf += 3, len -= 3; /* Excel's "CSV UTF-8" starts with a BOM */
	if (len >= 2 && (memcmp(buf, "\xff\xfe", 2) == 0 ||
			 memcmp(buf, "\xfe\xff", 2) == 0)) {
		customers_error(&p, 0,
				"the file is UTF-16 (Excel's \"Unicode "
				"Text\"); save it as \"CSV UTF-8\"");
		p.stopped = 1;
	} else
		customers_feed(&p, &csv, buf, len);
	csv_free(&csv);
	customers_finish(&p);
	if (p.nerrors == 0) {
		*out = p.c;
		p.c = NULL;
		rc = 0;
	}
out:
	for (i = 0; i < p.ncols; i++)
		free(p.cols[i]);
	cJSON_Delete(p.row);
	customers_free(p.c);
	return rc;
}

int
customers_load_csv(const char *path, enum customers_unmapped policy,
		   struct customers **out, struct diag *d)
{
	char why[256], *buf;
	size_t len;
	int rc;

	*out = NULL;
	if (customers_read(path, &buf, &len, why, sizeof(why)) == -1) {
		diag_error(d, path, 0, "%s", why);
		return -1;
	}
	rc = customers_parse(path, policy, buf, len, out, d);
	free(buf);
	return rc;
}

/* --- the config group --------------------------------------------------- */

struct customers_conf {
	const char *where; /* the group's name, for messages */
	const config_setting_t *file;
	enum customers_unmapped policy;
	int nerrors;
};

/* A problem at setting s: "CFGFILE:LINE: message". */
static __attribute__((format(printf, 4, 5))) void
customers_conf_error(struct customers_conf *cf, struct diag *d,
		     const config_setting_t *s, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_error(d, config_setting_source_file(s),
		   (int)config_setting_source_line(s), "%s", msg);
	cf->nerrors++;
}

static void
customers_conf_unmapped(struct customers_conf *cf, struct diag *d,
			const config_setting_t *s)
{
	static const char *const names[] = {
	    [CUSTOMERS_HOLD] = "hold",
	    [CUSTOMERS_DEFAULT] = "default",
	    [CUSTOMERS_DROP] = "drop",
	};
	char shown[CUSTOMERS_SHOW_MAX + 4];
	const char *v = config_setting_get_string(s);
	size_t i;

	if (v == NULL) {
		customers_conf_error(
		    cf, d, s, "%s.unmapped: expected a string, got %s",
		    cf->where, config_type_name(config_setting_type(s)));
		return;
	}
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(v, names[i]) == 0) {
			cf->policy = (enum customers_unmapped)i;
			return;
		}
	customers_conf_error(cf, d, s,
			     "%s.unmapped: unknown policy \"%s\" (expected "
			     "\"hold\", \"default\" or \"drop\")",
			     cf->where, customers_show(v, shown));
}

static void
customers_conf_read(struct customers_conf *cf, struct diag *d,
		    const config_setting_t *group)
{
	const config_setting_t *s;
	const char *name;
	int i;

	for (i = 0; i < config_setting_length(group); i++) {
		s = config_setting_get_elem(group, (unsigned int)i);
		name = config_setting_name(s);
		if (strcmp(name, "unmapped") == 0)
			customers_conf_unmapped(cf, d, s);
		else if (strcmp(name, "file") != 0)
			customers_conf_error(cf, d, s,
					     "unknown key \"%s\" in %s", name,
					     cf->where);
		else if (config_setting_type(s) != CONFIG_TYPE_STRING)
			customers_conf_error(
			    cf, d, s, "%s.file: expected a string, got %s",
			    cf->where,
			    config_type_name(config_setting_type(s)));
		else if (*config_setting_get_string(s) == '\0')
			customers_conf_error(cf, d, s, "%s.file: is empty",
					     cf->where);
		else
			cf->file = s;
	}
	if (config_setting_get_member(group, "file") == NULL)
		customers_conf_error(cf, d, group,
				     "missing required key \"file\" in %s",
				     cf->where);
}

/* rel as seen from the cwd: relative to base_dir unless absolute. */
static int
customers_path(const char *base_dir, const char *rel, char *buf, size_t size)
{
	const char *sep = "/";
	int n;

	if (rel[0] == '/' || base_dir == NULL || *base_dir == '\0' ||
	    strcmp(base_dir, ".") == 0)
		base_dir = sep = "";
	else if (base_dir[strlen(base_dir) - 1] == '/')
		sep = "";
	n = snprintf(buf, size, "%s%s%s", base_dir, sep, rel);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/*
 * A config error (an unknown key, a bad policy) does not stop the CSV from
 * being read: its problems are reported in the same pass.  A bad policy
 * reads it as "hold", which asks nothing of the "*" row.
 */
int
customers_load(const config_setting_t *group, const char *base_dir,
	       struct customers **out, struct diag *d)
{
	struct customers_conf cf = {"customers", NULL, CUSTOMERS_HOLD, 0};
	char path[PATH_MAX], why[256], shown[CUSTOMERS_SHOW_MAX + 4];
	char *buf = NULL;
	size_t len;
	int rc = -1;

	*out = NULL;
	if (config_setting_name(group) != NULL)
		cf.where = config_setting_name(group);
	if (!config_setting_is_group(group)) {
		customers_conf_error(
		    &cf, d, group, "%s: expected a group, got %s", cf.where,
		    config_type_name(config_setting_type(group)));
		return -1;
	}
	customers_conf_read(&cf, d, group);
	if (cf.file == NULL)
		goto out;
	if (customers_path(base_dir, config_setting_get_string(cf.file), path,
			   sizeof(path)) == -1)
		customers_conf_error(&cf, d, cf.file, "%s.file: path too long",
				     cf.where);
	else if (customers_read(path, &buf, &len, why, sizeof(why)) == -1)
		customers_conf_error(&cf, d, cf.file, "%s.file: \"%s\": %s",
				     cf.where, customers_show(path, shown),
				     why);
	else if (customers_parse(path, cf.nerrors ? CUSTOMERS_HOLD : cf.policy,
				 buf, len, out, d) == 0 &&
		 cf.nerrors == 0)
		rc = 0;
out:
	if (rc == -1) {
		customers_free(*out);
		*out = NULL;
	}
	free(buf);
	return rc;
}

/* --- lookups ------------------------------------------------------------ */

const cJSON *
customers_find(const struct customers *c, const char *customer_id)
{
	const struct customers_row *r = NULL;

	if (customer_id != NULL && c->nrows > 0 &&
	    strcmp(customer_id, CUSTOMERS_WILDCARD) != 0)
		r = bsearch(customer_id, c->rows, c->nrows, sizeof(*r),
			    customers_cmp_key);
	return r != NULL ? r->obj : c->fallback;
}

const cJSON *
customers_row(const struct customers *c, size_t i)
{
	return i < c->nrows ? c->rows[i].obj : NULL;
}

enum customers_unmapped
customers_policy(const struct customers *c)
{
	return c->policy;
}

size_t
customers_count(const struct customers *c)
{
	return c->nrows;
}

const char *
customers_file(const struct customers *c)
{
	return c->file;
}

void
customers_free(struct customers *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nrows; i++)
		cJSON_Delete(c->rows[i].obj);
	free(c->rows);
	free(c->file);
	free(c);
}
