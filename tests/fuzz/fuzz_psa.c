/*
 * libFuzzer target: PSA answers.  The input is what ConnectWise or
 * Autotask answers to each request of an exchange (zone, picklists,
 * lookup, create, note, close): its first byte picks the vendor, the
 * action and the statuses, the rest is every answer's body.  Every reader
 * of a PSA's bytes runs on it: ids, lists, error bodies, picklists, zones.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <libconfig.h>

#include "psabridge/diag.h"
#include "psabridge/target.h"
#include "psabridge/ticket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char fuzz_psa_config[] =
    "targets = (\n"
    " { name = \"cw\"; type = \"connectwise\"; site = \"http://cw.invalid\";"
    "   company_id = \"acme\"; public_key = \"p\"; private_key = \"k\";"
    "   client_id = \"c\"; board = \"B\"; },\n"
    " { name = \"at\"; type = \"autotask\"; username = \"u\"; secret = \"s\";"
    "   integration_code = \"i\"; discovery_url = \"http://at.invalid/\";"
    "   queue = \"Monitoring Alert\"; new_status = \"New\"; }\n"
    ");\n";

static const int fuzz_psa_statuses[4] = {200, 201, 404, 500};

/* Runs one exchange, every answer body the input's. */
static void
fuzz_psa_run(const struct target *t, const struct target_job *job, uint8_t sel,
	     const char *body, size_t len)
{
	const struct target_exchange_ops *x = t->ops->exchange;
	struct target_response r = {.body = body, .body_len = len};
	struct target_request req;
	struct target_result res;
	void *ex = x->start(t, job);
	int i;

	for (i = 0; ex != NULL && i < 12; i++) {
		memset(&req, 0, sizeof(req));
		r.status = fuzz_psa_statuses[(sel >> (i % 4 * 2)) & 3];
		if (x->step(ex, i == 0 ? NULL : &r, &req, &res) !=
		    TARGET_STEP_SEND) {
			target_request_clear(&req);
			break;
		}
		target_request_clear(&req);
	}
	if (ex != NULL)
		x->end(ex);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const actions[] = {"create", "note", "close",
					      "create"};
	struct ticket tk = {0};
	struct target_job job = {0};
	struct targets ts;
	struct diag d;
	config_t lc;
	cJSON *ctx;
	char *body;

	if (size < 2 || (body = malloc(size)) == NULL)
		return 0;
	memcpy(body, data + 2, size - 2);
	body[size - 2] = '\0';
	config_init(&lc);
	diag_init(&d);
	ctx = cJSON_Parse("{\"customer\":{\"connectwise_company\":\"C\","
			  "\"autotask_company_id\":\"7\"}}");
	tk.field[TICKET_SUMMARY] = strdup("s");
	tk.field[TICKET_PRIORITY] = strdup("high");
	job.action = actions[data[0] & 3];
	job.correlate = "agent:1";
	job.ticket_id = data[0] & 4 ? "17" : NULL;
	job.ctx = ctx;
	job.ticket = &tk;
	if (config_read_string(&lc, fuzz_psa_config) == CONFIG_TRUE &&
	    targets_load(config_lookup(&lc, "targets"), ".", NULL, &ts, &d) ==
		0) {
		fuzz_psa_run(&ts.list[(data[0] >> 3) & 1], &job, data[1], body,
			     size - 2);
		targets_clear(&ts);
	}
	ticket_clear(&tk);
	cJSON_Delete(ctx);
	diag_free(&d);
	config_destroy(&lc);
	free(body);
	return 0;
}
