/*
 * rules: compiles the `rules` list of psabridge.cfg into matchers and
 * actions, and routes a context (the event envelope, plus the customer)
 * through them, first match wins unless a rule says `continue = true`.
 *
 * Loading checks every key of every rule and action against a small table
 * (unknown keys, wrong types, missing required keys), then the values
 * themselves (matcher syntax, regexes, targets, templates), and reports
 * each problem through the struct diag as FILE:LINE: rules[i]...: message
 * without stopping: rules_load() fails at the end if any error was found.
 *
 * Matching never allocates: a string field is matched in place, a number
 * or boolean is printed into a small stack buffer, and a regex runs with
 * match data made at load for its matcher.  That is also why one struct
 * rules must not be used by two threads at the same time.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pcre2.h>

#include "psabridge/config.h"
#include "psabridge/rules.h"
#include "rules-internal.h"

#define RULES_NAME_MAX	  64 /* rule names */
#define RULES_SHOW_MAX	  80 /* bytes of user text echoed into a message */
#define RULES_SHOW_SIZE	  (RULES_SHOW_MAX * 4 + 8) /* quoted, escaped */
#define RULES_WHY_SIZE	  (2 * RULES_SHOW_SIZE + 160)
#define RULES_KNOWN_MAX	  200	  /* "known targets: ..." in a message */
#define RULES_MATCH_LIMIT 1000000 /* PCRE2 backtracking steps per match */
#define RULES_WS	  " \t\r\n\f\v"
#define RULES_OPCHARS	  "=!~<>" /* a run of these is one operator */
#define EXPECT_BOOL	  "a boolean (true or false)"
#define ALNUM                                                                  \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"                 \
	"0123456789"

struct rules_loader {
	const struct rules_env *env; /* borrowed */
	struct diag *d;		     /* borrowed */
	char dir[PATH_MAX];	     /* of env->config_file, "" when unknown */
};

/* A key of a rule or action group: what rules_members() checks. */
struct rules_key {
	const char *name;
	int type; /* CONFIG_TYPE_* */
	const char *expect;
	int required;
};

enum { RK_NAME, RK_MATCH, RK_ACTIONS, RK_CONTINUE, RK_ENABLED, RK_N };
static const struct rules_key rules_rule_keys[RK_N] = {
    [RK_NAME] = {"name", CONFIG_TYPE_STRING, "a string", 1},
    [RK_MATCH] = {"match", CONFIG_TYPE_ARRAY,
		  "an array of strings [ \"PATH OP VALUE\", ... ]", 0},
    [RK_ACTIONS] = {"actions", CONFIG_TYPE_LIST,
		    "a list ( { target = ...; action = ...; }, ... )", 1},
    [RK_CONTINUE] = {"continue", CONFIG_TYPE_BOOL, EXPECT_BOOL, 0},
    [RK_ENABLED] = {"enabled", CONFIG_TYPE_BOOL, EXPECT_BOOL, 0},
};

enum {
	AK_TARGET,
	AK_ACTION,
	AK_TEMPLATE,
	AK_CORRELATE,
	AK_IF_MISSING,
	AK_DEDUP,
	AK_N
};
static const struct rules_key rules_action_keys[AK_N] = {
    [AK_TARGET] = {"target", CONFIG_TYPE_STRING, "a string (a target's name)",
		   1},
    [AK_ACTION] = {"action", CONFIG_TYPE_STRING,
		   "a string: create, note, close or notify", 1},
    [AK_TEMPLATE] = {"template", CONFIG_TYPE_STRING,
		     "a string (a template's name)", 0},
    [AK_CORRELATE] = {"correlate", CONFIG_TYPE_STRING,
		      "a string like \"agent:{{payload.id}}\"", 0},
    [AK_IF_MISSING] = {"if_missing", CONFIG_TYPE_STRING,
		       "a string: skip or create", 0},
    [AK_DEDUP] = {"dedup", CONFIG_TYPE_BOOL, EXPECT_BOOL, 0},
};

/* Indexed by enum rules_kind and enum rules_if_missing. */
static const char *const rules_kinds[] = {"create", "note", "close", "notify"};
static const char *const rules_if_missings[] = {"skip", "create"};

/* --- messages ----------------------------------------------------------- */

