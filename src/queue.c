/*
 * psabridge queue: the operator's command line over the admin API.  One
 * blocking libcurl request per question (a CLI has nothing else to do
 * meanwhile); the answer is printed as the API's JSON (--json) or, by
 * queue_print.c, as tables and blocks for people.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <openssl/crypto.h>

#include "psabridge/config.h"
#include "psabridge/diag.h"
#include "psabridge/queue.h"
#include "queue-internal.h"

#define QUEUE_EXIT_USAGE 2
#define QUEUE_TIMEOUT_S	 10
#define QUEUE_ANSWER_MAX (16 * 1024 * 1024)
#define QUEUE_LIMIT_MAX	 1000 /* what the store answers at most */
#define QUEUE_LIMIT_DFLT 50   /* what it answers without a limit */
#define QUEUE_PATH_MAX	 256

struct queue_opts {
	const char *config, *state, *target;
	long limit;
	int json, all_dead;
	int nargs;
	char **args;
};

/* An answer, capped at QUEUE_ANSWER_MAX. */
struct queue_buf {
	char *data;
	size_t len, cap;
	int toobig;
};

/* One conversation with the admin listener. */
struct queue_ctx {
	const struct queue_opts *o;
	CURL *curl;
	struct curl_slist *headers; /* the token, wiped before it is freed */
	int has_token;
	char addr[128];	       /* host:port as connected to */
	char base[144];	       /* http://addr */
	struct queue_buf body; /* the last answer */
	cJSON *doc;	       /* ... parsed */
};

enum queue_rc { QUEUE_OK, QUEUE_NOT_FOUND, QUEUE_FAILED };

/* --- HTTP --------------------------------------------------------------- */

