/*
 * The webhook target: any HTTP endpoint (Teams, Slack, an automation
 * tool).  Header values may be templates, or secret references shown as
 * *** by render.  With signing_secret the request is signed as the
 * Standard Webhooks specification says: webhook-id (the job id, the same
 * on every retry), webhook-timestamp, and webhook-signature
 * "v1,<base64 HMAC-SHA256 of id.timestamp.body>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "psabridge/mustache.h"
#include "psabridge/secret.h"
#include "psabridge/target.h"

#define WEBHOOK_HEADERS_MAX 32
#define WEBHOOK_VALUE_MAX   4096

struct webhook_header {
	char *name;
	struct mustache *value; /* a template, or NULL when secret */
	char *secret;		/* a resolved secret reference */
};

struct target_webhook {
	char *url;
	char *method;
	char *body; /* default template */
	struct webhook_header headers[WEBHOOK_HEADERS_MAX];
	size_t nheaders;
	unsigned char key[64]; /* signing key, decoded */
	int keylen;	       /* 0: no signing */
};

static const char *const target_webhook_keys[] = {
    "url", "method", "headers", "body", "signing_secret", NULL};

static void
target_webhook_free(void *state)
{
	struct target_webhook *w = state;
	size_t i;

	for (i = 0; i < w->nheaders; i++) {
		free(w->headers[i].name);
		mustache_free(w->headers[i].value);
		secret_free(w->headers[i].secret);
	}
	free(w->url);
	free(w->method);
	free(w->body);
	OPENSSL_cleanse(w->key, sizeof(w->key));
	free(w);
}

static int
target_webhook_name_ok(const char *s, size_t n)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
				    "abcdefghijklmnopqrstuvwxyz"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	size_t i;

	for (i = 0; i < n; i++) {
		if (strchr(tchar, s[i]) == NULL || s[i] == '\0')
			return 0;
	}
	return n > 0;
}

/* "Name: value": value a secret reference or a template. */
static int
target_webhook_header(struct target_webhook *w, const config_setting_t *m,
		      const char *where, const char *cfgdir, struct diag *d)
{
	const char *file = config_setting_source_file(m);
	int line = (int)config_setting_source_line(m);
	const char *s = config_setting_get_string(m), *colon, *v;
	struct webhook_header *h = &w->headers[w->nheaders];
	struct secret_report rep;
	struct mustache_error me;

	if (s == NULL || (colon = strchr(s, ':')) == NULL ||
	    !target_webhook_name_ok(s, (size_t)(colon - s))) {
		diag_error(d, file, line,
			   "%s: expected a string \"Name: value\"", where);
		return -1;
	}
	for (v = colon + 1; *v == ' ' || *v == '\t'; v++)
		;
	if ((h->name = strndup(s, (size_t)(colon - s))) == NULL)
		return -1;
	w->nheaders++;
	if (strncmp(v, "env:", 4) == 0 || strncmp(v, "file:", 5) == 0 ||
	    strncmp(v, "cred:", 5) == 0) {
		if (secret_resolve(v, cfgdir, &h->secret, &rep) == -1) {
			diag_error(d, file, line, "%s: %s", where, rep.error);
			return -1;
		}
		if (rep.warning[0] != '\0')
			diag_warn(d, file, line, "%s: %s", where, rep.warning);
		if (strpbrk(h->secret, "\r\n") != NULL) {
			diag_error(
			    d, file, line,
			    "%s: the secret contains a line break, which "
			    "would end the header",
			    where);
			return -1;
		}
		return 0;
	}
	if (mustache_compile(v, strlen(v), NULL, NULL, &h->value, &me) == -1) {
		diag_error(d, file, line, "%s: column %d: %s", where,
			   me.column + (int)(v - s), me.message);
		return -1;
	}
	return 0;
}

static int
target_webhook_headers(struct target_webhook *w, const config_setting_t *s,
		       const char *prefix, const char *cfgdir, struct diag *d)
{
	const config_setting_t *list = config_setting_get_member(s, "headers");
	char where[64];
	int i, ret = 0;

	if (list == NULL)
		return 0;
	if (!config_setting_is_array(list) && !config_setting_is_list(list)) {
		diag_error(d, config_setting_source_file(list),
			   (int)config_setting_source_line(list),
			   "%s.headers: expected a list of strings [ \"Name: "
			   "value\" ]",
			   prefix);
		return -1;
	}
	for (i = 0; i < config_setting_length(list); i++) {
		if (w->nheaders == WEBHOOK_HEADERS_MAX) {
			diag_error(d, config_setting_source_file(list),
				   (int)config_setting_source_line(list),
				   "%s.headers: at most %d headers", prefix,
				   WEBHOOK_HEADERS_MAX);
			return -1;
		}
		snprintf(where, sizeof(where), "%s.headers[%d]", prefix, i);
		if (target_webhook_header(
			w, config_setting_get_elem(list, (unsigned int)i),
			where, cfgdir, d) == -1)
			ret = -1;
	}
	return ret;
}