/*
 * s in double quotes, cut after RULES_SHOW_MAX bytes, with '"' and '\'
 * escaped and every byte outside printable ASCII written as \xNN: user and
 * event text is untrusted and ends up on terminals and in logs.
 */
static const char *
rules_show(const char *s, char buf[static RULES_SHOW_SIZE])
{
	size_t i, n = 0;

	buf[n++] = '"';
	for (i = 0; s[i] != '\0' && i < RULES_SHOW_MAX; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			buf[n++] = '\\';
			buf[n++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			n += (size_t)snprintf(buf + n, 5, "\\x%02x", c);
		} else {
			buf[n++] = (char)c;
		}
	}
	strcpy(buf + n, s[i] != '\0' ? "\"..." : "\"");
	return buf;
}

/*
 * libconfig names an @included file as written in the directive, which
 * is relative to the main file's directory (config_set_include_dir).
 */
static const char *
rules_file(const struct rules_loader *ld, const char *src, char *buf,
	   size_t size)
{
	const char *file = ld->env->config_file, *sep = "/";
	size_t len = strlen(ld->dir);
	int n;

	if (src == NULL || src[0] == '/' || len == 0 ||
	    (file != NULL && strcmp(src, file) == 0))
		return src;
	if (ld->dir[len - 1] == '/')
		sep = "";
	n = snprintf(buf, size, "%s%s%s", ld->dir, sep, src);
	return n < 0 || (size_t)n >= size ? src : buf;
}

/* The directory of env->config_file, "" for the cwd or when unknown. */
static void
rules_dir(struct rules_loader *ld)
{
	const char *file = ld->env->config_file;
	const char *slash = file != NULL ? strrchr(file, '/') : NULL;
	size_t n;

	ld->dir[0] = '\0';
	if (slash == NULL)
		return;
	n = slash == file ? 1 : (size_t)(slash - file);
	if (n < sizeof(ld->dir)) {
		memcpy(ld->dir, file, n);
		ld->dir[n] = '\0';
	}
}

static __attribute__((format(printf, 3, 4))) void
rules_error(struct rules_loader *ld, const config_setting_t *s, const char *fmt,
	    ...)
{
	char msg[1024], path[PATH_MAX];
	const char *file =
	    rules_file(ld, config_setting_source_file(s), path, sizeof(path));
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_error(ld->d, file, (int)config_setting_source_line(s), "%s", msg);
}

/* --- a group's keys ----------------------------------------------------- */

/* An empty [] stands for an empty list; match may be a list of strings. */
static int
rules_type_ok(const struct rules_key *k, const config_setting_t *s)
{
	int t = config_setting_type(s);

	if (t == k->type)
		return 1;
	if (k->type == CONFIG_TYPE_LIST)
		return t == CONFIG_TYPE_ARRAY && config_setting_length(s) == 0;
	return k->type == CONFIG_TYPE_ARRAY && t == CONFIG_TYPE_LIST;
}

/*
 * Reports unknown keys, wrong types and missing required keys of group.
 * found[k] is the member for keys[k] when it has the right type, else NULL.
 */
static void
rules_members(struct rules_loader *ld, const config_setting_t *group,
	      const char *where, const struct rules_key *keys, size_t nkeys,
	      const config_setting_t **found)
{
	const config_setting_t *s;
	char known[RULES_KNOWN_MAX] = "";
	const char *name;
	size_t k;
	int i;

	for (k = 0; k < nkeys; k++) {
		found[k] = NULL;
		snprintf(known + strlen(known), sizeof(known) - strlen(known),
			 "%s%s", k > 0 ? ", " : "", keys[k].name);
	}
	for (i = 0; i < config_setting_length(group); i++) {
		s = config_setting_get_elem(group, (unsigned int)i);
		name = config_setting_name(s);
		for (k = 0; k < nkeys && strcmp(keys[k].name, name) != 0; k++)
			continue;
		if (k == nkeys)
			rules_error(ld, s,
				    "unknown key \"%s\" in %s; known keys: %s",
				    name, where, known);
		else if (!rules_type_ok(&keys[k], s))
			rules_error(ld, s, "%s.%s: expected %s, got %s", where,
				    name, keys[k].expect,
				    config_type_name(config_setting_type(s)));
		else
			found[k] = s;
	}
	for (k = 0; k < nkeys; k++)
		if (keys[k].required &&
		    config_setting_get_member(group, keys[k].name) == NULL)
			rules_error(ld, group,
				    "missing required key \"%s\" in %s",
				    keys[k].name, where);
}

