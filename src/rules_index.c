/*
 * Which rules an event can match.  With a thousand rules, trying each one
 * in turn (each a string compare or a regex) made routing the bottleneck
 * of ingest.  Most rules hold an equality matcher ("event = X",
 * "payload.customer_id = Y"): a rule can only match an event that has
 * that value at that path.  Each rule is filed under one such matcher, the
 * one whose value the fewest rules share; per path the (value, rule) pairs
 * are sorted, so an
 * event's candidates are a binary search per distinct path.  Candidates go
 * into a bitmap so that rules are still tried in their written order.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rules-internal.h"

struct rules_index_entry {
	const char *value; /* borrowed from the matcher */
	size_t rule;
};

struct rules_index_path {
	const char *path; /* borrowed */
	struct rules_index_entry *entries;
	size_t n;
};

struct rules_index {
	size_t nrules;
	uint64_t *always; /* rules without an equality matcher */
	uint64_t *marked; /* the current event's candidates */
	size_t words;
	struct rules_index_path *paths;
	size_t npaths;
};

struct rules_index_stat {
	const char *path, *value;
};

static int
rules_index_stat_cmp(const void *a, const void *b)
{
	const struct rules_index_stat *x = a, *y = b;
	int c = strcmp(x->path, y->path);

	return c != 0 ? c : strcmp(x->value, y->value);
}

/* Every `=` matcher's (path, value), sorted: how many rules share each. */
static struct rules_index_stat *
rules_index_stats(const struct rules *r, size_t *n)
{
	struct rules_index_stat *st = NULL, *p;
	size_t i, j, k = 0;

	for (i = 0; i < r->nrules; i++) {
		for (j = 0; j < r->rules[i].nmatchers; j++) {
			const struct rules_matcher *m = r->rules[i].matchers[j];

			if (m->op != RULES_EQ)
				continue;
			if ((p = realloc(st, (k + 1) * sizeof(*st))) == NULL) {
				free(st);
				return NULL;
			}
			st = p;
			st[k].path = m->path;
			st[k++].value = m->value;
		}
	}
	if (k > 0)
		qsort(st, k, sizeof(*st), rules_index_stat_cmp);
	*n = k;
	return st;
}

