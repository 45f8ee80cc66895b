/*
 * The operator listener: /healthz, /metrics and the /api/v1 routes listed
 * in admin.h.  Questions to the store go to the worker thread and are
 * answered from its callback; nothing here touches the store directly.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/queue.h>

#include "psabridge/admin.h"
#include "psabridge/commit.h"
#include "psabridge/config.h"
#include "psabridge/deliver.h"
#include "psabridge/httpd.h"
#include "psabridge/ingest.h"
#include "psabridge/log.h"
#include "psabridge/router.h"
#include "psabridge/store.h"
#include "psabridge/webui.h"
#include "psabridge/worker.h"

#define ADMIN_ARG_MAX 128

struct admin {
	struct httpd *httpd;
	struct admin_deps deps;
	int has_token;
	unsigned char token_hash[SHA256_DIGEST_LENGTH];
};

enum admin_op {
	ADMIN_QUERY,   /* a store_query, answered as JSON */
	ADMIN_RETRY,   /* store_jobs_retry */
	ADMIN_ENABLE,  /* store_target_disable(0) */
	ADMIN_METRICS, /* STORE_Q_STATS, then the metrics text */
	ADMIN_REPLAY   /* STORE_Q_EVENT, then a replay through commit */
};

/* One admin request waiting for the worker (or the commit thread). */
struct admin_req {
	struct admin *a;
	struct evhttp_request *req;
	enum admin_op op;
	struct store_query q;
	char id[ADMIN_ARG_MAX], state[ADMIN_ARG_MAX], target[ADMIN_ARG_MAX],
	    before[ADMIN_ARG_MAX];
	char event_type[ADMIN_ARG_MAX], customer[ADMIN_ARG_MAX],
	    host[ADMIN_ARG_MAX], job_state[ADMIN_ARG_MAX];
	cJSON *out;
	size_t n;
	int rc;
	char err[256];
	struct commit_item item; /* ADMIN_REPLAY */
	char *body, *source;
};

static void
admin_set_token(struct admin *a, const char *token)
{
	a->has_token = token != NULL;
	if (token != NULL)
		SHA256((const unsigned char *)token, strlen(token),
		       a->token_hash);
}

static int
admin_token_ok(struct admin *a, struct evhttp_request *req)
{
	const char *auth = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	unsigned char h[SHA256_DIGEST_LENGTH];

	if (!a->has_token)
		return 1;
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return 0;
	SHA256((const unsigned char *)auth + 7, strlen(auth + 7), h);
	return CRYPTO_memcmp(h, a->token_hash, sizeof(h)) == 0;
}

static void
admin_reply_cjson(struct admin *a, struct evhttp_request *req, int code,
		  cJSON *doc)
{
	char *text = doc ? cJSON_PrintUnformatted(doc) : NULL;

	if (text == NULL) {
		httpd_reply_error(a->httpd, req, 500, "internal",
				  "out of memory");
		return;
	}
	httpd_reply_json(a->httpd, req, code, text);
	free(text);
}

static void
admin_healthz(struct admin *a, struct evhttp_request *req)
{
	char err[256];
	cJSON *o = cJSON_CreateObject();

	if (commit_health(a->deps.commit, err, sizeof(err)) == 0) {
		cJSON_AddStringToObject(o, "status", "ok");
		admin_reply_cjson(a, req, 200, o);
	} else {
		cJSON_AddStringToObject(o, "status", "unavailable");
		cJSON_AddStringToObject(o, "detail", err);
		admin_reply_cjson(a, req, 503, o);
	}
	cJSON_Delete(o);
}

/* --- worker side -------------------------------------------------------- */

