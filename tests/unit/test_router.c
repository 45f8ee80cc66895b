/*
 * Unit tests for the router: the routing context (source, time_iso,
 * received_at, customer), the jobs an event becomes under each unmapped
 * policy, their order and correlation keys, and the router's ownership and
 * reference counting.  Rules are written to a psabridge.cfg in a fresh
 * mkdtemp() directory, read with libconfig and compiled by rules_load();
 * the customer table is a customers.csv beside it.  Events are the DefensX
 * fixtures of tests/data/defensx, parsed here and handed over as the
 * router takes them (a leak or a double free fails under the sanitizers).
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

#include "psabridge/customers.h"
#include "psabridge/diag.h"
#include "psabridge/router.h"
#include "fixture.h"
#include "psabridge/rules.h"
#include "psabridge/templates.h"

#define DEFENSX_ID "c062a202-e090-4e57-ba88-d74dfd2e3455"
#define AGENT_ID   "fdceb72a-c274-4844-8b74-a0c74a8018e5"
#define HEADER	   "customer_id,name,connectwise_company,autotask_company_id\n"
#define CONTOSO	   DEFENSX_ID ",Contoso,contoso,42\n"
#define STAR	   "*,Default Co,default,1\n"

/* A rule that matches the uninstall fixture, with one create action. */
#define UNINSTALL(correlate)                                                   \
	"rules = ({ name = \"uninstalled\";\n"                                 \
	"  match = [ \"event = Agent.Uninstall\" ];\n"                         \
	"  actions = ({ target = \"psa\"; action = \"create\";\n"              \
	"    template = \"agent\"; correlate = \"" correlate "\"; }); });\n"

/* 2023-02-25T11:24:50.007Z */
#define RECEIVED_MS INT64_C(1677324290007)

static const char *const fx_targets[] = {"psa", "teams"};

struct fx {
	struct fixture_dir tmp;
	const char *cfg, *csv;
	config_t lc;
	struct rules_env env;
	struct diag d;
	struct rules *rules;
	struct customers *customers;
	struct router *r;
	char *body;
	struct store_event ev;
	struct router_result res;
	cJSON *ctx;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fixture_dir_make(&fx->tmp, "router");
	fx->cfg = fixture_path(&fx->tmp, "psabridge.cfg");
	fx->csv = fixture_path(&fx->tmp, "customers.csv");
	config_init(&fx->lc);
	fx->env.targets = fx_targets;
	fx->env.ntargets = 2;
	fx->env.config_file = fx->cfg;
	diag_init(&fx->d);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	router_result_clear(&fx->res);
	router_unref(fx->r);
	rules_free(fx->rules);
	customers_free(fx->customers);
	cJSON_Delete(fx->ctx);
	free(fx->body);
	diag_free(&fx->d);
	config_destroy(&fx->lc);
	fixture_dir_remove(&fx->tmp);
	free(fx);
	return 0;
}

/* Compiles the rules of cfg_text into fx->rules. */
static void
fx_rules(struct fx *fx, const char *cfg_text)
{
	fixture_write_text(&fx->tmp, "psabridge.cfg", 0600, cfg_text);
	if (config_read_file(&fx->lc, fx->cfg) != CONFIG_TRUE)
		fail_msg("%s:%d: %s", fx->cfg, config_error_line(&fx->lc),
			 config_error_text(&fx->lc));
	if (rules_load(config_lookup(&fx->lc, "rules"), &fx->env, &fx->rules,
		       &fx->d) != 0) {
		diag_print(&fx->d, stderr);
		fail();
	}
}

/* Loads csv_rows (after the header) as the customer table. */
static void
fx_customers(struct fx *fx, enum customers_unmapped policy,
	     const char *csv_rows)
{
	char text[4096];

	snprintf(text, sizeof(text), "%s%s", HEADER, csv_rows);
	fixture_write_text(&fx->tmp, "customers.csv", 0600, text);
	if (customers_load_csv(fx->csv, policy, &fx->customers, &fx->d) != 0) {
		diag_print(&fx->d, stderr);
		fail();
	}
}