/* Takes v (NULL: out of memory). */
static void
rules_store(struct rules_loader *ld, const config_setting_t *s,
	    const char *where, char **dst, char *v)
{
	if (v == NULL)
		rules_error(ld, s, "%s: out of memory", where);
	free(*dst);
	*dst = v;
}

/* -1 (reported) unless the string is one of names[]. */
static int
rules_choice(struct rules_loader *ld, const config_setting_t *s,
	     const char *where, const char *what, const char *const *names,
	     size_t n, const char *choices)
{
	const char *v = config_setting_get_string(s);
	char shown[RULES_SHOW_SIZE];
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(v, names[i]) == 0)
			return (int)i;
	rules_error(ld, s, "%s.%s: unknown %s %s: use %s", where,
		    config_setting_name(s), what, rules_show(v, shown),
		    choices);
	return -1;
}

/* --- matchers ----------------------------------------------------------- */

static void
rules_matcher_free(struct rules_matcher *m)
{
	if (m == NULL)
		return;
	pcre2_match_context_free(m->mc);
	pcre2_match_data_free(m->md);
	pcre2_code_free(m->re);
	free(m->value);
	free(m->path);
	free(m->text);
	free(m);
}

const char *
rules_matcher_text(const struct rules_matcher *m)
{
	return m != NULL && m->text != NULL ? m->text : "";
}

/* Names of [A-Za-z0-9_]+ joined by single dots. */
static int
rules_path_ok(const char *p, size_t n)
{
	size_t i;

	if (n == 0 || p[0] == '.' || p[n - 1] == '.')
		return 0;
	for (i = 1; i < n; i++)
		if (p[i] == '.' && p[i - 1] == '.')
			return 0;
	return 1;
}

static int
rules_op_parse(const char *op, size_t n, enum rules_op *out)
{
	static const char *const ops[] = {[RULES_EQ] = "=",
					  [RULES_NE] = "!=",
					  [RULES_RE] = "=~",
					  [RULES_NRE] = "!~"};
	size_t i;

	for (i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strlen(ops[i]) == n && memcmp(ops[i], op, n) == 0) {
			*out = (enum rules_op)i;
			return 0;
		}
	return -1;
}

/*
 * v is what follows the operator and its spaces.  In double quotes, \"
 * and \\ stand for " and \; any other backslash is kept, so that a regex
 * such as "a\.b" reads as written.
 */
static int
rules_value_parse(const char *v, char **out, char *err, size_t size)
{
	size_t n = strlen(v), i = 0;
	char *q;

	while (n > 0 && strchr(RULES_WS, v[n - 1]) != NULL)
		n--;
	if (v[0] != '"') {
		if (n == 0) {
			snprintf(err, size,
				 "missing VALUE after the operator; "
				 "write \"\" to match an empty or "
				 "missing field");
			return -1;
		}
		*out = strndup(v, n);
		return *out == NULL ? -1 : 0;
	}
	if ((*out = q = malloc(strlen(v) + 1)) == NULL)
		return -1;
	for (v++; *v != '\0' && *v != '"'; v++) {
		if (v[0] == '\\' && (v[1] == '"' || v[1] == '\\'))
			v++;
		q[i++] = *v;
	}
	q[i] = '\0';
	if (*v != '"')
		snprintf(err, size, "missing closing quote in VALUE");
	else if (v[1 + strspn(v + 1, RULES_WS)] != '\0')
		snprintf(err, size, "text after the closing quote of VALUE");
	else
		return 0;
	return -1;
}

