/*
 * mustache: compiles a template into the flat node list that
 * mustache_render.c walks (layout in mustache-internal.h).
 *
 * Compiling is three passes over the source, each simple on its own:
 *   scan        splits the source into tags, following set-delimiter tags,
 *               and pairs every section with its closing tag;
 *   standalone  marks the tags that are alone on their line: the
 *               specification removes such a line (indentation and newline)
 *               from the output;
 *   build       emits nodes in pre-order.  A section's content is the nodes
 *               up to its `end`, so rendering walks an array, not a tree.
 * Partials are not compiled here: their name may come from the data, so the
 * renderer compiles them on first use.
 *
 * The indentation of a standalone partial, parent or block is stored on its
 * node and added by the renderer.  Blocks whose lines are indented in the
 * source are dedented here instead, so that the site that expands them
 * decides their indentation (~inheritance.json "Block reindentation").
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psabridge/mustache.h"

#include "mustache-internal.h"

/* Sections open at once in one template (the renderer recurses on them). */
#define MUSTACHE_MAX_NEST 100
/* Bytes in a set delimiter. */
#define MUSTACHE_MAX_DELIM 32
#define MUSTACHE_NOPOS	   ((size_t)-1)

/* A tag as the scanner found it; offsets into the source. */
struct mustache_tok {
	char type; /* # ^ / ! = > < $ & { or 'v' (variable) */
	unsigned char standalone;
	unsigned char dynamic;
	size_t start, end;    /* the tag itself */
	size_t estart, eend;  /* with what its standalone line gives up */
	size_t raw, rawlen;   /* content after the sigil, trimmed */
	size_t name, namelen; /* raw without a dynamic name's '*' */
	size_t match;	      /* opener <-> closing tag */
};

struct mustache_scan {
	const char *src;
	size_t len;
	const char *otag, *ctag;
	size_t olen, clen;
	struct mustache_tok *toks;
	size_t ntoks, cap;
	size_t stack[MUSTACHE_MAX_NEST];
	size_t depth;
	struct mustache_error *err;
};

struct mustache_pos {
	size_t pos;
	int line, column;
};

static int mustache_fail(struct mustache_error *err, const char *src,
			 size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
mustache_blank(char c)
{
	return c == ' ' || c == '\t';
}

static int
mustache_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Columns count characters, not bytes: UTF-8 continuation bytes are skipped. */
static void
mustache_advance(const char *src, struct mustache_pos *p, size_t to)
{
	for (; p->pos < to; p->pos++) {
		unsigned char c = (unsigned char)src[p->pos];

		if (c == '\n') {
			p->line++;
			p->column = 1;
		} else if ((c & 0xc0) != 0x80) {
			p->column++;
		}
	}
}

static int
mustache_fail(struct mustache_error *err, const char *src, size_t pos,
	      const char *fmt, ...)
{
	struct mustache_pos p = {0, 1, 1};
	va_list ap;

	mustache_advance(src, &p, pos);
	err->line = p.line;
	err->column = p.column;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

static size_t
mustache_find(const char *s, size_t len, size_t from, const char *needle,
	      size_t nlen)
{
	const char *p;

	while (from + nlen <= len) {
		p = memchr(s + from, needle[0], len - from - nlen + 1);
		if (p == NULL)
			return MUSTACHE_NOPOS;
		from = (size_t)(p - s);
		if (memcmp(p, needle, nlen) == 0)
			return from;
		from++;
	}
	return MUSTACHE_NOPOS;
}

/* Start of pos's line if only blanks precede pos on it. */
static size_t
mustache_line_start(const char *src, size_t pos)
{
	while (pos > 0 && mustache_blank(src[pos - 1]))
		pos--;
	return pos == 0 || src[pos - 1] == '\n' ? pos : MUSTACHE_NOPOS;
}

/* Past pos's line end if only blanks follow pos; *nl: where the newline is. */
static size_t
mustache_line_end(const char *src, size_t len, size_t pos, size_t *nl)
{
	while (pos < len && mustache_blank(src[pos]))
		pos++;
	*nl = pos;
	if (pos == len)
		return pos;
	if (src[pos] == '\n')
		return pos + 1;
	if (src[pos] == '\r' && pos + 1 < len && src[pos + 1] == '\n')
		return pos + 2;
	return MUSTACHE_NOPOS;
}

/* "." or parts separated by single dots. */
static int
mustache_dotted_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 1 && s[0] == '.')
		return 1;
	for (i = 0; i < n; i++)
		if (s[i] == '.' && (i == 0 || i + 1 == n || s[i + 1] == '.'))
			return 0;
	return 1;
}

