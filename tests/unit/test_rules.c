/*
 * Unit tests for rules.  Every test writes its rules into a fresh
 * mkdtemp() directory, reads the file with libconfig and hands the `rules`
 * list to rules_load(), as the config loader does.  Events are the DefensX
 * fixtures of tests/data/defensx, the envelope itself being the routing
 * context (event, time, payload), sometimes with a "customer" object.
 * Error messages are checked for their exact "FILE:LINE: " prefix and text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libconfig.h>

#include "psabridge/diag.h"
#include "psabridge/rules.h"
#include "fixture.h"

/* One valid action, so that a rule needs only its matchers. */
#define CREATE "actions = ({ target = \"psa\"; action = \"create\"; });"

struct fx {
	struct fixture_dir tmp;
	const char *path; /* the main config file */
	config_t lc;
	struct rules_env env;
	struct diag d;
	struct rules *r;
	cJSON *ctx;
	char log[2048]; /* what rules_route() / rules_explain() called */
};

static const char *const fx_targets[] = {"psa", "teams"};
static int fx_arg; /* what template_exists must be given */

static int
fx_template_exists(const char *name, void *arg)
{
	static const char *const names[] = {"ticket", "agent-uninstalled",
					    "teams-card"};
	size_t i;

	assert_ptr_equal(arg, &fx_arg);
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return 1;
	return 0;
}

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fixture_dir_make(&fx->tmp, "test");
	fx->path = fixture_path(&fx->tmp, "psabridge.cfg");
	config_init(&fx->lc);
	config_set_include_dir(&fx->lc, fx->tmp.path);
	fx->env.targets = fx_targets;
	fx->env.ntargets = 2;
	fx->env.template_exists = fx_template_exists;
	fx->env.arg = &fx_arg;
	fx->env.config_file = fx->path;
	diag_init(&fx->d);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	rules_free(fx->r);
	cJSON_Delete(fx->ctx);
	diag_free(&fx->d);
	config_destroy(&fx->lc);
	fixture_dir_remove(&fx->tmp);
	free(fx);
	return 0;
}

/* Reads text as the config file and loads its `rules`. */
static int
fx_load(struct fx *fx, const char *text)
{
	fixture_write_text(&fx->tmp, "psabridge.cfg", 0600, text);
	if (config_read_file(&fx->lc, fx->path) != CONFIG_TRUE)
		fail_msg("%s:%d: %s", fx->path, config_error_line(&fx->lc),
			 config_error_text(&fx->lc));
	return rules_load(config_lookup(&fx->lc, "rules"), &fx->env, &fx->r,
			  &fx->d);
}

static void
fx_load_ok(struct fx *fx, const char *text)
{
	int rc = fx_load(fx, text);

	if (rc != 0 || fx->d.len != 0)
		diag_print(&fx->d, stderr);
	assert_int_equal(rc, 0);
	assert_int_equal(fx->d.len, 0);
	assert_non_null(fx->r);
}

static void
fx_load_fails(struct fx *fx, const char *text, size_t nerrors)
{
	assert_int_equal(fx_load(fx, text), -1);
	assert_null(fx->r);
	if (fx->d.nerrors != nerrors)
		diag_print(&fx->d, stderr);
	assert_int_equal(fx->d.nerrors, nerrors);
}

/* An entry is exactly "FILE:LINE: " followed by text. */
static int
fx_has_error(const struct fx *fx, const char *file, int line, const char *text)
{
	char want[PATH_MAX + 1024];
	size_t i;

	snprintf(want, sizeof(want), "%s:%d: %s", file, line, text);
	for (i = 0; i < fx->d.len; i++)
		if (fx->d.entries[i].level == DIAG_ERROR &&
		    strcmp(fx->d.entries[i].text, want) == 0)
			return 1;
	fprintf(stderr, "wanted error \"%s\", have:\n", want);
	diag_print(&fx->d, stderr);
	return 0;
}

#define expect_error(fx, line, text)                                           \
	assert_true(fx_has_error(fx, (fx)->path, line, text))

/* A DefensX fixture as the routing context; customer may be NULL. */
static cJSON *
fx_event(struct fx *fx, const char *name, const char *customer)
{
	const char *data = getenv("PSABRIDGE_TEST_DATA");
	char path[PATH_MAX], text[8192];
	cJSON *c;
	size_t n;
	FILE *fp;

	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/defensx/%s", data, name);
	assert_non_null(fp = fopen(path, "r"));
	n = fread(text, 1, sizeof(text) - 1, fp);
	assert_int_equal(fclose(fp), 0);
	text[n] = '\0';
	cJSON_Delete(fx->ctx);
	assert_non_null(fx->ctx = cJSON_Parse(text));
	if (customer != NULL) {
		assert_non_null(c = cJSON_Parse(customer));
		assert_true(cJSON_AddItemToObject(fx->ctx, "customer", c));
	}
	return fx->ctx;
}

static void
fx_record(const struct rules_rule *rule, const struct rules_action *action,
	  void *arg)
{
	static const char *const kinds[] = {"create", "note", "close",
					    "notify"};
	struct fx *fx = arg;
	size_t n = strlen(fx->log);

	snprintf(fx->log + n, sizeof(fx->log) - n, "%s:%s:%s;", rule->name,
		 kinds[action->kind], action->target);
}

/* Routes the current context; returns the number of matched rules. */
static size_t
fx_route(struct fx *fx)
{
	fx->log[0] = '\0';
	return rules_route(fx->r, fx->ctx, fx_record, fx);
}