/* "PATH OP VALUE" into m->path, m->op and m->value; err says why not. */
static int
rules_matcher_parse(struct rules_matcher *m, char *err, size_t size)
{
	const char *p = m->text + strspn(m->text, RULES_WS), *op;
	char s1[RULES_SHOW_SIZE];
	size_t plen = strspn(p, ALNUM "_."), oplen;

	op = p + plen + strspn(p + plen, RULES_WS);
	oplen = strspn(op, RULES_OPCHARS);
	snprintf(err, size, "out of memory");
	if (plen == 0) {
		snprintf(err, size,
			 "%s is not a matcher: expected \"PATH OP VALUE\", "
			 "e.g. \"event = Agent.Create\"",
			 rules_show(m->text, s1));
	} else if (!rules_path_ok(p, plen) ||
		   (op == p + plen && oplen == 0 && *op != '\0')) {
		snprintf(err, size,
			 "PATH may only be names of letters, digits and \"_\" "
			 "joined by \".\", as in \"payload.platform\"");
	} else if (oplen == 0) {
		snprintf(err, size,
			 "expected an operator =, !=, =~ or !~ after \"%.*s\"",
			 (int)(plen > RULES_SHOW_MAX ? RULES_SHOW_MAX : plen),
			 p);
	} else if (rules_op_parse(op, oplen, &m->op) == -1) {
		snprintf(
		    err, size, "unknown operator \"%.*s\": use =, !=, =~ or !~",
		    (int)(oplen > RULES_SHOW_MAX ? RULES_SHOW_MAX : oplen), op);
	} else if ((m->path = strndup(p, plen)) != NULL) {
		op += oplen;
		return rules_value_parse(op + strspn(op, RULES_WS), &m->value,
					 err, size);
	}
	return -1;
}

/*
 * Anchored at both ends by the compile options rather than by wrapping
 * the pattern in ^(?:...)$, so that PCRE2's error offsets point into the
 * pattern as written.
 */
static int
rules_matcher_compile(struct rules_matcher *m, char *err, size_t size)
{
	char shown[RULES_SHOW_SIZE];
	PCRE2_UCHAR msg[160];
	PCRE2_SIZE off;
	int code;

	if (m->op != RULES_RE && m->op != RULES_NRE)
		return 0;
	m->re = pcre2_compile((PCRE2_SPTR)m->value, PCRE2_ZERO_TERMINATED,
			      PCRE2_UTF | PCRE2_ANCHORED | PCRE2_ENDANCHORED,
			      &code, &off, NULL);
	if (m->re == NULL) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		snprintf(err, size, "bad regex %s: %s at offset %zu",
			 rules_show(m->value, shown), (const char *)msg,
			 (size_t)off);
		return -1;
	}
	m->md = pcre2_match_data_create(1, NULL);
	m->mc = pcre2_match_context_create(NULL);
	if (m->md == NULL || m->mc == NULL) {
		snprintf(err, size, "out of memory");
		return -1;
	}
	pcre2_set_match_limit(m->mc, RULES_MATCH_LIMIT);
	return 0;
}

static void
rules_load_matcher(struct rules_loader *ld, const config_setting_t *s,
		   const char *where, struct rules_matcher **out)
{
	struct rules_matcher *m;
	char err[RULES_WHY_SIZE] = "out of memory";

	if (config_setting_type(s) != CONFIG_TYPE_STRING) {
		rules_error(ld, s,
			    "%s: expected a string \"PATH OP VALUE\", "
			    "got %s",
			    where, config_type_name(config_setting_type(s)));
		return;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL ||
	    (m->text = strdup(config_setting_get_string(s))) == NULL ||
	    rules_matcher_parse(m, err, sizeof(err)) == -1 ||
	    rules_matcher_compile(m, err, sizeof(err)) == -1) {
		rules_error(ld, s, "%s: %s", where, err);
		rules_matcher_free(m);
		return;
	}
	*out = m;
}

static void
rules_load_matchers(struct rules_loader *ld, const config_setting_t *s,
		    const char *where, struct rules_rule *rule)
{
	size_t j, n = (size_t)config_setting_length(s);
	char mwhere[160];

	if (n == 0)
		return;
	if ((rule->matchers = calloc(n, sizeof(*rule->matchers))) == NULL) {
		rules_error(ld, s, "%s.match: out of memory", where);
		return;
	}
	rule->nmatchers = n;
	for (j = 0; j < n; j++) {
		snprintf(mwhere, sizeof(mwhere), "%s.match[%zu]", where, j);
		rules_load_matcher(ld,
				   config_setting_get_elem(s, (unsigned int)j),
				   mwhere, &rule->matchers[j]);
	}
}

