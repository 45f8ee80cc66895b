/*
 * httpc: the outbound HTTP client, libcurl's multi interface driven by the
 * event loop (CURLMOPT_SOCKETFUNCTION / CURLMOPT_TIMERFUNCTION and
 * curl_multi_socket_action, as curl's docs/examples/hiperfifo.c shows).
 * Nothing blocks the loop; connections to a host are kept alive and
 * reused.
 *
 * Settings that are not optional: HTTP and HTTPS only, TLS verification
 * on (unless the request says insecure), no redirects (a 3xx is an
 * answer like any other), CURLOPT_NOSIGNAL, and the response body capped:
 * only its first HTTPC_BODY_MAX bytes are kept.
 */
#ifndef PSABRIDGE_HTTPC_H
#define PSABRIDGE_HTTPC_H

#include <stddef.h>
#include <stdint.h>

#define HTTPC_BODY_MAX (64 * 1024)

struct event_base;
struct httpc;

struct httpc_header {
	const char *name;
	const char *value;
};

/* One request; everything is borrowed until httpc_send() returns. */
struct httpc_request {
	const char *method; /* "POST", "PUT", "PATCH", "GET" */
	const char *url;
	const struct httpc_header *headers;
	size_t nheaders;
	const char *body;
	size_t body_len;
	long connect_timeout_ms; /* 0: 10 s */
	long timeout_ms;	 /* the whole exchange; 0: 30 s */
	const char *ca_file;	 /* NULL: the system's CAs */
	int insecure;		 /* 1: no TLS verification (labs only) */
};

/* What came back.  Valid only during the callback. */
struct httpc_response {
	int status;	      /* HTTP status, 0 when there was no answer */
	const char *error;    /* NULL, or why there was no answer (curl's) */
	int timed_out;	      /* the error was a timeout */
	const char *body;     /* the first HTTPC_BODY_MAX bytes, NUL-ended */
	size_t body_len;      /* bytes kept */
	int truncated;	      /* the body was longer */
	const char *retry_after; /* the Retry-After header, or NULL */
	const char *location;	 /* the Location header, or NULL */
	int64_t duration_ms;
};

typedef void (*httpc_done_fn)(const struct httpc_response *resp, void *arg);

/* NULL with a message in err when curl cannot be set up. */
struct httpc *httpc_new(struct event_base *base, char *err, size_t errlen);

/*
 * Starts req; done runs exactly once, on the loop thread, never from
 * inside httpc_send().  Returns 0, or -1 (done is not called) when the
 * request cannot be started (a URL that is not http/https, no memory).
 */
int httpc_send(struct httpc *h, const struct httpc_request *req,
	       httpc_done_fn done, void *arg);

/* Requests started and not finished. */
size_t httpc_in_flight(const struct httpc *h);

/*
 * Aborts every request (their done callbacks run with error "aborted")
 * and frees h.  NULL is safe.
 */
void httpc_free(struct httpc *h);

#endif
