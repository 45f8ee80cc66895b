/*
 * Logging to stderr.  Each line is built in one buffer and written with a
 * single write(2), so lines from the writer thread and the event loop never
 * interleave.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "psabridge/log.h"

#define LOG_LINE_MAX 2048

static enum log_level log_level = LOG_LEVEL_INFO;

static const char *const log_level_names[] = {
    [LOG_LEVEL_ERROR] = "error",
    [LOG_LEVEL_WARN] = "warn",
    [LOG_LEVEL_INFO] = "info",
    [LOG_LEVEL_DEBUG] = "debug",
};

void
log_set_level(enum log_level level)
{
	log_level = level;
}

int
log_enabled(enum log_level level)
{
	return level <= log_level;
}

/* Formats one line (with its newline) into line; returns its length. */
static size_t __attribute__((format(printf, 4, 0)))
log_format(char *line, size_t size, enum log_level level, const char *fmt,
	   va_list ap)
{
	struct timespec ts;
	struct tm tm;
	size_t n;
	int r;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, size, "ts=%Y-%m-%dT%H:%M:%S", &tm);
	r = snprintf(line + n, size - n, ".%03ldZ level=%s ",
		     ts.tv_nsec / 1000000, log_level_names[level]);
	if (r > 0)
		n += (size_t)r;
	r = vsnprintf(line + n, size - n, fmt, ap);
	if (r < 0)
		r = 0;
	n += (size_t)r;
	if (n > size - 2)
		n = size - 2; /* cut, but still one whole line */
	line[n++] = '\n';
	return n;
}

static void
log_write(const char *buf, size_t n)
{
	/* stderr is unbuffered and a short write to it is not worth a retry */
	if (write(STDERR_FILENO, buf, n) < 0)
		return;
}

static void __attribute__((format(printf, 2, 0)))
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];

	if (log_enabled(level))
		log_write(line, log_format(line, sizeof(line), level, fmt, ap));
}

void
log_batch_add(struct log_batch *b, enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	if (sizeof(b->buf) - b->len < LOG_LINE_MAX)
		log_batch_flush(b);
	va_start(ap, fmt);
	b->len += log_format(b->buf + b->len, LOG_LINE_MAX, level, fmt, ap);
	va_end(ap);
}

void
log_batch_flush(struct log_batch *b)
{
	if (b->len > 0)
		log_write(b->buf, b->len);
	b->len = 0;
}

#define LOG_DEFINE(name, level)                                                \
	void name(const char *fmt, ...)                                        \
	{                                                                      \
		va_list ap;                                                    \
		va_start(ap, fmt);                                             \
		log_vwrite(level, fmt, ap);                                    \
		va_end(ap);                                                    \
	}

LOG_DEFINE(log_error, LOG_LEVEL_ERROR)
LOG_DEFINE(log_warn, LOG_LEVEL_WARN)
LOG_DEFINE(log_info, LOG_LEVEL_INFO)
LOG_DEFINE(log_debug, LOG_LEVEL_DEBUG)

char *
log_quote(char *buf, size_t size, const char *s, size_t len, size_t max)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, o = 0;
	int cut = len > max;

	if (size < 8) {
		if (size > 0)
			buf[0] = '\0';
		return buf;
	}
	if (cut)
		len = max;
	buf[o++] = '"';
	for (i = 0; i < len && o + 8 < size; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 0xf];
		} else {
			buf[o++] = (char)c;
		}
	}
	if (cut || i < len) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}
