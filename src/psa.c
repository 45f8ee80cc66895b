/*
 * The ticket lifecycle both PSA targets follow (see psa.h), and the small
 * things they share: cutting text as the PSAs count it, Basic auth, the
 * key that travels with a ticket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/evp.h>

#include "psabridge/psa.h"
#include "psabridge/secret.h"
#include "psabridge/store.h"

enum psa_phase {
	PSA_P_PREPARE,
	PSA_P_LOOKUP,
	PSA_P_CREATE,
	PSA_P_NOTE,
	PSA_P_CLOSE
};

const char *const psa_priority_names[4] = {"critical", "high", "normal", "low"};

/* --- text --------------------------------------------------------------- */

/* The length of the UTF-8 sequence at s (1 for a stray byte). */
static size_t
psa_seq(const unsigned char *s)
{
	size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
	size_t i;

	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 1;
	return n;
}

size_t
psa_length(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t units = 0, n;

	for (; *p != '\0'; p += n) {
		n = psa_seq(p);
		units += n == 4 ? 2 : 1; /* a surrogate pair */
	}
	return units;
}

char *
psa_cut(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t units = 0, n, u;
	char *out;

	if (max < 4 || psa_length(s) <= max)
		return strdup(s);
	/* room for the ellipsis: three units */
	for (; *p != '\0'; p += n) {
		n = psa_seq(p);
		u = n == 4 ? 2 : 1;
		if (units + u > max - 3)
			break;
		units += u;
	}
	n = (size_t)(p - (const unsigned char *)s);
	if ((out = malloc(n + 4)) == NULL)
		return NULL;
	memcpy(out, s, n);
	memcpy(out + n, "...", 4);
	return out;
}

int
psa_basic_auth(const char *user, const char *pass, char *out, size_t outlen)
{
	size_t n = strlen(user) + 1 + strlen(pass);
	unsigned char *plain;
	int ok;

	if (6 + 4 * ((n + 2) / 3) + 1 > outlen ||
	    (plain = malloc(n + 1)) == NULL)
		return -1;
	snprintf((char *)plain, n + 1, "%s:%s", user, pass);
	memcpy(out, "Basic ", 6);
	ok = EVP_EncodeBlock((unsigned char *)out + 6, plain, (int)n) > 0;
	OPENSSL_cleanse(plain, n);
	free(plain);
	return ok ? 0 : -1;
}

char *
psa_xref(const char *key, size_t max)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char *out;
	size_t i, n = strlen(key);

	for (i = 0; i < n && key[i] >= 0x20 && key[i] < 0x7f; i++)
		;
	if (i == n && n <= max)
		return strdup(key);
	if (max < 20 || (out = malloc(max + 1)) == NULL ||
	    !EVP_Digest(key, n, md, &mdlen, EVP_sha256(), NULL)) {
		return NULL;
	}
	memcpy(out, "psabridge-", 10);
	for (i = 0; i < mdlen && 10 + 2 * i + 2 <= max && i < 20; i++)
		snprintf(out + 10 + 2 * i, 3, "%02x", md[i]);
	return out;
}

int
psa_numeric(const char *v)
{
	size_t n = strlen(v);

	return n > 0 && n < 10 && strspn(v, "0123456789") == n;
}

int
psa_id(const cJSON *v, char *id, size_t idlen)
{
	/* a positive integer a double holds exactly */
	if (!cJSON_IsNumber(v) || v->valuedouble < 1 ||
	    v->valuedouble > 9007199254740991.0)
		return 0;
	snprintf(id, idlen, "%.0f", v->valuedouble);
	return 1;
}

char *
psa_description(const struct psa_x *x, const char *title, size_t max)
{
	const char *full = x->tk.field[TICKET_SUMMARY];
	const char *desc = x->tk.description ? x->tk.description : "";
	int cut_title = strcmp(title, full) != 0;
	size_t n = strlen(full) + strlen(desc) + 3;
	char *s, *out;

	if ((s = malloc(n)) == NULL)
		return NULL;
	snprintf(s, n, "%s%s%s", cut_title ? full : "", cut_title ? "\n\n" : "",
		 desc);
	if (max == 0)
		return s;
	out = psa_cut(s, max);
	free(s);
	return out;
}

