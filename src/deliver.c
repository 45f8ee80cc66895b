/*
 * The delivery engine; see deliver.h for the rules it follows.
 *
 * Everything here runs on the loop thread.  The store is reached through
 * the worker (take, record, disable); requests go out through httpc; a
 * file target's line is appended right here (one short write).
 */
#define _XOPEN_SOURCE 700 /* strptime */

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "psabridge/deliver.h"
#include "psabridge/envelope.h"
#include "psabridge/httpc.h"
#include "psabridge/log.h"
#include "psabridge/router.h"
#include "psabridge/store.h"
#include "psabridge/target.h"
#include "psabridge/worker.h"
#include "deliver-internal.h"

const double deliver_buckets[DELIVER_NBUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1,
						  0.25,	 0.5,  1,     2.5,  10};

int64_t
deliver_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct deliver_target *
deliver_find(struct deliver *d, const char *name)
{
	size_t i;

	for (i = 0; i < d->ntargets; i++)
		if (strcmp(d->targets[i].name, name) == 0)
			return &d->targets[i];
	return NULL;
}

/* Ends what a job holds besides its due entry, and frees it. */
void
deliver_job_free(struct deliver_job *j)
{
	if (j->x != NULL)
		j->xops->end(j->x);
	free(j->dl.ca_file);
	free(j->response);
	store_due_clear(&j->due);
	free(j);
}

/* --- recording ---------------------------------------------------------- */

struct deliver_record {
	struct deliver *d;
	struct store_attempt *a;
	char **strings;
	size_t n, nstrings;
};

static void
deliver_record_run(struct store *st, void *arg)
{
	struct deliver_record *r = arg;
	char err[256];

	if (store_jobs_record(st, r->a, r->n, err, sizeof(err)) == -1)
		log_error("msg=\"recording attempts failed\" attempts=%zu "
			  "error=\"%s\"",
			  r->n, err);
}

static void
deliver_record_done(void *arg)
{
	struct deliver_record *r = arg;
	size_t i;

	for (i = 0; i < r->nstrings; i++)
		free(r->strings[i]);
	free(r->strings);
	free(r->a);
	if (!r->d->stopping)
		deliver_kick(r->d); /* a finished job may unblock its key */
	free(r);
}

/* All attempts of a loop turn go to the store in one transaction. */
static void
deliver_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deliver *d = arg;
	struct deliver_record *r;

	(void)fd;
	(void)what;
	if (d->npending == 0 || (r = calloc(1, sizeof(*r))) == NULL)
		return;
	r->d = d;
	r->a = d->pending;
	r->n = d->npending;
	r->strings = d->pending_strings;
	r->nstrings = d->npending_strings;
	d->pending = NULL;
	d->pending_strings = NULL;
	d->npending = d->npending_strings = 0;
	if (worker_submit(d->worker, deliver_record_run, deliver_record_done,
			  r) == -1) {
		log_error("msg=\"recording attempts failed\" error=\"out of "
			  "memory\"");
		deliver_record_done(r);
	}
}

static const char *
deliver_keep(struct deliver *d, const char *s, size_t max)
{
	char **p, *c;

	if (s == NULL)
		return NULL;
	p = realloc(d->pending_strings, (d->npending_strings + 1) * sizeof(*p));
	if (p == NULL || (c = strndup(s, max)) == NULL) {
		if (p != NULL)
			d->pending_strings = p;
		return NULL;
	}
	d->pending_strings = p;
	p[d->npending_strings++] = c;
	return c;
}

/*
 * A response snippet as text the API can show: cut on a UTF-8 boundary,
 * and a body that is not UTF-8 (binary, another charset) turned into
 * ASCII with '?' for every other byte.
 */
static const char *
deliver_snippet(struct deliver *d, const char *body)
{
	char buf[DELIVER_SNIPPET_MAX + 1];
	size_t n, i, where;

	if (body == NULL)
		return NULL;
	n = strnlen(body, DELIVER_SNIPPET_MAX);
	while (n > 0 && n < strlen(body) &&
	       ((unsigned char)body[n] & 0xc0) == 0x80)
		n--;
	memcpy(buf, body, n);
	buf[n] = '\0';
	if (envelope_check_utf8(buf, n, &where) == -1)
		for (i = 0; i < n; i++)
			if ((unsigned char)buf[i] >= 0x80)
				buf[i] = '?';
	return deliver_keep(d, buf, n);
}

