/*
 * sink_server: the fake receiver that bench/delivery.sh delivers to.
 *
 * A webhook endpoint that does nothing but note when each request arrived:
 * one evhttp on one event_base, one thread, any path, POST, PUT or PATCH.
 * It reads the whole body, stamps the arrival with CLOCK_REALTIME (the
 * clock the benchmark's client stamps its sends with), appends one line to
 * the record file and answers 200 {"ok":true}.  tests/integration/fakepsa.py
 * does the same and more, in Python, at about 5,000 requests/s on the
 * benchmark machine: too slow to tell its ceiling from psabridge's.
 *
 * usage: bench_sink_server [-r FILE] [-g MARKER] ADDRESS PORT
 *
 *   -r FILE    record every request as one line:
 *                SECONDS.NANOSECONDS STATUS BODY
 *              the body cut to SINK_RECORD_BODY_MAX bytes, control
 *              characters replaced by spaces.  Written through a stdio
 *              buffer that is flushed every 100 ms and at exit.
 *   -g MARKER  answer 410 Gone to a request whose body contains MARKER
 *              (psabridge disables a target that answers 410: the
 *              benchmark uses it to queue jobs without delivering them)
 *
 * PORT 0 lets the kernel pick one.  Once the socket listens, the bound port
 * is printed alone on one line on stdout; logs go to stderr, one key=value
 * line per event.  SIGTERM or SIGINT stop the loop; the counters are logged,
 * the record is flushed and the exit status is 0 (1 if the record could not
 * be written).
 */
#define _GNU_SOURCE /* memmem */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include "bench_server.h"

#define SINK_MAX_BODY_BYTES   65536
#define SINK_MAX_HEADER_BYTES 8192
#define SINK_TIMEOUT_S	      10
#define SINK_RECORD_BODY_MAX  512
#define SINK_RECORD_BUFSIZE   (1 << 20)
#define SINK_FLUSH_MS	      100

static const char sink_reply[] = "{\"ok\":true}\n";
static const char sink_gone[] = "{\"ok\":false,\"error\":\"gone\"}\n";

struct sink {
	FILE *record; /* NULL: not recording */
	int record_failed;
	const char *marker; /* NULL: never 410 */
	size_t marker_len;
	unsigned long long requests;
	unsigned long long gone;
	unsigned long long body_bytes;
	unsigned long long failures;
};

/* One record line; the body cut and made printable. */
static void
sink_record(struct sink *s, const struct timespec *at, int status,
	    const unsigned char *body, size_t len)
{
	char line[SINK_RECORD_BODY_MAX + 64];
	size_t i, n;
	int k;

	if (s->record == NULL || s->record_failed)
		return;
	k = snprintf(line, sizeof(line), "%lld.%09ld %d ",
		     (long long)at->tv_sec, at->tv_nsec, status);
	if (k < 0)
		return;
	n = (size_t)k;
	for (i = 0; i < len && i < SINK_RECORD_BODY_MAX; i++)
		line[n++] =
		    body[i] < 0x20 || body[i] == 0x7f ? ' ' : (char)body[i];
	line[n++] = '\n';
	if (fwrite(line, 1, n, s->record) != n) {
		fprintf(stderr, "msg=error func=%s error=\"%s\"\n", __func__,
			strerror(errno));
		s->record_failed = 1;
	}
}

static void
sink_request(struct evhttp_request *req, void *arg)
{
	struct sink *s = arg;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);
	struct evkeyvalq *hdrs = evhttp_request_get_output_headers(req);
	size_t len = evbuffer_get_length(in);
	const unsigned char *body = NULL;
	struct timespec at;
	int gone;

	clock_gettime(CLOCK_REALTIME, &at);
	if (len > 0 && (body = evbuffer_pullup(in, -1)) == NULL)
		goto fail;
	gone = s->marker != NULL && body != NULL &&
	       memmem(body, len, s->marker, s->marker_len) != NULL;
	sink_record(s, &at, gone ? 410 : 200, body, len);
	evbuffer_drain(in, len);
	if (evhttp_add_header(hdrs, "Content-Type", "application/json") == -1)
		goto fail;
	if (gone) {
		if (evbuffer_add(out, sink_gone, sizeof(sink_gone) - 1) == -1)
			goto fail;
		s->gone++;
	} else if (evbuffer_add(out, sink_reply, sizeof(sink_reply) - 1) ==
		   -1) {
		goto fail;
	}
	s->requests++;
	s->body_bytes += len;
	evhttp_send_reply(req, gone ? 410 : HTTP_OK, gone ? "Gone" : "OK",
			  NULL);
	return;
