/*
 * The Autotask (Datto PSA) target: tickets through the REST API v1.0.
 *
 *   zone     GET https://webservices.autotask.net/ATServicesRest/
 *            V1.0/ZoneInformation?user=USER -> {"url": ...}, once
 *   auth     headers ApiIntegrationCode, UserName, Secret
 *   fields   GET {zone}V1.0/Tickets/entityInformation/fields: picklist
 *            labels ("New", "High", "Monitoring Alert") to their values,
 *            once per start or reload, and only when a label is used
 *   create   POST {zone}V1.0/Tickets        -> {"itemId": N}
 *   note     POST {zone}V1.0/Tickets/{id}/Notes
 *   close    PATCH {zone}V1.0/Tickets {"id", "status": complete_status}
 *   lookup   POST {zone}V1.0/Tickets/query on externalID, not complete
 *
 * Autotask allows 3 concurrent requests per integration and 10,000 an
 * hour per database: the defaults of max_in_flight and rate.  It answers
 * many validation errors with HTTP 500 and {"errors": [...]}; delivery
 * makes those dead once they repeat (see deliver.c).
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "psabridge/psa.h"
#include "psabridge/secret.h"
#include "psabridge/target.h"

#define AT_URL_MAX	   2048
#define AT_DISCOVERY	   "https://webservices.autotask.net/ATServicesRest/"
#define AT_XREF_MAX	   50
#define AT_TITLE_MAX	   255
#define AT_DESCRIPTION_MAX 8000
#define AT_NOTE_TITLE_MAX  250
#define AT_NOTE_MAX	   32000
#define AT_FIELDS_MAX	   (4 * 1024 * 1024) /* the fields answer is big */

/* The picklist fields psabridge sets, and the config key of each. */
enum at_pick {
	AT_STATUS,
	AT_PRIORITY,
	AT_QUEUE,
	AT_SOURCE,
	AT_ISSUE,
	AT_SUBISSUE,
	AT_NPICKS
};
static const char *const at_pick_fields[AT_NPICKS] = {
    "status", "priority", "queueID", "source", "issueType", "subIssueType"};

struct at {
	atomic_int refs;
	char *username, *secret, *code;
	char *discovery; /* where the zone is asked */
	char *zone;	 /* the zone's URL, ending in '/': set or discovered */
	char *new_status, *complete_status, *queue, *source, *issue, *subissue,
	    *template;
	char *priorities[4];
	int note_type, publish;
	cJSON *picklists; /* {"status": [{"value", "label"}...], ...} */
	int dry;	  /* a dry run: labels stay labels */
};

static const char *const at_keys[] = {
    "username",	     "secret",	"integration_code", "zone_url",
    "discovery_url", "queue",	"new_status",	    "complete_status",
    "priorities",    "source",	"issue_type",	    "sub_issue_type",
    "note_type",     "publish", "template",	    NULL};

static void
at_unref(void *state)
{
	struct at *a = state;
	int i;

	if (a == NULL || atomic_fetch_sub(&a->refs, 1) != 1)
		return;
	free(a->username);
	secret_free(a->secret);
	secret_free(a->code);
	free(a->discovery);
	free(a->zone);
	free(a->new_status);
	free(a->complete_status);
	free(a->queue);
	free(a->source);
	free(a->issue);
	free(a->subissue);
	free(a->template);
	for (i = 0; i < 4; i++)
		free(a->priorities[i]);
	cJSON_Delete(a->picklists);
	free(a);
}

/* url ending in exactly one '/', copied. */
static char *
at_slash(const char *url)
{
	size_t n = strlen(url);
	char *s;

	while (n > 0 && url[n - 1] == '/')
		n--;
	if ((s = malloc(n + 2)) == NULL)
		return NULL;
	memcpy(s, url, n);
	memcpy(s + n, "/", 2);
	return s;
}

static char *
at_opt(const config_setting_t *s, const char *key, const char *prefix,
       const char *dflt, struct diag *d)
{
	const char *v = target_string(s, key, prefix, 0, d);

	if (v == NULL)
		v = dflt;
	return v != NULL ? strdup(v) : NULL;
}

static int
at_int(const config_setting_t *s, const char *key, const char *prefix, int dflt,
       int *out, struct diag *d)
{
	const config_setting_t *m = config_setting_get_member(s, key);

	*out = dflt;
	if (m == NULL)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_INT ||
	    config_setting_get_int(m) < 0) {
		diag_error(d, config_setting_source_file(m),
			   (int)config_setting_source_line(m),
			   "%s.%s: expected a number (the picklist value)",
			   prefix, key);
		return -1;
	}
	*out = config_setting_get_int(m);
	return 0;
}

