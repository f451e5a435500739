/*
 * Schema versions and cluster-wide migrations.
 *
 * DESIGN: migrations run in the writer's transaction, so however many nodes
 * start at once, each migration is applied exactly once: the first batch
 * to commit moves the version and the others find nothing to do. Column
 * types avoid DATETIME/DATE/TIMESTAMP/BOOLEAN: dqlite 1.11 aborts the
 * leader when it meets a REAL in such a column. Times are INTEGER ms.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

static const char *const migration_1[] = {
	"CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
	"CREATE TABLE nodes ("
	" id INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" address TEXT NOT NULL UNIQUE,"
	" peer TEXT NOT NULL UNIQUE,"
	" api_port INTEGER NOT NULL,"
	" arch TEXT NOT NULL,"
	" cpus INTEGER NOT NULL,"
	" memory_mb INTEGER NOT NULL,"
	" labels TEXT NOT NULL DEFAULT '{}',"
	" cert_fp TEXT NOT NULL UNIQUE,"
	" joined_ms INTEGER NOT NULL,"
	" version INTEGER NOT NULL DEFAULT 1)",
	"CREATE TABLE settings (key TEXT PRIMARY KEY, value INTEGER NOT NULL)",
	"CREATE TABLE join_tokens ("
	" hash TEXT PRIMARY KEY,"
	" issuer TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" expires_ms INTEGER NOT NULL,"
	" used_ms INTEGER,"
	" used_by TEXT)",
	"CREATE TABLE api_tokens ("
	" hash TEXT PRIMARY KEY,"
	" name TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL)",
	"CREATE TABLE tasks ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" kind TEXT NOT NULL,"
	" node TEXT NOT NULL,"
	" subject TEXT NOT NULL,"
	" state TEXT NOT NULL,"
	" progress INTEGER NOT NULL DEFAULT 0,"
	" message TEXT NOT NULL DEFAULT '',"
	" actor TEXT NOT NULL,"
	" started_ms INTEGER NOT NULL,"
	" ended_ms INTEGER)",
	"CREATE INDEX tasks_state ON tasks (state, id)",
	"CREATE TABLE task_log ("
	" task_id INTEGER NOT NULL REFERENCES tasks (id) ON DELETE CASCADE,"
	" seq INTEGER NOT NULL,"
	" time_ms INTEGER NOT NULL,"
	" line TEXT NOT NULL,"
	" PRIMARY KEY (task_id, seq))",
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time_ms INTEGER NOT NULL,"
	" node TEXT NOT NULL,"
	" kind TEXT NOT NULL,"
	" subject TEXT NOT NULL,"
	" message TEXT NOT NULL,"
	" actor TEXT NOT NULL)",
	"CREATE INDEX events_subject ON events (subject, id)",
	NULL,
};

/* 2: virtual machines. The configuration is JSON owned by agent/; the
 * columns beside it are what queries filter and place on. */
static const char *const migration_2[] = {
	"CREATE TABLE vms ("
	" vmid INTEGER PRIMARY KEY,"
	" name TEXT NOT NULL UNIQUE,"
	" node TEXT NOT NULL,"
	" cpus INTEGER NOT NULL,"
	" memory_mb INTEGER NOT NULL,"
	" tags TEXT NOT NULL DEFAULT '',"
	" config TEXT NOT NULL,"
	" pending TEXT,"
	" desired TEXT NOT NULL DEFAULT 'stopped',"
	" state TEXT NOT NULL DEFAULT 'stopped',"
	" state_node TEXT NOT NULL DEFAULT '',"
	" state_ms INTEGER NOT NULL DEFAULT 0,"
	" lock TEXT NOT NULL DEFAULT '',"
	" version INTEGER NOT NULL DEFAULT 1,"
	" created_ms INTEGER NOT NULL)",
	"CREATE INDEX vms_node ON vms (node)",
	"CREATE TABLE vm_macs ("
	" mac TEXT PRIMARY KEY,"
	" vmid INTEGER NOT NULL)",
	"CREATE INDEX vm_macs_vmid ON vm_macs (vmid)",
	NULL,
};

