/*
 * mustache_render: renders a compiled template (mustache.c) against a cJSON
 * tree.
 *
 * The node list is walked in order; a section renders the nodes up to its
 * `end` once per item, with the item pushed on a context stack that lives
 * on the C stack.  Partials and parents are compiled on first use through
 * the template's callback and cached until mustache_render() returns.
 *
 * Indentation of standalone partials, parents and blocks is added here,
 * after every newline that comes from template text (never after one that
 * comes from a value, as the specification requires): the output is the
 * same as pasting the indentation into the partial's source, and one
 * compiled partial serves every indentation.
 */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psabridge/mustache.h"

#include "mustache-internal.h"

/* Partials, parents and overridden blocks inside each other. */
#define MUSTACHE_MAX_DEPTH 64
/* Distinct partial names in one render (dynamic names come from data). */
#define MUSTACHE_MAX_CACHED 256
/*
 * Nodes visited in one render.  Output is capped, but sections that print
 * nothing can still loop inside each other over data of any size
 * ({{#items}}{{#items}}{{#items}}... is n^3 visits) without writing a byte.
 */
#define MUSTACHE_MAX_STEPS 10000000

/* The context stack lives on the C stack: one frame per section level. */
struct mustache_frame {
	const cJSON *item;
	const struct mustache_frame *up;
};

/* Parent tags being expanded; their blocks override the parents' blocks. */
struct mustache_args {
	const struct mustache *t;
	size_t node;
	const struct mustache_args *up;
};

struct mustache_cached {
	char *name;
	struct mustache *t; /* NULL: the callback has no such partial */
};

struct mustache_render_state {
	char *out;
	size_t len, cap, max;
	enum mustache_escape esc;
	char *ind; /* added after each newline of template text */
	size_t indlen, indcap;
	int bol; /* output is at a line start: the next text gets ind */
	struct mustache_cached *cache;
	size_t ncache;
	int depth;
	unsigned long steps;
	const char *partial;		/* for messages: NULL is the top */
	const struct mustache_node *at; /* for messages */
	struct mustache_error *err;
};

