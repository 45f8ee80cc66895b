/*
 * Unit tests for targets: loading the `targets` list (errors with
 * FILE:LINE, all at once), the file target's one JSON line per job, and
 * the webhook target's request: method, Content-Type by template kind,
 * templated and secret headers, and Standard Webhooks signing, whose
 * signature is checked here with OpenSSL's HMAC() independently of the
 * code under test.  Every test writes psabridge.cfg and a templates/
 * folder into a fresh mkdtemp() directory; the render context is the
 * DefensX Agent.Uninstall fixture of tests/data/defensx.
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
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <libconfig.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "psabridge/diag.h"
#include "psabridge/target.h"
#include "psabridge/templates.h"
#include "fixture.h"

#define AGENT_ID  "fdceb72a-c274-4844-8b74-a0c74a8018e5"
#define TOKEN_ENV "PSABRIDGE_TEST_TARGET_TOKEN"

/* The template files every test has. */
static const struct {
	const char *name, *text;
} fx_templates[] = {
    {"agent.ticket", "Summary: Agent removed from {{payload.hostname}}\n"
		     "Priority: high\n"
		     "\n"
		     "The agent on {{payload.hostname}} was removed.\n"
		     "Version {{payload.version}}\n"},
    {"card.json.mustache",
     "{\"text\": \"{{payload.hostname}} said \\\"{{payload.quote}}\\\"\"}"},
    {"note.mustache", "Removed: {{payload.hostname}}\n"},
    {"raw.json.mustache", "{\"a\": \"{{{payload.raw}}}\"}"},
    {"tagged.json.mustache", "{\"ticket\": \"T\", \"n\": 1}"},
};

struct fx {
	struct fixture_dir tmp;
	const char *cfg;
	config_t lc;
	struct diag d;
	struct targets ts;
	struct templates *templates;
	cJSON *ctx;
	struct target_job job;
	struct target_request req;
	char err[512];
};

static int
fx_setup(void **state)
{
	const char *data = getenv("PSABRIDGE_TEST_DATA");
	struct fx *fx = calloc(1, sizeof(*fx));
	char path[PATH_MAX + 64], text[8192];
	const char *tdir;
	size_t i, n;
	cJSON *p;
	FILE *fp;

	assert_non_null(fx);
	fixture_dir_make(&fx->tmp, "target");
	fx->cfg = fixture_path(&fx->tmp, "psabridge.cfg");
	tdir = fixture_mkdir(&fx->tmp, "templates");
	for (i = 0; i < sizeof(fx_templates) / sizeof(fx_templates[0]); i++) {
		snprintf(path, sizeof(path), "templates/%s",
			 fx_templates[i].name);
		fixture_write_text(&fx->tmp, path, 0600, fx_templates[i].text);
	}
	config_init(&fx->lc);
	diag_init(&fx->d);
	assert_int_equal(templates_load(tdir, &fx->templates, &fx->d), 0);

	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/defensx/agent-uninstall.json", data);
	assert_non_null(fp = fopen(path, "r"));
	n = fread(text, 1, sizeof(text) - 1, fp);
	assert_int_equal(fclose(fp), 0);
	text[n] = '\0';
	assert_non_null(fx->ctx = cJSON_Parse(text));
	assert_non_null(
	    p = cJSON_GetObjectItemCaseSensitive(fx->ctx, "payload"));
	assert_non_null(cJSON_AddStringToObject(p, "quote", "a \"b\" c"));

	fx->job.id = "0190e4c5-0000-7000-8000-000000000001";
	fx->job.event_id = "0190e4c5-0000-7000-8000-0000000000e1";
	fx->job.rule = "agent-uninstalled";
	fx->job.action = "create";
	fx->job.correlate = "agent:" AGENT_ID;
	fx->job.ctx = fx->ctx;
	fx->job.templates = fx->templates;
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	target_request_clear(&fx->req);
	targets_clear(&fx->ts);
	templates_free(fx->templates);
	cJSON_Delete(fx->ctx);
	diag_free(&fx->d);
	config_destroy(&fx->lc);
	fixture_dir_remove(&fx->tmp);
	unsetenv(TOKEN_ENV);
	free(fx);
	return 0;
}

/* Writes text as the config file and loads its `targets`. */
static int
fx_load(struct fx *fx, const char *text)
{
	fixture_write_text(&fx->tmp, "psabridge.cfg", 0600, text);
	if (config_read_file(&fx->lc, fx->cfg) != CONFIG_TRUE)
		fail_msg("%s:%d: %s", fx->cfg, config_error_line(&fx->lc),
			 config_error_text(&fx->lc));
	return targets_load(config_lookup(&fx->lc, "targets"), fx->tmp.path,
			    fx->templates, &fx->ts, &fx->d);
}

static void
fx_load_ok(struct fx *fx, const char *text)
{
	int rc = fx_load(fx, text);

	if (rc != 0 || fx->d.nerrors != 0)
		diag_print(&fx->d, stderr);
	assert_int_equal(rc, 0);
	assert_int_equal(fx->d.nerrors, 0);
}

static void
fx_load_fails(struct fx *fx, const char *text, size_t nerrors)
{
	assert_int_equal(fx_load(fx, text), -1);
	assert_int_equal(fx->ts.n, 0);
	assert_null(fx->ts.list);
	if (fx->d.nerrors != nerrors)
		diag_print(&fx->d, stderr);
	assert_int_equal(fx->d.nerrors, nerrors);
}

