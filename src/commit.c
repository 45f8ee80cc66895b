/*
 * Group commit.
 *
 * Loop side: submitted items collect in `pending`.  An event (`flush`)
 * activated on the first submit of a loop turn runs after the other
 * callbacks of that turn and appends the turn's items to the shared `todo`
 * list.
 *
 * Thread side: takes everything in `todo` as one batch, appends it to the
 * store in one transaction, moves it to `finished` and writes to the
 * eventfd (`wake`), then at once takes whatever collected in `todo` during
 * that commit: the next transaction never waits for the loop to answer the
 * previous one.  When idle for COMMIT_PROBE_S it probes the store so that
 * /healthz notices a store that went bad while no events arrived.
 *
 * libevent is only touched on the loop thread; the two sides meet under
 * `mu` only to exchange whole lists.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/sha.h>

#include "psabridge/commit.h"
#include "psabridge/customers.h"
#include "psabridge/envelope.h"
#include "psabridge/log.h"
#include "psabridge/router.h"

#define COMMIT_PROBE_S 5

struct commit {
	struct event_base *base;
	struct store *store;
	pthread_t thread;
	int thread_started;
	int efd;
	struct event *flush, *wake;

	/* loop thread only */
	struct commit_item *pending, **pending_tail;
	size_t inflight; /* submitted, done not yet called */
	void (*drained_cb)(void *);
	void *drained_arg;
	void (*jobs_cb)(void *);
	void *jobs_arg;

	/* shared, under mu */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct commit_item *todo, **todo_tail;
	struct commit_item *finished, **finished_tail;
	int stop;
	struct router *router;	 /* the newest; the thread takes a reference */
	int router_changed;	 /* release held jobs before the next batch */
	int commit_ok, probe_ok; /* a failed commit stays bad until one works */
	char health_err[256];
	struct commit_stats stats;
	struct log_batch log; /* the thread's */
};

static void
commit_set_health(struct commit *c, int *flag, int ok, const char *err)
{
	pthread_mutex_lock(&c->mu);
	*flag = ok;
	if (!ok)
		snprintf(c->health_err, sizeof(c->health_err), "%s", err);
	pthread_mutex_unlock(&c->mu);
}

static int
commit_customer_mapped(const char *customer_id, void *arg)
{
	const struct customers *cust = router_customers(arg);

	return cust != NULL && customers_find(cust, customer_id) != NULL;
}

/* Runs on the thread after a reload: held jobs may now have a customer. */
static void
commit_release_held(struct commit *c, struct router *r)
{
	char err[256] = "";
	size_t n = 0;

	if (router_customers(r) == NULL)
		return;
	if (store_release_held(c->store, commit_customer_mapped, r, &n, err,
			       sizeof(err)) == -1) {
		log_error("msg=\"releasing held jobs failed\" error=\"%s\"",
			  err);
		return;
	}
	if (n > 0)
		log_info("msg=\"held jobs released\" jobs=%zu", n);
	pthread_mutex_lock(&c->mu);
	c->stats.released += n;
	pthread_mutex_unlock(&c->mu);
}

/* The router for the next batch (a reference), or NULL. */
static struct router *
commit_take_router(struct commit *c)
{
	struct router *r = NULL;
	int changed;

	pthread_mutex_lock(&c->mu);
	if (c->router != NULL)
		r = router_ref(c->router);
	changed = c->router_changed;
	c->router_changed = 0;
	pthread_mutex_unlock(&c->mu);
	if (changed && r != NULL)
		commit_release_held(c, r);
	return r;
}

/*
 * Validates, hashes and routes one item on the thread, off the event
 * loop: the body is parsed once, for both.  0, or -1 when rejected.
 */
static int
commit_prepare(struct router *r, struct commit_item *it,
	       struct router_result *res)
{
	struct store_event *ev = &it->ev;
	struct envelope env;
	cJSON *tree;

	memset(res, 0, sizeof(*res));
	if (envelope_parse_tree(ev->body, ev->body_len, &env, &tree, it->reject,
				sizeof(it->reject)) == -1) {
		ev->outcome = STORE_REJECTED;
		return -1;
	}
	memcpy(it->event_type, env.event, sizeof(it->event_type));
	ev->event_type = it->event_type;
	ev->vendor_time = env.time;
	SHA256((const unsigned char *)ev->body, ev->body_len, ev->hash);
	if (r == NULL) {
		cJSON_Delete(tree);
		return 0;
	}
	if (router_route(r, ev, tree, res) == -1)
		log_error("msg=\"routing failed, event stored unrouted\" "
			  "source=%s",
			  ev->source);
	return 0;
}

