/*
 * Routing: context, rules, customer policy, jobs.  Runs on the commit
 * thread, once per new event, inside the batch's transaction.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "psabridge/config.h"
#include "psabridge/log.h"
#include "psabridge/router.h"

#define ROUTER_CORRELATE_MAX	    1024
#define ROUTER_CORRELATE_RENDER_MAX (1024 * 1024)

struct router {
	atomic_int refs;
	struct rules *rules;
	struct customers *customers;
	struct templates *templates;
	struct mustache ***correlate; /* [rule][action], NULL when none */
};

const char *
router_action_name(enum rules_kind kind)
{
	switch (kind) {
	case RULES_CREATE:
		return "create";
	case RULES_NOTE:
		return "note";
	case RULES_CLOSE:
		return "close";
	case RULES_NOTIFY:
		return "notify";
	}
	return "?";
}

static void
router_free(struct router *r)
{
	size_t i, j;

	if (r->correlate != NULL && r->rules != NULL) {
		for (i = 0; i < r->rules->nrules; i++) {
			if (r->correlate[i] == NULL)
				continue;
			for (j = 0; j < r->rules->rules[i].nactions; j++)
				mustache_free(r->correlate[i][j]);
			free(r->correlate[i]);
		}
	}
	free(r->correlate);
	rules_free(r->rules);
	customers_free(r->customers);
	templates_free(r->templates);
	free(r);
}

static int
router_compile_correlates(struct router *r, const char *cfgfile, struct diag *d)
{
	const struct rules *rs = r->rules;
	struct mustache_error err;
	size_t i, j;
	int ret = 0;

	if ((r->correlate = calloc(rs->nrules + 1, sizeof(*r->correlate))) ==
	    NULL)
		return -1;
	for (i = 0; i < rs->nrules; i++) {
		const struct rules_rule *rule = &rs->rules[i];

		r->correlate[i] =
		    calloc(rule->nactions + 1, sizeof(**r->correlate));
		if (r->correlate[i] == NULL)
			return -1;
		for (j = 0; j < rule->nactions; j++) {
			const char *src = rule->actions[j].correlate;

			if (src == NULL)
				continue;
			if (mustache_compile(src, strlen(src), NULL, NULL,
					     &r->correlate[i][j], &err) == -1) {
				diag_error(
				    d, cfgfile, rule->actions[j].line,
				    "rules[%zu].actions[%zu].correlate: column "
				    "%d: %s",
				    i, j, err.column, err.message);
				ret = -1;
			}
		}
	}
	return ret;
}

struct router *
router_new(struct rules *rules, struct customers *customers,
	   struct templates *templates, const char *cfgfile, struct diag *d)
{
	struct router *r;

	if ((r = calloc(1, sizeof(*r))) == NULL) {
		rules_free(rules);
		customers_free(customers);
		templates_free(templates);
		diag_error(d, cfgfile, 0, "out of memory");
		return NULL;
	}
	atomic_init(&r->refs, 1);
	r->rules = rules;
	r->customers = customers;
	r->templates = templates;
	if (rules != NULL && router_compile_correlates(r, cfgfile, d) == -1) {
		if (d->nerrors == 0)
			diag_error(d, cfgfile, 0, "out of memory");
		router_free(r);
		return NULL;
	}
	return r;
}

struct router *
router_from_config(struct config *cfg, struct diag *d)
{
	struct router *r = router_new(cfg->rules, cfg->customers,
				      cfg->templates, cfg->file, d);

	cfg->rules = NULL;
	cfg->customers = NULL;
	cfg->templates = NULL;
	return r;
}

struct router *
router_ref(struct router *r)
{
	atomic_fetch_add(&r->refs, 1);
	return r;
}

void
router_unref(struct router *r)
{
	if (r != NULL && atomic_fetch_sub(&r->refs, 1) == 1)
		router_free(r);
}

const struct rules *
router_rules(const struct router *r)
{
	return r->rules;
}

const struct customers *
router_customers(const struct router *r)
{
	return r->customers;
}

const struct templates *
router_templates(const struct router *r)
{
	return r->templates;
}

static int
router_add_time(cJSON *ctx, const char *key, int64_t ms, int with_ms)
{
	char buf[40];
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	size_t n;

	if (gmtime_r(&secs, &tm) == NULL)
		return cJSON_AddStringToObject(ctx, key, "") ? 0 : -1;
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	if (with_ms)
		snprintf(buf + n, sizeof(buf) - n, ".%03dZ",
			 (int)(ms % 1000 + 1000) % 1000);
	else
		snprintf(buf + n, sizeof(buf) - n, "Z");
	return cJSON_AddStringToObject(ctx, key, buf) ? 0 : -1;
}

/*
 * The keys psabridge adds to every event replace any the vendor sent under
 * the same name, so a template's {{source}} or {{customer.name}} is always
 * psabridge's own.
 */
static void
router_strip_own(cJSON *ctx)
{
	static const char *const own[] = {"source", "time_iso", "received_at",
					  "customer", "rule"};
	size_t i;

	for (i = 0; i < sizeof(own) / sizeof(own[0]); i++)
		while (cJSON_GetObjectItemCaseSensitive(ctx, own[i]) != NULL)
			cJSON_DeleteItemFromObjectCaseSensitive(ctx, own[i]);
}