/* Some entry of level is exactly "CFG:LINE: " followed by text. */
static int
fx_has(const struct fx *fx, enum diag_level level, int line, const char *text)
{
	char want[PATH_MAX + 1024];
	size_t i;

	snprintf(want, sizeof(want), "%s:%d: %s", fx->cfg, line, text);
	for (i = 0; i < fx->d.len; i++)
		if (fx->d.entries[i].level == level &&
		    strncmp(fx->d.entries[i].text, want, strlen(want)) == 0)
			return 1;
	fprintf(stderr, "wanted %s starting \"%s\", have:\n",
		level == DIAG_ERROR ? "an error" : "a warning", want);
	diag_print(&fx->d, stderr);
	return 0;
}

#define expect_error(fx, line, text)                                           \
	assert_true(fx_has(fx, DIAG_ERROR, line, text))
#define expect_warning(fx, line, text)                                         \
	assert_true(fx_has(fx, DIAG_WARNING, line, text))

/* Forgets the last load: a test can load another config. */
static void
fx_reset(struct fx *fx)
{
	targets_clear(&fx->ts);
	config_destroy(&fx->lc);
	config_init(&fx->lc);
	diag_free(&fx->d);
	diag_init(&fx->d);
}

/* Writes text to dir/token with mode; returns "file:" and its path. */
static const char *
fx_token_file(struct fx *fx, const char *text, mode_t mode)
{
	static char ref[PATH_MAX + 16];

	snprintf(ref, sizeof(ref), "file:%s",
		 fixture_write_text(&fx->tmp, "token", mode, text));
	return ref;
}

/* Builds fx->job on the target called name; 0 or -1. */
static int
fx_build(struct fx *fx, const char *name)
{
	const struct target *t = targets_find(&fx->ts, name);

	assert_non_null(t);
	target_request_clear(&fx->req);
	fx->err[0] = '\0';
	return target_build(t, &fx->job, &fx->req, fx->err, sizeof(fx->err));
}

static void
fx_build_ok(struct fx *fx, const char *name)
{
	if (fx_build(fx, name) != 0)
		fail_msg("build failed: %s", fx->err);
}

/* A failed build says why (containing text) and leaves nothing built. */
static void
fx_build_fails(struct fx *fx, const char *name, const char *text)
{
	assert_int_equal(fx_build(fx, name), -1);
	if (strstr(fx->err, text) == NULL)
		fail_msg("wanted an error with \"%s\", got \"%s\"", text,
			 fx->err);
	assert_null(fx->req.method);
	assert_null(fx->req.url);
	assert_null(fx->req.headers);
	assert_int_equal(fx->req.nheaders, 0);
	assert_null(fx->req.body);
	assert_int_equal(fx->req.body_len, 0);
}

/* The value of header name in the built request, or NULL. */
static const struct target_header *
fx_header(const struct fx *fx, const char *name)
{
	size_t i;

	for (i = 0; i < fx->req.nheaders; i++)
		if (strcmp(fx->req.headers[i].name, name) == 0)
			return &fx->req.headers[i];
	return NULL;
}

static const char *
fx_header_value(const struct fx *fx, const char *name)
{
	const struct target_header *h = fx_header(fx, name);

	return h != NULL ? h->value : NULL;
}

/* How many headers of the built request are called name, in any case. */
static size_t
fx_header_count(const struct fx *fx, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < fx->req.nheaders; i++)
		n += strcasecmp(fx->req.headers[i].name, name) == 0;
	return n;
}

static void
fx_payload(struct fx *fx, const char *name, const char *value)
{
	cJSON *p = cJSON_GetObjectItemCaseSensitive(fx->ctx, "payload");

	cJSON_DeleteItemFromObjectCaseSensitive(p, name);
	assert_non_null(cJSON_AddStringToObject(p, name, value));
}

/* The file target's line, parsed; checks it is one line ending in \n. */
static cJSON *
fx_file_line(const struct fx *fx)
{
	const char *b = fx->req.body;
	cJSON *line;

	assert_non_null(b);
	assert_int_equal(strlen(b), fx->req.body_len);
	assert_true(fx->req.body_len > 1);
	assert_int_equal(b[fx->req.body_len - 1], '\n');
	assert_ptr_equal(strchr(b, '\n'), b + fx->req.body_len - 1);
	assert_non_null(line = cJSON_ParseWithLength(b, fx->req.body_len - 1));
	return line;
}

static const char *
fx_str(const cJSON *o, const char *key)
{
	const cJSON *j = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(j) ? j->valuestring : NULL;
}

/* "whsec_" followed by the base64 of n key bytes 1, 2, 3, ... */
static void
fx_whsec(char *out, size_t size, unsigned char *key, size_t n)
{
	size_t i;

	assert_true(size > 6 + 4 * ((n + 2) / 3));
	for (i = 0; i < n; i++)
		key[i] = (unsigned char)(i + 1);
	memcpy(out, "whsec_", 6);
	EVP_EncodeBlock((unsigned char *)out + 6, key, (int)n);
}

/*
 * Checks the Standard Webhooks headers of fx->req against key: webhook-id
 * is the job id, webhook-timestamp lies in [t0, t1], and
 * webhook-signature is "v1," and the base64 HMAC-SHA256 of
 * "id.timestamp.body", computed here.
 */
