/*
 * Unit tests for httpc, the outbound HTTP client.  Every test starts a
 * small evhttp server on 127.0.0.1:0 on the same event_base as the client
 * and scripts it by path:
 *
 *   /ok        200 "hello\n"
 *   /late      201 {"id":42}, 150 ms after the request arrived
 *   /big       200 with a 200 KiB body
 *   /redirect  302 to /ok (header name in lower case)
 *   /longloc   302 with a 1000-byte Location
 *   /retry     429 with Retry-After: 7
 *   /slow      never answers
 *   /echo      the method, headers and body back as JSON
 *
 * The server counts accepted connections (evhttp_set_bevcb) and hits on
 * /ok.  The loop always runs under a 5 s guard timer.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "psabridge/httpc.h"

#define BIG_LEN	    (200 * 1024)
#define MAX_SLOW    4
#define MAX_RESULTS 4

struct fx;

/* One done callback's view of a response, copied out of it. */
struct result {
	struct fx *fx;
	int calls;
	int status;
	char *error; /* NULL or a copy */
	int timed_out;
	char *body;
	size_t body_len;
	int truncated;
	char *retry_after, *location;
	int64_t duration_ms;
	size_t in_flight; /* httpc_in_flight() inside done */
	/* when set, done sends GET resend_url with result `chained` */
	const char *resend_url;
	struct result *chained;
	int resend_rc;
};

struct fx {
	struct event_base *base;
	struct evhttp *http;
	int port;
	int accepted;
	int ok_hits;
	struct evhttp_request *slow[MAX_SLOW];
	int nslow;
	int break_on_slow;
	int done_calls, want;
	int guard_fired;
	struct httpc *h;
	struct result res[MAX_RESULTS];
	char url[MAX_RESULTS][256];
};

static char big_body[BIG_LEN];

static char *
dup_or_null(const char *s)
{
	char *d;

	if (s == NULL)
		return NULL;
	d = strdup(s);
	assert_non_null(d);
	return d;
}

/* --- the server ------------------------------------------------------- */

static struct bufferevent *
srv_count_conn(struct event_base *base, void *arg)
{
	struct fx *fx = arg;

	(void)base;
	fx->accepted++;
	return NULL; /* evhttp makes its usual bufferevent */
}

static const char *
srv_method(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:
		return "GET";
	case EVHTTP_REQ_POST:
		return "POST";
	case EVHTTP_REQ_PUT:
		return "PUT";
	case EVHTTP_REQ_PATCH:
		return "PATCH";
	default:
		return "OTHER";
	}
}

static void
srv_reply(struct evhttp_request *req, int code, const char *reason,
	  const void *body, size_t len)
{
	struct evbuffer *b = evbuffer_new();

	assert_non_null(b);
	assert_int_equal(evbuffer_add(b, body, len), 0);
	evhttp_send_reply(req, code, reason, b);
	evbuffer_free(b);
}

static void
srv_echo(struct evhttp_request *req)
{
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	struct evkeyval *kv;
	cJSON *o, *hd;
	char *body, *text;

	body = calloc(1, len + 1);
	assert_non_null(body);
	assert_int_equal(evbuffer_copyout(in, body, len), (ev_ssize_t)len);
	o = cJSON_CreateObject();
	hd = cJSON_AddObjectToObject(o, "headers");
	assert_non_null(hd);
	cJSON_AddStringToObject(o, "method",
				srv_method(evhttp_request_get_command(req)));
	TAILQ_FOREACH(kv, evhttp_request_get_input_headers(req), next)
	{
		cJSON_AddStringToObject(hd, kv->key, kv->value);
	}
	cJSON_AddStringToObject(o, "body", body);
	cJSON_AddNumberToObject(o, "body_len", (double)len);
	text = cJSON_PrintUnformatted(o);
	assert_non_null(text);
	srv_reply(req, 200, "OK", text, strlen(text));
	cJSON_free(text);
	cJSON_Delete(o);
	free(body);
}