static void
deliver_record(struct deliver *d, const struct store_attempt *a)
{
	struct store_attempt *p;

	p = realloc(d->pending, (d->npending + 1) * sizeof(*p));
	if (p == NULL) {
		log_error("msg=\"attempt not recorded\" job=%s error=\"out of "
			  "memory\"",
			  a->job_id);
		return;
	}
	d->pending = p;
	p[d->npending] = *a;
	p[d->npending].error = deliver_keep(d, a->error, 1024);
	p[d->npending].response = deliver_snippet(d, a->response);
	p[d->npending].ticket_id = deliver_keep(d, a->ticket_id, 256);
	d->npending++;
	event_active(d->flush, EV_TIMEOUT, 1);
}

/* --- outcomes ----------------------------------------------------------- */

/*
 * The wait before attempt n + 1: first * 2^(n-1) up to max, then "equal
 * jitter" (half fixed, half random) so that jobs failing together do not
 * come back together.
 */
static int64_t
deliver_backoff(const struct deliver_job *j, int attempts)
{
	double delay = (double)j->retry_first_ms;
	int i;

	for (i = 1; i < attempts && delay < (double)j->retry_max_ms; i++)
		delay *= 2;
	if (delay > (double)j->retry_max_ms)
		delay = (double)j->retry_max_ms;
	return (int64_t)(delay / 2 + (double)arc4random_uniform(1000001) /
					 1000000.0 * delay / 2);
}

/*
 * Retry-After: seconds or an HTTP date, clamped to [first, max]; a date in
 * the past counts as first.  -1 when absent or unreadable.
 */
static int64_t
deliver_retry_after(const struct deliver_job *j, const char *v, int64_t now)
{
	struct tm tm;
	int64_t ms;
	char *end;
	long secs;

	if (v == NULL || *v == '\0')
		return -1;
	secs = strtol(v, &end, 10);
	if (end != v && *end == '\0' && secs >= 0) {
		ms = secs > 10L * 365 * 86400 ? INT64_MAX / 2 : secs * 1000L;
	} else {
		memset(&tm, 0, sizeof(tm));
		end = strptime(v, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		if (end == NULL || *end != '\0')
			return -1;
		ms = (int64_t)timegm(&tm) * 1000 - now;
	}
	if (ms < j->retry_first_ms)
		ms = j->retry_first_ms;
	if (ms > j->retry_max_ms)
		ms = j->retry_max_ms;
	return ms;
}

static int
deliver_retryable(int status)
{
	if (status == 0 || (status >= 300 && status < 400))
		return 1;
	switch (status) {
	case 408:
	case 425:
	case 429:
	case 500:
	case 502:
	case 503:
	case 504:
		return 1;
	default:
		return 0;
	}
}

static void deliver_disable(struct deliver *d, struct deliver_target *dt,
			    const char *reason);

const char *const deliver_outcome_names[3] = {"done", "retry", "dead"};

/* The end of one attempt: counters, the log line, the record. */
void
deliver_finish(struct deliver_job *j, struct store_attempt *a, double seconds)
{
	struct deliver *d = j->d;
	struct deliver_target *dt = deliver_find(d, j->target);
	char next[40] = "-", err[300];
	time_t t;
	struct tm tm;
	size_t b;

	if (dt != NULL) {
		dt->in_flight--;
		dt->outcomes[a->outcome]++;
		for (b = 0;
		     b < DELIVER_NBUCKETS && seconds > deliver_buckets[b]; b++)
			;
		dt->buckets[b]++;
		dt->latency_sum += seconds;
		dt->retrying = a->outcome == STORE_JOB_RETRY;
		snprintf(dt->last_error, sizeof(dt->last_error), "%s",
			 a->outcome == STORE_JOB_DONE ? ""
			 : a->error		      ? a->error
						      : "");
	}
	if (a->outcome == STORE_JOB_RETRY) {
		t = (time_t)(a->next_ms / 1000);
		gmtime_r(&t, &tm);
		strftime(next, sizeof(next), "%Y-%m-%dT%H:%M:%SZ", &tm);
	}
	log_info("msg=attempt event=%s job=%s target=%s status=%d "
		 "duration_ms=%lld outcome=%s next_retry=%s error=%s",
		 j->due.event_id, j->due.id, j->target, a->status,
		 (long long)a->duration_ms, deliver_outcome_names[a->outcome],
		 next,
		 log_quote(err, sizeof(err), a->error ? a->error : "",
			   a->error ? strlen(a->error) : 0, 200));
	deliver_record(d, a);
	deliver_job_free(j);
}

/* Classifies an answer (status 0: none) into done, retry or dead. */
void
deliver_classify(struct deliver_job *j, struct store_attempt *a,
		 const char *retry_after)
{
	int64_t now = deliver_now_ms(), wait;
	struct deliver_target *dt;

	if (a->status >= 200 && a->status < 300) {
		a->outcome = STORE_JOB_DONE;
		return;
	}
	if (!deliver_retryable(a->status)) {
		a->outcome = STORE_JOB_DEAD;
		if (a->status == 410 &&
		    (dt = deliver_find(j->d, j->target)) != NULL)
			deliver_disable(j->d, dt,
					"the target answered 410 Gone");
		return;
	}
	if (now - j->due.created_ms >= j->give_up_ms) {
		char last[400];

		a->outcome = STORE_JOB_DEAD;
		/* a->error may point into errbuf: copy it out first */
		snprintf(last, sizeof(last), "%s",
			 a->error ? a->error : "no answer");
		snprintf(j->errbuf, sizeof(j->errbuf),
			 "gave up after retry.give_up_after; last: %.400s",
			 last);
		a->error = j->errbuf;
		return;
	}
	a->outcome = STORE_JOB_RETRY;
	wait = deliver_retry_after(j, retry_after, now);
	if (wait < 0)
		wait = deliver_backoff(j, j->due.attempts + 1);
	a->next_ms = now + wait;
}

/* --- sending ------------------------------------------------------------ */

void
deliver_attempt_init(struct store_attempt *a, const struct deliver_job *j)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->job_id, sizeof(a->job_id), "%s", j->due.id);
	a->started_ms = j->started_ms;
}

