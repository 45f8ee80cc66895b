/*
 * Between the queue commands (queue.c: options, HTTP, what to ask) and
 * their text for people (queue_print.c).  Every cJSON argument is
 * borrowed: an answer of the admin API as admin.h describes it.
 */
#ifndef PSABRIDGE_QUEUE_INTERNAL_H
#define PSABRIDGE_QUEUE_INTERNAL_H

#include <cjson/cJSON.h>

#define QUEUE_SNIPPET 200 /* bytes of an answer, a body, an error shown */
#define QUEUE_CELL    512 /* room for one escaped value */

/* o's string member key, or "" when o has none. */
const char *queue_str(const cJSON *o, const char *key);

/* o's number member key, or 0 when o has none. */
double queue_num(const cJSON *o, const char *key);

/* GET /api/v1/jobs as a table, one job a line. */
void queue_print_jobs(const cJSON *jobs);

/* GET /api/v1/targets as a table. */
void queue_print_targets(const cJSON *targets);
/* Each correlation key's ticket as a table. */
void queue_print_tickets(const cJSON *tickets);

/* GET /api/v1/jobs/{id}: the job, then each attempt; indented. */
void queue_print_job(const cJSON *job, int indent);

/* GET /api/v1/events/{id}: the event, then each job with its attempts. */
void queue_print_event(const cJSON *ev);

#endif
