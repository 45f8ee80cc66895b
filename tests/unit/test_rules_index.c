/*
 * Unit tests for src/rules_index.c: routing through the index picks exactly
 * the rules that trying every rule in order would pick.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libconfig.h>

#include "psabridge/rules.h"

static const char *const targets[] = {"psa"};

static char *
generate_rules(int n)
{
	size_t cap = (size_t)n * 256 + 64, o = 0;
	char *s = malloc(cap);
	int i;

	assert_non_null(s);
	o += (size_t)snprintf(s + o, cap - o, "rules = (\n");
	for (i = 0; i < n; i++) {
		const char *m;
		char buf[160];

		switch (i % 6) {
		case 0: /* by event */
			snprintf(buf, sizeof(buf), "\"event = E%d\"", i % 5);
			break;
		case 1: /* by customer and event: filed by customer */
			snprintf(
			    buf, sizeof(buf),
			    "\"event = E1\", \"payload.customer_id = c%d\"",
			    i % 17);
			break;
		case 2: /* no equality matcher: always tried */
			snprintf(buf, sizeof(buf),
				 "\"payload.customer_id =~ c1.*\"");
			break;
		case 3: /* a number compared by its JSON text */
			snprintf(buf, sizeof(buf), "\"payload.n = %d\"", i % 3);
			break;
		case 4: /* equality to the empty string: a missing field */
			snprintf(buf, sizeof(buf),
				 "\"payload.missing = \\\"\\\"\", "
				 "\"event != E%d\"",
				 i % 4);
			break;
		default: /* catch-all */
			buf[0] = '\0';
		}
		m = buf;
		o += (size_t)snprintf(
		    s + o, cap - o,
		    "{ name = \"r%d\"; match = [ %s ]; continue = %s; "
		    "enabled = %s; actions = ( { target = \"psa\"; action = "
		    "\"notify\"; } ); },\n",
		    i, m, i % 3 ? "true" : "false", i % 11 ? "true" : "false");
	}
	o--; /* the last comma */
	o--;
	snprintf(s + o, cap - o, "\n);\n");
	return s;
}

struct collect {
	char names[4096];
};

static void
collect_route(const struct rules_rule *rule, const struct rules_action *a,
	      void *arg)
{
	struct collect *c = arg;

	(void)a;
	strcat(c->names, rule->name);
	strcat(c->names, " ");
}

static void
collect_explain(const struct rules_rule *rule, int matched, const char *why,
		void *arg)
{
	struct collect *c = arg;

	(void)why;
	if (matched) {
		strcat(c->names, rule->name);
		strcat(c->names, " ");
	}
}

static void
the_index_picks_what_trying_every_rule_picks(void **state)
{
	char path[] = "/tmp/psabridge-index-XXXXXX";
	struct rules_env env = {.targets = targets, .ntargets = 1};
	struct rules *r = NULL;
	struct diag d;
	config_t lc;
	char *text = generate_rules(300);
	int fd, e, c, n, checked = 0;
	FILE *fp;

	(void)state;
	assert_true((fd = mkstemp(path)) != -1);
	assert_non_null(fp = fdopen(fd, "w"));
	fputs(text, fp);
	fclose(fp);
	config_init(&lc);
	assert_int_equal(config_read_file(&lc, path), CONFIG_TRUE);
	diag_init(&d);
	if (rules_load(config_lookup(&lc, "rules"), &env, &r, &d) == -1)
		diag_print(&d, stderr);
	assert_non_null(r);
	for (e = 0; e < 6; e++) {
		for (c = 0; c < 20; c++) {
			for (n = 0; n < 3; n++) {
				struct collect routed = {""}, tried = {""};
				char json[160];
				cJSON *ctx;

				snprintf(json, sizeof(json),
					 "{\"event\":\"E%d\",\"payload\":{"
					 "\"customer_id\":\"c%d\",\"n\":%d}}",
					 e, c, n);
				assert_non_null(ctx = cJSON_Parse(json));
				rules_route(r, ctx, collect_route, &routed);
				rules_explain(r, ctx, collect_explain, &tried);
				assert_string_equal(routed.names, tried.names);
				checked += routed.names[0] != '\0';
				cJSON_Delete(ctx);
			}
		}
	}
	assert_true(checked > 100); /* the cases do match rules */
	rules_free(r);
	diag_free(&d);
	config_destroy(&lc);
	unlink(path);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(the_index_picks_what_trying_every_rule_picks),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