static size_t
queue_write(char *ptr, size_t size, size_t nmemb, void *arg)
{
	struct queue_buf *b = arg;
	size_t n = size * nmemb, cap;
	char *p;

	if (n > QUEUE_ANSWER_MAX - b->len) {
		b->toobig = 1;
		return 0;
	}
	if (b->len + n + 1 > b->cap) {
		for (cap = b->cap ? b->cap : 4096; cap < b->len + n + 1;)
			cap *= 2;
		if ((p = realloc(b->data, cap)) == NULL)
			return 0;
		b->data = p;
		b->cap = cap;
	}
	memcpy(b->data + b->len, ptr, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

static void
queue_transport_error(struct queue_ctx *q, CURLcode rc, const char *errbuf)
{
	if (rc == CURLE_COULDNT_CONNECT)
		fprintf(stderr,
			"psabridge queue: cannot reach the admin listener at "
			"%s: is psabridge running?\n",
			q->addr);
	else if (rc == CURLE_OPERATION_TIMEDOUT)
		fprintf(stderr,
			"psabridge queue: the admin listener at %s did not "
			"answer within %d s\n",
			q->addr, QUEUE_TIMEOUT_S);
	else if (rc == CURLE_WRITE_ERROR && q->body.toobig)
		fprintf(stderr,
			"psabridge queue: the answer of the admin listener at "
			"%s is larger than %d MiB\n",
			q->addr, QUEUE_ANSWER_MAX >> 20);
	else
		fprintf(stderr,
			"psabridge queue: talking to the admin listener at "
			"%s: %s\n",
			q->addr, errbuf[0] ? errbuf : curl_easy_strerror(rc));
}

/* A refusal: 401 names the token, anything else the API's own words. */
static void
queue_http_error(struct queue_ctx *q, long status)
{
	char e[128], d[QUEUE_CELL];
	cJSON *doc = cJSON_ParseWithLength(q->body.data ? q->body.data : "",
					   q->body.len);

	if (status == 401 && q->has_token)
		fprintf(stderr,
			"psabridge queue: the admin token in %s is not the one "
			"psabridge runs with\n",
			q->o->config);
	else if (status == 401)
		fprintf(stderr,
			"psabridge queue: psabridge asks for an admin token "
			"and %s sets none (admin.token)\n",
			q->o->config);
	else if (cJSON_IsString(cJSON_GetObjectItem(doc, "error")))
		fprintf(stderr,
			"psabridge queue: the admin API answered %ld %s: %s\n",
			status,
			queue_escape(e, sizeof(e), queue_str(doc, "error"), 64),
			queue_escape(d, sizeof(d), queue_str(doc, "detail"),
				     QUEUE_SNIPPET));
	else
		fprintf(
		    stderr, "psabridge queue: the admin API answered %ld: %s\n",
		    status,
		    queue_escape(d, sizeof(d), q->body.data ? q->body.data : "",
				 QUEUE_SNIPPET));
	cJSON_Delete(doc);
}

/*
 * One request: POST (with an empty body) when post, else GET.  QUEUE_OK
 * with the answer parsed in q->doc; QUEUE_NOT_FOUND, silently, for a 404
 * when quiet404 (the caller names what was not found); QUEUE_FAILED after
 * saying why.
 */
static enum queue_rc
queue_call(struct queue_ctx *q, int post, const char *path, int quiet404)
{
	char url[sizeof(q->base) + QUEUE_PATH_MAX], errbuf[CURL_ERROR_SIZE];
	long status = 0;
	CURLcode rc;

	errbuf[0] = '\0';
	q->body.len = 0;
	q->body.toobig = 0;
	cJSON_Delete(q->doc);
	q->doc = NULL;
	snprintf(url, sizeof(url), "%s%s", q->base, path);
	curl_easy_setopt(q->curl, CURLOPT_URL, url);
	curl_easy_setopt(q->curl, CURLOPT_ERRORBUFFER, errbuf);
	if (post) {
		curl_easy_setopt(q->curl, CURLOPT_POSTFIELDS, "");
		curl_easy_setopt(q->curl, CURLOPT_POSTFIELDSIZE, 0L);
	} else {
		curl_easy_setopt(q->curl, CURLOPT_HTTPGET, 1L);
	}
	rc = curl_easy_perform(q->curl);
	curl_easy_setopt(q->curl, CURLOPT_ERRORBUFFER, NULL);
	if (rc != CURLE_OK) {
		queue_transport_error(q, rc, errbuf);
		return QUEUE_FAILED;
	}
	curl_easy_getinfo(q->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status == 404 && quiet404)
		return QUEUE_NOT_FOUND;
	if (status < 200 || status > 299) {
		queue_http_error(q, status);
		return QUEUE_FAILED;
	}
	q->doc = cJSON_ParseWithLength(q->body.data ? q->body.data : "",
				       q->body.len);
	if (q->doc == NULL) {
		fprintf(stderr,
			"psabridge queue: the admin listener at %s answered "
			"%ld with something that is not JSON\n",
			q->addr, status);
		return QUEUE_FAILED;
	}
	return QUEUE_OK;
}

/* --json: the answer exactly as it came, as one line. */
static void
queue_json_out(const struct queue_ctx *q)
{
	fwrite(q->body.data, 1, q->body.len, stdout);
	if (q->body.len == 0 || q->body.data[q->body.len - 1] != '\n')
		putchar('\n');
}

/* Where the daemon's admin listener is: a wildcard means this machine. */
static int
queue_address(struct queue_ctx *q, const char *listen)
{
	char *host = NULL;
	const char *h;
	int port, v6;

	if (config_parse_address(listen, &host, &port) == -1) {
		fprintf(stderr,
			"psabridge queue: admin.listen \"%s\" in %s "
			"is not host:port\n",
			listen, q->o->config);
		return -1;
	}
	if (port == 0) {
		fprintf(stderr,
			"psabridge queue: admin.listen in %s has port 0, "
			"which psabridge picks anew at every start: give the "
			"admin listener a fixed port\n",
			q->o->config);
		free(host);
		return -1;
	}
	h = strcmp(host, "0.0.0.0") == 0 ? "127.0.0.1"
	    : strcmp(host, "::") == 0	 ? "::1"
					 : host;
	v6 = strchr(h, ':') != NULL;
	snprintf(q->addr, sizeof(q->addr), "%s%s%s:%d", v6 ? "[" : "", h,
		 v6 ? "]" : "", port);
	snprintf(q->base, sizeof(q->base), "http://%s", q->addr);
	free(host);
	return 0;
}

/* The Authorization header; the token is wiped from every copy we own. */
static int
queue_auth(struct queue_ctx *q, const char *token)
{
	size_t n = strlen(token) + sizeof("Authorization: Bearer ");
	char *h = malloc(n);

	if (h == NULL)
		return -1;
	snprintf(h, n, "Authorization: Bearer %s", token);
	q->headers = curl_slist_append(NULL, h);
	OPENSSL_cleanse(h, n);
	free(h);
	q->has_token = 1;
	return q->headers != NULL ? 0 : -1;
}

static int
queue_open(struct queue_ctx *q, const struct config *cfg)
{
	if (cfg->admin_listen == NULL) {
		fprintf(stderr,
			"psabridge queue: admin.listen is not set in %s: the "
			"queue commands talk to the admin listener\n",
			q->o->config);
		return -1;
	}
	if (queue_address(q, cfg->admin_listen) == -1)
		return -1;
	if ((q->curl = curl_easy_init()) == NULL ||
	    (cfg->admin_token != NULL &&
	     queue_auth(q, cfg->admin_token) == -1)) {
		fprintf(stderr, "psabridge queue: out of memory\n");
		return -1;
	}
	/* An empty proxy: the token never goes through http_proxy. */
	if (curl_easy_setopt(q->curl, CURLOPT_PROXY, "") != CURLE_OK ||
	    curl_easy_setopt(q->curl, CURLOPT_PROTOCOLS_STR, "http") !=
		CURLE_OK ||
	    curl_easy_setopt(q->curl, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
	    curl_easy_setopt(q->curl, CURLOPT_CONNECTTIMEOUT,
			     (long)QUEUE_TIMEOUT_S) != CURLE_OK ||
	    curl_easy_setopt(q->curl, CURLOPT_TIMEOUT, (long)QUEUE_TIMEOUT_S) !=
		CURLE_OK ||
	    curl_easy_setopt(q->curl, CURLOPT_USERAGENT,
			     "psabridge-queue/" PSABRIDGE_VERSION) !=
		CURLE_OK ||
	    curl_easy_setopt(q->curl, CURLOPT_HTTPHEADER, q->headers) !=
		CURLE_OK ||
	    curl_easy_setopt(q->curl, CURLOPT_WRITEFUNCTION, queue_write) !=
		CURLE_OK ||
	    curl_easy_setopt(q->curl, CURLOPT_WRITEDATA, &q->body) !=
		CURLE_OK) {
		fprintf(stderr, "psabridge queue: libcurl refused an option\n");
		return -1;
	}
	return 0;
}

static void
queue_close(struct queue_ctx *q)
{
	struct curl_slist *h;

	curl_easy_cleanup(q->curl);
	for (h = q->headers; h != NULL; h = h->next)
		OPENSSL_cleanse(h->data, strlen(h->data));
	curl_slist_free_all(q->headers);
	cJSON_Delete(q->doc);
	free(q->body.data);
}

/* --- the commands ------------------------------------------------------- */

#define QUEUE_N(a) (sizeof(a) / sizeof((a)[0]))

/*
 * A list the admin API answers for GET base?limit=&state=&target=, printed
 * with print: "no WHAT" when empty, and a hint when the limit cut it.
 */
static int
queue_listing(struct queue_ctx *q, const char *base, const char *what,
	      void (*print)(const cJSON *rows))
{
	const struct queue_opts *o = q->o;
	char path[QUEUE_PATH_MAX];
	long limit = o->limit ? o->limit : QUEUE_LIMIT_DFLT;
	int n;

	snprintf(path, sizeof(path), "%s?limit=%ld%s%s%s%s", base, limit,
		 o->state ? "&state=" : "", o->state ? o->state : "",
		 o->target ? "&target=" : "", o->target ? o->target : "");
	if (queue_call(q, 0, path, 0) != QUEUE_OK)
		return 1;
	if (o->json) {
		queue_json_out(q);
		return 0;
	}
	if (!cJSON_IsArray(q->doc)) {
		fprintf(stderr, "psabridge queue: the %s are not a list\n",
			what);
		return 1;
	}
	if ((n = cJSON_GetArraySize(q->doc)) == 0) {
		printf("no %s\n", what);
		return 0;
	}
	print(q->doc);
	if (n >= limit)
		printf("(the newest %d; --limit N shows up to %d)\n", n,
		       QUEUE_LIMIT_MAX);
	return 0;
}

static int
queue_list(struct queue_ctx *q)
{
	return queue_listing(q, "/api/v1/jobs", "jobs", queue_print_jobs);
}

static int
queue_show(struct queue_ctx *q)
{
	const char *id = q->o->args[0];
	char path[QUEUE_PATH_MAX];
	enum queue_rc rc;
	int job = 1;

	snprintf(path, sizeof(path), "/api/v1/jobs/%s", id);
	if ((rc = queue_call(q, 0, path, 1)) == QUEUE_NOT_FOUND) {
		job = 0;
		snprintf(path, sizeof(path), "/api/v1/events/%s", id);
		rc = queue_call(q, 0, path, 1);
	}
	if (rc == QUEUE_NOT_FOUND)
		fprintf(stderr, "psabridge queue: no job or event %s\n", id);
	if (rc != QUEUE_OK)
		return 1;
	if (q->o->json)
		queue_json_out(q);
	else if (job)
		queue_print_job(q->doc, 0);
	else
		queue_print_event(q->doc);
	return 0;
}

/* "3 dead jobs of target psa", "1 held job" */
static void
queue_count(double n, const char *what, const char *target)
{
	printf("%.0f %s job%s%s%s", n, what, n == 1 ? "" : "s",
	       target ? " of target " : "", target ? target : "");
}

static int
queue_retry_all(struct queue_ctx *q)
{
	const struct queue_opts *o = q->o;
	char path[QUEUE_PATH_MAX];

	if (!o->json) {
		printf("retrying dead jobs of %s%s...\n",
		       o->target ? "target " : "every target",
		       o->target ? o->target : "");
		fflush(stdout);
	}
	snprintf(path, sizeof(path), "/api/v1/jobs/retry?state=dead%s%s",
		 o->target ? "&target=" : "", o->target ? o->target : "");
	if (queue_call(q, 1, path, 0) != QUEUE_OK)
		return 1;
	if (o->json) {
		queue_json_out(q);
		return 0;
	}
	queue_count(queue_num(q->doc, "changed"), "dead", o->target);
	printf(" queued again\n");
	return 0;
}

/* Looks the job up first: a missing or in-flight job is said so. */
static int
queue_retry(struct queue_ctx *q)
{
	const char *id = q->o->args[0];
	char path[QUEUE_PATH_MAX], state[32];
	enum queue_rc rc;

	if (q->o->all_dead)
		return queue_retry_all(q);
	snprintf(path, sizeof(path), "/api/v1/jobs/%s", id);
	if ((rc = queue_call(q, 0, path, 1)) == QUEUE_NOT_FOUND)
		fprintf(stderr, "psabridge queue: no job %s\n", id);
	if (rc != QUEUE_OK)
		return 1;
	queue_escape(state, sizeof(state), queue_str(q->doc, "state"), 16);
	snprintf(path, sizeof(path), "/api/v1/jobs/%s/retry", id);
	if (queue_call(q, 1, path, 0) != QUEUE_OK)
		return 1;
	if (queue_num(q->doc, "changed") < 1) {
		fprintf(stderr,
			"psabridge queue: job %s was not retried: it is %s "
			"(a job in flight waits for its attempt to end)\n",
			id, strcmp(state, "inflight") ? state : "in flight");
		return 1;
	}
	if (q->o->json)
		queue_json_out(q);
	else
		printf("job %s (%s) queued again\n", id, state);
	return 0;
}

static int
queue_release(struct queue_ctx *q)
{
	const struct queue_opts *o = q->o;
	char path[QUEUE_PATH_MAX];
	double n;

	if (!o->json) {
		printf("releasing held jobs of %s%s...\n",
		       o->target ? "target " : "every target",
		       o->target ? o->target : "");
		fflush(stdout);
	}
	snprintf(path, sizeof(path), "/api/v1/jobs/release%s%s",
		 o->target ? "?target=" : "", o->target ? o->target : "");
	if (queue_call(q, 1, path, 0) != QUEUE_OK)
		return 1;
	if (o->json) {
		queue_json_out(q);
		return 0;
	}
	n = queue_num(q->doc, "changed");
	queue_count(n, "held", o->target);
	printf(" released%s\n",
	       n > 0 ? ": they go out without a customer mapping" : "");
	return 0;
}

static int
queue_replay(struct queue_ctx *q)
{
	const char *id = q->o->args[0];
	char path[QUEUE_PATH_MAX], state[32];
	enum queue_rc rc;
	double n;

	snprintf(path, sizeof(path), "/api/v1/events/%s/replay", id);
	if ((rc = queue_call(q, 1, path, 1)) == QUEUE_NOT_FOUND)
		fprintf(stderr, "psabridge queue: no event %s\n", id);
	if (rc != QUEUE_OK)
		return 1;
	if (q->o->json) {
		queue_json_out(q);
		return 0;
	}
	n = queue_num(q->doc, "jobs");
	printf(
	    "event %s routed again with the current rules: %.0f new "
	    "job%s (%s)\n",
	    id, n, n == 1 ? "" : "s",
	    queue_escape(state, sizeof(state), queue_str(q->doc, "state"), 16));
	return 0;
}

static int
queue_targets(struct queue_ctx *q)
{
	if (queue_call(q, 0, "/api/v1/targets", 0) != QUEUE_OK)
		return 1;
	if (q->o->json)
		queue_json_out(q);
	else if (!cJSON_IsArray(q->doc) || cJSON_GetArraySize(q->doc) == 0)
		printf("no targets configured\n");
	else
		queue_print_targets(q->doc);
	return 0;
}

static int
queue_tickets(struct queue_ctx *q)
{
	return queue_listing(q, "/api/v1/tickets", "tickets",
			     queue_print_tickets);
}

/* The target's state as delivery has it (the enable answer lacks it). */
static int
queue_target_disabled(struct queue_ctx *q, const char *name)
{
	const cJSON *t;

	if (queue_call(q, 0, "/api/v1/targets", 0) != QUEUE_OK)
		return -1;
	cJSON_ArrayForEach(t, q->doc)
	{
		if (strcmp(queue_str(t, "name"), name) == 0)
			return strcmp(queue_str(t, "state"), "disabled") == 0;
	}
	return 0;
}

static int
queue_enable(struct queue_ctx *q)
{
	const char *name = q->o->args[0];
	char path[QUEUE_PATH_MAX];
	enum queue_rc rc;
	int was;

	if ((was = queue_target_disabled(q, name)) == -1)
		return 1;
	snprintf(path, sizeof(path), "/api/v1/targets/%s/enable", name);
	if ((rc = queue_call(q, 1, path, 1)) == QUEUE_NOT_FOUND)
		fprintf(stderr,
			"psabridge queue: no target %s in the configuration "
			"psabridge runs with\n",
			name);
	if (rc != QUEUE_OK)
		return 1;
	if (q->o->json)
		queue_json_out(q);
	else if (was)
		printf("target %s enabled: its jobs go out again\n", name);
	else
		printf("target %s was not disabled: nothing changed\n", name);
	return 0;
}

/* --- the command line --------------------------------------------------- */

static const char queue_usage[] =
    "usage: psabridge queue COMMAND -c FILE [ARGS] [--json]\n"
    "\n"
    "Asks the running psabridge about its delivery queue, and steers it,\n"
    "over the admin listener (admin.listen and admin.token in FILE).\n"
    "\n"
    "commands:\n"
    "  list [--state S] [--target T] [--limit N]  jobs, newest first\n"
    "  show ID                   a job or an event, with every attempt\n"
    "  retry ID | --all-dead [--target T]  send jobs again now\n"
    "  release [--target T]      held jobs go out without a customer "
    "mapping\n"
    "  replay EVENT_ID           route a stored event again\n"
    "  targets                   the targets, their state and counts\n"
    "  tickets [--state open|closed] [--target T]  each key's PSA ticket\n"
    "  enable TARGET             a disabled target delivers again\n"
    "\n"
    "  --json   print the admin API's answer (one JSON document)\n"
    "\n"
    "Exit codes: 0 done, 1 psabridge could not be reached or refused,\n"
    "2 usage error.  'psabridge queue COMMAND --help' tells more.\n";

static const char queue_list_usage[] =
    "usage: psabridge queue list -c FILE [--state STATE] [--target T]\n"
    "                            [--limit N] [--json]\n"
    "\n"
    "Lists jobs, newest first: id, state, target, action, attempts, the\n"
    "last HTTP status, age and the event's type.\n"
    "\n"
    "  --state STATE  pending, held, inflight, done or dead\n"
    "  --target T     only the jobs of target T\n"
    "  --limit N      at most N jobs (1 to 1000, default 50)\n";

static const char queue_show_usage[] =
    "usage: psabridge queue show -c FILE ID [--json]\n"
    "\n"
    "Shows the job ID, or else the event ID with its jobs, and every\n"
    "attempt: when, the HTTP status, how long, the error and the start\n"
    "of the answer.\n";

static const char queue_retry_usage[] =
    "usage: psabridge queue retry -c FILE ID [--json]\n"
    "       psabridge queue retry -c FILE --all-dead [--target T] "
    "[--json]\n"
    "\n"
    "Makes the job ID (dead, done, held or pending), or every dead job\n"
    "(of target T), pending and due now.\n";

static const char queue_release_usage[] =
    "usage: psabridge queue release -c FILE [--target T] [--json]\n"
    "\n"
    "Held jobs (their customer is not in the customer table) go out now\n"
    "without a mapping: every one, or those of target T.\n";

static const char queue_replay_usage[] =
    "usage: psabridge queue replay -c FILE EVENT_ID [--json]\n"
    "\n"
    "Routes the stored event EVENT_ID again with the rules psabridge runs\n"
    "with now; the jobs that come of it are added to the event.\n";

static const char queue_targets_usage[] =
    "usage: psabridge queue targets -c FILE [--json]\n"
    "\n"
    "Lists the targets: type, state (ok, retrying, disabled), jobs in\n"
    "flight, attempts done, retried and dead since start, last error.\n";

static const char queue_tickets_usage[] =
    "usage: psabridge queue tickets -c FILE [--state open|closed] [--target "
    "T]\n"
    "                               [--limit N] [--json]\n"
    "\n"
    "Lists the PSA tickets psabridge knows, newest first: target,\n"
    "correlation key, ticket id, open or closed, and since when.  A create\n"
    "for a key with an open ticket notes that ticket instead.\n";

static const char queue_enable_usage[] =
    "usage: psabridge queue enable -c FILE TARGET [--json]\n"
    "\n"
    "Enables TARGET again after a 410 Gone disabled it.\n";

struct queue_cmd {
	const char *name, *usage;
	const char *opts; /* options besides -c --json --help: s t l a */
	int min_args, max_args;
	int (*run)(struct queue_ctx *q);
};

static const struct queue_cmd queue_cmds[] = {
    {"list", queue_list_usage, "stl", 0, 0, queue_list},
    {"show", queue_show_usage, "", 1, 1, queue_show},
    {"retry", queue_retry_usage, "ta", 0, 1, queue_retry},
    {"release", queue_release_usage, "t", 0, 0, queue_release},
    {"replay", queue_replay_usage, "", 1, 1, queue_replay},
    {"targets", queue_targets_usage, "", 0, 0, queue_targets},
    {"tickets", queue_tickets_usage, "stl", 0, 0, queue_tickets},
    {"enable", queue_enable_usage, "", 1, 1, queue_enable},
};

/* Ids and target names: what goes into a URL path unescaped. */
static int
queue_word_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= 64 &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
			 "YZ0123456789_-") == n;
}

/* A usage error: the message, then the command's usage; returns -1. */
static int __attribute__((format(printf, 2, 3)))
queue_bad(const struct queue_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "psabridge queue %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n", stderr);
	fputs(cmd->usage, stderr);
	return -1;
}