static int64_t
admin_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
admin_run(struct store *st, void *arg)
{
	struct admin_req *r = arg;

	switch (r->op) {
	case ADMIN_QUERY:
	case ADMIN_METRICS:
	case ADMIN_REPLAY:
		r->rc = store_query(st, &r->q, &r->out, r->err, sizeof(r->err));
		break;
	case ADMIN_RETRY:
		r->rc = store_jobs_retry(st, r->id[0] ? r->id : NULL,
					 r->target[0] ? r->target : NULL,
					 r->state[0] ? r->state : NULL,
					 admin_now_ms(), &r->n, r->err,
					 sizeof(r->err));
		/* nothing changed for one job: tell "unknown" from "in flight"
		 */
		if (r->rc == 0 && r->id[0] != '\0' && r->n == 0) {
			r->q.kind = STORE_Q_JOB;
			r->rc = store_query(st, &r->q, &r->out, r->err,
					    sizeof(r->err));
		}
		break;
	case ADMIN_ENABLE:
		r->rc =
		    store_target_disable(st, r->target, 0, NULL, admin_now_ms(),
					 &r->n, r->err, sizeof(r->err));
		break;
	}
}

static void admin_metrics_reply(struct admin_req *r);
static void admin_replay_submit(struct admin_req *r);

static void
admin_req_free(struct admin_req *r)
{
	cJSON_Delete(r->out);
	free(r->body);
	free(r->source);
	free(r);
}

static void
admin_done(void *arg)
{
	struct admin_req *r = arg;
	struct admin *a = r->a;
	cJSON *o;

	if (r->rc == -1) {
		httpd_reply_error(a->httpd, r->req, 503, "unavailable", r->err);
		admin_req_free(r);
		return;
	}
	switch (r->op) {
	case ADMIN_QUERY:
		if (r->out == NULL)
			httpd_reply_error(a->httpd, r->req, 404, "not_found",
					  "no such id");
		else
			admin_reply_cjson(a, r->req, 200, r->out);
		break;
	case ADMIN_METRICS:
		admin_metrics_reply(r);
		break;
	case ADMIN_REPLAY:
		if (r->out == NULL) {
			httpd_reply_error(a->httpd, r->req, 404, "not_found",
					  "no such event");
			break;
		}
		admin_replay_submit(r);
		return; /* answered when the commit thread is done */
	case ADMIN_RETRY:
	case ADMIN_ENABLE:
		if (r->op == ADMIN_RETRY && r->id[0] != '\0' && r->n == 0) {
			if (r->out == NULL)
				httpd_reply_error(a->httpd, r->req, 404,
						  "not_found", "no such job");
			else
				httpd_reply_error(a->httpd, r->req, 409,
						  "conflict",
						  "the job is being sent right "
						  "now; try again when it is "
						  "done");
			break;
		}
		if (r->op == ADMIN_ENABLE)
			deliver_enable(a->deps.deliver, r->target);
		else if (r->n > 0)
			deliver_kick(a->deps.deliver);
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "changed", (double)r->n);
		if (r->op == ADMIN_ENABLE)
			cJSON_AddStringToObject(o, "target", r->target);
		admin_reply_cjson(a, r->req, 200, o);
		cJSON_Delete(o);
		break;
	}
	admin_req_free(r);
}

/* --- replay ------------------------------------------------------------- */

static void
admin_replay_done(struct commit_item *item, void *arg)
{
	struct admin_req *r = arg;
	cJSON *o = cJSON_CreateObject();

	if (item->ev.outcome != STORE_STORED) {
		httpd_reply_error(r->a->httpd, r->req, 503, "unavailable",
				  item->ev.outcome == STORE_REJECTED
				      ? item->reject
				      : "the new jobs could not be stored");
	} else {
		cJSON_AddStringToObject(o, "event", r->id);
		cJSON_AddStringToObject(
		    o, "state", item->ev.state ? item->ev.state : "unrouted");
		cJSON_AddNumberToObject(o, "jobs", (double)item->ev.njobs);
		admin_reply_cjson(r->a, r->req, 200, o);
		if (item->ev.njobs > 0)
			deliver_kick(r->a->deps.deliver);
	}
	cJSON_Delete(o);
	admin_req_free(r);
}

