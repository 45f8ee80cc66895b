/*
 * The outbound HTTP client: one CURLM for every request, driven by the
 * event loop the way curl's docs/examples/hiperfifo.c drives it.
 *
 * curl tells us through httpc_curl_socket() which sockets to watch for
 * what (one `struct httpc_sock`, one persistent event each, found again
 * through curl_multi_assign()) and through httpc_curl_timer() when to call
 * it back with no socket ready (one timer event).  Both paths end in
 * curl_multi_socket_action() followed by httpc_check_multi_info(), which
 * takes finished transfers out of the multi handle and only then calls
 * their done callbacks; a done callback may therefore start new requests.
 *
 * httpc_send() only adds the easy handle: curl answers with a 0 ms timer,
 * so even a request that fails at once (a refused connection) finishes on
 * a later turn of the loop, never inside httpc_send().
 *
 * Connections stay in the multi handle's connection cache between
 * requests, so a second request to the same host reuses the first one's
 * connection (HTTP/1.1 keep-alive, or an HTTP/2 stream).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "psabridge/httpc.h"
#include "psabridge/log.h"

#if LIBCURL_VERSION_NUM < 0x075500
#error "libcurl 7.85 or newer is needed (CURLOPT_PROTOCOLS_STR)"
#endif

#define HTTPC_CONNECT_TIMEOUT_MS 10000L
#define HTTPC_TIMEOUT_MS	 30000L
#define HTTPC_HEADER_MAX	 8192 /* one request header line */
#define HTTPC_RESP_HEADER_MAX	 256  /* Retry-After, Location */
#define HTTPC_BODY_INITIAL	 1024

/* One socket curl asked us to watch. */
struct httpc_sock {
	struct httpc *h;
	curl_socket_t fd;
	struct event *ev;
	struct httpc_sock *prev, *next;
};

/* One request, from httpc_send() until its done callback returned. */
struct httpc_xfer {
	struct httpc *h;
	CURL *easy;
	struct curl_slist *headers;
	char *req_body; /* our copy: the caller's is borrowed */
	httpc_done_fn done;
	void *arg;
	struct timespec start;

	char errbuf[CURL_ERROR_SIZE];
	int oom; /* the body buffer could not grow */
	char *body;
	size_t body_len, body_cap, body_max;
	int truncated;
	char retry_after[HTTPC_RESP_HEADER_MAX];
	char location[HTTPC_RESP_HEADER_MAX];
	int has_retry_after, has_location;

	struct httpc_xfer *prev, *next;
};

struct httpc {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	struct httpc_xfer *xfers;
	size_t in_flight;
	struct httpc_sock *socks;
	int closing; /* httpc_free() runs: no new requests */
};

static pthread_once_t httpc_once = PTHREAD_ONCE_INIT;
static CURLcode httpc_global_rc = CURLE_FAILED_INIT;

/*
 * curl_global_init() is not thread-safe in every libcurl build; the
 * pthread_once makes it safe whoever calls httpc_new() first.  It is never
 * undone: curl_global_cleanup() would race any other user of libcurl in
 * the process.
 */
static void
httpc_global_init(void)
{
	httpc_global_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static int64_t
httpc_elapsed_ms(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (int64_t)(now.tv_sec - start->tv_sec) * 1000 +
	       (now.tv_nsec - start->tv_nsec) / 1000000;
}

/*
 * The response body: the first body_max bytes are kept, the rest is
 * counted as truncation and dropped.  Returning less than was given would
 * make curl fail the transfer with CURLE_WRITE_ERROR, so the whole size is
 * always claimed, except when memory runs out.
 */
static size_t
httpc_write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct httpc_xfer *x = arg;
	size_t n = size * nmemb, take = n;
	size_t need, cap;
	char *p;

	if (take > x->body_max - x->body_len) {
		take = x->body_max - x->body_len;
		x->truncated = 1;
	}
	if (take == 0)
		return n;
	need = x->body_len + take + 1;
	if (need > x->body_cap) {
		cap = x->body_cap ? x->body_cap : HTTPC_BODY_INITIAL;
		while (cap < need)
			cap *= 2;
		if (cap > x->body_max + 1)
			cap = x->body_max + 1;
		if ((p = realloc(x->body, cap)) == NULL) {
			x->oom = 1;
			return 0;
		}
		x->body = p;
		x->body_cap = cap;
	}
	memcpy(x->body + x->body_len, ptr, take);
	x->body_len += take;
	x->body[x->body_len] = '\0';
	return n;
}