/* --- actions ------------------------------------------------------------ */

static void
rules_load_target(struct rules_loader *ld, const config_setting_t *s,
		  const char *where, char **dst)
{
	const struct rules_env *env = ld->env;
	const char *v = config_setting_get_string(s);
	char shown[RULES_SHOW_SIZE], known[RULES_KNOWN_MAX];
	size_t i, n;

	for (i = 0; i < env->ntargets; i++)
		if (strcmp(v, env->targets[i]) == 0) {
			rules_store(ld, s, where, dst, strdup(v));
			return;
		}
	n = (size_t)snprintf(known, sizeof(known), "%s",
			     env->ntargets ? "known targets:"
					   : "no targets are configured");
	for (i = 0; i < env->ntargets && n < sizeof(known); i++)
		n += (size_t)snprintf(known + n, sizeof(known) - n, "%s \"%s\"",
				      i > 0 ? "," : "", env->targets[i]);
	rules_error(ld, s, "%s.target: unknown target %s; %s", where,
		    rules_show(v, shown), known);
}

static void
rules_load_text(struct rules_loader *ld, const config_setting_t *s,
		const char *where, char **dst)
{
	const char *v = config_setting_get_string(s);
	const struct rules_env *env = ld->env;
	const char *key = config_setting_name(s);
	char shown[RULES_SHOW_SIZE];

	if (*v == '\0')
		rules_error(ld, s, "%s.%s: must not be empty", where, key);
	else if (strcmp(key, "template") == 0 && env->template_exists &&
		 !env->template_exists(v, env->arg))
		rules_error(ld, s, "%s.template: unknown template %s", where,
			    rules_show(v, shown));
	else
		rules_store(ld, s, where, dst, strdup(v));
}

/* The keys that need, or only apply to, some kinds of action. */
static void
rules_check_action(struct rules_loader *ld, const config_setting_t *e,
		   const char *where, int kind, const config_setting_t **k)
{
	if ((kind == RULES_NOTE || kind == RULES_CLOSE) &&
	    config_setting_get_member(e, "correlate") == NULL)
		rules_error(ld, e,
			    "%s: missing required key \"correlate\" for action "
			    "\"%s\": it names the ticket to %s, e.g. correlate "
			    "= \"agent:{{payload.id}}\"",
			    where, rules_kinds[kind], rules_kinds[kind]);
	if (k[AK_IF_MISSING] != NULL &&
	    (kind == RULES_CREATE || kind == RULES_NOTIFY))
		rules_error(ld, k[AK_IF_MISSING],
			    "%s.if_missing: only applies to actions \"note\" "
			    "and \"close\", not \"%s\"",
			    where, rules_kinds[kind]);
	if (k[AK_DEDUP] != NULL && kind >= 0 && kind != RULES_CREATE)
		rules_error(ld, k[AK_DEDUP],
			    "%s.dedup: only applies to action \"create\", not "
			    "\"%s\"",
			    where, rules_kinds[kind]);
}

static void
rules_load_action(struct rules_loader *ld, const config_setting_t *e,
		  const char *where, struct rules_action *a)
{
	const config_setting_t *k[AK_N];
	int kind = -1, v;

	rules_members(ld, e, where, rules_action_keys, AK_N, k);
	if (k[AK_TARGET] != NULL)
		rules_load_target(ld, k[AK_TARGET], where, &a->target);
	if (k[AK_ACTION] != NULL &&
	    (kind = rules_choice(ld, k[AK_ACTION], where, "action", rules_kinds,
				 4, "create, note, close or notify")) >= 0)
		a->kind = (enum rules_kind)kind;
	if (k[AK_TEMPLATE] != NULL)
		rules_load_text(ld, k[AK_TEMPLATE], where, &a->template);
	if (k[AK_CORRELATE] != NULL)
		rules_load_text(ld, k[AK_CORRELATE], where, &a->correlate);
	if (k[AK_IF_MISSING] != NULL &&
	    (v = rules_choice(ld, k[AK_IF_MISSING], where, "value",
			      rules_if_missings, 2, "skip or create")) >= 0)
		a->if_missing = (enum rules_if_missing)v;
	if (k[AK_DEDUP] != NULL)
		a->dedup = config_setting_get_bool(k[AK_DEDUP]);
	rules_check_action(ld, e, where, kind, k);
}