static void
srv_late_reply(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	srv_reply(arg, 201, "Created", "{\"id\":42}", 9);
}

static void
srv_cb(struct evhttp_request *req, void *arg)
{
	struct fx *fx = arg;
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	const char *path =
	    evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
	struct timeval late = {0, 150 * 1000};
	char loc[1100];

	if (strcmp(path, "/ok") == 0) {
		fx->ok_hits++;
		srv_reply(req, 200, "OK", "hello\n", 6);
	} else if (strcmp(path, "/late") == 0) {
		assert_int_equal(event_base_once(fx->base, -1, EV_TIMEOUT,
						 srv_late_reply, req, &late),
				 0);
	} else if (strcmp(path, "/big") == 0) {
		srv_reply(req, 200, "OK", big_body, sizeof(big_body));
	} else if (strcmp(path, "/redirect") == 0) {
		snprintf(loc, sizeof(loc), "http://127.0.0.1:%d/ok", fx->port);
		evhttp_add_header(out, "location", loc);
		srv_reply(req, 302, "Found", "", 0);
	} else if (strcmp(path, "/longloc") == 0) {
		memset(loc, 'a', 1000);
		memcpy(loc, "http://x/", 9);
		loc[1000] = '\0';
		evhttp_add_header(out, "Location", loc);
		srv_reply(req, 302, "Found", "", 0);
	} else if (strcmp(path, "/retry") == 0) {
		evhttp_add_header(out, "Retry-After", "7");
		srv_reply(req, 429, "Too Many Requests", "slow down\n", 10);
	} else if (strcmp(path, "/slow") == 0) {
		assert_true(fx->nslow < MAX_SLOW);
		fx->slow[fx->nslow++] = req;
		if (fx->break_on_slow)
			event_base_loopbreak(fx->base);
	} else if (strcmp(path, "/echo") == 0) {
		srv_echo(req);
	} else {
		srv_reply(req, 404, "Not Found", "", 0);
	}
}

/* --- the client side -------------------------------------------------- */

static void
on_done(const struct httpc_response *resp, void *arg)
{
	struct result *r = arg;
	struct fx *fx = r->fx;
	struct httpc_request req = {.method = "GET"};

	r->calls++;
	r->status = resp->status;
	r->error = dup_or_null(resp->error);
	r->timed_out = resp->timed_out;
	assert_non_null(resp->body);
	assert_int_equal(resp->body[resp->body_len], '\0');
	r->body = malloc(resp->body_len + 1);
	assert_non_null(r->body);
	memcpy(r->body, resp->body, resp->body_len + 1);
	r->body_len = resp->body_len;
	r->truncated = resp->truncated;
	r->retry_after = dup_or_null(resp->retry_after);
	r->location = dup_or_null(resp->location);
	r->duration_ms = resp->duration_ms;
	r->in_flight = httpc_in_flight(fx->h);
	if (r->resend_url != NULL) {
		req.url = r->resend_url;
		r->resend_rc = httpc_send(fx->h, &req, on_done, r->chained);
	}
	if (++fx->done_calls >= fx->want)
		event_base_loopbreak(fx->base);
}

static void
guard_fired(evutil_socket_t fd, short what, void *arg)
{
	struct fx *fx = arg;

	(void)fd;
	(void)what;
	fx->guard_fired = 1;
	event_base_loopbreak(fx->base);
}

/* Runs the loop until something breaks it, or the 5 s guard. */
static void
run_guarded(struct fx *fx)
{
	struct timeval tv = {5, 0};
	struct event *guard = evtimer_new(fx->base, guard_fired, fx);

	assert_non_null(guard);
	assert_int_equal(evtimer_add(guard, &tv), 0);
	assert_int_equal(event_base_dispatch(fx->base), 0);
	event_free(guard);
	assert_false(fx->guard_fired);
}