const char *
psa_string(const cJSON *obj, const char *name)
{
	return cJSON_GetStringValue(
	    cJSON_GetObjectItemCaseSensitive(obj, name));
}

int
psa_request(struct target_request *req, const char *method, const char *url,
	    cJSON *body)
{
	int ret = -1;

	if ((req->method = strdup(method)) == NULL ||
	    (req->url = strdup(url)) == NULL)
		goto out;
	if (body != NULL) {
		if ((req->body = cJSON_PrintUnformatted(body)) == NULL)
			goto out;
		req->body_len = strlen(req->body);
		if (target_request_header(req, "Content-Type",
					  "application/json", 0) == -1)
			goto out;
	}
	ret = 0;
out:
	cJSON_Delete(body);
	return ret;
}

/* --- starting ----------------------------------------------------------- */

static enum psa_action
psa_action_of(const char *action)
{
	if (strcmp(action, "note") == 0)
		return PSA_NOTE;
	if (strcmp(action, "close") == 0)
		return PSA_CLOSE;
	return PSA_CREATE; /* create, and notify sent to a PSA */
}

static char *
psa_dup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

static int
psa_copy_ticket(struct ticket *dst, const struct ticket *src)
{
	int i;

	for (i = 0; i < TICKET_NFIELDS; i++)
		if (src->field[i] != NULL &&
		    (dst->field[i] = strdup(src->field[i])) == NULL)
			return -1;
	if (src->description != NULL &&
	    (dst->description = strdup(src->description)) == NULL)
		return -1;
	return 0;
}

/* What the job says, copied: the exchange outlives it. */
static int
psa_take_job(struct psa_x *x, const struct target_job *job,
	     const char *default_template)
{
	const cJSON *customer = cJSON_GetObjectItem(job->ctx, "customer");
	const cJSON *payload = cJSON_GetObjectItem(job->ctx, "payload");
	char err[512];

	x->action = psa_action_of(job->action);
	x->flags = job->flags;
	if ((job->correlate != NULL &&
	     ((x->key = strdup(job->correlate)) == NULL ||
	      (x->xref = psa_xref(job->correlate, x->ops->xref_max)) ==
		  NULL)) ||
	    (job->when != NULL && (x->when = strdup(job->when)) == NULL))
		return -1;
	x->company = psa_dup(psa_string(customer, x->ops->company));
	if (x->company != NULL && x->company[0] == '\0') {
		free(x->company); /* an empty cell: no company */
		x->company = NULL;
	}
	x->customer_id = psa_dup(psa_string(payload, "customer_id"));
	if (job->ticket_id != NULL) {
		snprintf(x->ticket_id, sizeof(x->ticket_id), "%s",
			 job->ticket_id);
		x->from_state = 1;
	}
	if (job->ticket != NULL) {
		if (psa_copy_ticket(&x->tk, job->ticket) == -1)
			return -1;
	} else if (target_render_ticket(job, default_template, &x->tk, err,
					sizeof(err)) == -1) {
		return (x->error = strdup(err)) != NULL ? 0 : -1;
	}
	return 0;
}

void *
psa_start(const struct psa_ops *ops, void *vendor, const struct target_job *job,
	  const char *default_template)
{
	struct psa_x *x = calloc(1, sizeof(*x));

	if (x == NULL) {
		ops->unref(vendor);
		return NULL;
	}
	x->ops = ops;
	x->vendor = vendor;
	x->action = PSA_PREPARE;
	if (job != NULL && psa_take_job(x, job, default_template) == -1) {
		psa_end(x);
		return NULL;
	}
	return x;
}

void
psa_end(void *arg)
{
	struct psa_x *x = arg;

	if (x == NULL)
		return;
	x->ops->unref(x->vendor);
	free(x->key);
	free(x->xref);
	free(x->company);
	free(x->customer_id);
	free(x->when);
	free(x->error);
	ticket_clear(&x->tk);
	free(x);
}

/* --- the lifecycle ------------------------------------------------------ */

