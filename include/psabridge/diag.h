/*
 * diag: a list of problems found while reading user-written files, each
 * "FILE:LINE: message", so that every mistake is reported at once
 * (OpenSMTPD's parse.y style) instead of stopping at the first one.
 */
#ifndef PSABRIDGE_DIAG_H
#define PSABRIDGE_DIAG_H

#include <stddef.h>
#include <stdio.h>

enum diag_level { DIAG_ERROR, DIAG_WARNING };

struct diag_entry {
	enum diag_level level;
	char *text; /* "FILE:LINE: message" or "FILE: message", owned */
};

struct diag {
	struct diag_entry *entries;
	size_t len, cap;
	size_t nerrors, nwarnings;
};

void diag_init(struct diag *d);

/*
 * Records a problem.  file may be NULL (then only the message is kept);
 * line <= 0 leaves the line number out.  Out of memory is not reported
 * to the caller: the entry is dropped but nerrors still counts it, so a
 * load never passes because an error could not be stored.
 */
void diag_error(struct diag *d, const char *file, int line, const char *fmt,
		...) __attribute__((format(printf, 4, 5)));
void diag_warn(struct diag *d, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints every entry, one per line, warnings prefixed "warning: ". */
void diag_print(const struct diag *d, FILE *fp);

/* Frees the entries; d can be reused after diag_init().  NULL is safe. */
void diag_free(struct diag *d);

#endif
