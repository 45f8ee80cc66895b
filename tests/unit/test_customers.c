/*
 * Unit tests for customers: the CSV table (quoting, encodings, line
 * numbers in messages, lookups under each unmapped policy) and the
 * `customers` config group.  Files live in a fresh mkdtemp() directory;
 * messages are checked for their exact "FILE:LINE: " prefix and a phrase.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <libconfig.h>

#include "psabridge/customers.h"
#include "fixture.h"
#include "psabridge/diag.h"

#define HEADER	   "customer_id,name,connectwise_company,autotask_company_id\n"
#define DEFENSX_ID "c062a202-e090-4e57-ba88-d74dfd2e3455"

struct fx {
	struct fixture_dir tmp;
	char csv[PATH_MAX]; /* dir/customers.csv */
	char cfgpath[PATH_MAX];
	struct diag d;
	struct customers *c;
	config_t cfg;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	fixture_dir_make(&fx->tmp, "customers");
	snprintf(fx->csv, sizeof(fx->csv), "%s/customers.csv", fx->tmp.path);
	snprintf(fx->cfgpath, sizeof(fx->cfgpath), "%s/psabridge.cfg",
		 fx->tmp.path);
	diag_init(&fx->d);
	config_init(&fx->cfg);
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	customers_free(fx->c);
	diag_free(&fx->d);
	config_destroy(&fx->cfg);
	fixture_dir_remove(&fx->tmp);
	free(fx);
	return 0;
}

/* Writes text as customers.csv and loads it with policy. */
static int
fx_csv(struct fx *fx, enum customers_unmapped policy, const char *text)
{
	fixture_write(&fx->tmp, "customers.csv", 0644, text, strlen(text));
	return customers_load_csv(fx->csv, policy, &fx->c, &fx->d);
}

/* Writes cfg as psabridge.cfg and loads its `customers` group. */
static int
fx_cfg(struct fx *fx, const char *cfg)
{
	const config_setting_t *group;

	fixture_write(&fx->tmp, "psabridge.cfg", 0644, cfg, strlen(cfg));
	assert_int_equal(config_read_file(&fx->cfg, fx->cfgpath), CONFIG_TRUE);
	assert_non_null(group = config_lookup(&fx->cfg, "customers"));
	return customers_load(group, fx->tmp.path, &fx->c, &fx->d);
}

/* An error in customers.csv at line with phrase. */
static int
fx_csv_error(const struct fx *fx, int line, const char *phrase)
{
	return fixture_diag_has(&(fx)->d, DIAG_ERROR, fx->csv, line, phrase);
}

/* The value of column in the row for id. */
static const char *
fx_get(const struct fx *fx, const char *id, const char *column)
{
	const cJSON *row = customers_find(fx->c, id), *v;

	assert_non_null(row);
	v = cJSON_GetObjectItemCaseSensitive(row, column);
	assert_true(cJSON_IsString(v));
	return v->valuestring;
}

/* A failed load: no table, and exactly nerrors errors. */
static void
fx_failed(const struct fx *fx, int rc, size_t nerrors)
{
	assert_int_equal(rc, -1);
	assert_null(fx->c);
	if (fx->d.nerrors != nerrors)
		diag_print(&fx->d, stderr);
	assert_int_equal(fx->d.nerrors, nerrors);
}

/* --- reading values ----------------------------------------------------- */

static void
test_quoted_fields_keep_commas_quotes_and_line_breaks(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_csv(fx, CUSTOMERS_HOLD,
				HEADER "a1,\"Contoso, Ltd\",\"The \"\"Big\"\" "
				       "One\",\"0\"\n"
				       "a2,\"Two\nLines\",\"\",17\n"),
			 0);
	assert_int_equal(customers_count(fx->c), 2);
	assert_string_equal(fx_get(fx, "a1", "name"), "Contoso, Ltd");
	assert_string_equal(fx_get(fx, "a1", "connectwise_company"),
			    "The \"Big\" One");
	assert_string_equal(fx_get(fx, "a1", "autotask_company_id"), "0");
	assert_string_equal(fx_get(fx, "a2", "name"), "Two\nLines");
	assert_string_equal(fx_get(fx, "a2", "connectwise_company"), "");
	assert_int_equal(fx->d.len, 0);
}

