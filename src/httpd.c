/*
 * Shared HTTP listener plumbing; see httpd.h for the connection accounting.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "psabridge/config.h"
#include "psabridge/httpd.h"
#include "psabridge/log.h"

#define HTTPD_SWEEP_MS 250
#define HTTPD_BACKLOG  1024 /* a burst of connects waits, not retries */

struct httpd_conn {
	struct bufferevent *bev;
	long long since_ms; /* accepted, or last answered */
	int busy;	    /* a request is being answered */
	int doomed;	    /* on a TLS listener without TLS: cut at once */
	char peer[INET6_ADDRSTRLEN]; /* TLS: noted when the handshake starts */
	TAILQ_ENTRY(httpd_conn) entry;
};

struct httpd {
	struct event_base *base;
	const char *name;
	struct evhttp *http;
	struct evhttp_bound_socket *bound;
	struct event *sweep;
	struct httpd_limits limits;
	TAILQ_HEAD(, httpd_conn) conns;
	int nconns;
	int paused;
	SSL_CTX *tls; /* NULL: plain HTTP; a reference of our own */
	httpd_handler handler;
	void *arg;
};

static long long
httpd_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static struct evconnlistener *
httpd_listener(struct httpd *h)
{
	return h->bound ? evhttp_bound_socket_get_listener(h->bound) : NULL;
}

/*
 * A client that closes without a TLS close_notify is, to evhttp, one that
 * closed: EOF, as on a plain socket, rather than an error.  With
 * BEV_OPT_CLOSE_ON_FREE the bufferevent owns ssl, even when it fails.
 */
static struct bufferevent *
httpd_tls_bev(struct httpd *h, struct event_base *base)
{
	struct bufferevent *bev;
	SSL *ssl;

	if ((ssl = SSL_new(h->tls)) == NULL)
		return NULL;
	bev = bufferevent_openssl_socket_new(
	    base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (bev != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	return bev;
}

/*
 * The peer's address is noted when the handshake starts (the socket is
 * set by then): when a failed connection is dropped, its socket may have
 * forgotten the peer already.
 */
static void
httpd_tls_info(const SSL *ssl, int where, int ret)
{
	struct httpd_conn *conn = SSL_get_app_data(ssl);
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	int fd = SSL_get_fd(ssl);

	(void)ret;
	if (conn == NULL || !(where & SSL_CB_HANDSHAKE_START) ||
	    conn->peer[0] != '\0' || fd < 0 ||
	    getpeername(fd, (struct sockaddr *)&ss, &sslen) == -1)
		return;
	if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
			  conn->peer, sizeof(conn->peer));
	else if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
			  conn->peer, sizeof(conn->peer));
}

/*
 * When no TLS bufferevent can be made (out of memory), evhttp would make
 * a plain one of its own if we returned NULL, and serve plain HTTP on the
 * TLS port.  A plain one of ours is doomed instead: the next sweep cuts
 * it, whatever it is doing.
 */
static struct bufferevent *
httpd_bev_cb(struct event_base *base, void *arg)
{
	struct httpd *h = arg;
	struct httpd_conn *conn;
	struct bufferevent *bev = NULL;
	int doomed = 0;
	SSL *ssl;

	if (h->tls != NULL && (bev = httpd_tls_bev(h, base)) == NULL) {
		log_warn("msg=\"cannot set up TLS, closing the connection\" "
			 "listener=%s",
			 h->name);
		ERR_clear_error();
		doomed = 1;
	}
	if (bev == NULL)
		bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (bev == NULL)
		return NULL; /* evhttp then tries one of its own */
	if ((conn = calloc(1, sizeof(*conn))) == NULL) {
		log_warn("msg=\"connection not counted\" listener=%s "
			 "error=\"out of memory\"",
			 h->name);
		return bev;
	}
	bufferevent_incref(bev);
	/*
	 * Cap what a connection may hold unread.  evhttp drains the input as
	 * it parses, under its own limits; but once it lets go of a
	 * connection (after a 413, say) our reference keeps the socket
	 * readable until the sweep, and without a cap a sender could stream
	 * megabytes into it meanwhile.
	 */
	bufferevent_setwatermark(bev, EV_READ, 0,
				 h->limits.max_body_bytes * 2 +
				     h->limits.max_header_bytes * 4 + 16384);
	conn->bev = bev;
	conn->doomed = doomed;
	conn->since_ms = httpd_now_ms();
	if ((ssl = bufferevent_openssl_get_ssl(bev)) != NULL) {
		SSL_set_app_data(ssl, conn);
		SSL_set_info_callback(ssl, httpd_tls_info);
	}
	TAILQ_INSERT_HEAD(&h->conns, conn, entry);
	if (++h->nconns >= h->limits.max_connections && !h->paused &&
	    httpd_listener(h) != NULL) {
		evconnlistener_disable(httpd_listener(h));
		h->paused = 1;
		log_warn("msg=\"connection limit reached, not accepting\" "
			 "listener=%s connections=%d",
			 h->name, h->nconns);
	}
	return bev;
}