static int
at_load_plain(struct at *a, const config_setting_t *s, const char *prefix,
	      const struct templates *templates, struct diag *d)
{
	const char *zone = target_string(s, "zone_url", prefix, 0, d);
	const char *disc = target_string(s, "discovery_url", prefix, 0, d);
	int ret = 0;

	if ((disc != NULL &&
	     psa_url(s, "discovery_url", prefix, disc, d) == -1) ||
	    (zone != NULL && psa_url(s, "zone_url", prefix, zone, d) == -1))
		ret = -1;
	a->discovery = at_slash(disc ? disc : AT_DISCOVERY);
	a->zone = zone ? at_slash(zone) : NULL;
	/* Autotask's own values of its built-in New, Complete, priorities */
	a->new_status = at_opt(s, "new_status", prefix, "1", d);
	a->complete_status = at_opt(s, "complete_status", prefix, "5", d);
	a->priorities[0] = strdup("4");
	a->priorities[1] = strdup("1");
	a->priorities[2] = strdup("2");
	a->priorities[3] = strdup("3");
	a->queue = at_opt(s, "queue", prefix, NULL, d);
	a->source = at_opt(s, "source", prefix, NULL, d);
	a->issue = at_opt(s, "issue_type", prefix, NULL, d);
	a->subissue = at_opt(s, "sub_issue_type", prefix, NULL, d);
	a->template = at_opt(s, "template", prefix, NULL, d);
	ret |= at_int(s, "note_type", prefix, 1, &a->note_type, d);
	ret |= at_int(s, "publish", prefix, 1, &a->publish, d);
	ret |= psa_priorities(s, prefix, a->priorities, d);
	if (target_check_template(s, "template", prefix, a->template, templates,
				  d))
		ret = -1;
	return a->discovery && a->new_status && a->complete_status ? ret : -1;
}

static int
at_load(const config_setting_t *s, const char *prefix, const char *cfgdir,
	const struct templates *templates, void **state, struct diag *d)
{
	struct at *a = calloc(1, sizeof(*a));
	int ret = 0;

	if (a == NULL)
		return -1;
	atomic_init(&a->refs, 1);
	*state = a;
	/* all of them, so that every mistake is reported at once */
	ret |= at_load_plain(a, s, prefix, templates, d);
	ret |= psa_secret(s, "username", prefix, cfgdir, &a->username, d);
	ret |= psa_secret(s, "secret", prefix, cfgdir, &a->secret, d);
	ret |= psa_secret(s, "integration_code", prefix, cfgdir, &a->code, d);
	return ret;
}

/* --- picklists ---------------------------------------------------------- */

/* Keeps only the picklists psabridge uses, as {field: [values]}. */
static cJSON *
at_picklists(const char *body, size_t len)
{
	cJSON *doc = cJSON_ParseWithLength(body, len), *out, *f;
	int i;

	if (doc == NULL || (out = cJSON_CreateObject()) == NULL) {
		cJSON_Delete(doc);
		return NULL;
	}
	cJSON_ArrayForEach(f, cJSON_GetObjectItemCaseSensitive(doc, "fields"))
	{
		const char *name = psa_string(f, "name");
		cJSON *values =
		    cJSON_GetObjectItemCaseSensitive(f, "picklistValues");

		for (i = 0; name != NULL && i < AT_NPICKS; i++)
			if (strcmp(name, at_pick_fields[i]) == 0 &&
			    cJSON_IsArray(values) &&
			    !cJSON_HasObjectItem(out, name))
				cJSON_AddItemToObject(
				    out, name, cJSON_Duplicate(values, 1));
	}
	cJSON_Delete(doc);
	return out;
}

/* "A", "B", ... the active labels of field, cut to fit out. */
static void
at_labels(const cJSON *values, char *out, size_t outlen)
{
	const cJSON *v;
	size_t n = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(v, values)
	{
		const char *label = psa_string(v, "label");

		if (label == NULL ||
		    cJSON_IsFalse(cJSON_GetObjectItem(v, "isActive")) ||
		    n >= outlen)
			continue;
		n += (size_t)snprintf(out + n, outlen - n, "%s\"%s\"",
				      n ? ", " : "", label);
	}
}

/*
 * The value of label in the picklist of pick: a number as it is, a label
 * looked up (case-insensitively, active values only).  1 resolved, 0 left
 * a label (a dry run), -1 with err.
 */