static enum target_step
psa_done(struct psa_x *x, struct target_result *res, int change,
	 const char *did)
{
	snprintf(res->ticket_id, sizeof(res->ticket_id), "%s", x->ticket_id);
	res->ticket_change = change;
	snprintf(res->did, sizeof(res->did), "%s", did);
	return TARGET_STEP_DONE;
}

/* A job that cannot be sent as it is: retrying will not help. */
static enum target_step
psa_unsendable(struct target_result *res, const char *why)
{
	res->permanent = 1;
	snprintf(res->error, sizeof(res->error), "not sent: %s", why);
	return TARGET_STEP_FAIL;
}

/* The note's text: why, the summary, the description. */
static char *
psa_note_text(const struct psa_x *x, int again)
{
	const char *sum = x->tk.field[TICKET_SUMMARY];
	const char *desc = x->tk.description ? x->tk.description : "";
	size_t n = strlen(sum) + strlen(desc) + 160;
	char *text = malloc(n), *cut;

	if (text == NULL)
		return NULL;
	if (again)
		snprintf(text, n,
			 "psabridge: this happened again at %s.\n\n%s\n\n%s",
			 x->when ? x->when : "(unknown time)", sum, desc);
	else
		snprintf(text, n, "%s\n\n%s", sum, desc);
	cut = psa_cut(text, x->ops->note_max);
	free(text);
	return cut;
}

/* Builds the request of phase into req. */
static enum target_step
psa_send(struct psa_x *x, enum psa_phase phase, struct target_request *req,
	 struct target_result *res)
{
	char err[256] = "out of memory";
	char *text = NULL;
	int rc = -1;

	x->phase = phase;
	switch (phase) {
	case PSA_P_LOOKUP:
		x->looked_up = 1;
		rc = x->ops->lookup(x, req, err, sizeof(err));
		break;
	case PSA_P_CREATE:
		/* checked here: a note to a known ticket needs no company */
		if (x->company == NULL)
			snprintf(err, sizeof(err),
				 "customer %s has no %s in the customer table: "
				 "add it and reload, then retry the job",
				 x->customer_id ? x->customer_id : "(none)",
				 x->ops->company);
		else
			rc = x->ops->create(x, req, err, sizeof(err));
		break;
	case PSA_P_NOTE:
		text = psa_note_text(x, x->action == PSA_CREATE);
		if (text != NULL)
			rc = x->ops->note(x, text, req, err, sizeof(err));
		free(text);
		break;
	case PSA_P_CLOSE:
		rc = x->ops->close(x, req, err, sizeof(err));
		break;
	default:
		break;
	}
	if (rc == -1)
		return psa_unsendable(res, err);
	return TARGET_STEP_SEND;
}

/* No ticket carries the key. */
static enum target_step
psa_missing(struct psa_x *x, struct target_request *req,
	    struct target_result *res)
{
	char did[160];

	if (x->action == PSA_CREATE || (x->flags & STORE_JOB_CREATE_MISSING))
		return psa_send(x, PSA_P_CREATE, req, res);
	snprintf(did, sizeof(did),
		 "skipped: no open ticket for %.100s (if_missing = skip)",
		 x->key ? x->key : "(no correlate)");
	/* a ticket the state knew is gone from the PSA: forget it there */
	return psa_done(x, res,
			x->lost ? STORE_TICKET_CLOSED : STORE_TICKET_SAME, did);
}

/* The first request after preparing, or after a ticket was lost. */
static enum target_step
psa_decide(struct psa_x *x, struct target_request *req,
	   struct target_result *res)
{
	int dedup = !(x->flags & STORE_JOB_NO_DEDUP);

	if (x->action == PSA_CREATE && !dedup)
		return psa_send(x, PSA_P_CREATE, req, res);
	if (x->ticket_id[0] != '\0')
		return psa_send(x, PSA_P_NOTE, req, res);
	if (x->xref != NULL && !x->looked_up)
		return psa_send(x, PSA_P_LOOKUP, req, res);
	return psa_missing(x, req, res);
}