static void
test_utf8_names_are_kept_byte_for_byte(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_csv(fx, CUSTOMERS_HOLD,
				HEADER "m1,Müller & Söhne GmbH,Müller,12\n"
				       "j1,株式会社,\"株式会社, 東京\",13\n"),
			 0);
	assert_string_equal(fx_get(fx, "m1", "name"), "Müller & Söhne GmbH");
	assert_string_equal(fx_get(fx, "j1", "name"), "株式会社");
	assert_string_equal(fx_get(fx, "j1", "connectwise_company"),
			    "株式会社, 東京");
}

static void
test_extra_columns_are_keys_and_order_is_free(void **state)
{
	struct fx *fx = *state;
	const cJSON *row;

	assert_int_equal(fx_csv(fx, CUSTOMERS_HOLD,
				"tier,autotask_company_id,name,customer_id,"
				"connectwise_company,notes\n"
				"gold,29684,Contoso Ltd," DEFENSX_ID
				",Contoso,\"a, b\"\n"),
			 0);
	assert_string_equal(fx_get(fx, DEFENSX_ID, "tier"), "gold");
	assert_string_equal(fx_get(fx, DEFENSX_ID, "notes"), "a, b");
	assert_string_equal(fx_get(fx, DEFENSX_ID, "autotask_company_id"),
			    "29684");
	row = customers_find(fx->c, DEFENSX_ID);
	assert_int_equal(cJSON_GetArraySize(row), 6);
	assert_null(customers_find(fx->c, "Contoso Ltd"));
}

static void
test_bom_at_file_start_is_not_part_of_first_column(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(
	    fx_csv(fx, CUSTOMERS_HOLD, "\xef\xbb\xbf" HEADER "a1,A,B,1\n"), 0);
	assert_string_equal(fx_get(fx, "a1", "customer_id"), "a1");
}

static void
test_crlf_line_endings_leave_no_carriage_return(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(
	    fx_csv(fx, CUSTOMERS_HOLD,
		   "customer_id,name,connectwise_company,autotask_company_id"
		   "\r\na1,A,B,1\r\na2,\"x\r\ny\",C,2\r\n"),
	    0);
	assert_string_equal(fx_get(fx, "a1", "autotask_company_id"), "1");
	assert_string_equal(fx_get(fx, "a2", "autotask_company_id"), "2");
	/* a line break inside quotes is kept as written */
	assert_string_equal(fx_get(fx, "a2", "name"), "x\r\ny");
}

static void
test_crlf_and_lone_cr_lines_are_counted(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_csv(fx, CUSTOMERS_HOLD,
			 "customer_id,name,connectwise_company,"
			 "autotask_company_id\r\na1,A,B,1\r\na2,A,B\r\n"
			 "a3,A,B,1\ra4,A\r"),
		  2);
	assert_true(fx_csv_error(fx, 3, "row has 3 fields, the header has 4"));
	assert_true(fx_csv_error(fx, 5, "row has 2 fields, the header has 4"));
}

static void
test_spaces_around_unquoted_fields_are_dropped(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_csv(fx, CUSTOMERS_HOLD,
				HEADER "  a1 , Contoso Ltd ,\" CW \",\t1\n"),
			 0);
	assert_string_equal(fx_get(fx, "a1", "name"), "Contoso Ltd");
	assert_string_equal(fx_get(fx, "a1", "connectwise_company"), " CW ");
}

static void
test_header_names_are_trimmed_even_when_quoted(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_csv(fx, CUSTOMERS_HOLD,
				"\" customer_id \",name,connectwise_company,"
				"autotask_company_id\na1,A,B,1\n"),
			 0);
	assert_string_equal(fx_get(fx, "a1", "customer_id"), "a1");
}

