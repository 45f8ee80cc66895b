/*
 * Envelope validation.  cJSON does not check UTF-8 and stops at an embedded
 * NUL as if the text ended there, so a pre-scan rejects both and bounds the
 * nesting depth (cJSON's own limit is a compile-time 1000) before cJSON
 * sees the bytes.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "psabridge/envelope.h"

#define ENVELOPE_STR_(x) #x
#define ENVELOPE_STR(x)	 ENVELOPE_STR_(x)

int
envelope_check_utf8(const char *s, size_t len, size_t *where)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n, k;
		unsigned cp;

		if (c == 0)
			goto bad;
		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 3;
			cp = c & 0x07;
		} else {
			goto bad;
		}
		if (i + n >= len)
			goto bad;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xc0) != 0x80)
				goto bad;
			cp = (cp << 6) | (p[i + k] & 0x3f);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			goto bad;
		i += n + 1;
	}
	return 0;
bad:
	if (where != NULL)
		*where = i;
	return -1;
}

/* The length of a JSON number at s (RFC 8259's grammar), 0 if none. */
static size_t
envelope_number(const char *s, size_t len)
{
	size_t i = 0, d;

	if (i < len && s[i] == '-')
		i++;
	if (i < len && s[i] == '0')
		i++;
	else if (i < len && s[i] >= '1' && s[i] <= '9')
		while (i < len && s[i] >= '0' && s[i] <= '9')
			i++;
	else
		return 0;
	if (i < len && s[i] == '.') {
		for (d = ++i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0; /* "1." */
	}
	if (i < len && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < len && (s[i] == '+' || s[i] == '-'))
			i++;
		for (d = i; i < len && s[i] >= '0' && s[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	/* "01": a digit right after a leading zero is no JSON number */
	if (i < len && s[i] >= '0' && s[i] <= '9')
		return 0;
	return i;
}

/* An escape at s (after the backslash): NULL, or what is wrong. */
static const char *
envelope_escape(const char *s, size_t len)
{
	size_t k;

	if (len == 0 || strchr("\"\\/bfnrtu", s[0]) == NULL || s[0] == '\0')
		return "invalid escape in a string";
	if (s[0] != 'u')
		return NULL;
	for (k = 1; k <= 4; k++)
		if (k >= len || !isxdigit((unsigned char)s[k]))
			return "\\u must be followed by four hex digits";
	if (strncmp(s, "u0000", 5) == 0)
		return "\\u0000 (NUL) is not accepted";
	return NULL;
}

/*
 * Checks what cJSON lets through: nesting of [ and { outside strings up to
 * limit; control characters and bad escapes inside strings (cJSON ends
 * its C strings at \u0000 and reads a bad \u escape as one, so "A\u00zzB"
 * would silently become "A"); numbers outside RFC 8259's grammar ("01",
 * "1.").  Returns NULL or what is wrong.
 */
static const char *
envelope_scan(const char *s, size_t len, int limit)
{
	int depth = 0, in_string = 0;
	const char *why;
	size_t i, n;

	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (in_string) {
			if (c < 0x20)
				return "a control character inside a string";
			if (c == '\\') {
				if ((why = envelope_escape(
					 s + i + 1, len - i - 1)) != NULL)
					return why;
				i++;
			} else if (c == '"') {
				in_string = 0;
			}
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			if ((n = envelope_number(s + i, len - i)) == 0)
				return "a number that is not JSON";
			i += n - 1;
		} else if (c == '{' || c == '[') {
			if (++depth > limit)
				return "JSON nested deeper than " ENVELOPE_STR(
				    ENVELOPE_MAX_DEPTH) " levels";
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return NULL;
}

/* The named member, or NULL; *count says how often it occurs. */
static const cJSON *
envelope_member(const cJSON *obj, const char *name, int *count)
{
	const cJSON *it, *found = NULL;

	*count = 0;
	cJSON_ArrayForEach(it, obj)
	{
		if (it->string != NULL && strcmp(it->string, name) == 0) {
			if (found == NULL)
				found = it;
			(*count)++;
		}
	}
	return found;
}

static int
envelope_fields(const cJSON *root, struct envelope *env, char *err,
		size_t errlen)
{
	const cJSON *event, *time, *payload;
	int nevent, ntime, npayload;
	double t;

	event = envelope_member(root, "event", &nevent);
	time = envelope_member(root, "time", &ntime);
	payload = envelope_member(root, "payload", &npayload);
	if (nevent > 1 || ntime > 1 || npayload > 1) {
		snprintf(err, errlen, "envelope member given twice: %s",
			 nevent > 1  ? "event"
			 : ntime > 1 ? "time"
				     : "payload");
		return -1;
	}
	if (!cJSON_IsString(event) || event->valuestring[0] == '\0') {
		snprintf(err, errlen, "\"event\" must be a non-empty string");
		return -1;
	}
	if (strlen(event->valuestring) > ENVELOPE_EVENT_MAX) {
		snprintf(err, errlen, "\"event\" is longer than %d bytes",
			 ENVELOPE_EVENT_MAX);
		return -1;
	}
	t = cJSON_IsNumber(time) ? time->valuedouble : NAN;
	/* past 2^53 a double no longer holds every integer exactly */
	if (!isfinite(t) || t != floor(t) || fabs(t) >= 9007199254740992.0) {
		snprintf(err, errlen,
			 "\"time\" must be an integer (Unix seconds)");
		return -1;
	}
	if (!cJSON_IsObject(payload)) {
		snprintf(err, errlen, "\"payload\" must be an object");
		return -1;
	}
	strcpy(env->event, event->valuestring);
	env->time = (int64_t)t;
	return 0;
}

int
envelope_parse_tree(const char *body, size_t len, struct envelope *env,
		    cJSON **tree, char *err, size_t errlen)
{
	cJSON *root = NULL;
	const char *why;
	char *copy = NULL;
	size_t where;
	int ret = -1;

	if (len == 0) {
		snprintf(err, errlen, "empty body");
		goto out;
	}
	if (envelope_check_utf8(body, len, &where) == -1) {
		snprintf(err, errlen, "invalid UTF-8 or NUL byte at offset %zu",
			 where);
		goto out;
	}
	if ((why = envelope_scan(body, len, ENVELOPE_MAX_DEPTH)) != NULL) {
		snprintf(err, errlen, "%s", why);
		goto out;
	}
	if ((copy = malloc(len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(copy, body, len);
	copy[len] = '\0';
	/* len + 1: cJSON then requires the NUL right after the value. */
	root = cJSON_ParseWithLengthOpts(copy, len + 1, NULL, 1);
	if (root == NULL) {
		snprintf(err, errlen, "malformed JSON");
		goto out;
	}
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "the body must be a JSON object");
		goto out;
	}
	ret = envelope_fields(root, env, err, errlen);
out:
	if (ret == 0 && tree != NULL) {
		*tree = root;
		root = NULL;
	} else if (tree != NULL) {
		*tree = NULL;
	}
	cJSON_Delete(root);
	free(copy);
	return ret;
}

int
envelope_parse(const char *body, size_t len, struct envelope *env, char *err,
	       size_t errlen)
{
	return envelope_parse_tree(body, len, env, NULL, err, errlen);
}