/* Runs the loop until `want` done callbacks in all. */
static void
run_until_done(struct fx *fx, int want)
{
	fx->want = want;
	if (fx->done_calls < want)
		run_guarded(fx);
	assert_int_equal(fx->done_calls, want);
}

static const char *
url(struct fx *fx, int i, const char *path)
{
	snprintf(fx->url[i], sizeof(fx->url[i]), "http://127.0.0.1:%d%s",
		 fx->port, path);
	return fx->url[i];
}

/* Sends req with result i; done must not have run yet. */
static void
send_ok(struct fx *fx, const struct httpc_request *req, int i)
{
	assert_int_equal(httpc_send(fx->h, req, on_done, &fx->res[i]), 0);
	assert_int_equal(fx->res[i].calls, 0);
}

static void
get(struct fx *fx, int i, const char *path)
{
	struct httpc_request req = {.method = "GET", .url = url(fx, i, path)};

	send_ok(fx, &req, i);
}

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct evhttp_bound_socket *bs;
	struct sockaddr_in sin;
	socklen_t slen = sizeof(sin);
	char err[256] = "";
	size_t i;

	assert_non_null(fx);
	for (i = 0; i < sizeof(big_body); i++)
		big_body[i] = (char)('a' + i % 26);
	fx->base = event_base_new();
	assert_non_null(fx->base);
	fx->http = evhttp_new(fx->base);
	assert_non_null(fx->http);
	evhttp_set_allowed_methods(fx->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
						 EVHTTP_REQ_PUT |
						 EVHTTP_REQ_PATCH);
	evhttp_set_gencb(fx->http, srv_cb, fx);
	evhttp_set_bevcb(fx->http, srv_count_conn, fx);
	bs = evhttp_bind_socket_with_handle(fx->http, "127.0.0.1", 0);
	assert_non_null(bs);
	assert_int_equal(getsockname(evhttp_bound_socket_get_fd(bs),
				     (struct sockaddr *)&sin, &slen),
			 0);
	fx->port = ntohs(sin.sin_port);
	for (i = 0; i < MAX_RESULTS; i++)
		fx->res[i].fx = fx;
	fx->h = httpc_new(fx->base, err, sizeof(err));
	assert_non_null(fx->h);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;
	struct result *r;
	int i;

	httpc_free(fx->h);
	/* answering frees a request whose connection is already gone */
	for (i = 0; i < fx->nslow; i++)
		evhttp_send_reply(fx->slow[i], 200, "OK", NULL);
	evhttp_free(fx->http);
	event_base_free(fx->base);
	for (i = 0; i < MAX_RESULTS; i++) {
		r = &fx->res[i];
		free(r->error);
		free(r->body);
		free(r->retry_after);
		free(r->location);
	}
	free(fx);
	return 0;
}

/* --- tests ------------------------------------------------------------ */

static void
test_post_gets_status_body_and_duration(void **state)
{
	struct fx *fx = *state;
	struct httpc_request req = {.method = "POST",
				    .url = url(fx, 0, "/late"),
				    .body = "{\"a\":1}",
				    .body_len = 7};

	send_ok(fx, &req, 0);
	assert_int_equal(httpc_in_flight(fx->h), 1);
	run_until_done(fx, 1);
	assert_int_equal(fx->res[0].calls, 1);
	assert_int_equal(fx->res[0].status, 201);
	assert_null(fx->res[0].error);
	assert_string_equal(fx->res[0].body, "{\"id\":42}");
	assert_int_equal(fx->res[0].body_len, 9);
	assert_false(fx->res[0].truncated);
	assert_true(fx->res[0].duration_ms >= 140);
	assert_true(fx->res[0].duration_ms < 3000);
	assert_int_equal(fx->res[0].in_flight, 0);
	assert_int_equal(httpc_in_flight(fx->h), 0);
}

