/* libFuzzer target: the callback body validator (what the network sends). */
#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "psabridge/envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct envelope env;
	char err[160];
	struct cJSON *tree = NULL;

	if (envelope_parse_tree((const char *)data, size, &env, &tree, err,
				sizeof(err)) == 0)
		cJSON_Delete(tree);
	return 0;
}
