/*
 * The serve command: wiring and signals.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <event2/event.h>
#include <systemd/sd-daemon.h>

#include "psabridge/admin.h"
#include "psabridge/commit.h"
#include "psabridge/config.h"
#include "psabridge/deliver.h"
#include "psabridge/httpc.h"
#include "psabridge/diag.h"
#include "psabridge/ingest.h"
#include "psabridge/log.h"
#include "psabridge/router.h"
#include "psabridge/server.h"
#include "psabridge/store.h"
#include "psabridge/worker.h"

struct server {
	const char *config_path;
	struct config *cfg;
	struct router *router;
	struct event_base *base;
	struct store *store;
	struct commit *commit;
	struct worker *worker;
	struct httpc *httpc;
	struct deliver *deliver;
	struct ingest *ingest;
	struct admin *admin;
	struct event *sigterm, *sigint, *sighup;
	int stopping;
};

static void
server_log_diag(const struct diag *d, int errors_as_errors)
{
	char q[1024];
	size_t i;

	for (i = 0; i < d->len; i++) {
		const struct diag_entry *e = &d->entries[i];

		log_quote(q, sizeof(q), e->text, strlen(e->text), 400);
		if (e->level == DIAG_ERROR && errors_as_errors)
			log_error("msg=\"configuration error\" problem=%s", q);
		else
			log_warn("msg=\"configuration warning\" problem=%s", q);
	}
}

static void
server_drained(void *arg)
{
	struct server *s = arg;

	log_info("msg=\"all acknowledged events are on disk, exiting\"");
	event_base_loopexit(s->base, NULL);
}

static void
server_stop(struct server *s, const char *signame)
{
	if (s->stopping)
		return;
	s->stopping = 1;
	log_info("msg=stopping signal=%s", signame);
	sd_notify(0, "STOPPING=1\nSTATUS=committing what was received");
	ingest_stop(s->ingest);
	admin_stop(s->admin);
	deliver_stop(s->deliver);
	commit_drain(s->commit, server_drained, s);
}

static int
server_changed(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a != b;
	return strcmp(a, b) != 0;
}

static void server_files_limit(struct config *cfg);

static void
server_reload(struct server *s)
{
	struct config *cfg = NULL;
	struct router *r = NULL;
	struct diag d;

	diag_init(&d);
	log_info("msg=reloading config=%s", s->config_path);
	sd_notify(0, "RELOADING=1\nSTATUS=reloading the configuration");
	if (config_load(s->config_path, &cfg, &d) == -1 ||
	    (r = router_from_config(cfg, &d)) == NULL) {
		server_log_diag(&d, 1);
		log_error("msg=\"reload rejected, the running configuration "
			  "stays\" errors=%zu",
			  d.nerrors);
		goto out;
	}
	server_log_diag(&d, 0);
	server_files_limit(cfg);
	if (server_changed(cfg->listen, s->cfg->listen) ||
	    server_changed(cfg->admin_listen, s->cfg->admin_listen) ||
	    server_changed(cfg->tls_listen, s->cfg->tls_listen) ||
	    strcmp(cfg->state_dir, s->cfg->state_dir) != 0)
		log_warn("msg=\"listen, admin.listen, listen_tls.address and "
			 "state_dir changes take effect at the next restart\"");
	/*
	 * ingest and admin copy what they take; delivery points into cfg,
	 * so it goes last: when it refuses, nothing uses cfg once freed.
	 */
	if (ingest_reload(s->ingest, cfg) == -1 ||
	    (s->admin != NULL && admin_reload(s->admin, cfg) == -1) ||
	    deliver_reload(s->deliver, &cfg->targets, r) == -1) {
		log_error("msg=\"reload failed, out of memory\"");
		goto out;
	}
	commit_set_router(s->commit, r);
	admin_set_router(s->admin, r);
	router_unref(s->router);
	s->router = r;
	r = NULL;
	config_free(s->cfg);
	s->cfg = cfg;
	cfg = NULL;
	log_info("msg=reloaded sources=%zu rules=%zu", s->cfg->nsources,
		 router_rules(s->router) ? router_rules(s->router)->nrules : 0);
out:
	router_unref(r);
	config_free(cfg);
	diag_free(&d);
	sd_notify(0, "READY=1\nSTATUS=receiving callbacks");
}

static void
server_signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;

	(void)what;
	if (sig == SIGHUP)
		server_reload(s);
	else
		server_stop(s, sig == SIGTERM ? "TERM" : "INT");
}

/* The longest window any source asks for, in milliseconds. */
static int64_t
server_dedup_horizon(const struct config *cfg)
{
	long max = 0;
	size_t i;

	for (i = 0; i < cfg->nsources; i++)
		if (cfg->sources[i].dedup_window_s > max)
			max = cfg->sources[i].dedup_window_s;
	return (int64_t)max * 1000;
}

static void
server_jobs_stored(void *arg)
{
	struct server *s = arg;

	deliver_kick(s->deliver);
}