static void
test_headers_and_body_arrive_as_sent(void **state)
{
	struct fx *fx = *state;
	struct httpc_header hd[] = {
	    {"Content-Type", "application/json"},
	    {"X-Api-Key", "s3cret"},
	    {"X-Empty", ""},
	};
	char body[2001];
	struct httpc_request req = {.method = "POST",
				    .url = url(fx, 0, "/echo"),
				    .headers = hd,
				    .nheaders = 3,
				    .body = body,
				    .body_len = 2000};
	char expect[2001];
	cJSON *o, *h;

	memset(body, 'b', 2000);
	memcpy(body, "{\"big\":", 7);
	body[2000] = '\0';
	memcpy(expect, body, sizeof(expect));
	send_ok(fx, &req, 0);
	/* the body is borrowed only until httpc_send() returns */
	memset(body, 'Z', 2000);
	run_until_done(fx, 1);
	assert_int_equal(fx->res[0].status, 200);
	o = cJSON_Parse(fx->res[0].body);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "method")->valuestring,
			    "POST");
	assert_string_equal(cJSON_GetObjectItem(o, "body")->valuestring,
			    expect);
	assert_int_equal(cJSON_GetObjectItem(o, "body_len")->valueint, 2000);
	h = cJSON_GetObjectItem(o, "headers");
	assert_string_equal(cJSON_GetObjectItem(h, "Content-Type")->valuestring,
			    "application/json");
	assert_string_equal(cJSON_GetObjectItem(h, "X-Api-Key")->valuestring,
			    "s3cret");
	assert_string_equal(cJSON_GetObjectItem(h, "X-Empty")->valuestring, "");
	assert_string_equal(
	    cJSON_GetObjectItem(h, "Content-Length")->valuestring, "2000");
	/* nothing of curl's own: no 100-continue, no Accept */
	assert_null(cJSON_GetObjectItem(h, "Expect"));
	assert_null(cJSON_GetObjectItem(h, "Accept"));
	cJSON_Delete(o);
}

static void
test_put_patch_and_get_send_their_method(void **state)
{
	struct fx *fx = *state;
	struct httpc_request req = {.body = "x=1", .body_len = 3};
	static const char *const methods[] = {"PUT", "PATCH", "GET"};
	cJSON *o, *h;
	int i;

	for (i = 0; i < 3; i++) {
		req.method = methods[i];
		req.url = url(fx, i, "/echo");
		if (i == 2)
			req.body_len = 0;
		send_ok(fx, &req, i);
		run_until_done(fx, i + 1);
		assert_int_equal(fx->res[i].status, 200);
		o = cJSON_Parse(fx->res[i].body);
		assert_non_null(o);
		assert_string_equal(
		    cJSON_GetObjectItem(o, "method")->valuestring, methods[i]);
		assert_string_equal(cJSON_GetObjectItem(o, "body")->valuestring,
				    i == 2 ? "" : "x=1");
		h = cJSON_GetObjectItem(o, "headers");
		/* curl's form Content-Type is not added */
		assert_null(cJSON_GetObjectItem(h, "Content-Type"));
		cJSON_Delete(o);
	}
}

static void
test_redirect_is_returned_not_followed(void **state)
{
	struct fx *fx = *state;
	char want[128];

	get(fx, 0, "/redirect");
	run_until_done(fx, 1);
	assert_int_equal(fx->res[0].status, 302);
	assert_null(fx->res[0].error);
	snprintf(want, sizeof(want), "http://127.0.0.1:%d/ok", fx->port);
	assert_non_null(fx->res[0].location);
	assert_string_equal(fx->res[0].location, want);
	assert_null(fx->res[0].retry_after);
	assert_int_equal(fx->ok_hits, 0);
}

static void
test_long_location_is_cut(void **state)
{
	struct fx *fx = *state;

	get(fx, 0, "/longloc");
	run_until_done(fx, 1);
	assert_int_equal(fx->res[0].status, 302);
	assert_non_null(fx->res[0].location);
	assert_int_equal(strlen(fx->res[0].location), 255);
	assert_memory_equal(fx->res[0].location, "http://x/aaaa", 13);
}

