/*
 * A PSA target's exchange: the requests one job takes (look up, create,
 * note, close), each decided by the target from the answer to the one
 * before (target.h, psa.c).  Delivery sends them one after the other and
 * records the whole as one attempt.  Runs on the loop thread.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psabridge/httpc.h"
#include "psabridge/log.h"
#include "psabridge/store.h"
#include "psabridge/target.h"
#include "deliver-internal.h"

#define DELIVER_SAME_ERROR_MAX 3 /* validation errors in a row: dead */

static void deliver_step(struct deliver_job *j,
			 const struct target_response *last);

static void
deliver_step_done(const struct httpc_response *resp, void *arg)
{
	struct deliver_job *j = arg;
	struct target_response r = {0};

	if (j->d->stopping) { /* abandoned: sent again at the next start */
		deliver_job_free(j);
		return;
	}
	j->status = resp->status;
	snprintf(j->retry_after, sizeof(j->retry_after), "%s",
		 resp->retry_after ? resp->retry_after : "");
	free(j->response);
	/* a snippet is kept with the attempt: no need for a whole answer */
	j->response = resp->body_len > 0
			  ? strndup(resp->body, 2 * DELIVER_SNIPPET_MAX)
			  : NULL;
	r.status = resp->status;
	r.body = resp->body;
	r.body_len = resp->body_len;
	r.error = resp->error;
	deliver_step(j, &r);
}

/*
 * How an exchange ended.  A failure is classified by the failing answer's
 * status like any request; the target may also say that retrying cannot
 * help (a configuration mistake) or that the PSA refused the content, which
 * goes dead once the same refusal came DELIVER_SAME_ERROR_MAX times.
 */
static void
deliver_exchange_end(struct deliver_job *j, enum target_step step,
		     struct target_result *res)
{
	struct deliver_target *dt;
	struct store_attempt a;
	char q[300];

	if (j->prep) {
		if (step == TARGET_STEP_DONE)
			log_info("msg=\"target ready\" target=%s%s%s",
				 j->target, res->did[0] ? " detail=" : "",
				 res->did[0] ? log_quote(q, sizeof(q), res->did,
							 strlen(res->did), 200)
					     : "");
		else
			log_error(
			    "msg=\"target not ready\" target=%s "
			    "status=%d error=%s "
			    "hint=\"jobs retry; see docs/troubleshooting.md\"",
			    j->target, res->status,
			    log_quote(q, sizeof(q), res->error,
				      strlen(res->error), 250));
		if (step != TARGET_STEP_DONE &&
		    (dt = deliver_find(j->d, j->target)) != NULL)
			snprintf(dt->last_error, sizeof(dt->last_error),
				 "%.255s", res->error);
		deliver_job_free(j);
		return;
	}
	deliver_attempt_init(&a, j);
	a.duration_ms = deliver_now_ms() - j->started_ms;
	a.status = j->status;
	a.response = j->response;
	if (step == TARGET_STEP_DONE) {
		a.outcome = STORE_JOB_DONE;
		a.ticket_id = res->ticket_id[0] ? res->ticket_id : NULL;
		a.ticket_change = (enum store_ticket_change)res->ticket_change;
		/* did may carry the key, which the sender chose: quoted */
		if (res->did[0] != '\0')
			log_info("msg=%s event=%s job=%s target=%s ticket=%s",
				 log_quote(q, sizeof(q), res->did,
					   strlen(res->did), 200),
				 j->due.event_id, j->due.id, j->target,
				 res->ticket_id[0] ? res->ticket_id : "-");
		deliver_finish(j, &a, (double)a.duration_ms / 1000.0);
		return;
	}
	a.status = res->status;
	a.error = res->error;
	if (res->permanent) {
		a.outcome = STORE_JOB_DEAD;
	} else if (res->validation && j->due.last_error != NULL &&
		   strcmp(j->due.last_error, res->error) == 0 &&
		   j->due.attempts + 1 >= DELIVER_SAME_ERROR_MAX) {
		a.outcome = STORE_JOB_DEAD;
	} else if (a.status >= 200 && a.status < 300) {
		/* a 2xx the target could not read: retried, status kept */
		a.status = 0;
		deliver_classify(j, &a, NULL);
		a.status = res->status;
	} else {
		deliver_classify(j, &a,
				 j->retry_after[0] ? j->retry_after : NULL);
	}
	deliver_finish(j, &a, (double)a.duration_ms / 1000.0);
}

static void
deliver_step(struct deliver_job *j, const struct target_response *last)
{
	struct deliver_target *dt = deliver_find(j->d, j->target);
	struct target_request req;
	struct target_result res;
	enum target_step step;

	memset(&req, 0, sizeof(req));
	memset(&res, 0, sizeof(res));
	step = j->xops->step(j->x, last, &req, &res);
	if (step != TARGET_STEP_SEND) {
		target_request_clear(&req);
		deliver_exchange_end(j, step, &res);
		return;
	}
	/* the rate limits requests, not jobs: later ones take a token too */
	if (last != NULL && dt != NULL && dt->t != NULL &&
	    dt->t->dl.rate_per_s > 0)
		dt->tokens -= 1;
	if (deliver_http(j, &j->dl, &req, deliver_step_done) == -1) {
		res.status = 0;
		snprintf(res.error, sizeof(res.error),
			 "%s %s: the request could not be started", req.method,
			 req.url);
		target_request_clear(&req);
		deliver_exchange_end(j, TARGET_STEP_FAIL, &res);
		return;
	}
	target_request_clear(&req);
}

void
deliver_exchange(struct deliver_job *j, const struct target *t,
		 const struct target_job *tj)
{
	j->xops = t->ops->exchange;
	j->dl = t->dl;
	j->dl.ca_file = NULL;
	if ((t->dl.ca_file != NULL &&
	     (j->dl.ca_file = strdup(t->dl.ca_file)) == NULL) ||
	    (j->x = j->xops->start(t, tj)) == NULL) {
		if (j->prep)
			deliver_job_free(j);
		else
			deliver_fail_build(j, "out of memory");
		return;
	}
	deliver_step(j, NULL);
}

/*
 * At start and reload, each PSA target discovers what it needs (its API
 * base, picklist values) before its first job, so that a mistake shows in
 * the log at once.  Jobs that come meanwhile discover it themselves.
 */
void
deliver_prepare(struct deliver *d)
{
	struct deliver_job *j;
	size_t i;

	for (i = 0; i < d->ntargets; i++) {
		const struct target *t = d->targets[i].t;

		if (t == NULL || t->ops->exchange == NULL ||
		    (j = calloc(1, sizeof(*j))) == NULL)
			continue;
		j->d = d;
		j->prep = 1;
		j->started_ms = deliver_now_ms();
		snprintf(j->target, sizeof(j->target), "%s", t->name);
		deliver_exchange(j, t, NULL);
	}
}
