/*
 * rules internals shared by rules.c (loading, matching) and rules_index.c
 * (which rules an event can match at all).  Not part of the API.
 */
#ifndef PSABRIDGE_RULES_INTERNAL_H
#define PSABRIDGE_RULES_INTERNAL_H

#include <stddef.h>

#ifndef PCRE2_CODE_UNIT_WIDTH
#define PCRE2_CODE_UNIT_WIDTH 8
#endif
#include <pcre2.h>

#include <cjson/cJSON.h>

#include "psabridge/rules.h"

#define RULES_NUM_SIZE 32 /* a number's text */

enum rules_op { RULES_EQ, RULES_NE, RULES_RE, RULES_NRE };

struct rules_matcher {
	char *text; /* as written, for messages */
	char *path; /* "payload.platform" */
	enum rules_op op;
	char *value;		 /* unquoted */
	pcre2_code *re;		 /* =~ and !~ only */
	pcre2_match_data *md;	 /* used by every match: one thread at a time */
	pcre2_match_context *mc; /* the match limit */
};

/* The text a matcher compares for path: see rules_value(). */
const char *rules_text(const cJSON *ctx, const char *path,
		       char num[static RULES_NUM_SIZE]);

/*
 * The index: each rule is filed under one of its `=` matchers (path and
 * value); rules without one are always tried.  For an event, the rules
 * worth trying are those filed under the value the event has at each
 * indexed path, plus the always-tried ones, in rule order.
 */
struct rules_index;

/* NULL when out of memory. */
struct rules_index *rules_index_build(const struct rules *r);
void rules_index_free(struct rules_index *ix);

/* Marks the rules worth trying for ctx (one thread at a time). */
void rules_index_select(struct rules_index *ix, const cJSON *ctx);

/* The first marked rule at or after i, or the number of rules. */
size_t rules_index_next(const struct rules_index *ix, size_t i);

#endif