static const char *
psa_doing(const struct psa_x *x, char *buf, size_t len)
{
	switch (x->phase) {
	case PSA_P_LOOKUP:
		snprintf(buf, len, "looking for the open ticket of %.100s",
			 x->key);
		break;
	case PSA_P_CREATE:
		snprintf(buf, len, "creating the ticket");
		break;
	case PSA_P_NOTE:
		snprintf(buf, len, "adding a note to ticket %s", x->ticket_id);
		break;
	default:
		snprintf(buf, len, "closing ticket %s", x->ticket_id);
		break;
	}
	return buf;
}

/* A failed answer: what was being done, and what the PSA said. */
static enum target_step
psa_refused(struct psa_x *x, const struct target_response *last,
	    struct target_result *res)
{
	char doing[160], said[400];

	psa_doing(x, doing, sizeof(doing));
	res->status = last->status;
	if (last->status == 0) {
		snprintf(res->error, sizeof(res->error), "%s: %s", doing,
			 last->error ? last->error : "no answer");
		return TARGET_STEP_FAIL;
	}
	x->ops->error(last->status, last->body, last->body_len, said,
		      sizeof(said), &res->validation);
	snprintf(res->error, sizeof(res->error),
		 "%.150s: %s answered HTTP %d%s%.300s", doing, x->ops->name,
		 last->status, said[0] ? ": " : "", said);
	return TARGET_STEP_FAIL;
}

/* Reads the id an answer carries; dry runs invent one. */
static int
psa_answer_id(struct psa_x *x, const struct target_response *last,
	      int (*read)(const char *, size_t, char *, size_t))
{
	char id[PSA_ID_MAX];
	int found;

	if (last->dry) {
		if (x->phase == PSA_P_LOOKUP)
			return 0;
		snprintf(x->ticket_id, sizeof(x->ticket_id), "NEW");
		return 1;
	}
	found = read(last->body, last->body_len, id, sizeof(id));
	if (found == 1)
		snprintf(x->ticket_id, sizeof(x->ticket_id), "%s", id);
	return found;
}

static enum target_step
psa_answer(struct psa_x *x, const struct target_response *last,
	   struct target_request *req, struct target_result *res)
{
	char did[160], doing[160];
	int found;

	if (!last->dry && (last->status < 200 || last->status >= 300)) {
		/* a ticket deleted in the PSA: look again, or go on without */
		if (x->phase == PSA_P_NOTE && last->status == 404 &&
		    x->from_state) {
			x->from_state = 0;
			x->lost = 1;
			x->ticket_id[0] = '\0';
			return psa_decide(x, req, res);
		}
		return psa_refused(x, last, res);
	}
	switch (x->phase) {
	case PSA_P_LOOKUP:
		if ((found = psa_answer_id(x, last, x->ops->lookup_id)) == 1)
			return psa_send(x, PSA_P_NOTE, req, res);
		if (found == 0)
			return psa_missing(x, req, res);
		break;
	case PSA_P_CREATE:
		if (psa_answer_id(x, last, x->ops->create_id) != 1)
			break;
		if (x->action == PSA_CLOSE)
			return psa_send(x, PSA_P_CLOSE, req, res);
		snprintf(did, sizeof(did), "created ticket %s", x->ticket_id);
		return psa_done(x, res, STORE_TICKET_OPEN, did);
	case PSA_P_NOTE:
		if (x->action == PSA_CLOSE)
			return psa_send(x, PSA_P_CLOSE, req, res);
		snprintf(did, sizeof(did), "%s ticket %s",
			 x->action == PSA_CREATE ? "happened again: noted"
						 : "noted",
			 x->ticket_id);
		return psa_done(x, res, STORE_TICKET_OPEN, did);
	default:
		snprintf(did, sizeof(did), "closed ticket %s", x->ticket_id);
		return psa_done(x, res, STORE_TICKET_CLOSED, did);
	}
	res->status = last->status;
	snprintf(res->error, sizeof(res->error),
		 "%s: %s answered HTTP %d without a ticket id",
		 psa_doing(x, doing, sizeof(doing)), x->ops->name,
		 last->status);
	return TARGET_STEP_FAIL;
}

