/*
 * Unit tests for the PSA targets without a network: the text helpers
 * (cutting on UTF-8 boundaries as the PSAs count characters, Basic auth,
 * the key that travels with a ticket), and each vendor's exchange driven
 * step by step with canned answers: Autotask picklist labels resolved to
 * their values (and an unknown one named with the valid ones), the
 * vendors' error bodies turned into one line.  Targets are loaded from
 * config text with literal secrets (a warning, not an error).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <libconfig.h>

#include "psabridge/diag.h"
#include "psabridge/psa.h"
#include "psabridge/store.h"
#include "psabridge/target.h"
#include "psabridge/ticket.h"

/* --- text --------------------------------------------------------------- */

static int
utf8_valid(const char *s)
{
	cJSON *j = cJSON_CreateString(s);
	char *out = cJSON_PrintUnformatted(j);
	int ok = out != NULL && strstr(out, "\\u") == NULL;

	free(out);
	cJSON_Delete(j);
	for (; ok && *s; s++) {
		unsigned char c = (unsigned char)*s;
		int n = c < 0x80 ? 0 : c >= 0xf0 ? 3 : c >= 0xe0 ? 2 : 1, i;

		if (c >= 0x80 && c < 0xc0)
			return 0;
		for (i = 1; i <= n; i++)
			if (((unsigned char)s[i] & 0xc0) != 0x80)
				return 0;
		s += n;
	}
	return ok;
}

static void
test_short_text_is_kept_as_it_is(void **state)
{
	char *s = psa_cut("Agent removed", 100);

	(void)state;
	assert_string_equal(s, "Agent removed");
	free(s);
}

static void
test_long_text_is_cut_to_the_limit_with_an_ellipsis(void **state)
{
	char in[300], *s;

	(void)state;
	memset(in, 'a', 250);
	in[250] = '\0';
	s = psa_cut(in, 100);
	assert_int_equal(psa_length(s), 100);
	assert_int_equal(strlen(s), 100);
	assert_string_equal(s + 97, "...");
	free(s);
}

static void
test_cutting_never_splits_a_character(void **state)
{
	/* 2-, 3- and 4-byte characters at every offset around the cut */
	static const char *const chars[] = {"\xc3\xa9", "\xe6\x97\xa5",
					    "\xf0\x9f\x98\x80"};
	char in[1024], *s;
	size_t c, pad, i;

	(void)state;
	for (c = 0; c < 3; c++) {
		for (pad = 0; pad < 4; pad++) {
			memset(in, 'x', pad);
			in[pad] = '\0';
			for (i = 0; i < 60; i++)
				strcat(in, chars[c]);
			s = psa_cut(in, 50);
			assert_true(utf8_valid(s));
			assert_true(psa_length(s) <= 50);
			assert_true(psa_length(s) >= 48);
			assert_string_equal(s + strlen(s) - 3, "...");
			free(s);
		}
	}
}

static void
test_characters_are_counted_as_utf16_units(void **state)
{
	(void)state;
	assert_int_equal(psa_length("abc"), 3);
	assert_int_equal(psa_length("\xc3\xa9t\xc3\xa9"), 3);
	assert_int_equal(psa_length("\xf0\x9f\x98\x80"), 2); /* a pair */
	assert_int_equal(psa_length(""), 0);
}

static void
test_basic_auth_is_base64_of_user_colon_password(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(psa_basic_auth("acme+pub", "priv", out, sizeof(out)),
			 0);
	/* python3 -c "import base64; base64.b64encode(b'acme+pub:priv')" */
	assert_string_equal(out, "Basic YWNtZStwdWI6cHJpdg==");
	assert_int_equal(psa_basic_auth("acme+pub", "priv", out, 20), -1);
}

static void
test_a_short_key_travels_as_it_is(void **state)
{
	char *x = psa_xref("agent:fdceb72a-c274-4844-8b74-a0c74a8018e5", 50);

	(void)state;
	assert_string_equal(x, "agent:fdceb72a-c274-4844-8b74-a0c74a8018e5");
	free(x);
}

