/*
 * The file target: appends one JSON line per job to a file.  The default
 * configuration uses it, so that a new user sees the tickets psabridge
 * would create without any PSA account.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "psabridge/target.h"

struct target_file {
	char *path;
	char *template; /* default template, or NULL */
};

static const char *const target_file_keys[] = {"path", "template", NULL};

static int
target_file_load(const config_setting_t *s, const char *prefix,
		 const char *cfgdir, const struct templates *templates,
		 void **state, struct diag *d)
{
	const char *path = target_string(s, "path", prefix, 1, d);
	const char *tmpl = target_string(s, "template", prefix, 0, d);
	struct target_file *f;
	char buf[PATH_MAX];

	if (path == NULL ||
	    target_check_template(s, "template", prefix, tmpl, templates, d))
		return -1;
	if (path[0] == '/' || strcmp(cfgdir, ".") == 0)
		snprintf(buf, sizeof(buf), "%s", path);
	else
		snprintf(buf, sizeof(buf), "%s/%s", cfgdir, path);
	if ((f = calloc(1, sizeof(*f))) == NULL ||
	    (f->path = strdup(buf)) == NULL ||
	    (tmpl != NULL && (f->template = strdup(tmpl)) == NULL)) {
		if (f != NULL)
			free(f->path);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static void
target_file_free(void *state)
{
	struct target_file *f = state;

	free(f->path);
	free(f->template);
	free(f);
}

static int
target_file_header(cJSON *line, const struct target *t,
		   const struct target_job *job)
{
	return cJSON_AddStringToObject(line, "job", job->id ? job->id : "") &&
	       cJSON_AddStringToObject(line, "event",
				       job->event_id ? job->event_id : "") &&
	       cJSON_AddStringToObject(line, "target", t->name) &&
	       cJSON_AddStringToObject(line, "rule",
				       job->rule ? job->rule : "") &&
	       cJSON_AddStringToObject(line, "action", job->action) &&
	       (job->correlate
		    ? cJSON_AddStringToObject(line, "correlate",
					      job->correlate) != NULL
		    : cJSON_AddNullToObject(line, "correlate") != NULL);
}

/*
 * The rendered content: "ticket" for a ticket template (the fields only:
 * action and correlate are on the line already), else "body", the JSON
 * document or the text.
 */
static int
target_file_content(cJSON *line, const char *body, const char *ctype,
		    int is_ticket)
{
	cJSON *doc, *ticket;

	if (strcmp(ctype, "application/json") != 0)
		return cJSON_AddStringToObject(line, "body", body) != NULL;
	if ((doc = cJSON_Parse(body)) == NULL)
		return 0;
	if (!is_ticket)
		return cJSON_AddItemToObject(line, "body", doc);
	ticket = cJSON_DetachItemFromObjectCaseSensitive(doc, "ticket");
	cJSON_Delete(doc);
	return ticket != NULL && cJSON_AddItemToObject(line, "ticket", ticket);
}

static int
target_file_is_ticket(const struct target_file *f, const struct target_job *job)
{
	const char *name = job->template ? job->template : f->template;
	const struct templates_entry *e =
	    name && job->templates ? templates_find(job->templates, name)
				   : NULL;

	return e != NULL && e->kind == TEMPLATES_TICKET;
}

static int
target_file_build(const struct target *t, const struct target_job *job,
		  struct target_request *req, char *err, size_t errlen)
{
	const struct target_file *f = t->state;
	char *body = NULL, *text = NULL;
	const char *ctype;
	cJSON *line = NULL;
	size_t len;
	int ret = -1;

	if (target_render_body(job, f->template, &body, &len, &ctype, err,
			       errlen) == -1)
		goto out;
	if ((line = cJSON_CreateObject()) == NULL ||
	    !target_file_header(line, t, job) ||
	    !target_file_content(line, body, ctype,
				 target_file_is_ticket(f, job)) ||
	    (text = cJSON_PrintUnformatted(line)) == NULL ||
	    (req->url = strdup(f->path)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	req->body_len = strlen(text) + 1;
	if ((req->body = malloc(req->body_len + 1)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	memcpy(req->body, text, req->body_len - 1);
	memcpy(req->body + req->body_len - 1, "\n", 2);
	ret = 0;
out:
	free(text);
	free(body);
	cJSON_Delete(line);
	return ret;
}

const struct target_ops target_file_ops = {
    .type = "file",
    .keys = target_file_keys,
    .load = target_file_load,
    .free = target_file_free,
    .build = target_file_build,
};