cJSON *
router_context(const struct router *r, cJSON *event, const char *source,
	       int64_t received_ms, int *mapped)
{
	const cJSON *row = NULL, *time;
	cJSON *ctx = event;
	char id[256];

	*mapped = 0;
	if (ctx == NULL || !cJSON_IsObject(ctx))
		goto fail;
	time = cJSON_GetObjectItemCaseSensitive(ctx, "time");
	rules_value(ctx, "payload.customer_id", id, sizeof(id));
	if (r->customers != NULL && id[0] != '\0')
		row = customers_find(r->customers, id);
	*mapped = row != NULL;
	router_strip_own(ctx);
	if (cJSON_AddStringToObject(ctx, "source", source) == NULL ||
	    router_add_time(
		ctx, "time_iso",
		(int64_t)(cJSON_IsNumber(time) ? time->valuedouble : 0) * 1000,
		0) == -1 ||
	    router_add_time(ctx, "received_at", received_ms, 1) == -1)
		goto fail;
	if (row != NULL
		? !cJSON_AddItemReferenceToObject(ctx, "customer", (cJSON *)row)
		: cJSON_AddObjectToObject(ctx, "customer") == NULL)
		goto fail;
	return ctx;
fail:
	cJSON_Delete(ctx);
	return NULL;
}

struct router_walk {
	const struct router *r;
	const cJSON *ctx;
	struct router_result *res;
	const char *customer_id;
	int held;
	int failed;
};

static char *
router_own(struct router_result *res, char *s)
{
	char **p;

	if (s == NULL)
		return NULL;
	if ((p = realloc(res->owned, (res->nowned + 1) * sizeof(*p))) == NULL) {
		free(s);
		return NULL;
	}
	res->owned = p;
	res->owned[res->nowned++] = s;
	return s;
}

static struct mustache *
router_correlate_of(const struct router *r, const struct rules_rule *rule,
		    const struct rules_action *a)
{
	size_t i = (size_t)(rule - r->rules->rules);
	size_t j = (size_t)(a - rule->actions);

	return r->correlate[i][j];
}

/*
 * A correlation key longer than ROUTER_CORRELATE_MAX is cut there, on a
 * UTF-8 character boundary: a vendor's long value still groups its events,
 * and never costs the event its actions.
 */
static char *
router_cut(char *key, size_t len)
{
	size_t n = ROUTER_CORRELATE_MAX;

	if (key == NULL || len <= n)
		return key;
	while (n > 0 && ((unsigned char)key[n] & 0xc0) == 0x80)
		n--;
	key[n] = '\0';
	return key;
}

static void
router_add_job(const struct rules_rule *rule, const struct rules_action *a,
	       void *arg)
{
	struct router_walk *w = arg;
	struct router_result *res = w->res;
	struct mustache *corr = router_correlate_of(w->r, rule, a);
	struct mustache_error err = {0, 0, "out of memory"};
	struct store_job *job, *p;
	char *key = NULL;
	size_t len;

	if (w->failed)
		return;
	if (corr != NULL && (mustache_render(corr, w->ctx, MUSTACHE_ESCAPE_NONE,
					     ROUTER_CORRELATE_RENDER_MAX, &key,
					     &len, &err) == -1 ||
			     router_own(res, router_cut(key, len)) == NULL)) {
		log_error("msg=\"correlate failed\" rule=%s error=\"%s\"",
			  rule->name, err.message);
		w->failed = 1;
		return;
	}
	if ((p = realloc(res->jobs, (res->njobs + 1) * sizeof(*p))) == NULL) {
		w->failed = 1;
		return;
	}
	res->jobs = p;
	job = &res->jobs[res->njobs++];
	memset(job, 0, sizeof(*job));
	job->rule = rule->name;
	job->target = a->target;
	job->action = router_action_name(a->kind);
	job->template = a->template;
	job->correlate = key;
	job->customer_id = w->customer_id;
	job->held = w->held;
	if (a->kind == RULES_CREATE && !a->dedup)
		job->flags |= STORE_JOB_NO_DEDUP;
	if (a->if_missing == RULES_IF_MISSING_CREATE)
		job->flags |= STORE_JOB_CREATE_MISSING;
}

int
router_route(const struct router *r, struct store_event *ev, cJSON *event,
	     struct router_result *res)
{
	struct router_walk w = {.r = r, .res = res};
	char id[256];
	int mapped;
	cJSON *ctx;

	memset(res, 0, sizeof(*res));
	ev->jobs = NULL;
	ev->njobs = 0;
	ev->state = "unrouted";
	if (r->rules == NULL) {
		cJSON_Delete(event);
		return 0;
	}
	ctx = router_context(r, event, ev->source, ev->received_ms, &mapped);
	if (ctx == NULL)
		return -1;
	rules_value(ctx, "payload.customer_id", id, sizeof(id));
	w.ctx = ctx;
	w.customer_id = router_own(res, strdup(id));
	w.held = r->customers != NULL && !mapped &&
		 customers_policy(r->customers) == CUSTOMERS_HOLD;
	res->matched = rules_route(r->rules, ctx, router_add_job, &w);
	cJSON_Delete(ctx);
	if (w.failed || w.customer_id == NULL) {
		router_result_clear(res);
		return -1;
	}
	if (r->customers != NULL && !mapped &&
	    customers_policy(r->customers) == CUSTOMERS_DROP &&
	    res->njobs > 0) {
		free(res->jobs);
		res->jobs = NULL;
		res->njobs = 0;
		ev->state = "dropped";
		return 0;
	}
	ev->jobs = res->jobs;
	ev->njobs = res->njobs;
	ev->state = res->matched > 0 ? "routed" : "unrouted";
	return 0;
}

void
router_result_clear(struct router_result *res)
{
	size_t i;

	for (i = 0; i < res->nowned; i++)
		free(res->owned[i]);
	free(res->owned);
	free(res->jobs);
	memset(res, 0, sizeof(*res));
}