/* 3: the node a VM is migrating to while it holds the "migrate" lock, so
 * that a restarted hxd can finish or undo a migration it lost track of. */
static const char *const migration_3[] = {
	"ALTER TABLE vms ADD COLUMN target TEXT NOT NULL DEFAULT ''",
	NULL,
};

/* 4: high availability (agent/ha.c, statedb/ha.c). ha_resources holds a
 * VM's HA configuration (what an admin edits, under `version`) beside the
 * status the leader writes after every scheduler step; nodes' HA states,
 * rules and the next request id live beside it. Lists are space-separated
 * text: the loader parses them, nothing queries into them. */
static const char *const migration_4[] = {
	"CREATE TABLE ha_resources ("
	" vmid INTEGER PRIMARY KEY,"
	" request TEXT NOT NULL DEFAULT 'started',"
	" max_restart INTEGER NOT NULL DEFAULT 1,"
	" max_relocate INTEGER NOT NULL DEFAULT 1,"
	" failback INTEGER NOT NULL DEFAULT 1,"
	" priority INTEGER NOT NULL DEFAULT 0,"
	" comment TEXT NOT NULL DEFAULT '',"
	" version INTEGER NOT NULL DEFAULT 1,"
	" created_ms INTEGER NOT NULL,"
	" state TEXT NOT NULL DEFAULT '',"
	" node TEXT NOT NULL DEFAULT '',"
	" target TEXT NOT NULL DEFAULT '',"
	" maint_node TEXT NOT NULL DEFAULT '',"
	" uid INTEGER NOT NULL DEFAULT 0,"
	" uid_ms INTEGER NOT NULL DEFAULT 0,"
	" confirmed INTEGER NOT NULL DEFAULT 0,"
	" restarts INTEGER NOT NULL DEFAULT 0,"
	" failed TEXT NOT NULL DEFAULT '',"
	" n_failed INTEGER NOT NULL DEFAULT 0,"
	" why TEXT NOT NULL DEFAULT '',"
	" why_text TEXT NOT NULL DEFAULT '',"
	" state_ms INTEGER NOT NULL DEFAULT 0)",
	"CREATE TABLE ha_nodes ("
	" name TEXT PRIMARY KEY,"
	" state TEXT NOT NULL DEFAULT 'unknown',"
	" since_ms INTEGER NOT NULL DEFAULT 0,"
	" maintenance INTEGER NOT NULL DEFAULT 0)",
	"CREATE TABLE ha_rules ("
	" id TEXT PRIMARY KEY,"
	" kind TEXT NOT NULL,"
	" disabled INTEGER NOT NULL DEFAULT 0,"
	" strict INTEGER NOT NULL DEFAULT 1,"
	" positive INTEGER NOT NULL DEFAULT 1,"
	" resources TEXT NOT NULL,"
	" nodes TEXT NOT NULL DEFAULT '',"
	" comment TEXT NOT NULL DEFAULT '',"
	" version INTEGER NOT NULL DEFAULT 1,"
	" created_ms INTEGER NOT NULL)",
	"INSERT OR IGNORE INTO meta (key, value) VALUES ('ha_next_uid', '1')",
	NULL,
};

/* 5: storage (issue 6): pools defined cluster-wide, each node's view of
 * them, and VM snapshot trees. */
