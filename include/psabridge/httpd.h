/*
 * httpd: what the callback and admin listeners share on top of libevent's
 * evhttp: binding, limits, connection accounting and JSON answers.
 *
 * Connection accounting.  evhttp 2.1 has no connection limit and no hook
 * when a server connection closes, so httpd creates each connection's
 * bufferevent itself (evhttp_set_bevcb) and keeps a reference to it.  When
 * evhttp lets go of a connection it clears the bufferevent's callbacks; a
 * periodic sweep notices that and drops the last reference, which closes
 * the socket.  At max_connections the listener stops accepting until the
 * count falls again, so excess clients wait in the kernel's backlog instead
 * of starving the loop.  The sweep also closes connections that have spent
 * more than request_timeout_s without a complete request (slow senders).
 *
 * TLS.  A listener given an SSL_CTX (httpd_set_tls) makes an OpenSSL
 * bufferevent for each connection instead of a socket one; evhttp sees
 * plain HTTP through it.  The accounting is the same: evhttp clears the
 * callbacks of that bufferevent too, and its file descriptor is the
 * socket, so the slow-sender cut covers a sender stuck in the handshake.
 */
#ifndef PSABRIDGE_HTTPD_H
#define PSABRIDGE_HTTPD_H

#include <stddef.h>

#include <openssl/types.h>

struct event_base;
struct evhttp_request;
struct httpd;

struct httpd_limits {
	size_t max_body_bytes;
	size_t max_header_bytes;
	int request_timeout_s;
	int max_connections;
};

typedef void (*httpd_handler)(struct evhttp_request *req, void *arg);

/*
 * Binds address ("host:port", port 0 picks a free one) and logs
 * "msg=listening listener=NAME address=HOST:PORT".  name is borrowed and
 * must outlive the httpd.  Returns NULL with a message in err on failure.
 */
struct httpd *httpd_new(struct event_base *base, const char *name,
			const char *address, const struct httpd_limits *limits,
			httpd_handler handler, void *arg, char *err,
			size_t errlen);

/*
 * Makes h speak TLS: each connection accepted from now on gets an SSL
 * made from ctx, and connections already open keep the one they have.
 * ctx is borrowed: h takes a reference of its own (SSL_CTX_up_ref) and
 * drops the one it held, so a reload calls this again with the new
 * context.  For a TLS listener call it right after httpd_new(), before
 * the event loop runs; a failed TLS handshake is logged as "msg=\"tls
 * error\"" with OpenSSL's reason.
 */
void httpd_set_tls(struct httpd *h, SSL_CTX *ctx);

/* Applies new limits to this listener (on reload). */
void httpd_set_limits(struct httpd *h, const struct httpd_limits *limits);

/* Stops accepting; open connections finish what they are doing. */
void httpd_stop_accepting(struct httpd *h);

/* Closes every connection and frees h.  NULL is safe. */
void httpd_free(struct httpd *h);

/* Live connections, for tests and metrics. */
int httpd_connections(const struct httpd *h);

/*
 * Marks the request's connection as busy (a request is being answered) so
 * the slow-sender sweep leaves it alone; httpd_reply_* clear the mark.
 */
void httpd_request_begin(struct httpd *h, struct evhttp_request *req);

/* Sends code with body (a JSON document) and Content-Type JSON. */
/*
 * Sends code with whatever the caller put in the request's output buffer,
 * as content_type (borrowed).
 */
void httpd_reply_text(struct httpd *h, struct evhttp_request *req, int code,
		      const char *content_type);

void httpd_reply_json(struct httpd *h, struct evhttp_request *req, int code,
		      const char *body);

/* Sends {"error":error,"detail":detail}; detail is JSON-escaped. */
void httpd_reply_error(struct httpd *h, struct evhttp_request *req, int code,
		       const char *error, const char *detail);

/*
 * NULL, or why the request's framing is ambiguous: more than one
 * Content-Length, one that is not plain digits, or a Transfer-Encoding
 * other than exactly "chunked".  evhttp reads such requests its own way
 * (the first Content-Length, the last coding); a proxy in front may read
 * them another way, and a second request could hide in the body.  Such a
 * request gets 400 and its connection is closed.
 */
const char *httpd_framing_error(struct evhttp_request *req);

/* Size of the request line and headers as they were on the wire. */
size_t httpd_header_bytes(struct evhttp_request *req);

#endif