static void
test_a_long_or_unprintable_key_travels_as_its_hash(void **state)
{
	char key[200], *a, *b, *c;

	(void)state;
	memset(key, 'k', 120);
	key[120] = '\0';
	a = psa_xref(key, 50);
	key[119] = 'j';
	b = psa_xref(key, 50);
	c = psa_xref("caf\xc3\xa9", 50);
	assert_int_equal(strncmp(a, "psabridge-", 10), 0);
	assert_true(strlen(a) <= 50);
	assert_string_not_equal(a, b);
	assert_int_equal(strncmp(c, "psabridge-", 10), 0);
	free(a);
	free(b);
	free(c);
}

/* --- exchanges ---------------------------------------------------------- */

struct fx {
	config_t lc;
	struct diag d;
	struct targets ts;
	struct ticket tk;
	cJSON *ctx;
	struct target_job job;
	void *x;
	struct target_request req;
	struct target_result res;
};

static struct fx *
fx_load(const char *target)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char text[4096];

	assert_non_null(fx);
	snprintf(text, sizeof(text), "targets = ( %s );\n", target);
	config_init(&fx->lc);
	diag_init(&fx->d);
	assert_int_equal(config_read_string(&fx->lc, text), CONFIG_TRUE);
	if (targets_load(config_lookup(&fx->lc, "targets"), ".", NULL, &fx->ts,
			 &fx->d) == -1) {
		diag_print(&fx->d, stderr);
		fail();
	}
	fx->tk.field[TICKET_SUMMARY] = strdup("Agent removed from WIN10-4");
	fx->tk.field[TICKET_PRIORITY] = strdup("high");
	fx->tk.description = strdup("The agent was removed.");
	fx->ctx = cJSON_Parse("{\"customer\": {\"connectwise_company\": "
			      "\"Contoso\", \"autotask_company_id\": "
			      "\"29684\"}, \"payload\": {\"customer_id\": "
			      "\"c1\"}}");
	fx->job.action = "create";
	fx->job.correlate = "agent:1";
	fx->job.ctx = fx->ctx;
	fx->job.ticket = &fx->tk;
	fx->job.when = "2026-11-29T10:00:00Z";
	return fx;
}

static void
fx_free(struct fx *fx)
{
	if (fx->x != NULL)
		fx->ts.list[0].ops->exchange->end(fx->x);
	target_request_clear(&fx->req);
	ticket_clear(&fx->tk);
	cJSON_Delete(fx->ctx);
	targets_clear(&fx->ts);
	config_destroy(&fx->lc);
	diag_free(&fx->d);
	free(fx);
}

/* The next step, given the answer (status 0: the first step). */
static enum target_step
fx_step(struct fx *fx, int status, const char *body)
{
	const struct target_exchange_ops *x = fx->ts.list[0].ops->exchange;
	struct target_response r = {.status = status,
				    .body = body ? body : "",
				    .body_len = body ? strlen(body) : 0};

	if (fx->x == NULL)
		assert_non_null(fx->x = x->start(&fx->ts.list[0], &fx->job));
	target_request_clear(&fx->req);
	memset(&fx->res, 0, sizeof(fx->res));
	return x->step(fx->x, status == 0 ? NULL : &r, &fx->req, &fx->res);
}

static const char *
fx_header(const struct fx *fx, const char *name)
{
	size_t i;

	for (i = 0; i < fx->req.nheaders; i++)
		if (strcmp(fx->req.headers[i].name, name) == 0)
			return fx->req.headers[i].value;
	return NULL;
}

/* Whether render and test-target show the header as ***. */
static int
fx_secret(const struct fx *fx, const char *name)
{
	size_t i;

	for (i = 0; i < fx->req.nheaders; i++)
		if (strcmp(fx->req.headers[i].name, name) == 0)
			return fx->req.headers[i].secret;
	fail_msg("no header %s", name);
	return 0;
}