/* Loads one rule with these matchers and says whether it routes ev. */
static int
fx_holds(struct fx *fx, const char *match, const char *ev, const char *customer)
{
	char text[1024];
	size_t n;

	rules_free(fx->r);
	fx->r = NULL;
	snprintf(text, sizeof(text),
		 "rules = ({ name = \"r\"; match = [ %s ]; "
		 "%s });\n",
		 match, CREATE);
	fx_load_ok(fx, text);
	fx_event(fx, ev, customer);
	n = fx_route(fx);
	assert_true(n <= 1);
	return (int)n;
}

/* --- operators ---------------------------------------------------------- */

static void
test_eq_matches_exact_value_only(void **state)
{
	struct fx *fx = *state;

	assert_true(fx_holds(fx, "\"event = UserRequest.Create\"",
			     "userrequest-create.json", NULL));
	assert_false(fx_holds(fx, "\"event = UserRequest.Create\"",
			      "agent-create.json", NULL));
	assert_false(fx_holds(fx, "\"event = UserRequest\"",
			      "userrequest-create.json", NULL));
	assert_false(fx_holds(fx, "\"event = userrequest.create\"",
			      "userrequest-create.json", NULL));
}

static void
test_ne_holds_when_values_differ(void **state)
{
	struct fx *fx = *state;

	assert_true(fx_holds(fx, "\"payload.platform != macOS\"",
			     "agent-create.json", NULL));
	assert_false(fx_holds(fx, "\"payload.platform != Windows\"",
			      "agent-create.json", NULL));
}

static void
test_regex_operators_match_and_negate(void **state)
{
	struct fx *fx = *state;

	assert_true(fx_holds(fx, "\"payload.platform =~ Windows|macOS\"",
			     "agent-uninstall.json", NULL));
	assert_false(fx_holds(fx, "\"payload.platform =~ Linux|macOS\"",
			      "agent-uninstall.json", NULL));
	assert_true(fx_holds(fx, "\"event =~ Agent\\\\..*\"",
			     "agent-delete.json", NULL));
	assert_false(fx_holds(fx, "\"event =~ Agent\\\\..*\"",
			      "userrequest-create.json", NULL));
	assert_true(fx_holds(fx, "\"payload.platform !~ Linux|macOS\"",
			     "agent-create.json", NULL));
	assert_false(fx_holds(fx, "\"payload.platform !~ Win.*\"",
			      "agent-create.json", NULL));
}

static void
test_operators_need_no_spaces(void **state)
{
	struct fx *fx = *state;

	assert_true(
	    fx_holds(fx, "\"event=Agent.Create\"", "agent-create.json", NULL));
	assert_true(fx_holds(fx, "\"payload.platform!=Linux\"",
			     "agent-create.json", NULL));
	assert_true(fx_holds(fx, "\"payload.version=~1\\\\.8\\\\..*\"",
			     "agent-create.json", NULL));
	assert_true(fx_holds(fx, "\"  payload.platform!~Linux  \"",
			     "agent-create.json", NULL));
}

static void
test_all_matchers_of_a_rule_must_hold(void **state)
{
	struct fx *fx = *state;

	assert_true(fx_holds(fx,
			     "\"event = Agent.Uninstall\", "
			     "\"payload.platform =~ Windows|macOS\"",
			     "agent-uninstall.json", NULL));
	assert_false(fx_holds(fx,
			      "\"event = Agent.Uninstall\", "
			      "\"payload.platform = macOS\"",
			      "agent-uninstall.json", NULL));
}

/* --- values ------------------------------------------------------------- */

static void
test_missing_fields_compare_as_empty(void **state)
{
	struct fx *fx = *state;

	assert_true(fx_holds(fx, "\"payload.nosuch = \\\"\\\"\"",
			     "agent-create.json", NULL));
	assert_false(fx_holds(fx, "\"payload.nosuch != \\\"\\\"\"",
			      "agent-create.json", NULL));
	/* no customer object at all; a path through a string */
	assert_true(fx_holds(fx, "\"customer.name = \\\"\\\"\"",
			     "agent-create.json", NULL));
	assert_true(fx_holds(fx, "\"payload.hostname.x = \\\"\\\"\"",
			     "agent-create.json", NULL));
	assert_true(
	    fx_holds(fx, "\"customer.tier !~ .+\"", "agent-create.json", NULL));
	assert_false(fx_holds(fx, "\"customer.tier = gold\"",
			      "agent-create.json", NULL));
	assert_true(fx_holds(fx, "\"customer.tier = gold\"",
			     "agent-create.json", "{\"tier\": \"gold\"}"));
}

static void
test_numbers_compare_by_json_text(void **state)
{
	struct fx *fx = *state;

	assert_true(fx_holds(fx, "\"payload.id = 1650\"",
			     "userrequest-create.json", NULL));
	assert_false(fx_holds(fx, "\"payload.id = 1650.0\"",
			      "userrequest-create.json", NULL));
	assert_true(fx_holds(fx, "\"payload.id =~ 16[0-9]+\"",
			     "userrequest-create.json", NULL));
	assert_true(fx_holds(fx, "\"time = 1677241081\"",
			     "userrequest-create.json", NULL));
	assert_true(fx_holds(fx, "\"customer.seats = 12\"", "agent-create.json",
			     "{\"seats\": 12.0}"));
	assert_true(fx_holds(fx, "\"customer.ratio = 0.1\"",
			     "agent-create.json", "{\"ratio\": 0.1}"));
}

