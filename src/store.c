/*
 * The store front: picks a backend by name and forwards to it.  Adding a
 * backend is one line in store_backends[] and one file.
 */
#include <stdio.h>
#include <string.h>
#include <stdlib.h>

#include "psabridge/store.h"

extern const struct store_ops store_sqlite_ops;

static const struct store_ops *const store_backends[] = {
    &store_sqlite_ops,
};

int
store_open(const char *backend, const char *state_dir, int64_t dedup_horizon_ms,
	   struct store **out, char *err, size_t errlen)
{
	size_t i;

	if (backend == NULL)
		backend = "sqlite";
	for (i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]);
	     i++) {
		if (strcmp(store_backends[i]->name, backend) == 0)
			return store_backends[i]->open(
			    out, state_dir, dedup_horizon_ms, err, errlen);
	}
	snprintf(err, errlen, "unknown store backend \"%s\"", backend);
	return -1;
}

int
store_append(struct store *st, struct store_event **evs, size_t n, char *err,
	     size_t errlen)
{
	return st->ops->append(st, evs, n, err, errlen);
}

int
store_ping(struct store *st, char *err, size_t errlen)
{
	return st->ops->ping(st, err, errlen);
}

int
store_release_held(struct store *st,
		   int (*mapped)(const char *customer_id, void *arg), void *arg,
		   size_t *released, char *err, size_t errlen)
{
	return st->ops->release_held(st, mapped, arg, released, err, errlen);
}

int
store_backup(const char *backend, const char *state_dir, const char *dest,
	     char *err, size_t errlen)
{
	size_t i;

	if (backend == NULL)
		backend = "sqlite";
	for (i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]);
	     i++) {
		if (strcmp(store_backends[i]->name, backend) == 0)
			return store_backends[i]->backup(state_dir, dest, err,
							 errlen);
	}
	snprintf(err, errlen, "unknown store backend \"%s\"", backend);
	return -1;
}

static const struct store_ops *
store_backend(const char *backend)
{
	size_t i;

	if (backend == NULL)
		backend = "sqlite";
	for (i = 0; i < sizeof(store_backends) / sizeof(store_backends[0]);
	     i++) {
		if (strcmp(store_backends[i]->name, backend) == 0)
			return store_backends[i];
	}
	return NULL;
}

int
store_open_secondary(const char *backend, const char *state_dir,
		     struct store **out, char *err, size_t errlen)
{
	const struct store_ops *ops = store_backend(backend);

	if (ops == NULL) {
		snprintf(err, errlen, "unknown store backend \"%s\"", backend);
		return -1;
	}
	return ops->open_secondary(out, state_dir, err, errlen);
}

int
store_jobs_take(struct store *st, const char *target, size_t limit,
		int64_t now_ms, struct store_due **out, size_t *n, char *err,
		size_t errlen)
{
	return st->ops->jobs_take(st, target, limit, now_ms, out, n, err,
				  errlen);
}

int
store_jobs_record(struct store *st, const struct store_attempt *a, size_t n,
		  char *err, size_t errlen)
{
	return st->ops->jobs_record(st, a, n, err, errlen);
}

int
store_jobs_requeue(struct store *st, size_t *n, char *err, size_t errlen)
{
	return st->ops->jobs_requeue(st, n, err, errlen);
}

int
store_jobs_retry(struct store *st, const char *job_id, const char *target,
		 const char *state, int64_t now_ms, size_t *n, char *err,
		 size_t errlen)
{
	return st->ops->jobs_retry(st, job_id, target, state, now_ms, n, err,
				   errlen);
}

int
store_jobs_add(struct store *st, const char *event_id, struct store_job *jobs,
	       size_t n, int64_t now_ms, char *err, size_t errlen)
{
	return st->ops->jobs_add(st, event_id, jobs, n, now_ms, err, errlen);
}

int
store_target_disable(struct store *st, const char *name, int disabled,
		     const char *reason, int64_t now_ms, size_t *n, char *err,
		     size_t errlen)
{
	return st->ops->target_disable(st, name, disabled, reason, now_ms, n,
				       err, errlen);
}

int
store_query(struct store *st, const struct store_query *q, cJSON **out,
	    char *err, size_t errlen)
{
	return st->ops->query(st, q, out, err, errlen);
}

void
store_due_clear(struct store_due *due)
{
	free(due->rule);
	free(due->action);
	free(due->template);
	free(due->correlate);
	free(due->source);
	free(due->body);
	free(due->last_error);
	free(due->ticket_id);
	memset(due, 0, sizeof(*due));
}

void
store_due_free(struct store_due *due, size_t n)
{
	size_t i;

	for (i = 0; due != NULL && i < n; i++)
		store_due_clear(&due[i]);
	free(due);
}

void
store_close(struct store *st)
{
	if (st != NULL)
		st->ops->close(st);
}

/*
 * RFC 9562 UUID version 7: 48 bits of Unix ms, then 74 random bits.
 * arc4random_buf (glibc 2.36) draws from the kernel's generator without a
 * system call per id.
 */
int
store_new_id(int64_t ms, char *out)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16];
	size_t i, o = 0;

	arc4random_buf(b + 6, 10);
	for (i = 0; i < 6; i++)
		b[i] = (unsigned char)((uint64_t)ms >> (40 - 8 * i));
	b[6] = (unsigned char)(0x70 | (b[6] & 0x0f));
	b[8] = (unsigned char)(0x80 | (b[8] & 0x3f));
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[o++] = '-';
		out[o++] = hex[b[i] >> 4];
		out[o++] = hex[b[i] & 0xf];
	}
	out[o] = '\0';
	return 0;
}
