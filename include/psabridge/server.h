/*
 * server: `psabridge serve`.  Owns the event loop, the store, the commit
 * thread and the listeners; handles SIGTERM/SIGINT (drain, then exit) and
 * SIGHUP (reload; a config that does not load is rejected and the running
 * one kept).
 */
#ifndef PSABRIDGE_SERVER_H
#define PSABRIDGE_SERVER_H

/* Runs until stopped by a signal.  Returns the process exit code. */
int server_run(const char *config_path);

#endif