#define CW_TARGET                                                              \
	"{ name = \"psa\"; type = \"connectwise\"; "                           \
	"api_url = \"https://cw.example/v4_6_release/apis/3.0/\"; "            \
	"company_id = \"acme\"; public_key = \"pub\"; private_key = "          \
	"\"priv\"; client_id = \"cid\"; board = \"Help Desk\"; }"

static const char cw_lookup_url[] =
    "https://cw.example/v4_6_release/apis/3.0/service/tickets?conditions=";

static void
test_connectwise_sends_basic_auth_and_client_id(void **state)
{
	struct fx *fx = fx_load(CW_TARGET);

	(void)state;
	assert_int_equal(fx_step(fx, 0, NULL), TARGET_STEP_SEND);
	assert_string_equal(fx->req.method, "GET");
	assert_int_equal(
	    strncmp(fx->req.url, cw_lookup_url, strlen(cw_lookup_url)), 0);
	assert_string_equal(fx_header(fx, "Authorization"),
			    "Basic YWNtZStwdWI6cHJpdg==");
	assert_string_equal(fx_header(fx, "clientId"), "cid");
	assert_true(fx_secret(fx, "clientId")); /* kept like a password */
	assert_true(fx_secret(fx, "Authorization"));
	assert_false(fx_secret(fx, "Accept"));
	fx_free(fx);
}

static void
test_connectwise_error_body_becomes_one_line(void **state)
{
	struct fx *fx = fx_load(CW_TARGET);

	(void)state;
	assert_int_equal(fx_step(fx, 0, NULL), TARGET_STEP_SEND);
	assert_int_equal(fx_step(fx, 200, "[]"), TARGET_STEP_SEND);
	assert_string_equal(fx->req.method, "POST");
	assert_int_equal(
	    fx_step(fx, 400,
		    "{\"code\":\"InvalidObject\",\"message\":\"ticket object "
		    "is invalid\",\"errors\":[{\"code\":\"InvalidField\","
		    "\"message\":\"The board is not valid.\",\"resource\":"
		    "\"ticket\",\"field\":\"board\"}]}"),
	    TARGET_STEP_FAIL);
	assert_string_equal(fx->res.error,
			    "creating the ticket: ConnectWise answered HTTP "
			    "400: InvalidObject: ticket object is invalid; "
			    "board: The board is not valid.");
	assert_int_equal(fx->res.status, 400);
	assert_true(fx->res.validation);
	fx_free(fx);
}

static void
test_connectwise_create_reads_the_new_id(void **state)
{
	struct fx *fx = fx_load(CW_TARGET);

	(void)state;
	fx_step(fx, 0, NULL);
	fx_step(fx, 200, "[]");
	assert_int_equal(fx_step(fx, 201, "{\"id\": 4242, \"summary\": \"x\"}"),
			 TARGET_STEP_DONE);
	assert_string_equal(fx->res.ticket_id, "4242");
	assert_int_equal(fx->res.ticket_change, STORE_TICKET_OPEN);
	fx_free(fx);
}

#define AT_TARGET(extra)                                                       \
	"{ name = \"at\"; type = \"autotask\"; zone_url = "                    \
	"\"https://ws5.example/ATServicesRest\"; username = \"u@x\"; "         \
	"secret = \"s\"; integration_code = \"c\"; " extra " }"

static const char at_fields[] =
    "{\"fields\": ["
    "{\"name\": \"status\", \"isPickList\": true, \"picklistValues\": ["
    "{\"value\": \"1\", \"label\": \"New\", \"isActive\": true},"
    "{\"value\": \"5\", \"label\": \"Complete\", \"isActive\": true}]},"
    "{\"name\": \"priority\", \"isPickList\": true, \"picklistValues\": ["
    "{\"value\": \"1\", \"label\": \"High\", \"isActive\": true},"
    "{\"value\": \"2\", \"label\": \"Medium\", \"isActive\": true},"
    "{\"value\": \"9\", \"label\": \"Old\", \"isActive\": false}]},"
    "{\"name\": \"queueID\", \"isPickList\": true, \"picklistValues\": ["
    "{\"value\": \"29683496\", \"label\": \"Monitoring Alert\", "
    "\"isActive\": true},"
    "{\"value\": \"29683497\", \"label\": \"Tier 2\", \"isActive\": true}]},"
    "{\"name\": \"title\", \"isPickList\": false}]}";