/* The stored event goes through the commit thread's routing again. */
static void
admin_replay_submit(struct admin_req *r)
{
	const cJSON *body = cJSON_GetObjectItem(r->out, "body");
	const cJSON *src = cJSON_GetObjectItem(r->out, "source");
	const cJSON *at = cJSON_GetObjectItem(r->out, "received_at");

	r->body = cJSON_GetStringValue(body) ? strdup(body->valuestring) : NULL;
	r->source = cJSON_GetStringValue(src) ? strdup(src->valuestring) : NULL;
	if (r->body == NULL || r->source == NULL) {
		httpd_reply_error(r->a->httpd, r->req, 500, "internal",
				  "out of memory");
		admin_req_free(r);
		return;
	}
	memset(&r->item, 0, sizeof(r->item));
	/* the id came back from the store: it fits */
	memcpy(r->item.replay_of, r->id,
	       strnlen(r->id, sizeof(r->item.replay_of) - 1));
	r->item.ev.source = r->source;
	r->item.ev.body = r->body;
	r->item.ev.body_len = strlen(r->body);
	r->item.ev.received_ms =
	    cJSON_IsNumber(at) ? (int64_t)at->valuedouble : admin_now_ms();
	r->item.done = admin_replay_done;
	r->item.arg = r;
	log_info("msg=replay event=%s", r->id);
	commit_submit(r->a->deps.commit, &r->item);
}

/* --- metrics ------------------------------------------------------------ */

static void
admin_metrics_store(struct evbuffer *buf, const cJSON *stats)
{
	const cJSON *row;
	double now = (double)admin_now_ms();

	evbuffer_add_printf(buf, "# HELP psabridge_jobs Jobs in the store by "
				 "target and state.\n# TYPE psabridge_jobs "
				 "gauge\n");
	cJSON_ArrayForEach(row, cJSON_GetObjectItem(stats, "jobs"))
	    evbuffer_add_printf(
		buf, "psabridge_jobs{target=\"%s\",state=\"%s\"} %.0f\n",
		cJSON_GetStringValue(cJSON_GetObjectItem(row, "target")),
		cJSON_GetStringValue(cJSON_GetObjectItem(row, "state")),
		cJSON_GetNumberValue(cJSON_GetObjectItem(row, "count")));
	evbuffer_add_printf(
	    buf, "# HELP psabridge_oldest_pending_seconds Age of the oldest "
		 "job not yet delivered, by target.\n# TYPE "
		 "psabridge_oldest_pending_seconds gauge\n");
	cJSON_ArrayForEach(row, cJSON_GetObjectItem(stats, "oldest_pending"))
	    evbuffer_add_printf(
		buf, "psabridge_oldest_pending_seconds{target=\"%s\"} %.3f\n",
		cJSON_GetStringValue(cJSON_GetObjectItem(row, "target")),
		(now -
		 cJSON_GetNumberValue(cJSON_GetObjectItem(row, "created_at"))) /
		    1000.0);
	evbuffer_add_printf(buf, "# HELP psabridge_events Events in the store "
				 "by state.\n# TYPE psabridge_events gauge\n");
	cJSON_ArrayForEach(row, cJSON_GetObjectItem(stats, "events"))
	    evbuffer_add_printf(
		buf, "psabridge_events{state=\"%s\"} %.0f\n",
		cJSON_GetStringValue(cJSON_GetObjectItem(row, "state")),
		cJSON_GetNumberValue(cJSON_GetObjectItem(row, "count")));
}

/* Label values come from vendors: escape as the text format says. */
static const char *
admin_label(const char *v, char *buf, size_t size)
{
	size_t o = 0;

	for (; *v != '\0' && o + 3 < size; v++) {
		if (*v == '"' || *v == '\\')
			buf[o++] = '\\';
		if (*v == '\n') {
			buf[o++] = '\\';
			buf[o++] = 'n';
			continue;
		}
		buf[o++] = *v;
	}
	buf[o] = '\0';
	return buf;
}

static void
admin_metrics_kind(struct evbuffer *buf, const struct commit_kind *k)
{
	static const char *const outcomes[] = {"stored", "duplicate",
					       "rejected"};
	const uint64_t n[] = {k->stored, k->duplicates, k->rejected};
	char src[160], ev[300];
	size_t o;

	for (o = 0; o < 3; o++)
		if (n[o] > 0)
			evbuffer_add_printf(
			    buf,
			    "psabridge_events_received_total{source=\"%s\","
			    "event=\"%s\",outcome=\"%s\"} %llu\n",
			    admin_label(k->source, src, sizeof(src)),
			    admin_label(k->event, ev, sizeof(ev)), outcomes[o],
			    (unsigned long long)n[o]);
}

