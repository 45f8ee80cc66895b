/*
 * render: what psabridge would do with an event, without doing it (the
 * model is `amtool template render`): the rules that matched or why not,
 * and for every action the exact request its target would send, secrets
 * shown as ***.  No network, no store.
 */
#ifndef PSABRIDGE_RENDER_H
#define PSABRIDGE_RENDER_H

#include <stddef.h>
#include <stdio.h>

#include "psabridge/diag.h"

struct config;
struct router;

/*
 * Renders one callback body (label names it in messages).  With out
 * NULL nothing is printed and only problems are reported to d as
 * "label: message".  Returns the number of problems (0: all good).
 */
int render_event(const struct config *cfg, const struct router *r,
		 const char *label, const char *body, size_t len, FILE *out,
		 struct diag *d);

/* Renders every *.json in dir quietly; problems go to d. 0 or -1. */
int render_events_dir(const struct config *cfg, const struct router *r,
		      const char *dir, size_t *count, struct diag *d);

/* `psabridge render -c FILE [EVENT.json]`: exit code. */
int render_main(int argc, char **argv);

/* `psabridge template FILE [DATA.json] [--json]`: exit code. */
int render_template_main(int argc, char **argv);

#endif
