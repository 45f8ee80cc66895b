/*
 * config: reads psabridge.cfg with libconfig and checks it against one
 * table of known keys per group (top level, limits, admin, listen_tls, a
 * source).  A row says the type the key must have, whether it is required,
 * and which loader validates and stores its value, so that a new key is
 * one row (plus a loader when its value needs a new kind of check).
 *
 * Nothing stops at the first problem: every check reports through the
 * struct diag and carries on, and config_load() fails at the end if any
 * error was recorded.  Only a libconfig syntax error ends the load early,
 * because libconfig keeps nothing of a file it could not parse.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>
#include <openssl/ssl.h>

#include "psabridge/config.h"
#include "psabridge/secret.h"
#include "psabridge/tls.h"

#define CONFIG_NAME_MAX 64 /* source names */
#define CONFIG_SHOW_MAX 80 /* user text echoed into a message */
#define EXPECT_ADDRESS	"a string \"host:port\""
#define EXPECT_SECRET	"a string like \"env:NAME\" or \"file:PATH\""
#define EXPECT_GROUP	"a group { ... }"
#define EXPECT_PEM	"a string like \"file:PATH\" or \"cred:NAME\""
#define ALNUM                                                                  \
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"                 \
	"0123456789"

#define config_error(ld, s, ...) config_report(ld, DIAG_ERROR, s, __VA_ARGS__)
#define config_warn(ld, s, ...)	 config_report(ld, DIAG_WARNING, s, __VA_ARGS__)

struct loader {
	struct config *cfg; /* being filled, owned until config_load returns */
	struct diag *d;	    /* borrowed */
};

struct key;
typedef void key_load_fn(struct loader *ld, const config_setting_t *s,
			 const char *where, const struct key *k, void *obj);

struct key {
	const char *name;
	int type; /* CONFIG_TYPE_*; CONFIG_TYPE_INT also takes INT64 */
	const char *expect; /* for "expected <expect>, got <type>" */
	int required;
	key_load_fn *load;     /* validates the value, stores it into obj */
	size_t off;	       /* where in obj, for the generic loaders */
	long long min, max;    /* accepted range, for integers */
	const struct key *sub; /* the keys of a group, or of list elements */
};

/* --- messages ----------------------------------------------------------- */

/*
 * rel as seen from the cwd: relative paths in the config (and the names
 * libconfig gives included files) are relative to the config's directory.
 */