static void
admin_metrics_kinds(struct evbuffer *buf, const struct commit_stats *st)
{
	size_t i;

	evbuffer_add_printf(
	    buf, "# HELP psabridge_events_received_total Callbacks with a "
		 "valid token, by source, event type and outcome.\n# TYPE "
		 "psabridge_events_received_total counter\n");
	for (i = 0; i < st->nkinds; i++)
		admin_metrics_kind(buf, &st->kinds[i]);
	admin_metrics_kind(buf, &st->kinds[COMMIT_NKINDS]); /* "other" */
}

static void
admin_metrics_commit(struct evbuffer *buf, const struct commit_stats *st)
{
	uint64_t cum = 0;
	size_t b;

	admin_metrics_kinds(buf, st);
	evbuffer_add_printf(
	    buf,
	    "# HELP psabridge_events_routed_total Stored events by routing.\n"
	    "# TYPE psabridge_events_routed_total counter\n"
	    "psabridge_events_routed_total{result=\"unrouted\"} %llu\n"
	    "psabridge_events_routed_total{result=\"dropped\"} %llu\n"
	    "# HELP psabridge_commit_failures_total Transactions that failed "
	    "(the senders got 503).\n"
	    "# TYPE psabridge_commit_failures_total counter\n"
	    "psabridge_commit_failures_total %llu\n"
	    "# HELP psabridge_commit_duration_seconds Ingest transactions, "
	    "fsync included.\n"
	    "# TYPE psabridge_commit_duration_seconds histogram\n",
	    (unsigned long long)st->unrouted, (unsigned long long)st->dropped,
	    (unsigned long long)st->failures);
	for (b = 0; b < COMMIT_NBUCKETS; b++) {
		cum += st->latency[b];
		evbuffer_add_printf(
		    buf,
		    "psabridge_commit_duration_seconds_bucket{le=\"%g\"} "
		    "%llu\n",
		    COMMIT_BUCKETS_MS[b] / 1000.0, (unsigned long long)cum);
	}
	cum += st->latency[COMMIT_NBUCKETS];
	evbuffer_add_printf(
	    buf,
	    "psabridge_commit_duration_seconds_bucket{le=\"+Inf\"} %llu\n"
	    "psabridge_commit_duration_seconds_sum %g\n"
	    "psabridge_commit_duration_seconds_count %llu\n",
	    (unsigned long long)cum, st->latency_sum_ms / 1000.0,
	    (unsigned long long)cum);
}

static void
admin_metrics_reply(struct admin_req *r)
{
	struct admin *a = r->a;
	struct evbuffer *buf = evhttp_request_get_output_buffer(r->req);
	struct commit_stats st;

	evbuffer_add_printf(buf,
			    "# HELP psabridge_build_info The running "
			    "version.\n# TYPE psabridge_build_info gauge\n"
			    "psabridge_build_info{version=\"%s\"} 1\n",
			    PSABRIDGE_VERSION);
	commit_get_stats(a->deps.commit, &st);
	admin_metrics_commit(buf, &st);
	ingest_metrics(a->deps.ingest, buf);
	admin_metrics_store(buf, r->out);
	deliver_metrics(a->deps.deliver, buf);
	httpd_reply_text(a->httpd, r->req, 200,
			 "text/plain; version=0.0.4; charset=utf-8");
}

/* --- requests ----------------------------------------------------------- */

/* Copies query parameter name (at most ADMIN_ARG_MAX - 1 bytes) to out. */
static void
admin_param(struct evkeyvalq *params, const char *name, char *out)
{
	const char *v = evhttp_find_header(params, name);

	snprintf(out, ADMIN_ARG_MAX, "%s", v != NULL ? v : "");
}