static void
test_empty_lines_are_skipped_and_still_counted(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_csv(fx, CUSTOMERS_HOLD,
			 "\n" HEADER "\na1,A,B,1\n  \n\t\na2,A\n\n"),
		  1);
	assert_true(fx_csv_error(fx, 7, "row has 2 fields"));
}

static void
test_last_row_without_newline_is_read(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_csv(fx, CUSTOMERS_HOLD, HEADER "a1,A,B,\"1\""), 0);
	assert_string_equal(fx_get(fx, "a1", "autotask_company_id"), "1");
}

/* --- line numbers ------------------------------------------------------- */

static void
test_errors_after_multiline_fields_name_physical_lines(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_csv(fx, CUSTOMERS_HOLD,
			 HEADER					  /* 1 */
			 "a1,\"Line one\nline two\nthree\",B,1\n" /* 2-4 */
			 "a2,A,B\n"				  /* 5 */
			 "a3,\"x\n\ny\",B,1\n"			  /* 6-8 */
			 "a1,A,B,2\n"),				  /* 9 */
		  2);
	assert_true(fx_csv_error(fx, 5, "row has 3 fields, the header has 4"));
	assert_true(fx_csv_error(fx, 9,
				 "duplicate customer_id \"a1\" (first on line "
				 "2)"));
}

static void
test_row_errors_name_the_line_where_the_row_starts(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx, fx_csv(fx, CUSTOMERS_HOLD, HEADER "a1,\"A\nB\nC\",D\n"),
		  1);
	assert_true(fx_csv_error(fx, 2, "row has 3 fields"));
}

/* --- errors ------------------------------------------------------------- */

static void
test_missing_required_column_is_error_at_header(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_csv(fx, CUSTOMERS_HOLD,
			 "\ncustomer_id,name,autotask_company_id\na1,A,1\n"),
		  1);
	assert_true(fx_csv_error(
	    fx, 2, "missing required column \"connectwise_company\""));
}

static void
test_duplicate_and_unnamed_columns_are_errors(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_csv(fx, CUSTOMERS_HOLD,
			 "customer_id,name,connectwise_company,"
			 "autotask_company_id, name ,\na1,A,B,1,C,\n"),
		  2);
	assert_true(fx_csv_error(
	    fx, 1, "column \"name\" appears twice (columns 2 and 5)"));
	assert_true(fx_csv_error(fx, 1, "column 6 has no name"));
}

static void
test_wrong_field_count_names_line_and_counts(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_csv(fx, CUSTOMERS_HOLD,
			 HEADER "a1,A,B,1\na2,A,B,1,extra\na3,A,B,1\na4\n"),
		  2);
	assert_true(fx_csv_error(fx, 3, "row has 5 fields, the header has 4"));
	assert_true(fx_csv_error(fx, 5, "row has 1 field, the header has 4"));
}

static void
test_duplicate_id_names_both_lines(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_csv(fx, CUSTOMERS_HOLD,
			 HEADER
			 "b,A,B,1\na,A,B,1\nb,C,D,2\nc,A,B,1\nb,E,F,3\n"),
		  2);
	assert_true(fx_csv_error(
	    fx, 4, "duplicate customer_id \"b\" (first on line 2)"));
	assert_true(fx_csv_error(
	    fx, 6, "duplicate customer_id \"b\" (first on line 2)"));
	/* in file order, so that the list reads top to bottom */
	assert_non_null(strstr(fx->d.entries[0].text, ":4: "));
	assert_non_null(strstr(fx->d.entries[1].text, ":6: "));
}

static void
test_empty_id_is_error(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx, fx_csv(fx, CUSTOMERS_HOLD, HEADER "a1,A,B,1\n,A,B,1\n"),
		  1);
	assert_true(fx_csv_error(fx, 3, "empty customer_id"));
}