static struct mustache_tok *
mustache_scan_push(struct mustache_scan *s, size_t at)
{
	struct mustache_tok *t;
	size_t cap;

	if (s->ntoks == s->cap) {
		cap = s->cap ? s->cap * 2 : 64;
		t = realloc(s->toks, cap * sizeof(*t));
		if (t == NULL) {
			mustache_fail(s->err, s->src, at, "out of memory");
			return NULL;
		}
		s->toks = t;
		s->cap = cap;
	}
	t = &s->toks[s->ntoks++];
	memset(t, 0, sizeof(*t));
	return t;
}

/* {{=<% %>=}}: two words without '=', content between the '=' signs. */
static int
mustache_scan_delims(struct mustache_scan *s, size_t at, size_t p, size_t e)
{
	const char *src = s->src;
	size_t a, b, c;

	while (p < e && mustache_space(src[p]))
		p++;
	while (e > p && mustache_space(src[e - 1]))
		e--;
	for (a = p; a < e && !mustache_space(src[a]); a++)
		;
	for (b = a; b < e && mustache_space(src[b]); b++)
		;
	for (c = b; c < e && !mustache_space(src[c]); c++)
		;
	if (a == p || b == a || b == e || c != e ||
	    memchr(src + p, '=', e - p) != NULL)
		return mustache_fail(
		    s->err, src, at,
		    "bad delimiters: expected {{=OPEN CLOSE=}}");
	if (a - p > MUSTACHE_MAX_DELIM || e - b > MUSTACHE_MAX_DELIM)
		return mustache_fail(s->err, src, at,
				     "delimiter longer than %d bytes",
				     MUSTACHE_MAX_DELIM);
	s->otag = src + p;
	s->olen = a - p;
	s->ctag = src + b;
	s->clen = e - b;
	return 0;
}

static int
mustache_scan_name(struct mustache_scan *s, struct mustache_tok *t, size_t p,
		   size_t e)
{
	const char *src = s->src;
	size_t i;

	while (p < e && mustache_space(src[p]))
		p++;
	while (e > p && mustache_space(src[e - 1]))
		e--;
	t->raw = p;
	t->rawlen = e - p;
	if ((t->type == '>' || t->type == '<') && p < e && src[p] == '*') {
		t->dynamic = 1;
		for (p++; p < e && mustache_space(src[p]); p++)
			;
	}
	t->name = p;
	t->namelen = e - p;
	if (p == e)
		return mustache_fail(s->err, src, t->start, "empty tag name");
	for (i = p; i < e; i++)
		if (mustache_space(src[i]))
			return mustache_fail(s->err, src, t->start,
					     "space in tag name \"%.*s\"",
					     (int)(e - p), src + p);
	if ((strchr("v&{#^", t->type) != NULL || t->dynamic) &&
	    !mustache_dotted_ok(src + p, e - p))
		return mustache_fail(
		    s->err, src, t->start,
		    "bad name \"%.*s\": empty part between dots", (int)(e - p),
		    src + p);
	return 0;
}