static void
test_value_prints_numbers_shortest(void **state)
{
	struct fx *fx = *state;
	char buf[64];

	fx_event(fx, "userrequest-create.json",
		 "{\"a\": 0.5, \"b\": 1e20, \"c\": -3, \"d\": -0.0,"
		 " \"e\": 123456789012, \"f\": 1.25e-7, \"g\": 0.1}");
	assert_string_equal(rules_value(fx->ctx, "payload.id", buf, 64),
			    "1650");
	assert_string_equal(rules_value(fx->ctx, "customer.a", buf, 64), "0.5");
	assert_string_equal(rules_value(fx->ctx, "customer.b", buf, 64),
			    "1e+20");
	assert_string_equal(rules_value(fx->ctx, "customer.c", buf, 64), "-3");
	assert_string_equal(rules_value(fx->ctx, "customer.d", buf, 64), "0");
	assert_string_equal(rules_value(fx->ctx, "customer.e", buf, 64),
			    "123456789012");
	assert_string_equal(rules_value(fx->ctx, "customer.f", buf, 64),
			    "1.25e-07");
	assert_string_equal(rules_value(fx->ctx, "customer.g", buf, 64), "0.1");
}

static void
test_booleans_null_objects_and_arrays(void **state)
{
	struct fx *fx = *state;
	const char *cust = "{\"vip\": true, \"trial\": false, \"x\": null,"
			   " \"tags\": [\"a\"], \"site\": {\"n\": 1}}";
	char buf[64];

	assert_true(
	    fx_holds(fx, "\"customer.vip = true\"", "agent-create.json", cust));
	assert_true(fx_holds(fx, "\"customer.trial = false\"",
			     "agent-create.json", cust));
	assert_true(fx_holds(fx, "\"customer.x = \\\"\\\"\"",
			     "agent-create.json", cust));
	assert_false(
	    fx_holds(fx, "\"customer.x = null\"", "agent-create.json", cust));
	assert_string_equal(rules_value(fx->ctx, "customer.tags", buf, 64), "");
	assert_string_equal(rules_value(fx->ctx, "customer.site", buf, 64), "");
	assert_string_equal(rules_value(fx->ctx, "customer.site.n", buf, 64),
			    "1");
	assert_string_equal(rules_value(fx->ctx, "customer", buf, 64), "");
	assert_string_equal(rules_value(NULL, "event", buf, 64), "");
}

static void
test_value_is_cut_to_the_buffer(void **state)
{
	struct fx *fx = *state;
	char buf[8] = "xxxxxxx";

	fx_event(fx, "agent-create.json", NULL);
	assert_string_equal(rules_value(fx->ctx, "payload.product", buf, 8),
			    "Windows");
	assert_string_equal(rules_value(fx->ctx, "event", buf, 1), "");
	assert_string_equal(rules_value(fx->ctx, "event", buf, 0), "");
	assert_string_equal(rules_value(fx->ctx, "", buf, 8), "");
	assert_string_equal(rules_value(fx->ctx, "payload..id", buf, 8), "");
}

/* --- regex anchoring ---------------------------------------------------- */

static void
test_regex_is_anchored_to_the_whole_value(void **state)
{
	struct fx *fx = *state;

	assert_false(fx_holds(fx, "\"payload.platform =~ Win\"",
			      "agent-create.json", NULL));
	assert_false(fx_holds(fx, "\"payload.platform =~ indows\"",
			      "agent-create.json", NULL));
	assert_true(fx_holds(fx, "\"payload.platform =~ Win.*\"",
			     "agent-create.json", NULL));
	/* each alternative is anchored, not just the first and the last */
	assert_true(fx_holds(fx, "\"payload.platform =~ Win|Windows\"",
			     "agent-create.json", NULL));
	assert_true(fx_holds(fx, "\"payload.platform !~ Win\"",
			     "agent-create.json", NULL));
	assert_false(fx_holds(fx, "\"payload.hostname =~ WIN\"",
			      "agent-create.json", NULL));
	assert_true(fx_holds(fx, "\"payload.hostname =~ (?i)win10-\\\\d\"",
			     "agent-create.json", NULL));
}

static void
test_regex_works_on_utf8_characters(void **state)
{
	struct fx *fx = *state;

	/* "." is one character, two bytes in UTF-8 */
	assert_true(fx_holds(fx, "\"customer.name =~ M.ller\"",
			     "agent-create.json",
			     "{\"name\": \"M\\u00fcller\"}"));
}

static void
test_regex_on_invalid_utf8_holds_for_neither(void **state)
{
	struct fx *fx = *state;
	char buf[64];

	fx_load_ok(fx, "rules = ({ name = \"a\"; match = [\"customer.name =~ "
		       ".*\"]; " CREATE " },\n"
		       "         { name = \"b\"; match = [\"customer.name !~ "
		       "x\"]; " CREATE " });\n");
	fx_event(fx, "agent-create.json", "{}");
	assert_non_null(cJSON_AddStringToObject(
	    cJSON_GetObjectItem(fx->ctx, "customer"), "name", "a\xff"));
	assert_int_equal(fx_route(fx), 0);
	assert_string_equal(rules_value(fx->ctx, "customer.name", buf, 64),
			    "a\xff");
}

static void fx_explain(const struct rules_rule *rule, int matched,
		       const char *why, void *arg);