/* whsec_<base64>: the key is the decoded base64. */
static int
target_webhook_signing(struct target_webhook *w, const config_setting_t *s,
		       const char *prefix, const char *cfgdir, struct diag *d)
{
	const char *ref = target_string(s, "signing_secret", prefix, 0, d);
	const config_setting_t *m;
	struct secret_report rep;
	unsigned char buf[128];
	char *secret = NULL;
	int n, ret = -1;
	size_t len;

	if (ref == NULL)
		return 0;
	m = config_setting_get_member(s, "signing_secret");
	if (secret_resolve(ref, cfgdir, &secret, &rep) == -1) {
		diag_error(d, config_setting_source_file(m),
			   (int)config_setting_source_line(m),
			   "%s.signing_secret: %s", prefix, rep.error);
		return -1;
	}
	if (rep.warning[0] != '\0')
		diag_warn(d, config_setting_source_file(m),
			  (int)config_setting_source_line(m),
			  "%s.signing_secret: %s", prefix, rep.warning);
	len = strlen(secret);
	if (strncmp(secret, "whsec_", 6) != 0 || len - 6 > 4 * 40 ||
	    (n = EVP_DecodeBlock(buf, (const unsigned char *)secret + 6,
				 (int)(len - 6))) < 0) {
		diag_error(d, config_setting_source_file(m),
			   (int)config_setting_source_line(m),
			   "%s.signing_secret: expected \"whsec_\" followed by "
			   "base64 (the Standard Webhooks form)",
			   prefix);
		goto out;
	}
	/* EVP_DecodeBlock counts the padding bytes as data */
	n -= (len > 6 && secret[len - 1] == '=') +
	     (len > 7 && secret[len - 2] == '=');
	if (n < 16 || n > (int)sizeof(w->key)) {
		diag_error(d, config_setting_source_file(m),
			   (int)config_setting_source_line(m),
			   "%s.signing_secret: the key must be 16 to 64 bytes",
			   prefix);
		goto out;
	}
	memcpy(w->key, buf, (size_t)n);
	w->keylen = n;
	ret = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	secret_free(secret);
	return ret;
}

static int
target_webhook_urlcheck(const char *url, const char *method,
			const config_setting_t *s, const char *prefix,
			struct diag *d)
{
	int ret = 0;

	CURLU *u = curl_url();
	CURLUcode rc = CURLUE_OUT_OF_MEMORY;

	if (strncmp(url, "https://", 8) != 0 &&
	    strncmp(url, "http://", 7) != 0) {
		diag_error(d, config_setting_source_file(s),
			   (int)config_setting_source_line(s),
			   "%s.url: must start with https:// or http://",
			   prefix);
		ret = -1;
	} else if (u == NULL ||
		   (rc = curl_url_set(u, CURLUPART_URL, url, 0)) != CURLUE_OK) {
		/* the same parser that will send it: no surprise at delivery */
		diag_error(d, config_setting_source_file(s),
			   (int)config_setting_source_line(s),
			   "%s.url: not a valid URL: %s", prefix,
			   curl_url_strerror(rc));
		ret = -1;
	}
	curl_url_cleanup(u);
	if (strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0 &&
	    strcmp(method, "PATCH") != 0) {
		diag_error(d, config_setting_source_file(s),
			   (int)config_setting_source_line(s),
			   "%s.method: \"%s\" is not one of POST, PUT, PATCH",
			   prefix, method);
		ret = -1;
	}
	return ret;
}

