/*
 * secret: turns a secret reference, as written in the config, into the
 * secret itself.  The forms are:
 *
 *   "env:NAME"   environment variable NAME ([A-Za-z_][A-Za-z0-9_]*)
 *   "file:PATH"  the file PATH, relative to base_dir unless absolute
 *   "cred:NAME"  $CREDENTIALS_DIRECTORY/NAME (systemd LoadCredential=)
 *   anything else: the string itself, which draws a warning
 *
 * A file loses one trailing "\n" or "\r\n".  Every secret is 1 to
 * SECRET_MAX bytes without a NUL byte.
 *
 * The module says what is wrong with a reference; where the reference is
 * (FILE:LINE, key) is the caller's to add.  Messages name the source
 * (variable, file) and never include the value.
 */
#ifndef PSABRIDGE_SECRET_H
#define PSABRIDGE_SECRET_H

#define SECRET_MAX     4096 /* bytes, whatever the secret's source */
#define SECRET_MSG_MAX 1024 /* a message, with its NUL: as config's */

/*
 * What secret_resolve() found, as sentences without a location, e.g.
 * error "environment variable FOO is not set", warning "secret file
 * \"x\" is readable by group or others; run chmod 600 on it".
 */
struct secret_report {
	char error[SECRET_MSG_MAX];   /* "" unless secret_resolve() fails */
	char warning[SECRET_MSG_MAX]; /* "" or one warning, on either outcome */
};

/*
 * Resolves ref (borrowed, not NULL).  base_dir (borrowed) is where a
 * relative "file:" path starts; NULL means the current directory.
 *
 * Returns 0 and stores in *out the secret, NUL-terminated, which the
 * caller frees with secret_free().  Returns -1 with *out NULL and the
 * reason in rep->error.  Either way rep->warning may hold a warning (a
 * literal secret, a secret file readable by group or others); a caller
 * that reports both reports the warning first.
 *
 * Reads the environment and the file system; a FIFO or device named by
 * mistake is refused without blocking.  Intermediate copies are wiped.
 */
int secret_resolve(const char *ref, const char *base_dir, char **out,
		   struct secret_report *rep);

/* Wipes the secret's bytes, then frees it.  NULL is safe. */
void secret_free(char *secret);

#endif