static const char *const migration_5[] = {
	"CREATE TABLE pools ("
	" name TEXT PRIMARY KEY,"
	" type TEXT NOT NULL,"
	" path TEXT NOT NULL DEFAULT '',"
	" options TEXT NOT NULL DEFAULT '{}',"
	" nodes TEXT NOT NULL DEFAULT '',"
	" content TEXT NOT NULL,"
	" shared INTEGER NOT NULL DEFAULT 0,"
	" version INTEGER NOT NULL DEFAULT 1,"
	" created_ms INTEGER NOT NULL)",
	"CREATE TABLE pool_status ("
	" pool TEXT NOT NULL,"
	" node TEXT NOT NULL,"
	" available INTEGER NOT NULL,"
	" capacity_bytes INTEGER NOT NULL DEFAULT 0,"
	" used_bytes INTEGER NOT NULL DEFAULT 0,"
	" free_bytes INTEGER NOT NULL DEFAULT 0,"
	" message TEXT NOT NULL DEFAULT '',"
	" updated_ms INTEGER NOT NULL,"
	" PRIMARY KEY (pool, node))",
	"CREATE TABLE vm_snapshots ("
	" vmid INTEGER NOT NULL,"
	" name TEXT NOT NULL,"
	" parent TEXT NOT NULL DEFAULT '',"
	" description TEXT NOT NULL DEFAULT '',"
	" ram INTEGER NOT NULL DEFAULT 0,"
	" current INTEGER NOT NULL DEFAULT 0,"
	" config TEXT NOT NULL,"
	" created_ms INTEGER NOT NULL,"
	" PRIMARY KEY (vmid, name))",
	NULL,
};

/* 6: networking (issue 7): SDN zones, vnets, subnets, IPAM allocations
 * and the distributed firewall. Every write to these tables also bumps
 * meta.net_generation, which the nodes' network reconcilers poll. Address
 * uniqueness is enforced twice: allocations run inside the writer's one
 * transaction, and net_ips.ip is the primary key (canonical text). */
static const char *const migration_6[] = {
	"CREATE TABLE net_zones ("
	" name TEXT PRIMARY KEY,"
	" type TEXT NOT NULL,"
	" mtu INTEGER NOT NULL,"
	" asn INTEGER NOT NULL DEFAULT 0,"
	" created_ms INTEGER NOT NULL)",
	"CREATE TABLE net_vnets ("
	" name TEXT PRIMARY KEY,"
	" zone TEXT NOT NULL,"
	" vni INTEGER UNIQUE,"
	" description TEXT NOT NULL DEFAULT '',"
	" created_ms INTEGER NOT NULL)",
	"CREATE TABLE net_subnets ("
	" cidr TEXT PRIMARY KEY,"
	" vnet TEXT NOT NULL,"
	" family INTEGER NOT NULL,"
	" gateway TEXT NOT NULL DEFAULT '',"
	" dns TEXT NOT NULL DEFAULT '',"
	" dhcp_start TEXT NOT NULL DEFAULT '',"
	" dhcp_end TEXT NOT NULL DEFAULT '',"
	" created_ms INTEGER NOT NULL)",
	"CREATE INDEX net_subnets_vnet ON net_subnets (vnet)",
	"CREATE TABLE net_ips ("
	" ip TEXT PRIMARY KEY,"
	" subnet TEXT NOT NULL,"
	" vnet TEXT NOT NULL,"
	" family INTEGER NOT NULL,"
	" idx INTEGER,"
	" kind TEXT NOT NULL,"
	" vmid INTEGER,"
	" mac TEXT NOT NULL DEFAULT '',"
	" hostname TEXT NOT NULL DEFAULT '',"
	" created_ms INTEGER NOT NULL,"
	" UNIQUE (subnet, idx))",
	"CREATE INDEX net_ips_vmid ON net_ips (vmid)",
	"CREATE INDEX net_ips_mac ON net_ips (mac)",
	"CREATE TABLE net_fw_options ("
	" scope TEXT PRIMARY KEY,"
	" enabled INTEGER NOT NULL,"
	" policy_in TEXT NOT NULL,"
	" policy_out TEXT NOT NULL,"
	" log INTEGER NOT NULL DEFAULT 0)",
	"CREATE TABLE net_fw_groups ("
	" name TEXT PRIMARY KEY,"
	" comment TEXT NOT NULL DEFAULT '')",
	"CREATE TABLE net_fw_ipsets ("
	" name TEXT PRIMARY KEY,"
	" entries TEXT NOT NULL DEFAULT '',"
	" comment TEXT NOT NULL DEFAULT '')",
	"CREATE TABLE net_fw_rules ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" scope TEXT NOT NULL,"
	" pos INTEGER NOT NULL,"
	" enabled INTEGER NOT NULL DEFAULT 1,"
	" direction TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" macro TEXT NOT NULL DEFAULT '',"
	" proto TEXT NOT NULL DEFAULT '',"
	" sport TEXT NOT NULL DEFAULT '',"
	" dport TEXT NOT NULL DEFAULT '',"
	" src TEXT NOT NULL DEFAULT '',"
	" dst TEXT NOT NULL DEFAULT '',"
	" grp TEXT NOT NULL DEFAULT '',"
	" log INTEGER NOT NULL DEFAULT 0,"
	" comment TEXT NOT NULL DEFAULT '')",
	"CREATE INDEX net_fw_rules_scope ON net_fw_rules (scope, pos)",
	"INSERT INTO meta (key, value) VALUES ('net_generation', '0')",
	NULL,
};