static void
rules_load_actions(struct rules_loader *ld, const config_setting_t *s,
		   const char *where, struct rules_rule *rule)
{
	size_t j, n = (size_t)config_setting_length(s);
	const config_setting_t *e;
	char awhere[160];

	if (n == 0) {
		rules_error(ld, s, "%s.actions: must list at least one action",
			    where);
		return;
	}
	if ((rule->actions = calloc(n, sizeof(*rule->actions))) == NULL) {
		rules_error(ld, s, "%s.actions: out of memory", where);
		return;
	}
	rule->nactions = n;
	for (j = 0; j < n; j++) {
		e = config_setting_get_elem(s, (unsigned int)j);
		snprintf(awhere, sizeof(awhere), "%s.actions[%zu]", where, j);
		rule->actions[j].dedup = 1;
		rule->actions[j].line = (int)config_setting_source_line(e);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			rules_error(ld, e,
				    "%s: expected a group { target = ...; "
				    "action = ...; }, got %s",
				    awhere,
				    config_type_name(config_setting_type(e)));
		else
			rules_load_action(ld, e, awhere, &rule->actions[j]);
	}
}

/* --- rules -------------------------------------------------------------- */

static void
rules_load_name(struct rules_loader *ld, const config_setting_t *s,
		const char *where, char **dst)
{
	const char *v = config_setting_get_string(s);
	char shown[RULES_SHOW_SIZE];
	size_t n = strspn(v, ALNUM "_-");

	if (n == 0 || n > RULES_NAME_MAX || v[n] != '\0')
		rules_error(ld, s,
			    "%s.name: %s is not a valid name: use 1 to %d "
			    "letters, digits, \"_\" or \"-\"",
			    where, rules_show(v, shown), RULES_NAME_MAX);
	else
		rules_store(ld, s, where, dst, strdup(v));
}

static void
rules_load_rule(struct rules_loader *ld, const config_setting_t *e,
		const char *where, struct rules_rule *rule)
{
	const config_setting_t *k[RK_N];

	rule->enabled = 1;
	rule->line = (int)config_setting_source_line(e);
	if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
		rules_error(ld, e,
			    "%s: expected a group { name = ...; actions = "
			    "(...); }, got %s",
			    where, config_type_name(config_setting_type(e)));
		return;
	}
	rules_members(ld, e, where, rules_rule_keys, RK_N, k);
	if (k[RK_NAME] != NULL)
		rules_load_name(ld, k[RK_NAME], where, &rule->name);
	if (k[RK_MATCH] != NULL)
		rules_load_matchers(ld, k[RK_MATCH], where, rule);
	if (k[RK_ACTIONS] != NULL)
		rules_load_actions(ld, k[RK_ACTIONS], where, rule);
	if (k[RK_CONTINUE] != NULL)
		rule->cont = config_setting_get_bool(k[RK_CONTINUE]);
	if (k[RK_ENABLED] != NULL)
		rule->enabled = config_setting_get_bool(k[RK_ENABLED]);
}

/* The later of two equal names is the error. */
static void
rules_check_unique(struct rules_loader *ld, const config_setting_t *list,
		   const char *top, const struct rules *r, size_t i)
{
	const config_setting_t *e;
	size_t j;

	for (j = 0; r->rules[i].name != NULL && j < i; j++) {
		if (r->rules[j].name == NULL ||
		    strcmp(r->rules[i].name, r->rules[j].name) != 0)
			continue;
		e = config_setting_get_elem(list, (unsigned int)i);
		rules_error(ld, config_setting_get_member(e, "name"),
			    "%s[%zu].name: \"%s\" is already used by %s[%zu] "
			    "(line %d)",
			    top, i, r->rules[i].name, top, j, r->rules[j].line);
		return;
	}
}

static void
rules_load_list(struct rules_loader *ld, const config_setting_t *list,
		struct rules *r)
{
	const char *top = config_setting_name(list);
	size_t i, n = (size_t)config_setting_length(list);
	char where[96];

