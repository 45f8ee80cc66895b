/*
 * ticket: ticket templates, one file templates/NAME.ticket read like an
 * e-mail: header lines, a blank line, then the description.
 *
 *   Summary: DefensX agent removed from {{payload.hostname}}
 *   Priority: high
 *
 *   The DefensX agent on {{payload.hostname}} ({{customer.name}}) ...
 *
 * The split into fields happens on the template source, before rendering,
 * and each header value is rendered on its own with line breaks flattened
 * to spaces: whatever a payload contains, it cannot add or change a field.
 * Values are PSA-neutral ("Priority: high"); each target maps them to its
 * own names or ids.
 */
#ifndef PSABRIDGE_TICKET_H
#define PSABRIDGE_TICKET_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "psabridge/mustache.h"

/* The header fields, in the order they are printed. */
enum ticket_field {
	TICKET_SUMMARY,	 /* required */
	TICKET_PRIORITY, /* required */
	TICKET_STATUS,
	TICKET_BOARD,
	TICKET_QUEUE,
	TICKET_TYPE,
	TICKET_SUBTYPE,
	TICKET_ITEM,
	TICKET_SOURCE,
	TICKET_NFIELDS
};

struct ticket_template;

/* A rendered ticket: every string malloc'ed, NULL for absent fields. */
struct ticket {
	char *field[TICKET_NFIELDS];
	char *description;
};

/* "Summary", "Priority", ... */
const char *ticket_field_name(enum ticket_field f);

/*
 * Compiles a ticket template.  Errors (unknown or repeated header, a
 * missing Summary or Priority, no blank line before the description, a
 * Mustache error) are reported with the line and column in the file.
 * Partials resolve through partial_fn/arg.  Returns 0 and a template the
 * caller frees with ticket_template_free(), or -1 with err filled.
 */
int ticket_template_compile(const char *src, size_t len,
			    mustache_partial_fn partial_fn, void *arg,
			    struct ticket_template **out,
			    struct mustache_error *err);

/* NULL is safe. */
void ticket_template_free(struct ticket_template *t);

/*
 * Renders t against ctx into out (which the caller clears with
 * ticket_clear()).  Header values are cut at TICKET_FIELD_MAX bytes on a
 * UTF-8 boundary; the description at TICKET_DESCRIPTION_MAX.
 */
#define TICKET_FIELD_MAX       1024
#define TICKET_DESCRIPTION_MAX (256 * 1024)
int ticket_render(const struct ticket_template *t, const cJSON *ctx,
		  struct ticket *out, struct mustache_error *err);

/* Frees the strings of t and zeroes it. */
void ticket_clear(struct ticket *t);

/*
 * The ticket as a JSON object {"summary":..., "priority":..., ...,
 * "description":...} with the absent fields left out.  Caller frees with
 * cJSON_Delete(); NULL when out of memory.
 */
cJSON *ticket_to_json(const struct ticket *t);

#endif