static void
fx_check_signature(const struct fx *fx, const unsigned char *key, size_t keylen,
		   time_t t0, time_t t1)
{
	const char *id = fx_header_value(fx, "webhook-id");
	const char *ts = fx_header_value(fx, "webhook-timestamp");
	const char *sig = fx_header_value(fx, "webhook-signature");
	unsigned char mac[EVP_MAX_MD_SIZE];
	char want[128], *msg, *end;
	unsigned int maclen = 0;
	long long when;
	size_t n;

	assert_non_null(id);
	assert_non_null(ts);
	assert_non_null(sig);
	assert_string_equal(id, fx->job.id);
	when = strtoll(ts, &end, 10);
	assert_true(*ts != '\0' && *end == '\0');
	assert_true(when >= (long long)t0 && when <= (long long)t1);

	n = strlen(id) + 1 + strlen(ts) + 1 + fx->req.body_len;
	assert_non_null(msg = malloc(n + 1));
	snprintf(msg, n + 1, "%s.%s.%s", id, ts, fx->req.body);
	assert_int_equal(strlen(msg), n);
	assert_non_null(HMAC(EVP_sha256(), key, (int)keylen,
			     (const unsigned char *)msg, n, mac, &maclen));
	free(msg);
	assert_int_equal(maclen, 32);
	memcpy(want, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)want + 3, mac, (int)maclen);
	assert_string_equal(sig, want);
}

/* ---- loading ---- */

static void
test_no_targets_list_loads_none(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(
	    targets_load(NULL, fx->tmp.path, NULL, &fx->ts, &fx->d), 0);
	assert_int_equal(fx->ts.n, 0);
	assert_int_equal(fx->d.len, 0);
	assert_null(targets_find(&fx->ts, "psa"));
}

static void
test_each_target_is_found_by_name(void **state)
{
	struct fx *fx = *state;
	const struct target *t;

	fx_load_ok(fx, "targets = (\n"
		       " { name = \"psa\"; type = \"file\"; path = \"t\"; },\n"
		       " { name = \"teams\"; type = \"webhook\";\n"
		       "   url = \"https://example.com/h\"; }\n"
		       ");\n");
	assert_int_equal(fx->ts.n, 2);
	assert_non_null(t = targets_find(&fx->ts, "psa"));
	assert_string_equal(t->ops->type, "file");
	assert_int_equal(t->line, 2);
	assert_non_null(t = targets_find(&fx->ts, "teams"));
	assert_string_equal(t->ops->type, "webhook");
	assert_int_equal(t->line, 3);
	assert_null(targets_find(&fx->ts, "other"));
}

static void
test_unknown_type_is_an_error(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(
	    fx, "targets = (\n { name = \"x\"; type = \"email\"; }\n);\n", 1);
	expect_error(fx, 2,
		     "targets[0].type: unknown target type \"email\" (known: "
		     "file, webhook, connectwise, autotask)");
}

static void
test_keys_of_another_type_are_unknown(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "targets = (\n"
		      " { name = \"psa\"; type = \"file\"; path = \"t\";\n"
		      "   url = \"https://example.com\"; },\n"
		      " { name = \"hook\"; type = \"webhook\";\n"
		      "   url = \"https://example.com\";\n"
		      "   path = \"t\"; template = \"agent\"; colour = 1; }\n"
		      ");\n",
		      4);
	expect_error(fx, 3, "unknown key \"url\" in targets[0] (type file)");
	expect_error(fx, 6,
		     "unknown key \"path\" in targets[1] (type webhook)");
	expect_error(fx, 6,
		     "unknown key \"template\" in targets[1] (type webhook)");
	expect_error(fx, 6,
		     "unknown key \"colour\" in targets[1] (type webhook)");
}

static void
test_a_duplicate_name_is_an_error(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "targets = (\n"
		      " { name = \"psa\"; type = \"file\"; path = \"a\"; },\n"
		      " { name = \"psa\"; type = \"file\"; path = \"b\"; }\n"
		      ");\n",
		      1);
	expect_error(fx, 3,
		     "targets[1].name: a target \"psa\" is already defined");
}

static void
test_a_bad_name_is_an_error(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "targets = (\n"
		      " { name = \"my psa\"; type = \"file\"; path = \"a\"; }\n"
		      ");\n",
		      1);
	expect_error(fx, 2, "targets[0].name: \"my psa\" must be 1-64");
}

static void
test_missing_required_keys_are_errors(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "targets = (\n"
		      " { name = \"hook\"; type = \"webhook\"; },\n"
		      " { name = \"psa\"; type = \"file\"; },\n"
		      " { type = \"file\"; path = \"a\"; },\n"
		      " { name = \"x\"; path = \"a\"; }\n"
		      ");\n",
		      4);
	expect_error(fx, 2, "targets[0]: missing required key \"url\"");
	expect_error(fx, 3, "targets[1]: missing required key \"path\"");
	expect_error(fx, 4, "targets[2]: missing required key \"name\"");
	expect_error(fx, 5, "targets[3]: missing required key \"type\"");
}

static void
test_webhook_url_scheme_and_method_are_checked(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "targets = (\n"
		      " { name = \"hook\"; type = \"webhook\";\n"
		      "   url = \"ftp://example.com\"; method = \"GET\"; }\n"
		      ");\n",
		      2);
	expect_error(fx, 2, "targets[0].url: must start with https://");
	expect_error(fx, 2,
		     "targets[0].method: \"GET\" is not one of POST, PUT, "
		     "PATCH");
}