static int
at_resolve(const struct at *a, enum at_pick pick, const char *label,
	   long *value, char *err, size_t errlen)
{
	const cJSON *values, *v;
	char valid[400];

	if (psa_numeric(label)) {
		*value = atol(label);
		return 1;
	}
	if (a->dry)
		return 0;
	values = cJSON_GetObjectItemCaseSensitive(a->picklists,
						  at_pick_fields[pick]);
	cJSON_ArrayForEach(v, values)
	{
		const char *l = psa_string(v, "label");
		const char *n = psa_string(v, "value");

		if (l != NULL && n != NULL && psa_numeric(n) &&
		    strcasecmp(l, label) == 0 &&
		    !cJSON_IsFalse(cJSON_GetObjectItem(v, "isActive"))) {
			*value = atol(n);
			return 1;
		}
	}
	at_labels(values, valid, sizeof(valid));
	snprintf(err, errlen,
		 "\"%s\" is not a value of the Autotask ticket field %s; "
		 "valid: %s",
		 label, at_pick_fields[pick], valid[0] ? valid : "(none)");
	return -1;
}

/* Sets key to label's value in body; 0, or -1 with err. */
static int
at_put(const struct at *a, cJSON *body, const char *key, enum at_pick pick,
       const char *label, char *err, size_t errlen)
{
	long v;
	int rc;

	if (label == NULL)
		return 0;
	if ((rc = at_resolve(a, pick, label, &v, err, errlen)) == -1)
		return -1;
	if (rc == 0)
		cJSON_AddStringToObject(body, key, label);
	else
		cJSON_AddNumberToObject(body, key, (double)v);
	return 0;
}

static const char *
at_priority(const struct at *a, const char *p)
{
	int i;

	for (i = 0; i < 4; i++)
		if (strcmp(p, psa_priority_names[i]) == 0)
			return a->priorities[i];
	return p; /* an Autotask label or value */
}

/* The labels a job's ticket would send, by picklist; NULL when absent. */
static void
at_job_labels(const struct at *a, const struct psa_x *x,
	      const char *labels[AT_NPICKS])
{
	const char *const *f = (const char *const *)x->tk.field;

	labels[AT_STATUS] = a->new_status;
	labels[AT_PRIORITY] = NULL;
	labels[AT_QUEUE] = a->queue;
	labels[AT_SOURCE] = a->source;
	labels[AT_ISSUE] = a->issue;
	labels[AT_SUBISSUE] = a->subissue;
	if (x->action == PSA_PREPARE)
		return;
	if (f[TICKET_STATUS] != NULL)
		labels[AT_STATUS] = f[TICKET_STATUS];
	labels[AT_PRIORITY] = at_priority(a, f[TICKET_PRIORITY]);
	if (f[TICKET_QUEUE] != NULL)
		labels[AT_QUEUE] = f[TICKET_QUEUE];
	if (f[TICKET_SOURCE] != NULL)
		labels[AT_SOURCE] = f[TICKET_SOURCE];
	if (f[TICKET_TYPE] != NULL)
		labels[AT_ISSUE] = f[TICKET_TYPE];
	if (f[TICKET_SUBTYPE] != NULL)
		labels[AT_SUBISSUE] = f[TICKET_SUBTYPE];
}

/* Whether the picklists must be read: a label where a value goes. */
static int
at_needs_picklists(const struct at *a, const struct psa_x *x)
{
	const char *labels[AT_NPICKS];
	int i;

	if (a->picklists != NULL || a->dry)
		return 0;
	at_job_labels(a, x, labels);
	if (!psa_numeric(a->complete_status))
		return 1;
	for (i = 0; i < 4; i++)
		if (!psa_numeric(a->priorities[i]))
			return 1;
	for (i = 0; i < AT_NPICKS; i++)
		if (labels[i] != NULL && !psa_numeric(labels[i]))
			return 1;
	return 0;
}

/* Every configured label resolves: 0, or -1 with the first that does not. */
static int
at_check_labels(const struct at *a, char *err, size_t errlen)
{
	const char *cfg[] = {a->new_status, a->complete_status, a->queue,
			     a->source,	    a->issue,		a->subissue};
	const enum at_pick pick[] = {AT_STATUS, AT_STATUS, AT_QUEUE,
				     AT_SOURCE, AT_ISSUE,  AT_SUBISSUE};
	long v;
	size_t i;

	for (i = 0; i < sizeof(cfg) / sizeof(cfg[0]); i++)
		if (cfg[i] != NULL &&
		    at_resolve(a, pick[i], cfg[i], &v, err, errlen) == -1)
			return -1;
	for (i = 0; i < 4; i++)
		if (at_resolve(a, AT_PRIORITY, a->priorities[i], &v, err,
			       errlen) == -1)
			return -1;
	return 0;
}

