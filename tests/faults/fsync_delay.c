/*
 * fsync_delay: an LD_PRELOAD shim for the fault tests (test_ack_barrier.py).
 *
 * Wraps fsync() and fdatasync().  For a file whose path ends in "-wal" or
 * ".db" the real call is made and then the return is held back by
 * PSABRIDGE_FSYNC_DELAY_MS milliseconds (default 300): a slow disk.  Other
 * files (the state directory, logs) pass straight through.
 *
 * Every call, delayed or not, appends one line to the file named by
 * PSABRIDGE_FSYNC_LOG (nothing is logged when it is unset):
 *
 *   <start_ns> <end_ns> <tid> <delayed 0|1> <rc> <path>
 *
 * start_ns: CLOCK_REALTIME when the call was entered; end_ns: just before
 * it returns, after the delay.  The test compares these with the wall time
 * at which each 202 arrived (Python's time.time() reads the same clock).
 * One write(2) per line on an O_APPEND descriptor, so lines from several
 * threads do not interleave.
 *
 * Built without sanitizers (tests/faults/CMakeLists.txt): when the daemon
 * is ASan-instrumented, the test puts libasan first in LD_PRELOAD.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

typedef int (*fsync_fn)(int);

static long long
fsync_delay_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long
fsync_delay_ms(void)
{
	const char *s = getenv("PSABRIDGE_FSYNC_DELAY_MS");
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return 300;
	v = strtol(s, &end, 10);
	return (*end != '\0' || v < 0 || v > 60000) ? 300 : v;
}

static int
fsync_delay_has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The path behind fd, or "?" (with a deleted file's " (deleted)"). */
static void
fsync_delay_path(int fd, char *out, size_t outlen)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, out, outlen - 1);
	if (n < 0)
		n = snprintf(out, outlen, "?");
	out[n] = '\0';
}

static void
fsync_delay_log(long long start, long long end, int delayed, int rc,
		const char *path)
{
	const char *file = getenv("PSABRIDGE_FSYNC_LOG");
	char line[4096 + 128];
	int fd, n;

	if (file == NULL || *file == '\0')
		return;
	n = snprintf(line, sizeof(line), "%lld %lld %ld %d %d %s\n", start, end,
		     (long)syscall(SYS_gettid), delayed, rc, path);
	if (n < 0 || (size_t)n >= sizeof(line))
		return;
	fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return;
	if (write(fd, line, (size_t)n) != n) {
		/* nothing to do: the test notices missing lines */
	}
	close(fd);
}

static int
fsync_delay_call(const char *name, int fd)
{
	fsync_fn real = (fsync_fn)(uintptr_t)dlsym(RTLD_NEXT, name);
	char path[4096];
	long long start = fsync_delay_now_ns(), end;
	int rc, saved, delayed;

	if (real == NULL) {
		errno = ENOSYS;
		return -1;
	}
	rc = real(fd);
	saved = errno;
	fsync_delay_path(fd, path, sizeof(path));
	delayed = fsync_delay_has_suffix(path, "-wal") ||
		  fsync_delay_has_suffix(path, ".db");
	if (delayed) {
		long ms = fsync_delay_ms();
		struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

		while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
			;
	}
	end = fsync_delay_now_ns();
	fsync_delay_log(start, end, delayed, rc, path);
	errno = saved;
	return rc;
}

int
fsync(int fd)
{
	return fsync_delay_call("fsync", fd);
}

int
fdatasync(int fd)
{
	return fsync_delay_call("fdatasync", fd);
}
