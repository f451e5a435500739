/*
 * hxctl task ... and hxctl events: long-running operations and the event
 * log.
 *
 * DESIGN: the API has no push channel, so 'task wait' and 'events --follow'
 * poll, with a hard bound and a fixed interval. Once a poll has succeeded,
 * a later "unavailable" answer (leader election, hxd restart during a join)
 * is treated as transient and polling goes on; a first poll that fails, or
 * any other error, ends the command with its exit code.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "tools/hxctl.h"

#define TASK_POLL_MS	    200
#define TASK_WAIT_DEFAULT_S 600
#define EVENTS_POLL_MS	    1000
#define EVENTS_PAGE_DEFAULT 100

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = {
		.tv_sec = (time_t)(ms / 1000),
		.tv_nsec = (long)(ms % 1000) * 1000000L,
	};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Checks an optional integer option; prints a usage error. */
static bool opt_int(const struct hxctl_args *a, const char *name, int64_t min,
		    int64_t *ret)
{
	const char *s = hxctl_args_get(a, name);

	if (s == NULL)
		return true;
	if (hxctl_parse_int(s, min, INT32_MAX, ret) == 0)
		return true;
	hxctl_warn("--%s: expected an integer of at least %lld, got '%s'", name,
		   (long long)min, s);
	return false;
}

/* Fills the STARTED (an age) and DURATION cells of a task. */
static void task_times(json_t *t, char *started, char *took, size_t len)
{
	int64_t now = hxctl_wall_ms();
	int64_t start;
	int64_t end;

	snprintf(started, len, "-");
	snprintf(took, len, "-");
	if (!hxctl_json_int(t, "started_at", &start))
		return;
	hxctl_fmt_age(now - start, started, len);
	if (!hxctl_json_int(t, "ended_at", &end))
		end = now;
	hxctl_fmt_duration(end > start ? (uint64_t)(end - start) : 0, took,
			   len);
}

int hxctl_cmd_task_list(struct hxctl *c, const struct hxctl_args *a)
{
	static const char *const hdr[] = {"ID",	     "KIND",	 "SUBJECT",
					  "NODE",    "STATE",	 "PROGRESS",
					  "STARTED", "DURATION", "MESSAGE"};
	const char *state = hxctl_args_get(a, "state");
	struct hxctl_req req = {.method = "GET"};
	struct hxctl_table *t = NULL;
	struct hxctl_resp resp = {0};
	char path[512] = "/tasks";
	char num[24];
	int64_t limit = 0;
	json_t *task;
	size_t i;
	int code;

	if (state != NULL && strcmp(state, "running") != 0 &&
	    strcmp(state, "ok") != 0 && strcmp(state, "error") != 0) {
		hxctl_warn("--state: expected running, ok or error");
		return HXCTL_EXIT_USAGE;
	}
	if (!opt_int(a, "limit", 1, &limit))
		return HXCTL_EXIT_USAGE;
	snprintf(num, sizeof(num), "%lld", (long long)limit);
	if (hxctl_query_add(path, sizeof(path), "state", state) < 0 ||
	    hxctl_query_add(path, sizeof(path), "limit",
			    limit > 0 ? num : NULL) < 0)
		goto err_oom;
	req.path = path;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK) {
		hxctl_fail(&resp, code);
		goto out_close_resp;
	}
	if (c->json) {
		hxctl_json_print(resp.data);
		goto out_close_resp;
	}
	t = hxctl_table_new(hdr, 9);
	if (t == NULL)
		goto err_oom;
	json_array_foreach (resp.data, i, task) {
		char id[24], kind[64], subj[128], node[128], st[16], pct[8];
		char started[48], took[48], msg[512];
		const char *cells[] = {id,  kind,    subj, node, st,
				       pct, started, took, msg};
		int64_t p;

		hxctl_fmt_cell(task, "id", id, sizeof(id));
		hxctl_fmt_cell(task, "kind", kind, sizeof(kind));
		hxctl_fmt_cell(task, "subject", subj, sizeof(subj));
		hxctl_fmt_cell(task, "node", node, sizeof(node));
		hxctl_fmt_cell(task, "state", st, sizeof(st));
		if (hxctl_json_int(task, "progress", &p))
			snprintf(pct, sizeof(pct), "%lld%%", (long long)p);
		else
			snprintf(pct, sizeof(pct), "-");
		task_times(task, started, took, sizeof(started));
		hxctl_fmt_cell(task, "message", msg, sizeof(msg));
		if (hxctl_table_add(t, cells) < 0)
			goto err_oom;
	}
	hxctl_table_print(t, stdout);
	goto out_free_table;