	if (top == NULL)
		top = "rules";
	if (config_setting_type(list) != CONFIG_TYPE_LIST &&
	    !(config_setting_type(list) == CONFIG_TYPE_ARRAY && n == 0)) {
		rules_error(ld, list,
			    "%s: expected a list ( { name = ...; ... }, ... ), "
			    "got %s",
			    top, config_type_name(config_setting_type(list)));
		return;
	}
	if (n == 0)
		return;
	if ((r->rules = calloc(n, sizeof(*r->rules))) == NULL) {
		rules_error(ld, list, "%s: out of memory", top);
		return;
	}
	r->nrules = n;
	for (i = 0; i < n; i++) {
		snprintf(where, sizeof(where), "%s[%zu]", top, i);
		rules_load_rule(ld, config_setting_get_elem(list, (unsigned)i),
				where, &r->rules[i]);
		rules_check_unique(ld, list, top, r, i);
	}
}

int
rules_load(const config_setting_t *list, const struct rules_env *env,
	   struct rules **out, struct diag *d)
{
	struct rules_loader ld = {.env = env, .d = d};
	size_t nerrors = d->nerrors;
	struct rules *r;
	int rc = -1;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		diag_error(d, NULL, 0, "rules: out of memory");
		goto out;
	}
	rules_dir(&ld);
	if (list != NULL)
		rules_load_list(&ld, list, r);
	if (d->nerrors == nerrors) {
		if ((r->index = rules_index_build(r)) == NULL) {
			diag_error(d, NULL, 0, "rules: out of memory");
			goto out;
		}
		*out = r;
		r = NULL;
		rc = 0;
	}
out:
	rules_free(r);
	return rc;
}

void
rules_free(struct rules *r)
{
	struct rules_rule *rule;
	size_t i, j;

	if (r == NULL)
		return;
	for (i = 0; i < r->nrules; i++) {
		rule = &r->rules[i];
		for (j = 0; j < rule->nmatchers; j++)
			rules_matcher_free(rule->matchers[j]);
		for (j = 0; j < rule->nactions; j++) {
			free(rule->actions[j].target);
			free(rule->actions[j].template);
			free(rule->actions[j].correlate);
		}
		free(rule->matchers);
		free(rule->actions);
		free(rule->name);
	}
	rules_index_free(r->index);
	free(r->rules);
	free(r);
}

/* --- values ------------------------------------------------------------- */

/* Where path leads in ctx, or NULL.  Object keys compare exactly. */
static const cJSON *
rules_find(const cJSON *ctx, const char *path)
{
	const cJSON *c = ctx;
	const char *seg = path, *dot;
	size_t n;

	for (;;) {
		dot = strchr(seg, '.');
		n = dot != NULL ? (size_t)(dot - seg) : strlen(seg);
		if (!cJSON_IsObject(c))
			return NULL;
		for (c = c->child; c != NULL; c = c->next)
			if (c->string != NULL &&
			    strncmp(c->string, seg, n) == 0 &&
			    c->string[n] == '\0')
				break;
		if (c == NULL || dot == NULL)
			return c;
		seg = dot + 1;
	}
}

/*
 * A number's JSON text: integers (exact in a double, below 2^53) without
 * a fraction, "1650"; others the shortest %g text that reads back as the
 * same double, "0.1", "1e+20".  -0 is "0".
 */
static const char *
rules_number(double v, char num[static RULES_NUM_SIZE])
{
	int prec;

	if (v == 0 || !isfinite(v))
		return "0";
	if (v == trunc(v) && fabs(v) < 9007199254740992.0) {
		snprintf(num, RULES_NUM_SIZE, "%.0f", v);
		return num;
	}
	for (prec = 1; prec <= 17; prec++) {
		snprintf(num, RULES_NUM_SIZE, "%.*g", prec, v);
		if (strtod(num, NULL) == v)
			break;
	}
	return num;
}

/* The text path leads to: a string of ctx in place, or written to num. */
const char *
rules_text(const cJSON *ctx, const char *path, char num[static RULES_NUM_SIZE])
{
	const cJSON *v = rules_find(ctx, path);

	if (cJSON_IsString(v) && v->valuestring != NULL)
		return v->valuestring;
	if (cJSON_IsNumber(v))
		return rules_number(v->valuedouble, num);
	if (cJSON_IsTrue(v))
		return "true";
	if (cJSON_IsFalse(v))
		return "false";
	return ""; /* missing, null, an object or an array */
}