/*
 * The earliest OpenSSL error of a TLS connection that failed, with the peer:
 * a vendor that cannot connect shows up here ("unsupported protocol", "no
 * shared cipher", "http request" for plain HTTP on the TLS port).  The
 * bufferevent also queues SSL_get_error() codes, which are no reasons
 * (library 0): a client that just closed queues one of those.
 */
static void
httpd_tls_log(struct httpd *h, struct httpd_conn *conn)
{
	unsigned long e, first = 0;
	char why[256];

	/* the bufferevent hands its errors back latest first */
	while ((e = bufferevent_get_openssl_error(conn->bev)) != 0)
		if (ERR_GET_LIB(e) != 0)
			first = e;
	if (first == 0)
		return;
	ERR_error_string_n(first, why, sizeof(why));
	log_info("msg=\"tls error\" listener=%s peer=%s error=\"%s\"", h->name,
		 conn->peer[0] != '\0' ? conn->peer : "-", why);
}

static void
httpd_conn_drop(struct httpd *h, struct httpd_conn *conn)
{
	SSL *ssl = bufferevent_openssl_get_ssl(conn->bev);

	if (ssl != NULL) {
		SSL_set_app_data(ssl, NULL);
		httpd_tls_log(h, conn);
	}
	TAILQ_REMOVE(&h->conns, conn, entry);
	bufferevent_decref(conn->bev);
	free(conn);
	h->nconns--;
}

static void
httpd_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
	struct httpd *h = arg;
	struct httpd_conn *conn, *next;
	long long now = httpd_now_ms();
	long long limit = (long long)h->limits.request_timeout_s * 1000;
	bufferevent_event_cb errorcb;
	int sock;

	(void)fd;
	(void)what;
	for (conn = TAILQ_FIRST(&h->conns); conn != NULL; conn = next) {
		next = TAILQ_NEXT(conn, entry);
		bufferevent_getcb(conn->bev, NULL, NULL, &errorcb, NULL);
		if (errorcb == NULL) {
			httpd_conn_drop(h, conn); /* evhttp is done with it */
			continue;
		}
		if (!conn->doomed &&
		    (conn->busy || now - conn->since_ms <= limit))
			continue;
		/* Too slow: evhttp sees EOF and frees the connection. */
		if ((sock = bufferevent_getfd(conn->bev)) >= 0)
			shutdown(sock, SHUT_RDWR);
		conn->since_ms = now;
	}
	if (h->paused && h->nconns < h->limits.max_connections) {
		evconnlistener_enable(httpd_listener(h));
		h->paused = 0;
		log_info("msg=\"accepting again\" listener=%s connections=%d",
			 h->name, h->nconns);
	}
}

static struct httpd_conn *
httpd_conn_of(struct httpd *h, struct evhttp_request *req)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	struct bufferevent *bev;
	struct httpd_conn *conn;

	if (evcon == NULL)
		return NULL;
	bev = evhttp_connection_get_bufferevent(evcon);
	TAILQ_FOREACH(conn, &h->conns, entry)
	{
		if (conn->bev == bev)
			return conn;
	}
	return NULL;
}

void
httpd_request_begin(struct httpd *h, struct evhttp_request *req)
{
	struct httpd_conn *conn = httpd_conn_of(h, req);

	if (conn != NULL)
		conn->busy = 1;
}

static const char *
httpd_reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 202:
		return "Accepted";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 409:
		return "Conflict";
	case 413:
		return "Payload Too Large";
	case 415:
		return "Unsupported Media Type";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 503:
		return "Service Unavailable";
	default:
		return "Unknown";
	}
}

void
httpd_reply_text(struct httpd *h, struct evhttp_request *req, int code,
		 const char *content_type)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct httpd_conn *conn = httpd_conn_of(h, req);

	if (conn != NULL) {
		conn->busy = 0;
		conn->since_ms = httpd_now_ms();
	}
	evhttp_add_header(out, "Content-Type", content_type);
	evhttp_add_header(out, "Cache-Control", "no-store");
	evhttp_send_reply(req, code, httpd_reason(code), NULL);
}

