/*
 * The target table and what every kind shares: loading the list,
 * rendering a job's template, freeing requests.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "psabridge/config.h"
#include "psabridge/target.h"
#include "psabridge/ticket.h"

#define TARGET_BODY_MAX (1024 * 1024)

extern const struct target_ops target_file_ops;
extern const struct target_ops target_webhook_ops;
extern const struct target_ops target_connectwise_ops;
extern const struct target_ops target_autotask_ops;

static const struct target_ops *const target_kinds[] = {
    &target_file_ops,
    &target_webhook_ops,
    &target_connectwise_ops,
    &target_autotask_ops,
};

#define TARGET_DRY_STEPS   16 /* no exchange is longer */
#define TARGET_HEADERS_MAX 40

static const struct target_ops *
target_kind(const char *type)
{
	size_t i;

	for (i = 0; i < sizeof(target_kinds) / sizeof(target_kinds[0]); i++) {
		if (strcmp(target_kinds[i]->type, type) == 0)
			return target_kinds[i];
	}
	return NULL;
}

int
target_check_template(const config_setting_t *s, const char *key,
		      const char *prefix, const char *name,
		      const struct templates *templates, struct diag *d)
{
	const config_setting_t *m = config_setting_get_member(s, key);

	if (name == NULL ||
	    (templates != NULL && templates_find(templates, name) != NULL))
		return 0;
	diag_error(d, config_setting_source_file(m),
		   (int)config_setting_source_line(m),
		   "%s.%s: no template \"%s\" in templates_dir%s", prefix, key,
		   name,
		   templates == NULL ? " (there is no templates folder)" : "");
	return -1;
}

const char *
target_string(const config_setting_t *s, const char *key, const char *prefix,
	      int required, struct diag *d)
{
	const config_setting_t *m = config_setting_get_member(s, key);

	if (m == NULL) {
		if (required)
			diag_error(d, config_setting_source_file(s),
				   (int)config_setting_source_line(s),
				   "%s: missing required key \"%s\"", prefix,
				   key);
		return NULL;
	}
	if (config_setting_type(m) != CONFIG_TYPE_STRING) {
		diag_error(d, config_setting_source_file(m),
			   (int)config_setting_source_line(m),
			   "%s.%s: expected a string", prefix, key);
		return NULL;
	}
	return config_setting_get_string(m);
}

static const char *const target_common_keys[] = {"name",
						 "type",
						 "connect_timeout",
						 "timeout",
						 "ca_file",
						 "tls_insecure",
						 "max_in_flight",
						 "rate",
						 "retry",
						 NULL};

static int
target_key_known(const struct target_ops *ops, const char *key)
{
	const char *const *k;

	for (k = target_common_keys; *k != NULL; k++)
		if (strcmp(*k, key) == 0)
			return 1;
	for (k = ops->keys; k != NULL && *k != NULL; k++) {
		if (strcmp(*k, key) == 0)
			return 1;
	}
	return 0;
}

static int
target_name_ok(const char *name)
{
	size_t n = strlen(name);

	return n > 0 && n <= 64 &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWX"
			    "YZ0123456789_-") == n;
}

static void __attribute__((format(printf, 3, 4)))
target_error_at(struct diag *d, const config_setting_t *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_error(d, config_setting_source_file(m),
		   (int)config_setting_source_line(m), "%s", msg);
}

/* A duration key in milliseconds, kept at *ms when absent. */
static int
target_duration(const config_setting_t *s, const char *key, const char *prefix,
		int64_t *ms, struct diag *d)
{
	const char *v = target_string(s, key, prefix, 0, d);
	long secs;

	if (v == NULL)
		return config_setting_get_member(s, key) ? -1 : 0;
	if (config_parse_duration(v, &secs) == -1 || secs <= 0) {
		target_error_at(d, config_setting_get_member(s, key),
				"%s.%s: expected a duration like \"30s\", "
				"\"5m\", \"1h\"",
				prefix, key);
		return -1;
	}
	*ms = (int64_t)secs * 1000;
	return 0;
}

/* "N/s", "N/m" or "N/h" into dl; 0 or -1. */
static int
target_rate_parse(const char *v, struct target_delivery *dl)
{
	char *end;
	double n;

	n = (v[0] >= '0' && v[0] <= '9') ? strtod(v, &end) : 0;
	if (!(n > 0 && n <= 1e9) || end[0] != '/' || end[1] == '\0' ||
	    end[2] != '\0' || strchr("smh", end[1]) == NULL)
		return -1;
	dl->rate_per_s = n / (end[1] == 's' ? 1 : end[1] == 'm' ? 60 : 3600);
	/* a burst of a few seconds' worth, at least one request */
	dl->burst = dl->rate_per_s * 5 < 1 ? 1 : dl->rate_per_s * 5;
	return 0;
}

