/*
 * The ConnectWise Manage target: tickets through the REST API 3.0.
 *
 *   base     https://{site}/{codebase}/apis/3.0, the codebase found once
 *            with GET https://{site}/login/companyinfo/{company_id}
 *   auth     Basic base64("{company_id}+{public_key}:{private_key}"),
 *            plus the clientId header ConnectWise requires on every call
 *   create   POST /service/tickets          -> 201 {"id": ...}
 *   note     POST /service/tickets/{id}/notes
 *   close    PATCH /service/tickets/{id}, status/name = closed_status
 *   lookup   GET /service/tickets?conditions=externalXRef="KEY" and
 *            closedFlag=false
 *
 * The lifecycle itself is psa.c's.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "psabridge/psa.h"
#include "psabridge/secret.h"
#include "psabridge/target.h"

#define CW_URL_MAX     2048
#define CW_XREF_MAX    100
#define CW_SUMMARY_MAX 100
#define CW_NOTE_MAX    30000
#define CW_API_VERSION "2025.8"

struct cw {
	atomic_int refs;
	char *site;	  /* with its scheme */
	char *company_id; /* the login company, not a customer */
	char *client_id;
	char *auth; /* the Authorization value */
	char *accept;
	char *board, *closed_status, *status, *template;
	char *priorities[4];
	char *base; /* the API base: configured, or discovered once */
};

static const char *const cw_keys[] = {
    "site",	  "codebase",	 "api_url",   "api_version", "company_id",
    "public_key", "private_key", "client_id", "board",	     "closed_status",
    "status",	  "priorities",	 "template",  NULL};

static void
cw_unref(void *state)
{
	struct cw *c = state;
	int i;

	if (c == NULL || atomic_fetch_sub(&c->refs, 1) != 1)
		return;
	free(c->site);
	free(c->company_id);
	secret_free(c->client_id);
	secret_free(c->auth);
	free(c->accept);
	free(c->board);
	free(c->closed_status);
	free(c->status);
	free(c->template);
	for (i = 0; i < 4; i++)
		free(c->priorities[i]);
	free(c->base);
	free(c);
}

static char *
cw_dup(const char *s)
{
	return s != NULL ? strdup(s) : NULL;
}

/* url without its trailing slashes, copied. */
static char *
cw_trim(const char *url)
{
	char *s = strdup(url);
	size_t n;

	if (s == NULL)
		return NULL;
	for (n = strlen(s); n > 8 && s[n - 1] == '/'; n--)
		s[n - 1] = '\0';
	return s;
}

/* https://site/{codebase}/apis/3.0; the codebase may carry slashes. */
static char *
cw_base_of(const char *site, const char *codebase)
{
	char buf[CW_URL_MAX];
	size_t n;

	codebase += strspn(codebase, "/");
	for (n = strlen(codebase); n > 0 && codebase[n - 1] == '/'; n--)
		;
	if (snprintf(buf, sizeof(buf), "%s/%.*s/apis/3.0", site, (int)n,
		     codebase) >= (int)sizeof(buf))
		return NULL;
	return strdup(buf);
}

/* Strings that are not secrets; every one checked, all reported. */
static int
cw_load_plain(struct cw *c, const config_setting_t *s, const char *prefix,
	      const struct templates *templates, struct diag *d)
{
	const char *site = target_string(s, "site", prefix, 0, d);
	const char *codebase = target_string(s, "codebase", prefix, 0, d);
	const char *api_url = target_string(s, "api_url", prefix, 0, d);
	const char *version = target_string(s, "api_version", prefix, 0, d);
	const char *board = target_string(s, "board", prefix, 1, d);
	const char *closed = target_string(s, "closed_status", prefix, 0, d);
	const char *tmpl = target_string(s, "template", prefix, 0, d);
	char buf[CW_URL_MAX];
	int ret = 0;

	if (site == NULL && api_url == NULL) {
		diag_error(d, config_setting_source_file(s),
			   (int)config_setting_source_line(s),
			   "%s: needs \"site\" (e.g. \"na.myconnectwise.net\") "
			   "or \"api_url\"",
			   prefix);
		ret = -1;
	}
	if (site != NULL) {
		snprintf(buf, sizeof(buf), "%s%s",
			 strstr(site, "://") ? "" : "https://", site);
		if (psa_url(s, "site", prefix, buf, d) == -1)
			ret = -1;
		c->site = cw_trim(buf);
	}
	if (api_url != NULL) {
		if (psa_url(s, "api_url", prefix, api_url, d) == -1)
			ret = -1;
		c->base = cw_trim(api_url);
	} else if (c->site != NULL && codebase != NULL) {
		c->base = cw_base_of(c->site, codebase);
	}
	snprintf(buf, sizeof(buf),
		 "application/vnd.connectwise.com+json; version=%s",
		 version ? version : CW_API_VERSION);
	c->accept = strdup(buf);
	c->board = cw_dup(board);
	c->closed_status = strdup(closed ? closed : "Closed");
	c->status = cw_dup(target_string(s, "status", prefix, 0, d));
	c->template = cw_dup(tmpl);
	if (target_check_template(s, "template", prefix, tmpl, templates, d))
		ret = -1;
	/* ConnectWise's own priorities, as a new Manage instance has them */
	c->priorities[0] = strdup("Priority 1 - Emergency Response");
	c->priorities[1] = strdup("Priority 2 - Quick Response");
	c->priorities[2] = strdup("Priority 3 - Normal Response");
	c->priorities[3] = strdup("Priority 4 - Schedule Maintenance");
	if (psa_priorities(s, prefix, c->priorities, d) == -1)
		ret = -1;
	return board == NULL ? -1 : ret;
}