static struct admin_req *
admin_req_new(struct admin *a, struct evhttp_request *req, enum admin_op op)
{
	struct admin_req *r = calloc(1, sizeof(*r));
	const char *query =
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq params;
	char limit[ADMIN_ARG_MAX];

	if (r == NULL)
		return NULL;
	r->a = a;
	r->req = req;
	r->op = op;
	TAILQ_INIT(&params);
	if (query != NULL)
		evhttp_parse_query_str(query, &params);
	admin_param(&params, "state", r->state);
	admin_param(&params, "target", r->target);
	admin_param(&params, "before", r->before);
	admin_param(&params, "limit", limit);
	admin_param(&params, "event_type", r->event_type);
	admin_param(&params, "customer", r->customer);
	admin_param(&params, "host", r->host);
	admin_param(&params, "job_state", r->job_state);
	evhttp_clear_headers(&params);
	r->q.state = r->state[0] ? r->state : NULL;
	r->q.target = r->target[0] ? r->target : NULL;
	r->q.before = r->before[0] ? r->before : NULL;
	r->q.event_type = r->event_type[0] ? r->event_type : NULL;
	r->q.customer = r->customer[0] ? r->customer : NULL;
	r->q.host = r->host[0] ? r->host : NULL;
	r->q.job_state = r->job_state[0] ? r->job_state : NULL;
	r->q.now_ms = admin_now_ms();
	r->q.limit = (size_t)strtoul(limit, NULL, 10);
	r->q.id = r->id;
	return r;
}

static void
admin_submit(struct admin *a, struct admin_req *r)
{
	httpd_request_begin(a->httpd, r->req);
	if (worker_submit(a->deps.worker, admin_run, admin_done, r) == -1) {
		httpd_reply_error(a->httpd, r->req, 503, "unavailable",
				  "out of memory");
		admin_req_free(r);
	}
}

/* "/api/v1/jobs/ID/retry" with prefix "/api/v1/jobs/" and suffix "/retry":
 * copies ID; 1 when path has that shape. */
static int
admin_match(const char *path, const char *prefix, const char *suffix, char *id)
{
	size_t pl = strlen(prefix), sl = strlen(suffix), n = strlen(path);

	if (n <= pl + sl || strncmp(path, prefix, pl) != 0 ||
	    strcmp(path + n - sl, suffix) != 0)
		return 0;
	n -= pl + sl;
	if (n >= ADMIN_ARG_MAX || memchr(path + pl, '/', n) != NULL)
		return 0;
	memcpy(id, path + pl, n);
	id[n] = '\0';
	return 1;
}

static void
admin_targets(struct admin *a, struct evhttp_request *req)
{
	cJSON *t = deliver_targets_json(a->deps.deliver);

	admin_reply_cjson(a, req, 200, t);
	cJSON_Delete(t);
}

static cJSON *
admin_rule_json(const struct rules_rule *rule)
{
	cJSON *o = cJSON_CreateObject(), *m, *acts, *act;
	size_t i;

	if (o == NULL)
		return NULL;
	cJSON_AddStringToObject(o, "name", rule->name);
	cJSON_AddBoolToObject(o, "enabled", rule->enabled);
	cJSON_AddBoolToObject(o, "continue", rule->cont);
	cJSON_AddNumberToObject(o, "line", rule->line);
	m = cJSON_AddArrayToObject(o, "match");
	for (i = 0; m != NULL && i < rule->nmatchers; i++)
		cJSON_AddItemToArray(m, cJSON_CreateString(rules_matcher_text(
					    rule->matchers[i])));
	acts = cJSON_AddArrayToObject(o, "actions");
	for (i = 0; acts != NULL && i < rule->nactions; i++) {
		const struct rules_action *ra = &rule->actions[i];

		if ((act = cJSON_CreateObject()) == NULL)
			break;
		cJSON_AddStringToObject(act, "target", ra->target);
		cJSON_AddStringToObject(act, "action",
					router_action_name(ra->kind));
		if (ra->template != NULL)
			cJSON_AddStringToObject(act, "template", ra->template);
		if (ra->correlate != NULL)
			cJSON_AddStringToObject(act, "correlate",
						ra->correlate);
		cJSON_AddItemToArray(acts, act);
	}
	return o;
}

/*
 * The rules of the running configuration, in order, as the web page shows
 * them beside a job's rule name.  Names, matchers and actions only: the
 * rules hold no secret.
 */
static void
admin_rules(struct admin *a, struct evhttp_request *req)
{
	const struct rules *rs =
	    a->deps.router != NULL ? router_rules(a->deps.router) : NULL;
	cJSON *arr = cJSON_CreateArray();
	size_t i;

	for (i = 0; arr != NULL && rs != NULL && i < rs->nrules; i++)
		cJSON_AddItemToArray(arr, admin_rule_json(&rs->rules[i]));
	admin_reply_cjson(a, req, 200, arr);
	cJSON_Delete(arr);
}

