/*
 * libFuzzer target: the matcher parser and the rule checks.  The input is
 * one matcher string inside a fixed rule, then routed against an event.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "psabridge/rules.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const targets[] = {"psa"};
	static cJSON *ctx;
	struct rules_env env = {.targets = targets, .ntargets = 1};
	config_setting_t *root, *list, *rule, *match, *actions, *a;
	struct rules *r = NULL;
	struct diag d;
	config_t lc;
	char *s;

	if (ctx == NULL)
		ctx = cJSON_Parse("{\"event\":\"Agent.Uninstall\",\"payload\":"
				  "{\"platform\":\"Windows\",\"id\":1650}}");
	if ((s = strndup((const char *)data, size)) == NULL)
		return 0;
	config_init(&lc);
	root = config_root_setting(&lc);
	list = config_setting_add(root, "rules", CONFIG_TYPE_LIST);
	rule = config_setting_add(list, NULL, CONFIG_TYPE_GROUP);
	config_setting_set_string(
	    config_setting_add(rule, "name", CONFIG_TYPE_STRING), "fuzz");
	match = config_setting_add(rule, "match", CONFIG_TYPE_ARRAY);
	config_setting_set_string(
	    config_setting_add(match, NULL, CONFIG_TYPE_STRING), s);
	actions = config_setting_add(rule, "actions", CONFIG_TYPE_LIST);
	a = config_setting_add(actions, NULL, CONFIG_TYPE_GROUP);
	config_setting_set_string(
	    config_setting_add(a, "target", CONFIG_TYPE_STRING), "psa");
	config_setting_set_string(
	    config_setting_add(a, "action", CONFIG_TYPE_STRING), "notify");
	diag_init(&d);
	if (rules_load(list, &env, &r, &d) == 0) {
		rules_route(r, ctx, NULL, NULL);
		rules_free(r);
	}
	diag_free(&d);
	config_destroy(&lc);
	free(s);
	return 0;
}
