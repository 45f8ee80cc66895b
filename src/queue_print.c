/*
 * The text `psabridge queue` prints for people: tables with aligned
 * columns and "label  value" blocks, built from the admin API's JSON.
 * Every value from the server goes through queue_escape() first.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "psabridge/queue.h"
#include "queue-internal.h"

#define QUEUE_COLS_MAX 8
#define QUEUE_N(a)     (sizeof(a) / sizeof((a)[0]))

/* --- text for a terminal ------------------------------------------------ */

/* Length of the UTF-8 sequence at s (n bytes left); 0 when it is none. */
static size_t
queue_utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0; /* overlong */
	else if (s[0] == 0xed)
		hi = 0x9f; /* surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f; /* past U+10FFFF */
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * One character of s as the terminal should get it, into out (at least
 * 8 bytes); returns the bytes of s it stands for.  C1 controls (U+0080
 * to U+009F) act as escape sequences on some terminals, and the bidi
 * overrides reorder what follows them ("Trojan Source"): both are shown.
 */
static size_t
queue_escape_char(const unsigned char *s, size_t n, char *out)
{
	size_t len = queue_utf8_len(s, n);
	unsigned cp;

	if (s[0] >= 0x20 && s[0] < 0x7f) {
		out[0] = (char)s[0];
		out[1] = '\0';
		return 1;
	}
	if (len == 3 && s[0] == 0xe2) {
		cp = 0x2000 | (unsigned)(s[1] & 0x3f) << 6 | (s[2] & 0x3f);
		if ((cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069)) {
			snprintf(out, 8, "\\u%04x", cp);
			return 3;
		}
	}
	if (len == 0 || (len == 2 && s[0] == 0xc2 && s[1] < 0xa0)) {
		snprintf(out, 8, "\\x%02x", s[0]);
		return 1;
	}
	memcpy(out, s, len);
	out[len] = '\0';
	return len;
}

char *
queue_escape(char *buf, size_t size, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), i = 0, o = 0, used, tl;
	char tmp[8];
	int cut = 0;

	while (i < n) {
		used = queue_escape_char(p + i, n - i, tmp);
		tl = strlen(tmp);
		/* room for "..." and the NUL stays */
		if (i + used > max || o + tl + 4 > size) {
			cut = 1;
			break;
		}
		memcpy(buf + o, tmp, tl);
		o += tl;
		i += used;
	}
	if (cut) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

/* Columns s takes: its characters (s is escaped, so valid UTF-8). */
static size_t
queue_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

static double
queue_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec * 1000 + (double)(ts.tv_nsec / 1000000);
}

/* Unix milliseconds as RFC 3339 in UTC, with milliseconds. */
static void
queue_time(char *buf, size_t size, double ms)
{
	long long v = (long long)ms;
	time_t t = (time_t)(v / 1000);
	struct tm tm;
	char s[32];

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(s, sizeof(s), "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
		snprintf(buf, size, "%lld", v);
		return;
	}
	snprintf(buf, size, "%s.%03dZ", s, (int)(v % 1000));
}

/* How long ago: "42s", "17m", "5h", "3d". */
static void
queue_age(char *buf, size_t size, double ms, double now)
{
	long long s = (long long)((now - ms) / 1000);

	if (s < 0)
		s = 0;
	if (s < 120)
		snprintf(buf, size, "%llds", s);
	else if (s < 2 * 3600)
		snprintf(buf, size, "%lldm", s / 60);
	else if (s < 2 * 86400)
		snprintf(buf, size, "%lldh", s / 3600);
	else
		snprintf(buf, size, "%lldd", s / 86400);
}

const char *
queue_str(const cJSON *o, const char *key)
{
	const char *s =
	    cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));

	return s != NULL ? s : "";
}

double
queue_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* --- tables ------------------------------------------------------------- */

enum queue_kind {
	QUEUE_STR,     /* escaped, cut at max bytes */
	QUEUE_NUM,     /* an integer */
	QUEUE_AGE,     /* Unix ms, shown as the time since */
	QUEUE_TIME_MS, /* Unix ms, shown as RFC 3339; 0 is absent */
	QUEUE_TIME_S,  /* Unix seconds, the same */
	QUEUE_DUR_MS,  /* milliseconds: "12 ms" */
	QUEUE_STATUS   /* an HTTP status; absent: there was no answer */
};

/* A table column, or a line of a block. */
struct queue_col {
	const char *head, *key;
	enum queue_kind kind;
	size_t max;
};