static void
test_autotask_labels_resolve_to_picklist_values(void **state)
{
	struct fx *fx = fx_load(
	    AT_TARGET("queue = \"monitoring alert\"; new_status = \"New\"; "
		      "complete_status = \"Complete\"; priorities = { high = "
		      "\"High\"; normal = \"Medium\"; };"));
	cJSON *b;

	(void)state;
	assert_int_equal(fx_step(fx, 0, NULL), TARGET_STEP_SEND);
	assert_string_equal(fx->req.url, "https://ws5.example/ATServicesRest/"
					 "V1.0/Tickets/entityInformation/"
					 "fields");
	assert_int_equal(fx_step(fx, 200, at_fields), TARGET_STEP_SEND);
	assert_string_equal(fx->req.method, "POST"); /* the lookup */
	assert_non_null(strstr(fx->req.body, "\"value\":5"));
	assert_int_equal(fx_step(fx, 200, "{\"items\": []}"), TARGET_STEP_SEND);
	assert_non_null(b = cJSON_Parse(fx->req.body));
	assert_int_equal(cJSON_GetObjectItem(b, "status")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(b, "priority")->valueint, 1);
	assert_int_equal(cJSON_GetObjectItem(b, "queueID")->valueint, 29683496);
	assert_int_equal(cJSON_GetObjectItem(b, "companyID")->valueint, 29684);
	cJSON_Delete(b);
	fx_free(fx);
}

static void
test_autotask_unknown_label_lists_the_valid_ones(void **state)
{
	struct fx *fx = fx_load(AT_TARGET("queue = \"Tier 3\";"));

	(void)state;
	assert_int_equal(fx_step(fx, 0, NULL), TARGET_STEP_SEND);
	assert_int_equal(fx_step(fx, 200, at_fields), TARGET_STEP_FAIL);
	assert_string_equal(fx->res.error,
			    "\"Tier 3\" is not a value of the Autotask ticket "
			    "field queueID; valid: \"Monitoring Alert\", "
			    "\"Tier 2\"");
	assert_false(fx->res.permanent);
	fx_free(fx);
}

static void
test_autotask_inactive_values_do_not_resolve(void **state)
{
	struct fx *fx = fx_load(AT_TARGET("priorities = { high = \"Old\"; };"));

	(void)state;
	fx_step(fx, 0, NULL);
	assert_int_equal(fx_step(fx, 200, at_fields), TARGET_STEP_FAIL);
	assert_non_null(strstr(fx->res.error, "valid: \"High\", \"Medium\""));
	fx_free(fx);
}

static void
test_autotask_numbers_need_no_picklists(void **state)
{
	struct fx *fx = fx_load(AT_TARGET("queue = \"29683496\";"));

	(void)state;
	assert_int_equal(fx_step(fx, 0, NULL), TARGET_STEP_SEND);
	assert_string_equal(fx->req.url, "https://ws5.example/ATServicesRest/"
					 "V1.0/Tickets/query");
	fx_free(fx);
}

static void
test_autotask_error_body_becomes_one_line(void **state)
{
	struct fx *fx = fx_load(AT_TARGET(""));

	(void)state;
	fx_step(fx, 0, NULL);
	assert_int_equal(fx_step(fx, 200, "{\"items\": []}"), TARGET_STEP_SEND);
	assert_int_equal(
	    fx_step(fx, 500,
		    "{\"errors\": [\"Value does not exist for the required "
		    "field companyID.\", \"title is required\"]}"),
	    TARGET_STEP_FAIL);
	assert_string_equal(fx->res.error,
			    "creating the ticket: Autotask answered HTTP 500: "
			    "Value does not exist for the required field "
			    "companyID.; title is required");
	assert_true(fx->res.validation);
	fx_free(fx);
}