static void
test_unterminated_quote_names_the_opening_line(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_csv(fx, CUSTOMERS_HOLD,
			 HEADER "a1,A,B,1\na2,\"A,B,1\na3,A,B,1\na4,A,B,1\n"),
		  1);
	assert_true(fx_csv_error(fx, 3, "unterminated quoted field"));
}

static void
test_stray_quotes_are_errors_and_later_lines_still_checked(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_csv(fx, CUSTOMERS_HOLD,
			 HEADER "a1,Con\"toso,B,1\n"
				"a2,\"Contoso\" Ltd,B,1\n"
				"a3,A,B,1\n"
				"a4,A,B\n"),
		  3);
	assert_true(fx_csv_error(fx, 2,
				 "field 2: quote inside an unquoted "
				 "field (byte 7 of the line)"));
	assert_true(fx_csv_error(fx, 3,
				 "field 2: text after a closing quote "
				 "(byte 14 of the line)"));
	assert_true(fx_csv_error(fx, 5, "row has 3 fields"));
}

static void
test_quote_error_in_header_stops_the_check(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx, fx_csv(fx, CUSTOMERS_HOLD, "custo\"mer_id\na1,A\n"), 1);
	assert_true(fx_csv_error(fx, 1, "quote inside an unquoted field"));
}

static void
test_invalid_utf8_is_error_with_line(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_csv(fx, CUSTOMERS_HOLD,
			 HEADER "a1,A,B,1\na2,M\xfcller,B,1\n"
				"a3,\xe6\x97,B,1\n"	  /* cut short */
				"a4,\xed\xa0\x80,B,1\n"), /* a surrogate */
		  3);
	assert_true(fx_csv_error(fx, 3,
				 "invalid UTF-8 (byte 0xFC at byte 5 "
				 "of the line); save the file as \"CSV "
				 "UTF-8\""));
	assert_true(fx_csv_error(fx, 4, "invalid UTF-8 (byte 0xE6"));
	assert_true(fx_csv_error(fx, 5, "invalid UTF-8 (byte 0xED"));
}

static void
test_nul_byte_is_error(void **state)
{
	struct fx *fx = *state;
	static const char text[] = HEADER "a1,A\0B,C,1\n";

	fixture_write(&fx->tmp, "customers.csv", 0644, text, sizeof(text) - 1);
	fx_failed(
	    fx, customers_load_csv(fx->csv, CUSTOMERS_HOLD, &fx->c, &fx->d), 1);
	assert_true(fx_csv_error(fx, 2, "NUL byte"));
}

static void
test_utf16_file_is_error(void **state)
{
	struct fx *fx = *state;

	fixture_write(&fx->tmp, "customers.csv", 0644,
		      "\xff\xfe"
		      "c\0u\0",
		      6);
	fx_failed(
	    fx, customers_load_csv(fx->csv, CUSTOMERS_HOLD, &fx->c, &fx->d), 1);
	assert_true(fx_csv_error(fx, 0, "the file is UTF-16"));
}

static void
test_empty_file_is_error(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx, fx_csv(fx, CUSTOMERS_HOLD, "\n\n"), 1);
	assert_true(fx_csv_error(fx, 0, "no header row: the file is empty"));
}

static void
test_header_only_is_an_empty_table(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_csv(fx, CUSTOMERS_HOLD, HEADER), 0);
	assert_int_equal(customers_count(fx->c), 0);
	assert_null(customers_find(fx->c, "a1"));
}

static void
test_overlong_field_is_error(void **state)
{
	struct fx *fx = *state;
	size_t n = 65537, len = strlen(HEADER "a1,,B,1\n") + n;
	char *text = malloc(len + 1);

	assert_non_null(text);
	strcpy(text, HEADER "a1,");
	memset(text + strlen(text), 'x', n);
	strcpy(text + strlen(HEADER "a1,") + n, ",B,1\n");
	fx_failed(fx, fx_csv(fx, CUSTOMERS_HOLD, text), 1);
	free(text);
	assert_true(fx_csv_error(fx, 2, "field 2 is longer than 65536 bytes"));
}