/* Pairs sections (#, ^, <, $) with their closing tags. */
static int
mustache_scan_match(struct mustache_scan *s, size_t i)
{
	struct mustache_tok *t = &s->toks[i], *o;
	const char *src = s->src;

	if (strchr("#^<$", t->type) != NULL) {
		if (s->depth == MUSTACHE_MAX_NEST)
			return mustache_fail(s->err, src, t->start,
					     "sections nested deeper than %d",
					     MUSTACHE_MAX_NEST);
		s->stack[s->depth++] = i;
		return 0;
	}
	if (t->type != '/')
		return 0;
	if (s->depth == 0)
		return mustache_fail(
		    s->err, src, t->start,
		    "closing tag \"%.*s\" without an open section",
		    (int)t->rawlen, src + t->raw);
	o = &s->toks[s->stack[--s->depth]];
	if (o->rawlen != t->rawlen ||
	    memcmp(src + o->raw, src + t->raw, t->rawlen) != 0)
		return mustache_fail(
		    s->err, src, t->start,
		    "closing tag \"%.*s\" does not match open section \"%.*s\"",
		    (int)t->rawlen, src + t->raw, (int)o->rawlen, src + o->raw);
	o->match = i;
	t->match = s->stack[s->depth];
	return 0;
}

static int
mustache_scan_tag(struct mustache_scan *s, size_t at, size_t *next)
{
	const char *src = s->src;
	char needle[MUSTACHE_MAX_DELIM + 1];
	size_t p = at + s->olen, nlen = 0, close;
	struct mustache_tok *t;
	char type = 'v';

	while (p < s->len && mustache_space(src[p]))
		p++;
	if (p < s->len && src[p] != '\0' && strchr("#^/!=><$&{", src[p]))
		type = src[p++];
	/* {{{x}}} and {{=a b=}} end with one more character before }}. */
	if (type == '{' || type == '=')
		needle[nlen++] = type == '{' ? '}' : '=';
	memcpy(needle + nlen, s->ctag, s->clen);
	nlen += s->clen;
	close = mustache_find(src, s->len, p, needle, nlen);
	if (close == MUSTACHE_NOPOS)
		return mustache_fail(s->err, src, at,
				     "unclosed tag: no \"%.*s\" follows",
				     (int)nlen, needle);
	if ((t = mustache_scan_push(s, at)) == NULL)
		return -1;
	t->type = type;
	t->start = t->estart = at;
	t->end = t->eend = close + nlen;
	*next = t->end;
	if (type == '!')
		return 0;
	if (type == '=')
		return mustache_scan_delims(s, at, p, close);
	if (mustache_scan_name(s, t, p, close) == -1)
		return -1;
	return mustache_scan_match(s, s->ntoks - 1);
}

static int
mustache_scan_all(struct mustache_scan *s)
{
	size_t pos = 0, at;
	struct mustache_tok *o;

	while ((at = mustache_find(s->src, s->len, pos, s->otag, s->olen)) !=
	       MUSTACHE_NOPOS)
		if (mustache_scan_tag(s, at, &pos) == -1)
			return -1;
	if (s->depth > 0) {
		o = &s->toks[s->stack[s->depth - 1]];
		return mustache_fail(s->err, s->src, o->start,
				     "unclosed section \"%.*s\"",
				     (int)o->rawlen, s->src + o->raw);
	}
	return 0;
}

static void
mustache_standalone_single(struct mustache_scan *s, struct mustache_tok *t)
{
	size_t ls, le, nl;

	if (strchr("#^/!=><$", t->type) == NULL)
		return;
	ls = mustache_line_start(s->src, t->start);
	le = mustache_line_end(s->src, s->len, t->end, &nl);
	if (ls == MUSTACHE_NOPOS || le == MUSTACHE_NOPOS)
		return;
	t->standalone = 1;
	t->estart = ls;
	t->eend = le;
}

/* '<' or '$', or for a closing tag 'P' (parent) or 'B' (block). */
static char
mustache_standalone_kind(const struct mustache_scan *s,
			 const struct mustache_tok *t)
{
	if (t->type == '/')
		switch (s->toks[t->match].type) {
		case '<':
			return 'P';
		case '$':
			return 'B';
		default:
			return 0;
		}
	return t->type == '<' || t->type == '$' ? t->type : 0;
}

