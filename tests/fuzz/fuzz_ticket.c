/* libFuzzer target: ticket templates (the header/description split). */
#include <stdint.h>
#include <stdlib.h>

#include "psabridge/ticket.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cJSON *ctx;
	struct ticket_template *t = NULL;
	struct mustache_error err;
	struct ticket tk;

	if (ctx == NULL)
		ctx =
		    cJSON_Parse("{\"payload\":{\"hostname\":\"a\\r\\nPriority:"
				" low\",\"id\":\"x\"}}");
	if (ticket_template_compile((const char *)data, size, NULL, NULL, &t,
				    &err) == -1)
		return 0;
	if (ticket_render(t, ctx, &tk, &err) == 0)
		ticket_clear(&tk);
	ticket_template_free(t);
	return 0;
}