/* Catastrophic backtracking stops at the match limit, and matches nothing. */
static void
test_regex_past_match_limit_holds_for_neither(void **state)
{
	struct fx *fx = *state;
	char name[64];

	fx_load_ok(fx, "rules = ({ name = \"a\"; match = [\"customer.name =~ "
		       "(a+)+b\"]; " CREATE " },\n"
		       "         { name = \"b\"; match = [\"customer.name !~ "
		       "(a+)+b\"]; " CREATE " });\n");
	memset(name, 'a', 40);
	strcpy(name + 40, "bc");
	fx_event(fx, "agent-create.json", "{}");
	assert_non_null(cJSON_AddStringToObject(
	    cJSON_GetObjectItem(fx->ctx, "customer"), "name", name));
	assert_int_equal(fx_route(fx), 0);
	rules_explain(fx->r, fx->ctx, fx_explain, fx);
	assert_non_null(strstr(fx->log, "b no: matcher \"customer.name !~ "
					"(a+)+b\" could not run on \"aaaa"));
	assert_non_null(strstr(fx->log, "abc\": match limit exceeded\n"));
}

/* --- quoted values ------------------------------------------------------ */

static void
test_quoted_values_keep_spaces_and_may_be_empty(void **state)
{
	struct fx *fx = *state;

	/* the matcher reads: payload.reason = "Incorrect Risk Rating" */
	assert_true(
	    fx_holds(fx, "\"payload.reason = \\\"Incorrect Risk Rating\\\"\"",
		     "userrequest-create.json", NULL));
	/* unquoted: the rest of the line, trimmed */
	assert_true(fx_holds(fx, "\"payload.reason = Incorrect Risk Rating  \"",
			     "userrequest-create.json", NULL));
	/* customer.name = "  Acme " */
	assert_true(fx_holds(fx, "\"customer.name = \\\"  Acme \\\"\"",
			     "agent-create.json", "{\"name\": \"  Acme \"}"));
	assert_false(fx_holds(fx, "\"customer.name = Acme\"",
			      "agent-create.json", "{\"name\": \"  Acme \"}"));
	/* customer.name = "" */
	assert_true(fx_holds(fx, "\"customer.name = \\\"\\\"\"",
			     "agent-create.json", "{\"name\": \"\"}"));
	assert_false(fx_holds(fx, "\"customer.name != \\\"\\\"\"",
			      "agent-create.json", "{\"name\": \"\"}"));
}

static void
test_quoted_values_unescape_quote_and_backslash(void **state)
{
	struct fx *fx = *state;

	/* customer.name = "say \"hi\" \\ bye" */
	assert_true(fx_holds(
	    fx,
	    "\"customer.name = \\\"say \\\\\\\"hi\\\\\\\" \\\\\\\\ bye\\\"\"",
	    "agent-create.json", "{\"name\": \"say \\\"hi\\\" \\\\ bye\"}"));
	/* a regex keeps other backslashes: customer.ip =~ "10\.0\..*" */
	assert_true(fx_holds(fx, "\"customer.ip =~ \\\"10\\\\.0\\\\..*\\\"\"",
			     "agent-create.json", "{\"ip\": \"10.0.3.4\"}"));
	assert_false(fx_holds(fx, "\"customer.ip =~ \\\"10\\\\.0\\\\..*\\\"\"",
			      "agent-create.json", "{\"ip\": \"10x0.3.4\"}"));
}

/* --- order, continue, enabled ------------------------------------------- */

#define THREE_RULES(cont, enabled)                                             \
	"rules = (\n"                                                          \
	"  { name = \"uninstall\"; match = [\"event = Agent.Uninstall\"];\n"   \
	"    continue = " cont "; enabled = " enabled ";\n"                    \
	"    actions = ({ target = \"psa\"; action = \"create\"; },\n"         \
	"               { target = \"teams\"; action = \"notify\"; }); },\n"   \
	"  { name = \"agents\"; match = [\"event =~ Agent\\\\..*\"];\n"        \
	"    actions = ({ target = \"psa\"; action = \"create\"; }); },\n"     \
	"  { name = \"rest\";\n"                                               \
	"    actions = ({ target = \"teams\"; action = \"notify\"; }); }\n"    \
	");\n"

static void
test_first_matching_rule_wins(void **state)
{
	struct fx *fx = *state;

	fx_load_ok(fx, THREE_RULES("false", "true"));
	fx_event(fx, "agent-uninstall.json", NULL);
	assert_int_equal(fx_route(fx), 1);
	assert_string_equal(fx->log,
			    "uninstall:create:psa;uninstall:notify:teams;");
	fx_event(fx, "agent-create.json", NULL);
	assert_int_equal(fx_route(fx), 1);
	assert_string_equal(fx->log, "agents:create:psa;");
	/* no match list: the catch-all */
	fx_event(fx, "userrequest-create.json", NULL);
	assert_int_equal(fx_route(fx), 1);
	assert_string_equal(fx->log, "rest:notify:teams;");
}

static void
test_continue_lets_later_rules_match(void **state)
{
	struct fx *fx = *state;

	fx_load_ok(fx, THREE_RULES("true", "true"));
	fx_event(fx, "agent-uninstall.json", NULL);
	assert_int_equal(fx_route(fx), 2);
	assert_string_equal(fx->log, "uninstall:create:psa;uninstall:notify:"
				     "teams;agents:create:psa;");
	assert_int_equal(rules_route(fx->r, fx->ctx, NULL, NULL), 2);
}

static void
test_disabled_rule_is_skipped(void **state)
{
	struct fx *fx = *state;

	fx_load_ok(fx, THREE_RULES("false", "false"));
	assert_false(fx->r->rules[0].enabled);
	fx_event(fx, "agent-uninstall.json", NULL);
	assert_int_equal(fx_route(fx), 1);
	assert_string_equal(fx->log, "agents:create:psa;");
}