/*
 * Copies the value of header line `line` (len bytes, "Name: value\r\n")
 * into out when its name is `name`; the value is trimmed and cut to the
 * size of out.
 */
static int
httpc_header_value(const char *line, size_t len, const char *name, char *out,
		   size_t outlen)
{
	size_t nlen = strlen(name), vlen;
	const char *v, *end = line + len;

	if (len <= nlen || line[nlen] != ':' ||
	    strncasecmp(line, name, nlen) != 0)
		return 0;
	v = line + nlen + 1;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == '\r' || end[-1] == '\n' ||
			   end[-1] == ' ' || end[-1] == '\t'))
		end--;
	vlen = (size_t)(end - v);
	if (vlen >= outlen)
		vlen = outlen - 1;
	memcpy(out, v, vlen);
	out[vlen] = '\0';
	return 1;
}

/*
 * Response headers.  curl passes every response's headers here, interim
 * ones (100 Continue) included; each status line starts over, so what
 * stays is the final response's.
 */
static size_t
httpc_header_cb(char *buf, size_t size, size_t nitems, void *arg)
{
	struct httpc_xfer *x = arg;
	size_t n = size * nitems;

	if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		x->has_retry_after = x->has_location = 0;
		return n;
	}
	if (httpc_header_value(buf, n, "Retry-After", x->retry_after,
			       sizeof(x->retry_after)))
		x->has_retry_after = 1;
	else if (httpc_header_value(buf, n, "Location", x->location,
				    sizeof(x->location)))
		x->has_location = 1;
	return n;
}

static void
httpc_xfer_free(struct httpc_xfer *x)
{
	if (x == NULL)
		return;
	if (x->easy != NULL)
		curl_easy_cleanup(x->easy);
	curl_slist_free_all(x->headers);
	free(x->req_body);
	free(x->body);
	free(x);
}

static void
httpc_xfer_unlink(struct httpc_xfer *x)
{
	struct httpc *h = x->h;

	if (x->prev != NULL)
		x->prev->next = x->next;
	else
		h->xfers = x->next;
	if (x->next != NULL)
		x->next->prev = x->prev;
	x->prev = x->next = NULL;
	h->in_flight--;
}

/*
 * Takes x out of the multi handle, calls its done callback with resp and
 * frees it.  By the time done runs x is no longer in_flight and curl is not
 * on the stack, so done may call httpc_send().
 */
static void
httpc_xfer_finish(struct httpc_xfer *x, struct httpc_response *resp)
{
	struct httpc *h = x->h;

	curl_multi_remove_handle(h->multi, x->easy);
	httpc_xfer_unlink(x);
	resp->duration_ms = httpc_elapsed_ms(&x->start);
	x->done(resp, x->arg);
	httpc_xfer_free(x);
}

static void
httpc_xfer_complete(struct httpc_xfer *x, CURLcode res)
{
	struct httpc_response resp;
	long code = 0;

	memset(&resp, 0, sizeof(resp));
	if (res == CURLE_OK) {
		curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
		resp.status = (int)code;
	} else if (x->oom) {
		resp.error = "out of memory for the response body";
	} else {
		resp.error =
		    x->errbuf[0] != '\0' ? x->errbuf : curl_easy_strerror(res);
		resp.timed_out = res == CURLE_OPERATION_TIMEDOUT;
	}
	resp.body = x->body != NULL ? x->body : "";
	resp.body_len = x->body_len;
	resp.truncated = x->truncated;
	resp.retry_after = x->has_retry_after ? x->retry_after : NULL;
	resp.location = x->has_location ? x->location : NULL;
	httpc_xfer_finish(x, &resp);
}