err_oom:
	hxctl_warn("out of memory");
	code = HXCTL_EXIT_ERROR;
out_free_table:
	hxctl_table_free(t);
out_close_resp:
	hxctl_resp_close(&resp);
	return code;
}

/* Parses the task ID argument into "/tasks/ID"; prints a usage error. */
static bool task_path(const char *arg, char *path, size_t len)
{
	int64_t id;

	if (hxctl_parse_int(arg, 1, INT64_MAX, &id) < 0) {
		hxctl_warn("task ID must be a positive integer, got '%s'", arg);
		return false;
	}
	snprintf(path, len, "/tasks/%lld", (long long)id);
	return true;
}

static void task_print(json_t *t)
{
	char buf[512];
	char started[48];
	char took[48];
	json_t *line;
	int64_t v;
	size_t i;

	for (size_t k = 0; k < 5; k++) {
		static const char *const keys[] = {"id", "kind", "subject",
						   "node", "actor"};

		hxctl_fmt_cell(t, keys[k], buf, sizeof(buf));
		hxctl_kv_print(stdout, keys[k], "%s", buf);
	}
	hxctl_fmt_cell(t, "state", buf, sizeof(buf));
	if (hxctl_json_int(t, "progress", &v))
		hxctl_kv_print(stdout, "state", "%s (%lld%%)", buf,
			       (long long)v);
	else
		hxctl_kv_print(stdout, "state", "%s", buf);
	hxctl_fmt_cell(t, "message", buf, sizeof(buf));
	hxctl_kv_print(stdout, "message", "%s", buf);
	if (hxctl_json_int(t, "started_at", &v))
		hxctl_fmt_time(v, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "-");
	task_times(t, started, took, sizeof(started));
	hxctl_kv_print(stdout, "started", "%s (%s)", buf, started);
	if (hxctl_json_int(t, "ended_at", &v))
		hxctl_fmt_time(v, buf, sizeof(buf));
	else
		snprintf(buf, sizeof(buf), "-");
	hxctl_kv_print(stdout, "ended", "%s", buf);
	hxctl_kv_print(stdout, "duration", "%s", took);
	if (json_array_size(json_object_get(t, "log")) > 0)
		printf("log:\n");
	json_array_foreach (json_object_get(t, "log"), i, line) {
		if (hxctl_json_int(line, "time", &v))
			hxctl_fmt_time(v, buf, sizeof(buf));
		else
			snprintf(buf, sizeof(buf), "-");
		printf("  %s  %s\n", buf, hxctl_json_str(line, "line", ""));
	}
}

int hxctl_cmd_task_show(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_req req = {.method = "GET"};
	struct hxctl_resp resp;
	char path[64];
	int code;

	if (!task_path(a->pos[0], path, sizeof(path)))
		return HXCTL_EXIT_USAGE;
	req.path = path;
	code = hxctl_call(c, &req, &resp);
	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else
		task_print(resp.data);
	hxctl_resp_close(&resp);
	return code;
}

/* What the progress display last showed, to print plain lines on change. */
struct task_progress {
	bool has_bar;  /* a terminal: redraw one line */
	bool is_plain; /* not a terminal: a line per change */
	bool is_shown;
	int64_t pct;
	char msg[256];
};

