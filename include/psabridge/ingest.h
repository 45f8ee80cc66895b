/*
 * ingest: the callback listener.  POST <source path> with the source's
 * token, a JSON envelope, and an answer only once the event is on disk:
 * 202 queued, 200 duplicate, or an error with {"error","detail"}.
 */
#ifndef PSABRIDGE_INGEST_H
#define PSABRIDGE_INGEST_H

#include <stddef.h>

struct event_base;
struct config;
struct commit;
struct ingest;

/*
 * Listens on cfg->listen, and with TLS on cfg->tls_listen when listen_tls
 * is set (the listener takes its own reference to cfg->tls_ctx).  cfg is
 * only read during the call; commit is borrowed and must outlive the
 * ingest.  NULL with a message on failure.
 */
struct ingest *ingest_new(struct event_base *base, const struct config *cfg,
			  struct commit *commit, char *err, size_t errlen);

/*
 * Takes sources, limits and the TLS context from a newly loaded cfg: new
 * TLS connections use the new certificate, open ones keep theirs.  0, or
 * -1 (old kept).  The addresses are not changed.
 */
int ingest_reload(struct ingest *in, const struct config *cfg);

/* Prometheus lines for what ingest refused, appended to buf. */
struct evbuffer;
void ingest_metrics(const struct ingest *in, struct evbuffer *buf);

/* Stops accepting; requests that arrive on open connections get 503. */
void ingest_stop(struct ingest *in);

/* NULL is safe.  Call only when the commit queue is drained. */
void ingest_free(struct ingest *in);

#endif