static void
test_empty_match_list_matches_every_event(void **state)
{
	struct fx *fx = *state;

	fx_load_ok(fx, "rules = ({ name = \"all\"; match = []; " CREATE " });");
	assert_int_equal(fx->r->rules[0].nmatchers, 0);
	fx_event(fx, "agent-delete.json", NULL);
	assert_int_equal(fx_route(fx), 1);
	fx_event(fx, "userrequest-create.json", "{}");
	assert_int_equal(fx_route(fx), 1);
}

static void
test_no_rules_route_nothing(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(rules_load(NULL, &fx->env, &fx->r, &fx->d), 0);
	assert_int_equal(fx->r->nrules, 0);
	fx_event(fx, "agent-create.json", NULL);
	assert_int_equal(fx_route(fx), 0);
	rules_free(fx->r);
	fx->r = NULL;
	fx_load_ok(fx, "rules = ();\n");
	assert_int_equal(fx_route(fx), 0);
	assert_string_equal(fx->log, "");
	assert_int_equal(rules_route(NULL, fx->ctx, fx_record, fx), 0);
	rules_free(NULL);
}

/* --- what a loaded rule holds ------------------------------------------- */

static void
test_defensx_rules_load_every_field(void **state)
{
	struct fx *fx = *state;
	const struct rules_action *a;

	fx_load_ok(
	    fx,
	    "rules = (\n"
	    "  { name = \"user-request\";\n"
	    "    match = [\"event = UserRequest.Create\"];\n"
	    "    actions = ({ target = \"psa\"; action = \"create\";\n"
	    "                 template = \"ticket\"; dedup = false; }); },\n"
	    "  { name = \"agent-reinstalled\";\n"
	    "    match = [\"event = Agent.Reinstall\"];\n"
	    "    actions = (\n"
	    "      { target = \"psa\"; action = \"close\";\n"
	    "        correlate = \"agent:{{payload.id}}\"; },\n"
	    "      { target = \"psa\"; action = \"note\"; if_missing = "
	    "\"create\";\n"
	    "        correlate = \"agent:{{payload.id}}\"; }); }\n"
	    ");\n");
	assert_int_equal(fx->r->nrules, 2);
	assert_string_equal(fx->r->rules[0].name, "user-request");
	assert_int_equal(fx->r->rules[0].line, 2);
	assert_true(fx->r->rules[0].enabled);
	assert_false(fx->r->rules[0].cont);
	a = &fx->r->rules[0].actions[0];
	assert_int_equal(a->kind, RULES_CREATE);
	assert_string_equal(a->template, "ticket");
	assert_null(a->correlate);
	assert_false(a->dedup);
	assert_int_equal(a->line, 4);
	assert_int_equal(fx->r->rules[1].nactions, 2);
	a = &fx->r->rules[1].actions[0];
	assert_int_equal(a->kind, RULES_CLOSE);
	assert_null(a->template);
	assert_string_equal(a->correlate, "agent:{{payload.id}}");
	assert_int_equal(a->if_missing, RULES_IF_MISSING_SKIP);
	assert_true(a->dedup);
	assert_int_equal(a->line, 9);
	a = &fx->r->rules[1].actions[1];
	assert_int_equal(a->kind, RULES_NOTE);
	assert_int_equal(a->if_missing, RULES_IF_MISSING_CREATE);
	assert_int_equal(a->line, 11);
}

static void
test_template_check_is_optional(void **state)
{
	struct fx *fx = *state;

	fx->env.template_exists = NULL;
	fx_load_ok(fx,
		   "rules = ({ name = \"r\"; actions = ({ target = \"psa\";"
		   " action = \"create\"; template = \"anything\"; }); });");
	assert_string_equal(fx->r->rules[0].actions[0].template, "anything");
}

/* --- errors ------------------------------------------------------------- */

static void
test_unknown_operator_is_error(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "rules = (\n"
		      "  { name = \"a\"; " CREATE " },\n"
		      "  { name = \"b\"; " CREATE "\n"
		      "    match = [ \"event = Agent.Create\",\n"
		      "              \"event == Agent.Create\" ]; }\n"
		      ");\n",
		      1);
	expect_error(fx, 5,
		     "rules[1].match[1]: unknown operator \"==\": use =, !=, "
		     "=~ or !~");
}

static void
test_malformed_matchers_are_errors(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "rules = ({ name = \"a\"; " CREATE "\n"
		      "  match = [ \"event Agent.Create\",\n"
		      "            \"payload.host-name = x\",\n"
		      "            \"event =  \",\n"
		      "            \"= Agent.Create\",\n"
		      "            \"event = \\\"Agent\",\n"
		      "            \"event = \\\"a\\\" b\",\n"
		      "            \"payload..id = 1\",\n"
		      "            \"payload.id > 5\" ]; });\n",
		      8);
	expect_error(fx, 2,
		     "rules[0].match[0]: expected an operator =, !=, =~ or !~ "
		     "after \"event\"");
	expect_error(fx, 3,
		     "rules[0].match[1]: PATH may only be names of letters, "
		     "digits and \"_\" joined by \".\", as in "
		     "\"payload.platform\"");
	expect_error(fx, 4,
		     "rules[0].match[2]: missing VALUE after the operator; "
		     "write \"\" to match an empty or missing field");
	expect_error(fx, 5,
		     "rules[0].match[3]: \"= Agent.Create\" is not a matcher: "
		     "expected \"PATH OP VALUE\", e.g. \"event = "
		     "Agent.Create\"");
	expect_error(fx, 6,
		     "rules[0].match[4]: missing closing quote in VALUE");
	expect_error(fx, 7,
		     "rules[0].match[5]: text after the closing quote of "
		     "VALUE");
	expect_error(fx, 8,
		     "rules[0].match[6]: PATH may only be names of letters, "
		     "digits and \"_\" joined by \".\", as in "
		     "\"payload.platform\"");
	expect_error(fx, 9,
		     "rules[0].match[7]: unknown operator \">\": use =, !=, "
		     "=~ or !~");
}