static void
test_a_key_of_the_wrong_type_is_an_error(void **state)
{
	struct fx *fx = *state;

	fx_load(fx, "targets = (\n"
		    " { name = \"hook\"; type = \"webhook\";\n"
		    "   url = \"https://example.com\";\n"
		    "   method = 5; body = [ \"card\" ]; }\n"
		    ");\n");
	assert_int_equal(fx->d.nerrors, 2);
	expect_error(fx, 4, "targets[0].method: expected a string");
	expect_error(fx, 4, "targets[0].body: expected a string");
}

static void
test_a_mistyped_optional_key_fails_the_load(void **state)
{
	struct fx *fx = *state;

	/* the loaders go on with the default and only tell the diag */
	fx_load_fails(fx,
		      "targets = (\n"
		      " { name = \"hook\"; type = \"webhook\";\n"
		      "   url = \"https://example.com\"; method = 5; }\n"
		      ");\n",
		      1);
	expect_error(fx, 3, "targets[0].method: expected a string");
	fx_reset(fx);
	fx_load_fails(fx,
		      "targets = (\n"
		      " { name = \"psa\"; type = \"file\"; path = \"t\";\n"
		      "   template = [ \"agent\" ]; }\n"
		      ");\n",
		      1);
	expect_error(fx, 3, "targets[0].template: expected a string");
}

static void
test_targets_must_be_a_list_of_groups(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx, "targets = { name = \"psa\"; };\n", 1);
	expect_error(fx, 1, "targets: expected a list");
	config_destroy(&fx->lc);
	config_init(&fx->lc);
	diag_free(&fx->d);
	diag_init(&fx->d);
	fx_load_fails(fx, "targets = ( \"psa\" );\n", 1);
	expect_error(fx, 1, "targets[0]: expected a group");
}

static void
test_every_load_error_is_reported_at_once(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(
	    fx,
	    "targets = (\n"
	    " { name = \"psa\"; type = \"file\"; path = \"a\"; },\n"
	    " { name = \"psa\"; type = \"file\"; path = \"b\"; },\n"
	    " { name = \"x\"; type = \"email\"; },\n"
	    " { name = \"hook\"; type = \"webhook\"; },\n"
	    " { name = \"h2\"; type = \"webhook\"; url = \"https://e\";\n"
	    "   headers = [ \"bad header\" ]; },\n"
	    " { name = \"h3\"; type = \"webhook\"; url = \"https://e\";\n"
	    "   signing_secret = \"nope\"; method = \"GET\"; }\n"
	    ");\n",
	    6);
}

/* ---- the file target ---- */

#define FILE_TARGET                                                            \
	"targets = (\n"                                                        \
	" { name = \"psa\"; type = \"file\"; path = \"var/tickets.jsonl\";\n"  \
	"   template = \"agent\"; }\n"                                         \
	");\n"

static void
test_file_target_line_holds_the_job_and_the_ticket(void **state)
{
	struct fx *fx = *state;
	const cJSON *ticket;
	char path[PATH_MAX + 32];
	cJSON *line;

	fx_load_ok(fx, FILE_TARGET);
	fx_build_ok(fx, "psa");
	assert_null(fx->req.method);
	assert_int_equal(fx->req.nheaders, 0);
	snprintf(path, sizeof(path), "%s/var/tickets.jsonl", fx->tmp.path);
	assert_string_equal(fx->req.url, path);
	line = fx_file_line(fx);
	assert_string_equal(fx_str(line, "job"), fx->job.id);
	assert_string_equal(fx_str(line, "event"), fx->job.event_id);
	assert_string_equal(fx_str(line, "target"), "psa");
	assert_string_equal(fx_str(line, "rule"), "agent-uninstalled");
	assert_string_equal(fx_str(line, "action"), "create");
	assert_string_equal(fx_str(line, "correlate"), "agent:" AGENT_ID);
	assert_null(cJSON_GetObjectItemCaseSensitive(line, "body"));
	ticket = cJSON_GetObjectItemCaseSensitive(line, "ticket");
	assert_true(cJSON_IsObject(ticket));
	assert_string_equal(fx_str(ticket, "summary"),
			    "Agent removed from WIN10-4");
	assert_string_equal(fx_str(ticket, "priority"), "high");
	/* the description's line breaks stay inside the one line */
	assert_string_equal(fx_str(ticket, "description"),
			    "The agent on WIN10-4 was removed.\n"
			    "Version 1.8.78\n");
	cJSON_Delete(line);
}

static void
test_file_target_puts_a_json_body_under_body(void **state)
{
	struct fx *fx = *state;
	const cJSON *body;
	cJSON *line;

	fx_load_ok(fx, FILE_TARGET);
	fx->job.template = "card";
	fx_build_ok(fx, "psa");
	line = fx_file_line(fx);
	assert_null(cJSON_GetObjectItemCaseSensitive(line, "ticket"));
	body = cJSON_GetObjectItemCaseSensitive(line, "body");
	assert_true(cJSON_IsObject(body));
	assert_string_equal(fx_str(body, "text"), "WIN10-4 said \"a \"b\" c\"");
	cJSON_Delete(line);
}

