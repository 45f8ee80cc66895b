/*
 * psabridge: command line entry point.
 *
 * Exit codes: 0 success, 1 configuration or runtime error, 2 usage error.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>
#include <event2/event.h>
#include <libconfig.h>
#include <openssl/crypto.h>
#include <sqlite3.h>

#include "psabridge/config.h"
#include "psabridge/diag.h"
#include "psabridge/log.h"
#include "psabridge/queue.h"
#include "psabridge/render.h"
#include "psabridge/router.h"
#include "psabridge/server.h"
#include "psabridge/store.h"
#include "psabridge/target.h"

#define EXIT_USAGE 2

static const char main_usage[] =
    "usage: psabridge [--version] [--help] COMMAND [ARGS]\n"
    "\n"
    "Receives security-vendor callbacks and turns them into PSA tickets.\n"
    "\n"
    "commands:\n"
    "  serve -c FILE [-v]           run the daemon with configuration FILE\n"
    "  check -c FILE [--events DIR] validate FILE and print every problem\n"
    "  render -c FILE [EVENT.json]  show what an event would become\n"
    "  template FILE [DATA.json]    render one template file\n"
    "  backup -c FILE DEST          copy the store to DEST while running\n"
    "  queue COMMAND -c FILE        list, show, retry, release jobs\n"
    "  test-target -c FILE NAME     create and close a test ticket\n"
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
    "usage: psabridge check -c FILE [--events DIR]\n"
    "\n"
    "Loads FILE as 'serve' would, resolving every secret and compiling\n"
    "every rule and template, renders every sample event (*.json in DIR,\n"
    "default tests/data/defensx when that folder exists) through the\n"
    "rules, and prints 'configuration OK' (exit 0) or every problem as\n"
    "FILE:LINE: message (exit 1).  Warnings do not fail the check.\n"
    "\n"
    "  -c, --config FILE   configuration file\n"
    "  -e, --events DIR    sample callbacks to render\n";

static void
main_version(void)
{
	printf("psabridge %s\n", PSABRIDGE_VERSION);
	printf("libevent %s, cJSON %s, libconfig %d.%d.%d, SQLite %s, %s\n",
	       event_get_version(), cJSON_Version(), LIBCONFIG_VER_MAJOR,
	       LIBCONFIG_VER_MINOR, LIBCONFIG_VER_REVISION,
	       sqlite3_libversion(), OpenSSL_version(OPENSSL_VERSION));
}

struct main_opts {
	const char *config;
	const char *events;
	int verbose;
};

/* Parses -c FILE [-v] [-e DIR] [-h]; returns 0, 1 after help, -1 bad. */
static int
main_options(int argc, char **argv, const char *usage, const char *allowed,
	     struct main_opts *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"verbose", no_argument, NULL, 'v'},
	    {"events", required_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:ve:h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(usage, stdout);
			return 1;
		}
		if (ch == '?' || strchr(allowed, ch) == NULL)
			goto bad;
		if (ch == 'c')
			o->config = optarg;
		else if (ch == 'v')
			o->verbose = 1;
		else if (ch == 'e')
			o->events = optarg;
	}
	if (optind != argc || o->config == NULL) {
		if (o->config == NULL)
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

/* Renders the sample events, when there are any; 0 or -1. */
static int
main_check_events(const struct config *cfg, const struct router *r,
		  const char *dir, struct diag *d, size_t *count)
{
	struct stat st;

	*count = 0;
	if (dir == NULL) {
		dir = "tests/data/defensx";
		if (stat(dir, &st) == -1)
			return 0;
	}
	return render_events_dir(cfg, r, dir, count, d);
}

static int
main_check(int argc, char **argv)
{
	struct main_opts o = {0};
	struct config *cfg = NULL;
	struct router *r = NULL;
	size_t events = 0;
	struct diag d;
	int rc;

	if ((rc = main_options(argc, argv, check_usage, "ce", &o)))
		return rc == 1 ? EXIT_SUCCESS : EXIT_USAGE;
	diag_init(&d);
	rc = config_load(o.config, &cfg, &d);
	if (rc == 0 && (r = router_from_config(cfg, &d)) == NULL)
		rc = -1;
	if (rc == 0)
		rc = main_check_events(cfg, r, o.events, &d, &events);
	diag_print(&d, stderr);
	if (rc == 0 && events > 0)
		printf("configuration OK (%zu sample events rendered)\n",
		       events);
	else if (rc == 0)
		printf("configuration OK\n");
	else
		fprintf(stderr, "%s: %zu error(s)\n", o.config, d.nerrors);
	router_unref(r);
	config_free(cfg);
	diag_free(&d);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static const char backup_usage[] =
    "usage: psabridge backup -c FILE DEST\n"
    "\n"
    "Copies the store of FILE's state_dir into the new file DEST (it must\n"
    "not exist), as one consistent snapshot, while psabridge may be\n"
    "running and committing.  Restore: stop psabridge, copy DEST to\n"
    "STATE_DIR/psabridge.db (removing psabridge.db-wal and -shm), start.\n";

static int
main_backup(int argc, char **argv)
{
	struct main_opts o = {0};
	struct config *cfg = NULL;
	const char *dest;
	char err[512];
	struct diag d;
	int rc;

	/* DEST is the one operand: hide it from main_options */
	if (argc < 2 || argv[argc - 1][0] == '-') {
		if (argc >= 2 && strcmp(argv[argc - 1], "--help") == 0) {
			fputs(backup_usage, stdout);
			return EXIT_SUCCESS;
		}
		fputs(backup_usage, stderr);
		return EXIT_USAGE;
	}
	dest = argv[argc - 1];
	if ((rc = main_options(argc - 1, argv, backup_usage, "c", &o)))
		return rc == 1 ? EXIT_SUCCESS : EXIT_USAGE;
	diag_init(&d);
	rc = config_load(o.config, &cfg, &d);
	diag_print(&d, stderr);
	diag_free(&d);
	if (rc == 0 &&
	    (rc = store_backup(NULL, cfg->state_dir, dest, err, sizeof(err))))
		fprintf(stderr, "psabridge: backup failed: %s\n", err);
	else if (rc == 0)
		printf("backed up %s/psabridge.db to %s\n", cfg->state_dir,
		       dest);
	config_free(cfg);
	return rc == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

static int
main_serve(int argc, char **argv)
{
	struct main_opts o = {0};
	int rc;

	if ((rc = main_options(argc, argv, serve_usage, "cv", &o)))
		return rc == 1 ? EXIT_SUCCESS : EXIT_USAGE;
	if (o.verbose)
		log_set_level(LOG_LEVEL_DEBUG);
	return server_run(o.config);
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
	if (strcmp(cmd, "backup") == 0)
		return main_backup(argc - 1, argv + 1);
	if (strcmp(cmd, "render") == 0)
		return render_main(argc - 1, argv + 1);
	if (strcmp(cmd, "template") == 0)
		return render_template_main(argc - 1, argv + 1);
	if (strcmp(cmd, "queue") == 0)
		return queue_main(argc - 1, argv + 1);
	if (strcmp(cmd, "test-target") == 0)
		return target_test_main(argc - 1, argv + 1);
	fprintf(stderr, "psabridge: unknown command \"%s\"\n\n", cmd);
	fputs(main_usage, stderr);
	return EXIT_USAGE;
}