/* One line per event, all written at once after the commit. */
static void
commit_log(struct commit *c, struct commit_item *batch)
{
	struct commit_item *it;
	char type[160];

	for (it = batch; it != NULL; it = it->next) {
		const struct store_event *ev = &it->ev;

		if (ev->outcome == STORE_FAILED)
			continue;
		if (ev->outcome == STORE_REJECTED) {
			log_quote(type, sizeof(type), it->reject,
				  strlen(it->reject), 150);
			log_batch_add(&c->log, LOG_LEVEL_INFO,
				      "msg=rejected source=%s status=400 "
				      "error=bad_request detail=%s",
				      ev->source, type);
			continue;
		}
		log_quote(type, sizeof(type), ev->event_type,
			  strlen(ev->event_type), 128);
		if (ev->outcome == STORE_DUPLICATE)
			log_batch_add(
			    &c->log, LOG_LEVEL_INFO,
			    "msg=duplicate event=%s source=%s type=%s", ev->id,
			    ev->source, type);
		else
			log_batch_add(
			    &c->log, LOG_LEVEL_INFO,
			    "msg=stored event=%s source=%s type=%s state=%s "
			    "jobs=%zu",
			    ev->id, ev->source, type,
			    ev->state ? ev->state : "received", ev->njobs);
	}
	log_batch_flush(&c->log);
}

/* Runs on the thread: one transaction for the whole list. */
const double COMMIT_BUCKETS_MS[COMMIT_NBUCKETS] = {0.5, 1,  2,	 5,
						   10,	25, 100, 1000};

