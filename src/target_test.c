/*
 * psabridge test-target: the "send test ticket" button of RMM tools.
 * Creates one clearly labelled ticket on a PSA target for one customer,
 * then closes it, printing every request and answer; --dry-run prints
 * the requests only.  Runs the same exchange code as delivery, with its
 * own event loop, outside the daemon and without the store.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "psabridge/config.h"
#include "psabridge/customers.h"
#include "psabridge/diag.h"
#include "psabridge/httpc.h"
#include "psabridge/router.h"
#include "psabridge/store.h"
#include "psabridge/target.h"
#include "psabridge/ticket.h"

#define TARGET_TEST_STEPS 16

static const char target_test_usage[] =
    "usage: psabridge test-target -c FILE [--dry-run] [--customer ID] NAME\n"
    "\n"
    "Creates one test ticket on the connectwise or autotask target NAME,\n"
    "then closes it, and prints every request (secrets as ***) and every\n"
    "answer.  The ticket goes to the customer ID of the customer table\n"
    "(default: its first row with a company for this PSA).\n"
    "\n"
    "  -c, --config FILE   configuration file\n"
    "  -n, --dry-run       print the requests, send nothing\n"
    "  -u, --customer ID   the customer (DefensX customer_id) to use\n"
    "\n"
    "Exit status: 0 the ticket was created and closed, 1 it was not.\n";

struct target_test_opts {
	const char *config, *customer, *name;
	int dry;
};

/* One exchange driven to its end on a private loop. */
struct target_test_run {
	struct event_base *base;
	struct httpc *httpc;
	const struct target *t;
	int answered;
	int status;
	char *body;
	size_t body_len;
	char error[256];
};

static int
target_test_options(int argc, char **argv, struct target_test_opts *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"dry-run", no_argument, NULL, 'n'},
	    {"customer", required_argument, NULL, 'u'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:nu:h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(target_test_usage, stdout);
			return 1;
		}
		if (ch == 'c')
			o->config = optarg;
		else if (ch == 'n')
			o->dry = 1;
		else if (ch == 'u')
			o->customer = optarg;
		else
			goto bad;
	}
	if (o->config == NULL || optind != argc - 1)
		goto bad;
	o->name = argv[optind];
	return 0;
bad:
	fputs(target_test_usage, stderr);
	return -1;
}

/* The customer row to open the ticket for; NULL with a message printed. */
static const cJSON *
target_test_customer(const struct router *r, const struct target *t,
		     const char *id)
{
	const struct customers *c = router_customers(r);
	const char *col = t->ops->customer_column;
	const cJSON *row;
	size_t i;

	if (c == NULL) {
		fprintf(stderr, "psabridge: the configuration has no customer "
				"table: the test ticket needs a company\n");
		return NULL;
	}
	for (i = 0; id == NULL && i < customers_count(c); i++) {
		row = customers_row(c, i);
		if (cJSON_GetStringValue(cJSON_GetObjectItem(row, col)) &&
		    cJSON_GetStringValue(cJSON_GetObjectItem(row, col))[0])
			return row;
	}
	if (id == NULL) {
		fprintf(stderr, "psabridge: no customer in %s has a %s\n",
			customers_file(c), col);
		return NULL;
	}
	row = customers_find(c, id);
	if (row == NULL ||
	    cJSON_GetStringValue(cJSON_GetObjectItem(row, "customer_id")) ==
		NULL ||
	    strcmp(
		cJSON_GetStringValue(cJSON_GetObjectItem(row, "customer_id")),
		id) != 0) {
		fprintf(stderr, "psabridge: no customer \"%s\" in %s\n", id,
			customers_file(c));
		return NULL;
	}
	return row;
}

