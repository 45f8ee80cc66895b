/*
 * What the benchmarks' servers (noop_server.c, sink_server.c) share: the
 * signal that stops them, the port argument, the port they got.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/util.h>

#include "bench_server.h"

void
bench_server_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	(void)what;
	fprintf(stderr, "msg=signal signal=%d\n", (int)sig);
	event_base_loopbreak(base);
}

/* Parses a port, 0..65535; returns -1 for anything else. */
int
bench_server_parse_port(const char *s, unsigned short *port)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < 0 || v > 65535)
		return -1;
	*port = (unsigned short)v;
	return 0;
}

/* The port the socket is bound to, or -1. */
static int
bench_server_bound_port(struct evhttp_bound_socket *bound)
{
	struct sockaddr_storage ss;
	socklen_t sslen = sizeof(ss);
	evutil_socket_t fd = evhttp_bound_socket_get_fd(bound);

	if (getsockname(fd, (struct sockaddr *)&ss, &sslen) == -1) {
		fprintf(stderr, "msg=error func=%s error=\"%s\"\n", __func__,
			strerror(errno));
		return -1;
	}
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	if (ss.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	fprintf(stderr, "msg=error func=%s error=\"unknown family %d\"\n",
		__func__, (int)ss.ss_family);
	return -1;
}

int
bench_server_listen(struct evhttp *http, const char *addr, unsigned short port)
{
	struct evhttp_bound_socket *bound;
	int bound_port;

	if ((bound = evhttp_bind_socket_with_handle(http, addr, port)) ==
	    NULL) {
		fprintf(stderr,
			"msg=error error=\"cannot listen on %s port %u: %s\"\n",
			addr, (unsigned)port, strerror(errno));
		return -1;
	}
	if ((bound_port = bench_server_bound_port(bound)) == -1)
		return -1;
	fprintf(stderr, "msg=listening address=%s port=%d\n", addr, bound_port);
	if (printf("%d\n", bound_port) < 0 || fflush(stdout) == EOF) {
		fprintf(stderr, "msg=error error=\"stdout: %s\"\n",
			strerror(errno));
		return -1;
	}
	return 0;
}