static void
test_file_target_keeps_a_ticket_member_of_a_json_body_under_body(void **state)
{
	struct fx *fx = *state;
	cJSON *line, *want;

	fx_load_ok(fx, FILE_TARGET);
	fx->job.template = "tagged";
	fx_build_ok(fx, "psa");
	line = fx_file_line(fx);
	/* the template kind decides, not what the document holds */
	assert_null(cJSON_GetObjectItemCaseSensitive(line, "ticket"));
	assert_non_null(want = cJSON_Parse("{\"ticket\":\"T\",\"n\":1}"));
	assert_true(cJSON_Compare(
	    cJSON_GetObjectItemCaseSensitive(line, "body"), want, 1));
	cJSON_Delete(want);
	cJSON_Delete(line);
}

static void
test_file_target_puts_a_text_body_under_body_as_a_string(void **state)
{
	struct fx *fx = *state;
	cJSON *line;

	fx_load_ok(fx, FILE_TARGET);
	fx->job.template = "note";
	fx_build_ok(fx, "psa");
	line = fx_file_line(fx);
	assert_string_equal(fx_str(line, "body"), "Removed: WIN10-4\n");
	assert_null(cJSON_GetObjectItemCaseSensitive(line, "ticket"));
	cJSON_Delete(line);
}

static void
test_file_target_writes_null_for_no_correlate(void **state)
{
	struct fx *fx = *state;
	cJSON *line;

	fx_load_ok(fx, FILE_TARGET);
	fx->job.correlate = NULL;
	fx_build_ok(fx, "psa");
	line = fx_file_line(fx);
	assert_true(
	    cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(line, "correlate")));
	cJSON_Delete(line);
}

static void
test_file_target_keeps_an_absolute_path(void **state)
{
	struct fx *fx = *state;

	fx_load_ok(fx, "targets = (\n"
		       " { name = \"psa\"; type = \"file\";"
		       " path = \"/var/lib/psabridge/t.jsonl\";"
		       " template = \"agent\"; }\n"
		       ");\n");
	fx_build_ok(fx, "psa");
	assert_string_equal(fx->req.url, "/var/lib/psabridge/t.jsonl");
}

static void
test_a_job_without_a_template_fails_the_build(void **state)
{
	struct fx *fx = *state;

	fx_load_ok(fx, "targets = (\n"
		       " { name = \"psa\"; type = \"file\"; path = \"t\"; }\n"
		       ");\n");
	fx_build_fails(fx, "psa", "no template \"(none given)\"");
	fx->job.template = "absent";
	fx_build_fails(fx, "psa", "no template \"absent\"");
}

/* ---- the webhook target ---- */

#define WEBHOOK(extra)                                                         \
	"targets = (\n"                                                        \
	" { name = \"hook\"; type = \"webhook\";\n"                            \
	"   url = \"https://example.com/hooks/x\"; body = \"card\";\n"         \
	"   " extra " }\n"                                                     \
	");\n"

static void
test_webhook_posts_by_default(void **state)
{
	struct fx *fx = *state;

	fx_load_ok(fx, WEBHOOK(""));
	fx_build_ok(fx, "hook");
	assert_string_equal(fx->req.method, "POST");
	assert_string_equal(fx->req.url, "https://example.com/hooks/x");
	assert_string_equal(
	    fx->req.body, "{\"text\": \"WIN10-4 said \\\"a \\\"b\\\" c\\\"\"}");
	assert_int_equal(fx->req.body_len, strlen(fx->req.body));
	/* no signing_secret: no signature */
	assert_null(fx_header(fx, "webhook-signature"));
}

static void
test_webhook_method_can_be_put(void **state)
{
	struct fx *fx = *state;

	fx_load_ok(fx, WEBHOOK("method = \"PUT\";"));
	fx_build_ok(fx, "hook");
	assert_string_equal(fx->req.method, "PUT");
}

static void
test_webhook_content_type_follows_the_template_kind(void **state)
{
	struct fx *fx = *state;
	const cJSON *t;
	cJSON *body;

	fx_load_ok(fx, WEBHOOK(""));
	fx_build_ok(fx, "hook");
	assert_string_equal(fx_header_value(fx, "Content-Type"),
			    "application/json");

	fx->job.template = "note";
	fx_build_ok(fx, "hook");
	assert_string_equal(fx_header_value(fx, "Content-Type"),
			    "text/plain; charset=utf-8");
	assert_string_equal(fx->req.body, "Removed: WIN10-4\n");

	/* a ticket is sent as {"action", "correlate", "ticket"} */
	fx->job.template = "agent";
	fx_build_ok(fx, "hook");
	assert_string_equal(fx_header_value(fx, "Content-Type"),
			    "application/json");
	assert_non_null(body = cJSON_Parse(fx->req.body));
	assert_string_equal(fx_str(body, "action"), "create");
	assert_string_equal(fx_str(body, "correlate"), "agent:" AGENT_ID);
	t = cJSON_GetObjectItemCaseSensitive(body, "ticket");
	assert_string_equal(fx_str(t, "summary"), "Agent removed from WIN10-4");
	cJSON_Delete(body);
}