/* The four credentials, and the Basic auth value made of three. */
static int
cw_load_secrets(struct cw *c, const config_setting_t *s, const char *prefix,
		const char *cfgdir, struct diag *d)
{
	char *pub = NULL, *priv = NULL, user[1024], auth[4096];
	int ret = 0;

	ret |= psa_secret(s, "company_id", prefix, cfgdir, &c->company_id, d);
	ret |= psa_secret(s, "public_key", prefix, cfgdir, &pub, d);
	ret |= psa_secret(s, "private_key", prefix, cfgdir, &priv, d);
	ret |= psa_secret(s, "client_id", prefix, cfgdir, &c->client_id, d);
	if (ret == 0) {
		snprintf(user, sizeof(user), "%s+%s", c->company_id, pub);
		if (psa_basic_auth(user, priv, auth, sizeof(auth)) == -1 ||
		    (c->auth = strdup(auth)) == NULL)
			ret = -1;
		OPENSSL_cleanse(user, sizeof(user));
		OPENSSL_cleanse(auth, sizeof(auth));
	}
	secret_free(pub);
	secret_free(priv);
	return ret;
}

static int
cw_load(const config_setting_t *s, const char *prefix, const char *cfgdir,
	const struct templates *templates, void **state, struct diag *d)
{
	struct cw *c = calloc(1, sizeof(*c));
	int ret = 0;

	if (c == NULL)
		return -1;
	atomic_init(&c->refs, 1);
	*state = c;
	/* both, so that every mistake is reported at once */
	ret |= cw_load_plain(c, s, prefix, templates, d);
	ret |= cw_load_secrets(c, s, prefix, cfgdir, d);
	return ret;
}

/* --- requests ----------------------------------------------------------- */

/*
 * The headers of every API call.  ConnectWise asks that a clientId be
 * kept like a password: shown as *** with the credentials.
 */
static int
cw_headers(const struct cw *c, struct target_request *req)
{
	return target_request_header(req, "Authorization", c->auth, 1) == 0 &&
		       target_request_header(req, "clientId", c->client_id,
					     1) == 0 &&
		       target_request_header(req, "Accept", c->accept, 0) == 0
		   ? 0
		   : -1;
}

static int
cw_call(struct psa_x *x, const char *method, const char *path, cJSON *body,
	struct target_request *req, char *err, size_t errlen)
{
	const struct cw *c = x->vendor;
	char url[CW_URL_MAX];

	if (snprintf(url, sizeof(url), "%s%s", c->base, path) >=
	    (int)sizeof(url)) {
		cJSON_Delete(body);
		snprintf(err, errlen, "the URL is too long");
		return -1;
	}
	if (psa_request(req, method, url, body) == -1 ||
	    cw_headers(c, req) == -1) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return 0;
}

/*
 * The codebase, once: GET {site}/login/companyinfo/{company_id} answers
 * {"Codebase": "v2025_1/", ...} without credentials.
 */
static enum target_step
cw_prepare(struct psa_x *x, const struct target_response *last,
	   struct target_request *req, struct target_result *res)
{
	struct cw *c = x->vendor;
	char url[CW_URL_MAX], *esc;
	const char *codebase;
	cJSON *doc;