void
httpd_reply_json(struct httpd *h, struct evhttp_request *req, int code,
		 const char *body)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	struct httpd_conn *conn = httpd_conn_of(h, req);
	struct evbuffer *buf = evhttp_request_get_output_buffer(req);

	if (conn != NULL) {
		conn->busy = 0;
		conn->since_ms = httpd_now_ms();
	}
	evhttp_add_header(out, "Content-Type", "application/json");
	evhttp_add_header(out, "Cache-Control", "no-store");
	/* After a framing or size error the rest of the stream is suspect. */
	if (code == 400 || code == 413 || code == 431)
		evhttp_add_header(out, "Connection", "close");
	evbuffer_add(buf, body, strlen(body));
	evbuffer_add(buf, "\n", 1);
	evhttp_send_reply(req, code, httpd_reason(code), NULL);
}

/* Appends s as JSON string content; our details are ASCII text. */
static void
httpd_json_escape(char *out, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s != '\0' && o + 7 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
		} else {
			out[o++] = (char)c;
		}
	}
	out[o] = '\0';
}

void
httpd_reply_error(struct httpd *h, struct evhttp_request *req, int code,
		  const char *error, const char *detail)
{
	char esc[512], body[640];

	httpd_json_escape(esc, sizeof(esc), detail);
	snprintf(body, sizeof(body), "{\"error\":\"%s\",\"detail\":\"%s\"}",
		 error, esc);
	httpd_reply_json(h, req, code, body);
}

const char *
httpd_framing_error(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	struct evkeyval *kv;
	int lengths = 0;
	size_t n;

	TAILQ_FOREACH(kv, in, next)
	{
		if (strcasecmp(kv->key, "Content-Length") == 0) {
			n = strlen(kv->value);
			if (++lengths > 1 || n == 0 ||
			    strspn(kv->value, "0123456789") != n)
				return "one Content-Length of digits only";
		} else if (strcasecmp(kv->key, "Transfer-Encoding") == 0 &&
			   strcasecmp(kv->value, "chunked") != 0) {
			return "Transfer-Encoding other than \"chunked\"";
		}
	}
	return NULL;
}

size_t
httpd_header_bytes(struct evhttp_request *req)
{
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *uri = evhttp_request_get_uri(req);
	struct evkeyval *kv;
	/* "METHOD " + uri + " HTTP/1.1\r\n" ... "\r\n" */
	size_t n = 8 + (uri ? strlen(uri) : 0) + 11 + 2;

	TAILQ_FOREACH(kv, in, next)
	n += strlen(kv->key) + 2 + strlen(kv->value) + 2;
	return n;
}

static void
httpd_apply_limits(struct httpd *h)
{
	/*
	 * evhttp answers requests over its own limits with a bare HTML 413
	 * and we cannot change that; its limits are set well above ours so
	 * that almost every oversized request gets our JSON 413 or 431.
	 */
	evhttp_set_max_body_size(h->http,
				 (ev_ssize_t)h->limits.max_body_bytes * 2);
	evhttp_set_max_headers_size(h->http,
				    (ev_ssize_t)h->limits.max_header_bytes * 4);
	evhttp_set_timeout(h->http, h->limits.request_timeout_s);
}

void
httpd_set_tls(struct httpd *h, SSL_CTX *ctx)
{
	if (ctx != NULL)
		SSL_CTX_up_ref(ctx);
	SSL_CTX_free(h->tls);
	h->tls = ctx;
}

void
httpd_set_limits(struct httpd *h, const struct httpd_limits *limits)
{
	h->limits = *limits;
	httpd_apply_limits(h);
}

/*
 * evconnlistener keeps calling accept() while it fails; out of file
 * descriptors that is a busy loop (and a log line each time).  Stop
 * accepting instead; the sweep tries again a quarter second later.
 */
static struct httpd *httpd_by_listener[16];

static void
httpd_accept_error(struct evconnlistener *lev, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();
	struct httpd *h = NULL;
	size_t i;

	(void)arg;
	for (i = 0; i < sizeof(httpd_by_listener) / sizeof(*httpd_by_listener);
	     i++)
		if (httpd_by_listener[i] != NULL &&
		    httpd_listener(httpd_by_listener[i]) == lev)
			h = httpd_by_listener[i];
	if (h == NULL || (err != EMFILE && err != ENFILE && err != ENOBUFS &&
			  err != ENOMEM)) {
		log_warn("msg=\"accept failed\" error=\"%s\"",
			 evutil_socket_error_to_string(err));
		return;
	}
	evconnlistener_disable(lev);
	if (!h->paused)
		log_warn("msg=\"out of file descriptors, not accepting\" "
			 "listener=%s connections=%d error=\"%s\" "
			 "hint=\"raise LimitNOFILE or lower "
			 "limits.max_connections\"",
			 h->name, h->nconns,
			 evutil_socket_error_to_string(err));
	h->paused = 1;
}

