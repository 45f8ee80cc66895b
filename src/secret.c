/*
 * secret: resolves "env:", "file:", "cred:" and literal secrets.
 *
 * Every secret passes through one stack buffer of SECRET_MAX + 1 bytes
 * that secret_resolve() wipes before it returns; only the result is copied
 * out, into memory that secret_free() wipes.  No message ever includes the
 * value, only where it came from, and user text in a message is cut and
 * made printable by secret_show().
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "psabridge/secret.h"

#define SECRET_SHOW_MAX 80 /* user text echoed into a message */
#define SECRET_ENV_CHARS                                                       \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"                 \
	"0123456789_"

static __attribute__((format(printf, 2, 3))) void
secret_say(char msg[static SECRET_MSG_MAX], const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, SECRET_MSG_MAX, fmt, ap);
	va_end(ap);
}

/*
 * User text made safe to print: cut, quotes and non-ASCII replaced.  The
 * same rules as config's, so that a path reads the same in every message.
 */
static const char *
secret_show(const char *s, char buf[static SECRET_SHOW_MAX + 4])
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < SECRET_SHOW_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = c < 0x20 || c >= 0x7f || strchr("\"\\", c) ? '?' : c;
	}
	strcpy(buf + i, s[i] != '\0' ? "..." : "");
	return buf;
}

/*
 * Checks the len bytes of v and copies them into buf (v may be buf).
 * from names the source for the message: "file \"x\"", "the secret".
 */
static int
secret_check(struct secret_report *rep, const char *from, const char *v,
	     size_t len, char *buf)
{
	const char *why = NULL;

	if (len == 0)
		why = "is empty";
	else if (len > SECRET_MAX)
		why = "is longer than 4096 bytes";
	else if (memchr(v, '\0', len) != NULL)
		why = "contains a NUL byte";
	if (why != NULL) {
		secret_say(rep->error, "%s %s", from, why);
		return -1;
	}
	memmove(buf, v, len);
	buf[len] = '\0';
	return 0;
}

static int
secret_env(struct secret_report *rep, const char *name, char *buf)
{
	char shown[SECRET_SHOW_MAX + 4], from[128];
	const char *v;

	if (*name == '\0' || isdigit((unsigned char)*name) ||
	    name[strspn(name, SECRET_ENV_CHARS)] != '\0') {
		secret_say(rep->error, "\"env:%s\" is not a variable name",
			   secret_show(name, shown));
		return -1;
	}
	v = getenv(name);
	if (v == NULL) {
		secret_say(rep->error, "environment variable %s is not set",
			   name);
		return -1;
	}
	snprintf(from, sizeof(from), "environment variable %s", name);
	return secret_check(rep, from, v, strlen(v), buf);
}

/* Reads up to cap bytes; a full buffer means the file may be larger. */
static ssize_t
secret_read_capped(int fd, char *buf, size_t cap)
{
	size_t len = 0;
	ssize_t n = 0;

	while (len < cap) {
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	return n == -1 ? -1 : (ssize_t)len;
}

/*
 * O_NONBLOCK so that a FIFO named by mistake cannot hang the load; it is
 * refused right after as not a regular file.  One trailing "\n" or "\r\n"
 * is dropped: editors and `echo` add it, and no token ends with one.  The
 * cap applies to the bytes as read, before that "\n" is dropped.
 */
static int
secret_file(struct secret_report *rep, const char *path, char *buf)
{
	char from[SECRET_SHOW_MAX + 16], shown[SECRET_SHOW_MAX + 4];
	struct stat st;
	ssize_t n = -1;
	int fd;

	snprintf(from, sizeof(from), "file \"%s\"", secret_show(path, shown));
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1 || fstat(fd, &st) == -1)
		secret_say(rep->error, "cannot open secret %s: %s", from,
			   strerror(errno));
	else if (!S_ISREG(st.st_mode))
		secret_say(rep->error, "secret %s is not a regular file", from);
	else if ((n = secret_read_capped(fd, buf, SECRET_MAX + 1)) < 0)
		secret_say(rep->error, "cannot read secret %s: %s", from,
			   strerror(errno));
	if (n >= 0 && (st.st_mode & 044))
		secret_say(rep->warning,
			   "secret %s is readable by group or others; "
			   "run chmod 600 on it",
			   from);
	if (fd != -1)
		close(fd);
	if (n > 0 && n <= SECRET_MAX && buf[n - 1] == '\n')
		n -= n > 1 && buf[n - 2] == '\r' ? 2 : 1;
	return n < 0 ? -1 : secret_check(rep, from, buf, (size_t)n, buf);
}