static const char *const *const migrations[] = {
	migration_1, migration_2, migration_3, migration_4, migration_5,
	migration_6};

/* 0 when the meta table does not exist yet. */
static int schema_read(struct db_tx *tx, int *ret_version, struct hx_err *err)
{
	struct wire_rows *rows;
	int r;

	r = db_query(tx,
		     "SELECT count(*) FROM sqlite_master WHERE type = 'table' "
		     "AND name = 'meta'",
		     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	if (rows->nrows == 0 || db_row_int(rows, 0, 0) == 0) {
		wire_rows_free(rows);
		*ret_version = 0;
		return 0;
	}
	wire_rows_free(rows);
	r = db_query(tx,
		     "SELECT CAST(value AS INTEGER) FROM meta WHERE key = "
		     "'schema_version'",
		     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	*ret_version = rows->nrows > 0 ? (int)db_row_int(rows, 0, 0) : 0;
	wire_rows_free(rows);
	return 0;
}

static int schema_version_fn(struct db_tx *tx, void *data,
			     struct hx_err *err)
{
	return schema_read(tx, data, err);
}

int statedb_schema_version(struct statedb *db, int *ret_version,
			   struct hx_err *err)
{
	return db_read(db, schema_version_fn, ret_version, err);
}

static int migrate_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	int *version = data;
	char v[16];
	int r, cur;

	if ((r = schema_read(tx, &cur, err)) < 0)
		return r;
	if (cur > STATEDB_SCHEMA_VERSION)
		return hx_err_set(err, HX_ESCHEMA,
				  "statedb: the cluster's schema version is "
				  "%d but this hxd knows only up to %d: "
				  "upgrade hxd on this node",
				  cur, STATEDB_SCHEMA_VERSION);
	for (int m = cur; m < STATEDB_SCHEMA_VERSION; m++) {
		for (const char *const *sql = migrations[m]; *sql != NULL;
		     sql++) {
			r = db_exec(tx, *sql, NULL, 0, NULL, NULL, err);
			if (r < 0)
				return hx_err_prefix(err,
						     "statedb: migration %d",
						     m + 1);
		}
	}
	snprintf(v, sizeof(v), "%d", STATEDB_SCHEMA_VERSION);
	if (cur != STATEDB_SCHEMA_VERSION) {
		struct wire_value p[] = {db_text(v)};
		r = db_exec(tx,
			    "INSERT INTO meta (key, value) VALUES "
			    "('schema_version', ?) ON CONFLICT (key) DO "
			    "UPDATE SET value = excluded.value",
			    p, 1, NULL, NULL, err);
		if (r < 0)
			return r;
	}
	*version = STATEDB_SCHEMA_VERSION;
	return 0;
}

int statedb_migrate(struct statedb *db, int *ret_version, struct hx_err *err)
{
	int version = 0, r;

	r = db_write(db, migrate_fn, &version, err);
	if (r == 0 && ret_version != NULL)
		*ret_version = version;
	return r;
}