static void
test_webhook_header_templates_are_rendered(void **state)
{
	struct fx *fx = *state;
	const struct target_header *h;

	fx_load_ok(fx, WEBHOOK("headers = [ \"X-Host:  {{payload.hostname}}\","
			       " \"X-Static: fixed\" ];"));
	fx_build_ok(fx, "hook");
	assert_non_null(h = fx_header(fx, "X-Host"));
	assert_string_equal(h->value, "WIN10-4");
	assert_int_equal(h->secret, 0);
	assert_string_equal(fx_header_value(fx, "X-Static"), "fixed");
}

static void
test_a_header_rendering_a_line_break_fails_the_build(void **state)
{
	static const char *const values[] = {
	    "a\r\nX-Injected: 1",
	    "a\nX-Injected: 1",
	    "a\rb",
	};
	struct fx *fx = *state;
	size_t i;

	fx_load_ok(fx, WEBHOOK("headers = [ \"X-Host: {{payload.hostname}}\","
			       " \"X-Evil: {{payload.evil}}\" ];"));
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		fx_payload(fx, "evil", values[i]);
		fx_build_fails(fx, "hook",
			       "header X-Evil: the rendered value contains a "
			       "line break");
	}
}

static void
test_an_env_header_is_resolved_and_marked_secret(void **state)
{
	struct fx *fx = *state;
	const struct target_header *h;

	assert_int_equal(setenv(TOKEN_ENV, "s3cret-token", 1), 0);
	fx_load_ok(
	    fx, WEBHOOK("headers = [ \"Authorization: env:" TOKEN_ENV "\" ];"));
	/* the environment is read at load, not at build */
	assert_int_equal(setenv(TOKEN_ENV, "changed", 1), 0);
	fx_build_ok(fx, "hook");
	assert_non_null(h = fx_header(fx, "Authorization"));
	assert_string_equal(h->value, "s3cret-token");
	assert_int_equal(h->secret, 1);
	assert_int_equal(fx_header(fx, "Content-Type")->secret, 0);
}

static void
test_an_unset_env_header_is_a_load_error(void **state)
{
	struct fx *fx = *state;

	unsetenv(TOKEN_ENV);
	fx_load_fails(
	    fx, WEBHOOK("headers = [ \"Authorization: env:" TOKEN_ENV "\" ];"),
	    1);
	expect_error(fx, 4,
		     "targets[0].headers[0]: environment variable " TOKEN_ENV
		     " is not set");
}

static void
test_a_secret_header_with_a_line_break_is_a_load_error(void **state)
{
	static const char *const values[] = {
	    "tok\r\nX-Injected: 1",
	    "tok\nX-Injected: 1",
	    "tok\rX-Injected: 1",
	};
	struct fx *fx = *state;
	char cfg[PATH_MAX + 256], setting[PATH_MAX + 64];
	size_t i;

	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		fx_reset(fx);
		assert_int_equal(setenv(TOKEN_ENV, values[i], 1), 0);
		fx_load_fails(
		    fx,
		    WEBHOOK("headers = [ \"Authorization: env:" TOKEN_ENV
			    "\" ];"),
		    1);
		expect_error(
		    fx, 4,
		    "targets[0].headers[0]: the secret contains a line "
		    "break");
	}
	/* a file's one trailing line break is dropped, an inner one is not */
	fx_reset(fx);
	snprintf(setting, sizeof(setting),
		 "headers = [ \"Authorization: %s\" ];",
		 fx_token_file(fx, "tok\nX-Injected: 1\n", 0600));
	snprintf(cfg, sizeof(cfg), WEBHOOK("%s"), setting);
	fx_load_fails(fx, cfg, 1);
	expect_error(fx, 4,
		     "targets[0].headers[0]: the secret contains a line break");
}

static void
test_a_readable_secret_file_header_draws_a_warning(void **state)
{
	struct fx *fx = *state;
	char cfg[PATH_MAX + 256], setting[PATH_MAX + 64];

	snprintf(setting, sizeof(setting),
		 "headers = [ \"Authorization: %s\" ];",
		 fx_token_file(fx, "tok\n", 0644));
	snprintf(cfg, sizeof(cfg), WEBHOOK("%s"), setting);
	fx_load_ok(fx, cfg);
	assert_int_equal(fx->d.nwarnings, 1);
	expect_warning(fx, 4, "targets[0].headers[0]: secret file \"");
	fx_build_ok(fx, "hook");
	assert_string_equal(fx_header_value(fx, "Authorization"), "tok");
}

static void
test_a_secret_file_header_is_relative_to_the_config_folder(void **state)
{
	struct fx *fx = *state;
	char cfg[PATH_MAX + 256];

	fx_token_file(fx, "rel-tok\n", 0600); /* dir/token, beside the cfg */
	snprintf(cfg, sizeof(cfg), WEBHOOK("%s"),
		 "headers = [ \"Authorization: file:token\" ];");
	fx_load_ok(fx, cfg);
	fx_build_ok(fx, "hook");
	assert_string_equal(fx_header_value(fx, "Authorization"), "rel-tok");
}

static void
test_a_default_template_that_does_not_exist_is_a_load_error(void **state)
{
	struct fx *fx = *state;
	char cfg[PATH_MAX + 256];

	snprintf(cfg, sizeof(cfg), "%s",
		 "targets = ( { name = \"hook\"; type = \"webhook\";\n"
		 "  url = \"https://example.com/x\"; body = \"nope\"; } );\n");
	fx_load_fails(fx, cfg, 1);
	assert_non_null(strstr(fx->d.entries[0].text,
			       "targets[0].body: no template \"nope\""));
}