static void
test_file_over_16_mib_is_refused(void **state)
{
	struct fx *fx = *state;
	FILE *fp;

	fixture_write(&fx->tmp, "customers.csv", 0644, HEADER, strlen(HEADER));
	assert_non_null(fp = fopen(fx->csv, "r+"));
	assert_int_equal(ftruncate(fileno(fp), (16 << 20) + 1), 0);
	assert_int_equal(fclose(fp), 0);
	fx_failed(
	    fx, customers_load_csv(fx->csv, CUSTOMERS_HOLD, &fx->c, &fx->d), 1);
	assert_true(fx_csv_error(fx, 0, "the file is larger than 16 MiB"));
}

static void
test_missing_csv_file_names_errno(void **state)
{
	struct fx *fx = *state;

	fx_failed(
	    fx, customers_load_csv(fx->csv, CUSTOMERS_HOLD, &fx->c, &fx->d), 1);
	assert_true(
	    fx_csv_error(fx, 0, "cannot read: No such file or directory"));
}

static void
test_directory_is_not_a_regular_file(void **state)
{
	struct fx *fx = *state;

	fx_failed(
	    fx,
	    customers_load_csv(fx->tmp.path, CUSTOMERS_HOLD, &fx->c, &fx->d),
	    1);
	assert_true(fixture_diag_has(&(fx)->d, DIAG_ERROR, fx->tmp.path, 0,
				     "cannot read: not a regular file"));
}

static void
test_errors_stop_after_fifty(void **state)
{
	struct fx *fx = *state;
	char text[4096];
	size_t off, i;

	off = (size_t)snprintf(text, sizeof(text), HEADER);
	for (i = 0; i < 60; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off,
					"a%zu,A\n", i);
	fx_failed(fx, fx_csv(fx, CUSTOMERS_HOLD, text), 51);
	assert_true(fx_csv_error(fx, 51, "row has 2 fields"));
	assert_true(fx_csv_error(fx, 0,
				 "more than 50 errors, the rest of the file "
				 "is not checked"));
	assert_int_equal(fx->d.len, 51);
}

static void
test_more_than_256_columns_is_error(void **state)
{
	struct fx *fx = *state;
	char text[8192];
	size_t off, i;

	off = (size_t)snprintf(text, sizeof(text),
			       "customer_id,name,"
			       "connectwise_company,"
			       "autotask_company_id");
	for (i = 4; i < 257; i++)
		off += (size_t)snprintf(text + off, sizeof(text) - off, ",c%zu",
					i);
	snprintf(text + off, sizeof(text) - off, "\na1,A,B,1\n");
	fx_failed(fx, fx_csv(fx, CUSTOMERS_HOLD, text), 1);
	assert_true(fx_csv_error(fx, 1, "more than 256 columns"));
}

static void
test_every_problem_is_reported_at_once(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_csv(fx, CUSTOMERS_DEFAULT,
			 HEADER "a1,A,B,1\n"
				",A,B,1\n"
				"a1,A,B,1\n"
				"a4,\"A,B,1\n"),
		  3);
	assert_true(fx_csv_error(fx, 3, "empty customer_id"));
	assert_true(fx_csv_error(fx, 4, "duplicate customer_id"));
	assert_true(fx_csv_error(fx, 5, "unterminated quoted field"));
}

/* --- policies ----------------------------------------------------------- */

static void
test_default_policy_falls_back_to_star_row(void **state)
{
	struct fx *fx = *state;

	assert_int_equal(fx_csv(fx, CUSTOMERS_DEFAULT,
				HEADER "a1,A,B,1\n*,Unassigned,Catchall,0\n"),
			 0);
	assert_int_equal(customers_policy(fx->c), CUSTOMERS_DEFAULT);
	assert_string_equal(fx_get(fx, "a1", "name"), "A");
	assert_string_equal(fx_get(fx, "unknown", "name"), "Unassigned");
	assert_string_equal(fx_get(fx, "*", "name"), "Unassigned");
	assert_ptr_equal(customers_find(fx->c, NULL),
			 customers_find(fx->c, "unknown"));
	assert_int_equal(customers_count(fx->c), 2);
}

