/*
 * webui: the operator's web page, served by the admin listener at "/"
 * (index.html) and "/ui/NAME" (the other files of web/).  The files are
 * embedded in the binary at build time (cmake/WebUI.cmake writes them into
 * a generated webui_files.c); nothing is read from disk at run time.
 *
 * The page holds no data and no secret, so it is served without a token;
 * it asks for the admin token, keeps it in the browser's sessionStorage
 * and sends it as "Authorization: Bearer" to the /api/v1 routes.  Every
 * answer carries a Content-Security-Policy that allows only the page's own
 * files (no inline script, no framing).
 */
#ifndef PSABRIDGE_WEBUI_H
#define PSABRIDGE_WEBUI_H

#include <stddef.h>

struct httpd;
struct evhttp_request;

/* One embedded file; data has len bytes plus a NUL. */
struct webui_file {
	const char *name; /* "index.html", "app.js" */
	const char *content_type;
	const unsigned char *data;
	size_t len;
};

/* The embedded files (generated at build time), sorted by name. */
extern const struct webui_file webui_files[];
extern const size_t webui_nfiles;

/* 1 when path belongs to the page: "/" or anything under "/ui/". */
int webui_owns(const char *path);

/* The embedded file for path ("/" is index.html), or NULL. */
const struct webui_file *webui_find(const char *path);

/*
 * Answers req for a path webui_owns(): the file for GET and HEAD, 404
 * when there is no such file, 405 for other methods.
 */
void webui_serve(struct httpd *h, struct evhttp_request *req, const char *path);

#endif
