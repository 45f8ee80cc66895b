/* What the benchmarks' servers share; see bench_server.c. */
#ifndef BENCH_SERVER_H
#define BENCH_SERVER_H

#include <event2/http.h>
#include <event2/util.h>

/* SIGTERM/SIGINT callback: breaks the loop of the event_base in arg. */
void bench_server_signal(evutil_socket_t sig, short what, void *arg);
/* Parses a port, 0..65535; returns -1 for anything else. */
int bench_server_parse_port(const char *s, unsigned short *port);
/*
 * Listens on addr:port (0: any free port), logs the port and prints it
 * alone on stdout for the script that started the server.  0 or -1.
 */
int bench_server_listen(struct evhttp *http, const char *addr,
			unsigned short port);

#endif
