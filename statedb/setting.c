/* Cluster-wide settings: a typed table of known keys with ranges. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

static const struct statedb_setting_def setting_defs[] = {
	{"events.keep", 10000, 100, 1000000},
	/* HA (docs/ha.md): N+1 admission off/on; cluster resource
	 * scheduling basic (0) or static (1); node shutdown policy
	 * conditional (0), freeze (1), failover (2), migrate (3). */
	{"ha.admission", 0, 0, 1},
	{"ha.crs", 1, 0, 1},
	{"ha.shutdown_policy", 0, 0, 3},
	{"liveness.heartbeat_ms", 1000, 100, 60000},
	{"liveness.offline_after_ms", 10000, 1000, 3600000},
	{"liveness.unknown_after_ms", 3000, 300, 600000},
	{"tasks.keep", 1000, 10, 100000},
	{NULL, 0, 0, 0},
};

const struct statedb_setting_def *statedb_setting_defs(void)
{
	return setting_defs;
}

static const struct statedb_setting_def *setting_find(const char *key)
{
	for (const struct statedb_setting_def *d = setting_defs; d->key; d++)
		if (strcmp(d->key, key) == 0)
			return d;
	return NULL;
}

int db_settings_defaults(struct db_tx *tx, struct hx_err *err)
{
	for (const struct statedb_setting_def *d = setting_defs; d->key; d++) {
		struct wire_value p[] = {db_text(d->key), db_int(d->def)};
		int r = db_exec(tx,
				"INSERT OR IGNORE INTO settings (key, value) "
				"VALUES (?, ?)",
				p, 2, NULL, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Fills @s from the table, defaults for keys not stored. */
static int settings_read(struct db_tx *tx, struct statedb_settings *s,
			 struct hx_err *err)
{
	char vals[32][24];
	const char *parts[64];
	struct wire_rows *rows;
	unsigned n = 0;
	int r;

	r = db_query(tx, "SELECT key, value FROM settings", NULL, 0, &rows,
		     err);
	if (r < 0)
		return r;
	memset(s, 0, sizeof(*s));
	for (const struct statedb_setting_def *d = setting_defs; d->key; d++) {
		s->keys[n] = d->key;
		s->values[n] = d->def;
		for (unsigned i = 0; i < rows->nrows; i++)
			if (strcmp(db_row_text(rows, i, 0), d->key) == 0)
				s->values[n] = db_row_int(rows, i, 1);
		snprintf(vals[n], sizeof(vals[n]), "%" PRId64, s->values[n]);
		parts[2 * n] = d->key;
		parts[2 * n + 1] = vals[n];
		n++;
	}
	s->n = n;
	wire_rows_free(rows);
	db_digest(parts, 2 * n, s->digest);
	return 0;
}

static int settings_get_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	return settings_read(tx, data, err);
}

int statedb_settings_get(struct statedb *db, struct statedb_settings *ret,
			 struct hx_err *err)
{
	return db_read(db, settings_get_fn, ret, err);
}

struct update_req {
	const char *const *keys;
	const int64_t *values;
	unsigned n;
	const char *if_digest;
};

static int settings_validate(const struct update_req *q, struct hx_err *err)
{
	for (unsigned i = 0; i < q->n; i++) {
		const struct statedb_setting_def *d = setting_find(q->keys[i]);

		if (d == NULL)
			return hx_err_set(err, -EINVAL, "unknown setting '%s'",
					  q->keys[i]);
		if (q->values[i] < d->min || q->values[i] > d->max)
			return hx_err_set(err, -EINVAL,
					  "setting '%s' must be between %" PRId64
					  " and %" PRId64 ", not %" PRId64,
					  d->key, d->min, d->max, q->values[i]);
	}
	return 0;
}

static int settings_update_fn(struct db_tx *tx, void *data,
			      struct hx_err *err)
{
	struct update_req *q = data;
	struct statedb_settings cur;
	int r;

	if ((r = settings_read(tx, &cur, err)) < 0)
		return r;
	if (q->if_digest != NULL && strcmp(q->if_digest, cur.digest) != 0)
		return hx_err_set(err, HX_ECONFLICT,
				  "settings changed since they were read: "
				  "re-read and retry");
	for (unsigned i = 0; i < q->n; i++) {
		struct wire_value p[] = {db_text(q->keys[i]),
					 db_int(q->values[i])};
		r = db_exec(tx,
			    "INSERT INTO settings (key, value) VALUES (?, ?) "
			    "ON CONFLICT (key) DO UPDATE SET value = "
			    "excluded.value",
			    p, 2, NULL, NULL, err);
		if (r < 0)
			return r;
	}
	return 0;
}

int statedb_settings_update(struct statedb *db, const char *const *keys,
			    const int64_t *values, unsigned n,
			    const char *if_digest, struct hx_err *err)
{
	struct update_req q = {keys, values, n, if_digest};
	int r;

	if ((r = settings_validate(&q, err)) < 0)
		return r;
	return db_write(db, settings_update_fn, &q, err);
}
