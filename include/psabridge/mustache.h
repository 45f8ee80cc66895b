/*
 * mustache: the template engine (https://mustache.github.io/mustache.5.html),
 * passing the official specification suite: interpolation, sections,
 * inverted sections, comments, partials, set delimiters, plus inheritance
 * (blocks and parents) and dynamic names.  Lambdas do not apply to C.
 *
 * Escaping follows the output, not HTML by default: ticket text is plain
 * (MUSTACHE_ESCAPE_NONE), JSON bodies escape values as JSON string content
 * (MUSTACHE_ESCAPE_JSON: " \ and control bytes; UTF-8 is kept), and
 * MUSTACHE_ESCAPE_HTML (& < > ") exists for the spec suite.  {{{x}}} and
 * {{& x}} are never escaped.  Values are never expanded again: a value
 * holding "{{x}}" prints as that text.
 *
 * The context is a cJSON tree; names are dotted paths ("payload.hostname")
 * resolved as the specification says (context stack, "." is the current
 * item); a part made of digits indexes an array ("items.0").  Numbers print
 * as their shortest JSON text (1650, not 1650.000000; 1.21), booleans as
 * true/false, null and missing values as nothing, objects and arrays as
 * compact JSON.  Sections skip false, null, missing, "" and []; they loop
 * over a non-empty array and enter any other value (0 and {} included).
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

/*
 * Where a template error is: 1-based line and column (in characters) in
 * the source of the template, or of the partial the message names.
 */
struct mustache_error {
	int line;
	int column;
	char message[200];
};

/*
 * Finds the source of partial `name`.  Returns 0 and stores a malloc'ed,
 * NUL-terminated copy the engine frees, or -1 when there is no such partial
 * (rendered as empty text, as the specification requires).  Called at most
 * once per name in one mustache_render() call.  With {{>*field}} the name
 * comes from the data: treat it as untrusted (no paths).
 */
typedef int (*mustache_partial_fn)(const char *name, char **source, void *arg);

/*
 * Compiles len bytes of src (borrowed; not kept).  Partials are looked up
 * through partial_fn (NULL: none exist) when rendering, with arg (borrowed,
 * must outlive the template).  Returns 0 and a template the caller frees
 * with mustache_free(), or -1 with err filled (unclosed tag, unclosed or
 * mismatched section, bad delimiters, an empty or malformed name, sections
 * nested deeper than 100).  err may be NULL.
 */
int mustache_compile(const char *src, size_t len,
		     mustache_partial_fn partial_fn, void *arg,
		     struct mustache **out, struct mustache_error *err);

/*
 * Renders t against ctx (both borrowed; ctx may be NULL).  Returns 0 and a
 * malloc'ed NUL-terminated string (caller frees with free()) with its
 * length in *outlen, or -1 with *out NULL and err filled: output over
 * max_out bytes (never cut short), partials, parents or blocks nested
 * deeper than 64, a partial that does not compile, more than 256 distinct
 * partials, more than ten million nodes visited.  err may be NULL.
 */
int mustache_render(const struct mustache *t, const cJSON *ctx,
		    enum mustache_escape esc, size_t max_out, char **out,
		    size_t *outlen, struct mustache_error *err);

/* NULL is safe. */
void mustache_free(struct mustache *t);

#endif