/* After every curl_multi_socket_action(): hand finished transfers back. */
static void
httpc_check_multi_info(struct httpc *h)
{
	struct httpc_xfer *x;
	CURLMsg *msg;
	CURLcode res;
	CURL *easy;
	char *priv;
	int left;

	while ((msg = curl_multi_info_read(h->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* msg is invalid once the handle is removed */
		easy = msg->easy_handle;
		res = msg->data.result;
		priv = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		x = (struct httpc_xfer *)(void *)priv;
		httpc_xfer_complete(x, res);
	}
}

static void
httpc_socket_action(struct httpc *h, curl_socket_t fd, int mask)
{
	CURLMcode mc;
	int running;

	mc = curl_multi_socket_action(h->multi, fd, mask, &running);
	if (mc != CURLM_OK)
		log_warn("msg=\"curl_multi_socket_action failed\" error=\"%s\"",
			 curl_multi_strerror(mc));
	httpc_check_multi_info(h);
}

static void
httpc_sock_ready(evutil_socket_t fd, short what, void *arg)
{
	struct httpc_sock *sk = arg;
	int mask = 0;

	if (what & EV_READ)
		mask |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		mask |= CURL_CSELECT_OUT;
	/* sk may be freed inside: curl can drop the socket */
	httpc_socket_action(sk->h, fd, mask);
}

static void
httpc_timer_fired(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	httpc_socket_action(arg, CURL_SOCKET_TIMEOUT, 0);
}

static void
httpc_sock_free(struct httpc_sock *sk)
{
	struct httpc *h = sk->h;

	if (sk->prev != NULL)
		sk->prev->next = sk->next;
	else
		h->socks = sk->next;
	if (sk->next != NULL)
		sk->next->prev = sk->prev;
	event_free(sk->ev);
	free(sk);
}

static struct httpc_sock *
httpc_sock_new(struct httpc *h, curl_socket_t fd)
{
	struct httpc_sock *sk;

	if ((sk = calloc(1, sizeof(*sk))) == NULL)
		return NULL;
	sk->h = h;
	sk->fd = fd;
	/* the real kind is set by event_assign() before every event_add() */
	sk->ev = event_new(h->base, fd, EV_PERSIST, httpc_sock_ready, sk);
	if (sk->ev == NULL || curl_multi_assign(h->multi, fd, sk) != CURLM_OK) {
		if (sk->ev != NULL)
			event_free(sk->ev);
		free(sk);
		return NULL;
	}
	sk->next = h->socks;
	if (h->socks != NULL)
		h->socks->prev = sk;
	h->socks = sk;
	return sk;
}

/*
 * CURLMOPT_SOCKETFUNCTION.  Returning -1 makes curl fail every transfer in
 * the multi handle (7.85+), which is the honest answer when we cannot
 * watch a socket it needs.
 */
static int
httpc_curl_socket(CURL *easy, curl_socket_t fd, int what, void *userp,
		  void *socketp)
{
	struct httpc *h = userp;
	struct httpc_sock *sk = socketp;
	short kind = EV_PERSIST;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (sk != NULL)
			httpc_sock_free(sk);
		return 0;
	}
	if (sk == NULL && (sk = httpc_sock_new(h, fd)) == NULL)
		return -1;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	event_del(sk->ev);
	if (!(kind & (EV_READ | EV_WRITE)))
		return 0;
	if (event_assign(sk->ev, h->base, fd, kind, httpc_sock_ready, sk) ==
		-1 ||
	    event_add(sk->ev, NULL) == -1)
		return -1;
	return 0;
}

/*
 * CURLMOPT_TIMERFUNCTION: -1 stops the timer, 0 means "call me now",
 * which a 0 s timeout does on the next turn of the loop (never from
 * inside curl).
 */
static int
httpc_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
	struct httpc *h = userp;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0)
		return event_del(h->timer) == 0 ? 0 : -1;
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(h->timer, &tv) == 0 ? 0 : -1;
}

