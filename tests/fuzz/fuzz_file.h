/*
 * For targets whose reader takes a file: the input is written to one temp
 * file, reused across runs (libFuzzer runs inputs one at a time).
 */
#ifndef PSABRIDGE_FUZZ_FILE_H
#define PSABRIDGE_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const char *
fuzz_file(const uint8_t *data, size_t size, const char *name)
{
	static char path[256];
	FILE *fp;

	if (path[0] == '\0') {
		char dir[] = "/tmp/psabridge-fuzz-XXXXXX";

		if (mkdtemp(dir) == NULL)
			abort();
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	}
	if ((fp = fopen(path, "wb")) == NULL)
		abort();
	if (size > 0 && fwrite(data, 1, size, fp) != size)
		abort();
	fclose(fp);
	return path;
}

#endif