/*
 * Parents and blocks may share a line with their neighbour and still count
 * as standalone (~inheritance.json "Standalone parent", "Standalone
 * block"): {{<p}}{{$b}}, {{/b}}{{/p}} and {{<p}}{{/p}} give up their whole
 * line; an empty block {{$b}}{{/b}} keeps its newline.
 */
static void
mustache_standalone_pair(struct mustache_scan *s, size_t i)
{
	struct mustache_tok *a = &s->toks[i], *b = &s->toks[i + 1];
	size_t ls, le, nl;
	char ka, kb;

	if (a->end != b->start || a->standalone || b->standalone)
		return;
	ka = mustache_standalone_kind(s, a);
	kb = mustache_standalone_kind(s, b);
	if (ka == 0 || kb == 0)
		return;
	ls = mustache_line_start(s->src, a->start);
	le = mustache_line_end(s->src, s->len, b->end, &nl);
	if (ls == MUSTACHE_NOPOS || le == MUSTACHE_NOPOS)
		return;
	if ((ka == '<' && (kb == '$' || kb == 'P')) ||
	    (ka == 'B' && kb == 'P')) {
		a->estart = ls;
		b->eend = le;
	} else if (ka == '$' && kb == 'B') {
		a->estart = ls;
		b->eend = nl;
	} else {
		return;
	}
	a->standalone = b->standalone = 1;
}

static void
mustache_standalone_all(struct mustache_scan *s)
{
	size_t i;

	for (i = 0; i < s->ntoks; i++)
		mustache_standalone_single(s, &s->toks[i]);
	for (i = 0; i + 1 < s->ntoks; i++)
		mustache_standalone_pair(s, i);
}

struct mustache_build {
	const struct mustache_scan *s;
	struct mustache *t;
	struct mustache_pos pos;
	size_t stack[MUSTACHE_MAX_NEST];
	size_t strip[MUSTACHE_MAX_NEST + 1]; /* blanks cut from line starts */
	size_t depth;
	struct mustache_error *err;
};

static int
mustache_pool_add(struct mustache_build *b, const char *s, size_t n)
{
	struct mustache *t = b->t;
	size_t cap;
	char *p;

	if (n > t->poolcap - t->poollen) {
		cap = t->poolcap ? t->poolcap : 256;
		while (cap - t->poollen < n)
			cap *= 2;
		if ((p = realloc(t->pool, cap)) == NULL)
			return mustache_fail(b->err, b->s->src, b->pos.pos,
					     "out of memory");
		t->pool = p;
		t->poolcap = cap;
	}
	memcpy(t->pool + t->poollen, s, n);
	t->poollen += n;
	return 0;
}

static struct mustache_node *
mustache_build_node(struct mustache_build *b, int type, size_t at)
{
	struct mustache_node *n;

	if (b->t->nnodes == b->t->nodecap) { /* sized for every token */
		mustache_fail(b->err, b->s->src, at, "internal: node overflow");
		return NULL;
	}
	mustache_advance(b->s->src, &b->pos, at);
	n = &b->t->nodes[b->t->nnodes++];
	memset(n, 0, sizeof(*n));
	n->type = (unsigned char)type;
	n->line = b->pos.line;
	n->column = b->pos.column;
	n->off = b->t->poollen;
	return n;
}

