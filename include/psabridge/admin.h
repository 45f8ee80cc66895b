/*
 * admin: the operator listener.  GET /healthz answers without a token (for
 * service managers and load balancers), and so do the web page's files at
 * / and under /ui/ (webui.h: the page holds no data, it logs in with the
 * token); everything else needs admin.token when one is configured:
 *
 *   GET  /metrics                         Prometheus text format
 *   GET  /api/v1/overview                 the web page's numbers
 *   GET  /api/v1/rules                    the running rules, as written
 *   GET  /api/v1/events?state=&limit=&before=
 *        &event_type=&customer=&host=&job_state=
 *   GET  /api/v1/events/{id}              the event, its jobs, every attempt
 *   POST /api/v1/events/{id}/replay       route again with the current rules
 *   GET  /api/v1/jobs?state=&target=&limit=&before=
 *   GET  /api/v1/jobs/{id}
 *   POST /api/v1/jobs/{id}/retry
 *   POST /api/v1/jobs/retry?state=dead&target=   (bulk)
 *   POST /api/v1/jobs/release?target=     held jobs go out without a mapping
 *   GET  /api/v1/targets                  ok, retrying, disabled; in flight
 *   POST /api/v1/targets/{name}/enable
 *   GET  /api/v1/customers/unmapped       customer ids holding jobs
 */
#ifndef PSABRIDGE_ADMIN_H
#define PSABRIDGE_ADMIN_H

#include <stddef.h>

struct event_base;
struct config;
struct commit;
struct worker;
struct deliver;
struct ingest;
struct router;
struct admin;

/* What the admin listener reads and steers; all borrowed. */
struct admin_deps {
	struct commit *commit;
	struct worker *worker;
	struct deliver *deliver;
	struct ingest *ingest;
	struct router *router; /* for GET /api/v1/rules; NULL: none */
};

/* NULL with a message in err on failure. */
struct admin *admin_new(struct event_base *base, const struct config *cfg,
			const struct admin_deps *deps, char *err,
			size_t errlen);

/* Takes the token of a newly loaded cfg.  0 or -1. */
int admin_reload(struct admin *a, const struct config *cfg);

/*
 * The router whose rules GET /api/v1/rules shows, borrowed: on reload, call
 * this before the previous router's last reference is dropped.
 */
void admin_set_router(struct admin *a, struct router *r);

void admin_stop(struct admin *a);

/* NULL is safe. */
void admin_free(struct admin *a);

#endif
