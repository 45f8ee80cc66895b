/*
 * The render, template and check-events tools: the delivery path up to
 * the point where a request would leave, printed instead of sent.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "psabridge/config.h"
#include "psabridge/envelope.h"
#include "psabridge/render.h"
#include "psabridge/router.h"
#include "psabridge/target.h"
#include "psabridge/templates.h"

#define RENDER_INPUT_MAX (16 * 1024 * 1024)

static int
render_read_stdin(char **out, size_t *len)
{
	size_t cap = 65536, n = 0, r;
	char *buf = malloc(cap + 1), *p;

	if (buf == NULL)
		return -1;
	while ((r = fread(buf + n, 1, cap - n, stdin)) > 0) {
		n += r;
		if (n == cap) {
			if (cap >= RENDER_INPUT_MAX ||
			    (p = realloc(buf, cap * 2 + 1)) == NULL) {
				free(buf);
				errno = EFBIG;
				return -1;
			}
			buf = p;
			cap *= 2;
		}
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* Reads path, or stdin when path is NULL or "-". */
static int
render_read_input(const char *path, char **out, size_t *len)
{
	if (path == NULL || strcmp(path, "-") == 0)
		return render_read_stdin(out, len);
	return templates_read_file(path, RENDER_INPUT_MAX, out, len);
}

static void
render_explain_cb(const struct rules_rule *rule, int matched, const char *why,
		  void *arg)
{
	FILE *out = arg;

	if (matched)
		fprintf(out, "rule %s: matched\n", rule->name);
	else
		fprintf(out, "rule %s: no match: %s\n", rule->name, why);
}

/* A dry run's request, printed (out NULL: checked only). */
static void
render_dry_print(const struct target_request *req, void *arg)
{
	if (arg != NULL)
		target_request_print(arg, req);
}

/* Builds and prints one job; 0, or -1 with the problem in d. */
static int
render_job(const struct config *cfg, const struct router *r, cJSON *ctx,
	   const struct store_job *job, const char *label, FILE *out,
	   struct diag *d)
{
	const struct target *t = targets_find(&cfg->targets, job->target);
	struct target_job tj = {
	    .id = "00000000-0000-7000-8000-000000000000",
	    .event_id = "00000000-0000-7000-8000-000000000000",
	    .rule = job->rule,
	    .action = job->action,
	    .template = job->template,
	    .correlate = job->correlate,
	    .ctx = ctx,
	    .templates = router_templates(r),
	    .flags = job->flags,
	    .when = cJSON_GetStringValue(cJSON_GetObjectItem(ctx, "time_iso")),
	};
	struct target_request req;
	char err[512];

	cJSON_DeleteItemFromObjectCaseSensitive(ctx, "rule");
	cJSON_AddStringToObject(ctx, "rule", job->rule);
	if (out != NULL)
		fprintf(out, "  action %s on target %s%s%s%s\n", job->action,
			job->target, job->correlate ? ", correlate " : "",
			job->correlate ? job->correlate : "",
			job->held ? " (held: customer not mapped)" : "");
	if (t != NULL && t->ops->exchange != NULL && job->held) {
		/* no company to open it for until the customer is mapped */
		if (out != NULL)
			fprintf(out,
				"  not sent until the customer is mapped\n");
		return 0;
	}
	if (t != NULL && t->ops->exchange != NULL) {
		/* a PSA exchange: every request, as if no ticket existed */
		if (target_dry_run(t, &tj, render_dry_print, out, err,
				   sizeof(err)) == -1) {
			diag_error(d, label, 0, "rule %s, target %s: %s",
				   job->rule, job->target, err);
			return -1;
		}
		if (out != NULL && err[0] != '\0')
			fprintf(out, "  then: %s\n", err);
		return 0;
	}
	if (t == NULL || target_build(t, &tj, &req, err, sizeof(err)) == -1) {
		diag_error(d, label, 0, "rule %s, target %s: %s", job->rule,
			   job->target, t ? err : "no such target");
		return -1;
	}
	if (out != NULL)
		target_request_print(out, &req);
	target_request_clear(&req);
	return 0;
}

int
render_event(const struct config *cfg, const struct router *r,
	     const char *label, const char *body, size_t len, FILE *out,
	     struct diag *d)
{
	struct store_event ev = {0};
	struct router_result res;
	struct envelope env;
	char err[200], id[256];
	cJSON *ctx = NULL;
	int mapped, problems = 0;
	size_t i;

