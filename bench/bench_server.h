/* What the benchmarks' servers share; see bench_server.c. */
#ifndef BENCH_SERVER_H
#define BENCH_SERVER_H

#include <event2/http.h>
#include <event2/util.h>

/* SIGTERM/SIGINT callback: breaks the loop of the event_base in arg. */
void bench_server_signal(evutil_socket_t sig, short what, void *arg);
/* Parses a port, 0..65535; returns -1 for anything else. */
int bench_server_parse_port(const char *s, unsigned short *port);
/* The port the socket is bound to, or -1. */
int bench_server_bound_port(struct evhttp_bound_socket *bound);

#endif