static void
test_default_policy_without_star_row_is_error(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx, fx_csv(fx, CUSTOMERS_DEFAULT, HEADER "a1,A,B,1\n"), 1);
	assert_true(fx_csv_error(fx, 0,
				 "unmapped = \"default\" needs a row whose "
				 "customer_id is \"*\""));
}

static void
test_hold_and_drop_return_null_for_unknown_ids(void **state)
{
	struct fx *fx = *state;
	enum customers_unmapped policies[] = {CUSTOMERS_HOLD, CUSTOMERS_DROP};
	size_t i;

	for (i = 0; i < 2; i++) {
		customers_free(fx->c);
		fx->c = NULL;
		assert_int_equal(
		    fx_csv(fx, policies[i], HEADER "a1,A,B,1\n*,Any,C,0\n"), 0);
		assert_int_equal(customers_policy(fx->c), policies[i]);
		assert_non_null(customers_find(fx->c, "a1"));
		assert_null(customers_find(fx->c, "a2"));
		assert_null(customers_find(fx->c, "*"));
		assert_null(customers_find(fx->c, NULL));
		/* the unused "*" row is pointed out, not fatal */
		assert_true(
		    fixture_diag_has(&(fx)->d, DIAG_WARNING, fx->csv, 3,
				     "the \"*\" row is used only with unmapped "
				     "= \"default\""));
	}
}

static void
test_lookup_in_a_large_table(void **state)
{
	struct fx *fx = *state;
	size_t i, n = 20000, off;
	char *text = malloc(n * 40 + 100), id[32];

	assert_non_null(text);
	off = (size_t)sprintf(text, HEADER);
	for (i = n; i > 0; i--) /* in reverse, so that sorting matters */
		off += (size_t)sprintf(text + off, "id-%zu,Name %zu,CW,%zu\n",
				       i, i, i);
	assert_int_equal(fx_csv(fx, CUSTOMERS_HOLD, text), 0);
	free(text);
	assert_int_equal(customers_count(fx->c), n);
	for (i = 1; i <= n; i += 997) {
		snprintf(id, sizeof(id), "id-%zu", i);
		assert_string_equal(fx_get(fx, id, "customer_id"), id);
	}
	assert_null(customers_find(fx->c, "id-0"));
	assert_null(customers_find(fx->c, "id-20001"));
}

/* The table shipped in config/ maps the DefensX fixtures' customer. */
static void
test_shipped_sample_maps_the_fixture_customer(void **state)
{
	struct fx *fx = *state;
	const char *data = getenv("PSABRIDGE_TEST_DATA");
	char path[PATH_MAX];

	assert_non_null(data);
	snprintf(path, sizeof(path), "%s/../../config/customers.csv", data);
	assert_int_equal(
	    customers_load_csv(path, CUSTOMERS_HOLD, &fx->c, &fx->d), 0);
	assert_int_equal(fx->d.len, 0);
	assert_string_equal(fx_get(fx, DEFENSX_ID, "name"), "Contoso Ltd");
	assert_string_equal(fx_get(fx, DEFENSX_ID, "connectwise_company"),
			    "Contoso");
	assert_null(customers_find(fx->c, "unknown"));
}

/* --- the config group --------------------------------------------------- */