static void at_error(int status, const char *body, size_t len, char *out,
		     size_t outlen, int *validation);

/* --- requests ----------------------------------------------------------- */

static int
at_headers(const struct at *a, struct target_request *req)
{
	return target_request_header(req, "ApiIntegrationCode", a->code, 1) ==
			   0 &&
		       target_request_header(req, "UserName", a->username, 0) ==
			   0 &&
		       target_request_header(req, "Secret", a->secret, 1) ==
			   0 &&
		       target_request_header(req, "Accept", "application/json",
					     0) == 0
		   ? 0
		   : -1;
}

static int
at_call(const struct at *a, const char *method, const char *path, cJSON *body,
	struct target_request *req, char *err, size_t errlen)
{
	char url[AT_URL_MAX];

	if (snprintf(url, sizeof(url), "%s%s", a->zone, path) >=
	    (int)sizeof(url)) {
		cJSON_Delete(body);
		snprintf(err, errlen, "the URL is too long");
		return -1;
	}
	if (psa_request(req, method, url, body) == -1 ||
	    at_headers(a, req) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

static enum target_step
at_oom(struct target_result *res)
{
	snprintf(res->error, sizeof(res->error), "out of memory");
	return TARGET_STEP_FAIL;
}

/* The zone asked, or its answer read. */
static enum target_step
at_zone(struct at *a, const struct target_response *last,
	struct target_request *req, struct target_result *res)
{
	char url[AT_URL_MAX], *esc;
	const char *zone;
	cJSON *doc;

	if (last == NULL) {
		if ((esc = curl_easy_escape(NULL, a->username, 0)) == NULL)
			return at_oom(res);
		snprintf(url, sizeof(url), "%sV1.0/ZoneInformation?user=%s",
			 a->discovery, esc);
		curl_free(esc);
		if (psa_request(req, "GET", url, NULL) == -1 ||
		    target_request_header(req, "Accept", "application/json",
					  0) == -1)
			return at_oom(res);
		return TARGET_STEP_SEND;
	}
	if (last->dry) {
		/* a dry run only prints: the placeholder is never sent */
		a->zone = strdup("https://{zone}.autotask.net/ATServicesRest/");
		return a->zone ? TARGET_STEP_DONE : at_oom(res);
	}
	doc = last->status == 200
		  ? cJSON_ParseWithLength(last->body, last->body_len)
		  : NULL;
	zone = psa_string(doc, "url");
	if (zone != NULL &&
	    (strncmp(zone, "https://", 8) == 0 ||
	     strncmp(zone, "http://", 7) == 0) &&
	    a->zone == NULL)
		a->zone = at_slash(zone);
	cJSON_Delete(doc);
	if (a->zone == NULL && last->status == 0) {
		snprintf(res->error, sizeof(res->error),
			 "finding the zone: %sV1.0/ZoneInformation: %s",
			 a->discovery, last->error ? last->error : "no answer");
		return TARGET_STEP_FAIL;
	}
	if (a->zone == NULL) {
		res->status = last->status;
		snprintf(res->error, sizeof(res->error),
			 "finding the zone: %sV1.0/ZoneInformation answered "
			 "HTTP %d without a url; check username, or set "
			 "zone_url",
			 a->discovery, last->status);
		return TARGET_STEP_FAIL;
	}
	return TARGET_STEP_DONE;
}

/* The fields' answer read into the picklists: 0, or -1 with res. */
static int
at_fields(struct at *a, const struct target_response *last,
	  struct target_result *res)
{
	char said[300] = "";

	if (last->dry || a->picklists != NULL)
		return 0;
	if (last->status == 200 &&
	    (a->picklists = at_picklists(last->body, last->body_len)) != NULL)
		return 0;
	if (last->status == 0) {
		snprintf(res->error, sizeof(res->error),
			 "reading the ticket picklists: %s",
			 last->error ? last->error : "no answer");
		return -1;
	}
	if (last->status != 200)
		at_error(last->status, last->body, last->body_len, said,
			 sizeof(said), &res->validation);
	res->status = last->status;
	snprintf(res->error, sizeof(res->error),
		 "reading the ticket picklists: Autotask answered HTTP %d%s%s",
		 last->status, said[0] ? ": " : " with no fields", said);
	return -1;
}

/*
 * Preparing: the zone, then the picklists when a label must become a
 * value.  One request per step; each answer says what comes next.
 */
static enum target_step
at_prepare(struct psa_x *x, const struct target_response *last,
	   struct target_request *req, struct target_result *res)
{
	struct at *a = x->vendor;
	enum target_step step;

	if (last != NULL && last->dry && x->vstate == 2)
		a->dry = 1; /* a dry run read no picklists: labels stay */
	if (x->vstate == 1 &&
	    (step = at_zone(a, last, req, res)) != TARGET_STEP_DONE)
		return step;
	if (x->vstate == 2 && at_fields(a, last, res) == -1)
		return TARGET_STEP_FAIL;
	if (a->zone == NULL) {
		x->vstate = 1;
		return at_zone(a, NULL, req, res);
	}
	if (at_needs_picklists(a, x)) {
		x->vstate = 2;
		if (at_call(a, "GET", "V1.0/Tickets/entityInformation/fields",
			    NULL, req, res->error, sizeof(res->error)) == -1)
			return TARGET_STEP_FAIL;
		req->answer_max = AT_FIELDS_MAX;
		return TARGET_STEP_SEND;
	}
	x->vstate = 0;
	if (a->picklists != NULL &&
	    at_check_labels(a, res->error, sizeof(res->error)) == -1)
		return TARGET_STEP_FAIL;
	snprintf(res->did, sizeof(res->did), "zone %s%s", a->zone,
		 a->picklists ? ", picklists read" : "");
	return TARGET_STEP_DONE;
}

static int
at_lookup(struct psa_x *x, struct target_request *req, char *err, size_t errlen)
{
	const struct at *a = x->vendor;
	cJSON *b = cJSON_CreateObject(), *filter, *f;

	filter = cJSON_AddArrayToObject(b, "filter");
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "op", "eq");
	cJSON_AddStringToObject(f, "field", "externalID");
	cJSON_AddStringToObject(f, "value", x->xref);
	cJSON_AddItemToArray(filter, f);
	f = cJSON_CreateObject();
	cJSON_AddStringToObject(f, "op", "noteq");
	cJSON_AddStringToObject(f, "field", "status");
	cJSON_AddItemToArray(filter, f);
	if (at_put(a, f, "value", AT_STATUS, a->complete_status, err, errlen) ==
	    -1) {
		cJSON_Delete(b);
		return -1;
	}
	cJSON_AddNumberToObject(b, "maxRecords", 1);
	return at_call(a, "POST", "V1.0/Tickets/query", b, req, err, errlen);
}

/* The picklist fields of a new ticket. */
static int
at_create_picks(const struct at *a, const struct psa_x *x, cJSON *b, char *err,
		size_t errlen)
{
	static const char *const keys[AT_NPICKS] = {
	    "status", "priority",  "queueID",
	    "source", "issueType", "subIssueType"};
	const char *labels[AT_NPICKS];
	int i;

	at_job_labels(a, x, labels);
	for (i = 0; i < AT_NPICKS; i++)
		if (at_put(a, b, keys[i], (enum at_pick)i, labels[i], err,
			   errlen) == -1)
			return -1;
	return 0;
}

static int
at_create(struct psa_x *x, struct target_request *req, char *err, size_t errlen)
{
	const struct at *a = x->vendor;
	char *title = psa_cut(x->tk.field[TICKET_SUMMARY], AT_TITLE_MAX);
	char *desc =
	    title ? psa_description(x, title, AT_DESCRIPTION_MAX) : NULL;
	cJSON *b = cJSON_CreateObject();
	int ret = -1;

	if (title == NULL || desc == NULL || b == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (!psa_numeric(x->company)) {
		snprintf(err, errlen,
			 "the customer table's autotask_company_id \"%.60s\" "
			 "is not a number (the company's id in Autotask)",
			 x->company);
		goto out;
	}
	cJSON_AddNumberToObject(b, "companyID", (double)atol(x->company));
	cJSON_AddStringToObject(b, "title", title);
	cJSON_AddStringToObject(b, "description", desc);
	if (at_create_picks(a, x, b, err, errlen) == -1)
		goto out;
	if (x->xref != NULL)
		cJSON_AddStringToObject(b, "externalID", x->xref);
	ret = at_call(a, "POST", "V1.0/Tickets", b, req, err, errlen);
	b = NULL;
out:
	cJSON_Delete(b);
	free(title);
	free(desc);
	return ret;
}

static int
at_note(struct psa_x *x, const char *text, struct target_request *req,
	char *err, size_t errlen)
{
	const struct at *a = x->vendor;
	char *title = psa_cut(x->tk.field[TICKET_SUMMARY], AT_NOTE_TITLE_MAX);
	char *body = psa_cut(text, AT_NOTE_MAX);
	cJSON *b = cJSON_CreateObject();
	char path[128];

	cJSON_AddStringToObject(b, "title", title ? title : "psabridge");
	cJSON_AddStringToObject(b, "description", body ? body : "");
	cJSON_AddNumberToObject(b, "noteType", a->note_type);
	cJSON_AddNumberToObject(b, "publish", a->publish);
	free(title);
	free(body);
	snprintf(path, sizeof(path), "V1.0/Tickets/%s/Notes", x->ticket_id);
	return at_call(a, "POST", path, b, req, err, errlen);
}

static int
at_close(struct psa_x *x, struct target_request *req, char *err, size_t errlen)
{
	const struct at *a = x->vendor;
	cJSON *b = cJSON_CreateObject();

	if (psa_numeric(x->ticket_id))
		cJSON_AddNumberToObject(b, "id", (double)atoll(x->ticket_id));
	else /* a dry run's invented ticket */
		cJSON_AddStringToObject(b, "id", x->ticket_id);
	if (at_put(a, b, "status", AT_STATUS, a->complete_status, err,
		   errlen) == -1) {
		cJSON_Delete(b);
		return -1;
	}
	return at_call(a, "PATCH", "V1.0/Tickets", b, req, err, errlen);
}

/* --- answers ------------------------------------------------------------ */

/* {"items": [{"id": N, ...}], "pageDetails": {...}} */
static int
at_lookup_id(const char *body, size_t len, char *id, size_t idlen)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *items = cJSON_GetObjectItemCaseSensitive(doc, "items");
	int ret = -1;

	if (cJSON_IsArray(items))
		ret = cJSON_GetArraySize(items) == 0
			  ? 0
			  : (psa_id(cJSON_GetObjectItemCaseSensitive(
					cJSON_GetArrayItem(items, 0), "id"),
				    id, idlen)
				 ? 1
				 : -1);
	cJSON_Delete(doc);
	return ret;
}

/* {"itemId": N} */
static int
at_create_id(const char *body, size_t len, char *id, size_t idlen)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	int ret =
	    psa_id(cJSON_GetObjectItemCaseSensitive(doc, "itemId"), id, idlen)
		? 1
		: -1;

