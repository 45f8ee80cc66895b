/*
 * mustache: the template engine (https://mustache.github.io/mustache.5.html),
 * passing the official specification suite: interpolation, sections,
 * inverted sections, comments, partials, set delimiters, plus inheritance
 * (blocks and parents) and dynamic names.  Lambdas do not apply to C.
 *
 * Escaping follows the output, not HTML by default: ticket text is plain
 * (MUSTACHE_ESCAPE_NONE), JSON bodies escape values as JSON string content
 * (MUSTACHE_ESCAPE_JSON), and MUSTACHE_ESCAPE_HTML exists for the spec
 * suite.  {{{x}}} and {{& x}} are never escaped.
 *
 * The context is a cJSON tree; names are dotted paths ("payload.hostname")
 * resolved as the specification says (context stack, "." is the current
 * item).  Numbers print as their shortest JSON text (1650, not 1650.000000),
 * booleans as true/false, null and missing values as nothing.
 */
#ifndef PSABRIDGE_MUSTACHE_H
#define PSABRIDGE_MUSTACHE_H

#include <stddef.h>

#include <cjson/cJSON.h>

enum mustache_escape {
	MUSTACHE_ESCAPE_NONE,
	MUSTACHE_ESCAPE_JSON,
	MUSTACHE_ESCAPE_HTML,
};

struct mustache;

/* Where a template error is: 1-based line and column in the source. */
struct mustache_error {
	int line;
	int column;
	char message[200];
};

/*
 * Finds the source of partial `name`.  Returns 0 and stores a malloc'ed,
 * NUL-terminated copy the engine frees, or -1 when there is no such partial
 * (rendered as empty text, as the specification requires).
 */
typedef int (*mustache_partial_fn)(const char *name, char **source,
    void *arg);

/*
 * Compiles len bytes of src.  Partials are looked up through partial_fn
 * (NULL: none exist) when rendering, with arg.  Returns 0 and a template
 * the caller frees with mustache_free(), or -1 with err filled (unclosed
 * tag, unclosed or mismatched section, bad delimiters).
 */
int mustache_compile(const char *src, size_t len, mustache_partial_fn partial_fn,
    void *arg, struct mustache **out, struct mustache_error *err);

/*
 * Renders t against ctx.  Returns 0 and a malloc'ed NUL-terminated string
 * (caller frees with free()) with its length in *outlen, or -1 with err
 * filled: output over max_out bytes, partials nested deeper than 64, a
 * partial that does not compile.
 */
int mustache_render(const struct mustache *t, const cJSON *ctx,
    enum mustache_escape esc, size_t max_out, char **out, size_t *outlen,
    struct mustache_error *err);

/* NULL is safe. */
void mustache_free(struct mustache *t);

#endif