fail:
	s->failures++;
	evhttp_send_error(req, HTTP_INTERNAL, NULL);
}

/* The record reaches the file within SINK_FLUSH_MS of each request. */
static void
sink_flush(evutil_socket_t fd, short what, void *arg)
{
	struct sink *s = arg;

	(void)fd;
	(void)what;
	if (s->record != NULL && !s->record_failed &&
	    fflush(s->record) == EOF) {
		fprintf(stderr, "msg=error func=%s error=\"%s\"\n", __func__,
			strerror(errno));
		s->record_failed = 1;
	}
}

static int
sink_usage(const char *argv0)
{
	fprintf(stderr,
		"usage: %s [-r FILE] [-g MARKER] ADDRESS PORT "
		"(PORT 0 picks one)\n",
		argv0);
	return 2;
}

int
main(int argc, char **argv)
{
	struct sink s = {0};
	struct event_base *base = NULL;
	struct evhttp *http = NULL;
	struct event *sigterm = NULL, *sigint = NULL, *flush = NULL;
	struct timeval tick = {0, SINK_FLUSH_MS * 1000};
	const char *record = NULL;
	unsigned short port;
	int c, rc = 1;

	while ((c = getopt(argc, argv, "r:g:")) != -1) {
		switch (c) {
		case 'r':
			record = optarg;
			break;
		case 'g':
			if (*optarg == '\0')
				return sink_usage(argv[0]);
			s.marker = optarg;
			s.marker_len = strlen(optarg);
			break;
		default:
			return sink_usage(argv[0]);
		}
	}
	if (argc - optind != 2 ||
	    bench_server_parse_port(argv[optind + 1], &port) == -1)
		return sink_usage(argv[0]);
	/* A client that hangs up must not kill the server mid-write. */
	if (signal(SIGPIPE, SIG_IGN) == SIG_ERR) {
		fprintf(stderr, "msg=error func=signal error=\"%s\"\n",
			strerror(errno));
		goto out;
	}
	if (record != NULL) {
		if ((s.record = fopen(record, "w")) == NULL ||
		    setvbuf(s.record, NULL, _IOFBF, SINK_RECORD_BUFSIZE) != 0) {
			fprintf(stderr,
				"msg=error error=\"cannot open %s: %s\"\n",
				record, strerror(errno));
			goto out;
		}
	}
	if ((base = event_base_new()) == NULL ||
	    (http = evhttp_new(base)) == NULL) {
		fprintf(stderr, "msg=error error=\"libevent setup failed\"\n");
		goto out;
	}
	evhttp_set_max_body_size(http, SINK_MAX_BODY_BYTES);
	evhttp_set_max_headers_size(http, SINK_MAX_HEADER_BYTES);
	evhttp_set_timeout(http, SINK_TIMEOUT_S);
	evhttp_set_allowed_methods(http, EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
					     EVHTTP_REQ_PATCH);
	evhttp_set_gencb(http, sink_request, &s);

	sigterm = evsignal_new(base, SIGTERM, bench_server_signal, base);
	sigint = evsignal_new(base, SIGINT, bench_server_signal, base);
	flush = event_new(base, -1, EV_PERSIST, sink_flush, &s);
	if (sigterm == NULL || sigint == NULL || flush == NULL ||
	    event_add(sigterm, NULL) == -1 || event_add(sigint, NULL) == -1 ||
	    (s.record != NULL && event_add(flush, &tick) == -1)) {
		fprintf(stderr, "msg=error error=\"events failed\"\n");
		goto out;
	}

	if (bench_server_listen(http, argv[optind], port) == -1)
		goto out;

	if (event_base_dispatch(base) == -1) {
		fprintf(stderr, "msg=error error=\"event loop failed\"\n");
		goto out;
	}
	rc = 0;
out:
	if (s.record != NULL && fclose(s.record) == EOF && !s.record_failed) {
		fprintf(stderr, "msg=error error=\"closing %s: %s\"\n", record,
			strerror(errno));
		s.record_failed = 1;
	}
	if (s.record_failed)
		rc = 1;
	fprintf(stderr,
		"msg=stopped requests=%llu gone=%llu body_bytes=%llu "
		"failures=%llu record_failed=%d\n",
		s.requests, s.gone, s.body_bytes, s.failures, s.record_failed);
	if (flush != NULL)
		event_free(flush);
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