const char *
rules_value(const cJSON *ctx, const char *path, char *buf, size_t size)
{
	char num[RULES_NUM_SIZE];
	const char *v;
	size_t n;

	if (size == 0)
		return "";
	v = rules_text(ctx, path != NULL ? path : "", num);
	n = strlen(v);
	if (n >= size)
		n = size - 1;
	memcpy(buf, v, n);
	buf[n] = '\0';
	return buf;
}

/* --- routing ------------------------------------------------------------ */

/*
 * 1 when m holds for ctx.  Else 0 and, when why is not NULL, the reason.
 * A regex that cannot run (invalid UTF-8 in the value, the match limit
 * reached) holds for neither =~ nor !~: no rule matches on a guess.
 */
static int
rules_matcher_holds(const struct rules_matcher *m, const cJSON *ctx, char *why,
		    size_t size)
{
	char num[RULES_NUM_SIZE], s1[RULES_SHOW_SIZE], s2[RULES_SHOW_SIZE];
	const char *v = rules_text(ctx, m->path, num);
	PCRE2_UCHAR msg[160];
	int rc, hit;

	if (m->op == RULES_EQ || m->op == RULES_NE) {
		hit = (strcmp(v, m->value) == 0) == (m->op == RULES_EQ);
	} else {
		rc = pcre2_match(m->re, (PCRE2_SPTR)v, strlen(v), 0, 0, m->md,
				 m->mc);
		if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
			if (why != NULL) {
				pcre2_get_error_message(rc, msg, sizeof(msg));
				snprintf(why, size,
					 "matcher %s could not run on %s: %s",
					 rules_show(m->text, s1),
					 rules_show(v, s2), (const char *)msg);
			}
			return 0;
		}
		hit = (rc >= 0) == (m->op == RULES_RE);
	}
	if (!hit && why != NULL)
		snprintf(why, size, "matcher %s saw %s",
			 rules_show(m->text, s1), rules_show(v, s2));
	return hit;
}

static int
rules_rule_holds(const struct rules_rule *rule, const cJSON *ctx, char *why,
		 size_t size)
{
	size_t i;

	for (i = 0; i < rule->nmatchers; i++)
		if (!rules_matcher_holds(rule->matchers[i], ctx, why, size))
			return 0;
	return 1;
}

size_t
rules_route(const struct rules *r, const cJSON *ctx, rules_action_fn fn,
	    void *arg)
{
	const struct rules_rule *rule;
	size_t i, j, n = 0;

	if (r == NULL)
		return 0;
	/* only the rules whose equality matchers can hold are tried */
	rules_index_select(r->index, ctx);
	for (i = 0; (i = rules_index_next(r->index, i)) < r->nrules; i++) {
		rule = &r->rules[i];
		if (!rule->enabled || !rules_rule_holds(rule, ctx, NULL, 0))
			continue;
		n++;
		for (j = 0; fn != NULL && j < rule->nactions; j++)
			fn(rule, &rule->actions[j], arg);
		if (!rule->cont)
			break;
	}
	return n;
}

void
rules_explain(const struct rules *r, const cJSON *ctx, rules_explain_fn fn,
	      void *arg)
{
	const struct rules_rule *rule, *stop = NULL;
	char why[RULES_WHY_SIZE], shown[RULES_SHOW_SIZE];
	size_t i;
	int hit;

	for (i = 0; r != NULL && fn != NULL && i < r->nrules; i++) {
		rule = &r->rules[i];
		hit = 0;
		if (!rule->enabled)
			snprintf(why, sizeof(why), "disabled");
		else if (stop != NULL)
			snprintf(why, sizeof(why),
				 "not reached: rule %s matched without "
				 "continue",
				 rules_show(stop->name, shown));
		else if ((hit = rules_rule_holds(rule, ctx, why, sizeof(why))))
			snprintf(why, sizeof(why), "%s",
				 rule->nmatchers > 0
				     ? "every matcher holds"
				     : "no matchers: matches every event");
		if (hit && !rule->cont)
			stop = rule;
		fn(rule, hit, why, arg);
	}
}
