/*
 * psa: what the ConnectWise and Autotask targets share.  The ticket
 * lifecycle (look for the key's ticket, create it, note it, close it) is
 * decided here once; each PSA's file says how one step is asked and how
 * its answer reads, through struct psa_ops.
 *
 * A create for a key whose ticket is open notes that ticket instead ("it
 * happened again"), unless the action says dedup = false.  Note and close
 * act on the key's ticket; without one, if_missing says skip or create.
 * When psabridge's state does not know the key's ticket, the PSA is asked
 * for an open ticket carrying the key (ConnectWise externalXRef, Autotask
 * externalID), so that a lost state file does not open duplicates.
 */
#ifndef PSABRIDGE_PSA_H
#define PSABRIDGE_PSA_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <libconfig.h>

#include "psabridge/diag.h"
#include "psabridge/target.h"
#include "psabridge/ticket.h"

#define PSA_ID_MAX 64 /* a ticket id, as text */

enum psa_action { PSA_PREPARE, PSA_CREATE, PSA_NOTE, PSA_CLOSE };

/* One exchange.  Vendors read it; psa.c moves it along. */
struct psa_x {
	const struct psa_ops *ops;
	void *vendor; /* the target's state, one reference held */
	enum psa_action action;
	int flags;	   /* STORE_JOB_NO_DEDUP, ... */
	char *key;	   /* the correlation key, or NULL */
	char *xref;	   /* the key as it travels with the ticket */
	char *company;	   /* the customer's id in this PSA, or NULL */
	char *customer_id; /* the vendor's customer id, for messages */
	char *when;	   /* the event's time */
	struct ticket tk;  /* the rendered ticket (not for PSA_PREPARE) */
	char ticket_id[PSA_ID_MAX];
	int from_state; /* ticket_id came from psabridge's state */
	int lost;	/* that ticket is gone from the PSA (404) */
	int phase;	/* psa.c's */
	int vstate;	/* the vendor's, while preparing */
	int looked_up;	/* the PSA was asked for the key's ticket */
	char *error;	/* the job cannot be sent: why */
};

struct psa_ops {
	const char *name;    /* "ConnectWise", for messages */
	const char *company; /* the customer table's column */
	size_t xref_max;     /* how long the key may be where it travels */
	size_t note_max;     /* in characters */
	/*
	 * Discovery and picklists: TARGET_STEP_SEND with *req, or DONE when
	 * everything is known (res->did may say what was found), or FAIL.
	 * last is the answer to the request it sent last (NULL at first).
	 */
	enum target_step (*prepare)(struct psa_x *x,
				    const struct target_response *last,
				    struct target_request *req,
				    struct target_result *res);
	/* Each builds one request into req: 0, or -1 with err. */
	int (*lookup)(struct psa_x *x, struct target_request *req, char *err,
		      size_t errlen);
	int (*create)(struct psa_x *x, struct target_request *req, char *err,
		      size_t errlen);
	int (*note)(struct psa_x *x, const char *text,
		    struct target_request *req, char *err, size_t errlen);
	int (*close)(struct psa_x *x, struct target_request *req, char *err,
		     size_t errlen);
	/*
	 * Reads a 2xx answer's ticket id into id: 1 found, 0 none (a lookup
	 * that found nothing), -1 unreadable.
	 */
	int (*lookup_id)(const char *body, size_t len, char *id, size_t idlen);
	int (*create_id)(const char *body, size_t len, char *id, size_t idlen);
	/*
	 * An error answer as one line; *validation set when the PSA refused
	 * the content (it will refuse it again).
	 */
	void (*error)(int status, const char *body, size_t len, char *out,
		      size_t outlen, int *validation);
	void (*unref)(void *vendor);
};

/*
 * Starts an exchange for job (NULL: prepare only) on a vendor state the
 * caller has taken a reference on for it (released by psa_end(), also on
 * failure).  Renders the job's ticket now: the job is not needed after.
 * NULL on no memory; a job that cannot be rendered fails at its first step.
 */
void *psa_start(const struct psa_ops *ops, void *vendor,
		const struct target_job *job, const char *default_template);
enum target_step psa_step(void *x, const struct target_response *last,
			  struct target_request *req,
			  struct target_result *res);
void psa_end(void *x);

/* --- helpers for the vendors ---------------------------------------- */

/*
 * s cut to at most max characters (UTF-16 units, as both PSAs count), on
 * a character boundary, with "..." when cut.  Caller frees.  NULL on no
 * memory.
 */
char *psa_cut(const char *s, size_t max);

/* Characters in s as the PSAs count them (UTF-16 units). */
size_t psa_length(const char *s);

/* "Basic " + base64(user:pass) into out; 0, or -1 when it does not fit. */
int psa_basic_auth(const char *user, const char *pass, char *out,
		   size_t outlen);

/*
 * The key as it travels with the ticket: itself when it fits max and is
 * printable ASCII, else "psabridge-" and the start of its SHA-256 in hex.
 * Caller frees.
 */
char *psa_xref(const char *key, size_t max);

/* A request with method, URL and a JSON body (taken, even on failure). */
int psa_request(struct target_request *req, const char *method, const char *url,
		cJSON *body);

/* v is 1 to 9 digits: a picklist value or an id, not a name. */
int psa_numeric(const char *v);

/* A JSON number that is an id (a positive integer) as text: 1, else 0. */
int psa_id(const cJSON *v, char *id, size_t idlen);

/*
 * The ticket's description, with the whole summary first when the title
 * sent (title) is cut, itself cut to max characters (0: not cut).
 * Caller frees; NULL on no memory.
 */
char *psa_description(const struct psa_x *x, const char *title, size_t max);

/* A string member of obj, or NULL. */
const char *psa_string(const cJSON *obj, const char *name);

/*
 * The vendors' config helpers: a secret reference resolved (required),
 * and the priorities group { high = "..."; normal = "..."; }.  0 or -1.
 */
int psa_secret(const config_setting_t *s, const char *key, const char *prefix,
	       const char *cfgdir, char **out, struct diag *d);
int psa_priorities(const config_setting_t *s, const char *prefix,
		   char *names[4], struct diag *d);
/* url (key's value) is an http:// or https:// URL libcurl reads.  0/-1. */
int psa_url(const config_setting_t *s, const char *key, const char *prefix,
	    const char *url, struct diag *d);

/* The neutral priority names, in the order of psa_priorities()'s names. */
extern const char *const psa_priority_names[4];

#endif