static int
server_start(struct server *s)
{
	char err[512];

	if (store_open(NULL, s->cfg->state_dir, server_dedup_horizon(s->cfg),
		       &s->store, err, sizeof(err)) == -1) {
		log_error("msg=\"cannot open the store\" error=\"%s\"", err);
		return -1;
	}
	if ((s->base = event_base_new()) == NULL) {
		log_error("msg=\"cannot create the event loop\"");
		return -1;
	}
	if ((s->commit = commit_new(s->base, s->store, err, sizeof(err))) ==
		NULL ||
	    (s->worker = worker_new(s->base, s->cfg->state_dir, err,
				    sizeof(err))) == NULL ||
	    (s->httpc = httpc_new(s->base, err, sizeof(err))) == NULL ||
	    (s->deliver =
		 deliver_new(s->base, s->worker, s->httpc, &s->cfg->targets,
			     s->router, err, sizeof(err))) == NULL ||
	    (s->ingest = ingest_new(s->base, s->cfg, s->commit, err,
				    sizeof(err))) == NULL) {
		log_error("msg=\"cannot start\" error=\"%s\"", err);
		return -1;
	}
	commit_set_router(s->commit, s->router);
	commit_on_jobs(s->commit, server_jobs_stored, s);
	if (s->cfg->admin_listen != NULL) {
		struct admin_deps deps = {s->commit, s->worker, s->deliver,
					  s->ingest, s->router};

		if ((s->admin = admin_new(s->base, s->cfg, &deps, err,
					  sizeof(err))) == NULL) {
			log_error("msg=\"cannot start\" error=\"%s\"", err);
			return -1;
		}
	}
	s->sigterm = evsignal_new(s->base, SIGTERM, server_signal_cb, s);
	s->sigint = evsignal_new(s->base, SIGINT, server_signal_cb, s);
	s->sighup = evsignal_new(s->base, SIGHUP, server_signal_cb, s);
	if (s->sigterm == NULL || s->sigint == NULL || s->sighup == NULL ||
	    evsignal_add(s->sigterm, NULL) || evsignal_add(s->sigint, NULL) ||
	    evsignal_add(s->sighup, NULL)) {
		log_error("msg=\"cannot install signal handlers\"");
		return -1;
	}
	return 0;
}

static void
server_cleanup(struct server *s)
{
	if (s->sigterm != NULL)
		event_free(s->sigterm);
	if (s->sigint != NULL)
		event_free(s->sigint);
	if (s->sighup != NULL)
		event_free(s->sighup);
	/*
	 * Delivery first: requests in flight are abandoned (sent again at
	 * the next start), the worker records what finished and answers the
	 * operator's last questions, then the listeners go.
	 */
	deliver_stop(s->deliver);
	httpc_free(s->httpc);
	worker_free(s->worker);
	admin_free(s->admin);
	ingest_free(s->ingest);
	commit_free(s->commit);
	deliver_free(s->deliver);
	router_unref(s->router);
	store_close(s->store);
	if (s->base != NULL)
		event_base_free(s->base);
	config_free(s->cfg);
}

/* libevent's own warnings, as our log lines rather than its format. */
static void
server_libevent_log(int severity, const char *msg)
{
	char q[600];

	log_quote(q, sizeof(q), msg, strlen(msg), 400);
	if (severity >= EVENT_LOG_ERR)
		log_error("msg=libevent detail=%s", q);
	else if (severity == EVENT_LOG_WARN)
		log_warn("msg=libevent detail=%s", q);
	else
		log_debug("msg=libevent detail=%s", q);
}

/*
 * Every connection is a file descriptor: raise the soft open-files limit
 * to the hard one, and if max_connections still does not fit beside the
 * store, the admin listener and outbound requests, lower it (a warning
 * says so) rather than run out of descriptors under load.
 */
#define SERVER_FD_RESERVE 256

static void
server_files_limit(struct config *cfg)
{
	struct rlimit rl;
	long room;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur == RLIM_INFINITY)
		return;
	room = (long)rl.rlim_cur - SERVER_FD_RESERVE;
	if (room < 16)
		room = 16;
	if (cfg->max_connections > room) {
		log_warn("msg=\"limits.max_connections lowered to fit the "
			 "open-files limit\" max_connections=%d limit=%ld "
			 "now=%ld hint=\"raise LimitNOFILE\"",
			 cfg->max_connections, (long)rl.rlim_cur, room);
		cfg->max_connections = (int)room;
	}
}

int
server_run(const char *config_path)
{
	struct server s;
	struct diag d;
	int ret = 1;

	memset(&s, 0, sizeof(s));
	s.config_path = config_path;
	diag_init(&d);
	if (config_load(config_path, &s.cfg, &d) == -1 ||
	    (s.router = router_from_config(s.cfg, &d)) == NULL) {
		diag_print(&d, stderr);
		fprintf(stderr, "%s: %zu error(s), not starting\n", config_path,
			d.nerrors);
		goto out;
	}
	server_log_diag(&d, 0);
	signal(SIGPIPE, SIG_IGN);
	umask(077); /* the store holds raw callbacks: private to the daemon */
	event_set_log_callback(server_libevent_log);
	server_files_limit(s.cfg);
	if (server_start(&s) == -1)
		goto out;
	log_info("msg=ready version=%s config=%s state_dir=%s sources=%zu",
		 PSABRIDGE_VERSION, config_path, s.cfg->state_dir,
		 s.cfg->nsources);
	/* listening and the store open: what systemd's Type=notify waits for */
	sd_notify(0, "READY=1\nSTATUS=receiving callbacks");
	if (event_base_dispatch(s.base) == -1) {
		log_error("msg=\"event loop failed\"");
		goto out;
	}
	ret = 0;
out:
	server_cleanup(&s);
	diag_free(&d);
	if (ret == 0)
		log_info("msg=stopped");
	return ret;
}