/* Formats o's key as c says into buf; 0, or -1 when o has no value. */
static int
queue_value(const cJSON *o, const struct queue_col *c, double now, char *buf,
	    size_t size)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, c->key);

	if (c->kind == QUEUE_STR) {
		if (!cJSON_IsString(v) || v->valuestring[0] == '\0')
			return -1;
		queue_escape(buf, size, v->valuestring, c->max);
		return 0;
	}
	if (!cJSON_IsNumber(v) && c->kind == QUEUE_STATUS)
		snprintf(buf, size, "no HTTP answer");
	else if (!cJSON_IsNumber(v))
		return -1;
	else if (c->kind == QUEUE_NUM || c->kind == QUEUE_STATUS)
		snprintf(buf, size, "%.0f", v->valuedouble);
	else if (c->kind == QUEUE_AGE)
		queue_age(buf, size, v->valuedouble, now);
	else if (c->kind == QUEUE_DUR_MS)
		snprintf(buf, size, "%.0f ms", v->valuedouble);
	else if (v->valuedouble <= 0)
		return -1;
	else
		queue_time(buf, size,
			   v->valuedouble *
			       (c->kind == QUEUE_TIME_S ? 1000.0 : 1.0));
	return 0;
}

static void
queue_cell(const cJSON *row, const struct queue_col *c, double now, char *buf,
	   size_t size)
{
	if (queue_value(row, c, now, buf, size) == -1)
		snprintf(buf, size, "-");
}

/* s in a column of width w; numbers to the right, nothing after the last. */
static void
queue_put(const char *s, size_t w, int right, int last)
{
	int pad = (int)(w - queue_width(s));

	if (right)
		printf("%*s%s", pad, "", s);
	else
		printf("%s%*s", s, last ? 0 : pad, "");
	fputs(last ? "\n" : "  ", stdout);
}

static void
queue_table(const cJSON *rows, const struct queue_col *cols, size_t ncols)
{
	size_t w[QUEUE_COLS_MAX], i, n;
	char cell[QUEUE_CELL];
	double now = queue_now_ms();
	const cJSON *row;

	for (i = 0; i < ncols; i++)
		w[i] = strlen(cols[i].head);
	cJSON_ArrayForEach(row, rows)
	{
		for (i = 0; i < ncols; i++) {
			queue_cell(row, &cols[i], now, cell, sizeof(cell));
			if ((n = queue_width(cell)) > w[i])
				w[i] = n;
		}
	}
	for (i = 0; i < ncols; i++)
		queue_put(cols[i].head, w[i], cols[i].kind == QUEUE_NUM,
			  i + 1 == ncols);
	cJSON_ArrayForEach(row, rows)
	{
		for (i = 0; i < ncols; i++) {
			queue_cell(row, &cols[i], now, cell, sizeof(cell));
			queue_put(cell, w[i], cols[i].kind == QUEUE_NUM,
				  i + 1 == ncols);
		}
	}
}

/* "label   value" lines, indented; a key o lacks is left out. */
static void
queue_block(const cJSON *o, const struct queue_col *lines, size_t n, int indent)
{
	char v[QUEUE_CELL];
	size_t i;

	for (i = 0; i < n; i++)
		if (queue_value(o, &lines[i], 0, v, sizeof(v)) == 0)
			printf("%*s%-13s %s\n", indent, "", lines[i].head, v);
}

static const struct queue_col queue_job_cols[] = {
    {"ID", "id", QUEUE_STR, 64},
    {"STATE", "state", QUEUE_STR, 16},
    {"TARGET", "target", QUEUE_STR, 64},
    {"ACTION", "action", QUEUE_STR, 16},
    {"ATTEMPTS", "attempt_count", QUEUE_NUM, 0},
    {"LAST STATUS", "last_status", QUEUE_NUM, 0},
    {"AGE", "created_at", QUEUE_AGE, 0},
    {"EVENT TYPE", "event_type", QUEUE_STR, 64},
};

static const struct queue_col queue_target_cols[] = {
    {"NAME", "name", QUEUE_STR, 64},
    {"TYPE", "type", QUEUE_STR, 16},
    {"STATE", "state", QUEUE_STR, 16},
    {"IN FLIGHT", "in_flight", QUEUE_NUM, 0},
    {"DONE", "done", QUEUE_NUM, 0},
    {"RETRIED", "retried", QUEUE_NUM, 0},
    {"DEAD", "dead", QUEUE_NUM, 0},
    {"LAST ERROR", "last_error", QUEUE_STR, 80},
};

static const struct queue_col queue_ticket_cols[] = {
    {"TARGET", "target", QUEUE_STR, 64},    {"KEY", "correlate", QUEUE_STR, 64},
    {"TICKET", "ticket_id", QUEUE_STR, 64}, {"STATE", "state", QUEUE_STR, 16},
    {"SINCE", "updated_at", QUEUE_AGE, 0},
};

