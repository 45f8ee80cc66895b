/*
 * log: one line per event on stderr, key=value, e.g.
 *   ts=2026-11-29T04:42:26.123Z level=info msg=stored event=... source=defensx
 * Callers format the key=value part; values that come from the network go
 * through log_quote() so that they cannot forge keys or lines.
 */
#ifndef PSABRIDGE_LOG_H
#define PSABRIDGE_LOG_H

#include <stddef.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

/* Sets the most verbose level printed; the default is LOG_LEVEL_INFO. */
void log_set_level(enum log_level level);
int log_enabled(enum log_level level);

void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Lines collected and written with one write(2): the commit thread logs
 * every event of a transaction this way.  Lines stay whole and in order;
 * a batch is flushed when full and by log_batch_flush().
 */
struct log_batch {
	size_t len;
	char buf[64 * 1024];
};

void log_batch_add(struct log_batch *b, enum log_level level, const char *fmt,
		   ...) __attribute__((format(printf, 3, 4)));
void log_batch_flush(struct log_batch *b);

/*
 * Writes s (len bytes) into buf as a double-quoted value: '"' and '\\' are
 * escaped, control and non-ASCII bytes become \xHH, and the value is cut
 * to at most max input bytes (a cut is marked with "...").  buf always
 * ends up NUL-terminated; returns buf, so it can be used inline.
 */
char *log_quote(char *buf, size_t size, const char *s, size_t len, size_t max);

#endif
