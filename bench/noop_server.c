/*
 * noop_server: the baseline that bench/ingest.sh measures psabridge against.
 *
 * It is psabridge's ingest listener with the work taken out: one evhttp on
 * one event_base, one thread, the same limits as the benchmark's config
 * (64 KiB body, 8 KiB headers, 10 s timeout, POST only).  It reads the whole
 * body, makes it contiguous as a JSON parser would need it, drops it and
 * answers 200 with a small JSON body.  Whatever psabridge costs beyond this
 * is the price of parsing, deduplicating and committing an event.
 *
 * usage: bench_noop_server ADDRESS PORT
 *
 * PORT 0 lets the kernel pick one.  Once the socket listens, the bound port
 * is printed alone on one line on stdout; logs go to stderr, one key=value
 * line per event.  SIGTERM or SIGINT stop the loop; the counters are logged
 * and the exit status is 0.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include "bench_server.h"

/* Keep these equal to the limits in the config bench/ingest.sh writes. */
#define NOOP_MAX_BODY_BYTES   65536
#define NOOP_MAX_HEADER_BYTES 8192
#define NOOP_TIMEOUT_S	      10

static const char noop_reply[] = "{\"status\":\"ok\"}\n";

struct noop_stats {
	unsigned long long requests;
	unsigned long long body_bytes;
	unsigned long long failures;
};

static void
noop_request(struct evhttp_request *req, void *arg)
{
	struct noop_stats *st = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	size_t len = evbuffer_get_length(in);

	if (len > 0 && evbuffer_pullup(in, -1) == NULL)
		goto fail;
	evbuffer_drain(in, len);
	if (evhttp_add_header(hdrs, "Content-Type", "application/json") == -1)
		goto fail;
	if (evbuffer_add(out, noop_reply, sizeof(noop_reply) - 1) == -1)
		goto fail;
	st->requests++;
	st->body_bytes += len;
	evhttp_send_reply(req, HTTP_OK, "OK", NULL);
	return;
fail:
	st->failures++;
	evhttp_send_error(req, HTTP_INTERNAL, NULL);
}

int
main(int argc, char **argv)
{
	struct noop_stats st = {0, 0, 0};
	struct event_base *base = NULL;
	struct evhttp *http = NULL;
	struct event *sigterm = NULL, *sigint = NULL;
	unsigned short port;
	int rc = 1;

	if (argc != 3 || bench_server_parse_port(argv[2], &port) == -1) {
		fprintf(stderr, "usage: %s ADDRESS PORT (PORT 0 picks one)\n",
			argv[0]);
		return 2;
	}
	/* A client that hangs up must not kill the server mid-write. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		fprintf(stderr, "msg=error func=signal error=\"%s\"\n",
			strerror(errno));
		goto out;
	}
	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL) {
		fprintf(stderr, "msg=error error=\"libevent setup failed\"\n");
		goto out;
	}
	evhttp_set_max_body_size(http, NOOP_MAX_BODY_BYTES);
	evhttp_set_max_headers_size(http, NOOP_MAX_HEADER_BYTES);
	evhttp_set_timeout(http, NOOP_TIMEOUT_S);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_POST);
	evhttp_set_gencb(http, noop_request, &st);

	sigterm = evsignal_new(base, SIGTERM, bench_server_signal, base);
	sigint = evsignal_new(base, SIGINT, bench_server_signal, base);
	if (sigterm == NULL || sigint == NULL ||
	    event_add(sigterm, NULL) == -1 || event_add(sigint, NULL) == -1) {
		fprintf(stderr, "msg=error error=\"signal events failed\"\n");
		goto out;
	}

	if (bench_server_listen(http, argv[1], port) == -1)
		goto out;

	if (event_base_dispatch(base) == -1) {
		fprintf(stderr, "msg=error error=\"event loop failed\"\n");
		goto out;
	}
	rc = 0;
out:
	fprintf(stderr,
		"msg=stopped requests=%llu body_bytes=%llu "
		"failures=%llu\n",
		st.requests, st.body_bytes, st.failures);
	if (sigterm != NULL)
		event_free(sigterm);
	if (sigint != NULL)
		event_free(sigint);
	if (http != NULL)
		evhttp_free(http);
	if (base != NULL)
		event_base_free(base);
	return rc;
}
