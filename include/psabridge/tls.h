/*
 * tls: the server side of TLS for a listener: one SSL_CTX built from a PEM
 * certificate chain and its private key, with TLS 1.2 as the floor, the
 * Mozilla "intermediate" ciphers for TLS 1.2 and OpenSSL's default TLS 1.3
 * suites.  The httpd module makes one SSL per connection from it.
 */
#ifndef PSABRIDGE_TLS_H
#define PSABRIDGE_TLS_H

#include <stddef.h>

#include <openssl/types.h>

enum tls_status {
	TLS_OK = 0,
	TLS_BAD_CERT, /* the chain does not load */
	TLS_BAD_KEY,  /* the key does not load, or is not the cert's */
	TLS_FAILED    /* anything else (out of memory) */
};

/*
 * Builds a server context from cert (a PEM chain, leaf first) and key (a
 * PEM private key, not encrypted), both file paths, borrowed.  On TLS_OK
 * *out is a context the caller frees with SSL_CTX_free() (reference
 * counted: an SSL made from it holds its own reference).  Otherwise *out
 * is NULL and err says what is wrong with which file, with OpenSSL's
 * reason, e.g. "private key \"k.pem\" does not match certificate
 * \"c.pem\" (error:05800074:x509 certificate routines::key values
 * mismatch)".
 */
enum tls_status tls_ctx_new(const char *cert, const char *key, SSL_CTX **out,
			    char *err, size_t errlen);

/* What a log line or a warning says about the context's certificate. */
struct tls_cert_info {
	char subject[256];  /* one line, RFC 2253, e.g. "CN=example.com" */
	char not_after[32]; /* "2026-11-29T05:10:00Z" */
	int expired;	    /* 1 when not_after is past */
};

/* Fills info from ctx (borrowed).  0, or -1 when ctx has no certificate. */
int tls_cert_info(SSL_CTX *ctx, struct tls_cert_info *info);

#endif