/* Text from..to, with up to `strip` blanks cut at each line start. */
static int
mustache_build_text(struct mustache_build *b, size_t from, size_t to)
{
	const char *src = b->s->src, *nl;
	size_t strip = b->strip[b->depth], k, e;
	struct mustache_node *n;

	if (from >= to)
		return 0;
	if ((n = mustache_build_node(b, MN_TEXT, from)) == NULL)
		return -1;
	while (from < to) {
		if (from == 0 || src[from - 1] == '\n')
			for (k = 0; k < strip && from < to &&
				    mustache_blank(src[from]);
			     k++)
				from++;
		nl = memchr(src + from, '\n', to - from);
		e = nl != NULL ? (size_t)(nl - src) + 1 : to;
		if (mustache_pool_add(b, src + from, e - from) == -1)
			return -1;
		from = e;
	}
	n->len = b->t->poollen - n->off;
	if (n->len == 0)
		b->t->nnodes--;
	return 0;
}

/* The name, NUL-ended; a dotted one as one NUL-ended string per part. */
static int
mustache_build_name(struct mustache_build *b, struct mustache_node *n,
		    const struct mustache_tok *k, int dotted)
{
	const char *s = b->s->src + k->name;
	size_t i, from = 0;

	n->off = b->t->poollen;
	n->nparts = 1;
	if (dotted && k->namelen == 1 && s[0] == '.') {
		n->nparts = 0;
		return mustache_pool_add(b, "", 1);
	}
	for (i = 0; dotted && i < k->namelen; i++) {
		if (s[i] != '.')
			continue;
		if (mustache_pool_add(b, s + from, i - from) == -1 ||
		    mustache_pool_add(b, "", 1) == -1)
			return -1;
		from = i + 1;
		n->nparts++;
	}
	n->len = k->namelen;
	if (mustache_pool_add(b, s + from, k->namelen - from) == -1)
		return -1;
	return mustache_pool_add(b, "", 1);
}

static int
mustache_build_indent(struct mustache_build *b, struct mustache_node *n,
		      size_t from, size_t len)
{
	size_t strip = b->strip[b->depth];

	/* The enclosing block's dedent applies to this line too. */
	strip = strip < len ? strip : len;
	n->standalone = 1;
	n->ind = b->t->poollen;
	n->indlen = len - strip;
	return mustache_pool_add(b, b->s->src + from + strip, len - strip);
}

/* Common leading blanks of the lines from..to that are not blank. */
static size_t
mustache_build_margin(const char *src, size_t from, size_t to, size_t *at)
{
	size_t m = MUSTACHE_NOPOS, e, w, k;

	*at = from;
	while (from < to) {
		for (e = from; e < to && src[e] != '\n'; e++)
			;
		for (w = from; w < e && mustache_blank(src[w]); w++)
			;
		if (w == e || (src[w] == '\r' && w + 1 == e))
			; /* a blank line says nothing about the margin */
		else if (m == MUSTACHE_NOPOS) {
			m = w - from;
			*at = from;
		} else {
			for (k = 0; k < m && k < w - from &&
				    src[from + k] == src[*at + k];
			     k++)
				;
			m = k;
		}
		from = e + 1;
	}
	return m == MUSTACHE_NOPOS ? 0 : m;
}

/*
 * A standalone block is reindented where it is expanded: its own lines lose
 * their common indentation, and the expansion adds that indentation back
 * (or, when the block's lines are not indented, the tag's).
 */
static int
mustache_build_block(struct mustache_build *b, struct mustache_node *n,
		     const struct mustache_tok *k)
{
	const struct mustache_tok *c = &b->s->toks[k->match];
	size_t strip = b->strip[b->depth], m, at;

	b->strip[b->depth + 1] = strip;
	if (!k->standalone)
		return 0;
	m = mustache_build_margin(b->s->src, k->eend, c->estart, &at);
	if (m > strip) {
		b->strip[b->depth + 1] = m;
		n->standalone = 1;
		n->ind = b->t->poollen;
		n->indlen = m - strip;
		return mustache_pool_add(b, b->s->src + at + strip, m - strip);
	}
	return mustache_build_indent(b, n, k->estart, k->start - k->estart);
}