static void
deliver_http_done(const struct httpc_response *resp, void *arg)
{
	struct deliver_job *j = arg;
	struct store_attempt a;

	if (j->d->stopping) { /* abandoned: sent again at the next start */
		deliver_job_free(j);
		return;
	}
	deliver_attempt_init(&a, j);
	a.duration_ms = resp->duration_ms;
	a.status = resp->status;
	a.response = resp->body_len > 0 ? resp->body : NULL;
	if (resp->status == 0) {
		a.error = resp->error ? resp->error : "no answer";
	} else if (resp->status < 200 || resp->status >= 300) {
		snprintf(j->errbuf, sizeof(j->errbuf), "HTTP %d%s%s",
			 resp->status, resp->location ? ", Location: " : "",
			 resp->location ? resp->location : "");
		a.error = j->errbuf;
	}
	deliver_classify(j, &a, resp->retry_after);
	deliver_finish(j, &a, (double)resp->duration_ms / 1000.0);
}

/* The file target: one line appended, no network. */
static void
deliver_file(struct deliver_job *j, const struct target_request *req)
{
	struct store_attempt a;
	ssize_t w = -1;
	int fd;

	deliver_attempt_init(&a, j);
	fd = open(req->url, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd != -1) {
		w = write(fd, req->body, req->body_len);
		if (close(fd) == -1)
			w = -1;
	}
	if (w != (ssize_t)req->body_len) {
		snprintf(j->errbuf, sizeof(j->errbuf), "appending to %s: %s",
			 req->url, w == -1 ? strerror(errno) : "short write");
		a.error = j->errbuf;
		deliver_classify(j, &a, NULL); /* status 0: retried */
	} else {
		a.outcome = STORE_JOB_DONE;
	}
	a.duration_ms = deliver_now_ms() - j->started_ms;
	deliver_finish(j, &a, (double)a.duration_ms / 1000.0);
}

int
deliver_http(struct deliver_job *j, const struct target_delivery *dl,
	     const struct target_request *req, httpc_done_fn done)
{
	return target_send(j->d->httpc, req, dl, done, j);
}

/* The job's render context: the event, its customer, the rule. */
static cJSON *
deliver_context(struct deliver *d, const struct deliver_job *j)
{
	cJSON *tree = cJSON_ParseWithLength(j->due.body, j->due.body_len);
	int mapped;
	cJSON *ctx;

	if (tree == NULL)
		return NULL;
	ctx = router_context(d->router, tree, j->due.source, j->due.received_ms,
			     &mapped);
	if (ctx != NULL && !cJSON_AddStringToObject(ctx, "rule", j->due.rule)) {
		cJSON_Delete(ctx);
		return NULL;
	}
	return ctx;
}

