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
#include <stdio.h>

#include <cjson/cJSON.h>
#include <libconfig.h>

#include "psabridge/diag.h"
#include "psabridge/httpc.h"
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
	const char *ticket_id; /* the key's open ticket as psabridge knows it */
	int flags;	       /* STORE_JOB_NO_DEDUP, ... (store.h) */
	const char *when;      /* the event's time, for "happened again at" */
	const struct ticket
	    *ticket; /* already rendered (test-target), or NULL */
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
	size_t answer_max; /* answer bytes to keep; 0: the default 64 KiB */
};

/*
 * An exchange: the requests one job takes on a PSA (look for the ticket,
 * create it, add a note, close it), each decided by the answer to the one
 * before.  The target decides; delivery sends.
 */
enum target_step {
	TARGET_STEP_SEND, /* *req is the next request */
	TARGET_STEP_DONE, /* the job is done: see the result */
	TARGET_STEP_FAIL, /* it failed: see the result */
};

/* The answer to the last request. */
struct target_response {
	int status; /* 0: no answer (error says why) */
	const char *body;
	size_t body_len;
	const char *error;
	int dry; /* not sent (a dry run): answer as a PSA would, invented */
};

/* How an exchange ended. */
struct target_result {
	char ticket_id[64]; /* the ticket acted on, or "" */
	int ticket_change;  /* enum store_ticket_change */
	int status;	    /* FAIL: the failing answer's HTTP status */
	int permanent;	    /* FAIL: never retry (configuration) */
	int validation;	    /* FAIL: the PSA refused the content */
	char error[512];    /* FAIL: what went wrong; DONE: a remark */
	char did[160];	    /* DONE: what was done, for the log */
};

struct target_exchange_ops {
	/*
	 * Starts the exchange for job; job NULL prepares the target only
	 * (discovery, picklists), as at start and reload.  NULL on no memory.
	 */
	void *(*start)(const struct target *t, const struct target_job *job);
	/*
	 * Takes the answer to the last request (NULL the first time) and
	 * says what comes next.  Strings in res are the exchange's own.
	 */
	enum target_step (*step)(void *x, const struct target_response *last,
				 struct target_request *req,
				 struct target_result *res);
	void (*end)(void *x);
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
	/*
	 * Builds the one request for job; -1 with err when it cannot.  NULL
	 * for kinds that hold an exchange instead.
	 */
	int (*build)(const struct target *t, const struct target_job *job,
		     struct target_request *req, char *err, size_t errlen);
	const struct target_exchange_ops *exchange;
	/* Default max_in_flight and rate ("N/h"), NULL: the common ones. */
	int max_in_flight;
	const char *rate;
	/* The customer table's column naming the customer here, or NULL. */
	const char *customer_column;
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
 * Runs job's exchange on t without sending anything: each request is
 * printed through print(req, arg) and answered as a PSA would (dry), as if
 * no ticket existed.  0 with what it did in did (didlen bytes), or -1 with
 * the reason in did (the kind has no exchange, or it failed).
 */
int target_dry_run(const struct target *t, const struct target_job *job,
		   void (*print)(const struct target_request *req, void *arg),
		   void *arg, char *did, size_t didlen);

/*
 * Prints req as render and test-target show it: method and URL, headers
 * (secret values as ***), the body; indented by two spaces.
 */
void target_request_print(FILE *out, const struct target_request *req);

/*
 * Sends req through h with dl's timeouts and TLS settings (borrowed until
 * it returns); as httpc_send(): 0, or -1 and done is not called.
 */
int target_send(struct httpc *h, const struct target_request *req,
		const struct target_delivery *dl, httpc_done_fn done,
		void *arg);

/* psabridge test-target ARGS: see target_test.c.  The exit status. */
int target_test_main(int argc, char **argv);

/* Adds a header to req (strings copied).  0, or -1 on no memory. */
int target_request_header(struct target_request *req, const char *name,
			  const char *value, int secret);

/*
 * Renders the job's template (default_template when the job names none):
 * a ticket template gives {"action", "correlate", "ticket": {...}}, a JSON
 * template its own document (checked to parse), a text template its text.
 * *content_type says which (a static string).  Caller frees *body.
 */
int target_render_body(const struct target_job *job,
		       const char *default_template, char **body, size_t *len,
		       const char **content_type, char *err, size_t errlen);

struct ticket;
/*
 * Renders the job's ticket template (default_template when the job names
 * none) into tk, which the caller clears with ticket_clear().  0, or -1
 * with err (no such template, not a ticket template, a render error).
 */
int target_render_ticket(const struct target_job *job,
			 const char *default_template, struct ticket *tk,
			 char *err, size_t errlen);

/* For the type-specific loaders: a default template must exist.  0/-1. */
int target_check_template(const config_setting_t *s, const char *key,
			  const char *prefix, const char *name,
			  const struct templates *templates, struct diag *d);

/* For the type-specific loaders: a string key, or NULL when absent. */
const char *target_string(const config_setting_t *s, const char *key,
			  const char *prefix, int required, struct diag *d);

#endif