static int
target_webhook_load(const config_setting_t *s, const char *prefix,
		    const char *cfgdir, const struct templates *templates,
		    void **state, struct diag *d)
{
	const char *url = target_string(s, "url", prefix, 1, d);
	const char *method = target_string(s, "method", prefix, 0, d);
	const char *body = target_string(s, "body", prefix, 0, d);
	struct target_webhook *w;
	int ret = 0;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return -1;
	*state = w;
	if (method == NULL)
		method = "POST";
	if (url == NULL ||
	    target_webhook_urlcheck(url, method, s, prefix, d) == -1)
		ret = -1;
	/* both, so that every mistake is reported at once */
	if (target_webhook_headers(w, s, prefix, cfgdir, d) == -1)
		ret = -1;
	if (target_webhook_signing(w, s, prefix, cfgdir, d) == -1)
		ret = -1;
	if (target_check_template(s, "body", prefix, body, templates, d))
		ret = -1;
	if ((url != NULL && (w->url = strdup(url)) == NULL) ||
	    (w->method = strdup(method)) == NULL ||
	    (body != NULL && (w->body = strdup(body)) == NULL))
		ret = -1;
	return ret;
}

/* A rendered header value must stay one header line. */
static int
target_webhook_value_ok(const char *v, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)v[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return 0;
	}
	return 1;
}

static int
target_webhook_sign(const struct target_webhook *w, const char *id,
		    struct target_request *req)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	char ts[24], sig[8 + 4 * EVP_MAX_MD_SIZE / 3 + 8], *msg;
	unsigned int maclen = 0;
	size_t n;
	int ok;

	snprintf(ts, sizeof(ts), "%lld", (long long)time(NULL));
	n = strlen(id) + 1 + strlen(ts) + 1 + req->body_len;
	if ((msg = malloc(n + 1)) == NULL)
		return -1;
	snprintf(msg, n + 1, "%s.%s.", id, ts);
	memcpy(msg + strlen(id) + strlen(ts) + 2, req->body, req->body_len);
	ok = HMAC(EVP_sha256(), w->key, w->keylen, (unsigned char *)msg, n, mac,
		  &maclen) != NULL;
	free(msg);
	if (!ok)
		return -1;
	memcpy(sig, "v1,", 3);
	EVP_EncodeBlock((unsigned char *)sig + 3, mac, (int)maclen);
	return target_request_header(req, "webhook-id", id, 0) == 0 &&
		       target_request_header(req, "webhook-timestamp", ts, 0) ==
			   0 &&
		       target_request_header(req, "webhook-signature", sig,
					     0) == 0
		   ? 0
		   : -1;
}

/* A configured header replaces the one psabridge would add. */
static int
target_webhook_has(const struct target_webhook *w, const char *name)
{
	size_t i;

	for (i = 0; i < w->nheaders; i++) {
		if (strcasecmp(w->headers[i].name, name) == 0)
			return 1;
	}
	return 0;
}

static int
target_webhook_build(const struct target *t, const struct target_job *job,
		     struct target_request *req, char *err, size_t errlen)
{
	const struct target_webhook *w = t->state;
	struct mustache_error me;
	const char *ctype;
	char *v = NULL;
	size_t i, len;

	if (target_render_body(job, w->body, &req->body, &req->body_len, &ctype,
			       err, errlen) == -1)
		return -1;
	if ((req->method = strdup(w->method)) == NULL ||
	    (req->url = strdup(w->url)) == NULL ||
	    (!target_webhook_has(w, "Content-Type") &&
	     target_request_header(req, "Content-Type", ctype, 0) == -1))
		goto oom;
	for (i = 0; i < w->nheaders; i++) {
		const struct webhook_header *h = &w->headers[i];

		if (h->secret != NULL) {
			if (target_request_header(req, h->name, h->secret, 1) ==
			    -1)
				goto oom;
			continue;
		}
		if (mustache_render(h->value, job->ctx, MUSTACHE_ESCAPE_NONE,
				    WEBHOOK_VALUE_MAX, &v, &len, &me) == -1) {
			snprintf(err, errlen, "header %s: %s", h->name,
				 me.message);
			return -1;
		}
		if (!target_webhook_value_ok(v, len)) {
			snprintf(
			    err, errlen,
			    "header %s: the rendered value contains a line "
			    "break or another control character; not sent",
			    h->name);
			free(v);
			return -1;
		}
		if (target_request_header(req, h->name, v, 0) == -1)
			goto oom;
		free(v);
		v = NULL;
	}
	if (w->keylen > 0 &&
	    target_webhook_sign(w, job->id ? job->id : "", req) == -1)
		goto oom;
	return 0;
oom:
	free(v);
	snprintf(err, errlen, "out of memory");
	return -1;
}

const struct target_ops target_webhook_ops = {
    .type = "webhook",
    .keys = target_webhook_keys,
    .load = target_webhook_load,
    .free = target_webhook_free,
    .build = target_webhook_build,
};
