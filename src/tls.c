/*
 * tls: builds the server SSL_CTX of a TLS listener.
 *
 * The settings follow Mozilla's "intermediate" profile (server side TLS
 * guidelines 5.7): TLS 1.2 and 1.3, forward-secret AEAD ciphers for 1.2,
 * OpenSSL's default 1.3 suites, the client's cipher preference.  The
 * vendor's sender is some HTTPS library we do not control, so "modern"
 * (1.3 only) would be one upgrade away from locking it out.  Renegotiation
 * is off (nothing here needs it, and it has a history of CVEs), compression
 * is off (CRIME); session tickets stay on: they save a full handshake for a
 * vendor that opens a connection per callback.
 *
 * A key with a passphrase cannot be used: psabridge runs unattended, and
 * OpenSSL's default is to ask for the passphrase on the terminal, which
 * would hang `serve` and `check`.  The callback below refuses instead.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "psabridge/tls.h"

#define TLS_CIPHERS_12                                                         \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"           \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"           \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305:"           \
	"DHE-RSA-AES128-GCM-SHA256:DHE-RSA-AES256-GCM-SHA384:"                 \
	"DHE-RSA-CHACHA20-POLY1305"

/*
 * The first reason OpenSSL queued, the most specific one ("no start
 * line"; the last is the caller's "PEM lib").  The queue is emptied.
 */
static unsigned long
tls_reason(char *buf, size_t size)
{
	unsigned long e = ERR_peek_error();

	if (e == 0)
		snprintf(buf, size, "no reason given");
	else
		ERR_error_string_n(e, buf, size);
	ERR_clear_error();
	return e;
}

/* OpenSSL checks the key against the certificate when it loads either. */
static int
tls_mismatch(unsigned long e)
{
	return ERR_GET_LIB(e) == ERR_LIB_X509 &&
	       ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH;
}

static int
tls_no_passphrase(char *buf, int size, int rwflag, void *arg)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)arg;
	return 0;
}

/* Everything that does not depend on the files. */
static SSL_CTX *
tls_ctx_base(void)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (ctx == NULL)
		return NULL;
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, TLS_CIPHERS_12) != 1 ||
	    SSL_CTX_set_dh_auto(ctx, 1) != 1) {
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_options(ctx,
			    SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
	/* idle keep-alive connections need not hold 34 KiB of buffers */
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_default_passwd_cb(ctx, tls_no_passphrase);
	return ctx;
}

enum tls_status
tls_ctx_new(const char *cert, const char *key, SSL_CTX **out, char *err,
	    size_t errlen)
{
	enum tls_status st = TLS_FAILED;
	char why[256];
	SSL_CTX *ctx;

	*out = NULL;
	ERR_clear_error();
	if ((ctx = tls_ctx_base()) == NULL) {
		tls_reason(why, sizeof(why));
		snprintf(err, errlen, "cannot set up TLS (%s)", why);
		return TLS_FAILED;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		tls_reason(why, sizeof(why));
		snprintf(err, errlen,
			 "cannot load certificate chain \"%s\" (%s); expected "
			 "PEM, the server's certificate first",
			 cert, why);
		st = TLS_BAD_CERT;
		goto fail;
	}
	st = TLS_BAD_KEY;
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		if (tls_mismatch(tls_reason(why, sizeof(why))))
			goto mismatch;
		snprintf(err, errlen,
			 "cannot load private key \"%s\" (%s); expected an "
			 "unencrypted PEM key",
			 key, why);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		tls_reason(why, sizeof(why));
		goto mismatch;
	}
	*out = ctx;
	return TLS_OK;
mismatch:
	snprintf(err, errlen,
		 "private key \"%s\" does not match certificate \"%s\" (%s)",
		 key, cert, why);
fail:
	SSL_CTX_free(ctx);
	return st;
}

int
tls_cert_info(SSL_CTX *ctx, struct tls_cert_info *info)
{
	X509 *x = SSL_CTX_get0_certificate(ctx);
	const ASN1_TIME *na;
	struct tm tm;
	BIO *bio;
	int n;

	memset(info, 0, sizeof(*info));
	if (x == NULL)
		return -1;
	na = X509_get0_notAfter(x);
	if (ASN1_TIME_to_tm(na, &tm) == 1)
		strftime(info->not_after, sizeof(info->not_after),
			 "%Y-%m-%dT%H:%M:%SZ", &tm);
	info->expired = X509_cmp_current_time(na) < 0;
	if ((bio = BIO_new(BIO_s_mem())) != NULL) {
		X509_NAME_print_ex(bio, X509_get_subject_name(x), 0,
				   XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
		n = BIO_read(bio, info->subject, sizeof(info->subject) - 1);
		info->subject[n > 0 ? n : 0] = '\0';
		BIO_free(bio);
	}
	ERR_clear_error();
	return 0;
}