/* A job that cannot be built will not build on a retry: dead. */
void
deliver_fail_build(struct deliver_job *j, const char *why)
{
	struct store_attempt a;

	deliver_attempt_init(&a, j);
	snprintf(j->errbuf, sizeof(j->errbuf), "not sent: %s", why);
	a.error = j->errbuf;
	a.outcome = STORE_JOB_DEAD;
	deliver_finish(j, &a, 0);
}

static void
deliver_send(struct deliver *d, struct deliver_target *dt,
	     struct deliver_job *j)
{
	struct target_job tj = {0};
	struct target_request req;
	char err[512];
	cJSON *ctx;

	j->started_ms = deliver_now_ms();
	j->retry_first_ms = dt->t->dl.retry_first_ms;
	j->retry_max_ms = dt->t->dl.retry_max_ms;
	j->give_up_ms = dt->t->dl.give_up_ms;
	dt->in_flight++;
	if ((ctx = deliver_context(d, j)) == NULL) {
		deliver_fail_build(j, "the stored event is not valid JSON");
		return;
	}
	tj.id = j->due.id;
	tj.event_id = j->due.event_id;
	tj.rule = j->due.rule;
	tj.action = j->due.action;
	tj.template = j->due.template;
	tj.correlate = j->due.correlate;
	tj.ctx = ctx;
	tj.templates = router_templates(d->router);
	tj.ticket_id = j->due.ticket_id;
	tj.flags = j->due.flags;
	tj.when = cJSON_GetStringValue(cJSON_GetObjectItem(ctx, "time_iso"));
	if (dt->t->ops->exchange != NULL) {
		/* the exchange renders what it needs at its start */
		deliver_exchange(j, dt->t, &tj);
		cJSON_Delete(ctx);
		return;
	}
	if (target_build(dt->t, &tj, &req, err, sizeof(err)) == -1) {
		cJSON_Delete(ctx);
		deliver_fail_build(j, err);
		return;
	}
	cJSON_Delete(ctx);
	if (req.method == NULL)
		deliver_file(j, &req);
	else if (deliver_http(j, &dt->t->dl, &req, deliver_http_done) == -1)
		deliver_fail_build(j, "the request could not be started");
	target_request_clear(&req);
}

/* --- taking jobs -------------------------------------------------------- */

struct deliver_take {
	struct deliver *d;
	char target[65];
	size_t limit;
	int64_t now_ms;
	struct store_due *due;
	size_t n;
};

static void
deliver_take_run(struct store *st, void *arg)
{
	struct deliver_take *t = arg;
	char err[256];

	if (store_jobs_take(st, t->target, t->limit, t->now_ms, &t->due, &t->n,
			    err, sizeof(err)) == -1)
		log_error("msg=\"taking jobs failed\" target=%s error=\"%s\"",
			  t->target, err);
}

static void
deliver_take_done(void *arg)
{
	struct deliver_take *t = arg;
	struct deliver *d = t->d;
	struct deliver_target *dt = deliver_find(d, t->target);
	struct deliver_job *j;
	size_t i;

	if (dt != NULL)
		dt->taking = 0;
	for (i = 0; i < t->n; i++) {
		if (d->stopping || dt == NULL || dt->t == NULL ||
		    (j = calloc(1, sizeof(*j))) == NULL) {
			/* left in flight: requeued at the next start */
			store_due_clear(&t->due[i]);
			continue;
		}
		j->d = d;
		j->due = t->due[i];
		memset(&t->due[i], 0, sizeof(t->due[i]));
		snprintf(j->target, sizeof(j->target), "%s", t->target);
		deliver_send(d, dt, j);
	}
	free(t->due); /* the entries moved into the jobs */
	if (dt != NULL && dt->t != NULL && dt->t->dl.rate_per_s > 0)
		dt->tokens += (double)(t->limit - t->n); /* not used */
	if (t->n == t->limit && !d->stopping)
		deliver_kick(d); /* there may be more */
	free(t);
}