/* Redraws the progress line on the terminal on stderr. */
static void task_bar(json_t *t)
{
	struct winsize ws;
	char bar[32];
	char line[512];
	int64_t pct = 0;
	size_t cols = 80;
	size_t n;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 10)
		cols = ws.ws_col;
	(void)hxctl_json_int(t, "progress", &pct);
	hxctl_fmt_bar((int)pct, 20, bar, sizeof(bar));
	snprintf(line, sizeof(line), "%s %3lld%%  %s %s: %s", bar,
		 (long long)pct, hxctl_json_str(t, "kind", "task"),
		 hxctl_json_str(t, "subject", ""),
		 hxctl_json_str(t, "message", ""));
	n = strlen(line);
	if (n > cols - 1)
		n = cols - 1;
	while (n > 0 && ((unsigned char)line[n] & 0xc0) == 0x80)
		n--; /* do not cut a UTF-8 sequence */
	fprintf(stderr, "\r\033[K%.*s", (int)n, line);
	fflush(stderr);
}

/* Prints "task ID: PCT% MESSAGE" on stderr when either changed. */
static void task_line(int64_t id, json_t *t, struct task_progress *p)
{
	const char *msg = hxctl_json_str(t, "message", "");
	int64_t pct = 0;

	(void)hxctl_json_int(t, "progress", &pct);
	if (p->is_shown && pct == p->pct &&
	    strncmp(msg, p->msg, sizeof(p->msg) - 1) == 0)
		return;
	p->is_shown = true;
	p->pct = pct;
	snprintf(p->msg, sizeof(p->msg), "%s", msg);
	fprintf(stderr, "task %lld: %3lld%%%s%s\n", (long long)id,
		(long long)pct, msg[0] != '\0' ? " " : "", msg);
	fflush(stderr);
}

static void task_progress(int64_t id, json_t *t, struct task_progress *p)
{
	if (p->has_bar) {
		task_bar(t);
		p->is_shown = true;
	} else if (p->is_plain) {
		task_line(id, t, p);
	}
}

/* Reports the end of a task; returns 0 if it ended ok, 1 otherwise. */
static int task_done(struct hxctl *c, json_t *t, int64_t id)
{
	const char *state = hxctl_json_str(t, "state", "?");
	const char *msg = hxctl_json_str(t, "message", "");
	bool is_ok = strcmp(state, "ok") == 0;

	if (c->json)
		hxctl_json_print(t);
	else if (is_ok)
		printf("task %lld ok%s%s\n", (long long)id, msg[0] ? ": " : "",
		       msg);
	if (!is_ok)
		hxctl_warn("task %lld failed: %s", (long long)id,
			   msg[0] != '\0' ? msg : state);
	return is_ok ? HXCTL_EXIT_OK : HXCTL_EXIT_ERROR;
}

static bool task_ended(json_t *t)
{
	const char *state = hxctl_json_str(t, "state", "running");

	return strcmp(state, "ok") == 0 || strcmp(state, "error") == 0;
}

/*
 * Polls @req until the task ends, fails or @deadline passes; leaves the last
 * answer in @resp. Returns the exit code of the last call, with *ret_late
 * set if the deadline passed first.
 */
static int task_poll(struct hxctl *c, int64_t id, struct hxctl_req *req,
		     uint64_t deadline, struct task_progress *p,
		     struct hxctl_resp *resp, bool *ret_late)
{
	bool seen = false;
	int code;

	*ret_late = false;
	for (;;) {
		uint64_t now = hxctl_now_ms();
		uint64_t left = deadline > now ? deadline - now : 0;

		/* Keep each poll within the bound, but give it a second. */
		if (left > HXCTL_REQUEST_TIMEOUT_MS)
			left = HXCTL_REQUEST_TIMEOUT_MS;
		req->timeout_ms = left < 1000 ? 1000 : (long)left;
		hxctl_resp_close(resp);
		code = hxctl_call(c, req, resp);
		if (code == HXCTL_EXIT_OK) {
			seen = true;
			if (task_ended(resp->data))
				return code;
			task_progress(id, resp->data, p);
		} else if (code != HXCTL_EXIT_UNAVAILABLE || !seen) {
			return code;
		}
		if (hxctl_now_ms() >= deadline) {
			*ret_late = true;
			return code;
		}
		sleep_ms(TASK_POLL_MS);
	}
}