static void
test_bad_regex_is_error_with_pcre2_message(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "rules = (\n"
		      "  { name = \"a\";\n"
		      "    match = [\"payload.platform =~ Win(\",\n"
		      "             \"payload.platform !~ *x\"];\n"
		      "    " CREATE " });\n",
		      2);
	expect_error(fx, 3,
		     "rules[0].match[0]: bad regex \"Win(\": missing closing "
		     "parenthesis at offset 4");
	expect_error(fx, 4,
		     "rules[0].match[1]: bad regex \"*x\": quantifier does not "
		     "follow a repeatable item at offset 0");
}

static void
test_unknown_target_template_and_action_are_errors(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "rules = ({ name = \"a\";\n"
		      "  actions = (\n"
		      "    { target = \"psa\"; action = \"create\"; },\n"
		      "    { target = \"pas\"; action = \"create\"; },\n"
		      "    { target = \"psa\"; action = \"create\"; template = "
		      "\"tiket\"; "
		      "},\n"
		      "    { target = \"psa\"; action = \"open\"; }\n"
		      "  ); });\n",
		      3);
	expect_error(fx, 4,
		     "rules[0].actions[1].target: unknown target \"pas\"; "
		     "known targets: \"psa\", \"teams\"");
	expect_error(
	    fx, 5, "rules[0].actions[2].template: unknown template \"tiket\"");
	expect_error(fx, 6,
		     "rules[0].actions[3].action: unknown action \"open\": use "
		     "create, note, close or notify");
}

static void
test_unknown_target_without_targets_says_so(void **state)
{
	struct fx *fx = *state;

	fx->env.ntargets = 0;
	fx_load_fails(fx, "rules = ({ name = \"a\";\n" CREATE " });\n", 1);
	expect_error(fx, 2,
		     "rules[0].actions[0].target: unknown target \"psa\"; no "
		     "targets are configured");
}

static void
test_note_and_close_need_correlate(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "rules = ({ name = \"a\";\n"
		      "  actions = (\n"
		      "    { target = \"psa\"; action = \"close\"; },\n"
		      "    { target = \"psa\"; action = \"note\";\n"
		      "      if_missing = \"create\"; },\n"
		      "    { target = \"psa\"; action = \"create\"; },\n"
		      "    { target = \"teams\"; action = \"notify\"; }\n"
		      "  ); });\n",
		      2);
	expect_error(fx, 3,
		     "rules[0].actions[0]: missing required key \"correlate\" "
		     "for action \"close\": it names the ticket to close, e.g. "
		     "correlate = \"agent:{{payload.id}}\"");
	expect_error(fx, 4,
		     "rules[0].actions[1]: missing required key \"correlate\" "
		     "for action \"note\": it names the ticket to note, e.g. "
		     "correlate = \"agent:{{payload.id}}\"");
}

static void
test_keys_that_do_not_apply_to_the_action_are_errors(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(
	    fx,
	    "rules = ({ name = \"a\";\n"
	    "  actions = (\n"
	    "    { target = \"psa\"; action = \"create\";\n"
	    "      if_missing = \"create\"; },\n"
	    "    { target = \"psa\"; action = \"close\"; correlate = \"k\";\n"
	    "      dedup = false; },\n"
	    "    { target = \"psa\"; action = \"note\"; correlate = \"k\";\n"
	    "      if_missing = \"fail\"; },\n"
	    "    { target = \"psa\"; action = \"note\"; correlate = \"\"; }\n"
	    "  ); });\n",
	    4);
	expect_error(fx, 4,
		     "rules[0].actions[0].if_missing: only applies to actions "
		     "\"note\" and \"close\", not \"create\"");
	expect_error(fx, 6,
		     "rules[0].actions[1].dedup: only applies to action "
		     "\"create\", not \"close\"");
	expect_error(fx, 8,
		     "rules[0].actions[2].if_missing: unknown value \"fail\": "
		     "use skip or create");
	expect_error(fx, 9, "rules[0].actions[3].correlate: must not be empty");
}

static void
test_duplicate_rule_name_is_error(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "rules = (\n"
		      "  { name = \"agents\"; " CREATE " },\n"
		      "  { name = \"other\"; " CREATE " },\n"
		      "  {\n"
		      "    name = \"agents\"; " CREATE " }\n"
		      ");\n",
		      1);
	expect_error(fx, 5,
		     "rules[2].name: \"agents\" is already used by rules[0] "
		     "(line 2)");
}

static void
test_invalid_rule_name_is_error(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "rules = ({ name = \"agent uninstalled\"; " CREATE " },\n"
		      "         { name = \"\"; " CREATE " });\n",
		      2);
	expect_error(
	    fx, 1,
	    "rules[0].name: \"agent uninstalled\" is not a valid name: "
	    "use 1 to 64 letters, digits, \"_\" or \"-\"");
	expect_error(fx, 2,
		     "rules[1].name: \"\" is not a valid name: use 1 to 64 "
		     "letters, digits, \"_\" or \"-\"");
}