/* The render context: the customer, and a payload naming it. */
static cJSON *
target_test_context(const cJSON *row, const char *when)
{
	cJSON *ctx = cJSON_CreateObject(), *payload;

	payload = cJSON_AddObjectToObject(ctx, "payload");
	cJSON_AddStringToObject(
	    payload, "customer_id",
	    cJSON_GetStringValue(cJSON_GetObjectItem(row, "customer_id")));
	cJSON_AddItemReferenceToObject(ctx, "customer", (cJSON *)row);
	cJSON_AddStringToObject(ctx, "time_iso", when);
	return ctx;
}

static int
target_test_ticket(struct ticket *tk, const char *name, const char *when)
{
	char host[256] = "this server", text[1024];

	gethostname(host, sizeof(host) - 1);
	snprintf(text, sizeof(text),
		 "psabridge test ticket: safe to ignore, closed by itself");
	tk->field[TICKET_SUMMARY] = strdup(text);
	tk->field[TICKET_PRIORITY] = strdup("normal");
	snprintf(text, sizeof(text),
		 "This ticket was opened by \"psabridge test-target %s\" on "
		 "%s at %s to check that psabridge can create, note and "
		 "close tickets with these credentials.  psabridge closes it "
		 "right away; nothing needs doing.\n",
		 name, host, when);
	tk->description = strdup(text);
	return tk->field[0] && tk->field[1] && tk->description ? 0 : -1;
}

static void
target_test_print(const struct target_request *req, void *arg)
{
	(void)arg;
	target_request_print(stdout, req);
	putchar('\n');
}

static void
target_test_answer(const struct httpc_response *resp, void *arg)
{
	struct target_test_run *run = arg;

	run->answered = 1;
	run->status = resp->status;
	snprintf(run->error, sizeof(run->error), "%s",
		 resp->error ? resp->error : "");
	run->body =
	    resp->body_len > 0 ? strndup(resp->body, resp->body_len) : NULL;
	run->body_len = run->body ? resp->body_len : 0;
}

/* Sends req and waits for its answer. */
static void
target_test_send(struct target_test_run *run, const struct target_request *req)
{
	free(run->body);
	run->body = NULL;
	run->answered = 0;
	if (target_send(run->httpc, req, &run->t->dl, target_test_answer,
			run) == -1) {
		run->answered = 1;
		run->status = 0;
		snprintf(run->error, sizeof(run->error),
			 "the request could not be started");
		return;
	}
	while (!run->answered)
		event_base_loop(run->base, EVLOOP_ONCE);
}

/* Runs job's exchange for real; 0 with the ticket id, or -1. */
static int
target_test_exchange(struct target_test_run *run, const struct target_job *job,
		     char *ticket, size_t ticketlen)
{
	const struct target_exchange_ops *x = run->t->ops->exchange;
	const struct target_response *last = NULL;
	struct target_response resp;
	struct target_result res;
	struct target_request req;
	enum target_step step = TARGET_STEP_FAIL;
	void *ex = x->start(run->t, job);
	int i;

	memset(&res, 0, sizeof(res));
	for (i = 0; ex != NULL && i < TARGET_TEST_STEPS; i++) {
		memset(&req, 0, sizeof(req));
		if ((step = x->step(ex, last, &req, &res)) != TARGET_STEP_SEND)
			break;
		target_request_print(stdout, &req);
		target_test_send(run, &req);
		target_request_clear(&req);
		printf("  -> %d%s%s\n  %.*s\n\n", run->status,
		       run->error[0] ? " " : "", run->error,
		       (int)(run->body_len > 2000 ? 2000 : run->body_len),
		       run->body ? run->body : "");
		memset(&resp, 0, sizeof(resp));
		resp.status = run->status;
		resp.body = run->body ? run->body : "";
		resp.body_len = run->body_len;
		resp.error = run->error[0] ? run->error : NULL;
		last = &resp;
	}
	if (ex != NULL)
		x->end(ex);
	if (step != TARGET_STEP_DONE) {
		fprintf(stderr, "psabridge: %s\n",
			ex == NULL ? "out of memory" : res.error);
		return -1;
	}
	printf("%s\n", res.did);
	snprintf(ticket, ticketlen, "%s", res.ticket_id);
	return 0;
}