static int
target_rate(const config_setting_t *s, const char *prefix,
	    struct target_delivery *dl, struct diag *d)
{
	const char *v = target_string(s, "rate", prefix, 0, d);

	if (v == NULL)
		return config_setting_get_member(s, "rate") ? -1 : 0;
	if (target_rate_parse(v, dl) == -1) {
		target_error_at(d, config_setting_get_member(s, "rate"),
				"%s.%s: expected \"N/s\", \"N/m\" or "
				"\"N/h\", e.g. \"10000/h\"",
				prefix, "rate");
		return -1;
	}
	return 0;
}

static int
target_retry(const config_setting_t *s, const char *prefix,
	     struct target_delivery *dl, struct diag *d)
{
	const config_setting_t *r = config_setting_get_member(s, "retry");
	char where[64];
	int ret = 0, i;

	if (r == NULL)
		return 0;
	snprintf(where, sizeof(where), "%s.retry", prefix);
	if (config_setting_type(r) != CONFIG_TYPE_GROUP) {
		target_error_at(d, r, "%s: expected a group { first = ...; }",
				where);
		return -1;
	}
	for (i = 0; i < config_setting_length(r); i++) {
		const config_setting_t *m =
		    config_setting_get_elem(r, (unsigned int)i);
		const char *k = config_setting_name(m);

		if (strcmp(k, "first") && strcmp(k, "max") &&
		    strcmp(k, "give_up_after")) {
			target_error_at(d, m,
					"%s: unknown key \"%s\" (known: first, "
					"max, give_up_after)",
					where, k);
			ret = -1;
		}
	}
	ret |= target_duration(r, "first", where, &dl->retry_first_ms, d);
	ret |= target_duration(r, "max", where, &dl->retry_max_ms, d);
	ret |= target_duration(r, "give_up_after", where, &dl->give_up_ms, d);
	if (ret == 0 && dl->retry_max_ms < dl->retry_first_ms) {
		target_error_at(d, r, "%s: max is shorter than first", where);
		ret = -1;
	}
	return ret;
}

static int
target_int(const config_setting_t *s, const char *key, const char *prefix,
	   int min, int max, int *out, struct diag *d)
{
	const config_setting_t *m = config_setting_get_member(s, key);

	if (m == NULL)
		return 0;
	if (config_setting_type(m) != CONFIG_TYPE_INT ||
	    config_setting_get_int(m) < min ||
	    config_setting_get_int(m) > max) {
		diag_error(d, config_setting_source_file(m),
			   (int)config_setting_source_line(m),
			   "%s.%s: expected an integer from %d to %d", prefix,
			   key, min, max);
		return -1;
	}
	*out = config_setting_get_int(m);
	return 0;
}

/* The keys every type shares: timeouts, TLS, retries, concurrency. */
static int
target_load_delivery(const config_setting_t *e, const char *prefix,
		     const char *cfgdir, const struct target_ops *ops,
		     struct target_delivery *dl, struct diag *d)
{
	const config_setting_t *m;
	int64_t ct = 10000, to = 30000;
	const char *ca;
	char path[4096];
	int ret = 0;

	dl->retry_first_ms = 5000;
	dl->retry_max_ms = 3600 * 1000;
	dl->give_up_ms = 72LL * 3600 * 1000;
	dl->max_in_flight = ops->max_in_flight > 0 ? ops->max_in_flight : 4;
	if (ops->rate != NULL)
		target_rate_parse(ops->rate, dl);
	/* each checked, so that every mistake is reported at once */
	ret |= target_duration(e, "connect_timeout", prefix, &ct, d);
	ret |= target_duration(e, "timeout", prefix, &to, d);
	ret |= target_int(e, "max_in_flight", prefix, 1, 256,
			  &dl->max_in_flight, d);
	ret |= target_rate(e, prefix, dl, d);
	ret |= target_retry(e, prefix, dl, d);
	dl->connect_timeout_ms = (long)ct;
	dl->timeout_ms = (long)to;
	if ((m = config_setting_get_member(e, "tls_insecure")) != NULL) {
		if (config_setting_type(m) != CONFIG_TYPE_BOOL) {
			target_error_at(d, m, "%s.%s: expected true or false",
					prefix, "tls_insecure");
			ret = -1;
		} else {
			dl->insecure = config_setting_get_bool(m);
		}
	}
	if ((ca = target_string(e, "ca_file", prefix, 0, d)) != NULL) {
		if (ca[0] == '/' || strcmp(cfgdir, ".") == 0)
			snprintf(path, sizeof(path), "%s", ca);
		else
			snprintf(path, sizeof(path), "%s/%s", cfgdir, ca);
		if (access(path, R_OK) == -1) {
			target_error_at(d,
					config_setting_get_member(e, "ca_file"),
					"%s.%s: cannot read \"%s\": %s", prefix,
					"ca_file", path, strerror(errno));
			ret = -1;
		} else if ((dl->ca_file = strdup(path)) == NULL) {
			ret = -1;
		}
	}
	return ret;
}

