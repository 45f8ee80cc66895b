/*
 * envelope: validates the body of a vendor callback before it is stored.
 *
 * The body must be UTF-8 JSON with no NUL byte, nested at most
 * ENVELOPE_MAX_DEPTH deep, holding one object with a non-empty string
 * "event", an integer "time" and an object "payload" (DefensX's documented
 * envelope), each present once.  Members are looked up case-sensitively;
 * other members are allowed, vendors add them.
 */
#ifndef PSABRIDGE_ENVELOPE_H
#define PSABRIDGE_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_MAX_DEPTH 64
#define ENVELOPE_EVENT_MAX 128

struct envelope {
	char event[ENVELOPE_EVENT_MAX + 1]; /* the "event" member */
	int64_t time;			    /* the "time" member */
};

/*
 * Validates body (len bytes, need not be NUL-terminated).  Returns 0 and
 * fills env, or -1 with a reason for the sender in err (never containing
 * body bytes other than member names we expect).
 */
int envelope_parse(const char *body, size_t len, struct envelope *env,
		   char *err, size_t errlen);

/*
 * The same, also handing back the parsed callback object in *tree (the
 * caller frees it with cJSON_Delete()); *tree is NULL on failure.
 */
struct cJSON;
int envelope_parse_tree(const char *body, size_t len, struct envelope *env,
			struct cJSON **tree, char *err, size_t errlen);

/*
 * Checks that s (len bytes) is well-formed UTF-8 (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF) without NUL bytes.  Returns 0 when
 * it is, -1 otherwise and stores the offending offset in *where.
 */
int envelope_check_utf8(const char *s, size_t len, size_t *where);

#endif