/* A route: method, prefix, suffix ("" for an exact path), what to do. */
struct admin_route {
	enum evhttp_cmd_type method;
	const char *prefix, *suffix;
	enum admin_op op;
	enum store_query_kind kind;
	const char *state; /* forced state, for release */
};

static const struct admin_route admin_routes[] = {
    {EVHTTP_REQ_GET, "/metrics", NULL, ADMIN_METRICS, STORE_Q_STATS, NULL},
    {EVHTTP_REQ_GET, "/api/v1/overview", NULL, ADMIN_QUERY, STORE_Q_OVERVIEW,
     NULL},
    {EVHTTP_REQ_GET, "/api/v1/events", NULL, ADMIN_QUERY, STORE_Q_EVENTS, NULL},
    {EVHTTP_REQ_GET, "/api/v1/jobs", NULL, ADMIN_QUERY, STORE_Q_JOBS, NULL},
    {EVHTTP_REQ_GET, "/api/v1/customers/unmapped", NULL, ADMIN_QUERY,
     STORE_Q_UNMAPPED, NULL},
    {EVHTTP_REQ_GET, "/api/v1/tickets", NULL, ADMIN_QUERY, STORE_Q_TICKETS,
     NULL},
    {EVHTTP_REQ_POST, "/api/v1/jobs/retry", NULL, ADMIN_RETRY, 0, NULL},
    {EVHTTP_REQ_POST, "/api/v1/jobs/release", NULL, ADMIN_RETRY, 0, "held"},
    {EVHTTP_REQ_POST, "/api/v1/events/", "/replay", ADMIN_REPLAY, STORE_Q_EVENT,
     NULL},
    {EVHTTP_REQ_POST, "/api/v1/jobs/", "/retry", ADMIN_RETRY, 0, NULL},
    {EVHTTP_REQ_POST, "/api/v1/targets/", "/enable", ADMIN_ENABLE, 0, NULL},
    {EVHTTP_REQ_GET, "/api/v1/events/", "", ADMIN_QUERY, STORE_Q_EVENT, NULL},
    {EVHTTP_REQ_GET, "/api/v1/jobs/", "", ADMIN_QUERY, STORE_Q_JOB, NULL},
};

static const struct admin_route *
admin_route(const char *path, char *id, int *method_ok,
	    enum evhttp_cmd_type method)
{
	size_t i;

	*method_ok = 0;
	for (i = 0; i < sizeof(admin_routes) / sizeof(admin_routes[0]); i++) {
		const struct admin_route *rt = &admin_routes[i];
		int hit = rt->suffix == NULL
			      ? strcmp(path, rt->prefix) == 0
			      : admin_match(path, rt->prefix, rt->suffix, id);

		if (!hit)
			continue;
		*method_ok = 1;
		if (rt->method == method)
			return rt;
		*method_ok = -1; /* the path exists with another method */
	}
	return NULL;
}

/* Checks an enable request names a configured target. */
static int
admin_known_target(struct admin *a, const char *name)
{
	cJSON *t = deliver_targets_json(a->deps.deliver), *row;
	int found = 0;

	cJSON_ArrayForEach(row, t)
	{
		const char *n =
		    cJSON_GetStringValue(cJSON_GetObjectItem(row, "name"));

		found |= n != NULL && strcmp(n, name) == 0;
	}
	cJSON_Delete(t);
	return found;
}

/* A state= filter must name a state, or the answer would be [] silently. */
static int
admin_state_ok(const char *state, enum store_query_kind kind)
{
	static const char *const jobs[] = {"pending", "held", "inflight",
					   "done",    "dead", NULL};
	static const char *const events[] = {"received", "routed", "unrouted",
					     "dropped", NULL};
	static const char *const tickets[] = {"open", "closed", NULL};
	const char *const *s = kind == STORE_Q_EVENTS	 ? events
			       : kind == STORE_Q_TICKETS ? tickets
							 : jobs;

	if (state[0] == '\0')
		return 1;
	for (; *s != NULL; s++)
		if (strcmp(*s, state) == 0)
			return 1;
	return 0;
}