static int mustache_render_fail(struct mustache_render_state *r,
				const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int mustache_render_range(struct mustache_render_state *r,
				 const struct mustache *t, size_t i, size_t end,
				 const struct mustache_frame *ctx,
				 const struct mustache_args *args);

static int
mustache_render_fail(struct mustache_render_state *r, const char *fmt, ...)
{
	char msg[sizeof(r->err->message)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->err->line = r->at != NULL ? r->at->line : 1;
	r->err->column = r->at != NULL ? r->at->column : 1;
	if (r->partial != NULL)
		snprintf(r->err->message, sizeof(r->err->message),
			 "partial \"%.40s\": %.140s", r->partial, msg);
	else
		snprintf(r->err->message, sizeof(r->err->message), "%s", msg);
	return -1;
}

/* Appends or fails: output over the cap is an error, never cut short. */
static int
mustache_render_put(struct mustache_render_state *r, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (n == 0)
		return 0;
	if (n > r->max - r->len)
		return mustache_render_fail(r, "output over %zu bytes", r->max);
	if (n >= r->cap - r->len) {
		cap = r->cap * 2 > r->len + n + 1 ? r->cap * 2 : r->len + n + 1;
		if (r->max < SIZE_MAX && cap > r->max + 1)
			cap = r->max + 1;
		if ((p = realloc(r->out, cap)) == NULL)
			return mustache_render_fail(r, "out of memory");
		r->out = p;
		r->cap = cap;
	}
	memcpy(r->out + r->len, s, n);
	r->len += n;
	return 0;
}

static int
mustache_render_bol(struct mustache_render_state *r)
{
	if (!r->bol)
		return 0;
	r->bol = 0;
	return mustache_render_put(r, r->ind, r->indlen);
}

/* Template text: each of its lines is indented. */
static int
mustache_render_text(struct mustache_render_state *r, const char *s, size_t n)
{
	const char *nl;
	size_t k;

	while (n > 0) {
		if (mustache_render_bol(r) == -1)
			return -1;
		nl = memchr(s, '\n', n);
		k = nl != NULL ? (size_t)(nl - s) + 1 : n;
		if (mustache_render_put(r, s, k) == -1)
			return -1;
		r->bol = nl != NULL;
		s += k;
		n -= k;
	}
	return 0;
}

/* What replaces byte c, or NULL to keep it; u holds \u00XX. */
static const char *
mustache_render_escape_char(enum mustache_escape esc, unsigned char c,
			    char u[8])
{
	static const char *const html[256] = {
	    ['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;"};
	static const char *const json[256] = {
	    ['"'] = "\\\"", ['\\'] = "\\\\", ['\b'] = "\\b", ['\f'] = "\\f",
	    ['\n'] = "\\n", ['\r'] = "\\r",  ['\t'] = "\\t"};

	if (esc == MUSTACHE_ESCAPE_HTML)
		return html[c];
	if (json[c] != NULL || c >= 0x20)
		return json[c];
	snprintf(u, 8, "\\u%04x", c);
	return u;
}

static int
mustache_render_escaped(struct mustache_render_state *r, const char *s,
			size_t n)
{
	size_t i, run = 0;
	const char *rep;
	char u[8];

	if (r->esc == MUSTACHE_ESCAPE_NONE)
		return mustache_render_put(r, s, n);
	for (i = 0; i < n; i++) {
		if ((rep = mustache_render_escape_char(
			 r->esc, (unsigned char)s[i], u)) == NULL)
			continue;
		if (mustache_render_put(r, s + run, i - run) == -1 ||
		    mustache_render_put(r, rep, strlen(rep)) == -1)
			return -1;
		run = i + 1;
	}
	return mustache_render_put(r, s + run, n - run);
}

/*
 * cJSON keeps every number as a double.  Integers print without a fraction;
 * anything else prints with the fewest digits that read back the same
 * double, so 1.21 is "1.21", not "1.2099999999999999645".
 */
static const char *
mustache_render_number(double d, char *buf, size_t size)
{
	int prec;

	if (!isfinite(d))
		return "";
	if (d == 0)
		return "0"; /* and not "-0" */
	if (d == floor(d) && fabs(d) < 1e17) {
		snprintf(buf, size, "%.0f", d);
		return buf;
	}
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, size, "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return buf;
	}
	snprintf(buf, size, "%.17g", d);
	return buf;
}

static int
mustache_render_value(struct mustache_render_state *r, const cJSON *v, int raw)
{
	char num[40], *heap = NULL;
	const char *s = "";
	int rc;

	if (v == NULL || cJSON_IsNull(v))
		s = "";
	else if ((cJSON_IsString(v) || cJSON_IsRaw(v)) && v->valuestring)
		s = v->valuestring;
	else if (cJSON_IsNumber(v))
		s = mustache_render_number(v->valuedouble, num, sizeof(num));
	else if (cJSON_IsBool(v))
		s = cJSON_IsTrue(v) ? "true" : "false";
	else if (cJSON_IsObject(v) || cJSON_IsArray(v)) {
		if ((heap = cJSON_PrintUnformatted(v)) == NULL)
			return mustache_render_fail(r, "out of memory");
		s = heap;
	}
	rc = mustache_render_bol(r);
	if (rc == 0)
		rc = raw ? mustache_render_put(r, s, strlen(s))
			 : mustache_render_escaped(r, s, strlen(s));
	free(heap);
	return rc;
}

static const cJSON *
mustache_render_lookup_part(const cJSON *v, const char *part)
{
	char *end;
	long i;

	if (cJSON_IsObject(v))
		return cJSON_GetObjectItemCaseSensitive(v, part);
	if (!cJSON_IsArray(v) || part[0] < '0' || part[0] > '9' ||
	    strlen(part) > 9)
		return NULL;
	i = strtol(part, &end, 10);
	return *end == '\0' ? cJSON_GetArrayItem(v, (int)i) : NULL;
}

/*
 * The first part is searched down the context stack (the first object that
 * has the key wins, even if its value is null); the other parts only in
 * what the previous part found.
 */
static const cJSON *
mustache_render_lookup(const struct mustache_frame *f, const char *name,
		       size_t nparts)
{
	const cJSON *v = NULL;
	size_t i;

	if (nparts == 0)
		return f->item;
	for (; f != NULL && v == NULL; f = f->up)
		if (cJSON_IsObject(f->item))
			v = cJSON_GetObjectItemCaseSensitive(f->item, name);
	for (i = 1; i < nparts && v != NULL; i++) {
		name += strlen(name) + 1;
		v = mustache_render_lookup_part(v, name);
	}
	return v;
}

/* "" counts as false, so {{#x}} can mean "if x has a value". */
static int
mustache_render_truthy(const cJSON *v)
{
	if (v == NULL || cJSON_IsNull(v) || cJSON_IsFalse(v))
		return 0;
	if (cJSON_IsArray(v))
		return v->child != NULL;
	if (cJSON_IsString(v))
		return v->valuestring != NULL && v->valuestring[0] != '\0';
	return 1;
}

static size_t
mustache_render_next(const struct mustache_node *n, size_t i)
{
	return n->type >= MN_SECTION && n->type != MN_PARTIAL ? n->end : i + 1;
}

static int
mustache_render_indent(struct mustache_render_state *r, const char *s, size_t n)
{
	size_t cap;
	char *p;

	if (n == 0)
		return 0;
	if (n > r->max - r->indlen) /* not one indented line would fit */
		return mustache_render_fail(r, "indentation over %zu bytes",
					    r->max);
	if (n > r->indcap - r->indlen) {
		cap = r->indlen + n > 2 * r->indcap ? r->indlen + n
						    : 2 * r->indcap;
		if ((p = realloc(r->ind, cap)) == NULL)
			return mustache_render_fail(r, "out of memory");
		r->ind = p;
		r->indcap = cap;
	}
	memcpy(r->ind + r->indlen, s, n);
	r->indlen += n;
	return 0;
}

/* The cache entry for name; *fresh when it was just made, still empty. */
static struct mustache_cached *
mustache_render_cached(struct mustache_render_state *r, const char *name,
		       int *fresh)
{
	struct mustache_cached *c;
	size_t k;

	*fresh = 0;
	for (k = 0; k < r->ncache; k++)
		if (strcmp(r->cache[k].name, name) == 0)
			return &r->cache[k];
	if (r->ncache == MUSTACHE_MAX_CACHED) {
		mustache_render_fail(r, "more than %d different partials",
				     MUSTACHE_MAX_CACHED);
		return NULL;
	}
	if (r->cache == NULL &&
	    (r->cache = calloc(MUSTACHE_MAX_CACHED, sizeof(*c))) == NULL) {
		mustache_render_fail(r, "out of memory");
		return NULL;
	}
	c = &r->cache[r->ncache];
	if ((c->name = strdup(name)) == NULL) {
		mustache_render_fail(r, "out of memory");
		return NULL;
	}
	c->t = NULL;
	r->ncache++;
	*fresh = 1;
	return c;
}

/* *c: the partial that node n names, its t NULL when there is none. */
static int
mustache_render_load(struct mustache_render_state *r, const struct mustache *t,
		     const struct mustache_node *n,
		     const struct mustache_frame *ctx,
		     struct mustache_cached **c)
{
	const char *name = t->pool + n->off;
	struct mustache_error perr;
	const cJSON *v;
	char *src = NULL;
	int fresh, rc;

	*c = NULL;
	if (n->dynamic) {
		v = mustache_render_lookup(ctx, name, n->nparts);
		if (!cJSON_IsString(v) || v->valuestring == NULL)
			return 0;
		name = v->valuestring;
	}
	if ((*c = mustache_render_cached(r, name, &fresh)) == NULL)
		return -1;
	if (!fresh || t->partial_fn == NULL ||
	    t->partial_fn(name, &src, t->arg) != 0 || src == NULL)
		return 0;
	rc = mustache_compile(src, strlen(src), t->partial_fn, t->arg, &(*c)->t,
			      &perr);
	free(src);
	if (rc == -1) {
		*r->err = perr;
		snprintf(r->err->message, sizeof(r->err->message),
			 "partial \"%.40s\": %.140s", name, perr.message);
	}
	return rc;
}

/* {{>name}} and {{<name}}...{{/name}}: the latter passes its blocks on. */
static int
mustache_render_partial(struct mustache_render_state *r,
			const struct mustache *t, size_t i,
			const struct mustache_frame *ctx,
			const struct mustache_args *args)
{
	const struct mustache_node *n = &t->nodes[i];
	const struct mustache_args a = {t, i, args};
	const char *saved = r->partial;
	size_t indlen = r->indlen;
	struct mustache_cached *c;
	int rc;

	if (r->depth >= MUSTACHE_MAX_DEPTH)
		return mustache_render_fail(r, "partials nested deeper than %d",
					    MUSTACHE_MAX_DEPTH);
	if (mustache_render_load(r, t, n, ctx, &c) == -1)
		return -1;
	if (c == NULL || c->t == NULL)
		return 0;
	if (n->standalone &&
	    mustache_render_indent(r, t->pool + n->ind, n->indlen) == -1)
		return -1;
	r->depth++;
	r->partial = c->name;
	rc = mustache_render_range(r, c->t, 0, c->t->nnodes, ctx,
				   n->type == MN_PARENT ? &a : args);
	r->depth--;
	r->partial = saved;
	r->indlen = indlen;
	return rc;
}

/* The outermost parent tag that overrides block `name` wins. */
static int
mustache_render_find_block(const struct mustache_args *a, const char *name,
			   const struct mustache **bt, size_t *bi)
{
	const struct mustache_node *c;
	int found = 0;
	size_t j;

	for (; a != NULL; a = a->up)
		for (j = a->node + 1; j < a->t->nodes[a->node].end;
		     j = mustache_render_next(c, j)) {
			c = &a->t->nodes[j];
			if (c->type == MN_BLOCK &&
			    strcmp(a->t->pool + c->off, name) == 0) {
				*bt = a->t;
				*bi = j;
				found = 1;
			}
		}
	return found;
}

static int
mustache_render_block(struct mustache_render_state *r, const struct mustache *t,
		      size_t i, const struct mustache_frame *ctx,
		      const struct mustache_args *args)
{
	const struct mustache_node *n = &t->nodes[i];
	const struct mustache *bt = t;
	size_t bi = i, indlen = r->indlen;
	int found, rc;

	found = mustache_render_find_block(args, t->pool + n->off, &bt, &bi);
	/* An override may hold a block of its own name: it must end. */
	if (found && r->depth >= MUSTACHE_MAX_DEPTH)
		return mustache_render_fail(r, "blocks nested deeper than %d",
					    MUSTACHE_MAX_DEPTH);
	if (n->standalone &&
	    mustache_render_indent(r, t->pool + n->ind, n->indlen) == -1)
		return -1;
	r->depth += found;
	rc = mustache_render_range(r, bt, bi + 1, bt->nodes[bi].end, ctx, args);
	r->depth -= found;
	r->indlen = indlen;
	return rc;
}

static int
mustache_render_section(struct mustache_render_state *r,
			const struct mustache *t, size_t i,
			const struct mustache_frame *ctx,
			const struct mustache_args *args)
{
	const struct mustache_node *n = &t->nodes[i];
	struct mustache_frame f = {NULL, ctx};
	const cJSON *v, *e;

	v = mustache_render_lookup(ctx, t->pool + n->off, n->nparts);
	if (n->type == MN_INVERTED)
		return mustache_render_truthy(v)
			   ? 0
			   : mustache_render_range(r, t, i + 1, n->end, ctx,
						   args);
	if (cJSON_IsArray(v)) {
		cJSON_ArrayForEach(e, v)
		{
			f.item = e;
			if (mustache_render_range(r, t, i + 1, n->end, &f,
						  args) == -1)
				return -1;
		}
		return 0;
	}
	if (!mustache_render_truthy(v))
		return 0;
	f.item = v;
	return mustache_render_range(r, t, i + 1, n->end, &f, args);
}

static int
mustache_render_range(struct mustache_render_state *r, const struct mustache *t,
		      size_t i, size_t end, const struct mustache_frame *ctx,
		      const struct mustache_args *args)
{
	const struct mustache_node *n;
	int rc = 0;

	for (; i < end && rc == 0; i = mustache_render_next(n, i)) {
		n = &t->nodes[i];
		r->at = n;
		if (++r->steps > MUSTACHE_MAX_STEPS) {
			rc = mustache_render_fail(r, "more than %d steps",
						  MUSTACHE_MAX_STEPS);
			break;
		}
		switch (n->type) {
		case MN_TEXT:
			rc = mustache_render_text(r, t->pool + n->off, n->len);
			break;
		case MN_VAR:
		case MN_RAW:
			rc = mustache_render_value(
			    r,
			    mustache_render_lookup(ctx, t->pool + n->off,
						   n->nparts),
			    n->type == MN_RAW);
			break;
		case MN_SECTION:
		case MN_INVERTED:
			rc = mustache_render_section(r, t, i, ctx, args);
			break;
		case MN_PARTIAL:
		case MN_PARENT:
			rc = mustache_render_partial(r, t, i, ctx, args);
			break;
		case MN_BLOCK:
			rc = mustache_render_block(r, t, i, ctx, args);
			break;
		}
	}
	return rc;
}

int
mustache_render(const struct mustache *t, const cJSON *ctx,
		enum mustache_escape esc, size_t max_out, char **out,
		size_t *outlen, struct mustache_error *err)
{
	const struct mustache_frame root = {ctx, NULL};
	struct mustache_error dummy;
	struct mustache_render_state r;
	size_t k;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	memset(&r, 0, sizeof(r));
	r.err = err != NULL ? err : &dummy;
	memset(r.err, 0, sizeof(*r.err));
	r.max = max_out;
	r.esc = esc;
	r.bol = 1;
	r.cap = max_out < 255 ? max_out + 1 : 256;
	if ((r.out = malloc(r.cap)) == NULL) {
		mustache_render_fail(&r, "out of memory");
		goto out;
	}
	if (mustache_render_range(&r, t, 0, t->nnodes, &root, NULL) == -1)
		goto out;
	r.out[r.len] = '\0';
	*out = r.out;
	*outlen = r.len;
	r.out = NULL;
	rc = 0;
out:
	for (k = 0; k < r.ncache; k++) {
		free(r.cache[k].name);
		mustache_free(r.cache[k].t);
	}
	free(r.cache);
	free(r.ind);
	free(r.out);
	return rc;
}