	cJSON_Delete(doc);
	return ret;
}

/*
 * {"errors": ["...", ...]} as one line.  Autotask answers a request it
 * refuses for its content with 500 and such a list: a validation error.
 */
static void
at_error(int status, const char *body, size_t len, char *out, size_t outlen,
	 int *validation)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *e;
	size_t n = 0;

	out[0] = '\0';
	*validation = 0;
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "errors"))
	{
		const char *m = cJSON_GetStringValue(e);

		if (m == NULL || n >= outlen)
			continue;
		n += (size_t)snprintf(out + n, outlen - n, "%s%s",
				      n ? "; " : "", m);
		*validation = status == 500 || (status >= 400 && status < 500);
	}
	cJSON_Delete(doc);
}

static const struct psa_ops at_psa = {
    .name = "Autotask",
    .company = "autotask_company_id",
    .xref_max = AT_XREF_MAX,
    .note_max = AT_NOTE_MAX,
    .prepare = at_prepare,
    .lookup = at_lookup,
    .create = at_create,
    .note = at_note,
    .close = at_close,
    .lookup_id = at_lookup_id,
    .create_id = at_create_id,
    .error = at_error,
    .unref = at_unref,
};

/* --- the target --------------------------------------------------------- */

static void *
at_start(const struct target *t, const struct target_job *job)
{
	struct at *a = t->state;

	atomic_fetch_add(&a->refs, 1);
	return psa_start(&at_psa, a, job, a->template);
}

static const struct target_exchange_ops at_exchange = {
    .start = at_start,
    .step = psa_step,
    .end = psa_end,
};

const struct target_ops target_autotask_ops = {
    .type = "autotask",
    .keys = at_keys,
    .load = at_load,
    .free = at_unref,
    .customer_column = "autotask_company_id",
    .exchange = &at_exchange,
    .max_in_flight = 3,
    .rate = "10000/h",
};
