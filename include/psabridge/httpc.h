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
	size_t body_max;	 /* response bytes kept; 0: HTTPC_BODY_MAX */
};

/*
 * What came back.  Valid only during the callback (everything is owned by
 * httpc).  Exactly one of status and error is set: a transfer that failed
 * half-way (a timeout after the headers, a connection reset mid-body) has
 * status 0 even if a status line had arrived.
 */
struct httpc_response {
	int status;	   /* HTTP status, 0 when there was no answer */
	const char *error; /* NULL, or why there was no answer (curl's) */
	int timed_out;	   /* the error was a timeout */
	const char *body;  /* the first HTTPC_BODY_MAX bytes, NUL-ended;
			      never NULL ("" when none) */
	size_t body_len;   /* bytes kept */
	int truncated;	   /* the body was longer */
	/* Headers of the final response, trimmed and cut to 255 bytes. */
	const char *retry_after; /* the Retry-After header, or NULL */
	const char *location;	 /* the Location header, or NULL */
	int64_t duration_ms;	 /* from httpc_send() to the answer */
};

typedef void (*httpc_done_fn)(const struct httpc_response *resp, void *arg);

/*
 * NULL with a message in err when curl cannot be set up.  base is
 * borrowed and must outlive the client.  The first call runs
 * curl_global_init() under a pthread_once, so it is safe from any thread;
 * the client itself is used on the loop thread only.
 */
struct httpc *httpc_new(struct event_base *base, char *err, size_t errlen);

/*
 * Starts req; done runs exactly once, on the loop thread, never from
 * inside httpc_send(), after the request is no longer counted in flight
 * (so done may call httpc_send() again).  Returns 0, or -1 (done is not
 * called) when the request cannot be started: a URL that is not
 * http/https, another method, a header name that is not a token or a value
 * with a line break, a header line over 8 KiB, no memory, or httpc_free()
 * under way.  Request headers are sent as given; curl adds no Accept,
 * Content-Type or Expect of its own.
 */
int httpc_send(struct httpc *h, const struct httpc_request *req,
	       httpc_done_fn done, void *arg);

/* Requests started and not finished. */
size_t httpc_in_flight(const struct httpc *h);

/*
 * Aborts every request (their done callbacks run with error "aborted" and
 * status 0, from inside httpc_free()) and frees h.  Not to be called from
 * a done callback.  NULL is safe.
 */
void httpc_free(struct httpc *h);

#endif