static void
admin_dispatch(struct admin *a, struct evhttp_request *req, const char *path)
{
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const struct admin_route *rt;
	struct admin_req *r;
	char id[ADMIN_ARG_MAX] = "";
	int method_ok;

	if (strcmp(path, "/api/v1/targets") == 0 ||
	    strcmp(path, "/api/v1/rules") == 0) {
		if (method != EVHTTP_REQ_GET)
			httpd_reply_error(a->httpd, req, 405,
					  "method_not_allowed", "use GET");
		else if (path[8] == 't')
			admin_targets(a, req);
		else
			admin_rules(a, req);
		return;
	}
	if ((rt = admin_route(path, id, &method_ok, method)) == NULL) {
		if (method_ok == -1)
			httpd_reply_error(a->httpd, req, 405,
					  "method_not_allowed",
					  "this path takes another method");
		else
			httpd_reply_error(a->httpd, req, 404, "not_found",
					  "no such path");
		return;
	}
	if ((r = admin_req_new(a, req, rt->op)) == NULL) {
		httpd_reply_error(a->httpd, req, 503, "unavailable",
				  "out of memory");
		return;
	}
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->q.kind = rt->kind;
	if (rt->state != NULL)
		snprintf(r->state, sizeof(r->state), "%s", rt->state);
	if (rt->op == ADMIN_ENABLE) {
		snprintf(r->target, sizeof(r->target), "%s", id);
		if (!admin_known_target(a, r->target)) {
			httpd_reply_error(a->httpd, req, 404, "not_found",
					  "no target of that name");
			admin_req_free(r);
			return;
		}
	}
	if (rt->op == ADMIN_RETRY && id[0] == '\0' && r->state[0] == '\0')
		snprintf(r->state, sizeof(r->state), "dead");
	if (!admin_state_ok(r->state,
			    rt->op == ADMIN_QUERY ? rt->kind : STORE_Q_JOBS)) {
		httpd_reply_error(a->httpd, req, 400, "bad_request",
				  "unknown state");
		admin_req_free(r);
		return;
	}
	admin_submit(a, r);
}

static void
admin_handle(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	const char *framing = httpd_framing_error(req);

	if (framing != NULL) {
		httpd_reply_error(a->httpd, req, 400, "bad_request", framing);
		return;
	}
	if (path != NULL && strcmp(path, "/healthz") == 0) {
		if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
			evhttp_add_header(
			    evhttp_request_get_output_headers(req), "Allow",
			    "GET");
			httpd_reply_error(a->httpd, req, 405,
					  "method_not_allowed", "use GET");
			return;
		}
		admin_healthz(a, req);
		return;
	}
	if (path != NULL && webui_owns(path)) {
		webui_serve(a->httpd, req, path); /* public: logs in itself */
		return;
	}
	if (!admin_token_ok(a, req)) {
		httpd_reply_error(a->httpd, req, 401, "unauthorized",
				  "missing or wrong admin token");
		return;
	}
	admin_dispatch(a, req, path ? path : "");
}

struct admin *
admin_new(struct event_base *base, const struct config *cfg,
	  const struct admin_deps *deps, char *err, size_t errlen)
{
	struct httpd_limits limits = {
	    .max_body_bytes = 65536,
	    .max_header_bytes = cfg->max_header_bytes,
	    .request_timeout_s = cfg->request_timeout_s,
	    .max_connections = 64,
	};
	struct admin *a;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->deps = *deps;
	admin_set_token(a, cfg->admin_token);
	a->httpd = httpd_new(base, "admin", cfg->admin_listen, &limits,
			     admin_handle, a, err, errlen);
	if (a->httpd == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

int
admin_reload(struct admin *a, const struct config *cfg)
{
	admin_set_token(a, cfg->admin_token);
	return 0;
}

void
admin_set_router(struct admin *a, struct router *r)
{
	if (a != NULL)
		a->deps.router = r;
}

void
admin_stop(struct admin *a)
{
	if (a != NULL)
		httpd_stop_accepting(a->httpd);
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	httpd_free(a->httpd);
	OPENSSL_cleanse(a->token_hash, sizeof(a->token_hash));
	free(a);
}