static void
deliver_refill(struct deliver_target *dt, int64_t now)
{
	const struct target_delivery *dl = &dt->t->dl;

	if (dl->rate_per_s <= 0)
		return;
	if (dt->refill_ms == 0) {
		dt->tokens = dl->burst;
	} else {
		dt->tokens +=
		    (double)(now - dt->refill_ms) / 1000.0 * dl->rate_per_s;
		if (dt->tokens > dl->burst)
			dt->tokens = dl->burst;
	}
	dt->refill_ms = now;
}

/* How many jobs target may start now. */
static size_t
deliver_capacity(struct deliver_target *dt, int64_t now)
{
	int cap;

	if (dt->t == NULL || dt->disabled || dt->taking)
		return 0;
	cap = dt->t->dl.max_in_flight - dt->in_flight;
	deliver_refill(dt, now);
	if (dt->t->dl.rate_per_s > 0 && cap > (int)dt->tokens)
		cap = (int)dt->tokens;
	return cap > 0 ? (size_t)cap : 0;
}

static void
deliver_take(struct deliver *d, struct deliver_target *dt, size_t limit,
	     int64_t now)
{
	struct deliver_take *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return;
	t->d = d;
	t->limit = limit;
	t->now_ms = now;
	snprintf(t->target, sizeof(t->target), "%s", dt->name);
	if (worker_submit(d->worker, deliver_take_run, deliver_take_done, t) ==
	    -1) {
		free(t);
		return;
	}
	dt->taking = 1;
	if (dt->t->dl.rate_per_s > 0)
		dt->tokens -= (double)limit; /* given back by the next refill */
}

static void
deliver_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deliver *d = arg;
	int64_t now = deliver_now_ms();
	size_t i, cap;

	(void)fd;
	(void)what;
	if (!d->ready || d->stopping)
		return;
	for (i = 0; i < d->ntargets; i++) {
		if ((cap = deliver_capacity(&d->targets[i], now)) > 0)
			deliver_take(d, &d->targets[i], cap, now);
	}
}

void
deliver_kick(struct deliver *d)
{
	if (d != NULL && !d->stopping)
		event_active(d->kick, EV_TIMEOUT, 1);
}

/* --- targets, start, reload --------------------------------------------- */

struct deliver_disable_op {
	char name[65];
	char reason[256];
	int64_t now_ms;
};

static void
deliver_disable_run(struct store *st, void *arg)
{
	struct deliver_disable_op *op = arg;
	char err[256];

	if (store_target_disable(st, op->name, 1, op->reason, op->now_ms, NULL,
				 err, sizeof(err)) == -1)
		log_error("msg=\"disabling a target failed\" target=%s "
			  "error=\"%s\"",
			  op->name, err);
}

static void
deliver_disable(struct deliver *d, struct deliver_target *dt,
		const char *reason)
{
	struct deliver_disable_op *op;

	if (dt->disabled)
		return;
	dt->disabled = 1;
	log_warn("msg=\"target disabled\" target=%s reason=\"%s\" "
		 "hint=\"psabridge queue enable %s, once fixed\"",
		 dt->name, reason, dt->name);
	if ((op = calloc(1, sizeof(*op))) == NULL)
		return;
	snprintf(op->name, sizeof(op->name), "%s", dt->name);
	snprintf(op->reason, sizeof(op->reason), "%s", reason);
	op->now_ms = deliver_now_ms();
	if (worker_submit(d->worker, deliver_disable_run, free, op) == -1)
		free(op);
}

void
deliver_enable(struct deliver *d, const char *name)
{
	struct deliver_target *dt = deliver_find(d, name);

	if (dt == NULL)
		return;
	dt->disabled = 0;
	dt->last_error[0] = '\0';
	log_info("msg=\"target enabled\" target=%s", name);
	deliver_kick(d);
}

/* Matches the runtime targets to a configuration's, keeping counters. */
static int
deliver_set_targets(struct deliver *d, const struct targets *ts)
{
	struct deliver_target *nt, *old;
	size_t i;

	if ((nt = calloc(ts->n + 1, sizeof(*nt))) == NULL)
		return -1;
	for (i = 0; i < ts->n; i++) {
		if ((old = deliver_find(d, ts->list[i].name)) != NULL)
			nt[i] = *old;
		snprintf(nt[i].name, sizeof(nt[i].name), "%s",
			 ts->list[i].name);
		nt[i].t = &ts->list[i];
		if (nt[i].t->dl.insecure)
			log_warn("msg=\"TLS verification is off\" target=%s "
				 "hint=\"tls_insecure is for labs only\"",
				 nt[i].name);
	}
	/*
	 * Jobs in flight for a target that is gone find no target when they
	 * finish and are recorded without counters; their target name stays
	 * in their job.
	 */
	free(d->targets);
	d->targets = nt;
	d->ntargets = ts->n;
	return 0;
}

