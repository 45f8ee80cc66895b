/*
 * The callback front door.
 *
 * Checks run cheapest and least revealing first: path, method, header size,
 * token, content type, body size.  The envelope is checked by the commit
 * thread, off the event loop, where the body is parsed once for both
 * validation and routing; a bad body still gets its 400 before anything
 * is stored.  The token is compared as a
 * SHA-256 digest with CRYPTO_memcmp, so neither its length nor its bytes
 * leak through timing, and it never reaches a log line: the query string
 * that may carry it is never logged.
 *
 * The body is not copied: evhttp keeps the request's input buffer until we
 * reply, and the reply is sent only after the commit thread is done with it.
 *
 * With listen_tls there is a second listener with the same handler; each
 * request is answered through the httpd that accepted it, which keeps its
 * connection's accounting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "psabridge/commit.h"
#include "psabridge/config.h"
#include "psabridge/envelope.h"
#include "psabridge/httpd.h"
#include "psabridge/ingest.h"
#include "psabridge/log.h"
#include "psabridge/tls.h"

struct ingest_source {
	char *name;
	char *path;
	unsigned char token_hash[SHA256_DIGEST_LENGTH];
	long long dedup_window_ms;
};

/* The handler's argument: the ingest and the listener a request came in. */
struct ingest_listener {
	struct ingest *in;
	struct httpd *httpd; /* NULL: not listening (no listen_tls) */
};

/* The answers ingest gives before the commit thread sees a request. */
static const int ingest_codes[] = {401, 404, 405, 413, 415, 431, 503};
#define INGEST_NCODES (sizeof(ingest_codes) / sizeof(ingest_codes[0]))

struct ingest {
	uint64_t refused[INGEST_NCODES]; /* by ingest_codes */
	struct ingest_listener plain;
	struct ingest_listener tls;
	struct commit *commit;
	struct httpd_limits limits;
	struct ingest_source *sources;
	size_t nsources;
	int stopping;
};

/* One request waiting for its commit. */
struct ingest_req {
	struct commit_item item; /* first */
	struct httpd *httpd;	 /* the listener that answers */
	struct evhttp_request *req;
	char source[65];
};

static void
ingest_sources_free(struct ingest_source *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(s[i].name);
		free(s[i].path);
	}
	free(s);
}

static int
ingest_sources_from(const struct config *cfg, struct ingest_source **out)
{
	struct ingest_source *s;
	size_t i;

	if ((s = calloc(cfg->nsources, sizeof(*s))) == NULL)
		return -1;
	for (i = 0; i < cfg->nsources; i++) {
		const struct config_source *cs = &cfg->sources[i];

		s[i].name = strdup(cs->name);
		s[i].path = strdup(cs->path);
		s[i].dedup_window_ms = (long long)cs->dedup_window_s * 1000;
		SHA256((const unsigned char *)cs->token, strlen(cs->token),
		       s[i].token_hash);
		if (s[i].name == NULL || s[i].path == NULL) {
			ingest_sources_free(s, cfg->nsources);
			return -1;
		}
	}
	*out = s;
	return 0;
}

static void
ingest_limits_from(const struct config *cfg, struct httpd_limits *l)
{
	l->max_body_bytes = cfg->max_body_bytes;
	l->max_header_bytes = cfg->max_header_bytes;
	l->request_timeout_s = cfg->request_timeout_s;
	l->max_connections = cfg->max_connections;
}

static long long
ingest_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
ingest_reject(struct httpd *h, struct evhttp_request *req,
	      const struct ingest_source *src, int code, const char *error,
	      const char *detail)
{
	char peer[64] = "-";
	const char *addr = NULL;
	ev_uint16_t port = 0;
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);

	if (evcon != NULL) {
		evhttp_connection_get_peer(evcon, (char **)&addr, &port);
		if (addr != NULL)
			snprintf(peer, sizeof(peer), "%s", addr);
	}
	char q[256];

	log_info("msg=rejected source=%s status=%d error=%s peer=%s detail=%s",
		 src ? src->name : "-", code, error, peer,
		 log_quote(q, sizeof(q), detail, strlen(detail), 200));
	httpd_reply_error(h, req, code, error, detail);
}

/* The token from "Authorization: Bearer X" or "?token=X", or NULL. */
static char *
ingest_token(struct evhttp_request *req)
{
	const char *auth = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Authorization");
	const char *query =
	    evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
	struct evkeyvalq params;
	char *token = NULL;

	if (auth != NULL && strncasecmp(auth, "Bearer ", 7) == 0)
		return strdup(auth + 7);
	if (query == NULL)
		return NULL;
	/*
	 * A decoded %00 would end the C string early, and the bytes
	 * compared would not be the bytes sent: such a query has no token.
	 */
	if (strstr(query, "%00") != NULL)
		return NULL;
	TAILQ_INIT(&params);
	if (evhttp_parse_query_str(query, &params) == 0) {
		struct evkeyval *kv;

		TAILQ_FOREACH(kv, &params, next)
		{
			if (strcmp(kv->key, "token") == 0) { /* exactly */
				token = strdup(kv->value);
				break;
			}
		}
	}
	evhttp_clear_headers(&params);
	return token;
}