struct httpc *
httpc_new(struct event_base *base, char *err, size_t errlen)
{
	const curl_version_info_data *vi;
	struct httpc *h = NULL;
	int ok = 0;

	pthread_once(&httpc_once, httpc_global_init);
	if (httpc_global_rc != CURLE_OK) {
		snprintf(err, errlen, "curl_global_init: %s",
			 curl_easy_strerror(httpc_global_rc));
		goto out;
	}
	vi = curl_version_info(CURLVERSION_NOW);
	if (vi->version_num < 0x075500) {
		snprintf(err, errlen, "libcurl %s is too old: 7.85 needed",
			 vi->version);
		goto out;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	h->base = base;
	if ((h->multi = curl_multi_init()) == NULL ||
	    (h->timer = evtimer_new(base, httpc_timer_fired, h)) == NULL) {
		snprintf(err, errlen, "cannot set up libcurl: out of memory");
		goto out;
	}
	if (curl_multi_setopt(h->multi, CURLMOPT_SOCKETFUNCTION,
			      httpc_curl_socket) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_SOCKETDATA, h) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERFUNCTION,
			      httpc_curl_timer) != CURLM_OK ||
	    curl_multi_setopt(h->multi, CURLMOPT_TIMERDATA, h) != CURLM_OK) {
		snprintf(err, errlen, "cannot set up the libcurl multi handle");
		goto out;
	}
	ok = 1;
out:
	if (!ok) {
		httpc_free(h);
		h = NULL;
	}
	return h;
}

/* Only http: and https: URLs, whatever curl would accept. */
static int
httpc_url_allowed(const char *url)
{
	CURLU *u;
	char *scheme = NULL;
	int ok = 0;

	if ((u = curl_url()) == NULL)
		return 0;
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK)
		ok = strcasecmp(scheme, "http") == 0 ||
		     strcasecmp(scheme, "https") == 0;
	curl_free(scheme);
	curl_url_cleanup(u);
	return ok;
}

static int
httpc_header_name_ok(const char *name)
{
	const char *p;

	if (*name == '\0')
		return 0;
	for (p = name; *p != '\0'; p++)
		if (*p <= ' ' || *p == ':' || *p == ';' || *p == 0x7f)
			return 0;
	return 1;
}

/*
 * The request headers: the caller's, then blanks that stop curl adding its
 * own Expect (100-continue costs a round trip), Accept and Content-Type.
 */
static int
httpc_build_headers(struct httpc_xfer *x, const struct httpc_request *req)
{
	static const char *const suppressed[] = {"Expect", "Accept",
						 "Content-Type"};
	int given[3] = {0, 0, 0};
	struct curl_slist *l;
	char line[HTTPC_HEADER_MAX];
	const struct httpc_header *hd;
	size_t i, j;
	int n;

	for (i = 0; i < req->nheaders; i++) {
		hd = &req->headers[i];
		if (hd->name == NULL || hd->value == NULL ||
		    !httpc_header_name_ok(hd->name) ||
		    strpbrk(hd->value, "\r\n") != NULL)
			return -1;
		for (j = 0; j < 3; j++)
			if (strcasecmp(hd->name, suppressed[j]) == 0)
				given[j] = 1;
		/* "Name:" would remove the header: curl sends "Name;" empty */
		if (hd->value[0] == '\0')
			n = snprintf(line, sizeof(line), "%s;", hd->name);
		else
			n = snprintf(line, sizeof(line), "%s: %s", hd->name,
				     hd->value);
		if (n < 0 || (size_t)n >= sizeof(line))
			return -1;
		if ((l = curl_slist_append(x->headers, line)) == NULL)
			return -1;
		x->headers = l;
	}
	for (j = 0; j < 3; j++) {
		if (given[j])
			continue;
		snprintf(line, sizeof(line), "%s:", suppressed[j]);
		if ((l = curl_slist_append(x->headers, line)) == NULL)
			return -1;
		x->headers = l;
	}
	return 0;
}

