/*
 * templates: every template in templates_dir, compiled at load.
 *
 *   NAME.ticket         a ticket (see ticket.h), used by create/note/close
 *   NAME.json.mustache  a JSON body (values JSON-escaped), e.g. webhooks
 *   NAME.mustache       plain text; also what {{> NAME}} includes
 *
 * A rule or target names a template by NAME, without the extension.
 * Partials resolve against the sources loaded here, never the disk at
 * render time, so what `check` compiled is what runs.
 */
#ifndef PSABRIDGE_TEMPLATES_H
#define PSABRIDGE_TEMPLATES_H

#include <stddef.h>

#include "psabridge/diag.h"
#include "psabridge/mustache.h"
#include "psabridge/ticket.h"

enum templates_kind {
	TEMPLATES_TICKET,
	TEMPLATES_JSON,
	TEMPLATES_TEXT,
};

struct templates_entry {
	char *name;
	char *path;
	enum templates_kind kind;
	struct ticket_template *ticket; /* TEMPLATES_TICKET */
	struct mustache *body;		/* TEMPLATES_JSON, TEMPLATES_TEXT */
};

struct templates;

/* Largest template file read. */
#define TEMPLATES_FILE_MAX (1024 * 1024)

/*
 * Loads and compiles every template in dir; every problem goes to d as
 * PATH:LINE: column C: message.  Returns 0 and a set the caller frees with
 * templates_free(), or -1.
 */
int templates_load(const char *dir, struct templates **out, struct diag *d);

/* NULL is safe. */
void templates_free(struct templates *t);

/* The entry called name (borrowed), or NULL. */
const struct templates_entry *templates_find(const struct templates *t,
					     const char *name);

/* For rules_env.template_exists: arg is a struct templates *. */
int templates_exists(const char *name, void *arg);

/* How a template of this kind escapes values. */
enum mustache_escape templates_escape(enum templates_kind kind);

const char *templates_dir(const struct templates *t);
size_t templates_count(const struct templates *t);
const struct templates_entry *templates_at(const struct templates *t, size_t i);

/*
 * A partial loader over a directory on disk (arg: the directory), for
 * compiling a single file outside a loaded set (`psabridge template`).
 */
int templates_partial_from_dir(const char *name, char **source, void *arg);

/* Reads a whole file of at most max bytes; caller frees.  0 or -1+errno. */
int templates_read_file(const char *path, size_t max, char **out, size_t *len);

#endif