/* How many `=` matchers compare path with this very value. */
static size_t
rules_index_sharing(const struct rules_index_stat *st, size_t n,
		    const struct rules_matcher *m)
{
	struct rules_index_stat key = {m->path, m->value};
	size_t lo = 0, hi = n, mid, count = 0;

	while (lo < hi) { /* the first pair not below (path, value) */
		mid = lo + (hi - lo) / 2;
		if (rules_index_stat_cmp(&st[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	while (lo < n && rules_index_stat_cmp(&st[lo++], &key) == 0)
		count++;
	return count;
}

/*
 * The matcher a rule is filed under, or NULL: the `=` matcher whose value
 * the fewest rules share, so that an event's candidates are few.
 * Per-customer rules ("event = X" and "payload.customer_id = Y") are
 * filed by customer, not by the event every one of them names.
 */
static const struct rules_matcher *
rules_index_key(const struct rules_rule *rule,
		const struct rules_index_stat *st, size_t nst)
{
	const struct rules_matcher *best = NULL;
	size_t i, score, best_score = 0;

	for (i = 0; i < rule->nmatchers; i++) {
		const struct rules_matcher *m = rule->matchers[i];

		if (m->op != RULES_EQ)
			continue;
		score = rules_index_sharing(st, nst, m);
		if (best == NULL || score < best_score) {
			best = m;
			best_score = score;
		}
	}
	return best;
}

static struct rules_index_path *
rules_index_path(struct rules_index *ix, const char *path)
{
	struct rules_index_path *p;
	size_t i;

	for (i = 0; i < ix->npaths; i++) {
		if (strcmp(ix->paths[i].path, path) == 0)
			return &ix->paths[i];
	}
	p = realloc(ix->paths, (ix->npaths + 1) * sizeof(*p));
	if (p == NULL)
		return NULL;
	ix->paths = p;
	p = &ix->paths[ix->npaths++];
	memset(p, 0, sizeof(*p));
	p->path = path;
	return p;
}

static int
rules_index_cmp(const void *a, const void *b)
{
	const struct rules_index_entry *x = a, *y = b;
	int c = strcmp(x->value, y->value);

	if (c != 0)
		return c;
	return x->rule < y->rule ? -1 : x->rule > y->rule;
}

static int
rules_index_file(struct rules_index *ix, const struct rules_matcher *m,
		 size_t rule)
{
	struct rules_index_path *p = rules_index_path(ix, m->path);
	struct rules_index_entry *e;

	if (p == NULL ||
	    (e = realloc(p->entries, (p->n + 1) * sizeof(*e))) == NULL)
		return -1;
	p->entries = e;
	p->entries[p->n].value = m->value;
	p->entries[p->n].rule = rule;
	p->n++;
	return 0;
}

struct rules_index *
rules_index_build(const struct rules *r)
{
	struct rules_index *ix = calloc(1, sizeof(*ix));
	struct rules_index_stat *st = NULL;
	const struct rules_matcher *m;
	size_t i, nst = 0;

	if (ix == NULL)
		return NULL;
	if ((st = rules_index_stats(r, &nst)) == NULL && nst > 0)
		goto fail;
	ix->nrules = r->nrules;
	ix->words = r->nrules / 64 + 1;
	ix->always = calloc(ix->words, sizeof(*ix->always));
	ix->marked = calloc(ix->words, sizeof(*ix->marked));
	if (ix->always == NULL || ix->marked == NULL)
		goto fail;
	for (i = 0; i < r->nrules; i++) {
		if ((m = rules_index_key(&r->rules[i], st, nst)) == NULL)
			ix->always[i / 64] |= UINT64_C(1) << (i % 64);
		else if (rules_index_file(ix, m, i) == -1)
			goto fail;
	}
	for (i = 0; i < ix->npaths; i++)
		qsort(ix->paths[i].entries, ix->paths[i].n,
		      sizeof(*ix->paths[i].entries), rules_index_cmp);
	free(st);
	return ix;
fail:
	free(st);
	rules_index_free(ix);
	return NULL;
}

void
rules_index_free(struct rules_index *ix)
{
	size_t i;

	if (ix == NULL)
		return;
	for (i = 0; i < ix->npaths; i++)
		free(ix->paths[i].entries);
	free(ix->paths);
	free(ix->always);
	free(ix->marked);
	free(ix);
}

/* Marks every rule filed under value at p. */
static void
rules_index_mark(struct rules_index *ix, const struct rules_index_path *p,
		 const char *value)
{
	size_t lo = 0, hi = p->n, mid;

	while (lo < hi) { /* the first entry not below value */
		mid = lo + (hi - lo) / 2;
		if (strcmp(p->entries[mid].value, value) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < p->n && strcmp(p->entries[lo].value, value) == 0; lo++)
		ix->marked[p->entries[lo].rule / 64] |=
		    UINT64_C(1) << (p->entries[lo].rule % 64);
}

void
rules_index_select(struct rules_index *ix, const cJSON *ctx)
{
	char num[RULES_NUM_SIZE];
	size_t i;

	memcpy(ix->marked, ix->always, ix->words * sizeof(*ix->marked));
	for (i = 0; i < ix->npaths; i++)
		rules_index_mark(ix, &ix->paths[i],
				 rules_text(ctx, ix->paths[i].path, num));
}

size_t
rules_index_next(const struct rules_index *ix, size_t i)
{
	uint64_t w;

	while (i < ix->nrules) {
		w = ix->marked[i / 64] >> (i % 64);
		if (w != 0)
			return i + (size_t)__builtin_ctzll(w);
		i = (i / 64 + 1) * 64;
	}
	return ix->nrules;
}
