/*
 * rules: what each event becomes.  Modelled on Prometheus Alertmanager's
 * routing: every matcher of a rule must hold, rules are tried in order and
 * the first that matches wins unless it says `continue = true`.
 *
 *   rules = (
 *     { name = "agent-uninstalled";
 *       match = [ "event = Agent.Uninstall",
 *                 "payload.platform =~ Windows|macOS" ];
 *       actions = ( { target = "psa"; action = "create";
 *                     template = "agent-uninstalled";
 *                     correlate = "agent:{{payload.id}}"; } ); }
 *   );
 *
 * A matcher is "PATH OP VALUE": PATH a dotted path into the routing context
 * (event, time, payload.*, customer.*), OP one of = != =~ !~, VALUE the
 * rest, optionally in double quotes.  Regexes are PCRE2, anchored to the
 * whole value.  A missing field compares as "", numbers and booleans by
 * their JSON text.  An empty match list matches every event.
 * docs/rules.md is the user's reference.
 */
#ifndef PSABRIDGE_RULES_H
#define PSABRIDGE_RULES_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <libconfig.h>

#include "psabridge/diag.h"

enum rules_kind {
	RULES_CREATE, /* open a ticket */
	RULES_NOTE,   /* add a note to the correlated ticket */
	RULES_CLOSE,  /* note, then close it */
	RULES_NOTIFY, /* send a webhook */
};

enum rules_if_missing { RULES_IF_MISSING_SKIP, RULES_IF_MISSING_CREATE };

struct rules_action {
	char *target;	      /* a target's name */
	enum rules_kind kind; /* what to do */
	char *template;	      /* template name, or NULL: the target's default */
	char *correlate; /* Mustache source of the correlation key, or NULL */
	enum rules_if_missing if_missing; /* note/close without a ticket */
	int dedup; /* create: note an open ticket instead; default 1 */
	int line;  /* of the action's group */
};

struct rules_matcher; /* compiled, opaque */

/* The matcher as written in the configuration (borrowed); "" for NULL. */
const char *rules_matcher_text(const struct rules_matcher *m);

struct rules_rule {
	char *name;
	int enabled; /* default 1 */
	int cont;    /* `continue`, default 0 */
	struct rules_matcher **matchers;
	size_t nmatchers;
	struct rules_action *actions;
	size_t nactions;
	int line; /* of the rule's group */
};

struct rules_index;

struct rules {
	struct rules_rule *rules;
	size_t nrules;
	struct rules_index *index; /* which rules an event can match */
};

/* What rules_load() checks names against; all borrowed. */
struct rules_env {
	const char *const *targets; /* known target names */
	size_t ntargets;
	/* 1 when template `name` exists; NULL skips the check. */
	int (*template_exists)(const char *name, void *arg);
	void *arg;
	/*
	 * The file given to config_read_file(), or NULL.  libconfig names an
	 * @included file relative to the main file's directory; with this set
	 * its messages name it as seen from the cwd, like config_load()'s.
	 */
	const char *config_file;
};

/*
 * Compiles the `rules` list (NULL: no rules, every event is unrouted).
 * env must not be NULL.  Every problem goes to d as FILE:LINE:
 * rules[i]...: message, all of them.  Returns 0 and rules the caller frees
 * with rules_free(), or -1 (*out NULL).
 *
 * Rule names are 1 to 64 of [A-Za-z0-9_-] and unique.  Unknown keys,
 * wrong types, a note or close without correlate, and if_missing or dedup
 * on an action they do not apply to are errors.
 */
int rules_load(const config_setting_t *list, const struct rules_env *env,
	       struct rules **out, struct diag *d);

/* NULL is safe. */
void rules_free(struct rules *r);

/* Called for each action of each matching rule, in order. */
typedef void (*rules_action_fn)(const struct rules_rule *rule,
				const struct rules_action *action, void *arg);

/*
 * Routes ctx; returns how many rules matched (0: unrouted).  fn may be
 * NULL (just count).  A regex that cannot run on a value (invalid UTF-8,
 * the backtracking limit) holds for neither =~ nor !~.
 *
 * Each regex matcher owns its PCRE2 match data: rules_route() and
 * rules_explain() on one struct rules must not run in two threads at once.
 */
size_t rules_route(const struct rules *r, const cJSON *ctx, rules_action_fn fn,
		   void *arg);

/*
 * Explains routing for `psabridge render`: for every rule in order, calls
 * fn with whether it matched and why, never NULL (valid during the call):
 *   every matcher holds / no matchers: matches every event
 *   matcher "payload.platform =~ Windows|macOS" saw "Linux"
 *   disabled
 *   not reached: rule "agent-uninstalled" matched without continue
 * Values are quoted, cut to 80 bytes, and bytes outside printable ASCII
 * written as \xNN.
 */
typedef void (*rules_explain_fn)(const struct rules_rule *rule, int matched,
				 const char *why, void *arg);
void rules_explain(const struct rules *r, const cJSON *ctx, rules_explain_fn fn,
		   void *arg);

/*
 * The value a matcher PATH sees in ctx, as text: strings as they are,
 * numbers and booleans as JSON text (1650, 0.5, 1e+20, true), anything
 * missing or null as "", and objects and arrays as "" too: a matcher
 * compares scalars only.  Writes at most size - 1 bytes plus NUL into buf
 * and returns buf ("" when size is 0).
 */
const char *rules_value(const cJSON *ctx, const char *path, char *buf,
			size_t size);

#endif