static void
test_config_group_loads_relative_file_and_policy(void **state)
{
	struct fx *fx = *state;

	fixture_write(&fx->tmp, "customers.csv", 0644, HEADER "*,A,B,0\n",
		      strlen(HEADER "*,A,B,0\n"));
	assert_int_equal(fx_cfg(fx, "customers = {\n"
				    "  file = \"customers.csv\";\n"
				    "  unmapped = \"default\";\n"
				    "};\n"),
			 0);
	assert_string_equal(customers_file(fx->c), fx->csv);
	assert_int_equal(customers_policy(fx->c), CUSTOMERS_DEFAULT);
	assert_non_null(customers_find(fx->c, "anything"));
}

static void
test_config_unmapped_defaults_to_hold_and_absolute_path_is_kept(void **state)
{
	struct fx *fx = *state;
	char cfg[PATH_MAX + 64];

	fixture_write(&fx->tmp, "customers.csv", 0644, HEADER, strlen(HEADER));
	snprintf(cfg, sizeof(cfg), "customers = { file = \"%s\"; };\n",
		 fx->csv);
	assert_int_equal(fx_cfg(fx, cfg), 0);
	assert_int_equal(customers_policy(fx->c), CUSTOMERS_HOLD);
	assert_string_equal(customers_file(fx->c), fx->csv);
}

static void
test_config_unknown_key_is_error_at_its_line(void **state)
{
	struct fx *fx = *state;

	fixture_write(&fx->tmp, "customers.csv", 0644, HEADER, strlen(HEADER));
	fx_failed(fx,
		  fx_cfg(fx, "customers = {\n"
			     "  file = \"customers.csv\";\n"
			     "  unmaped = \"drop\";\n"
			     "};\n"),
		  1);
	assert_true(fixture_diag_has(&(fx)->d, DIAG_ERROR, fx->cfgpath, 3,
				     "unknown key \"unmaped\" in customers"));
}

static void
test_config_bad_unmapped_value_is_error_at_its_line(void **state)
{
	struct fx *fx = *state;

	fixture_write(&fx->tmp, "customers.csv", 0644, HEADER, strlen(HEADER));
	fx_failed(fx,
		  fx_cfg(fx, "customers = {\n"
			     "  file = \"customers.csv\";\n"
			     "\n"
			     "  unmapped = \"ignore\";\n"
			     "};\n"),
		  1);
	assert_true(
	    fixture_diag_has(&(fx)->d, DIAG_ERROR, fx->cfgpath, 4,
			     "customers.unmapped: unknown policy \"ignore\" "
			     "(expected \"hold\", \"default\" or \"drop\")"));
}

static void
test_config_wrong_types_are_errors(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx,
		  fx_cfg(fx, "customers = {\n"
			     "  file = 42;\n"
			     "  unmapped = true;\n"
			     "};\n"),
		  2);
	assert_true(
	    fixture_diag_has(&(fx)->d, DIAG_ERROR, fx->cfgpath, 2,
			     "customers.file: expected a string, got an "
			     "integer"));
	assert_true(
	    fixture_diag_has(&(fx)->d, DIAG_ERROR, fx->cfgpath, 3,
			     "customers.unmapped: expected a string, got a "
			     "boolean"));
}

static void
test_config_missing_file_key_is_error_at_group(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx, fx_cfg(fx, "\ncustomers = { unmapped = \"hold\"; };\n"),
		  1);
	assert_true(
	    fixture_diag_has(&(fx)->d, DIAG_ERROR, fx->cfgpath, 2,
			     "missing required key \"file\" in customers"));
}

static void
test_config_missing_csv_is_error_at_file_line_with_errno(void **state)
{
	struct fx *fx = *state;
	char want[PATH_MAX + 64];

	fx_failed(fx,
		  fx_cfg(fx, "customers = {\n"
			     "  file = \"nowhere.csv\";\n"
			     "};\n"),
		  1);
	snprintf(want, sizeof(want),
		 "customers.file: \"%s/nowhere.csv\": cannot read: No such "
		 "file or directory",
		 fx->tmp.path);
	assert_true(
	    fixture_diag_has(&(fx)->d, DIAG_ERROR, fx->cfgpath, 2, want));
}