static int
config_path(const struct config *cfg, const char *rel, char *buf, size_t size)
{
	const char *dir = cfg->dir, *sep = "/";
	int n;

	if (rel[0] == '/' || strcmp(dir, ".") == 0)
		dir = sep = "";
	else if (dir[strlen(dir) - 1] == '/')
		sep = "";
	n = snprintf(buf, size, "%s%s%s", dir, sep, rel);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

static __attribute__((format(printf, 4, 5))) void
config_report(struct loader *ld, enum diag_level level,
	      const config_setting_t *s, const char *fmt, ...)
{
	const char *src = s ? config_setting_source_file(s) : NULL;
	const char *file = ld->cfg->file;
	char msg[1024], path[PATH_MAX];
	int line = s ? (int)config_setting_source_line(s) : 0;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (src != NULL && strcmp(src, file) != 0)
		file =
		    config_path(ld->cfg, src, path, sizeof(path)) ? src : path;
	if (level == DIAG_ERROR)
		diag_error(ld->d, file, line, "%s", msg);
	else
		diag_warn(ld->d, file, line, "%s", msg);
}

/* User text made safe to print: cut, quotes and non-ASCII replaced. */
static const char *
config_show(const char *s, char buf[static CONFIG_SHOW_MAX + 4])
{
	size_t i;

	for (i = 0; s[i] != '\0' && i < CONFIG_SHOW_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[i] = c < 0x20 || c >= 0x7f || strchr("\"\\", c) ? '?' : c;
	}
	strcpy(buf + i, s[i] != '\0' ? "..." : "");
	return buf;
}

const char *
config_type_name(int type)
{
	static const char *const names[] = {
	    [CONFIG_TYPE_GROUP] = "a group",
	    [CONFIG_TYPE_INT] = "an integer",
	    [CONFIG_TYPE_INT64] = "an integer",
	    [CONFIG_TYPE_FLOAT] = "a float",
	    [CONFIG_TYPE_STRING] = "a string",
	    [CONFIG_TYPE_BOOL] = "a boolean",
	    [CONFIG_TYPE_ARRAY] = "an array",
	    [CONFIG_TYPE_LIST] = "a list",
	};

	if (type < 0 || (size_t)type >= sizeof(names) / sizeof(names[0]) ||
	    names[type] == NULL)
		return "nothing";
	return names[type];
}

/* --- value parsers ------------------------------------------------------ */

int
config_parse_duration(const char *s, long *seconds)
{
	static const char units[] = "smhd";
	static const long mult[] = {1, 60, 3600, 86400};
	const char *p, *u;
	long v = 0;

	if (s != NULL && strcmp(s, "0") == 0) {
		*seconds = 0;
		return 0;
	}
	for (p = s; p != NULL && isdigit((unsigned char)*p); p++) {
		if (v > (LONG_MAX - (*p - '0')) / 10)
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (p == s || *p == '\0' || (u = strchr(units, *p)) == NULL ||
	    p[1] != '\0' || v == 0 || v > LONG_MAX / mult[u - units])
		return -1;
	*seconds = v * mult[u - units];
	return 0;
}

/* Names and IPv4 literals; IPv6 only in brackets, checked by inet_pton. */
static int
config_host_ok(const char *host, int bracketed)
{
	struct in6_addr a6;

	if (bracketed)
		return inet_pton(AF_INET6, host, &a6) == 1;
	return host[strspn(host, ALNUM "-._")] == '\0';
}

int
config_parse_address(const char *s, char **host, int *port)
{
	int v6 = s != NULL && s[0] == '[';
	const char *h, *end, *p;
	size_t n;

	*host = NULL;
	if (s == NULL)
		return -1;
	h = s + v6;
	end = strchr(h, v6 ? ']' : ':');
	if (end == NULL || end == h)
		return -1;
	p = end + v6;
	if (*p++ != ':')
		return -1;
	n = strspn(p, "0123456789");
	if (n == 0 || n > 5 || p[n] != '\0' || strtol(p, NULL, 10) > 65535)
		return -1;
	*host = strndup(h, (size_t)(end - h));
	if (*host == NULL || !config_host_ok(*host, v6)) {
		free(*host);
		*host = NULL;
		return -1;
	}
	*port = (int)strtol(p, NULL, 10);
	return 0;
}

/* --- loaders: one per kind of value, named in the key tables ------------ */

static void *
config_field(void *obj, const struct key *k)
{
	return (char *)obj + k->off;
}

/* Takes v: a copy of a string checked by the caller (NULL = no memory). */
static void
config_store(struct loader *ld, const config_setting_t *s, const char *where,
	     void *dst, char *v)
{
	if (v == NULL)
		config_error(ld, s, "%s: out of memory", where);
	free(*(char **)dst);
	*(char **)dst = v;
}

static void
config_load_address(struct loader *ld, const config_setting_t *s,
		    const char *where, const struct key *k, void *obj)
{
	const char *v = config_setting_get_string(s);
	char shown[CONFIG_SHOW_MAX + 4], *host;
	int port;

	if (config_parse_address(v, &host, &port) == -1) {
		config_error(ld, s,
			     "%s: \"%s\" is not an address: expected "
			     "\"host:port\" or \"[v6]:port\", port 0..65535",
			     where, config_show(v, shown));
		return;
	}
	free(host);
	config_store(ld, s, where, config_field(obj, k), strdup(v));
}

static void
config_load_dir(struct loader *ld, const config_setting_t *s, const char *where,
		const struct key *k, void *obj)
{
	const char *v = config_setting_get_string(s);
	char path[PATH_MAX];

	if (*v == '\0')
		config_error(ld, s, "%s: must not be empty", where);
	else if (config_path(ld->cfg, v, path, sizeof(path)) == -1)
		config_error(ld, s, "%s: path too long", where);
	else
		config_store(ld, s, where, config_field(obj, k), strdup(path));
}

static int
config_int_value(struct loader *ld, const config_setting_t *s,
		 const char *where, const struct key *k, long long *v)
{
	*v = config_setting_get_int64(s);
	if (*v >= k->min && *v <= k->max)
		return 0;
	config_error(ld, s, "%s: %lld is out of range %lld..%lld", where, *v,
		     k->min, k->max);
	return -1;
}

static void
config_load_size(struct loader *ld, const config_setting_t *s,
		 const char *where, const struct key *k, void *obj)
{
	long long v;

	if (config_int_value(ld, s, where, k, &v) == 0)
		*(size_t *)config_field(obj, k) = (size_t)v;
}

static void
config_load_int(struct loader *ld, const config_setting_t *s, const char *where,
		const struct key *k, void *obj)
{
	long long v;

	if (config_int_value(ld, s, where, k, &v) == 0)
		*(int *)config_field(obj, k) = (int)v;
}

static void
config_load_duration(struct loader *ld, const config_setting_t *s,
		     const char *where, const struct key *k, void *obj)
{
	const char *v = config_setting_get_string(s);
	char shown[CONFIG_SHOW_MAX + 4];

	if (config_parse_duration(v, config_field(obj, k)) == -1)
		config_error(ld, s,
			     "%s: \"%s\" is not a duration: expected a number "
			     "and a unit s, m, h or d (\"90s\", \"24h\"), or "
			     "\"0\"",
			     where, config_show(v, shown));
}

/* The secret module says what is wrong; here it gets its FILE:LINE. */
static void
config_load_secret(struct loader *ld, const config_setting_t *s,
		   const char *where, const struct key *k, void *obj)
{
	struct secret_report rep;
	char **dst = config_field(obj, k), *v;
	int rc;

	rc = secret_resolve(config_setting_get_string(s), ld->cfg->dir, &v,
			    &rep);
	if (rep.warning[0] != '\0')
		config_warn(ld, s, "%s: %s", where, rep.warning);
	if (rc == -1) {
		config_error(ld, s, "%s: %s", where, rep.error);
		return;
	}
	secret_free(*dst);
	*dst = v;
}

/*
 * listen_tls.cert and .key: "file:PATH" (relative to the config's folder)
 * or "cred:NAME" (systemd credentials), read like a secret's reference
 * but kept as a path: a certificate chain can be larger than a secret may
 * be, and OpenSSL reads the file itself.  The file is opened here only to
 * say why it cannot be read; OpenSSL's reason would be "system lib".
 * Returns the open file's mode, or -1 when an error was reported.
 */
static int
config_pem_path(struct loader *ld, const config_setting_t *s, const char *where,
		char path[static PATH_MAX])
{
	const char *v = config_setting_get_string(s), *name = v + 5;
	const char *creds = getenv("CREDENTIALS_DIRECTORY");
	char shown[CONFIG_SHOW_MAX + 4];
	int cred = strncmp(v, "cred:", 5) == 0, fd, mode = -1, n = 0;
	struct stat st;

	if (!cred && strncmp(v, "file:", 5) != 0) {
		config_error(ld, s,
			     "%s: \"%s\" is not a file reference: expected "
			     "\"file:PATH\" or \"cred:NAME\"",
			     where, config_show(v, shown));
		return -1;
	}
	if (*name == '\0' ||
	    (cred && (strchr(name, '/') != NULL || strcmp(name, ".") == 0 ||
		      strcmp(name, "..") == 0))) {
		config_error(ld, s, "%s: \"%s\" names no %s", where,
			     config_show(v, shown),
			     cred ? "credential" : "file");
		return -1;
	}
	if (cred && (creds == NULL || *creds == '\0')) {
		config_error(ld, s,
			     "%s: \"%s\" needs CREDENTIALS_DIRECTORY, which "
			     "is not set (systemd LoadCredential=)",
			     where, config_show(v, shown));
		return -1;
	}
	if (cred)
		n = snprintf(path, PATH_MAX, "%s/%s", creds, name);
	if ((cred && (n < 0 || n >= PATH_MAX)) ||
	    (!cred && config_path(ld->cfg, name, path, PATH_MAX) == -1)) {
		config_error(ld, s, "%s: path too long", where);
		return -1;
	}
	/* O_NONBLOCK: a FIFO named by mistake must not hang the load */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd == -1 || fstat(fd, &st) == -1)
		config_error(ld, s, "%s: cannot open \"%s\": %s", where,
			     config_show(path, shown), strerror(errno));
	else if (!S_ISREG(st.st_mode))
		config_error(ld, s, "%s: \"%s\" is not a regular file", where,
			     config_show(path, shown));
	else
		mode = (int)st.st_mode;
	if (fd != -1)
		close(fd);
	return mode;
}

static void
config_load_cert(struct loader *ld, const config_setting_t *s,
		 const char *where, const struct key *k, void *obj)
{
	char path[PATH_MAX];

	if (config_pem_path(ld, s, where, path) != -1)
		config_store(ld, s, where, config_field(obj, k), strdup(path));
}

/*
 * Only "others" draw the warning: Debian's convention for keys is mode
 * 640 with group ssl-cert, and that is fine.
 */
static void
config_load_key(struct loader *ld, const config_setting_t *s, const char *where,
		const struct key *k, void *obj)
{
	char path[PATH_MAX], shown[CONFIG_SHOW_MAX + 4];
	int mode = config_pem_path(ld, s, where, path);

	if (mode == -1)
		return;
	if (mode & S_IROTH)
		config_warn(ld, s,
			    "%s: private key \"%s\" is readable by others; "
			    "run chmod 600 on it",
			    where, config_show(path, shown));
	config_store(ld, s, where, config_field(obj, k), strdup(path));
}

static void
config_load_name(struct loader *ld, const config_setting_t *s,
		 const char *where, const struct key *k, void *obj)
{
	const char *v = config_setting_get_string(s);
	char shown[CONFIG_SHOW_MAX + 4];
	size_t n = strspn(v, ALNUM "_-");

	if (n == 0 || n > CONFIG_NAME_MAX || v[n] != '\0')
		config_error(ld, s,
			     "%s: \"%s\" is not a valid name: use 1 to %d "
			     "letters, digits, \"_\" or \"-\"",
			     where, config_show(v, shown), CONFIG_NAME_MAX);
	else
		config_store(ld, s, where, config_field(obj, k), strdup(v));
}

static void
config_load_urlpath(struct loader *ld, const config_setting_t *s,
		    const char *where, const struct key *k, void *obj)
{
	const char *v = config_setting_get_string(s), *p, *why = NULL;
	char shown[CONFIG_SHOW_MAX + 4];

	for (p = v; *p != '\0' && why == NULL; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			why = "must not contain spaces or control characters";
		else if (*p == '?' || *p == '#')
			why = "must not contain \"?\" or \"#\"";
	if (v[0] != '/')
		why = "must start with \"/\"";
	if (why != NULL)
		config_error(ld, s, "%s: \"%s\" %s", where,
			     config_show(v, shown), why);
	else
		config_store(ld, s, where, config_field(obj, k), strdup(v));
}

/* --- the walk over a group ---------------------------------------------- */

static int
config_type_ok(const struct key *k, const config_setting_t *s)
{
	int t = config_setting_type(s);

	if (k->type == CONFIG_TYPE_INT)
		return t == CONFIG_TYPE_INT || t == CONFIG_TYPE_INT64;
	return t == k->type;
}

/* prefix is "" at the top level, else "limits", "sources[2]"... */
static void
config_section(struct loader *ld, const config_setting_t *group,
	       const char *prefix, const struct key *keys, void *obj)
{
	const config_setting_t *s;
	const struct key *k;
	const char *name, *in = *prefix ? " in " : "";
	char where[160];
	int i;

	for (i = 0; i < config_setting_length(group); i++) {
		s = config_setting_get_elem(group, (unsigned int)i);
		name = config_setting_name(s);
		snprintf(where, sizeof(where), "%s%s%s", prefix,
			 *prefix ? "." : "", name);
		for (k = keys; k->name && strcmp(k->name, name) != 0; k++)
			continue;
		if (k->name == NULL)
			config_error(ld, s, "unknown key \"%s\"%s%s", name, in,
				     prefix);
		else if (!config_type_ok(k, s))
			config_error(ld, s, "%s: expected %s, got %s", where,
				     k->expect,
				     config_type_name(config_setting_type(s)));
		else
			k->load(ld, s, where, k, obj);
	}
	for (k = keys; k->name != NULL; k++)
		if (k->required && !config_setting_get_member(group, k->name))
			config_error(ld, group,
				     "missing required key \"%s\"%s%s", k->name,
				     in, prefix);
}

static void
config_load_group(struct loader *ld, const config_setting_t *s,
		  const char *where, const struct key *k, void *obj)
{
	config_section(ld, s, where, k->sub, obj);
}

/* The later of two equal names (or paths) is the error. */
static void
config_source_clash(struct loader *ld, const config_setting_t *list, size_t i,
		    size_t j, const char *key)
{
	const struct config_source *a = &ld->cfg->sources[i];
	const struct config_source *b = &ld->cfg->sources[j];
	const char *va = key[0] == 'n' ? a->name : a->path;
	const char *vb = key[0] == 'n' ? b->name : b->path;
	const config_setting_t *e;

	if (va == NULL || vb == NULL || strcmp(va, vb) != 0)
		return;
	e = config_setting_get_elem(list, (unsigned int)i);
	config_error(ld, config_setting_get_member(e, key),
		     "sources[%zu].%s: \"%s\" is already used by sources[%zu] "
		     "(line %d)",
		     i, key, va, j, b->line);
}

static void
config_load_sources(struct loader *ld, const config_setting_t *s,
		    const char *where, const struct key *k, void *obj)
{
	struct config *cfg = obj;
	const config_setting_t *e;
	char prefix[48];
	size_t i, j, n = (size_t)config_setting_length(s);

	if (n == 0)
		config_error(ld, s, "%s: must list at least one source", where);
	else if ((cfg->sources = calloc(n, sizeof(*cfg->sources))) == NULL)
		config_error(ld, s, "%s: out of memory", where);
	else
		cfg->nsources = n;
	for (i = 0; i < cfg->nsources; i++) {
		e = config_setting_get_elem(s, (unsigned int)i);
		snprintf(prefix, sizeof(prefix), "%s[%zu]", where, i);
		cfg->sources[i].dedup_window_s = 24 * 3600;
		cfg->sources[i].line = (int)config_setting_source_line(e);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			config_error(ld, e, "%s: expected %s, got %s", prefix,
				     EXPECT_GROUP,
				     config_type_name(config_setting_type(e)));
		else
			config_section(ld, e, prefix, k->sub, &cfg->sources[i]);
		for (j = 0; j < i; j++) {
			config_source_clash(ld, s, i, j, "name");
			config_source_clash(ld, s, i, j, "path");
		}
	}
}

/*
 * rules, customers and targets are read after the walk, by their own
 * modules (config_load_routing): rules need the targets and templates.
 */
static void
config_load_later(struct loader *ld, const config_setting_t *s,
		  const char *where, const struct key *k, void *obj)
{
	(void)ld;
	(void)s;
	(void)where;
	(void)k;
	(void)obj;
}

/* --- the key tables: a known key is one row ----------------------------- */

#define KEY(name, type, expect, req, load, off, min, max, sub)                 \
	{                                                                      \
		name, CONFIG_TYPE_##type, expect, req, load, off, min, max,    \
		    sub                                                        \
	}
#define CFG(field) offsetof(struct config, field)
#define SRC(field) offsetof(struct config_source, field)
#define LIMIT(field, min, max, load)                                           \
	KEY(#field, INT, "an integer", 0, load, CFG(field), min, max, NULL)

static const struct key config_limit_keys[] = {
    LIMIT(max_body_bytes, 1, 64 << 20, config_load_size),
    LIMIT(max_header_bytes, 1024, 1 << 20, config_load_size),
    LIMIT(request_timeout_s, 1, 3600, config_load_int),
    LIMIT(max_connections, 1, 1000000, config_load_int),
    {.name = NULL},
};

static const struct key config_admin_keys[] = {
    KEY("listen", STRING, EXPECT_ADDRESS, 1, config_load_address,
	CFG(admin_listen), 0, 0, NULL),
    KEY("token", STRING, EXPECT_SECRET, 0, config_load_secret, CFG(admin_token),
	0, 0, NULL),
    {.name = NULL},
};

static const struct key config_tls_keys[] = {
    KEY("address", STRING, EXPECT_ADDRESS, 1, config_load_address,
	CFG(tls_listen), 0, 0, NULL),
    KEY("cert", STRING, EXPECT_PEM, 1, config_load_cert, CFG(tls_cert), 0, 0,
	NULL),
    KEY("key", STRING, EXPECT_PEM, 1, config_load_key, CFG(tls_key), 0, 0,
	NULL),
    {.name = NULL},
};

static const struct key config_source_keys[] = {
    KEY("name", STRING, "a string", 1, config_load_name, SRC(name), 0, 0, NULL),
    KEY("path", STRING, "a string like \"/hooks/vendor\"", 1,
	config_load_urlpath, SRC(path), 0, 0, NULL),
    KEY("token", STRING, EXPECT_SECRET, 1, config_load_secret, SRC(token), 0, 0,
	NULL),
    KEY("dedup_window", STRING, "a duration string like \"24h\"", 0,
	config_load_duration, SRC(dedup_window_s), 0, 0, NULL),
    {.name = NULL},
};

static const struct key config_top_keys[] = {
    KEY("listen", STRING, EXPECT_ADDRESS, 1, config_load_address, CFG(listen),
	0, 0, NULL),
    KEY("state_dir", STRING, "a string (a directory)", 1, config_load_dir,
	CFG(state_dir), 0, 0, NULL),
    KEY("limits", GROUP, EXPECT_GROUP, 0, config_load_group, 0, 0, 0,
	config_limit_keys),
    KEY("admin", GROUP, EXPECT_GROUP, 0, config_load_group, 0, 0, 0,
	config_admin_keys),
    KEY("listen_tls", GROUP, EXPECT_GROUP, 0, config_load_group, 0, 0, 0,
	config_tls_keys),
    KEY("sources", LIST, "a list ( { ... }, ... )", 1, config_load_sources, 0,
	0, 0, config_source_keys),
    KEY("templates_dir", STRING, "a string (a directory)", 0, config_load_dir,
	CFG(templates_dir), 0, 0, NULL),
    KEY("targets", LIST, "a list ( { ... }, ... )", 0, config_load_later, 0, 0,
	0, NULL),
    KEY("rules", LIST, "a list ( { ... }, ... )", 0, config_load_later, 0, 0, 0,
	NULL),
    KEY("customers", GROUP, EXPECT_GROUP, 0, config_load_later, 0, 0, 0, NULL),
    {.name = NULL},
};

/* --- the whole file ----------------------------------------------------- */

/*
 * b (the key named bkey) is the error when it is a as well.  Port 0 asks
 * the kernel for a free port, so two of them never clash.
 */
static void
config_check_clash(struct loader *ld, const config_t *lc, const char *a,
		   const char *akey, const char *b, const char *bkey)
{
	char *h1 = NULL, *h2 = NULL;
	int p1, p2;

	if (a == NULL || b == NULL)
		return;
	if (config_parse_address(a, &h1, &p1) == 0 &&
	    config_parse_address(b, &h2, &p2) == 0 && p1 != 0 && p1 == p2 &&
	    strcasecmp(h1, h2) == 0)
		config_error(ld, config_lookup(lc, bkey),
			     "%s: \"%s\" is also the %s address", bkey, b,
			     akey);
	free(h1);
	free(h2);
}

static void
config_check_listeners(struct loader *ld, const config_t *lc)
{
	const struct config *cfg = ld->cfg;

	config_check_clash(ld, lc, cfg->listen, "listen", cfg->admin_listen,
			   "admin.listen");
	config_check_clash(ld, lc, cfg->listen, "listen", cfg->tls_listen,
			   "listen_tls.address");
	config_check_clash(ld, lc, cfg->admin_listen, "admin.listen",
			   cfg->tls_listen, "listen_tls.address");
}

/*
 * The TLS context is built here rather than when the listener starts, so
 * that `check` and a SIGHUP reload reject a certificate or key that would
 * not work, at its line, and the context that was checked is the one used.
 */
static void
config_check_tls(struct loader *ld, const config_t *lc)
{
	struct config *cfg = ld->cfg;
	struct tls_cert_info info;
	const char *key = "listen_tls";
	enum tls_status st;
	char err[768];

	if (cfg->tls_cert == NULL || cfg->tls_key == NULL)
		return; /* no listen_tls, or its problem is reported */
	st = tls_ctx_new(cfg->tls_cert, cfg->tls_key, &cfg->tls_ctx, err,
			 sizeof(err));
	if (st == TLS_BAD_CERT)
		key = "listen_tls.cert";
	else if (st == TLS_BAD_KEY)
		key = "listen_tls.key";
	if (st != TLS_OK)
		config_error(ld, config_lookup(lc, key), "%s: %s", key, err);
	else if (tls_cert_info(cfg->tls_ctx, &info) == 0 && info.expired)
		config_warn(ld, config_lookup(lc, "listen_tls.cert"),
			    "listen_tls.cert: the certificate expired on %s",
			    info.not_after);
}

static struct config *
config_new(const char *path)
{
	struct config *cfg = calloc(1, sizeof(*cfg));
	const char *slash = strrchr(path, '/');

	if (cfg == NULL)
		return NULL;
	cfg->file = strdup(path);
	if (slash == NULL)
		cfg->dir = strdup(".");
	else
		cfg->dir = strndup(path, slash == path ? 1 : slash - path);
	cfg->max_body_bytes = 65536;
	cfg->max_header_bytes = 8192;
	cfg->request_timeout_s = 10;
	cfg->max_connections = 1024;
	if (cfg->file == NULL || cfg->dir == NULL) {
		config_free(cfg);
		return NULL;
	}
	return cfg;
}

/*
 * The file is opened here first only to say why it cannot be read:
 * libconfig says just "file I/O error".
 */
static int
config_parse_file(struct loader *ld, config_t *lc)
{
	const char *file = ld->cfg->file, *efile;
	char path[PATH_MAX];
	struct stat st;
	FILE *fp;
	int isreg;

	if ((fp = fopen(file, "r")) == NULL) {
		diag_error(ld->d, file, 0, "cannot read: %s", strerror(errno));
		return -1;
	}
	isreg = fstat(fileno(fp), &st) == 0 && S_ISREG(st.st_mode);
	fclose(fp);
	if (!isreg) {
		diag_error(ld->d, file, 0, "cannot read: not a regular file");
		return -1;
	}
	config_set_include_dir(lc, ld->cfg->dir);
	if (config_read_file(lc, file) == CONFIG_TRUE)
		return 0;
	efile = config_error_file(lc) ? config_error_file(lc) : file;
	if (strcmp(efile, file) != 0 &&
	    config_path(ld->cfg, efile, path, sizeof(path)) == 0)
		efile = path;
	diag_error(ld->d, efile, config_error_line(lc), "%s: %s",
		   config_error_type(lc) == CONFIG_ERR_PARSE ? "syntax error"
							     : "cannot read",
		   config_error_text(lc));
	return -1;
}

/* With no templates folder, every template a rule names is missing. */
static int
config_no_template(const char *name, void *arg)
{
	(void)name;
	(void)arg;
	return 0;
}

/* Templates, targets, rules and customers, each by its own module. */
static void
config_load_routing(struct loader *ld, const config_t *lc)
{
	struct config *cfg = ld->cfg;
	const char **names = NULL;
	struct rules_env env = {0};
	const config_setting_t *s;
	char path[PATH_MAX];
	struct stat st;
	size_t i;

	if (cfg->templates_dir == NULL &&
	    config_path(cfg, "templates", path, sizeof(path)) == 0 &&
	    stat(path, &st) == 0)
		cfg->templates_dir = strdup(path);
	if (cfg->templates_dir != NULL)
		templates_load(cfg->templates_dir, &cfg->templates, ld->d);
	/* a key of the wrong type was reported by the walk already */
	if ((s = config_lookup(lc, "targets")) != NULL &&
	    config_setting_type(s) == CONFIG_TYPE_LIST)
		targets_load(s, cfg->dir, cfg->templates, &cfg->targets, ld->d);
	if ((s = config_lookup(lc, "rules")) != NULL &&
	    config_setting_type(s) == CONFIG_TYPE_LIST) {
		names = calloc(cfg->targets.n + 1, sizeof(*names));
		for (i = 0; names != NULL && i < cfg->targets.n; i++)
			names[i] = cfg->targets.list[i].name;
		env.targets = names;
		env.ntargets = names != NULL ? cfg->targets.n : 0;
		env.template_exists = cfg->templates ? templates_exists : NULL;
		env.arg = cfg->templates;
		env.config_file = cfg->file;
		if (cfg->templates == NULL)
			env.template_exists = config_no_template;
		rules_load(s, &env, &cfg->rules, ld->d);
		free(names);
	}
	if ((s = config_lookup(lc, "customers")) != NULL &&
	    config_setting_type(s) == CONFIG_TYPE_GROUP)
		customers_load(s, cfg->dir, &cfg->customers, ld->d);
}

int
config_load(const char *path, struct config **out, struct diag *d)
{
	struct loader ld = {.d = d};
	size_t nerrors = d->nerrors;
	config_t lc;
	int rc = -1;

	*out = NULL;
	config_init(&lc);
	ld.cfg = config_new(path);
	if (ld.cfg == NULL) {
		diag_error(d, path, 0, "out of memory");
		goto out;
	}
	if (config_parse_file(&ld, &lc) == -1)
		goto out;
	config_section(&ld, config_root_setting(&lc), "", config_top_keys,
		       ld.cfg);
	config_check_listeners(&ld, &lc);
	config_check_tls(&ld, &lc);
	config_load_routing(&ld, &lc);
	if (d->nerrors == nerrors) {
		*out = ld.cfg;
		ld.cfg = NULL;
		rc = 0;
	}
out:
	config_destroy(&lc);
	config_free(ld.cfg);
	return rc;
}

void
config_free(struct config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nsources; i++) {
		free(cfg->sources[i].name);
		free(cfg->sources[i].path);
		secret_free(cfg->sources[i].token);
	}
	free(cfg->sources);
	free(cfg->templates_dir);
	targets_clear(&cfg->targets);
	rules_free(cfg->rules);
	customers_free(cfg->customers);
	templates_free(cfg->templates);
	secret_free(cfg->admin_token);
	free(cfg->admin_listen);
	SSL_CTX_free(cfg->tls_ctx);
	free(cfg->tls_listen);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->state_dir);
	free(cfg->listen);
	free(cfg->dir);
	free(cfg->file);
	free(cfg);
}