/* The whole test: create, then close the ticket created. */
static int
target_test_run(const struct target *t, const struct target_job *create,
		int dry)
{
	struct target_job close = *create;
	struct target_test_run run = {.t = t};
	char ticket[64] = "", err[512];
	int rc = -1;

	close.action = "close";
	if (dry) {
		printf("# create the test ticket\n");
		if (target_dry_run(t, create, target_test_print, NULL, err,
				   sizeof(err)) == -1)
			goto fail;
		printf("# %s\n# then close it\n", err);
		close.ticket_id = "NEW";
		if (target_dry_run(t, &close, target_test_print, NULL, err,
				   sizeof(err)) == -1)
			goto fail;
		printf("# %s\ndry run: nothing was sent\n", err);
		return 0;
	}
	if ((run.base = event_base_new()) == NULL ||
	    (run.httpc = httpc_new(run.base, err, sizeof(err))) == NULL) {
		fprintf(stderr, "psabridge: %s\n",
			run.base ? err : "cannot make an event loop");
		goto out;
	}
	printf("# create the test ticket\n");
	if (target_test_exchange(&run, create, ticket, sizeof(ticket)) == -1)
		goto out;
	close.ticket_id = ticket;
	printf("# close ticket %s\n", ticket);
	if (target_test_exchange(&run, &close, ticket, sizeof(ticket)) == -1)
		goto out;
	printf("test ticket %s created and closed on target %s\n", ticket,
	       t->name);
	rc = 0;
out:
	httpc_free(run.httpc);
	if (run.base != NULL)
		event_base_free(run.base);
	free(run.body);
	return rc;
fail:
	fprintf(stderr, "psabridge: %s\n", err);
	return -1;
}

int
target_test_main(int argc, char **argv)
{
	struct target_test_opts o = {0};
	struct target_job job = {0};
	struct config *cfg = NULL;
	struct router *r = NULL;
	const struct target *t;
	const cJSON *row;
	struct ticket tk = {0};
	cJSON *ctx = NULL;
	char when[32], key[64];
	time_t now = time(NULL);
	struct diag d;
	int rc;

	if ((rc = target_test_options(argc, argv, &o)))
		return rc == 1 ? 0 : 2;
	diag_init(&d);
	rc = config_load(o.config, &cfg, &d) == 0 &&
		     (r = router_from_config(cfg, &d)) != NULL
		 ? 0
		 : -1;
	diag_print(&d, stderr);
	diag_free(&d);
	if (rc == -1)
		goto out;
	rc = -1;
	if ((t = targets_find(&cfg->targets, o.name)) == NULL ||
	    t->ops->exchange == NULL) {
		fprintf(stderr,
			"psabridge: %s: no connectwise or autotask target "
			"\"%s\"%s\n",
			o.config, o.name,
			t ? " (render shows what a webhook or file target "
			    "gets)"
			  : "");
		goto out;
	}
	if ((row = target_test_customer(r, t, o.customer)) == NULL)
		goto out;
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
	snprintf(key, sizeof(key), "psabridge-test:%lld", (long long)now);
	if ((ctx = target_test_context(row, when)) == NULL ||
	    target_test_ticket(&tk, o.name, when) == -1) {
		fprintf(stderr, "psabridge: out of memory\n");
		goto out;
	}
	job.action = "create";
	job.correlate = key;
	job.flags = STORE_JOB_NO_DEDUP;
	job.ctx = ctx;
	job.when = when;
	job.ticket = &tk;
	rc = target_test_run(t, &job, o.dry);
out:
	ticket_clear(&tk);
	cJSON_Delete(ctx);
	router_unref(r);
	config_free(cfg);
	return rc == 0 ? 0 : 1;
}