static int
mustache_build_open(struct mustache_build *b, const struct mustache_tok *k,
		    int type)
{
	struct mustache_node *n;

	if ((n = mustache_build_node(b, type, k->start)) == NULL)
		return -1;
	if (mustache_build_name(b, n, k,
				type != MN_BLOCK &&
				    (type != MN_PARENT || k->dynamic)) == -1)
		return -1;
	n->dynamic = k->dynamic;
	if (type == MN_PARENT && k->standalone &&
	    mustache_build_indent(b, n, k->estart, k->start - k->estart) == -1)
		return -1;
	b->strip[b->depth + 1] = b->strip[b->depth];
	if (type == MN_BLOCK && mustache_build_block(b, n, k) == -1)
		return -1;
	b->stack[b->depth++] = b->t->nnodes - 1;
	return 0;
}

static int
mustache_build_tag(struct mustache_build *b, const struct mustache_tok *k)
{
	struct mustache_node *n;

	switch (k->type) {
	case '!':
	case '=':
		return 0;
	case '/':
		b->t->nodes[b->stack[--b->depth]].end = b->t->nnodes;
		return 0;
	case '#':
		return mustache_build_open(b, k, MN_SECTION);
	case '^':
		return mustache_build_open(b, k, MN_INVERTED);
	case '<':
		return mustache_build_open(b, k, MN_PARENT);
	case '$':
		return mustache_build_open(b, k, MN_BLOCK);
	case '>':
		if ((n = mustache_build_node(b, MN_PARTIAL, k->start)) ==
			NULL ||
		    mustache_build_name(b, n, k, k->dynamic) == -1)
			return -1;
		n->dynamic = k->dynamic;
		return k->standalone
			   ? mustache_build_indent(b, n, k->estart,
						   k->start - k->estart)
			   : 0;
	default:
		if ((n = mustache_build_node(b,
					     k->type == 'v' ? MN_VAR : MN_RAW,
					     k->start)) == NULL)
			return -1;
		return mustache_build_name(b, n, k, 1);
	}
}

static int
mustache_build_all(struct mustache_build *b)
{
	const struct mustache_scan *s = b->s;
	size_t i, prev = 0;

	for (i = 0; i < s->ntoks; i++) {
		if (mustache_build_text(b, prev, s->toks[i].estart) == -1 ||
		    mustache_build_tag(b, &s->toks[i]) == -1)
			return -1;
		prev = s->toks[i].eend;
	}
	return mustache_build_text(b, prev, s->len);
}

int
mustache_compile(const char *src, size_t len, mustache_partial_fn partial_fn,
		 void *arg, struct mustache **out, struct mustache_error *err)
{
	struct mustache_error dummy;
	struct mustache_scan s;
	struct mustache_build b;
	struct mustache *t = NULL;
	int rc = -1;

	*out = NULL;
	memset(&s, 0, sizeof(s));
	s.err = err != NULL ? err : &dummy;
	memset(s.err, 0, sizeof(*s.err));
	s.src = src != NULL ? src : "";
	s.len = src != NULL ? len : 0;
	s.otag = "{{";
	s.ctag = "}}";
	s.olen = s.clen = 2;
	if (mustache_scan_all(&s) == -1)
		goto out;
	mustache_standalone_all(&s);
	memset(&b, 0, sizeof(b));
	b.s = &s;
	b.err = s.err;
	b.pos.line = b.pos.column = 1;
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->nodes = calloc(2 * s.ntoks + 1, sizeof(*t->nodes))) == NULL) {
		mustache_fail(s.err, s.src, 0, "out of memory");
		goto out;
	}
	t->nodecap = 2 * s.ntoks + 1; /* a text before each tag, one after */
	t->partial_fn = partial_fn;
	t->arg = arg;
	b.t = t;
	if (mustache_build_all(&b) == -1)
		goto out;
	*out = t;
	t = NULL;
	rc = 0;
out:
	free(s.toks);
	mustache_free(t);
	return rc;
}

void
mustache_free(struct mustache *t)
{
	if (t == NULL)
		return;
	free(t->nodes);
	free(t->pool);
	free(t);
}