int hxctl_task_wait(struct hxctl *c, int64_t id, int64_t timeout_s)
{
	struct hxctl_req req = {.method = "GET"};
	struct hxctl_resp resp = {0};
	struct task_progress p = {0};
	bool is_late;
	char path[64];
	int code;

	p.has_bar = !c->json && isatty(STDERR_FILENO);
	p.is_plain = !c->json && !p.has_bar;
	snprintf(path, sizeof(path), "/tasks/%lld", (long long)id);
	req.path = path;
	code = task_poll(c, id, &req,
			 hxctl_now_ms() + (uint64_t)timeout_s * 1000, &p, &resp,
			 &is_late);
	if (p.has_bar && p.is_shown)
		fprintf(stderr, "\r\033[K");
	if (is_late) {
		hxctl_warn("task %lld did not end within %lld s%s%s; it goes "
			   "on: follow it with 'hxctl task wait %lld'",
			   (long long)id, (long long)timeout_s,
			   resp.msg[0] ? ": " : "", resp.msg, (long long)id);
		code = HXCTL_EXIT_ERROR;
	} else if (code == HXCTL_EXIT_OK) {
		code = task_done(c, resp.data, id);
	} else {
		hxctl_fail(&resp, code);
	}
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_task_wait(struct hxctl *c, const struct hxctl_args *a)
{
	int64_t timeout_s = TASK_WAIT_DEFAULT_S;
	int64_t id;

	if (hxctl_parse_int(a->pos[0], 1, INT64_MAX, &id) < 0) {
		hxctl_warn("task ID must be a positive integer, got '%s'",
			   a->pos[0]);
		return HXCTL_EXIT_USAGE;
	}
	if (!opt_int(a, "timeout", 1, &timeout_s))
		return HXCTL_EXIT_USAGE;
	return hxctl_task_wait(c, id, timeout_s);
}

/* Prints one event as a line of the --follow output. */
static void event_line(struct hxctl *c, json_t *e)
{
	char id[24], when[32], node[64], kind[64], subj[64], actor[64];
	int64_t t;
	char *dump;

	if (c->json) {
		dump = json_dumps(e, JSON_COMPACT);
		if (dump != NULL)
			printf("%s\n", dump);
		free(dump);
		return;
	}
	hxctl_fmt_cell(e, "id", id, sizeof(id));
	if (hxctl_json_int(e, "time", &t))
		hxctl_fmt_time(t, when, sizeof(when));
	else
		snprintf(when, sizeof(when), "-");
	hxctl_fmt_cell(e, "node", node, sizeof(node));
	hxctl_fmt_cell(e, "kind", kind, sizeof(kind));
	hxctl_fmt_cell(e, "subject", subj, sizeof(subj));
	hxctl_fmt_cell(e, "actor", actor, sizeof(actor));
	printf("%-6s  %-20s  %-8s  %-14s  %-10s  %-12s  %s\n", id, when, node,
	       kind, subj, actor, hxctl_json_str(e, "message", ""));
}

/* Prints a page of events as an aligned table. */
static int events_table(json_t *events)
{
	static const char *const hdr[] = {"ID",	     "TIME",  "NODE",	"KIND",
					  "SUBJECT", "ACTOR", "MESSAGE"};
	struct hxctl_table *t = hxctl_table_new(hdr, 7);
	json_t *e;
	size_t i;

	if (t == NULL)
		return -ENOMEM;
	json_array_foreach (events, i, e) {
		char id[24], when[32], node[64], kind[64], subj[128];
		char actor[64], msg[1024];
		const char *cells[] = {id, when, node, kind, subj, actor, msg};
		int64_t ms;

		hxctl_fmt_cell(e, "id", id, sizeof(id));
		if (hxctl_json_int(e, "time", &ms))
			hxctl_fmt_time(ms, when, sizeof(when));
		else
			snprintf(when, sizeof(when), "-");
		hxctl_fmt_cell(e, "node", node, sizeof(node));
		hxctl_fmt_cell(e, "kind", kind, sizeof(kind));
		hxctl_fmt_cell(e, "subject", subj, sizeof(subj));
		hxctl_fmt_cell(e, "actor", actor, sizeof(actor));
		hxctl_fmt_cell(e, "message", msg, sizeof(msg));
		if (hxctl_table_add(t, cells) < 0) {
			hxctl_table_free(t);
			return -ENOMEM;
		}
	}
	hxctl_table_print(t, stdout);
	hxctl_table_free(t);
	return 0;
}

/* One GET /events page after @since, of @limit events (<= 0: not sent). */
static int events_get(struct hxctl *c, const struct hxctl_args *a,
		      int64_t since, int64_t limit, struct hxctl_resp *ret)
{
	struct hxctl_req req = {.method = "GET"};
	char path[1024] = "/events";
	char num[24];
	char lim[24];
	int r;

	memset(ret, 0, sizeof(*ret));
	snprintf(num, sizeof(num), "%lld", (long long)since);
	snprintf(lim, sizeof(lim), "%lld", (long long)limit);
	r = hxctl_query_add(path, sizeof(path), "since",
			    since >= 0 ? num : NULL);
	if (r == 0)
		r = hxctl_query_add(path, sizeof(path), "limit",
				    limit > 0 ? lim : NULL);
	if (r == 0)
		r = hxctl_query_add(path, sizeof(path), "subject",
				    hxctl_args_get(a, "subject"));
	if (r < 0) {
		snprintf(ret->msg, sizeof(ret->msg), "%s",
			 r == -ENOMEM ? "out of memory" : "--subject too long");
		return r == -ENOMEM ? HXCTL_EXIT_ERROR : HXCTL_EXIT_USAGE;
	}
	req.path = path;
	return hxctl_call(c, &req, ret);
}

/* Prints a page and advances *since; returns the number of events. */
static size_t events_page(struct hxctl *c, json_t *events, int64_t *since)
{
	json_t *e;
	size_t i;
	int64_t id;

	json_array_foreach (events, i, e) {
		event_line(c, e);
		if (hxctl_json_int(e, "id", &id) && id > *since)
			*since = id;
	}
	fflush(stdout);
	return json_array_size(events);
}

/* events --follow: poll for new events until killed or an error. */
static int events_follow(struct hxctl *c, const struct hxctl_args *a,
			 int64_t since, int64_t limit)
{
	struct hxctl_resp resp;
	size_t page = limit > 0 ? (size_t)limit : EVENTS_PAGE_DEFAULT;
	bool is_down = false;
	size_t n = 0;
	int code;

	if (!c->json)
		printf("%-6s  %-20s  %-8s  %-14s  %-10s  %-12s  %s\n", "ID",
		       "TIME", "NODE", "KIND", "SUBJECT", "ACTOR", "MESSAGE");
	for (bool first = true;; first = false) {
		/* A full page means more are waiting: ask again at once. */
		if (!first && n < page)
			sleep_ms(EVENTS_POLL_MS);
		code = events_get(c, a, since, limit, &resp);
		if (code == HXCTL_EXIT_UNAVAILABLE && !first) {
			if (!is_down)
				hxctl_warn("%s; retrying", resp.msg);
			is_down = true;
			n = 0;
			hxctl_resp_close(&resp);
			continue;
		}
		if (code != HXCTL_EXIT_OK)
			break;
		is_down = false;
		if (since < 0)
			since = 0;
		n = events_page(c, resp.data, &since);
		hxctl_resp_close(&resp);
	}
	hxctl_fail(&resp, code);
	hxctl_resp_close(&resp);
	return code;
}

int hxctl_cmd_events(struct hxctl *c, const struct hxctl_args *a)
{
	struct hxctl_resp resp;
	int64_t since = -1;
	int64_t limit = 0;
	int code;

	if (!opt_int(a, "since", 0, &since) || !opt_int(a, "limit", 1, &limit))
		return HXCTL_EXIT_USAGE;
	if (hxctl_args_get(a, "follow") != NULL)
		return events_follow(c, a, since, limit);
	code = events_get(c, a, since, limit, &resp);
	if (code != HXCTL_EXIT_OK)
		hxctl_fail(&resp, code);
	else if (c->json)
		hxctl_json_print(resp.data);
	else if (events_table(resp.data) < 0) {
		hxctl_warn("out of memory");
		code = HXCTL_EXIT_ERROR;
	}
	hxctl_resp_close(&resp);
	return code;
}
