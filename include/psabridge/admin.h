/*
 * admin: the operator listener.  GET /healthz answers without a token (for
 * service managers and load balancers); every other path needs admin.token
 * when one is configured.
 */
#ifndef PSABRIDGE_ADMIN_H
#define PSABRIDGE_ADMIN_H

#include <stddef.h>

struct event_base;
struct config;
struct commit;
struct admin;

/* NULL with a message in err on failure; commit is borrowed. */
struct admin *admin_new(struct event_base *base, const struct config *cfg,
			struct commit *commit, char *err, size_t errlen);

/* Takes the token and limits of a newly loaded cfg.  0 or -1. */
int admin_reload(struct admin *a, const struct config *cfg);

void admin_stop(struct admin *a);

/* NULL is safe. */
void admin_free(struct admin *a);

#endif
