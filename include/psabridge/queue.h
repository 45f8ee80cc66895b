/*
 * queue: `psabridge queue`, the operator's command line over the admin
 * API (admin.h).  It reads admin.listen and admin.token from the same
 * config file as `serve`, asks the running daemon over HTTP and prints
 * tables for people or the API's JSON (--json) for scripts.
 *
 *   psabridge queue list|show|retry|release|replay|targets|enable ...
 *
 * Exit codes: 0 success, 1 the daemon could not be reached or refused,
 * 2 usage error.
 */
#ifndef PSABRIDGE_QUEUE_H
#define PSABRIDGE_QUEUE_H

#include <stddef.h>

/* `psabridge queue ...`: argv[0] is "queue".  Returns the exit code. */
int queue_main(int argc, char **argv);

/*
 * Writes s into buf (size bytes, at least 8) so that a terminal shows it
 * as text: control bytes, DEL, C1 controls and bytes that are not UTF-8
 * become \xHH, bidirectional overrides \uHHHH.  At most max bytes of s
 * are used; a cut is marked with "...".  buf always ends up
 * NUL-terminated; returns buf.
 */
char *queue_escape(char *buf, size_t size, const char *s, size_t max);

#endif
