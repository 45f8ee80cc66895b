/*
 * What operators see of delivery: each target's state for the admin API,
 * the delivery metrics, and a warning for jobs waiting for a target the
 * configuration no longer has.
 */
#include <stdio.h>
#include <stdlib.h>

#include <event2/buffer.h>

#include "psabridge/deliver.h"
#include "psabridge/log.h"
#include "psabridge/store.h"
#include "psabridge/target.h"
#include "psabridge/worker.h"
#include "deliver-internal.h"

/* --- what operators see ------------------------------------------------- */

/* "starting": the targets' stored state is not read yet (at start). */
static const char *
deliver_state(const struct deliver *d, const struct deliver_target *dt)
{
	if (!d->ready)
		return "starting";
	if (dt->disabled)
		return "disabled";
	return dt->retrying ? "retrying" : "ok";
}

cJSON *
deliver_targets_json(const struct deliver *d)
{
	cJSON *a = cJSON_CreateArray(), *o;
	size_t i;

	for (i = 0; a != NULL && i < d->ntargets; i++) {
		const struct deliver_target *dt = &d->targets[i];

		if ((o = cJSON_CreateObject()) == NULL)
			break;
		cJSON_AddStringToObject(o, "name", dt->name);
		cJSON_AddStringToObject(o, "type",
					dt->t ? dt->t->ops->type : "");
		cJSON_AddStringToObject(o, "state", deliver_state(d, dt));
		cJSON_AddNumberToObject(o, "in_flight", dt->in_flight);
		cJSON_AddStringToObject(o, "last_error", dt->last_error);
		cJSON_AddNumberToObject(o, "done", (double)dt->outcomes[0]);
		cJSON_AddNumberToObject(o, "retried", (double)dt->outcomes[1]);
		cJSON_AddNumberToObject(o, "dead", (double)dt->outcomes[2]);
		cJSON_AddItemToArray(a, o);
	}
	return a;
}

void
deliver_metrics(const struct deliver *d, struct evbuffer *buf)
{
	size_t i, b;
	uint64_t cum;

	evbuffer_add_printf(
	    buf, "# HELP psabridge_attempts_total Delivery attempts by target "
		 "and outcome.\n# TYPE psabridge_attempts_total counter\n");
	for (i = 0; i < d->ntargets; i++)
		for (b = 0; b < 3; b++)
			evbuffer_add_printf(
			    buf,
			    "psabridge_attempts_total{target=\"%s\","
			    "outcome=\"%s\"} %llu\n",
			    d->targets[i].name, deliver_outcome_names[b],
			    (unsigned long long)d->targets[i].outcomes[b]);
	evbuffer_add_printf(buf,
			    "# HELP psabridge_attempt_duration_seconds Time "
			    "from sending to the answer.\n# TYPE "
			    "psabridge_attempt_duration_seconds histogram\n");
	for (i = 0; i < d->ntargets; i++) {
		const struct deliver_target *dt = &d->targets[i];

		for (b = 0, cum = 0; b <= DELIVER_NBUCKETS; b++) {
			cum += dt->buckets[b];
			if (b < DELIVER_NBUCKETS)
				evbuffer_add_printf(
				    buf,
				    "psabridge_attempt_duration_seconds_bucket"
				    "{target=\"%s\",le=\"%g\"} %llu\n",
				    dt->name, deliver_buckets[b],
				    (unsigned long long)cum);
		}
		evbuffer_add_printf(
		    buf,
		    "psabridge_attempt_duration_seconds_bucket{target=\"%s\","
		    "le=\"+Inf\"} %llu\n"
		    "psabridge_attempt_duration_seconds_sum{target=\"%s\"} %g\n"
		    "psabridge_attempt_duration_seconds_count{target=\"%s\"} "
		    "%llu\n",
		    dt->name, (unsigned long long)cum, dt->name,
		    dt->latency_sum, dt->name, (unsigned long long)cum);
	}
	evbuffer_add_printf(buf, "# HELP psabridge_target_up 1 unless the "
				 "target is disabled.\n# TYPE "
				 "psabridge_target_up gauge\n");
	for (i = 0; i < d->ntargets; i++)
		evbuffer_add_printf(
		    buf, "psabridge_target_up{target=\"%s\"} %d\n",
		    d->targets[i].name, !d->targets[i].disabled);
}

/* --- jobs of targets that are gone -------------------------------------- */

struct deliver_orphans {
	struct deliver *d;
	cJSON *rows;
};

static void
deliver_orphans_run(struct store *st, void *arg)
{
	struct deliver_orphans *o = arg;
	struct store_query q = {.kind = STORE_Q_WAITING};
	char err[256];

	if (store_query(st, &q, &o->rows, err, sizeof(err)) == -1)
		log_error("msg=\"counting jobs by target failed\" error=\"%s\"",
			  err);
}

/* One warning per target that is not configured and has jobs waiting. */
static void
deliver_orphans_done(void *arg)
{
	struct deliver_orphans *o = arg;
	const cJSON *row;

	cJSON_ArrayForEach(row, o->rows)
	{
		const char *t =
		    cJSON_GetStringValue(cJSON_GetObjectItem(row, "target"));
		const char *state =
		    cJSON_GetStringValue(cJSON_GetObjectItem(row, "state"));
		double n =
		    cJSON_GetNumberValue(cJSON_GetObjectItem(row, "count"));

		if (t == NULL || state == NULL || deliver_find(o->d, t))
			continue;
		log_warn("msg=\"jobs wait for a target that is not "
			 "configured\" target=%s state=%s jobs=%.0f "
			 "hint=\"add the target back and reload; psabridge "
			 "queue list --target %s shows them\"",
			 t, state, n, t);
	}
	cJSON_Delete(o->rows);
	free(o);
}

void
deliver_check_orphans(struct deliver *d)
{
	struct deliver_orphans *o = calloc(1, sizeof(*o));

	if (o == NULL)
		return;
	o->d = d;
	if (worker_submit(d->worker, deliver_orphans_run, deliver_orphans_done,
			  o) == -1)
		free(o);
}
