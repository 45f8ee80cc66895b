/*
 * config: loads and validates psabridge.cfg (libconfig syntax).
 *
 * Every key is documented in docs/configuration.md.  Relative paths are
 * resolved against the directory of the config file, secrets ("env:NAME",
 * "file:PATH", "cred:NAME" or a literal, which draws a warning) are
 * resolved at load by the secret module, and every problem is reported
 * through a struct diag with FILE:LINE.  listen_tls's certificate and key
 * are loaded into an SSL_CTX at load too, so that `check` and a reload
 * catch a key that is not the certificate's.
 */
#ifndef PSABRIDGE_CONFIG_H
#define PSABRIDGE_CONFIG_H

#include <stddef.h>

#include <openssl/types.h>

#include "psabridge/customers.h"
#include "psabridge/diag.h"
#include "psabridge/rules.h"
#include "psabridge/target.h"
#include "psabridge/templates.h"

struct config_source {
	char *name;  /* unique, [A-Za-z0-9_-]{1,64} */
	char *path;  /* URL path, starts with '/', e.g. /hooks/defensx */
	char *token; /* resolved secret, never logged */
	long dedup_window_s; /* 0 disables duplicate detection */
	int line;	     /* where the source is defined */
};

struct config {
	char *file;		 /* path of the config file as given */
	char *dir;		 /* its directory, for relative paths */
	char *listen;		 /* "host:port", IPv6 as "[::1]:8080" */
	char *state_dir;	 /* resolved against dir: usable from cwd */
	size_t max_body_bytes;	 /* limits.max_body_bytes, default 65536 */
	size_t max_header_bytes; /* limits.max_header_bytes, default 8192 */
	int request_timeout_s;	 /* limits.request_timeout_s, default 10 */
	int max_connections;	 /* limits.max_connections, default 1024 */
	char *admin_listen;	 /* NULL when there is no admin section */
	char *admin_token;	 /* NULL when admin.token is not set */
	char *tls_listen; /* listen_tls.address, NULL without listen_tls */
	char *tls_cert;	  /* listen_tls.cert, as a path usable from cwd */
	char *tls_key;	  /* listen_tls.key, as a path usable from cwd */
	SSL_CTX *tls_ctx; /* built from them at load (see tls.h); owned */
	struct config_source *sources;
	size_t nsources;
	char *templates_dir;	     /* default: templates/ beside the file */
	struct targets targets;	     /* `targets`, possibly none */
	struct rules *rules;	     /* `rules`, NULL when absent */
	struct customers *customers; /* `customers`, NULL when absent */
	struct templates *templates; /* NULL when the folder is absent */
};

/*
 * Reads and validates path.  On success returns 0 and stores a config the
 * caller frees with config_free(); warnings may have been added to d.  On
 * failure returns -1, *out is NULL and d holds at least one error.
 */
int config_load(const char *path, struct config **out, struct diag *d);

/* NULL is safe.  Secrets are wiped before their memory is released. */
void config_free(struct config *cfg);

/*
 * Parses a duration: a positive integer followed by one unit, s, m, h or d
 * ("90s", "24h", "7d"); "0" alone means zero.  Returns 0 and stores the
 * seconds, or -1 for anything else (no unit, unknown unit, overflow,
 * trailing text, negative numbers).
 */
int config_parse_duration(const char *s, long *seconds);

/*
 * Splits "host:port" or "[v6]:port" into host (caller frees) and port.
 * Returns -1 (and *host NULL) when the form or the port is wrong.  Port
 * 0 is accepted: it asks the kernel for a free port (tests use it).
 */
int config_parse_address(const char *s, char **host, int *port);

/*
 * How a libconfig setting type reads in a message: "a string", "an
 * integer", "a group"...  For every module that reads libconfig settings.
 */
const char *config_type_name(int type);

#endif