static void
test_unknown_keys_are_errors(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "rules = ({ name = \"a\";\n"
		      "  matches = [\"event = X\"];\n"
		      "  actions = ({ target = \"psa\"; action = \"create\";\n"
		      "               priority = \"high\"; }); });\n",
		      2);
	expect_error(fx, 2,
		     "unknown key \"matches\" in rules[0]; known keys: name, "
		     "match, actions, continue, enabled");
	expect_error(fx, 4,
		     "unknown key \"priority\" in rules[0].actions[0]; known "
		     "keys: target, action, template, correlate, if_missing, "
		     "dedup");
}

/*
 * libconfig gives a string in a list or array the line of the token after
 * it (adjacent strings are joined, so it looks ahead): the last string
 * ends on the line of its closing bracket here, as in the users' files.
 */
static void
test_wrong_types_name_the_expected_type(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(
	    fx,
	    "rules = (\n"
	    "  { name = \"a\"; enabled = \"no\"; continue = 1;\n"
	    "    match = \"event = X\";\n"
	    "    actions = ({ target = \"psa\"; action = \"create\";\n"
	    "                 dedup = \"yes\"; template = 3; }); },\n"
	    "  { name = \"b\"; actions = { target = \"psa\"; };\n"
	    "    match = [ 1 ]; },\n"
	    "  { name = \"c\"; actions = ( \"psa\" ); },\n"
	    "  \"d\" );\n",
	    9);
	expect_error(
	    fx, 2,
	    "rules[0].enabled: expected a boolean (true or false), got "
	    "a string");
	expect_error(fx, 2,
		     "rules[0].continue: expected a boolean (true or false), "
		     "got an integer");
	expect_error(fx, 3,
		     "rules[0].match: expected an array of strings [ \"PATH OP "
		     "VALUE\", ... ], got a string");
	expect_error(fx, 5,
		     "rules[0].actions[0].dedup: expected a boolean (true or "
		     "false), got a string");
	expect_error(fx, 5,
		     "rules[0].actions[0].template: expected a string (a "
		     "template's name), got an integer");
	expect_error(fx, 6,
		     "rules[1].actions: expected a list ( { target = ...; "
		     "action = ...; }, ... ), got a group");
	expect_error(fx, 7,
		     "rules[1].match[0]: expected a string \"PATH OP VALUE\", "
		     "got an integer");
	expect_error(fx, 8,
		     "rules[2].actions[0]: expected a group { target = ...; "
		     "action = ...; }, got a string");
	expect_error(fx, 9,
		     "rules[3]: expected a group { name = ...; actions = "
		     "(...); }, got a string");
}

static void
test_rules_must_be_a_list(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx, "\nrules = { name = \"a\"; };\n", 1);
	expect_error(fx, 2,
		     "rules: expected a list ( { name = ...; ... }, ... ), got "
		     "a group");
}

static void
test_missing_required_keys_are_errors(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "rules = (\n"
		      "  { match = [\"event = X\"]; },\n"
		      "  { name = \"b\"; actions = (); },\n"
		      "  { name = \"c\"; actions = ({ }); }\n"
		      ");\n",
		      5);
	expect_error(fx, 2, "missing required key \"name\" in rules[0]");
	expect_error(fx, 2, "missing required key \"actions\" in rules[0]");
	expect_error(fx, 3, "rules[1].actions: must list at least one action");
	expect_error(fx, 4,
		     "missing required key \"target\" in rules[2].actions[0]");
	expect_error(fx, 4,
		     "missing required key \"action\" in rules[2].actions[0]");
}

static void
test_every_error_is_reported_at_once(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(
	    fx,
	    "rules = (\n"
	    "  { name = \"a\"; match = [\"event == X\"]; " CREATE " },\n"
	    "  { name = \"a\"; match = [\"event =~ (\"]; " CREATE " },\n"
	    "  { name = \"c\"; actions = ({ target = \"nope\";\n"
	    "      action = \"close\"; }); }\n"
	    ");\n",
	    5);
	expect_error(fx, 2,
		     "rules[0].match[0]: unknown operator \"==\": use =, !=, "
		     "=~ or !~");
	expect_error(fx, 3,
		     "rules[1].match[0]: bad regex \"(\": missing closing "
		     "parenthesis at offset 1");
	expect_error(fx, 3,
		     "rules[1].name: \"a\" is already used by rules[0] (line "
		     "2)");
	expect_error(fx, 4,
		     "rules[2].actions[0].target: unknown target \"nope\"; "
		     "known targets: \"psa\", \"teams\"");
	expect_error(fx, 4,
		     "rules[2].actions[0]: missing required key \"correlate\" "
		     "for action \"close\": it names the ticket to close, e.g. "
		     "correlate = \"agent:{{payload.id}}\"");
}

static void
test_errors_in_an_included_file_name_that_file(void **state)
{
	struct fx *fx = *state;
	const char *inc =
	    fixture_write_text(&fx->tmp, "rules.cfg", 0600,
			       "rules = (\n"
			       "  { name = \"a\"; match = [\"event = X\"];\n"
			       "    actions = ({ target = \"pas\"; action = "
			       "\"create\"; }); }\n"
			       ");\n");
	fx_load_fails(fx, "# the rules live apart\n@include \"rules.cfg\"\n",
		      1);
	assert_true(fx_has_error(fx, inc, 3,
				 "rules[0].actions[0].target: unknown target "
				 "\"pas\"; known targets: \"psa\", \"teams\""));
}