	if (c->base != NULL) {
		snprintf(res->did, sizeof(res->did), "API base %s", c->base);
		return TARGET_STEP_DONE;
	}
	if (last == NULL) {
		esc = curl_easy_escape(NULL, c->company_id, 0);
		snprintf(url, sizeof(url), "%s/login/companyinfo/%s", c->site,
			 esc ? esc : "");
		curl_free(esc);
		if (esc == NULL || psa_request(req, "GET", url, NULL) == -1 ||
		    target_request_header(req, "Accept", "application/json",
					  0) == -1) {
			snprintf(res->error, sizeof(res->error),
				 "out of memory");
			return TARGET_STEP_FAIL;
		}
		return TARGET_STEP_SEND;
	}
	res->status = last->status;
	if (last->dry) {
		/* a dry run only prints: the placeholder is never sent */
		c->base = cw_base_of(c->site, "{codebase}");
		return TARGET_STEP_DONE;
	}
	doc = last->status == 200
		  ? cJSON_ParseWithLength(last->body, last->body_len)
		  : NULL;
	codebase = psa_string(doc, "Codebase");
	/* another exchange may have found it meanwhile */
	if (codebase != NULL && codebase[0] != '\0' && c->base == NULL)
		c->base = cw_base_of(c->site, codebase);
	cJSON_Delete(doc);
	if (c->base == NULL && last->status == 0) {
		snprintf(res->error, sizeof(res->error),
			 "finding the codebase: %s/login/companyinfo/...: %s",
			 c->site, last->error ? last->error : "no answer");
		return TARGET_STEP_FAIL;
	}
	if (c->base == NULL) {
		snprintf(res->error, sizeof(res->error),
			 "finding the codebase: GET %s/login/companyinfo/... "
			 "answered HTTP %d without a Codebase; check site and "
			 "company_id, or set codebase",
			 c->site, last->status);
		return TARGET_STEP_FAIL;
	}
	snprintf(res->did, sizeof(res->did), "API base %s", c->base);
	return TARGET_STEP_DONE;
}

/*
 * GET /service/tickets with conditions: the key inside double quotes,
 * with quotes and backslashes escaped as ConnectWise's condition syntax
 * wants, then the whole query percent-encoded.
 */
static int
cw_lookup(struct psa_x *x, struct target_request *req, char *err, size_t errlen)
{
	char cond[2 * CW_XREF_MAX + 64], path[4 * sizeof(cond)], *p, *esc;
	const char *k;

	p = cond + snprintf(cond, sizeof(cond), "externalXRef=\"");
	for (k = x->xref; *k != '\0'; k++) {
		if (*k == '"' || *k == '\\')
			*p++ = '\\';
		*p++ = *k;
	}
	snprintf(p, sizeof(cond) - (size_t)(p - cond),
		 "\" and closedFlag=false");
	if ((esc = curl_easy_escape(NULL, cond, 0)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(path, sizeof(path),
		 "/service/tickets?conditions=%s&orderBy=id%%20desc&pageSize=1",
		 esc);
	curl_free(esc);
	return cw_call(x, "GET", path, NULL, req, err, errlen);
}

/* {"name": v}, or {"id": N} when v is a number. */
static cJSON *
cw_ref(const char *v)
{
	cJSON *o = cJSON_CreateObject();

	if (psa_numeric(v))
		cJSON_AddNumberToObject(o, "id", (double)atol(v));
	else
		cJSON_AddStringToObject(o, "name", v);
	return o;
}

static const char *
cw_priority(const struct cw *c, const char *p)
{
	int i;

	for (i = 0; i < 4; i++)
		if (c->priorities[i] != NULL &&
		    strcmp(p, psa_priority_names[i]) == 0)
			return c->priorities[i];
	return p; /* already a ConnectWise priority name */
}

static int
cw_create(struct psa_x *x, struct target_request *req, char *err, size_t errlen)
{
	const struct cw *c = x->vendor;
	const char *const *f = (const char *const *)x->tk.field;
	static const struct {
		enum ticket_field f;
		const char *key;
	} refs[] = {{TICKET_TYPE, "type"},
		    {TICKET_SUBTYPE, "subType"},
		    {TICKET_ITEM, "item"},
		    {TICKET_SOURCE, "source"}};
	char *summary = psa_cut(f[TICKET_SUMMARY], CW_SUMMARY_MAX), *desc;
	cJSON *b = cJSON_CreateObject(), *company;
	const char *status = f[TICKET_STATUS] ? f[TICKET_STATUS] : c->status;
	size_t i;

	desc = summary ? psa_description(x, summary, 0) : NULL;
	cJSON_AddStringToObject(b, "summary", summary ? summary : "");
	company = cJSON_AddObjectToObject(b, "company");
	cJSON_AddStringToObject(company, "identifier", x->company);
	cJSON_AddItemToObject(
	    b, "board", cw_ref(f[TICKET_BOARD] ? f[TICKET_BOARD] : c->board));
	if (status != NULL)
		cJSON_AddItemToObject(b, "status", cw_ref(status));
	cJSON_AddItemToObject(b, "priority",
			      cw_ref(cw_priority(c, f[TICKET_PRIORITY])));
	for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++)
		if (f[refs[i].f] != NULL)
			cJSON_AddItemToObject(b, refs[i].key,
					      cw_ref(f[refs[i].f]));
	cJSON_AddStringToObject(b, "initialDescription", desc ? desc : "");
	if (x->xref != NULL)
		cJSON_AddStringToObject(b, "externalXRef", x->xref);
	free(summary);
	free(desc);
	return cw_call(x, "POST", "/service/tickets", b, req, err, errlen);
}

static int
cw_note(struct psa_x *x, const char *text, struct target_request *req,
	char *err, size_t errlen)
{
	cJSON *b = cJSON_CreateObject();
	char path[128];

	cJSON_AddStringToObject(b, "text", text);
	cJSON_AddBoolToObject(b, "detailDescriptionFlag", 1);
	snprintf(path, sizeof(path), "/service/tickets/%s/notes", x->ticket_id);
	return cw_call(x, "POST", path, b, req, err, errlen);
}

static int
cw_close(struct psa_x *x, struct target_request *req, char *err, size_t errlen)
{
	const struct cw *c = x->vendor;
	cJSON *ops = cJSON_CreateArray(), *op = cJSON_CreateObject();
	char path[128];

	cJSON_AddStringToObject(op, "op", "replace");
	if (psa_numeric(c->closed_status)) {
		cJSON_AddStringToObject(op, "path", "status/id");
		cJSON_AddNumberToObject(op, "value",
					(double)atol(c->closed_status));
	} else {
		cJSON_AddStringToObject(op, "path", "status/name");
		cJSON_AddStringToObject(op, "value", c->closed_status);
	}
	cJSON_AddItemToArray(ops, op);
	snprintf(path, sizeof(path), "/service/tickets/%s", x->ticket_id);
	return cw_call(x, "PATCH", path, ops, req, err, errlen);
}

/* --- answers ------------------------------------------------------------ */

static int
cw_lookup_id(const char *body, size_t len, char *id, size_t idlen)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	int ret = -1;

	if (cJSON_IsArray(doc))
		ret = cJSON_GetArraySize(doc) == 0
			  ? 0
			  : (psa_id(cJSON_GetObjectItemCaseSensitive(
					cJSON_GetArrayItem(doc, 0), "id"),
				    id, idlen)
				 ? 1
				 : -1);
	cJSON_Delete(doc);
	return ret;
}

