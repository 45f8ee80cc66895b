/*
 * customers: the MSP's table mapping a vendor's customer_id to its client
 * in the PSA.
 *
 *   customers = { file = "customers.csv"; unmapped = "hold"; };
 *
 * A CSV file (RFC 4180: quoted fields, commas and line breaks inside
 * quotes, UTF-8) with a header row holding at least customer_id, name,
 * connectwise_company and autotask_company_id; any further columns are
 * kept.  Each row becomes an object {column: value}, available to matchers
 * and templates as customer.<column>.
 *
 * unmapped says what happens to an event whose customer_id is not in the
 * table: "hold" (its jobs wait until a reload maps it), "default" (use the
 * row whose customer_id is "*") or "drop" (logged and counted).
 */
#ifndef PSABRIDGE_CUSTOMERS_H
#define PSABRIDGE_CUSTOMERS_H

#include <stddef.h>

#include <cjson/cJSON.h>
#include <libconfig.h>

#include "psabridge/diag.h"

enum customers_unmapped {
	CUSTOMERS_HOLD,
	CUSTOMERS_DEFAULT,
	CUSTOMERS_DROP,
};

struct customers;

/*
 * Reads the `customers` group (file relative to base_dir unless absolute;
 * base_dir NULL or "." means the cwd) and the CSV it names.  group is
 * borrowed.  Problems go to d, all of them in one pass: config ones as
 * CFGFILE:LINE (unknown key, bad unmapped, a file that cannot be read,
 * with strerror), CSV ones as CSVFILE:LINE (bad quoting, a row with the
 * wrong number of fields, a missing required column, an empty or duplicate
 * customer_id, invalid UTF-8, "default" without a "*" row).  Line numbers
 * are physical lines, counting those inside quoted fields; a row's problem
 * names the line where the row starts.  Returns 0 and a table the caller
 * frees with customers_free(), or -1 and *out = NULL.
 */
int customers_load(const config_setting_t *group, const char *base_dir,
		   struct customers **out, struct diag *d);

/*
 * Loads a CSV file directly (used by customers_load and the tests); a
 * file that cannot be read is reported as "CSVFILE: cannot read: ...".
 * Same ownership and results as customers_load().
 */
int customers_load_csv(const char *path, enum customers_unmapped policy,
		       struct customers **out, struct diag *d);

/*
 * The row for customer_id (borrowed, valid until customers_free), the "*"
 * row when there is none and the policy is "default", else NULL.  A NULL
 * customer_id, or "*" itself, counts as one that is not in the table.
 * Every value in the row is a string.
 */
const cJSON *customers_find(const struct customers *c, const char *customer_id);

enum customers_unmapped customers_policy(const struct customers *c);
/* Row i (0 .. customers_count() - 1) as customers_find() gives it. */
const cJSON *customers_row(const struct customers *c, size_t i);
/* Rows in the table, the "*" row included. */
size_t customers_count(const struct customers *c);
/* The CSV's path as it was opened (base_dir joined); borrowed. */
const char *customers_file(const struct customers *c);

/* NULL is safe. */
void customers_free(struct customers *c);

#endif