/* One option's value into o; 0, or -1 after saying why. */
static int
queue_option(const struct queue_cmd *cmd, int ch, const char *arg,
	     struct queue_opts *o)
{
	static const char *const jobs[] = {"pending", "held", "inflight",
					   "done",    "dead", NULL};
	static const char *const tickets[] = {"open", "closed", NULL};
	int of_tickets = strcmp(cmd->name, "tickets") == 0;
	const char *const *s = of_tickets ? tickets : jobs;
	char *end;

	switch (ch) {
	case 's':
		for (; *s != NULL; s++)
			if (strcmp(arg, *s) == 0)
				o->state = arg;
		return o->state
			   ? 0
			   : queue_bad(cmd, "\"%s\" is not a state: use %s",
				       arg,
				       of_tickets ? "open or closed"
						  : "pending, held, inflight, "
						    "done or dead");
	case 't':
		o->target = arg;
		return queue_word_ok(arg)
			   ? 0
			   : queue_bad(cmd, "\"%s\" is not a target name", arg);
	case 'l':
		o->limit = strtol(arg, &end, 10);
		return *arg != '\0' && *end == '\0' && o->limit >= 1 &&
			       o->limit <= QUEUE_LIMIT_MAX
			   ? 0
			   : queue_bad(cmd, "--limit takes 1 to %d, not \"%s\"",
				       QUEUE_LIMIT_MAX, arg);
	case 'a':
		o->all_dead = 1;
		return 0;
	}
	return -1;
}

