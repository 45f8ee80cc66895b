/*
 * router: turns a stored event into jobs, inside the event's own
 * transaction, so that an acknowledged event always has its jobs.
 *
 * A router is an immutable snapshot of the rules, the customer table and
 * the templates of one loaded configuration.  It is reference counted: the
 * commit thread holds one for the batch it is committing while a reload
 * installs the next.
 */
#ifndef PSABRIDGE_ROUTER_H
#define PSABRIDGE_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "psabridge/customers.h"
#include "psabridge/rules.h"
#include "psabridge/store.h"
#include "psabridge/templates.h"

struct router;

/*
 * Takes rules, customers (NULL: no table) and templates (NULL: none); they
 * are freed with the router, even when router_new fails.  Compiles every
 * action's correlate template; problems go to d as CFGFILE:LINE (the
 * action's line).  Returns a router with one reference, or NULL.
 */
struct router *router_new(struct rules *rules, struct customers *customers,
			  struct templates *templates, const char *cfgfile,
			  struct diag *d);

/*
 * router_new() on what cfg loaded: moves cfg->rules, cfg->customers and
 * cfg->templates into the router (they are NULL in cfg afterwards).
 */
struct config;
struct router *router_from_config(struct config *cfg, struct diag *d);

struct router *router_ref(struct router *r);
/* Drops a reference; the last one frees.  NULL is safe. */
void router_unref(struct router *r);

const struct rules *router_rules(const struct router *r);
const struct customers *router_customers(const struct router *r);
const struct templates *router_templates(const struct router *r);

/*
 * The context rules match and templates render against: the callback
 * object itself (event, time, payload, and whatever else the vendor sent;
 * taken, even on failure) plus source, time_iso and received_at (RFC 3339,
 * UTC) and customer (the customer's row, or {}).  customer_id is
 * payload.customer_id.  *mapped tells whether the table had a row.  Caller
 * frees with cJSON_Delete(); NULL when memory ran out.
 */
cJSON *router_context(const struct router *r, cJSON *event, const char *source,
		      int64_t received_ms, int *mapped);

/* Jobs made for one event; the strings live until router_result_clear. */
struct router_result {
	struct store_job *jobs;
	size_t njobs;
	char **owned;
	size_t nowned;
	size_t matched; /* rules that matched */
};

/*
 * Routes ev (its source and received time, and event: its parsed body,
 * taken even on failure) and points ev->jobs and
 * ev->state at the result: "routed", "unrouted" (no rule matched) or
 * "dropped" (customer unmapped with unmapped = "drop").  Jobs of an
 * unmapped customer under "hold" are held.  Returns 0, or -1 when out of
 * memory or a correlate template fails (then ev gets no jobs).
 */
int router_route(const struct router *r, struct store_event *ev, cJSON *event,
		 struct router_result *res);

void router_result_clear(struct router_result *res);

/* "create", "note", "close", "notify". */
const char *router_action_name(enum rules_kind kind);

#endif