static int
ingest_token_ok(const struct ingest_source *src, struct evhttp_request *req)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	char *token = ingest_token(req);
	int ok;

	if (token == NULL)
		return 0;
	SHA256((const unsigned char *)token, strlen(token), h);
	ok = CRYPTO_memcmp(h, src->token_hash, sizeof(h)) == 0;
	OPENSSL_cleanse(token, strlen(token));
	free(token);
	return ok;
}

static int
ingest_is_json(struct evhttp_request *req)
{
	const char *ct = evhttp_find_header(
	    evhttp_request_get_input_headers(req), "Content-Type");
	size_t n = strlen("application/json");

	if (ct == NULL || strncasecmp(ct, "application/json", n) != 0)
		return 0;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

static const struct ingest_source *
ingest_find_source(struct ingest *in, struct evhttp_request *req)
{
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	size_t i;

	for (i = 0; path != NULL && i < in->nsources; i++) {
		if (strcmp(in->sources[i].path, path) == 0)
			return &in->sources[i];
	}
	return NULL;
}

/* On the loop thread, once the event is on disk (the commit logged it). */
static void
ingest_done(struct commit_item *item, void *arg)
{
	struct ingest_req *ir = arg;
	struct httpd *h = ir->httpd;
	char body[128];

	(void)item;
	switch (ir->item.ev.outcome) {
	case STORE_STORED:
		snprintf(body, sizeof(body),
			 "{\"id\":\"%s\",\"status\":\"queued\"}",
			 ir->item.ev.id);
		httpd_reply_json(h, ir->req, 202, body);
		break;
	case STORE_DUPLICATE:
		snprintf(body, sizeof(body),
			 "{\"id\":\"%s\",\"status\":\"duplicate\"}",
			 ir->item.ev.id);
		httpd_reply_json(h, ir->req, 200, body);
		break;
	case STORE_REJECTED:
		httpd_reply_error(h, ir->req, 400, "bad_request",
				  ir->item.reject);
		break;
	default:
		httpd_reply_error(
		    h, ir->req, 503, "unavailable",
		    "the event could not be stored; send it again later");
		break;
	}
	free(ir);
}

/*
 * Hands the request to the commit thread, which validates the body (see
 * envelope.h) and stores it; the answer is sent from ingest_done().
 */
static void
ingest_submit(struct ingest_listener *l, struct evhttp_request *req,
	      const struct ingest_source *src)
{
	struct evbuffer *buf = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(buf);
	struct ingest_req *ir;

	if ((ir = calloc(1, sizeof(*ir))) == NULL) {
		ingest_reject(l->httpd, req, src, 503, "unavailable",
			      "out of memory");
		return;
	}
	ir->httpd = l->httpd;
	ir->req = req;
	snprintf(ir->source, sizeof(ir->source), "%s", src->name);
	ir->item.ev.source = ir->source;
	ir->item.ev.received_ms = ingest_now_ms();
	ir->item.ev.body = len ? (const char *)evbuffer_pullup(buf, -1) : "";
	ir->item.ev.body_len = len;
	ir->item.ev.dedup_window_ms = src->dedup_window_ms;
	ir->item.done = ingest_done;
	ir->item.arg = ir;
	httpd_request_begin(l->httpd, req);
	commit_submit(l->in->commit, &ir->item);
}

/* Returns the HTTP status to refuse the request with, or 0 to accept it. */
static int
ingest_check(struct ingest *in, struct evhttp_request *req,
	     const struct ingest_source *src, const char **error,
	     const char **detail)
{
	struct evbuffer *buf = evhttp_request_get_input_buffer(req);

	*error = "";
	*detail = "";
	if ((*detail = httpd_framing_error(req)) != NULL) {
		*error = "bad_request";
		return 400; /* and the connection is closed */
	}
	*detail = "";
	if (src == NULL) {
		*error = "not_found";
		*detail = "no callback source at this path";
		return 404;
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Allow", "POST");
		*error = "method_not_allowed";
		*detail = "callbacks must be sent with POST";
		return 405;
	}
	if (httpd_header_bytes(req) > in->limits.max_header_bytes) {
		*error = "headers_too_large";
		*detail = "request headers are over limits.max_header_bytes";
		return 431;
	}
	if (!ingest_token_ok(src, req)) {
		*error = "unauthorized";
		*detail = "missing or wrong token";
		return 401;
	}
	if (in->stopping) {
		*error = "unavailable";
		*detail = "psabridge is shutting down; send it again later";
		return 503;
	}
	if (!ingest_is_json(req)) {
		*error = "unsupported_media_type";
		*detail = "Content-Type must be application/json";
		return 415;
	}
	if (evbuffer_get_length(buf) > in->limits.max_body_bytes) {
		*error = "payload_too_large";
		*detail = "the body is over limits.max_body_bytes";
		return 413;
	}
	return 0;
}

static void
ingest_handle(struct evhttp_request *req, void *arg)
{
	struct ingest_listener *l = arg;
	const struct ingest_source *src = ingest_find_source(l->in, req);
	const char *error, *detail;
	int code;

	size_t i;

	if ((code = ingest_check(l->in, req, src, &error, &detail)) != 0) {
		for (i = 0; i < INGEST_NCODES; i++)
			l->in->refused[i] += ingest_codes[i] == code;
		ingest_reject(l->httpd, req, src, code, error, detail);
		return;
	}
	ingest_submit(l, req, src);
}

/* Which certificate is in force: after an ACME renewal, not_after moves. */
static void
ingest_tls_log(const struct config *cfg, const char *msg)
{
	struct tls_cert_info info;
	char subject[320], cert[320];

	if (tls_cert_info(cfg->tls_ctx, &info) == -1)
		return;
	log_info("msg=%s listener=ingest-tls subject=%s not_after=%s cert=%s",
		 msg,
		 log_quote(subject, sizeof(subject), info.subject,
			   strlen(info.subject), 200),
		 info.not_after,
		 log_quote(cert, sizeof(cert), cfg->tls_cert,
			   strlen(cfg->tls_cert), 200));
	if (info.expired)
		log_warn("msg=\"tls certificate expired\" listener=ingest-tls "
			 "not_after=%s",
			 info.not_after);
}

/* The TLS listener, with its own reference to cfg->tls_ctx. */
static int
ingest_tls_new(struct ingest *in, struct event_base *base,
	       const struct config *cfg, char *err, size_t errlen)
{
	in->tls.in = in;
	in->tls.httpd =
	    httpd_new(base, "ingest-tls", cfg->tls_listen, &in->limits,
		      ingest_handle, &in->tls, err, errlen);
	if (in->tls.httpd == NULL)
		return -1;
	/* before the loop runs: no connection is accepted without TLS */
	httpd_set_tls(in->tls.httpd, cfg->tls_ctx);
	ingest_tls_log(cfg, "\"tls certificate\"");
	return 0;
}

struct ingest *
ingest_new(struct event_base *base, const struct config *cfg,
	   struct commit *commit, char *err, size_t errlen)
{
	struct ingest *in;

	if ((in = calloc(1, sizeof(*in))) == NULL ||
	    ingest_sources_from(cfg, &in->sources) == -1) {
		snprintf(err, errlen, "out of memory");
		free(in);
		return NULL;
	}
	in->nsources = cfg->nsources;
	in->commit = commit;
	ingest_limits_from(cfg, &in->limits);
	in->plain.in = in;
	in->plain.httpd = httpd_new(base, "ingest", cfg->listen, &in->limits,
				    ingest_handle, &in->plain, err, errlen);
	if (in->plain.httpd == NULL ||
	    (cfg->tls_ctx != NULL &&
	     ingest_tls_new(in, base, cfg, err, errlen) == -1)) {
		ingest_free(in);
		return NULL;
	}
	return in;
}

int
ingest_reload(struct ingest *in, const struct config *cfg)
{
	struct ingest_source *s;

	if (ingest_sources_from(cfg, &s) == -1)
		return -1;
	ingest_sources_free(in->sources, in->nsources);
	in->sources = s;
	in->nsources = cfg->nsources;
	ingest_limits_from(cfg, &in->limits);
	httpd_set_limits(in->plain.httpd, &in->limits);
	if (in->tls.httpd != NULL)
		httpd_set_limits(in->tls.httpd, &in->limits);
	/*
	 * New connections get the new certificate; open ones keep the old
	 * context through their SSL's reference.  listen_tls added or
	 * removed takes effect at restart (the server warns).
	 */
	if (in->tls.httpd != NULL && cfg->tls_ctx != NULL) {
		httpd_set_tls(in->tls.httpd, cfg->tls_ctx);
		ingest_tls_log(cfg, "\"tls certificate reloaded\"");
	}
	return 0;
}

void
ingest_metrics(const struct ingest *in, struct evbuffer *buf)
{
	size_t i;

	evbuffer_add_printf(buf, "# HELP psabridge_ingest_refused_total "
				 "Callbacks refused before the body was read, "
				 "by status.\n# TYPE "
				 "psabridge_ingest_refused_total counter\n");
	for (i = 0; i < INGEST_NCODES; i++)
		evbuffer_add_printf(
		    buf, "psabridge_ingest_refused_total{status=\"%d\"} %llu\n",
		    ingest_codes[i], (unsigned long long)in->refused[i]);
}

void
ingest_stop(struct ingest *in)
{
	in->stopping = 1;
	httpd_stop_accepting(in->plain.httpd);
	if (in->tls.httpd != NULL)
		httpd_stop_accepting(in->tls.httpd);
}

void
ingest_free(struct ingest *in)
{
	if (in == NULL)
		return;
	httpd_free(in->plain.httpd);
	httpd_free(in->tls.httpd);
	ingest_sources_free(in->sources, in->nsources);
	free(in);
}