static void
test_config_and_csv_errors_are_reported_together(void **state)
{
	struct fx *fx = *state;

	fixture_write(&fx->tmp, "customers.csv", 0644, HEADER "a1,A,B\n",
		      strlen(HEADER "a1,A,B\n"));
	fx_failed(fx,
		  fx_cfg(fx, "customers = {\n"
			     "  file = \"customers.csv\";\n"
			     "  unmapped = \"dflt\";\n"
			     "};\n"),
		  2);
	assert_true(fixture_diag_has(&(fx)->d, DIAG_ERROR, fx->cfgpath, 3,
				     "unknown policy"));
	assert_true(fx_csv_error(fx, 2, "row has 3 fields"));
}

static void
test_config_not_a_group_is_error(void **state)
{
	struct fx *fx = *state;

	fx_failed(fx, fx_cfg(fx, "customers = \"customers.csv\";\n"), 1);
	assert_true(
	    fixture_diag_has(&(fx)->d, DIAG_ERROR, fx->cfgpath, 1,
			     "customers: expected a group, got a string"));
}

static void
test_free_null_is_safe(void **state)
{
	(void)state;
	customers_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
	    T(test_quoted_fields_keep_commas_quotes_and_line_breaks),
	    T(test_utf8_names_are_kept_byte_for_byte),
	    T(test_extra_columns_are_keys_and_order_is_free),
	    T(test_bom_at_file_start_is_not_part_of_first_column),
	    T(test_crlf_line_endings_leave_no_carriage_return),
	    T(test_crlf_and_lone_cr_lines_are_counted),
	    T(test_spaces_around_unquoted_fields_are_dropped),
	    T(test_header_names_are_trimmed_even_when_quoted),
	    T(test_empty_lines_are_skipped_and_still_counted),
	    T(test_last_row_without_newline_is_read),
	    T(test_errors_after_multiline_fields_name_physical_lines),
	    T(test_row_errors_name_the_line_where_the_row_starts),
	    T(test_missing_required_column_is_error_at_header),
	    T(test_duplicate_and_unnamed_columns_are_errors),
	    T(test_wrong_field_count_names_line_and_counts),
	    T(test_duplicate_id_names_both_lines),
	    T(test_empty_id_is_error),
	    T(test_unterminated_quote_names_the_opening_line),
	    T(test_stray_quotes_are_errors_and_later_lines_still_checked),
	    T(test_quote_error_in_header_stops_the_check),
	    T(test_invalid_utf8_is_error_with_line),
	    T(test_nul_byte_is_error),
	    T(test_utf16_file_is_error),
	    T(test_empty_file_is_error),
	    T(test_header_only_is_an_empty_table),
	    T(test_overlong_field_is_error),
	    T(test_file_over_16_mib_is_refused),
	    T(test_missing_csv_file_names_errno),
	    T(test_directory_is_not_a_regular_file),
	    T(test_errors_stop_after_fifty),
	    T(test_more_than_256_columns_is_error),
	    T(test_every_problem_is_reported_at_once),
	    T(test_default_policy_falls_back_to_star_row),
	    T(test_default_policy_without_star_row_is_error),
	    T(test_hold_and_drop_return_null_for_unknown_ids),
	    T(test_lookup_in_a_large_table),
	    T(test_shipped_sample_maps_the_fixture_customer),
	    T(test_config_group_loads_relative_file_and_policy),
	    T(test_config_unmapped_defaults_to_hold_and_absolute_path_is_kept),
	    T(test_config_unknown_key_is_error_at_its_line),
	    T(test_config_bad_unmapped_value_is_error_at_its_line),
	    T(test_config_wrong_types_are_errors),
	    T(test_config_missing_file_key_is_error_at_group),
	    T(test_config_missing_csv_is_error_at_file_line_with_errno),
	    T(test_config_and_csv_errors_are_reported_together),
	    T(test_config_not_a_group_is_error),
	    T(test_free_null_is_safe),
#undef T
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
