/*
 * Operator listener.  For now it serves /healthz; the admin API of the
 * delivery engine is added here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "psabridge/admin.h"
#include "psabridge/commit.h"
#include "psabridge/config.h"
#include "psabridge/httpd.h"

struct admin {
	struct httpd *httpd;
	struct commit *commit;
	int has_token;
	unsigned char token_hash[SHA256_DIGEST_LENGTH];
};

static void
admin_set_token(struct admin *a, const char *token)
{
	a->has_token = token != NULL;
	if (token != NULL)
		SHA256((const unsigned char *)token, strlen(token),
		       a->token_hash);
}

static int
admin_token_ok(struct admin *a, struct evhttp_request *req)
{
	const char *auth = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	unsigned char h[SHA256_DIGEST_LENGTH];

	if (!a->has_token)
		return 1;
	if (auth == NULL || strncasecmp(auth, "Bearer ", 7) != 0)
		return 0;
	SHA256((const unsigned char *)auth + 7, strlen(auth + 7), h);
	return CRYPTO_memcmp(h, a->token_hash, sizeof(h)) == 0;
}

static void
admin_healthz(struct admin *a, struct evhttp_request *req)
{
	char err[256], esc[300], body[400];
	size_t i, o = 0;

	if (commit_health(a->commit, err, sizeof(err)) == 0) {
		httpd_reply_json(a->httpd, req, 200, "{\"status\":\"ok\"}");
		return;
	}
	for (i = 0; err[i] != '\0' && o + 2 < sizeof(esc); i++) {
		if (err[i] == '"' || err[i] == '\\')
			esc[o++] = '\\';
		esc[o++] = (unsigned char)err[i] < 0x20 ? ' ' : err[i];
	}
	esc[o] = '\0';
	snprintf(body, sizeof(body),
		 "{\"status\":\"unavailable\",\"detail\":\"%s\"}", esc);
	httpd_reply_json(a->httpd, req, 503, body);
}

static void
admin_handle(struct evhttp_request *req, void *arg)
{
	struct admin *a = arg;
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));

	if (path != NULL && strcmp(path, "/healthz") == 0) {
		if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
			evhttp_add_header(
			    evhttp_request_get_output_headers(req), "Allow",
			    "GET");
			httpd_reply_error(a->httpd, req, 405,
					  "method_not_allowed", "use GET");
			return;
		}
		admin_healthz(a, req);
		return;
	}
	if (!admin_token_ok(a, req)) {
		httpd_reply_error(a->httpd, req, 401, "unauthorized",
				  "missing or wrong admin token");
		return;
	}
	httpd_reply_error(a->httpd, req, 404, "not_found", "no such path");
}

struct admin *
admin_new(struct event_base *base, const struct config *cfg,
	  struct commit *commit, char *err, size_t errlen)
{
	struct httpd_limits limits = {
	    .max_body_bytes = 65536,
	    .max_header_bytes = cfg->max_header_bytes,
	    .request_timeout_s = cfg->request_timeout_s,
	    .max_connections = 64,
	};
	struct admin *a;

	if ((a = calloc(1, sizeof(*a))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->commit = commit;
	admin_set_token(a, cfg->admin_token);
	a->httpd = httpd_new(base, "admin", cfg->admin_listen, &limits,
			     admin_handle, a, err, errlen);
	if (a->httpd == NULL) {
		free(a);
		return NULL;
	}
	return a;
}

int
admin_reload(struct admin *a, const struct config *cfg)
{
	admin_set_token(a, cfg->admin_token);
	return 0;
}

void
admin_stop(struct admin *a)
{
	if (a != NULL)
		httpd_stop_accepting(a->httpd);
}

void
admin_free(struct admin *a)
{
	if (a == NULL)
		return;
	httpd_free(a->httpd);
	OPENSSL_cleanse(a->token_hash, sizeof(a->token_hash));
	free(a);
}