/* Everything but the method and body. */
static int
httpc_setup_easy(struct httpc_xfer *x, const struct httpc_request *req)
{
	CURL *e = x->easy;
	long verify = req->insecure ? 0L : 1L;
	long cto = req->connect_timeout_ms > 0 ? req->connect_timeout_ms
					       : HTTPC_CONNECT_TIMEOUT_MS;
	long to = req->timeout_ms > 0 ? req->timeout_ms : HTTPC_TIMEOUT_MS;

	if (curl_easy_setopt(e, CURLOPT_URL, req->url) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") !=
		CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") !=
		CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cto) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, to) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, verify) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, verify ? 2L : 0L) !=
		CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->headers) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, x->errbuf) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, httpc_write_cb) !=
		CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_WRITEDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, httpc_header_cb) !=
		CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_HEADERDATA, x) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x) != CURLE_OK)
		return -1;
	if (req->ca_file != NULL &&
	    curl_easy_setopt(e, CURLOPT_CAINFO, req->ca_file) != CURLE_OK)
		return -1;
	return 0;
}

/*
 * POST sends the body as POSTFIELDS; PUT and PATCH too, with the method
 * renamed.  GET sends a body only when given one.  The body is copied:
 * curl reads POSTFIELDS while the transfer runs, the caller's buffer is
 * borrowed only until httpc_send() returns.
 */
static int
httpc_setup_method(struct httpc_xfer *x, const struct httpc_request *req)
{
	CURL *e = x->easy;
	int is_get = strcmp(req->method, "GET") == 0;

	if (strcmp(req->method, "POST") != 0 && !is_get &&
	    strcmp(req->method, "PUT") != 0 &&
	    strcmp(req->method, "PATCH") != 0)
		return -1;
	if (req->body_len > 0 && req->body == NULL)
		return -1;
	if (strcmp(req->method, "POST") != 0 &&
	    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method) != CURLE_OK)
		return -1;
	if (is_get && req->body_len == 0)
		return 0;
	if ((x->req_body = malloc(req->body_len + 1)) == NULL)
		return -1;
	if (req->body_len > 0)
		memcpy(x->req_body, req->body, req->body_len);
	if (curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
			     (curl_off_t)req->body_len) != CURLE_OK ||
	    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->req_body) != CURLE_OK)
		return -1;
	return 0;
}

int
httpc_send(struct httpc *h, const struct httpc_request *req, httpc_done_fn done,
	   void *arg)
{
	struct httpc_xfer *x = NULL;
	int rc = -1;

	if (h == NULL || h->closing || req == NULL || req->url == NULL ||
	    req->method == NULL || done == NULL || !httpc_url_allowed(req->url))
		goto out;
	if ((x = calloc(1, sizeof(*x))) == NULL)
		goto out;
	x->h = h;
	x->body_max = req->body_max > 0 ? req->body_max : HTTPC_BODY_MAX;
	x->done = done;
	x->arg = arg;
	if ((x->easy = curl_easy_init()) == NULL ||
	    httpc_build_headers(x, req) == -1 ||
	    httpc_setup_easy(x, req) == -1 || httpc_setup_method(x, req) == -1)
		goto out;
	clock_gettime(CLOCK_MONOTONIC, &x->start);
	if (curl_multi_add_handle(h->multi, x->easy) != CURLM_OK)
		goto out;
	x->next = h->xfers;
	if (h->xfers != NULL)
		h->xfers->prev = x;
	h->xfers = x;
	h->in_flight++;
	x = NULL;
	rc = 0;
out:
	httpc_xfer_free(x);
	return rc;
}

size_t
httpc_in_flight(const struct httpc *h)
{
	return h != NULL ? h->in_flight : 0;
}

void
httpc_free(struct httpc *h)
{
	struct httpc_response resp;

	if (h == NULL)
		return;
	h->closing = 1;
	while (h->xfers != NULL) {
		memset(&resp, 0, sizeof(resp));
		resp.error = "aborted";
		resp.body = "";
		httpc_xfer_finish(h->xfers, &resp);
	}
	/* may call httpc_curl_socket() for cached connections */
	if (h->multi != NULL)
		curl_multi_cleanup(h->multi);
	while (h->socks != NULL)
		httpc_sock_free(h->socks);
	if (h->timer != NULL)
		event_free(h->timer);
	free(h);
}