static int
cw_create_id(const char *body, size_t len, char *id, size_t idlen)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	int ret = psa_id(cJSON_GetObjectItemCaseSensitive(doc, "id"), id, idlen)
		      ? 1
		      : -1;

	cJSON_Delete(doc);
	return ret;
}

/*
 * {"code": "InvalidObject", "message": "...", "errors": [{"code",
 * "message", "resource", "field"}]} as "InvalidObject: message (field:
 * message; ...)".
 */
static void
cw_error(int status, const char *body, size_t len, char *out, size_t outlen,
	 int *validation)
{
	cJSON *doc = cJSON_ParseWithLength(body, len);
	const cJSON *e;
	const char *code = psa_string(doc, "code");
	const char *msg = psa_string(doc, "message");
	size_t n = 0;

	out[0] = '\0';
	if (code != NULL || msg != NULL)
		n = (size_t)snprintf(out, outlen, "%s%s%s", code ? code : "",
				     code && msg ? ": " : "", msg ? msg : "");
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(doc, "errors"))
	{
		const char *f = psa_string(e, "field");
		const char *m = psa_string(e, "message");

		if (n >= outlen || m == NULL)
			continue;
		n += (size_t)snprintf(out + n, outlen - n, "%s%s%s%s",
				      n == 0 ? "" : "; ", f ? f : "",
				      f ? ": " : "", m);
	}
	*validation =
	    status == 400 && code != NULL && strcmp(code, "InvalidObject") == 0;
	cJSON_Delete(doc);
}

static const struct psa_ops cw_psa = {
    .name = "ConnectWise",
    .company = "connectwise_company",
    .xref_max = CW_XREF_MAX,
    .note_max = CW_NOTE_MAX,
    .prepare = cw_prepare,
    .lookup = cw_lookup,
    .create = cw_create,
    .note = cw_note,
    .close = cw_close,
    .lookup_id = cw_lookup_id,
    .create_id = cw_create_id,
    .error = cw_error,
    .unref = cw_unref,
};

/* --- the target --------------------------------------------------------- */

static void *
cw_start(const struct target *t, const struct target_job *job)
{
	struct cw *c = t->state;

	atomic_fetch_add(&c->refs, 1);
	return psa_start(&cw_psa, c, job, c->template);
}

static const struct target_exchange_ops cw_exchange = {
    .start = cw_start,
    .step = psa_step,
    .end = psa_end,
};

const struct target_ops target_connectwise_ops = {
    .type = "connectwise",
    .keys = cw_keys,
    .load = cw_load,
    .free = cw_unref,
    .customer_column = "connectwise_company",
    .exchange = &cw_exchange,
};
