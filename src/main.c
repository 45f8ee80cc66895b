/*
 * psabridge: command line entry point.
 *
 * Exit codes: 0 success, 1 configuration or runtime error, 2 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <libconfig.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "psabridge/config.h"
#include "psabridge/diag.h"
#include "psabridge/log.h"
#include "psabridge/server.h"

#define EXIT_USAGE 2

static const char main_usage[] =
    "usage: psabridge [--version] [--help] COMMAND [ARGS]\n"
    "\n"
    "Receives security-vendor callbacks and turns them into PSA tickets.\n"
    "\n"
    "commands:\n"
    "  serve -c FILE [-v]   run the daemon with configuration FILE\n"
    "  check -c FILE        validate FILE and print every problem\n"
    "\n"
    "'psabridge COMMAND --help' tells more about a command.\n";

static const char serve_usage[] =
    "usage: psabridge serve -c FILE [-v]\n"
    "\n"
    "Runs the daemon: listens for callbacks, stores every accepted event\n"
    "before answering 202, and serves /healthz on the admin listener.\n"
    "Logs go to stderr, one key=value line per event.\n"
    "\n"
    "  -c, --config FILE   configuration file (see docs/configuration.md)\n"
    "  -v, --verbose       also log debug lines\n"
    "\n"
    "signals: SIGTERM/SIGINT stop after committing what was received;\n"
    "SIGHUP reloads FILE (a config with errors is rejected, the running\n"
    "one stays).\n";

static const char check_usage[] =
    "usage: psabridge check -c FILE\n"
    "\n"
    "Loads FILE as 'serve' would, resolving every secret, and prints\n"
    "'configuration OK' (exit 0) or every problem as FILE:LINE: message\n"
    "(exit 1).  Warnings are printed too and do not fail the check.\n"
    "\n"
    "  -c, --config FILE   configuration file\n";

static void
main_version(void)
{
	printf("psabridge %s\n", PSABRIDGE_VERSION);
	printf("libevent %s, cJSON %s, libconfig %d.%d.%d, SQLite %s, %s\n",
	       event_get_version(), cJSON_Version(), LIBCONFIG_VER_MAJOR,
	       LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION,
	       sqlite3_libversion(), OpenSSL_version(OPENSSL_VERSION));
}

/* Parses -c FILE [-v] [-h]; returns 0, 1 when help was printed, -1 bad. */
static int
main_options(int argc, char **argv, const char *usage, int allow_verbose,
	     const char **config, int *verbose)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			*config = optarg;
			break;
		case 'v':
			if (!allow_verbose)
				goto bad;
			*verbose = 1;
			break;
		case 'h':
			fputs(usage, stdout);
			return 1;
		default:
			goto bad;
		}
	}
	if (optind != argc || *config == NULL) {
		if (*config == NULL)
			fprintf(stderr, "psabridge: -c FILE is required\n");
		else
			fprintf(stderr, "psabridge: unexpected argument %s\n",
				argv[optind]);
		goto bad;
	}
	return 0;
bad:
	fputs(usage, stderr);
	return -1;
}

static int
main_check(int argc, char **argv)
{
	const char *path = NULL;
	struct config *cfg = NULL;
	struct diag d;
	int verbose = 0, rc;

	if ((rc = main_options(argc, argv, check_usage, 0, &path, &verbose)))
		return rc == 1 ? EXIT_SUCCESS : EXIT_USAGE;
	diag_init(&d);
	rc = config_load(path, &cfg, &d);
	diag_print(&d, stderr);
	if (rc == 0)
		printf("configuration OK\n");
	else
		fprintf(stderr, "%s: %zu error(s)\n", path, d.nerrors);
	config_free(cfg);
	diag_free(&d);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int
main_serve(int argc, char **argv)
{
	const char *path = NULL;
	int verbose = 0, rc;

	if ((rc = main_options(argc, argv, serve_usage, 1, &path, &verbose)))
		return rc == 1 ? EXIT_SUCCESS : EXIT_USAGE;
	if (verbose)
		log_set_level(LOG_LEVEL_DEBUG);
	return server_run(path);
}

int
main(int argc, char **argv)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;

	if (cmd == NULL) {
		fputs(main_usage, stderr);
		return EXIT_USAGE;
	}
	if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
		main_version();
		return EXIT_SUCCESS;
	}
	if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
	    strcmp(cmd, "help") == 0) {
		fputs(main_usage, stdout);
		return EXIT_SUCCESS;
	}
	if (strcmp(cmd, "serve") == 0)
		return main_serve(argc - 1, argv + 1);
	if (strcmp(cmd, "check") == 0)
		return main_check(argc - 1, argv + 1);
	fprintf(stderr, "psabridge: unknown command \"%s\"\n\n", cmd);
	fputs(main_usage, stderr);
	return EXIT_USAGE;
}
