/*
 * What the unit tests share: a temporary folder whose files are removed
 * with it, and a look for one diagnostic at FILE:LINE.  Every helper fails
 * the running cmocka test on an error of its own.
 */
#ifndef PSABRIDGE_TEST_FIXTURE_H
#define PSABRIDGE_TEST_FIXTURE_H

#include <limits.h>
#include <stddef.h>
#include <sys/types.h>

#include "psabridge/diag.h"

#define FIXTURE_FILES_MAX 64

struct fixture_dir {
	char path[512];
	char *made[FIXTURE_FILES_MAX]; /* removed in reverse order */
	size_t nmade;
};

/* A new folder $TMPDIR/psabridge-TAG-XXXXXX (default /tmp). */
void fixture_dir_make(struct fixture_dir *t, const char *tag);

/* Removes what was made in it, then the folder. */
void fixture_dir_remove(struct fixture_dir *t);

/*
 * DIR/name, remembered for removal (once, however often it is asked
 * for); the string lives until removal.
 */
const char *fixture_path(struct fixture_dir *t, const char *name);

/* The folder DIR/name (mode 0700); its path. */
const char *fixture_mkdir(struct fixture_dir *t, const char *name);

/* The file DIR/name with len bytes of data and mode; its path. */
const char *fixture_write(struct fixture_dir *t, const char *name, mode_t mode,
			  const char *data, size_t len);

/* The same with a text. */
const char *fixture_write_text(struct fixture_dir *t, const char *name,
			       mode_t mode, const char *text);

/*
 * Whether d has an entry of level starting with "FILE:LINE: " ("FILE: "
 * when line is 0) that contains text; when not, prints what there was.
 */
int fixture_diag_has(const struct diag *d, enum diag_level level,
		     const char *file, int line, const char *text);

#endif