/* One element of the list; 0, or -1 with d told why. */
static int
target_load_one(const config_setting_t *e, const char *prefix,
		const char *cfgdir, const struct templates *templates,
		struct targets *ts, struct diag *d)
{
	const char *file = config_setting_source_file(e);
	const char *name = target_string(e, "name", prefix, 1, d);
	const char *type = target_string(e, "type", prefix, 1, d);
	struct target *t = &ts->list[ts->n];
	const config_setting_t *m;
	int i, ret = 0;

	if (name == NULL || type == NULL)
		return -1;
	if (!target_name_ok(name)) {
		diag_error(
		    d, file, (int)config_setting_source_line(e),
		    "%s.name: \"%s\" must be 1-64 letters, digits, _ or -",
		    prefix, name);
		ret = -1;
	} else if (targets_find(ts, name) != NULL) {
		diag_error(d, file, (int)config_setting_source_line(e),
			   "%s.name: a target \"%s\" is already defined",
			   prefix, name);
		ret = -1;
	}
	if ((t->ops = target_kind(type)) == NULL) {
		diag_error(d, file, (int)config_setting_source_line(e),
			   "%s.type: unknown target type \"%s\" (known: file, "
			   "webhook, connectwise, autotask)",
			   prefix, type);
		return -1;
	}
	for (i = 0; i < config_setting_length(e); i++) {
		m = config_setting_get_elem(e, (unsigned int)i);
		if (!target_key_known(t->ops, config_setting_name(m))) {
			diag_error(d, file, (int)config_setting_source_line(m),
				   "unknown key \"%s\" in %s (type %s)",
				   config_setting_name(m), prefix, type);
			ret = -1;
		}
	}
	if (t->ops->load(e, prefix, cfgdir, templates, &t->state, d) == -1)
		ret = -1;
	if (target_load_delivery(e, prefix, cfgdir, t->ops, &t->dl, d) == -1)
		ret = -1;
	if ((t->name = strdup(name)) == NULL)
		ret = -1;
	t->line = (int)config_setting_source_line(e);
	ts->n++; /* counted even when broken: targets_clear frees it */
	return ret;
}

int
targets_load(const config_setting_t *list, const char *cfgdir,
	     const struct templates *templates, struct targets *out,
	     struct diag *d)
{
	size_t before = d->nerrors, n, i;
	char prefix[32];
	int ret = 0;