/* Parses a command's options and operands; 0, 1 after --help, -1 bad. */
static int
queue_parse(const struct queue_cmd *cmd, int argc, char **argv,
	    struct queue_opts *o)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"state", required_argument, NULL, 's'},
	    {"target", required_argument, NULL, 't'},
	    {"limit", required_argument, NULL, 'l'},
	    {"all-dead", no_argument, NULL, 'a'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	int ch, i;

	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":c:h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(cmd->usage, stdout);
			return 1;
		} else if (ch == 'c') {
			o->config = optarg;
		} else if (ch == 'j') {
			o->json = 1;
		} else if (ch == ':') {
			return queue_bad(cmd, "%s needs a value",
					 argv[optind - 1]);
		} else if (ch == '?' || strchr(cmd->opts, ch) == NULL) {
			return queue_bad(cmd, "unknown option %s",
					 argv[optind - 1]);
		} else if (queue_option(cmd, ch, optarg, o) == -1) {
			return -1;
		}
	}
	o->args = argv + optind;
	o->nargs = argc - optind;
	if (o->config == NULL)
		return queue_bad(cmd, "-c FILE is required");
	/* retry takes an id or --all-dead; --target goes with the latter */
	if (o->all_dead && o->nargs > 0)
		return queue_bad(cmd, "give an ID or --all-dead, not both");
	if (strcmp(cmd->name, "retry") == 0 && !o->all_dead &&
	    (o->nargs == 0 || o->target != NULL))
		return queue_bad(cmd, "%s",
				 o->target ? "--target goes with --all-dead"
					   : "give a job ID or --all-dead");
	if (o->nargs < cmd->min_args || o->nargs > cmd->max_args)
		return o->nargs < cmd->min_args
			   ? queue_bad(cmd, "an argument is missing")
			   : queue_bad(cmd, "unexpected argument \"%s\"",
				       o->args[cmd->max_args]);
	for (i = 0; i < o->nargs; i++)
		if (!queue_word_ok(o->args[i]))
			return queue_bad(cmd, "\"%s\" is not %s", o->args[i],
					 strcmp(cmd->name, "enable")
					     ? "an id"
					     : "a target name");
	return 0;
}