/* Replays: the event exists; its new jobs are added (one transaction). */
static void
commit_replays(struct commit *c, struct commit_item *batch)
{
	struct timespec now;
	struct commit_item *it;
	char err[256];

	clock_gettime(CLOCK_REALTIME, &now);
	for (it = batch; it != NULL; it = it->next) {
		if (it->replay_of[0] == '\0' ||
		    it->ev.outcome == STORE_REJECTED)
			continue;
		memcpy(it->ev.id, it->replay_of, sizeof(it->ev.id));
		if (store_jobs_add(
			c->store, it->replay_of, it->ev.jobs, it->ev.njobs,
			(int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, err,
			sizeof(err)) == -1) {
			log_error("msg=\"replay failed\" event=%s error=\"%s\"",
				  it->replay_of, err);
			it->ev.outcome = STORE_FAILED;
		} else {
			it->ev.outcome = STORE_STORED;
		}
	}
}

/* The counters of it's source and event type, under mu. */
static struct commit_kind *
commit_kind(struct commit_stats *st, const struct commit_item *it)
{
	const char *event =
	    it->ev.outcome == STORE_REJECTED ? "" : it->event_type;
	struct commit_kind *k;
	size_t i;

	for (i = 0; i < st->nkinds; i++) {
		k = &st->kinds[i];
		if (strcmp(k->source, it->ev.source) == 0 &&
		    strcmp(k->event, event) == 0)
			return k;
	}
	if (st->nkinds == COMMIT_NKINDS) {
		k = &st->kinds[COMMIT_NKINDS];
		snprintf(k->event, sizeof(k->event), "other");
		return k;
	}
	k = &st->kinds[st->nkinds++];
	snprintf(k->source, sizeof(k->source), "%s", it->ev.source);
	snprintf(k->event, sizeof(k->event), "%s", event);
	return k;
}

/* Counters for /metrics, under mu. */
static void
commit_count(struct commit *c, struct commit_item *batch, size_t nvalid, int rc,
	     double ms)
{
	struct commit_item *it;
	size_t b;

	pthread_mutex_lock(&c->mu);
	if (nvalid > 0) {
		c->stats.batches++;
		for (b = 0; b < COMMIT_NBUCKETS && ms > COMMIT_BUCKETS_MS[b];
		     b++)
			;
		c->stats.latency[b]++;
		c->stats.latency_sum_ms += ms;
	}
	c->stats.events += nvalid;
	c->stats.failures += rc == -1;
	for (it = batch; it != NULL; it = it->next) {
		const struct store_event *ev = &it->ev;
		struct commit_kind *k;

		if (it->replay_of[0] != '\0' || ev->outcome == STORE_FAILED)
			continue; /* no callback came in, or not counted yet */
		k = commit_kind(&c->stats, it);
		k->stored += ev->outcome == STORE_STORED;
		k->duplicates += ev->outcome == STORE_DUPLICATE;
		k->rejected += ev->outcome == STORE_REJECTED;
		c->stats.stored += ev->outcome == STORE_STORED;
		c->stats.duplicates += ev->outcome == STORE_DUPLICATE;
		c->stats.rejected += ev->outcome == STORE_REJECTED;
		c->stats.dropped += ev->outcome == STORE_STORED && ev->state &&
				    !strcmp(ev->state, "dropped");
		c->stats.unrouted += ev->outcome == STORE_STORED && ev->state &&
				     !strcmp(ev->state, "unrouted");
	}
	pthread_mutex_unlock(&c->mu);
}

static void
commit_run_batch(struct commit *c, struct commit_item *batch)
{
	struct router_result *res = NULL;
	struct router *r = commit_take_router(c);
	struct store_event **evs = NULL;
	struct commit_item *it;
	char err[256] = "";
	struct timespec t0, t1;
	size_t n = 0, nvalid = 0, i = 0;
	double ms = 0;
	int rc = -1;

	for (it = batch; it != NULL; it = it->next)
		n++;
	if ((evs = calloc(n, sizeof(*evs))) == NULL ||
	    (res = calloc(n, sizeof(*res))) == NULL) {
		snprintf(err, sizeof(err), "out of memory");
		for (it = batch; it != NULL; it = it->next)
			it->ev.outcome = STORE_FAILED;
		goto out;
	}
	for (it = batch; it != NULL; it = it->next, i++) {
		if (commit_prepare(r, it, &res[i]) == 0 &&
		    it->replay_of[0] == '\0')
			evs[nvalid++] = &it->ev;
	}
	rc = 0;
	if (nvalid > 0) {
		clock_gettime(CLOCK_MONOTONIC, &t0);
		rc = store_append(c->store, evs, nvalid, err, sizeof(err));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
		     (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
		log_debug("msg=committed events=%zu ok=%d ms=%.3f", nvalid,
			  rc == 0, ms);
	}
	commit_replays(c, batch);
out:
	if (rc == -1)
		log_error("msg=\"commit failed\" events=%zu error=\"%s\"", n,
			  err);
	if (nvalid > 0 || rc == -1)
		commit_set_health(c, &c->commit_ok, rc == 0, err);
	commit_log(c, batch);
	commit_count(c, batch, nvalid, rc, ms);
	for (i = 0; res != NULL && i < n; i++)
		router_result_clear(&res[i]);
	for (it = batch; it != NULL; it = it->next)
		it->ev.jobs = NULL; /* freed above; njobs and state stay */
	free(res);
	free(evs);
	router_unref(r);
}

static void
commit_probe(struct commit *c)
{
	char err[256] = "";
	int rc = store_ping(c->store, err, sizeof(err));

	commit_set_health(c, &c->probe_ok, rc == 0, err);
}

static void *
commit_thread(void *arg)
{
	struct commit *c = arg;
	struct commit_item *batch, **last;
	uint64_t one = 1;
	struct timespec ts;

	pthread_mutex_lock(&c->mu);
	for (;;) {
		while (c->todo == NULL && !c->stop && !c->router_changed) {
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += COMMIT_PROBE_S;
			if (pthread_cond_timedwait(&c->cv, &c->mu, &ts) ==
			    ETIMEDOUT) {
				pthread_mutex_unlock(&c->mu);
				commit_probe(c);
				pthread_mutex_lock(&c->mu);
			}
		}
		if (c->todo == NULL && c->router_changed) {
			/* a reload with no traffic: release held jobs now */
			pthread_mutex_unlock(&c->mu);
			router_unref(commit_take_router(c));
			pthread_mutex_lock(&c->mu);
			continue;
		}
		if (c->todo == NULL)
			break; /* stop, and nothing left */
		batch = c->todo;
		last = c->todo_tail;
		c->todo = NULL;
		c->todo_tail = &c->todo;
		pthread_mutex_unlock(&c->mu);

		commit_run_batch(c, batch);

		pthread_mutex_lock(&c->mu);
		*c->finished_tail = batch;
		c->finished_tail = last;
		/* an eventfd counter cannot overflow with one write per batch
		 */
		if (write(c->efd, &one, sizeof(one)) < 0)
			log_error("msg=\"commit wakeup failed\" error=\"%s\"",
				  strerror(errno));
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

static void
commit_check_drained(struct commit *c)
{
	void (*cb)(void *) = c->drained_cb;

	if (cb == NULL || c->inflight > 0)
		return;
	c->drained_cb = NULL;
	cb(c->drained_arg);
}

static void
commit_handoff(struct commit *c)
{
	if (c->pending == NULL)
		return;
	pthread_mutex_lock(&c->mu);
	*c->todo_tail = c->pending;
	c->todo_tail = c->pending_tail;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	c->pending = NULL;
	c->pending_tail = &c->pending;
}

static void
commit_flush_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	commit_handoff(arg);
}

static void
commit_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct commit *c = arg;
	struct commit_item *it, *next;
	size_t jobs = 0;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("msg=\"commit wakeup read failed\" error=\"%s\"",
			  strerror(errno));
	pthread_mutex_lock(&c->mu);
	it = c->finished;
	c->finished = NULL;
	c->finished_tail = &c->finished;
	pthread_mutex_unlock(&c->mu);
	for (; it != NULL; it = next) {
		next = it->next;
		c->inflight--;
		jobs += it->ev.outcome == STORE_STORED && it->ev.njobs > 0;
		it->done(it, it->arg);
	}
	if (jobs > 0 && c->jobs_cb != NULL)
		c->jobs_cb(c->jobs_arg);
	commit_check_drained(c);
}

void
commit_submit(struct commit *c, struct commit_item *item)
{
	item->next = NULL;
	*c->pending_tail = item;
	c->pending_tail = &item->next;
	c->inflight++;
	/* activating an active event again is a no-op */
	event_active(c->flush, EV_TIMEOUT, 1);
}

void
commit_set_router(struct commit *c, struct router *r)
{
	struct router *old;

	pthread_mutex_lock(&c->mu);
	old = c->router;
	c->router = r != NULL ? router_ref(r) : NULL;
	c->router_changed = 1;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
	router_unref(old);
}

void
commit_on_jobs(struct commit *c, void (*cb)(void *), void *arg)
{
	c->jobs_cb = cb;
	c->jobs_arg = arg;
}

void
commit_drain(struct commit *c, void (*cb)(void *), void *arg)
{
	c->drained_cb = cb;
	c->drained_arg = arg;
	commit_check_drained(c);
}

int
commit_health(struct commit *c, char *err, size_t errlen)
{
	int ok;

	pthread_mutex_lock(&c->mu);
	ok = c->commit_ok && c->probe_ok;
	if (!ok)
		snprintf(err, errlen, "%s", c->health_err);
	pthread_mutex_unlock(&c->mu);
	return ok ? 0 : -1;
}

void
commit_get_stats(struct commit *c, struct commit_stats *out)
{
	pthread_mutex_lock(&c->mu);
	*out = c->stats;
	pthread_mutex_unlock(&c->mu);
}

struct commit *
commit_new(struct event_base *base, struct store *st, char *err, size_t errlen)
{
	struct commit *c;

	if ((c = calloc(1, sizeof(*c))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	c->base = base;
	c->store = st;
	c->commit_ok = c->probe_ok = 1;
	c->pending_tail = &c->pending;
	c->todo_tail = &c->todo;
	c->finished_tail = &c->finished;
	c->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (c->efd == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	c->flush = event_new(base, -1, 0, commit_flush_cb, c);
	c->wake =
	    event_new(base, c->efd, EV_READ | EV_PERSIST, commit_wake_cb, c);
	if (c->flush == NULL || c->wake == NULL || event_add(c->wake, NULL)) {
		snprintf(err, errlen, "cannot set up the commit events");
		goto fail;
	}
	if ((errno = pthread_create(&c->thread, NULL, commit_thread, c))) {
		snprintf(err, errlen, "pthread_create: %s", strerror(errno));
		goto fail;
	}
	c->thread_started = 1;
	return c;
fail:
	commit_free(c);
	return NULL;
}

void
commit_free(struct commit *c)
{
	if (c == NULL)
		return;
	if (c->thread_started) {
		pthread_mutex_lock(&c->mu);
		c->stop = 1;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thread, NULL);
	}
	if (c->flush != NULL)
		event_free(c->flush);
	if (c->wake != NULL)
		event_free(c->wake);
	if (c->efd != -1)
		close(c->efd);
	router_unref(c->router);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
	free(c);
}