static void
test_autotask_title_is_cut_and_the_whole_goes_first_in_the_description(
    void **state)
{
	struct fx *fx = fx_load(AT_TARGET(""));
	char title[400];
	cJSON *b;

	(void)state;
	memset(title, 'T', 300);
	title[300] = '\0';
	free(fx->tk.field[TICKET_SUMMARY]);
	fx->tk.field[TICKET_SUMMARY] = strdup(title);
	fx_step(fx, 0, NULL);
	fx_step(fx, 200, "{\"items\": []}");
	assert_non_null(b = cJSON_Parse(fx->req.body));
	assert_int_equal(
	    strlen(cJSON_GetStringValue(cJSON_GetObjectItem(b, "title"))), 255);
	assert_int_equal(
	    strncmp(cJSON_GetStringValue(cJSON_GetObjectItem(b, "description")),
		    title, 300),
	    0);
	cJSON_Delete(b);
	fx_free(fx);
}

static int
diag_has(const struct diag *d, const char *text)
{
	size_t i;

	for (i = 0; i < d->len; i++)
		if (d->entries[i].level == DIAG_ERROR &&
		    strstr(d->entries[i].text, text) != NULL)
			return 1;
	return 0;
}

static void
test_a_url_that_is_not_http_is_a_config_error(void **state)
{
	config_t lc;
	struct targets ts;
	struct diag d;

	(void)state;
	config_init(&lc);
	diag_init(&d);
	assert_int_equal(
	    config_read_string(
		&lc, "targets = ( { name = \"a\"; type = \"autotask\";\n"
		     " zone_url = \"ftp://x/\"; username = \"u\"; secret = "
		     "\"s\"; integration_code = \"c\"; },\n"
		     " { name = \"c\"; type = \"connectwise\"; api_url = "
		     "\"https://bad host/\"; company_id = \"a\"; public_key = "
		     "\"p\"; private_key = \"k\"; client_id = \"i\"; board = "
		     "\"B\"; } );\n"),
	    CONFIG_TRUE);
	assert_int_equal(
	    targets_load(config_lookup(&lc, "targets"), ".", NULL, &ts, &d),
	    -1);
	assert_int_equal(d.nerrors, 2);
	assert_true(diag_has(&d, "targets[0].zone_url: \"ftp://x/\" is not an "
				 "http:// or https:// URL"));
	assert_true(diag_has(&d, "targets[1].api_url: \"https://bad host/\" "
				 "is not an http:// or https:// URL: "));
	config_destroy(&lc);
	diag_free(&d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_short_text_is_kept_as_it_is),
	    cmocka_unit_test(
		test_long_text_is_cut_to_the_limit_with_an_ellipsis),
	    cmocka_unit_test(test_cutting_never_splits_a_character),
	    cmocka_unit_test(test_characters_are_counted_as_utf16_units),
	    cmocka_unit_test(test_basic_auth_is_base64_of_user_colon_password),
	    cmocka_unit_test(test_a_short_key_travels_as_it_is),
	    cmocka_unit_test(
		test_a_long_or_unprintable_key_travels_as_its_hash),
	    cmocka_unit_test(test_connectwise_sends_basic_auth_and_client_id),
	    cmocka_unit_test(test_connectwise_error_body_becomes_one_line),
	    cmocka_unit_test(test_connectwise_create_reads_the_new_id),
	    cmocka_unit_test(test_autotask_labels_resolve_to_picklist_values),
	    cmocka_unit_test(test_autotask_unknown_label_lists_the_valid_ones),
	    cmocka_unit_test(test_autotask_inactive_values_do_not_resolve),
	    cmocka_unit_test(test_autotask_numbers_need_no_picklists),
	    cmocka_unit_test(test_autotask_error_body_becomes_one_line),
	    cmocka_unit_test(
		test_autotask_title_is_cut_and_the_whole_goes_first_in_the_description),
	    cmocka_unit_test(test_a_url_that_is_not_http_is_a_config_error),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
