/*
 * target: where jobs go.  Every kind sits behind struct target_ops
 * (OpenSMTPD's backend tables): adding a PSA is one new file and one line
 * in target.c's table.
 *
 *   targets = (
 *     { name = "psa";   type = "file";    path = "../var/tickets.jsonl"; },
 *     { name = "teams"; type = "webhook"; url = "https://...";
 *       body = "teams-agent-uninstalled"; }
 *   );
 *
 * A target turns a job (action, template, correlation key, the event's
 * render context) into a request: an HTTP request, or for the file target
 * the line it appends.  Building never touches the network, so `render`
 * shows exactly what delivery would send.
 */
#ifndef PSABRIDGE_TARGET_H
#define PSABRIDGE_TARGET_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <libconfig.h>

#include "psabridge/diag.h"
#include "psabridge/templates.h"

struct target;

/* What one job asks of a target.  Everything is borrowed. */
struct target_job {
	const char *id; /* the job id (webhook-id when signing) */
	const char *event_id;
	const char *rule;
	const char *action;    /* create, note, close, notify */
	const char *template;  /* NULL: the target's default */
	const char *correlate; /* NULL when none */
	const cJSON *ctx;      /* the event's render context */
	const struct templates *templates;
};

struct target_header {
	char *name;
	char *value;
	int secret; /* shown as *** by render */
};

/* A built request; every string owned, freed by target_request_clear(). */
struct target_request {
	char *method; /* NULL for the file target */
	char *url;    /* or, for the file target, the path appended to */
	struct target_header *headers;
	size_t nheaders;
	char *body;
	size_t body_len;
};

struct target_ops {
	const char *type;
	/* The keys this type accepts besides name and type. */
	const char *const *keys;
	/*
	 * Reads the type's keys from s (errors to d with FILE:LINE and the
	 * prefix, e.g. "targets[1].url"); paths relative to cfgdir.  A default
	 * template it names must be in templates (NULL: none loaded).  Stores
	 * its state in *state.  0 or -1.
	 */
	int (*load)(const config_setting_t *s, const char *prefix,
		    const char *cfgdir, const struct templates *templates,
		    void **state, struct diag *d);
	void (*free)(void *state);
	/* Builds the request for job; -1 with err when it cannot. */
	int (*build)(const struct target *t, const struct target_job *job,
		     struct target_request *req, char *err, size_t errlen);
};

/*
 * How a target is sent to, the same keys for every type:
 *   connect_timeout = "10s"; timeout = "30s"; ca_file = "file.pem";
 *   tls_insecure = false; max_in_flight = 4; rate = "10000/h";
 *   retry = { first = "5s"; max = "1h"; give_up_after = "72h"; };
 */
struct target_delivery {
	long connect_timeout_ms; /* default 10 s */
	long timeout_ms;	 /* the whole exchange, default 30 s */
	char *ca_file;		 /* NULL: the system's CAs */
	int insecure;		 /* tls_insecure: no verification */
	int64_t retry_first_ms;	 /* default 5 s */
	int64_t retry_max_ms;	 /* default 1 h */
	int64_t give_up_ms;	 /* default 72 h */
	int max_in_flight;	 /* default 4 */
	double rate_per_s;	 /* 0: no limit */
	double burst;		 /* tokens the bucket holds */
};

struct target {
	struct target_delivery dl;
	char *name;
	const struct target_ops *ops;
	void *state;
	int line;
};

struct targets {
	struct target *list;
	size_t n;
};

/*
 * Loads the `targets` list (NULL: none).  Every problem goes to d, all at
 * once.  Returns 0 and fills out (cleared by targets_clear()), or -1.
 */
int targets_load(const config_setting_t *list, const char *cfgdir,
		 const struct templates *templates, struct targets *out,
		 struct diag *d);

void targets_clear(struct targets *ts);

const struct target *targets_find(const struct targets *ts, const char *name);

/* Builds job's request on target t.  0, or -1 with err. */
int target_build(const struct target *t, const struct target_job *job,
		 struct target_request *req, char *err, size_t errlen);

void target_request_clear(struct target_request *req);

/*
 * Renders the job's template (default_template when the job names none):
 * a ticket template gives {"action", "correlate", "ticket": {...}}, a JSON
 * template its own document (checked to parse), a text template its text.
 * *content_type says which (a static string).  Caller frees *body.
 */
int target_render_body(const struct target_job *job,
		       const char *default_template, char **body, size_t *len,
		       const char **content_type, char *err, size_t errlen);

/* For the type-specific loaders: a default template must exist.  0/-1. */
int target_check_template(const config_setting_t *s, const char *key,
			  const char *prefix, const char *name,
			  const struct templates *templates, struct diag *d);

/* For the type-specific loaders: a string key, or NULL when absent. */
const char *target_string(const config_setting_t *s, const char *key,
			  const char *prefix, int required, struct diag *d);

#endif