struct deliver_start {
	struct deliver *d;
	cJSON *disabled;
};

static void
deliver_start_run(struct store *st, void *arg)
{
	struct deliver_start *s = arg;
	struct store_query q = {.kind = STORE_Q_TARGETS};
	char err[256];
	size_t n = 0;

	if (store_jobs_requeue(st, &n, err, sizeof(err)) == -1)
		log_error("msg=\"requeueing jobs failed\" error=\"%s\"", err);
	else if (n > 0)
		log_info("msg=\"jobs in flight at the last stop are sent "
			 "again\" jobs=%zu",
			 n);
	if (store_query(st, &q, &s->disabled, err, sizeof(err)) == -1)
		log_error("msg=\"reading disabled targets failed\" "
			  "error=\"%s\"",
			  err);
}

static void
deliver_start_done(void *arg)
{
	struct deliver_start *s = arg;
	struct deliver_target *dt;
	const cJSON *row;

	cJSON_ArrayForEach(row, s->disabled)
	{
		const char *name =
		    cJSON_GetStringValue(cJSON_GetObjectItem(row, "name"));

		if (name != NULL && (dt = deliver_find(s->d, name)) != NULL) {
			dt->disabled = 1;
			log_warn("msg=\"target is disabled\" target=%s "
				 "hint=\"psabridge queue enable %s\"",
				 name, name);
		}
	}
	cJSON_Delete(s->disabled);
	s->d->ready = 1;
	deliver_prepare(s->d);
	deliver_check_orphans(s->d);
	deliver_kick(s->d);
	free(s);
}

struct deliver *
deliver_new(struct event_base *base, struct worker *w, struct httpc *h,
	    const struct targets *targets, struct router *router, char *err,
	    size_t errlen)
{
	struct timeval tv = {DELIVER_TICK_MS / 1000, 0};
	struct deliver_start *s;
	struct deliver *d;

	if ((d = calloc(1, sizeof(*d))) == NULL ||
	    (s = calloc(1, sizeof(*s))) == NULL) {
		free(d);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->base = base;
	d->worker = w;
	d->httpc = h;
	d->router = router_ref(router);
	d->tick = event_new(base, -1, EV_PERSIST, deliver_tick_cb, d);
	d->kick = event_new(base, -1, 0, deliver_tick_cb, d);
	d->flush = event_new(base, -1, 0, deliver_flush_cb, d);
	s->d = d;
	if (d->tick == NULL || d->kick == NULL || d->flush == NULL ||
	    deliver_set_targets(d, targets) == -1 ||
	    event_add(d->tick, &tv) == -1 ||
	    worker_submit(w, deliver_start_run, deliver_start_done, s) == -1) {
		snprintf(err, errlen, "cannot set up delivery");
		free(s);
		deliver_free(d);
		return NULL;
	}
	return d;
}

int
deliver_reload(struct deliver *d, const struct targets *targets,
	       struct router *router)
{
	struct router *old = d->router;

	/* on failure nothing changed: the caller keeps the old config */
	if (deliver_set_targets(d, targets) == -1)
		return -1;
	d->router = router_ref(router);
	router_unref(old);
	if (d->ready) {
		deliver_prepare(d);
		deliver_check_orphans(d);
	}
	deliver_kick(d);
	return 0;
}

void
deliver_stop(struct deliver *d)
{
	if (d == NULL || d->stopping)
		return;
	d->stopping = 1;
	if (d->tick != NULL)
		event_del(d->tick);
	if (d->kick != NULL)
		event_del(d->kick);
	deliver_flush_cb(-1, 0, d); /* what finished is recorded */
}

void
deliver_free(struct deliver *d)
{
	if (d == NULL)
		return;
	deliver_stop(d);
	if (d->tick != NULL)
		event_free(d->tick);
	if (d->kick != NULL)
		event_free(d->kick);
	if (d->flush != NULL)
		event_free(d->flush);
	free(d->pending);
	free(d->targets);
	router_unref(d->router);
	free(d);
}