static void
test_retry_after_is_captured(void **state)
{
	struct fx *fx = *state;

	get(fx, 0, "/retry");
	run_until_done(fx, 1);
	assert_int_equal(fx->res[0].status, 429);
	assert_non_null(fx->res[0].retry_after);
	assert_string_equal(fx->res[0].retry_after, "7");
	assert_null(fx->res[0].location);
	assert_string_equal(fx->res[0].body, "slow down\n");
}

static void
test_big_body_is_cut_and_still_a_success(void **state)
{
	struct fx *fx = *state;

	get(fx, 0, "/big");
	run_until_done(fx, 1);
	assert_int_equal(fx->res[0].status, 200);
	assert_null(fx->res[0].error);
	assert_true(fx->res[0].truncated);
	assert_int_equal(fx->res[0].body_len, HTTPC_BODY_MAX);
	assert_memory_equal(fx->res[0].body, big_body, HTTPC_BODY_MAX);
	assert_int_equal(fx->res[0].body[HTTPC_BODY_MAX], '\0');
}

static void
test_closed_port_gives_status_0_and_an_error(void **state)
{
	struct fx *fx = *state;
	struct sockaddr_in sin = {.sin_family = AF_INET};
	socklen_t slen = sizeof(sin);
	struct httpc_request req = {.method = "POST", .body_len = 0};
	char u[64];
	int fd;

	/* bound but not listening: connections are refused, no race */
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &slen), 0);
	snprintf(u, sizeof(u), "http://127.0.0.1:%d/ok", ntohs(sin.sin_port));
	req.url = u;
	send_ok(fx, &req, 0);
	run_until_done(fx, 1);
	close(fd);
	assert_int_equal(fx->res[0].status, 0);
	assert_non_null(fx->res[0].error);
	assert_true(strlen(fx->res[0].error) > 0);
	assert_false(fx->res[0].timed_out);
	assert_int_equal(fx->res[0].body_len, 0);
}

static void
test_timeout_gives_timed_out(void **state)
{
	struct fx *fx = *state;
	struct httpc_request req = {
	    .method = "GET", .url = url(fx, 0, "/slow"), .timeout_ms = 300};

	send_ok(fx, &req, 0);
	run_until_done(fx, 1);
	assert_int_equal(fx->nslow, 1);
	assert_int_equal(fx->res[0].status, 0);
	assert_true(fx->res[0].timed_out);
	assert_non_null(fx->res[0].error);
	assert_non_null(strstr(fx->res[0].error, "timed out"));
	assert_true(fx->res[0].duration_ms >= 290);
	assert_true(fx->res[0].duration_ms < 3000);
}

static void
test_only_http_and_https_are_sent(void **state)
{
	struct fx *fx = *state;
	static const char *const refused[] = {
	    "ftp://127.0.0.1/x",
	    "file:///etc/passwd",
	    "gopher://127.0.0.1/",
	    "127.0.0.1/ok",
	    "",
	};
	struct httpc_request req = {.method = "GET"};
	size_t i;

	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		req.url = refused[i];
		assert_int_equal(httpc_send(fx->h, &req, on_done, &fx->res[0]),
				 -1);
	}
	assert_int_equal(httpc_in_flight(fx->h), 0);
	/* the scheme is case-insensitive; only this request calls done */
	snprintf(fx->url[1], sizeof(fx->url[1]), "HTTP://127.0.0.1:%d/ok",
		 fx->port);
	req.url = fx->url[1];
	send_ok(fx, &req, 1);
	run_until_done(fx, 1);
	assert_int_equal(fx->res[0].calls, 0);
	assert_int_equal(fx->res[1].calls, 1);
	assert_int_equal(fx->res[1].status, 200);
}

