/*
 * Output formatting for hxctl: aligned tables, durations, ages, dates.
 *
 * DESIGN: every formatter writes into a caller buffer and cannot fail, so
 * command code stays a straight line of "format cells, add row"; only the
 * table itself allocates. All of it is pure and unit-tested.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tools/hxctl.h"

struct hxctl_table {
	int ncols;
	bool has_header;
	int nrows; /* including the header row, if any */
	int cap;
	char **cells; /* nrows * ncols, row-major */
};

uint64_t hxctl_now_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int64_t hxctl_wall_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void hxctl_fmt_duration(uint64_t ms, char *buf, size_t len)
{
	uint64_t s = ms / 1000;

	if (ms < 1000)
		snprintf(buf, len, "%" PRIu64 "ms", ms);
	else if (ms < 10000)
		snprintf(buf, len, "%" PRIu64 ".%" PRIu64 "s", s,
			 (ms % 1000) / 100);
	else if (s < 60)
		snprintf(buf, len, "%" PRIu64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRIu64 "m%02" PRIu64 "s", s / 60,
			 s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRIu64 "h%02" PRIu64 "m", s / 3600,
			 s % 3600 / 60);
	else
		snprintf(buf, len, "%" PRIu64 "d%02" PRIu64 "h", s / 86400,
			 s % 86400 / 3600);
}

void hxctl_fmt_age(int64_t ms, char *buf, size_t len)
{
	char d[32];

	if (ms < 0) {
		snprintf(buf, len, "now");
		return;
	}
	hxctl_fmt_duration((uint64_t)ms, d, sizeof(d));
	snprintf(buf, len, "%s ago", d);
}

void hxctl_fmt_time(int64_t wall_ms, char *buf, size_t len)
{
	time_t t = (time_t)(wall_ms / 1000);
	struct tm tm;

	if (wall_ms < 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, len, "-");
}

void hxctl_fmt_mb(uint64_t mb, char *buf, size_t len)
{
	if (mb < 1024)
		snprintf(buf, len, "%" PRIu64 "M", mb);
	else if (mb < 1024 * 1024)
		snprintf(buf, len, "%.1fG", (double)mb / 1024);
	else
		snprintf(buf, len, "%.1fT", (double)mb / (1024 * 1024));
}

void hxctl_fmt_bar(int pct, int width, char *buf, size_t len)
{
	size_t n = 0;
	int fill;

	if (len == 0)
		return;
	pct = pct < 0 ? 0 : pct > 100 ? 100 : pct;
	fill = pct * width / 100;
	if (n + 1 < len)
		buf[n++] = '[';
	for (int i = 0; i < width && n + 1 < len; i++)
		buf[n++] = i < fill ? '#' : ' ';
	if (n + 1 < len)
		buf[n++] = ']';
	buf[n] = '\0';
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

size_t hxctl_json_keys(json_t *obj, const char **keys, size_t max)
{
	const char *key;
	json_t *v;
	size_t n = 0;

	json_object_foreach (obj, key, v) {
		if (n < max)
			keys[n++] = key;
	}
	qsort(keys, n, sizeof(keys[0]), cmp_str);
	return n;
}

void hxctl_fmt_labels(json_t *labels, char *buf, size_t len)
{
	const char *keys[64];
	size_t n;
	size_t off = 0;

	snprintf(buf, len, "-");
	n = hxctl_json_keys(labels, keys, HXCTL_ARRAY_SIZE(keys));
	for (size_t i = 0; i < n && off < len; i++) {
		char val[256];
		int w;

		hxctl_fmt_cell(labels, keys[i], val, sizeof(val));
		w = snprintf(buf + off, len - off, "%s%s=%s", i > 0 ? "," : "",
			     keys[i], val);
		if (w < 0)
			break;
		off += (size_t)w;
	}
}

void hxctl_fmt_cell(json_t *obj, const char *key, char *buf, size_t len)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
	char *dump;

	if (v == NULL || json_is_null(v)) {
		snprintf(buf, len, "-");
	} else if (json_is_string(v)) {
		snprintf(buf, len, "%s", json_string_value(v));
	} else if (json_is_integer(v)) {
		snprintf(buf, len, "%" JSON_INTEGER_FORMAT,
			 json_integer_value(v));
	} else if (json_is_real(v)) {
		snprintf(buf, len, "%g", json_real_value(v));
	} else if (json_is_boolean(v)) {
		snprintf(buf, len, "%s", json_is_true(v) ? "yes" : "no");
	} else {
		dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		snprintf(buf, len, "%s", dump != NULL ? dump : "?");
		free(dump);
	}
}

const char *hxctl_json_str(json_t *obj, const char *key, const char *def)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	return json_is_string(v) ? json_string_value(v) : def;
}

bool hxctl_json_int(json_t *obj, const char *key, int64_t *ret)
{
	json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;

	if (json_is_integer(v))
		*ret = json_integer_value(v);
	else if (json_is_real(v))
		*ret = (int64_t)json_real_value(v);
	else
		return false;
	return true;
}

struct hxctl_table *hxctl_table_new(const char *const *headers, int ncols)
{
	struct hxctl_table *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return NULL;
	t->ncols = ncols;
	if (headers != NULL) {
		if (hxctl_table_add(t, headers) < 0) {
			hxctl_table_free(t);
			return NULL;
		}
		t->has_header = true;
	}
	return t;
}

void hxctl_table_free(struct hxctl_table *t)
{
	if (t == NULL)
		return;
	for (int i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t);
}

int hxctl_table_add(struct hxctl_table *t, const char *const *cells)
{
	char **row;

	if (t->nrows == t->cap) {
		int cap = t->cap == 0 ? 16 : t->cap * 2;
		char **p = realloc(t->cells,
				   (size_t)cap * (size_t)t->ncols * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		t->cells = p;
		t->cap = cap;
	}
	row = t->cells + (size_t)t->nrows * (size_t)t->ncols;
	for (int i = 0; i < t->ncols; i++) {
		row[i] = strdup(cells[i] != NULL ? cells[i] : "-");
		if (row[i] == NULL) {
			while (i-- > 0)
				free(row[i]);
			return -ENOMEM;
		}
	}
	t->nrows++;
	return 0;
}

/* Display width of UTF-8 text: code points, not bytes. */
static size_t text_width(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			n++;
	return n;
}

void hxctl_table_print(const struct hxctl_table *t, FILE *f)
{
	size_t *w = calloc((size_t)t->ncols, sizeof(*w));

	if (w == NULL)
		return;
	for (int r = 0; r < t->nrows; r++)
		for (int c = 0; c < t->ncols; c++) {
			size_t n = text_width(t->cells[r * t->ncols + c]);

			if (n > w[c])
				w[c] = n;
		}
	for (int r = 0; r < t->nrows; r++) {
		for (int c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];

			fputs(s, f);
			if (c + 1 < t->ncols)
				fprintf(f, "%*s",
					(int)(w[c] - text_width(s) + 2), "");
		}
		fputc('\n', f);
	}
	free(w);
}

void hxctl_kv_print(FILE *f, const char *key, const char *fmt, ...)
{
	int pad = 11 - (int)strlen(key);
	va_list ap;

	fprintf(f, "%s:%*s", key, pad < 1 ? 1 : pad, "");
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
	fputc('\n', f);
}

void hxctl_json_print(json_t *v)
{
	if (v == NULL)
		v = json_null();
	(void)json_dumpf(v, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
	fputc('\n', stdout);
}

void hxctl_warn(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("hxctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}
