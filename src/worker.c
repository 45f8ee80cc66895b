/*
 * The store worker thread.  Same shape as commit.c: the loop appends to
 * `todo` under `mu`; the thread runs everything queued, moves it to
 * `finished` and writes to an eventfd; the loop runs the done callbacks.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <event2/event.h>

#include "psabridge/log.h"
#include "psabridge/store.h"
#include "psabridge/worker.h"

struct worker_op {
	worker_run_fn run;
	worker_done_fn done;
	void *arg;
	struct worker_op *next;
};

struct worker {
	struct store *store;
	pthread_t thread;
	int started;
	int efd;
	struct event *wake;
	size_t pending; /* loop side: submitted, done not yet called */
	void (*drained_cb)(void *);
	void *drained_arg;

	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct worker_op *todo, **todo_tail;
	struct worker_op *finished, **finished_tail;
	int stop;
};

static void *
worker_thread(void *arg)
{
	struct worker *w = arg;
	struct worker_op *batch, *op, **last;
	uint64_t one = 1;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		while (w->todo == NULL && !w->stop)
			pthread_cond_wait(&w->cv, &w->mu);
		if (w->todo == NULL)
			break;
		batch = w->todo;
		last = w->todo_tail;
		w->todo = NULL;
		w->todo_tail = &w->todo;
		pthread_mutex_unlock(&w->mu);
		for (op = batch; op != NULL; op = op->next)
			op->run(w->store, op->arg);
		pthread_mutex_lock(&w->mu);
		*w->finished_tail = batch;
		w->finished_tail = last;
		if (write(w->efd, &one, sizeof(one)) < 0)
			log_error("msg=\"worker wakeup failed\" error=\"%s\"",
				  strerror(errno));
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

static void
worker_check_drained(struct worker *w)
{
	void (*cb)(void *) = w->drained_cb;

	if (cb == NULL || w->pending > 0)
		return;
	w->drained_cb = NULL;
	cb(w->drained_arg);
}

static void
worker_wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_op *op, *next;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_error("msg=\"worker wakeup read failed\" error=\"%s\"",
			  strerror(errno));
	pthread_mutex_lock(&w->mu);
	op = w->finished;
	w->finished = NULL;
	w->finished_tail = &w->finished;
	pthread_mutex_unlock(&w->mu);
	for (; op != NULL; op = next) {
		next = op->next;
		w->pending--;
		if (op->done != NULL)
			op->done(op->arg);
		free(op);
	}
	worker_check_drained(w);
}

int
worker_submit(struct worker *w, worker_run_fn run, worker_done_fn done,
	      void *arg)
{
	struct worker_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return -1;
	op->run = run;
	op->done = done;
	op->arg = arg;
	pthread_mutex_lock(&w->mu);
	*w->todo_tail = op;
	w->todo_tail = &op->next;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	w->pending++;
	return 0;
}

size_t
worker_pending(const struct worker *w)
{
	return w->pending;
}

void
worker_drain(struct worker *w, void (*cb)(void *), void *arg)
{
	w->drained_cb = cb;
	w->drained_arg = arg;
	worker_check_drained(w);
}

struct worker *
worker_new(struct event_base *base, const char *state_dir, char *err,
	   size_t errlen)
{
	struct worker *w = calloc(1, sizeof(*w));

	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->todo_tail = &w->todo;
	w->finished_tail = &w->finished;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	if ((w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	if (store_open_secondary(NULL, state_dir, &w->store, err, errlen) == -1)
		goto fail;
	w->wake =
	    event_new(base, w->efd, EV_READ | EV_PERSIST, worker_wake_cb, w);
	if (w->wake == NULL || event_add(w->wake, NULL) == -1) {
		snprintf(err, errlen, "cannot set up the worker's event");
		goto fail;
	}
	if ((errno = pthread_create(&w->thread, NULL, worker_thread, w))) {
		snprintf(err, errlen, "pthread_create: %s", strerror(errno));
		goto fail;
	}
	w->started = 1;
	return w;
fail:
	worker_free(w);
	return NULL;
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->mu);
		w->stop = 1;
		pthread_cond_signal(&w->cv);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->thread, NULL);
		/* the thread ran everything queued: finish on this thread */
		worker_wake_cb(w->efd, EV_READ, w);
	}
	if (w->wake != NULL)
		event_free(w->wake);
	if (w->efd > 0)
		close(w->efd);
	store_close(w->store);
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}