static void
test_every_bad_delivery_setting_is_reported_at_once(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      "targets = ( { name = \"w\"; type = \"webhook\";\n"
		      "  url = \"https://bad host/x\"; rate = \"10/\";\n"
		      "  max_in_flight = 0; connect_timeout = \"x\";\n"
		      "  retry = { first = \"q\"; max = \"1s\"; }; } );\n",
		      5);
}

static void
test_rates_that_are_not_numbers_are_refused(void **state)
{
	struct fx *fx = *state;
	static const char *const bad[] = {"nan/s", "inf/s", " 1e3/h", "10/",
					  "10/x",  "0/s",   "-1/s",   "5/ss"};
	char cfg[256];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(cfg, sizeof(cfg),
			 "targets = ( { name = \"f\"; type = \"file\"; "
			 "path = \"x\"; rate = \"%s\"; } );\n",
			 bad[i]);
		fx_load_fails(fx, cfg, 1);
		fx_reset(fx);
	}
	fx_load_ok(fx, "targets = ( { name = \"f\"; type = \"file\"; "
		       "path = \"x\"; rate = \"10000/h\"; } );\n");
	assert_true(fx->ts.list[0].dl.rate_per_s > 2.7 &&
		    fx->ts.list[0].dl.rate_per_s < 2.8);
}

static void
test_a_configured_content_type_replaces_the_automatic_one(void **state)
{
	static const char *const names[] = {"Content-Type", "content-type"};
	struct fx *fx = *state;
	char cfg[512], setting[128];
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		fx_reset(fx);
		snprintf(setting, sizeof(setting),
			 "headers = [ \"%s: application/cloudevents+json\" ];",
			 names[i]);
		snprintf(cfg, sizeof(cfg), WEBHOOK("%s"), setting);
		fx_load_ok(fx, cfg);
		fx_build_ok(fx, "hook");
		assert_int_equal(fx_header_count(fx, "Content-Type"), 1);
		assert_string_equal(fx_header_value(fx, names[i]),
				    "application/cloudevents+json");
	}
}

static void
test_header_and_signing_secret_errors_are_reported_together(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      WEBHOOK("headers = [ \"NoColon\" ];\n"
			      "   signing_secret = \"nope\";"),
		      2);
	expect_error(fx, 4,
		     "targets[0].headers[0]: expected a string \"Name: "
		     "value\"");
	expect_error(fx, 5, "targets[0].signing_secret: expected \"whsec_\"");
}

static void
test_malformed_headers_are_load_errors(void **state)
{
	struct fx *fx = *state;

	fx_load_fails(fx,
		      WEBHOOK("headers = [ \"NoColon\", \"Bad Name: x\","
			      " \"X-Ok: ok\", \"X-T: ab {{#open}}\" ];"),
		      3);
	expect_error(fx, 4,
		     "targets[0].headers[0]: expected a string \"Name: "
		     "value\"");
	expect_error(fx, 4,
		     "targets[0].headers[1]: expected a string \"Name: "
		     "value\"");
	/* column 9 of "X-T: ab {{#open}}" */
	expect_error(fx, 4,
		     "targets[0].headers[3]: column 9: unclosed section");
}

static void
test_webhook_signature_verifies_with_hmac_sha256(void **state)
{
	struct fx *fx = *state;
	unsigned char key[24];
	char secret[64], cfg[512], setting[128];
	time_t t0, t1;

	fx_whsec(secret, sizeof(secret), key, sizeof(key));
	snprintf(setting, sizeof(setting), "signing_secret = \"%s\";", secret);
	snprintf(cfg, sizeof(cfg), WEBHOOK("%s"), setting);
	fx_load_ok(fx, cfg);
	t0 = time(NULL);
	fx_build_ok(fx, "hook");
	t1 = time(NULL);
	fx_check_signature(fx, key, sizeof(key), t0, t1);
	assert_int_equal(fx_header(fx, "webhook-signature")->secret, 0);

	/* another body, another signature: still the body that is sent */
	fx->job.template = "note";
	fx->job.id = "another-job";
	t0 = time(NULL);
	fx_build_ok(fx, "hook");
	t1 = time(NULL);
	fx_check_signature(fx, key, sizeof(key), t0, t1);
}

static void
test_signing_keys_with_base64_padding_decode_whole(void **state)
{
	static const size_t sizes[] = {16, 17, 64};
	struct fx *fx = *state;
	unsigned char key[64];
	char secret[128];
	time_t t0, t1;
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		targets_clear(&fx->ts);
		config_destroy(&fx->lc);
		config_init(&fx->lc);
		fx_whsec(secret, sizeof(secret), key, sizes[i]);
		assert_int_equal(setenv(TOKEN_ENV, secret, 1), 0);
		fx_load_ok(fx,
			   WEBHOOK("signing_secret = \"env:" TOKEN_ENV "\";"));
		t0 = time(NULL);
		fx_build_ok(fx, "hook");
		t1 = time(NULL);
		fx_check_signature(fx, key, sizes[i], t0, t1);
	}
}

