/* libFuzzer target: the customer table reader (CSV through libcsv). */
#include <stdint.h>

#include "fuzz_file.h"
#include "psabridge/customers.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, "customers.csv");
	struct customers *c = NULL;
	struct diag d;

	diag_init(&d);
	if (customers_load_csv(path, CUSTOMERS_DEFAULT, &c, &d) == 0) {
		customers_find(c, "c062a202-e090-4e57-ba88-d74dfd2e3455");
		customers_free(c);
	}
	diag_free(&d);
	return 0;
}