/* Binds with a listen queue of HTTPD_BACKLOG rather than evhttp's 128. */
static struct evhttp_bound_socket *
httpd_listen(struct httpd *h, const char *host, int port)
{
	struct evutil_addrinfo hints, *ai = NULL;
	struct evhttp_bound_socket *bound = NULL;
	struct evconnlistener *lev = NULL;
	char service[16];
	size_t i;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_NUMERICHOST;
	snprintf(service, sizeof(service), "%d", port);
	if (evutil_getaddrinfo(host, service, &hints, &ai) != 0)
		return NULL;
	lev = evconnlistener_new_bind(
	    h->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    HTTPD_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (lev == NULL ||
	    (bound = evhttp_bind_listener(h->http, lev)) == NULL) {
		if (lev != NULL)
			evconnlistener_free(lev);
		return NULL;
	}
	evconnlistener_set_error_cb(lev, httpd_accept_error);
	for (i = 0; i < sizeof(httpd_by_listener) / sizeof(*httpd_by_listener);
	     i++)
		if (httpd_by_listener[i] == NULL || httpd_by_listener[i] == h) {
			httpd_by_listener[i] = h;
			break;
		}
	return bound;
}

static int
httpd_bind(struct httpd *h, const char *address, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	char host[INET6_ADDRSTRLEN], *want = NULL;
	int port, ret = -1;

	if (config_parse_address(address, &want, &port) == -1) {
		snprintf(err, errlen, "bad address \"%s\"", address);
		goto out;
	}
	h->bound = httpd_listen(h, want, port);
	if (h->bound == NULL) {
		snprintf(err, errlen,
			 "cannot listen on %s (in use, or not "
			 "an address of this machine?)",
			 address);
		goto out;
	}
	if (getsockname(evhttp_bound_socket_get_fd(h->bound),
			(struct sockaddr *)&ss, &sslen) == 0) {
		if (ss.ss_family == AF_INET6) {
			struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

			inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof(host));
			port = ntohs(s6->sin6_port);
			log_info("msg=listening listener=%s address=[%s]:%d",
				 h->name, host, port);
		} else {
			struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

			inet_ntop(AF_INET, &s4->sin_addr, host, sizeof(host));
			port = ntohs(s4->sin_port);
			log_info("msg=listening listener=%s address=%s:%d",
				 h->name, host, port);
		}
	}
	ret = 0;
out:
	free(want);
	return ret;
}

struct httpd *
httpd_new(struct event_base *base, const char *name, const char *address,
	  const struct httpd_limits *limits, httpd_handler handler, void *arg,
	  char *err, size_t errlen)
{
	struct timeval tv = {0, HTTPD_SWEEP_MS * 1000};
	struct httpd *h;

	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	h->base = base;
	h->name = name;
	h->limits = *limits;
	h->handler = handler;
	h->arg = arg;
	TAILQ_INIT(&h->conns);
	if ((h->http = evhttp_new(base)) == NULL ||
	    (h->sweep = event_new(base, -1, EV_PERSIST, httpd_sweep_cb, h)) ==
		NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	evhttp_set_allowed_methods(
	    h->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_HEAD |
			 EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
			 EVHTTP_REQ_OPTIONS | EVHTTP_REQ_PATCH);
	evhttp_set_bevcb(h->http, httpd_bev_cb, h);
	evhttp_set_gencb(h->http, handler, arg);
	httpd_apply_limits(h);
	if (httpd_bind(h, address, err, errlen) == -1)
		goto fail;
	event_add(h->sweep, &tv);
	return h;
fail:
	httpd_free(h);
	return NULL;
}

void
httpd_stop_accepting(struct httpd *h)
{
	if (h->bound != NULL) {
		evhttp_del_accept_socket(h->http, h->bound);
		h->bound = NULL;
	}
}

void
httpd_free(struct httpd *h)
{
	struct httpd_conn *conn;

	if (h == NULL)
		return;
	for (size_t i = 0;
	     i < sizeof(httpd_by_listener) / sizeof(*httpd_by_listener); i++)
		if (httpd_by_listener[i] == h)
			httpd_by_listener[i] = NULL;
	if (h->http != NULL)
		evhttp_free(h->http);
	while ((conn = TAILQ_FIRST(&h->conns)) != NULL)
		httpd_conn_drop(h, conn);
	if (h->sweep != NULL)
		event_free(h->sweep);
	SSL_CTX_free(h->tls);
	free(h);
}

int
httpd_connections(const struct httpd *h)
{
	return h->nconns;
}
