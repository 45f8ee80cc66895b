/*
 * libFuzzer target: the Mustache engine, compiling the input as a template
 * and rendering it in all three escapings against a fixed context, with
 * the input itself also offered as a partial.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "psabridge/mustache.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *fuzz_src;
static size_t fuzz_len;

static int
fuzz_partial(const char *name, char **source, void *arg)
{
	(void)arg;
	if (strcmp(name, "self") != 0)
		return -1;
	*source = strndup(fuzz_src, fuzz_len);
	return *source ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cJSON *ctx;
	struct mustache_error err;
	struct mustache *t = NULL;
	char *out;
	size_t len;
	int esc;

	if (ctx == NULL)
		ctx = cJSON_Parse("{\"payload\":{\"hostname\":\"h\\\"<&\","
				  "\"id\":1650,\"list\":[1,{\"a\":\"b\"},[]],"
				  "\"t\":true,\"n\":null},\"name\":\"x\"}");
	fuzz_src = (const char *)data;
	fuzz_len = size;
	if (mustache_compile((const char *)data, size, fuzz_partial, NULL, &t,
			     &err) == -1)
		return 0;
	for (esc = MUSTACHE_ESCAPE_NONE; esc <= MUSTACHE_ESCAPE_HTML; esc++) {
		if (mustache_render(t, ctx, (enum mustache_escape)esc,
				    64 * 1024, &out, &len, &err) == 0)
			free(out);
	}
	mustache_free(t);
	return 0;
}