	memset(out, 0, sizeof(*out));
	if (list == NULL)
		return 0;
	if (config_setting_type(list) != CONFIG_TYPE_LIST) {
		diag_error(d, config_setting_source_file(list),
			   (int)config_setting_source_line(list),
			   "targets: expected a list ( { ... }, ... )");
		return -1;
	}
	n = (size_t)config_setting_length(list);
	if ((out->list = calloc(n + 1, sizeof(*out->list))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		const config_setting_t *e =
		    config_setting_get_elem(list, (unsigned int)i);

		snprintf(prefix, sizeof(prefix), "targets[%zu]", i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP) {
			diag_error(d, config_setting_source_file(e),
				   (int)config_setting_source_line(e),
				   "%s: expected a group { ... }", prefix);
			ret = -1;
			continue;
		}
		if (target_load_one(e, prefix, cfgdir, templates, out, d) == -1)
			ret = -1;
	}
	/* a loader may only have told d (a mistyped optional key) */
	if (d->nerrors > before)
		ret = -1;
	if (ret == -1)
		targets_clear(out);
	return ret;
}

void
targets_clear(struct targets *ts)
{
	size_t i;

	for (i = 0; i < ts->n; i++) {
		if (ts->list[i].ops != NULL && ts->list[i].state != NULL)
			ts->list[i].ops->free(ts->list[i].state);
		free(ts->list[i].dl.ca_file);
		free(ts->list[i].name);
	}
	free(ts->list);
	memset(ts, 0, sizeof(*ts));
}

const struct target *
targets_find(const struct targets *ts, const char *name)
{
	size_t i;

	for (i = 0; i < ts->n; i++) {
		if (ts->list[i].name != NULL &&
		    strcmp(ts->list[i].name, name) == 0)
			return &ts->list[i];
	}
	return NULL;
}

int
target_build(const struct target *t, const struct target_job *job,
	     struct target_request *req, char *err, size_t errlen)
{
	memset(req, 0, sizeof(*req));
	if (t->ops->build == NULL) {
		snprintf(err, errlen,
			 "a %s target sends an exchange, not one "
			 "request",
			 t->ops->type);
		return -1;
	}
	if (t->ops->build(t, job, req, err, errlen) == -1) {
		target_request_clear(req);
		return -1;
	}
	return 0;
}

void
target_request_clear(struct target_request *req)
{
	size_t i;

	for (i = 0; i < req->nheaders; i++) {
		free(req->headers[i].name);
		free(req->headers[i].value);
	}
	free(req->headers);
	free(req->method);
	free(req->url);
	free(req->body);
	memset(req, 0, sizeof(*req));
}

int
target_send(struct httpc *h, const struct target_request *req,
	    const struct target_delivery *dl, httpc_done_fn done, void *arg)
{
	struct httpc_header hh[TARGET_HEADERS_MAX];
	struct httpc_request hr = {
	    .method = req->method,
	    .url = req->url,
	    .headers = hh,
	    .body = req->body,
	    .body_len = req->body_len,
	    .connect_timeout_ms = dl->connect_timeout_ms,
	    .timeout_ms = dl->timeout_ms,
	    .ca_file = dl->ca_file,
	    .insecure = dl->insecure,
	    .body_max = req->answer_max,
	};
	size_t i;

	if (req->nheaders > TARGET_HEADERS_MAX)
		return -1;
	for (i = 0; i < req->nheaders; i++) {
		hh[i].name = req->headers[i].name;
		hh[i].value = req->headers[i].value;
	}
	hr.nheaders = req->nheaders;
	return httpc_send(h, &hr, done, arg);
}

void
target_request_print(FILE *out, const struct target_request *req)
{
	size_t i;

	if (req->method == NULL) {
		fprintf(out, "  append to %s:\n  %.*s", req->url,
			(int)req->body_len, req->body);
		return;
	}
	fprintf(out, "  %s %s\n", req->method, req->url);
	for (i = 0; i < req->nheaders; i++)
		fprintf(out, "  %s: %s\n", req->headers[i].name,
			req->headers[i].secret ? "***" : req->headers[i].value);
	if (req->body != NULL)
		fprintf(out, "\n  %.*s\n", (int)req->body_len, req->body);
}

int
target_request_header(struct target_request *req, const char *name,
		      const char *value, int secret)
{
	struct target_header *p;

	p = realloc(req->headers, (req->nheaders + 1) * sizeof(*p));
	if (p == NULL)
		return -1;
	req->headers = p;
	p = &req->headers[req->nheaders];
	p->name = strdup(name);
	p->value = strdup(value);
	p->secret = secret;
	if (p->name == NULL || p->value == NULL) {
		free(p->name);
		free(p->value);
		return -1;
	}
	req->nheaders++;
	return 0;
}

int
target_dry_run(const struct target *t, const struct target_job *job,
	       void (*print)(const struct target_request *req, void *arg),
	       void *arg, char *did, size_t didlen)
{
	const struct target_exchange_ops *x = t->ops->exchange;
	struct target_response resp = {.status = 200, .dry = 1};
	struct target_result res;
	struct target_request req;
	enum target_step step = TARGET_STEP_FAIL;
	void *ex;
	int i;

	if (x == NULL) {
		snprintf(did, didlen, "a %s target has no exchange",
			 t->ops->type);
		return -1;
	}
	if ((ex = x->start(t, job)) == NULL) {
		snprintf(did, didlen, "out of memory");
		return -1;
	}
	memset(&res, 0, sizeof(res));
	for (i = 0; i < TARGET_DRY_STEPS; i++) {
		memset(&req, 0, sizeof(req));
		step = x->step(ex, i == 0 ? NULL : &resp, &req, &res);
		if (step != TARGET_STEP_SEND)
			break;
		print(&req, arg);
		target_request_clear(&req);
	}
	x->end(ex);
	if (step == TARGET_STEP_SEND) {
		snprintf(did, didlen, "the exchange did not end");
		return -1;
	}
	if (step == TARGET_STEP_FAIL) {
		snprintf(did, didlen, "%s", res.error);
		return -1;
	}
	snprintf(did, didlen, "%s", res.did);
	return 0;
}

int
target_render_ticket(const struct target_job *job, const char *default_template,
		     struct ticket *tk, char *err, size_t errlen)
{
	const char *name = job->template ? job->template : default_template;
	const struct templates_entry *e = NULL;
	struct mustache_error me = {0, 0, ""};