static void
test_failed_load_keeps_earlier_diag_entries(void **state)
{
	struct fx *fx = *state;

	diag_error(&fx->d, "other.cfg", 1, "earlier");
	fx_load_fails(fx, "rules = ({ name = \"a\"; bogus = 1; " CREATE " });",
		      2);
	assert_string_equal(fx->d.entries[0].text, "other.cfg:1: earlier");
}

/* --- explain ------------------------------------------------------------ */

static void
fx_explain(const struct rules_rule *rule, int matched, const char *why,
	   void *arg)
{
	struct fx *fx = arg;
	size_t n = strlen(fx->log);

	assert_non_null(why);
	snprintf(fx->log + n, sizeof(fx->log) - n, "%s %s: %s\n", rule->name,
		 matched ? "matched" : "no", why);
}

static void
test_explain_names_failing_matcher_and_value_seen(void **state)
{
	struct fx *fx = *state;

	fx_load_ok(
	    fx,
	    "rules = (\n"
	    "  { name = \"uninstall\"; match = [\"event = Agent.Uninstall\",\n"
	    "      \"payload.platform =~ Linux|macOS\"]; " CREATE " },\n"
	    "  { name = \"vip\"; match = [\"customer.tier = \\\"gold\\\"\"];\n"
	    "    " CREATE " },\n"
	    "  { name = \"off\"; enabled = false; " CREATE " },\n"
	    "  { name = \"agents\"; match = [\"event =~ "
	    "Agent\\\\..*\"]; " CREATE " },\n"
	    "  { name = \"rest\"; " CREATE " }\n"
	    ");\n");
	fx_event(fx, "agent-uninstall.json", NULL);
	fx->log[0] = '\0';
	rules_explain(fx->r, fx->ctx, fx_explain, fx);
	assert_string_equal(
	    fx->log,
	    "uninstall no: matcher \"payload.platform =~ Linux|macOS\" "
	    "saw \"Windows\"\n"
	    "vip no: matcher \"customer.tier = \\\"gold\\\"\" saw \"\"\n"
	    "off no: disabled\n"
	    "agents matched: every matcher holds\n"
	    "rest no: not reached: rule \"agents\" matched without "
	    "continue\n");
}

static void
test_explain_escapes_and_cuts_event_values(void **state)
{
	struct fx *fx = *state;
	char want[512];

	fx_load_ok(fx, "rules = ({ name = \"n\"; match = [\"customer.name = "
		       "x\"]; " CREATE " },\n"
		       "{ name = \"all\"; continue = true; " CREATE " });\n");
	fx_event(fx, "agent-create.json",
		 "{\"name\": \"a\\\"b\\nc"
		 "0123456789012345678901234567890123456789"
		 "0123456789012345678901234567890123456789\"}");
	fx->log[0] = '\0';
	rules_explain(fx->r, fx->ctx, fx_explain, fx);
	snprintf(want, sizeof(want),
		 "n no: matcher \"customer.name = x\" saw \"a\\\"b\\x0ac%s"
		 "01234\"...\n"
		 "all matched: no matchers: matches every event\n",
		 "012345678901234567890123456789012345678901234567890123456789"
		 "0123456789");
	assert_string_equal(fx->log, want);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_eq_matches_exact_value_only),
	    T(test_ne_holds_when_values_differ),
	    T(test_regex_operators_match_and_negate),
	    T(test_operators_need_no_spaces),
	    T(test_all_matchers_of_a_rule_must_hold),
	    T(test_missing_fields_compare_as_empty),
	    T(test_numbers_compare_by_json_text),
	    T(test_value_prints_numbers_shortest),
	    T(test_booleans_null_objects_and_arrays),
	    T(test_value_is_cut_to_the_buffer),
	    T(test_regex_is_anchored_to_the_whole_value),
	    T(test_regex_works_on_utf8_characters),
	    T(test_regex_on_invalid_utf8_holds_for_neither),
	    T(test_regex_past_match_limit_holds_for_neither),
	    T(test_quoted_values_keep_spaces_and_may_be_empty),
	    T(test_quoted_values_unescape_quote_and_backslash),
	    T(test_first_matching_rule_wins),
	    T(test_continue_lets_later_rules_match),
	    T(test_disabled_rule_is_skipped),
	    T(test_empty_match_list_matches_every_event),
	    T(test_no_rules_route_nothing),
	    T(test_defensx_rules_load_every_field),
	    T(test_template_check_is_optional),
	    T(test_unknown_operator_is_error),
	    T(test_malformed_matchers_are_errors),
	    T(test_bad_regex_is_error_with_pcre2_message),
	    T(test_unknown_target_template_and_action_are_errors),
	    T(test_unknown_target_without_targets_says_so),
	    T(test_note_and_close_need_correlate),
	    T(test_keys_that_do_not_apply_to_the_action_are_errors),
	    T(test_duplicate_rule_name_is_error),
	    T(test_invalid_rule_name_is_error),
	    T(test_unknown_keys_are_errors),
	    T(test_wrong_types_name_the_expected_type),
	    T(test_rules_must_be_a_list),
	    T(test_missing_required_keys_are_errors),
	    T(test_every_error_is_reported_at_once),
	    T(test_errors_in_an_included_file_name_that_file),
	    T(test_failed_load_keeps_earlier_diag_entries),
	    T(test_explain_names_failing_matcher_and_value_seen),
	    T(test_explain_escapes_and_cuts_event_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