static void
test_bad_method_or_header_is_refused(void **state)
{
	struct fx *fx = *state;
	struct httpc_header crlf[] = {{"X-A", "b\r\nX-Injected: 1"}};
	struct httpc_header colon[] = {{"X-A: b", "c"}};
	struct httpc_request req = {.method = "DELETE",
				    .url = url(fx, 0, "/ok")};

	assert_int_equal(httpc_send(fx->h, &req, on_done, &fx->res[0]), -1);
	req.method = "GET";
	req.headers = crlf;
	req.nheaders = 1;
	assert_int_equal(httpc_send(fx->h, &req, on_done, &fx->res[0]), -1);
	req.headers = colon;
	assert_int_equal(httpc_send(fx->h, &req, on_done, &fx->res[0]), -1);
	assert_int_equal(httpc_in_flight(fx->h), 0);
	assert_int_equal(fx->res[0].calls, 0);
}

static void
test_sequential_requests_reuse_one_connection(void **state)
{
	struct fx *fx = *state;

	get(fx, 0, "/ok");
	run_until_done(fx, 1);
	get(fx, 1, "/ok");
	run_until_done(fx, 2);
	assert_int_equal(fx->res[0].status, 200);
	assert_int_equal(fx->res[1].status, 200);
	assert_string_equal(fx->res[1].body, "hello\n");
	assert_int_equal(fx->ok_hits, 2);
	assert_int_equal(fx->accepted, 1);
}

static void
test_free_aborts_requests_in_flight(void **state)
{
	struct fx *fx = *state;

	fx->break_on_slow = 1;
	get(fx, 0, "/slow");
	run_guarded(fx); /* until the server holds the request */
	assert_int_equal(fx->nslow, 1);
	/* one more that never got going; its done tries to send again */
	fx->res[1].resend_url = url(fx, 2, "/ok");
	fx->res[1].chained = &fx->res[2];
	fx->res[1].resend_rc = 99;
	get(fx, 1, "/slow");
	assert_int_equal(httpc_in_flight(fx->h), 2);
	httpc_free(fx->h);
	fx->h = NULL;
	assert_int_equal(fx->done_calls, 2);
	assert_int_equal(fx->res[0].calls, 1);
	assert_int_equal(fx->res[0].status, 0);
	assert_string_equal(fx->res[0].error, "aborted");
	assert_int_equal(fx->res[1].calls, 1);
	assert_string_equal(fx->res[1].error, "aborted");
	assert_int_equal(fx->res[1].resend_rc, -1);
	assert_int_equal(fx->res[2].calls, 0);
}

static void
test_done_may_send_a_new_request(void **state)
{
	struct fx *fx = *state;
	struct httpc_request req = {.method = "POST",
				    .url = url(fx, 0, "/echo"),
				    .body = "1",
				    .body_len = 1};

	fx->res[0].resend_url = url(fx, 1, "/ok");
	fx->res[0].chained = &fx->res[1];
	fx->res[0].resend_rc = 99;
	send_ok(fx, &req, 0);
	run_until_done(fx, 2);
	assert_int_equal(fx->res[0].status, 200);
	assert_int_equal(fx->res[0].resend_rc, 0);
	assert_int_equal(fx->res[1].calls, 1);
	assert_int_equal(fx->res[1].status, 200);
	assert_string_equal(fx->res[1].body, "hello\n");
	assert_int_equal(fx->ok_hits, 1);
	assert_int_equal(httpc_in_flight(fx->h), 0);
}

#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_post_gets_status_body_and_duration),
	    T(test_headers_and_body_arrive_as_sent),
	    T(test_put_patch_and_get_send_their_method),
	    T(test_redirect_is_returned_not_followed),
	    T(test_long_location_is_cut),
	    T(test_retry_after_is_captured),
	    T(test_big_body_is_cut_and_still_a_success),
	    T(test_closed_port_gives_status_0_and_an_error),
	    T(test_timeout_gives_timed_out),
	    T(test_only_http_and_https_are_sent),
	    T(test_bad_method_or_header_is_refused),
	    T(test_sequential_requests_reuse_one_connection),
	    T(test_free_aborts_requests_in_flight),
	    T(test_done_may_send_a_new_request),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