	memset(tk, 0, sizeof(*tk));
	if (name == NULL || job->templates == NULL ||
	    (e = templates_find(job->templates, name)) == NULL) {
		snprintf(err, errlen, "no template \"%s\"",
			 name ? name : "(none given)");
		return -1;
	}
	if (e->kind != TEMPLATES_TICKET) {
		snprintf(err, errlen,
			 "%s: a PSA ticket needs a ticket template "
			 "(NAME.ticket)",
			 e->path);
		return -1;
	}
	if (ticket_render(e->ticket, job->ctx, tk, &me) == -1) {
		snprintf(err, errlen, "%s:%d: column %d: %s", e->path, me.line,
			 me.column, me.message);
		return -1;
	}
	return 0;
}

static int
target_ticket_body(const struct target_job *job,
		   const struct templates_entry *e, char **body,
		   struct mustache_error *me)
{
	struct ticket tk;
	cJSON *doc = NULL, *t;

	if (ticket_render(e->ticket, job->ctx, &tk, me) == -1)
		return -1;
	t = ticket_to_json(&tk);
	ticket_clear(&tk);
	if (t == NULL || (doc = cJSON_CreateObject()) == NULL ||
	    !cJSON_AddStringToObject(doc, "action", job->action) ||
	    !(job->correlate
		  ? cJSON_AddStringToObject(doc, "correlate", job->correlate)
		  : cJSON_AddNullToObject(doc, "correlate")) ||
	    !cJSON_AddItemToObject(doc, "ticket", t)) {
		if (doc == NULL || cJSON_GetObjectItem(doc, "ticket") != t)
			cJSON_Delete(t);
		cJSON_Delete(doc);
		snprintf(me->message, sizeof(me->message), "out of memory");
		return -1;
	}
	*body = cJSON_PrintUnformatted(doc);
	cJSON_Delete(doc);
	return *body != NULL ? 0 : -1;
}

int
target_render_body(const struct target_job *job, const char *default_template,
		   char **body, size_t *len, const char **content_type,
		   char *err, size_t errlen)
{
	const char *name = job->template ? job->template : default_template;
	const struct templates_entry *e = NULL;
	struct mustache_error me = {0, 0, ""};
	cJSON *check;
	int rc;

	*body = NULL;
	if (name == NULL || job->templates == NULL ||
	    (e = templates_find(job->templates, name)) == NULL) {
		snprintf(err, errlen, "no template \"%s\"",
			 name ? name : "(none given)");
		return -1;
	}
	if (e->kind == TEMPLATES_TICKET) {
		rc = target_ticket_body(job, e, body, &me);
		*content_type = "application/json";
	} else {
		rc = mustache_render(e->body, job->ctx,
				     templates_escape(e->kind), TARGET_BODY_MAX,
				     body, len, &me);
		*content_type = e->kind == TEMPLATES_JSON
				    ? "application/json"
				    : "text/plain; charset=utf-8";
	}
	if (rc == -1) {
		snprintf(err, errlen, "%s:%d: column %d: %s", e->path, me.line,
			 me.column, me.message);
		free(*body);
		*body = NULL;
		return -1;
	}
	if (e->kind == TEMPLATES_JSON) {
		if ((check = cJSON_ParseWithOpts(*body, NULL, 1)) == NULL) {
			snprintf(err, errlen,
				 "%s: the rendered body is not valid JSON",
				 e->path);
			free(*body);
			*body = NULL;
			return -1;
		}
		cJSON_Delete(check);
	}
	*len = strlen(*body);
	return 0;
}