static const struct queue_col queue_job_lines[] = {
    {"event", "event_id", QUEUE_STR, 64},
    {"event type", "event_type", QUEUE_STR, 128},
    {"source", "source", QUEUE_STR, 64},
    {"rule", "rule", QUEUE_STR, 128},
    {"target", "target", QUEUE_STR, 64},
    {"action", "action", QUEUE_STR, 16},
    {"template", "template", QUEUE_STR, 128},
    {"correlate", "correlate", QUEUE_STR, QUEUE_SNIPPET},
    {"customer", "customer_id", QUEUE_STR, 128},
    {"state", "state", QUEUE_STR, 16},
    {"created", "created_at", QUEUE_TIME_MS, 0},
    {"attempts", "attempt_count", QUEUE_NUM, 0},
    {"next attempt", "next_at", QUEUE_TIME_MS, 0},
    {"last status", "last_status", QUEUE_NUM, 0},
    {"last error", "last_error", QUEUE_STR, QUEUE_SNIPPET},
    {"ticket", "ticket_id", QUEUE_STR, 128},
    {"finished", "finished_at", QUEUE_TIME_MS, 0},
};

static const struct queue_col queue_attempt_lines[] = {
    {"time", "started_at", QUEUE_TIME_MS, 0},
    {"status", "status", QUEUE_STATUS, 0},
    {"duration", "duration_ms", QUEUE_DUR_MS, 0},
    {"outcome", "outcome", QUEUE_STR, 16},
    {"error", "error", QUEUE_STR, QUEUE_SNIPPET},
    {"response", "response", QUEUE_STR, QUEUE_SNIPPET},
};

static const struct queue_col queue_event_lines[] = {
    {"source", "source", QUEUE_STR, 64},
    {"event type", "event_type", QUEUE_STR, 128},
    {"vendor time", "vendor_time", QUEUE_TIME_S, 0},
    {"received", "received_at", QUEUE_TIME_MS, 0},
    {"state", "state", QUEUE_STR, 16},
};

/* The list of a job's attempts (attempt_count is their number). */
static const cJSON *
queue_attempts(const cJSON *job)
{
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(job, "attempts");

	return cJSON_IsArray(m) ? m : NULL;
}

void
queue_print_job(const cJSON *job, int indent)
{
	char id[QUEUE_CELL];
	const cJSON *att, *list = queue_attempts(job);
	int i = 0;

	printf("%*sjob %s\n", indent, "",
	       queue_escape(id, sizeof(id), queue_str(job, "id"), 64));
	queue_block(job, queue_job_lines, QUEUE_N(queue_job_lines), indent + 2);
	cJSON_ArrayForEach(att, list)
	{
		printf("%*sattempt %d\n", indent + 2, "", ++i);
		queue_block(att, queue_attempt_lines,
			    QUEUE_N(queue_attempt_lines), indent + 4);
	}
	if (i == 0)
		printf("%*sno attempts yet\n", indent + 2, "");
}

/* The callback's start, on one line: compact when it is JSON (it is). */
static void
queue_print_body(const char *body)
{
	cJSON *doc = cJSON_Parse(body);
	char *flat = doc ? cJSON_PrintUnformatted(doc) : NULL;
	char v[QUEUE_CELL];

	printf("  %-13s %s\n", "body",
	       queue_escape(v, sizeof(v), flat ? flat : body, QUEUE_SNIPPET));
	cJSON_free(flat);
	cJSON_Delete(doc);
}

void
queue_print_event(const cJSON *ev)
{
	char id[QUEUE_CELL];
	const cJSON *job, *jobs = cJSON_GetObjectItem(ev, "jobs");

	printf("event %s\n",
	       queue_escape(id, sizeof(id), queue_str(ev, "id"), 64));
	queue_block(ev, queue_event_lines, QUEUE_N(queue_event_lines), 2);
	queue_print_body(queue_str(ev, "body"));
	printf("  %-13s %d\n", "jobs", cJSON_GetArraySize(jobs));
	cJSON_ArrayForEach(job, jobs)
	{
		queue_print_job(job, 2);
	}
}

void
queue_print_jobs(const cJSON *jobs)
{
	queue_table(jobs, queue_job_cols, QUEUE_N(queue_job_cols));
}

void
queue_print_tickets(const cJSON *tickets)
{
	queue_table(tickets, queue_ticket_cols, QUEUE_N(queue_ticket_cols));
}

void
queue_print_targets(const cJSON *targets)
{
	queue_table(targets, queue_target_cols, QUEUE_N(queue_target_cols));
}