/* Hands rules and customers to a new router (which takes them). */
static void
fx_router(struct fx *fx)
{
	fx->r = router_new(fx->rules, fx->customers, NULL, fx->cfg, &fx->d);
	fx->rules = NULL;
	fx->customers = NULL;
	if (fx->r == NULL)
		diag_print(&fx->d, stderr);
	assert_non_null(fx->r);
	assert_int_equal(fx->d.len, 0);
}

static char *
fx_fixture(const char *name, size_t *len)
{
	const char *data = getenv("PSABRIDGE_TEST_DATA");
	char path[PATH_MAX], *buf;
	FILE *fp;
	long n;

	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/defensx/%s", data, name);
	assert_non_null(fp = fopen(path, "rb"));
	assert_int_equal(fseek(fp, 0, SEEK_END), 0);
	assert_true((n = ftell(fp)) > 0);
	rewind(fp);
	assert_non_null(buf = malloc((size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, fp), (size_t)n);
	assert_int_equal(fclose(fp), 0);
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

/* Points fx->ev at a body of our own (replacing any earlier one). */
static void
fx_body(struct fx *fx, const char *text)
{
	free(fx->body);
	assert_non_null(fx->body = strdup(text));
	memset(&fx->ev, 0, sizeof(fx->ev));
	fx->ev.source = "defensx";
	fx->ev.received_ms = RECEIVED_MS;
	fx->ev.body = fx->body;
	fx->ev.body_len = strlen(text);
}

static void
fx_event(struct fx *fx, const char *fixture)
{
	size_t len;
	char *text = fx_fixture(fixture, &len);

	fx_body(fx, text);
	free(text);
}

/* A fixture with payload.customer_id changed to id. */
static void
fx_event_as(struct fx *fx, const char *fixture, const char *id)
{
	cJSON *j, *p;
	size_t len;
	char *text = fx_fixture(fixture, &len);

	assert_non_null(j = cJSON_Parse(text));
	free(text);
	assert_non_null(p = cJSON_GetObjectItemCaseSensitive(j, "payload"));
	cJSON_DeleteItemFromObjectCaseSensitive(p, "customer_id");
	assert_non_null(cJSON_AddStringToObject(p, "customer_id", id));
	assert_non_null(text = cJSON_PrintUnformatted(j));
	cJSON_Delete(j);
	fx_body(fx, text);
	free(text);
}

/* The uninstall fixture for customer id. */
static void
fx_event_of(struct fx *fx, const char *id)
{
	fx_event_as(fx, "agent-uninstall.json", id);
}

/* fx->ev's body parsed, for the router to take. */
static cJSON *
fx_tree(const struct fx *fx)
{
	cJSON *j = cJSON_ParseWithLength(fx->ev.body, fx->ev.body_len);

	assert_non_null(j);
	return j;
}

/* Routes fx->ev on r, handing over its parsed body; the result. */
static int
fx_route(struct fx *fx, struct router *r)
{
	router_result_clear(&fx->res);
	return router_route(r, &fx->ev, fx_tree(fx), &fx->res);
}

static void
fx_route_ok(struct fx *fx)
{
	assert_int_equal(fx_route(fx, fx->r), 0);
	assert_non_null(fx->ev.state);
}

static void
fx_context(struct fx *fx, int *mapped)
{
	cJSON_Delete(fx->ctx);
	fx->ctx = router_context(fx->r, fx_tree(fx), fx->ev.source,
				 fx->ev.received_ms, mapped);
	assert_non_null(fx->ctx);
}

/* The context's string at a dotted path, or NULL. */
static const char *
fx_ctx_string(const struct fx *fx, const char *path)
{
	char buf[256];
	const cJSON *j = fx->ctx;
	const char *p = path, *dot;

	while (j != NULL && (dot = strchr(p, '.')) != NULL) {
		snprintf(buf, sizeof(buf), "%.*s", (int)(dot - p), p);
		j = cJSON_GetObjectItemCaseSensitive(j, buf);
		p = dot + 1;
	}
	j = cJSON_GetObjectItemCaseSensitive(j, p);
	return cJSON_IsString(j) ? j->valuestring : NULL;
}

static void
test_context_adds_source_times_and_the_customer_row(void **state)
{
	struct fx *fx = *state;
	int mapped = -1;

	fx_rules(fx, UNINSTALL("x"));
	fx_customers(fx, CUSTOMERS_HOLD, CONTOSO);
	fx_router(fx);
	fx_event(fx, "agent-uninstall.json");
	fx_context(fx, &mapped);
	assert_int_equal(mapped, 1);
	/* the callback object itself is kept */
	assert_string_equal(fx_ctx_string(fx, "event"), "Agent.Uninstall");
	assert_int_equal(
	    cJSON_GetObjectItemCaseSensitive(fx->ctx, "time")->valuedouble,
	    1677324285);
	assert_string_equal(fx_ctx_string(fx, "payload.hostname"), "WIN10-4");
	assert_string_equal(fx_ctx_string(fx, "source"), "defensx");
	assert_string_equal(fx_ctx_string(fx, "time_iso"),
			    "2023-02-25T11:24:45Z");
	assert_string_equal(fx_ctx_string(fx, "received_at"),
			    "2023-02-25T11:24:50.007Z");
	assert_string_equal(fx_ctx_string(fx, "customer.name"), "Contoso");
	assert_string_equal(fx_ctx_string(fx, "customer.autotask_company_id"),
			    "42");
}

static void
test_context_times_are_utc_at_any_date(void **state)
{
	struct fx *fx = *state;
	int mapped;

	fx_rules(fx, UNINSTALL("x"));
	fx_router(fx);
	/* past 2038, and received on a whole second */
	fx_body(fx, "{\"event\":\"E\",\"time\":4102444799,\"payload\":{}}");
	fx->ev.received_ms = INT64_C(4102444800000);
	fx_context(fx, &mapped);
	assert_string_equal(fx_ctx_string(fx, "time_iso"),
			    "2099-12-31T23:59:59Z");
	assert_string_equal(fx_ctx_string(fx, "received_at"),
			    "2100-01-01T00:00:00.000Z");
	fx_body(fx, "{\"event\":\"E\",\"time\":0,\"payload\":{}}");
	fx->ev.received_ms = 999;
	fx_context(fx, &mapped);
	assert_string_equal(fx_ctx_string(fx, "time_iso"),
			    "1970-01-01T00:00:00Z");
	assert_string_equal(fx_ctx_string(fx, "received_at"),
			    "1970-01-01T00:00:00.999Z");
}

static void
test_context_of_an_unmapped_customer_has_an_empty_customer(void **state)
{
	struct fx *fx = *state;
	const cJSON *c;
	int mapped = -1;

	fx_rules(fx, UNINSTALL("x"));
	fx_customers(fx, CUSTOMERS_HOLD, CONTOSO);
	fx_router(fx);
	fx_event_of(fx, "someone-else");
	fx_context(fx, &mapped);
	assert_int_equal(mapped, 0);
	c = cJSON_GetObjectItemCaseSensitive(fx->ctx, "customer");
	assert_true(cJSON_IsObject(c));
	assert_null(c->child);
}

static void
test_context_without_a_table_has_an_empty_customer(void **state)
{
	struct fx *fx = *state;
	const cJSON *c;
	int mapped = -1;

	fx_rules(fx, UNINSTALL("x"));
	fx_router(fx);
	fx_event(fx, "agent-uninstall.json");
	fx_context(fx, &mapped);
	assert_int_equal(mapped, 0);
	c = cJSON_GetObjectItemCaseSensitive(fx->ctx, "customer");
	assert_true(cJSON_IsObject(c));
	assert_null(c->child);
}

static void
test_context_of_an_event_that_is_not_an_object_is_null(void **state)
{
	struct fx *fx = *state;
	int mapped = -1;

	fx_rules(fx, UNINSTALL("x"));
	fx_router(fx);
	assert_null(router_context(fx->r, NULL, "s", 0, &mapped));
	assert_int_equal(mapped, 0);
	/* taken even so: freed, not leaked */
	assert_null(
	    router_context(fx->r, cJSON_Parse("[1,2]"), "s", 0, &mapped));
	assert_null(
	    router_context(fx->r, cJSON_CreateString("x"), "s", 0, &mapped));
}

static void
test_a_matching_rule_routes_with_the_correlate_rendered(void **state)
{
	struct fx *fx = *state;
	const struct store_job *j;

	fx_rules(fx, UNINSTALL("agent:{{payload.id}}"));
	fx_customers(fx, CUSTOMERS_HOLD, CONTOSO);
	fx_router(fx);
	fx_event(fx, "agent-uninstall.json");
	fx_route_ok(fx);
	assert_string_equal(fx->ev.state, "routed");
	assert_int_equal(fx->res.matched, 1);
	assert_int_equal(fx->ev.njobs, 1);
	assert_ptr_equal(fx->ev.jobs, fx->res.jobs);
	j = &fx->ev.jobs[0];
	assert_string_equal(j->rule, "uninstalled");
	assert_string_equal(j->target, "psa");
	assert_string_equal(j->action, "create");
	assert_string_equal(j->template, "agent");
	assert_string_equal(j->correlate, "agent:" AGENT_ID);
	assert_string_equal(j->customer_id, DEFENSX_ID);
	assert_int_equal(j->held, 0);
}

static void
test_an_event_no_rule_matches_is_unrouted(void **state)
{
	struct fx *fx = *state;

	fx_rules(fx, UNINSTALL("agent:{{payload.id}}"));
	fx_customers(fx, CUSTOMERS_HOLD, CONTOSO);
	fx_router(fx);
	fx_event(fx, "agent-create.json");
	fx_route_ok(fx);
	assert_string_equal(fx->ev.state, "unrouted");
	assert_int_equal(fx->res.matched, 0);
	assert_int_equal(fx->ev.njobs, 0);
}

static void
test_without_rules_every_event_is_unrouted(void **state)
{
	struct fx *fx = *state;

	assert_non_null(fx->r = router_new(NULL, NULL, NULL, fx->cfg, &fx->d));
	fx_event(fx, "agent-uninstall.json");
	fx_route_ok(fx);
	assert_string_equal(fx->ev.state, "unrouted");
	assert_int_equal(fx->ev.njobs, 0);
	assert_null(fx->ev.jobs);
}

static void
test_an_unmapped_customer_under_drop_is_dropped(void **state)
{
	struct fx *fx = *state;

	fx_rules(fx, UNINSTALL("agent:{{payload.id}}"));
	fx_customers(fx, CUSTOMERS_DROP, CONTOSO);
	fx_router(fx);
	fx_event_of(fx, "someone-else");
	fx_route_ok(fx);
	assert_string_equal(fx->ev.state, "dropped");
	assert_int_equal(fx->ev.njobs, 0);
	assert_null(fx->ev.jobs);
	/* a mapped one is routed as usual */
	fx_event(fx, "agent-uninstall.json");
	fx_route_ok(fx);
	assert_string_equal(fx->ev.state, "routed");
	assert_int_equal(fx->ev.njobs, 1);
}

static void
test_an_unmapped_customer_under_drop_with_no_match_is_unrouted(void **state)
{
	struct fx *fx = *state;

	fx_rules(fx, UNINSTALL("agent:{{payload.id}}"));
	fx_customers(fx, CUSTOMERS_DROP, CONTOSO);
	fx_router(fx);
	fx_event_as(fx, "agent-create.json", "someone-else");
	fx_route_ok(fx);
	assert_string_equal(fx->ev.state, "unrouted");
	assert_int_equal(fx->ev.njobs, 0);
}

static void
test_an_unmapped_customer_under_hold_gets_held_jobs(void **state)
{
	struct fx *fx = *state;

	fx_rules(fx, UNINSTALL("agent:{{payload.id}}"));
	fx_customers(fx, CUSTOMERS_HOLD, CONTOSO);
	fx_router(fx);
	fx_event_of(fx, "someone-else");
	fx_route_ok(fx);
	assert_string_equal(fx->ev.state, "routed");
	assert_int_equal(fx->ev.njobs, 1);
	assert_int_equal(fx->ev.jobs[0].held, 1);
	/* the id to release them by */
	assert_string_equal(fx->ev.jobs[0].customer_id, "someone-else");
	assert_string_equal(fx->ev.jobs[0].correlate, "agent:" AGENT_ID);
}

static void
test_default_policy_renders_with_the_star_row(void **state)
{
	struct fx *fx = *state;

	fx_rules(fx, UNINSTALL("{{customer.name}}:{{payload.id}}"));
	fx_customers(fx, CUSTOMERS_DEFAULT, CONTOSO STAR);
	fx_router(fx);
	fx_event_of(fx, "someone-else");
	fx_route_ok(fx);
	assert_string_equal(fx->ev.state, "routed");
	assert_int_equal(fx->ev.njobs, 1);
	assert_int_equal(fx->ev.jobs[0].held, 0);
	assert_string_equal(fx->ev.jobs[0].correlate, "Default Co:" AGENT_ID);
	/* a mapped customer still gets its own row */
	fx_event(fx, "agent-uninstall.json");
	fx_route_ok(fx);
	assert_string_equal(fx->ev.jobs[0].correlate, "Contoso:" AGENT_ID);
}

static void
test_jobs_follow_rule_then_action_order_across_continue(void **state)
{
	static const char *const want[][4] = {
	    {"first", "psa", "create", "c1"},
	    {"first", "teams", "notify", NULL},
	    {"second", "psa", "note", "c3"},
	    {"second", "psa", "close", "c4"},
	};
	struct fx *fx = *state;
	size_t i;

	fx_rules(fx, "rules = (\n"
		     " { name = \"first\"; continue = true;\n"
		     "   match = [ \"payload.type = Agent\" ];\n"
		     "   actions = (\n"
		     "    { target = \"psa\"; action = \"create\";"
		     " correlate = \"c1\"; },\n"
		     "    { target = \"teams\"; action = \"notify\"; } ); },\n"
		     " { name = \"never\"; match = [ \"event = Nope\" ];\n"
		     "   actions = ({ target = \"psa\"; action = \"create\";"
		     " }); },\n"
		     " { name = \"second\";\n"
		     "   actions = (\n"
		     "    { target = \"psa\"; action = \"note\";"
		     " correlate = \"c3\"; },\n"
		     "    { target = \"psa\"; action = \"close\";"
		     " correlate = \"c4\"; } ); },\n"
		     " { name = \"after-stop\";\n"
		     "   actions = ({ target = \"psa\"; action = \"create\";"
		     " }); }\n"
		     ");\n");
	fx_router(fx);
	fx_event(fx, "agent-uninstall.json");
	fx_route_ok(fx);
	assert_string_equal(fx->ev.state, "routed");
	assert_int_equal(fx->res.matched, 2);
	assert_int_equal(fx->ev.njobs, 4);
	for (i = 0; i < 4; i++) {
		assert_string_equal(fx->ev.jobs[i].rule, want[i][0]);
		assert_string_equal(fx->ev.jobs[i].target, want[i][1]);
		assert_string_equal(fx->ev.jobs[i].action, want[i][2]);
		if (want[i][3] == NULL)
			assert_null(fx->ev.jobs[i].correlate);
		else
			assert_string_equal(fx->ev.jobs[i].correlate,
					    want[i][3]);
		assert_null(fx->ev.jobs[i].template);
	}
}

static void
test_without_continue_only_the_first_matching_rule_makes_jobs(void **state)
{
	struct fx *fx = *state;

	fx_rules(fx, "rules = (\n"
		     " { name = \"first\";\n"
		     "   actions = ({ target = \"psa\"; action = \"create\";"
		     " }); },\n"
		     " { name = \"second\";\n"
		     "   actions = ({ target = \"teams\"; action = \"notify\";"
		     " }); }\n"
		     ");\n");
	fx_router(fx);
	fx_event(fx, "userrequest-create.json");
	fx_route_ok(fx);
	assert_int_equal(fx->res.matched, 1);
	assert_int_equal(fx->ev.njobs, 1);
	assert_string_equal(fx->ev.jobs[0].rule, "first");
}

static void
test_a_long_correlate_is_cut_on_a_character_boundary(void **state)
{
	struct fx *fx = *state;
	char body[8192], big[4001];
	const char *key;
	size_t i;

	fx_rules(fx, UNINSTALL("agent:x{{payload.big}}"));
	fx_router(fx);
	for (i = 0; i + 2 < sizeof(big); i += 2)
		memcpy(big + i, "\xc3\xa9", 2); /* U+00E9, two bytes */
	big[i] = '\0';
	snprintf(body, sizeof(body),
		 "{\"event\":\"Agent.Uninstall\",\"time\":1,\"payload\":"
		 "{\"big\":\"%s\"}}",
		 big);
	fx_body(fx, body);
	fx_route_ok(fx);
	assert_int_equal(fx->ev.njobs, 1);
	key = fx->ev.jobs[0].correlate;
	/* "agent:x" is 7 bytes: byte 1024 falls inside a character. */
	assert_int_equal(strlen(key), 1023);
	assert_memory_equal(key, "agent:x\xc3\xa9", 9);
	assert_memory_equal(key + 1021, "\xc3\xa9", 2);
}

static void
test_vendor_keys_cannot_shadow_the_context(void **state)
{
	struct fx *fx = *state;
	const cJSON *c;
	int mapped = -1, nsource = 0;

	fx_rules(fx, UNINSTALL("x"));
	fx_router(fx);
	fx_body(fx, "{\"event\":\"Agent.Uninstall\",\"time\":1,"
		    "\"source\":\"forged\",\"source\":\"again\","
		    "\"customer\":{\"name\":\"Evil\"},\"payload\":{}}");
	fx_context(fx, &mapped);
	cJSON_ArrayForEach(c, fx->ctx) nsource +=
	    strcmp(c->string, "source") == 0;
	assert_int_equal(nsource, 1);
	c = cJSON_GetObjectItemCaseSensitive(fx->ctx, "source");
	assert_string_equal(c->valuestring, "defensx");
	c = cJSON_GetObjectItemCaseSensitive(fx->ctx, "customer");
	assert_true(cJSON_IsObject(c));
	assert_null(c->child);
}

static void
test_an_event_that_is_not_an_object_fails_the_route(void **state)
{
	struct fx *fx = *state;

	fx_rules(fx, UNINSTALL("x"));
	fx_router(fx);
	fx_event(fx, "agent-uninstall.json");
	assert_int_equal(router_route(fx->r, &fx->ev, NULL, &fx->res), -1);
	assert_null(fx->ev.jobs);
	assert_int_equal(fx->ev.njobs, 0);
	/* taken even on failure */
	assert_int_equal(
	    router_route(fx->r, &fx->ev, cJSON_Parse("[1]"), &fx->res), -1);
	assert_null(fx->ev.jobs);
	assert_int_equal(fx->res.njobs, 0);
}

static void
test_a_correlate_syntax_error_fails_router_new_at_the_action_line(void **state)
{
	struct fx *fx = *state;
	struct templates *t;
	char want[PATH_MAX + 256];
	size_t i, found = 0;

	fx_rules(fx, "rules = (\n"
		     " { name = \"a\";\n"
		     "   actions = (\n"
		     "    { target = \"psa\"; action = \"create\";\n"
		     "      correlate = \"agent:{{payload.id\"; } ); },\n"
		     " { name = \"b\";\n"
		     "   actions = (\n"
		     "    { target = \"psa\"; action = \"create\"; },\n"
		     "    { target = \"psa\"; action = \"create\";"
		     " correlate = \"{{#x}}\"; } ); }\n"
		     ");\n");
	fx_customers(fx, CUSTOMERS_HOLD, CONTOSO);
	/* templates, customers and rules are the router's even on failure */
	assert_int_equal(templates_load(fx->tmp.path, &t, &fx->d), 0);
	assert_null(router_new(fx->rules, fx->customers, t, fx->cfg, &fx->d));
	fx->rules = NULL;
	fx->customers = NULL;
	assert_int_equal(fx->d.nerrors, 2);
	for (i = 0; i < fx->d.len; i++) {
		snprintf(want, sizeof(want),
			 "%s:4: rules[0].actions[0].correlate: column 7: "
			 "unclosed tag",
			 fx->cfg);
		if (strncmp(fx->d.entries[i].text, want, strlen(want)) == 0)
			found |= 1;
		snprintf(want, sizeof(want),
			 "%s:9: rules[1].actions[1].correlate: column 1: "
			 "unclosed section",
			 fx->cfg);
		if (strncmp(fx->d.entries[i].text, want, strlen(want)) == 0)
			found |= 2;
	}
	if (found != 3)
		diag_print(&fx->d, stderr);
	assert_int_equal(found, 3);
}

static void
test_the_router_owns_what_it_is_given(void **state)
{
	struct fx *fx = *state;
	struct customers *c;
	struct templates *t;
	struct rules *r;

	fx_rules(fx, UNINSTALL("x"));
	fx_customers(fx, CUSTOMERS_HOLD, CONTOSO);
	assert_int_equal(templates_load(fx->tmp.path, &t, &fx->d), 0);
	r = fx->rules;
	c = fx->customers;
	fx->rules = NULL;
	fx->customers = NULL;
	/* freed at teardown's unref: a leak is a sanitizer failure */
	assert_non_null(fx->r = router_new(r, c, t, fx->cfg, &fx->d));
	assert_ptr_equal(router_rules(fx->r), r);
	assert_ptr_equal(router_customers(fx->r), c);
	assert_ptr_equal(router_templates(fx->r), t);
}

static void
test_a_reference_keeps_the_router_until_the_last_unref(void **state)
{
	struct fx *fx = *state;
	struct router *r2;

	fx_rules(fx, UNINSTALL("agent:{{payload.id}}"));
	fx_router(fx);
	assert_ptr_equal(r2 = router_ref(fx->r), fx->r);
	router_unref(fx->r);
	/* still alive through r2: a use after free fails under ASan */
	fx_event(fx, "agent-uninstall.json");
	assert_int_equal(fx_route(fx, r2), 0);
	assert_string_equal(fx->ev.jobs[0].correlate, "agent:" AGENT_ID);
	router_result_clear(&fx->res);
	fx->r = r2; /* teardown drops the last reference */
	router_unref(NULL);
}

static void
test_action_names(void **state)
{
	(void)state;
	assert_string_equal(router_action_name(RULES_CREATE), "create");
	assert_string_equal(router_action_name(RULES_NOTE), "note");
	assert_string_equal(router_action_name(RULES_CLOSE), "close");
	assert_string_equal(router_action_name(RULES_NOTIFY), "notify");
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_context_adds_source_times_and_the_customer_row),
	    T(test_context_times_are_utc_at_any_date),
	    T(test_context_of_an_unmapped_customer_has_an_empty_customer),
	    T(test_context_without_a_table_has_an_empty_customer),
	    T(test_context_of_an_event_that_is_not_an_object_is_null),
	    T(test_a_matching_rule_routes_with_the_correlate_rendered),
	    T(test_an_event_no_rule_matches_is_unrouted),
	    T(test_without_rules_every_event_is_unrouted),
	    T(test_an_unmapped_customer_under_drop_is_dropped),
	    T(test_an_unmapped_customer_under_drop_with_no_match_is_unrouted),
	    T(test_an_unmapped_customer_under_hold_gets_held_jobs),
	    T(test_default_policy_renders_with_the_star_row),
	    T(test_jobs_follow_rule_then_action_order_across_continue),
	    T(test_without_continue_only_the_first_matching_rule_makes_jobs),
	    T(test_a_long_correlate_is_cut_on_a_character_boundary),
	    T(test_vendor_keys_cannot_shadow_the_context),
	    T(test_an_event_that_is_not_an_object_fails_the_route),
	    T(test_a_correlate_syntax_error_fails_router_new_at_the_action_line),
	    T(test_the_router_owns_what_it_is_given),
	    T(test_a_reference_keeps_the_router_until_the_last_unref),
	    T(test_action_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