enum target_step
psa_step(void *arg, const struct target_response *last,
	 struct target_request *req, struct target_result *res)
{
	struct psa_x *x = arg;
	enum target_step step;

	if (x->error != NULL)
		return psa_unsendable(res, x->error);
	if (x->phase != PSA_P_PREPARE)
		return psa_answer(x, last, req, res);
	step = x->ops->prepare(x, last, req, res);
	if (step != TARGET_STEP_DONE || x->action == PSA_PREPARE)
		return step;
	memset(res, 0, sizeof(*res));
	return psa_decide(x, req, res);
}

/* --- configuration ------------------------------------------------------ */

int
psa_secret(const config_setting_t *s, const char *key, const char *prefix,
	   const char *cfgdir, char **out, struct diag *d)
{
	const char *ref = target_string(s, key, prefix, 1, d);
	const config_setting_t *m = config_setting_get_member(s, key);
	struct secret_report rep;

	*out = NULL;
	if (ref == NULL)
		return -1;
	if (secret_resolve(ref, cfgdir, out, &rep) == -1) {
		diag_error(d, config_setting_source_file(m),
			   (int)config_setting_source_line(m), "%s.%s: %s",
			   prefix, key, rep.error);
		return -1;
	}
	if (rep.warning[0] != '\0')
		diag_warn(d, config_setting_source_file(m),
			  (int)config_setting_source_line(m), "%s.%s: %s",
			  prefix, key, rep.warning);
	if (strpbrk(*out, "\r\n") != NULL) {
		diag_error(d, config_setting_source_file(m),
			   (int)config_setting_source_line(m),
			   "%s.%s: the secret contains a line break", prefix,
			   key);
		return -1;
	}
	return 0;
}

int
psa_url(const config_setting_t *s, const char *key, const char *prefix,
	const char *url, struct diag *d)
{
	const config_setting_t *m = config_setting_get_member(s, key);
	CURLU *u = curl_url();
	CURLUcode rc = CURLUE_OUT_OF_MEMORY;
	int ok;

	ok = (strncmp(url, "https://", 8) == 0 ||
	      strncmp(url, "http://", 7) == 0) &&
	     u != NULL && (rc = curl_url_set(u, CURLUPART_URL, url, 0)) == 0;
	curl_url_cleanup(u);
	if (ok)
		return 0;
	/* the same parser that will send it: no surprise at delivery */
	diag_error(d, config_setting_source_file(m),
		   (int)config_setting_source_line(m),
		   "%s.%s: \"%s\" is not an http:// or https:// URL%s%s",
		   prefix, key, url, rc != CURLUE_OK ? ": " : "",
		   rc != CURLUE_OK ? curl_url_strerror(rc) : "");
	return -1;
}

int
psa_priorities(const config_setting_t *s, const char *prefix, char *names[4],
	       struct diag *d)
{
	const config_setting_t *g = config_setting_get_member(s, "priorities");
	int i, k, ret = 0;

	if (g == NULL)
		return 0;
	if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
		diag_error(d, config_setting_source_file(g),
			   (int)config_setting_source_line(g),
			   "%s.priorities: expected a group { high = \"...\"; "
			   "normal = \"...\"; }",
			   prefix);
		return -1;
	}
	for (i = 0; i < config_setting_length(g); i++) {
		const config_setting_t *m =
		    config_setting_get_elem(g, (unsigned int)i);
		const char *v = config_setting_get_string(m);

		for (k = 0; k < 4; k++)
			if (strcmp(config_setting_name(m),
				   psa_priority_names[k]) == 0)
				break;
		if (k == 4 || v == NULL) {
			diag_error(d, config_setting_source_file(m),
				   (int)config_setting_source_line(m),
				   "%s.priorities.%s: %s", prefix,
				   config_setting_name(m),
				   k == 4
				       ? "unknown priority (known: critical, "
					 "high, normal, low)"
				       : "expected a string");
			ret = -1;
			continue;
		}
		free(names[k]);
		if ((names[k] = strdup(v)) == NULL)
			ret = -1;
	}
	return ret;
}