static void
test_a_bad_signing_secret_is_a_load_error(void **state)
{
	static const struct {
		const char *secret; /* NULL: whsec_ of keylen bytes */
		size_t keylen;
		const char *error;
	} cases[] = {
	    {"c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", 0, "expected \"whsec_\""},
	    {"whsec_!!!!c2VjcmV0c2VjcmV0c2VjcmV0", 0, "expected \"whsec_\""},
	    {"whsec_c2VjcmV0c2VjcmV0c2VjcmV0c2Vjc", 0, "expected \"whsec_\""},
	    {"whsec_", 0, "the key must be 16 to 64 bytes"},
	    {NULL, 8, "the key must be 16 to 64 bytes"},
	    {NULL, 15, "the key must be 16 to 64 bytes"},
	    {NULL, 65, "the key must be 16 to 64 bytes"},
	};
	struct fx *fx = *state;
	char cfg[1024], setting[256], want[256], secret[128];
	unsigned char key[65];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		config_destroy(&fx->lc);
		config_init(&fx->lc);
		diag_free(&fx->d);
		diag_init(&fx->d);
		if (cases[i].secret != NULL)
			snprintf(secret, sizeof(secret), "%s", cases[i].secret);
		else
			fx_whsec(secret, sizeof(secret), key, cases[i].keylen);
		snprintf(setting, sizeof(setting), "signing_secret = \"%s\";",
			 secret);
		snprintf(cfg, sizeof(cfg), WEBHOOK("%s"), setting);
		fx_load_fails(fx, cfg, 1);
		snprintf(want, sizeof(want), "targets[0].signing_secret: %s",
			 cases[i].error);
		expect_error(fx, 4, want);
	}
}

static void
test_a_json_template_rendering_invalid_json_fails_the_build(void **state)
{
	struct fx *fx = *state;

	fx_load_ok(fx, WEBHOOK(""));
	fx->job.template = "raw";
	fx_payload(fx, "raw", "plain");
	fx_build_ok(fx, "hook");
	assert_string_equal(fx->req.body, "{\"a\": \"plain\"}");

	fx_payload(fx, "raw", "x\", \"b");
	fx_build_fails(fx, "hook", "the rendered body is not valid JSON");
	/* a valid document followed by more text is not valid JSON either */
	fx_payload(fx, "raw", "x\"} {\"b\": \"y");
	fx_build_fails(fx, "hook", "the rendered body is not valid JSON");
}

static void
test_a_mustache_render_error_names_the_template_file(void **state)
{
	struct fx *fx = *state;
	size_t n = 2 * 1024 * 1024;
	char want[PATH_MAX + 64], *big;

	fx_load_ok(fx, WEBHOOK(""));
	fx->job.template = "raw";
	/* over the body's maximum (1 MiB): refused, never cut */
	assert_non_null(big = malloc(n + 1));
	memset(big, 'a', n);
	big[n] = '\0';
	fx_payload(fx, "raw", big);
	free(big);
	snprintf(want, sizeof(want),
		 "%s/templates/raw.json.mustache:", fx->tmp.path);
	fx_build_fails(fx, "hook", want);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_no_targets_list_loads_none),
	    T(test_each_target_is_found_by_name),
	    T(test_unknown_type_is_an_error),
	    T(test_keys_of_another_type_are_unknown),
	    T(test_a_duplicate_name_is_an_error),
	    T(test_a_bad_name_is_an_error),
	    T(test_missing_required_keys_are_errors),
	    T(test_webhook_url_scheme_and_method_are_checked),
	    T(test_a_key_of_the_wrong_type_is_an_error),
	    T(test_a_mistyped_optional_key_fails_the_load),
	    T(test_targets_must_be_a_list_of_groups),
	    T(test_every_load_error_is_reported_at_once),
	    T(test_file_target_line_holds_the_job_and_the_ticket),
	    T(test_file_target_puts_a_json_body_under_body),
	    T(test_file_target_keeps_a_ticket_member_of_a_json_body_under_body),
	    T(test_file_target_puts_a_text_body_under_body_as_a_string),
	    T(test_file_target_writes_null_for_no_correlate),
	    T(test_file_target_keeps_an_absolute_path),
	    T(test_a_job_without_a_template_fails_the_build),
	    T(test_webhook_posts_by_default),
	    T(test_webhook_method_can_be_put),
	    T(test_webhook_content_type_follows_the_template_kind),
	    T(test_webhook_header_templates_are_rendered),
	    T(test_a_header_rendering_a_line_break_fails_the_build),
	    T(test_an_env_header_is_resolved_and_marked_secret),
	    T(test_an_unset_env_header_is_a_load_error),
	    T(test_a_secret_header_with_a_line_break_is_a_load_error),
	    T(test_a_readable_secret_file_header_draws_a_warning),
	    T(test_a_configured_content_type_replaces_the_automatic_one),
	    T(test_every_bad_delivery_setting_is_reported_at_once),
	    T(test_rates_that_are_not_numbers_are_refused),
	    T(test_a_secret_file_header_is_relative_to_the_config_folder),
	    T(test_a_default_template_that_does_not_exist_is_a_load_error),
	    T(test_header_and_signing_secret_errors_are_reported_together),
	    T(test_malformed_headers_are_load_errors),
	    T(test_webhook_signature_verifies_with_hmac_sha256),
	    T(test_signing_keys_with_base64_padding_decode_whole),
	    T(test_a_bad_signing_secret_is_a_load_error),
	    T(test_a_json_template_rendering_invalid_json_fails_the_build),
	    T(test_a_mustache_render_error_names_the_template_file),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