/* rel seen from the cwd, when rel is relative to dir (NULL: the cwd). */
static int
secret_join(const char *dir, const char *rel, char *buf, size_t size)
{
	const char *sep = "/";
	int n;

	if (dir == NULL || rel[0] == '/' || strcmp(dir, ".") == 0 ||
	    *dir == '\0')
		dir = sep = "";
	else if (dir[strlen(dir) - 1] == '/')
		sep = "";
	n = snprintf(buf, size, "%s%s%s", dir, sep, rel);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

/* The file behind "file:PATH" or "cred:NAME" (ref starts with either). */
static int
secret_path(struct secret_report *rep, const char *ref, const char *base_dir,
	    char *path, size_t size)
{
	const char *name = ref + 5, *dir = getenv("CREDENTIALS_DIRECTORY");
	char shown[SECRET_SHOW_MAX + 4];
	int cred = ref[0] == 'c';

	secret_show(name, shown);
	if (*name == '\0' ||
	    (cred && (strchr(name, '/') != NULL || strcmp(name, "..") == 0 ||
		      strcmp(name, ".") == 0))) {
		secret_say(rep->error, "\"%s%s\" names no %s",
			   cred ? "cred:" : "file:", shown,
			   cred ? "credential" : "file");
		return -1;
	}
	if (cred && (dir == NULL || *dir == '\0')) {
		secret_say(rep->error,
			   "\"cred:%s\" needs CREDENTIALS_DIRECTORY, "
			   "which is not set (systemd LoadCredential=)",
			   shown);
		return -1;
	}
	if ((cred && snprintf(path, size, "%s/%s", dir, name) >= (int)size) ||
	    (!cred && secret_join(base_dir, name, path, size) == -1)) {
		secret_say(rep->error, "path too long");
		return -1;
	}
	return 0;
}

/* Only for a ref without a prefix: "env:A-B" is a bad reference, no literal. */
static int
secret_literal(struct secret_report *rep, const char *ref, char *buf)
{
	if (*ref != '\0')
		secret_say(rep->warning,
			   "literal secret in the config file; use "
			   "\"env:NAME\" or \"file:PATH\"");
	return secret_check(rep, "the secret", ref, strlen(ref), buf);
}

int
secret_resolve(const char *ref, const char *base_dir, char **out,
	       struct secret_report *rep)
{
	char buf[SECRET_MAX + 1], path[PATH_MAX];
	int rc;

	*out = NULL;
	rep->error[0] = rep->warning[0] = '\0';
	if (strncmp(ref, "env:", 4) == 0)
		rc = secret_env(rep, ref + 4, buf);
	else if (strncmp(ref, "file:", 5) == 0 || strncmp(ref, "cred:", 5) == 0)
		rc = secret_path(rep, ref, base_dir, path, sizeof(path)) == 0
			 ? secret_file(rep, path, buf)
			 : -1;
	else
		rc = secret_literal(rep, ref, buf);
	if (rc == 0 && (*out = strdup(buf)) == NULL) {
		secret_say(rep->error, "out of memory");
		rc = -1;
	}
	explicit_bzero(buf, sizeof(buf));
	return rc;
}

void
secret_free(char *secret)
{
	if (secret != NULL) {
		explicit_bzero(secret, strlen(secret));
		free(secret);
	}
}
