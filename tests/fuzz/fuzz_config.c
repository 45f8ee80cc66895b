/*
 * libFuzzer target: the configuration loader on arbitrary file contents
 * (every key's checks, rules, targets; secrets from env: only, set here).
 */
#include <stdint.h>
#include <stdlib.h>

#include "fuzz_file.h"
#include "psabridge/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size, "psabridge.cfg");
	struct config *cfg = NULL;
	struct diag d;

	setenv("FUZZ_TOKEN", "fuzz-token-value", 1);
	diag_init(&d);
	if (config_load(path, &cfg, &d) == 0)
		config_free(cfg);
	diag_free(&d);
	return 0;
}