	cJSON *tree = NULL;

	if (envelope_parse_tree(body, len, &env, &tree, err, sizeof(err)) ==
	    -1) {
		diag_error(d, label, 0, "not a callback psabridge accepts: %s",
			   err);
		return 1;
	}
	ev.source = cfg->nsources > 0 ? cfg->sources[0].name : "render";
	ev.event_type = env.event;
	ev.body = body;
	ev.body_len = len;
	ev.received_ms = (int64_t)time(NULL) * 1000;
	/* routing takes its own copy of the tree; ctx is for explaining */
	ctx = router_context(r, cJSON_Duplicate(tree, 1), ev.source,
			     ev.received_ms, &mapped);
	if (ctx == NULL || router_route(r, &ev, tree, &res) == -1) {
		diag_error(d, label, 0, "cannot route the event");
		cJSON_Delete(ctx);
		return 1;
	}
	rules_value(ctx, "payload.customer_id", id, sizeof(id));
	if (out != NULL) {
		fprintf(out, "event %s (%s)\ncustomer %s: %s\n", env.event,
			label, id[0] ? id : "(none)",
			router_customers(r) == NULL ? "no customer table"
			: mapped		    ? "mapped"
				 : "not in the customer table");
		if (router_rules(r) != NULL)
			rules_explain(router_rules(r), ctx, render_explain_cb,
				      out);
		fprintf(out, "result: %s, %zu job(s)\n", ev.state, ev.njobs);
	}
	for (i = 0; i < ev.njobs; i++)
		problems +=
		    render_job(cfg, r, ctx, &ev.jobs[i], label, out, d) == -1;
	router_result_clear(&res);
	cJSON_Delete(ctx);
	return problems;
}