static int
queue_load(const char *file, struct config **cfg)
{
	struct diag d;
	int rc;

	diag_init(&d);
	/* Warnings are for `check`: here only what stops the command. */
	if ((rc = config_load(file, cfg, &d)) == -1) {
		diag_print(&d, stderr);
		fprintf(stderr, "%s: %zu error(s)\n", file, d.nerrors);
	}
	diag_free(&d);
	return rc;
}

static const struct queue_cmd *
queue_find(const char *name)
{
	size_t i;

	for (i = 0; i < QUEUE_N(queue_cmds); i++)
		if (strcmp(queue_cmds[i].name, name) == 0)
			return &queue_cmds[i];
	return NULL;
}

int
queue_main(int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL;
	const struct queue_cmd *cmd;
	struct queue_opts o = {0};
	struct queue_ctx q = {0};
	struct config *cfg = NULL;
	int rc;

	if (sub != NULL &&
	    (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 ||
	     strcmp(sub, "help") == 0)) {
		fputs(queue_usage, stdout);
		return 0;
	}
	if (sub == NULL || (cmd = queue_find(sub)) == NULL) {
		if (sub != NULL)
			fprintf(stderr,
				"psabridge queue: unknown command "
				"\"%s\"\n\n",
				sub);
		fputs(queue_usage, stderr);
		return QUEUE_EXIT_USAGE;
	}
	if ((rc = queue_parse(cmd, argc - 1, argv + 1, &o)) != 0)
		return rc == 1 ? 0 : QUEUE_EXIT_USAGE;
	if (queue_load(o.config, &cfg) == -1)
		return 1;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "psabridge queue: libcurl did not start\n");
		config_free(cfg);
		return 1;
	}
	q.o = &o;
	rc = queue_open(&q, cfg) == 0 ? cmd->run(&q) : 1;
	queue_close(&q);
	config_free(cfg);
	curl_global_cleanup();
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "psabridge queue: writing the answer failed\n");
		rc = 1;
	}
	return rc;
}
