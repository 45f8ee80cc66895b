/*
 * The operator's web page: the files of web/, embedded at build time, with
 * the headers that keep the page to itself.
 */
#include <stdio.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "psabridge/httpd.h"
#include "psabridge/webui.h"

#define WEBUI_PREFIX "/ui/"

/*
 * The page loads only its own files and talks only to its own origin;
 * no inline script or style can run, even if a value from the API were
 * ever written into the page as markup (app.js only uses textContent).
 * No other site may frame it (clickjacking on the action buttons), and
 * no Referer leaves with a link it shows.
 */
static const char *const webui_headers[][2] = {
    {"Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; "
				"base-uri 'none'; form-action 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"Referrer-Policy", "no-referrer"},
    {"X-Frame-Options", "DENY"},
};

int
webui_owns(const char *path)
{
	return strcmp(path, "/") == 0 ||
	       strncmp(path, WEBUI_PREFIX, strlen(WEBUI_PREFIX)) == 0;
}

const struct webui_file *
webui_find(const char *path)
{
	const char *name;
	size_t i;

	if (strcmp(path, "/") == 0)
		name = "index.html";
	else if (strncmp(path, WEBUI_PREFIX, strlen(WEBUI_PREFIX)) == 0)
		name = path + strlen(WEBUI_PREFIX);
	else
		return NULL;
	for (i = 0; i < webui_nfiles; i++)
		if (strcmp(webui_files[i].name, name) == 0)
			return &webui_files[i];
	return NULL;
}

void
webui_serve(struct httpd *h, struct evhttp_request *req, const char *path)
{
	struct evkeyvalq *out = evhttp_request_get_output_headers(req);
	enum evhttp_cmd_type method = evhttp_request_get_command(req);
	const struct webui_file *f;
	char len[32];
	size_t i;

	for (i = 0; i < sizeof(webui_headers) / sizeof(webui_headers[0]); i++)
		evhttp_add_header(out, webui_headers[i][0],
				  webui_headers[i][1]);
	if (method != EVHTTP_REQ_GET && method != EVHTTP_REQ_HEAD) {
		evhttp_add_header(out, "Allow", "GET, HEAD");
		httpd_reply_error(h, req, 405, "method_not_allowed", "use GET");
		return;
	}
	if ((f = webui_find(path)) == NULL) {
		httpd_reply_error(h, req, 404, "not_found", "no such file");
		return;
	}
	/* evhttp would send a HEAD answer's body, and without its length */
	if (method == EVHTTP_REQ_HEAD) {
		snprintf(len, sizeof(len), "%zu", f->len);
		evhttp_add_header(out, "Content-Length", len);
	} else {
		evbuffer_add_reference(evhttp_request_get_output_buffer(req),
				       f->data, f->len, NULL, NULL);
	}
	httpd_reply_text(h, req, 200, f->content_type);
}