int
render_events_dir(const struct config *cfg, const struct router *r,
		  const char *dir, size_t *count, struct diag *d)
{
	char path[4096], *body;
	struct dirent *de;
	size_t len, n;
	DIR *dp;
	int ret = 0;

	*count = 0;
	if ((dp = opendir(dir)) == NULL) {
		diag_error(d, dir, 0, "cannot open the events folder: %s",
			   strerror(errno));
		return -1;
	}
	while ((de = readdir(dp)) != NULL) {
		n = strlen(de->d_name);
		if (n < 6 || strcmp(de->d_name + n - 5, ".json") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (templates_read_file(path, RENDER_INPUT_MAX, &body, &len) ==
		    -1) {
			diag_error(d, path, 0, "cannot read: %s",
				   strerror(errno));
			ret = -1;
			continue;
		}
		if (render_event(cfg, r, path, body, len, NULL, d) > 0)
			ret = -1;
		(*count)++;
		free(body);
	}
	closedir(dp);
	return ret;
}

static const char render_usage[] =
    "usage: psabridge render -c FILE [EVENT.json]\n"
    "\n"
    "Shows what psabridge would do with a callback (EVENT.json, or standard\n"
    "input): which rules match and why the others do not, and for every\n"
    "action the exact request its target would send, secrets as ***.\n"
    "Nothing is sent and nothing is stored.\n";

int
render_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	const char *path = NULL, *input;
	struct config *cfg = NULL;
	struct router *r = NULL;
	char *body = NULL;
	struct diag d;
	size_t len;
	int ch, ret = 1;

	diag_init(&d);
	optind = 1;
	while ((ch = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		if (ch == 'c') {
			path = optarg;
		} else if (ch == 'h') {
			fputs(render_usage, stdout);
			return 0;
		} else {
			fputs(render_usage, stderr);
			return 2;
		}
	}
	if (path == NULL || argc - optind > 1) {
		fputs(render_usage, stderr);
		return 2;
	}
	input = optind < argc ? argv[optind] : NULL;
	if (render_read_input(input, &body, &len) == -1) {
		fprintf(stderr, "%s: cannot read: %s\n",
			input ? input : "stdin", strerror(errno));
		goto out;
	}
	if (config_load(path, &cfg, &d) == -1 ||
	    (r = router_from_config(cfg, &d)) == NULL)
		goto out;
	ret = render_event(cfg, r, input ? input : "stdin", body, len, stdout,
			   &d) > 0;
out:
	diag_print(&d, stderr);
	diag_free(&d);
	router_unref(r);
	config_free(cfg);
	free(body);
	return ret;
}

static const char template_usage[] =
    "usage: psabridge template FILE [DATA.json] [--json]\n"
    "\n"
    "Renders one template file with DATA.json (or standard input) as its\n"
    "context and prints the result, or the template error with its line\n"
    "and column.  NAME.ticket prints the ticket's fields and description;\n"
    "NAME.json.mustache escapes values for JSON, other files do not unless\n"
    "--json is given.  Partials come from FILE's folder.\n";

static void
render_print_ticket(const struct ticket *tk)
{
	int f;

	for (f = 0; f < TICKET_NFIELDS; f++) {
		if (tk->field[f] != NULL)
			printf("%s: %s\n", ticket_field_name(f), tk->field[f]);
	}
	printf("\n%s", tk->description);
}

/* Compiles and renders src; 0, or -1 with me filled. */
static int
render_template_text(const char *file, const char *src, size_t len,
		     const cJSON *ctx, int json, struct mustache_error *me)
{
	char dir[4096], *slash, *out = NULL;
	struct ticket_template *tt = NULL;
	struct mustache *m = NULL;
	enum templates_kind kind = TEMPLATES_TEXT;
	struct ticket tk;
	size_t n = strlen(file), outlen;
	int ret = -1;

	snprintf(dir, sizeof(dir), "%s", file);
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	else
		snprintf(dir, sizeof(dir), ".");
	if (n > 7 && strcmp(file + n - 7, ".ticket") == 0)
		kind = TEMPLATES_TICKET;
	else if (json ||
		 (n > 14 && strcmp(file + n - 14, ".json.mustache") == 0))
		kind = TEMPLATES_JSON;
	if (kind == TEMPLATES_TICKET) {
		if (ticket_template_compile(src, len,
					    templates_partial_from_dir, dir,
					    &tt, me) == -1 ||
		    ticket_render(tt, ctx, &tk, me) == -1)
			goto out;
		render_print_ticket(&tk);
		ticket_clear(&tk);
	} else {
		if (mustache_compile(src, len, templates_partial_from_dir, dir,
				     &m, me) == -1 ||
		    mustache_render(m, ctx, templates_escape(kind),
				    RENDER_INPUT_MAX, &out, &outlen, me) == -1)
			goto out;
		fwrite(out, 1, outlen, stdout);
	}
	ret = 0;
out:
	free(out);
	mustache_free(m);
	ticket_template_free(tt);
	return ret;
}

int
render_template_main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	char *src = NULL, *data = NULL;
	struct mustache_error me = {0, 0, ""};
	const char *file, *dpath;
	cJSON *ctx = NULL;
	size_t slen, dlen;
	int ch, json = 0, ret = 1;

	optind = 1;
	while ((ch = getopt_long(argc, argv, "jh", longopts, NULL)) != -1) {
		if (ch == 'j') {
			json = 1;
		} else if (ch == 'h') {
			fputs(template_usage, stdout);
			return 0;
		} else {
			fputs(template_usage, stderr);
			return 2;
		}
	}
	if (argc - optind < 1 || argc - optind > 2) {
		fputs(template_usage, stderr);
		return 2;
	}
	file = argv[optind];
	dpath = argc - optind == 2 ? argv[optind + 1] : NULL;
	if (templates_read_file(file, TEMPLATES_FILE_MAX, &src, &slen) == -1) {
		fprintf(stderr, "%s: cannot read: %s\n", file, strerror(errno));
		goto out;
	}
	if (render_read_input(dpath, &data, &dlen) == -1) {
		fprintf(stderr, "%s: cannot read: %s\n",
			dpath ? dpath : "stdin", strerror(errno));
		goto out;
	}
	if ((ctx = cJSON_ParseWithLength(data, dlen)) == NULL) {
		fprintf(stderr, "%s: not valid JSON\n",
			dpath ? dpath : "stdin");
		goto out;
	}
	if (render_template_text(file, src, slen, ctx, json, &me) == -1) {
		fprintf(stderr, "%s:%d:%d: %s\n", file, me.line, me.column,
			me.message);
		goto out;
	}
	ret = 0;
out:
	cJSON_Delete(ctx);
	free(src);
	free(data);
	return ret;
}
