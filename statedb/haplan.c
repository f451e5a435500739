/*
 * The HA leader's two database operations: load a scheduler state from the
 * rows, and commit a plan in one transaction (see ha.c for the design).
 *
 * The last explanation is encoded as
 *   "TIME REASON FROM CHOSEN CONSIDERED F0..F6 REJECTED REMAINING SOFT LOAD"
 * with nodes by name ("-" for none), so that it survives node indices
 * changing between loads.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/lib.h"
#include "statedb/db.h"

/* ---- names ---- */

static int svc_state_parse(const char *s)
{
	for (int i = 0; i < SCHED_SVC__COUNT; i++)
		if (strcmp(s, scheduler_svc_state_str(i)) == 0)
			return i;
	return -1;
}

static int node_state_parse(const char *s)
{
	for (int i = 0; i < SCHED_NODE__COUNT; i++)
		if (strcmp(s, scheduler_node_state_str(i)) == 0)
			return i;
	return -1;
}

static const char *node_name(const struct sched_state *st, uint32_t n)
{
	return n < st->n_nodes ? st->nodes[n].name : "";
}

/* The index of node @name, appended as 'gone' when the state lacks it.
 * SCHED_NONE for "" or when it cannot be added. */
static uint32_t node_ref(struct statedb_ha_snapshot *s, const char *name)
{
	uint32_t n;

	if (name[0] == '\0' || strcmp(name, "-") == 0)
		return SCHED_NONE;
	n = scheduler_state_find_node(&s->st, name);
	if (n != SCHED_NONE)
		return n;
	if (scheduler_state_add_node(&s->st, name, 0, 0, &n) < 0)
		return SCHED_NONE;
	s->st.nodes[n].st.state = SCHED_NODE_GONE;
	return n;
}

static void why_encode(const struct sched_state *st,
		       const struct sched_explain *w, char *buf, size_t len)
{
	const char *from = node_name(st, w->from), *to = node_name(st, w->chosen);

	snprintf(buf, len,
		 "%" PRIu64 " %u %s %s %u %u %u %u %u %u %u %u %u %u %u %.17g",
		 w->time_ms, w->reason, from[0] ? from : "-", to[0] ? to : "-",
		 w->considered, w->filtered[0], w->filtered[1], w->filtered[2],
		 w->filtered[3], w->filtered[4], w->filtered[5],
		 w->filtered[6], w->rejected, w->remaining, w->soft_violations,
		 w->load);
}

static void why_decode(struct statedb_ha_snapshot *s, const char *text,
		       struct sched_explain *w)
{
	char from[SCHED_NAME_MAX], to[SCHED_NAME_MAX];
	struct sched_explain e = {0};

	_Static_assert(SCHED_F__COUNT == 7, "why encoding has 7 filters");
	if (sscanf(text,
		   "%" SCNu64 " %u %63s %63s %u %u %u %u %u %u %u %u %u %u %u "
		   "%lf",
		   &e.time_ms, &e.reason, from, to, &e.considered,
		   &e.filtered[0], &e.filtered[1], &e.filtered[2],
		   &e.filtered[3], &e.filtered[4], &e.filtered[5],
		   &e.filtered[6], &e.rejected, &e.remaining,
		   &e.soft_violations, &e.load) != 16 ||
	    e.reason >= SCHED_R__COUNT || e.rejected > SCHED_F__COUNT)
		return; /* keep what the service had */
	e.from = node_ref(s, from);
	e.chosen = node_ref(s, to);
	*w = e;
}

/* ---- load ---- */

enum {
	V_VMID, V_NODE, V_CPUS, V_MEM, V_DESIRED, V_STATE, V_STATE_NODE,
	V_STATE_MS, V_LOCK, V_HA, V_REQUEST, V_MAX_RESTART, V_MAX_RELOCATE,
	V_FAILBACK, V_PRIORITY, V_CRM, V_HNODE, V_TARGET, V_MAINT, V_UID,
	V_UID_MS, V_CONFIRMED, V_RESTARTS, V_FAILED, V_N_FAILED, V_WHY,
};

static const char vm_sql[] =
	"SELECT v.vmid, v.node, v.cpus, v.memory_mb, v.desired, v.state, "
	"v.state_node, v.state_ms, v.lock, h.vmid IS NOT NULL, h.request, "
	"h.max_restart, h.max_relocate, h.failback, h.priority, h.state, "
	"h.node, h.target, h.maint_node, h.uid, h.uid_ms, h.confirmed, "
	"h.restarts, h.failed, h.n_failed, h.why FROM vms v LEFT JOIN "
	"ha_resources h ON h.vmid = v.vmid ORDER BY v.vmid";

static int load_settings(struct db_tx *tx, struct statedb_ha_snapshot *s,
			 struct hx_err *err)
{
	struct wire_rows *rows;
	int r;

	s->st.crs = SCHED_CRS_STATIC;
	r = db_query(tx,
		     "SELECT key, value FROM settings WHERE key IN "
		     "('ha.crs', 'ha.shutdown_policy', 'ha.admission')",
		     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < rows->nrows; i++) {
		const char *k = db_row_text(rows, i, 0);
		int64_t v = db_row_int(rows, i, 1);

		if (strcmp(k, "ha.crs") == 0)
			s->st.crs = v == 0 ? SCHED_CRS_BASIC : SCHED_CRS_STATIC;
		else if (strcmp(k, "ha.shutdown_policy") == 0)
			s->shutdown_policy = v >= 0 && v <= 3 ? (int)v : 0;
		else
			s->admission = v != 0;
	}
	wire_rows_free(rows);
	r = db_query(tx,
		     "SELECT CAST(value AS INTEGER) FROM meta WHERE key = "
		     "'ha_next_uid'",
		     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	s->st.next_uid = rows->nrows > 0 ? (uint64_t)db_row_int(rows, 0, 0) : 1;
	if (s->st.next_uid == 0)
		s->st.next_uid = 1;
	wire_rows_free(rows);
	return 0;
}

static int load_nodes(struct db_tx *tx, struct statedb_ha_snapshot *s,
		      struct hx_err *err)
{
	struct wire_rows *rows;
	int r;

	r = db_query(tx, "SELECT id, name, cpus, memory_mb FROM nodes ORDER BY "
			 "name",
		     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < rows->nrows && r == 0; i++)
		r = scheduler_state_add_node(
			&s->st, db_row_text(rows, i, 1),
			(double)db_row_int(rows, i, 2),
			(uint64_t)db_row_int(rows, i, 3) << 20, NULL);
	wire_rows_free(rows);
	if (r < 0)
		return hx_err_set(err, r, "ha: cannot add the nodes");
	r = db_query(tx,
		     "SELECT name, state, since_ms, maintenance FROM ha_nodes "
		     "ORDER BY name",
		     NULL, 0, &rows, err);
	if (r < 0)
		return r;
	for (unsigned i = 0; i < rows->nrows; i++) {
		uint32_t n = scheduler_state_find_node(&s->st,
						       db_row_text(rows, i, 0));
		int state = node_state_parse(db_row_text(rows, i, 1));

		if (n == SCHED_NONE) {
			n = node_ref(s, db_row_text(rows, i, 0));
			state = SCHED_NODE_GONE; /* removed from the cluster */
		}
		if (n == SCHED_NONE)
			continue;
		if (state >= 0)
			s->st.nodes[n].st.state = state;
		s->st.nodes[n].st.since_ms = (uint64_t)db_row_int(rows, i, 2);
		s->st.nodes[n].st.maintenance = db_row_int(rows, i, 3) != 0;
	}
	wire_rows_free(rows);
	return 0;
}

/* Restores a stored status over the fresh one add_service made. */
static void load_status(struct statedb_ha_snapshot *s,
			const struct wire_rows *rows, unsigned r,
			struct sched_status *st)
{
	char failed[1024], *save, *t;
	uint32_t k = 0;

	st->state = (enum sched_svc_state)svc_state_parse(
		db_row_text(rows, r, V_CRM));
	st->node = node_ref(s, db_row_text(rows, r, V_HNODE));
	st->target = node_ref(s, db_row_text(rows, r, V_TARGET));
	st->maint_node = node_ref(s, db_row_text(rows, r, V_MAINT));
	st->uid = (uint64_t)db_row_int(rows, r, V_UID);
	st->confirmed = db_row_int(rows, r, V_CONFIRMED) != 0;
	st->restarts = (uint32_t)db_row_int(rows, r, V_RESTARTS);
	st->n_failed = (uint32_t)db_row_int(rows, r, V_N_FAILED);
	db_row_copy(rows, r, V_FAILED, failed, sizeof(failed));
	for (t = strtok_r(failed, " ", &save); t != NULL && k < SCHED_FAILED_MAX;
	     t = strtok_r(NULL, " ", &save))
		st->failed[k++] = node_ref(s, t);
	memset(&st->why, 0, sizeof(st->why));
	st->why.from = st->why.chosen = SCHED_NONE;
	st->why.rejected = SCHED_F__COUNT;
	why_decode(s, db_row_text(rows, r, V_WHY), &st->why);
}

static int load_vm(struct statedb_ha_snapshot *s, const struct wire_rows *rows,
		   unsigned r, uint64_t *next_uid)
{
	struct sched_service conf;
	bool ha = db_row_int(rows, r, V_HA) != 0;
	bool has_status = ha && svc_state_parse(db_row_text(rows, r, V_CRM)) >= 0;
	const char *desired = db_row_text(rows, r, V_DESIRED);
	uint32_t node, i;
	int rc;

	scheduler_service_defaults(&conf);
	snprintf(conf.sid, sizeof(conf.sid), "vm:%" PRId64,
		 db_row_int(rows, r, V_VMID));
	conf.cpu = (double)db_row_int(rows, r, V_CPUS);
	conf.mem = (uint64_t)db_row_int(rows, r, V_MEM) << 20;
	if (ha) {
		int req = 0;
		const char *rq = db_row_text(rows, r, V_REQUEST);
		static const char *const names[] = {"started", "stopped",
						    "disabled", "ignored"};
		for (int k = 0; k < 4; k++)
			if (strcmp(rq, names[k]) == 0)
				req = k;
		conf.request = (enum sched_request)req;
		conf.max_restart = (uint32_t)db_row_int(rows, r, V_MAX_RESTART);
		conf.max_relocate =
			(uint32_t)db_row_int(rows, r, V_MAX_RELOCATE);
		conf.failback = db_row_int(rows, r, V_FAILBACK) != 0;
		conf.priority = (int32_t)db_row_int(rows, r, V_PRIORITY);
	} else {
		conf.request = SCHED_REQ_IGNORED;
	}
	node = node_ref(s, db_row_text(rows, r, V_NODE));
	/* A stopped plain VM is no load. */
	if (!ha && strcmp(desired, "running") != 0)
		node = SCHED_NONE;
	rc = scheduler_state_add_service(&s->st, &conf, node, &i);
	if (rc < 0)
		return rc;
	if (has_status)
		load_status(s, rows, r, &s->st.svcs[i].st);
	else if (ha)
		s->st.svcs[i].st.uid = (*next_uid)++;
	else
		s->st.svcs[i].st.uid = 0;
	return 0;
}

static void load_vm_info(struct statedb_ha_snapshot *s,
			 const struct wire_rows *rows, unsigned r)
{
	char sid[SCHED_NAME_MAX];
	struct statedb_ha_vm *v;
	uint32_t i;

	snprintf(sid, sizeof(sid), "vm:%" PRId64, db_row_int(rows, r, V_VMID));
	i = scheduler_state_find_service(&s->st, sid);
	if (i == SCHED_NONE)
		return;
	v = &s->vms[i];
	v->vmid = db_row_int(rows, r, V_VMID);
	v->ha = db_row_int(rows, r, V_HA) != 0;
	db_row_copy(rows, r, V_NODE, v->node, sizeof(v->node));
	db_row_copy(rows, r, V_DESIRED, v->desired, sizeof(v->desired));
	db_row_copy(rows, r, V_STATE, v->state, sizeof(v->state));
	db_row_copy(rows, r, V_STATE_NODE, v->state_node,
		    sizeof(v->state_node));
	v->state_ms = db_row_int(rows, r, V_STATE_MS);
	db_row_copy(rows, r, V_LOCK, v->lock, sizeof(v->lock));
	v->uid_ms = db_row_int(rows, r, V_UID_MS);
}

static int load_vms(struct db_tx *tx, struct statedb_ha_snapshot *s,
		    struct hx_err *err)
{
	struct wire_rows *rows;
	uint64_t next_uid = s->st.next_uid;
	int r = 0;

	r = db_query(tx, vm_sql, NULL, 0, &rows, err);
	if (r < 0)
		return r;
	/* uids are handed out by the scheduler; add_service's are not used */
	for (unsigned i = 0; i < rows->nrows && r == 0; i++)
		r = load_vm(s, rows, i, &next_uid);
	if (r == 0) {
		s->vms = calloc(s->st.n_svcs + 1, sizeof(*s->vms));
		if (s->vms == NULL)
			r = -ENOMEM;
	}
	for (unsigned i = 0; i < rows->nrows && r == 0; i++)
		load_vm_info(s, rows, i);
	wire_rows_free(rows);
	s->st.next_uid = next_uid;
	for (uint32_t i = 0; i < s->st.n_svcs; i++)
		if (s->st.svcs[i].st.uid >= s->st.next_uid)
			s->st.next_uid = s->st.svcs[i].st.uid + 1;
	if (r < 0)
		return hx_err_set(err, r, "ha: cannot load the VMs");
	return 0;
}

static int load_rules(struct db_tx *tx, struct statedb_ha_snapshot *s,
		      struct hx_err *err)
{
	char(*sids)[SCHED_NAME_MAX] = calloc(256, sizeof(*sids));
	struct sched_node_prio *nodes = calloc(256, sizeof(*nodes));
	struct statedb_ha_rule *h = calloc(1, sizeof(*h));
	struct wire_rows *rows = NULL;
	int r = -ENOMEM;

	if (sids == NULL || nodes == NULL || h == NULL)
		goto out;
	r = db_query(tx,
		     "SELECT id, kind, disabled, strict, positive, resources, "
		     "nodes, comment, version FROM ha_rules ORDER BY id",
		     NULL, 0, &rows, err);
	if (r < 0)
		goto out;
	for (unsigned i = 0; i < rows->nrows; i++) {
		struct sched_rule sr;

		memset(h, 0, sizeof(*h));
		db_row_copy(rows, i, 0, h->id, sizeof(h->id));
		db_row_copy(rows, i, 1, h->kind, sizeof(h->kind));
		h->disabled = db_row_int(rows, i, 2) != 0;
		h->strict = db_row_int(rows, i, 3) != 0;
		h->positive = db_row_int(rows, i, 4) != 0;
		db_row_copy(rows, i, 5, h->resources, sizeof(h->resources));
		db_row_copy(rows, i, 6, h->nodes, sizeof(h->nodes));
		if (statedb_ha_rule_to_sched(h, &sr, sids, nodes, 256) < 0 ||
		    scheduler_rules_add(&s->rules, &sr) < 0)
			s->bad_rules++;
	}
	r = 0;
out:
	if (rows != NULL)
		wire_rows_free(rows);
	free(h);
	free(nodes);
	free(sids);
	if (r == -ENOMEM)
		return hx_err_set(err, r, "out of memory");
	return r;
}

static int ha_load_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct statedb_ha_snapshot *s = data;
	int r;

	/* a retried read starts over */
	statedb_ha_snapshot_close(s);
	scheduler_state_init(&s->st);
	scheduler_rules_init(&s->rules);
	if ((r = load_settings(tx, s, err)) < 0 ||
	    (r = load_nodes(tx, s, err)) < 0 || (r = load_vms(tx, s, err)) < 0 ||
	    (r = load_rules(tx, s, err)) < 0)
		return r;
	return 0;
}

/* Node ids are read separately: gone nodes may be added while loading. */
static int ha_node_ids(struct statedb *db, struct statedb_ha_snapshot *s,
		       struct hx_err *err)
{
	struct statedb_node *nodes;
	unsigned n;
	int r;

	if ((r = statedb_node_list(db, &nodes, &n, err)) < 0)
		return r;
	s->node_ids = calloc(s->st.n_nodes + 1, sizeof(*s->node_ids));
	if (s->node_ids == NULL) {
		free(nodes);
		return hx_err_set(err, -ENOMEM, "out of memory");
	}
	for (unsigned i = 0; i < n; i++) {
		uint32_t k = scheduler_state_find_node(&s->st, nodes[i].name);
		if (k != SCHED_NONE)
			s->node_ids[k] = nodes[i].id;
	}
	free(nodes);
	return 0;
}

int statedb_ha_load(struct statedb *db, struct statedb_ha_snapshot *ret,
		    struct hx_err *err)
{
	struct statedb_ha_snapshot s;
	int r;

	memset(&s, 0, sizeof(s));
	r = db_read(db, ha_load_fn, &s, err);
	if (r == 0)
		r = ha_node_ids(db, &s, err);
	if (r < 0) {
		statedb_ha_snapshot_close(&s);
		return r;
	}
	*ret = s;
	return 0;
}

void statedb_ha_snapshot_close(struct statedb_ha_snapshot *s)
{
	if (s == NULL)
		return;
	scheduler_state_close(&s->st);
	scheduler_rules_close(&s->rules);
	free(s->vms);
	free(s->node_ids);
	memset(s, 0, sizeof(*s));
}

/* ---- apply ---- */

struct svc_write {
	int64_t vmid;
	const char *state;
	char node[SCHED_NAME_MAX], target[SCHED_NAME_MAX];
	char maint[SCHED_NAME_MAX];
	int64_t uid, uid_ms;
	bool confirmed;
	uint32_t restarts, n_failed;
	char failed[1024];
	char why[512];
	char why_text[1024];
	const char *desired; /* NULL: leave the VM row alone */
	bool set_node;	     /* started: the VM belongs to .node */
};

struct node_write {
	char name[SCHED_NAME_MAX];
	const char *state;
	int64_t since_ms;
	bool maintenance;
};

struct apply_req {
	struct svc_write *svc;
	size_t n_svc;
	struct node_write *node;
	size_t n_node;
	struct statedb_event *ev;
	size_t n_ev;
	uint64_t next_uid;
	int64_t now;
	uint64_t leader_id;
};

static void svc_prepare(const struct statedb_ha_snapshot *snap,
			const struct sched_state *post, uint32_t i,
			int64_t now, struct svc_write *w)
{
	const struct sched_status *s = &post->svcs[i].st;
	size_t len = 0;

	memset(w, 0, sizeof(*w));
	w->vmid = snap->vms[i].vmid;
	w->state = scheduler_svc_state_str(s->state);
	snprintf(w->node, sizeof(w->node), "%s", node_name(post, s->node));
	snprintf(w->target, sizeof(w->target), "%s",
		 node_name(post, s->target));
	snprintf(w->maint, sizeof(w->maint), "%s",
		 node_name(post, s->maint_node));
	w->uid = (int64_t)s->uid;
	w->uid_ms = s->uid != snap->st.svcs[i].st.uid ? now
						      : snap->vms[i].uid_ms;
	w->confirmed = s->confirmed;
	w->restarts = s->restarts;
	w->n_failed = s->n_failed;
	for (uint32_t k = 0; k < s->n_failed && k < SCHED_FAILED_MAX; k++) {
		const char *n = node_name(post, s->failed[k]);
		int m = snprintf(w->failed + len, sizeof(w->failed) - len,
				 "%s%s", len ? " " : "", n[0] ? n : "-");
		if (m < 0 || (size_t)m >= sizeof(w->failed) - len)
			break;
		len += (size_t)m;
	}
	why_encode(post, &s->why, w->why, sizeof(w->why));
	(void)scheduler_explain_format(post, i, w->why_text,
				       sizeof(w->why_text));
	switch (s->state) {
	case SCHED_SVC_STARTED:
		w->desired = "running";
		w->set_node = s->node != SCHED_NONE;
		break;
	case SCHED_SVC_REQUEST_STOP:
	case SCHED_SVC_STOPPED:
	case SCHED_SVC_RELOCATE:
		w->desired = "stopped";
		break;
	default:
		break;
	}
}

static void event_prepare(const struct statedb_ha_snapshot *snap,
			  const struct sched_event *e, const char *node,
			  int64_t now, struct statedb_event *out)
{
	memset(out, 0, sizeof(*out));
	out->time_ms = now;
	snprintf(out->node, sizeof(out->node), "%s", node);
	snprintf(out->actor, sizeof(out->actor), "ha");
	if (e->svc != SCHED_NONE && e->svc < snap->st.n_svcs) {
		snprintf(out->kind, sizeof(out->kind), "ha.service");
		snprintf(out->subject, sizeof(out->subject), "vm/%" PRId64,
			 snap->vms[e->svc].vmid);
	} else {
		snprintf(out->kind, sizeof(out->kind), "ha.node");
		snprintf(out->subject, sizeof(out->subject), "%s",
			 node_name(&snap->st, e->node));
	}
	(void)scheduler_event_format(&snap->st, e, out->message,
				     sizeof(out->message));
}

static int svc_write(struct db_tx *tx, const struct svc_write *w,
		     struct hx_err *err)
{
	struct wire_value p[] = {
		db_text(w->state),	    db_text(w->node),
		db_text(w->target),	    db_text(w->maint),
		db_int(w->uid),		    db_int(w->uid_ms),
		db_int(w->confirmed ? 1 : 0), db_int(w->restarts),
		db_text(w->failed),	    db_int(w->n_failed),
		db_text(w->why),	    db_text(w->why_text),
		db_int((int64_t)hx_wall_ms()), db_int(w->vmid),
	};
	uint64_t changes = 0;
	int r;

	r = db_exec(tx,
		    "UPDATE ha_resources SET state = ?, node = ?, target = ?, "
		    "maint_node = ?, uid = ?, uid_ms = ?, confirmed = ?, "
		    "restarts = ?, failed = ?, n_failed = ?, why = ?, "
		    "why_text = ?, state_ms = CASE WHEN state = ?1 THEN "
		    "state_ms ELSE ?13 END WHERE vmid = ?14",
		    p, HX_ARRAY_SIZE(p), NULL, &changes, err);
	if (r < 0 || changes == 0 || w->desired == NULL)
		return r; /* deleted meanwhile: nothing to move */
	struct wire_value q[] = {db_text(w->desired), db_text(w->node),
				 db_int(w->set_node ? 1 : 0), db_int(w->vmid)};
	/* A VM locked by an operation (a migration, a create) keeps its
	 * node: the operation moves it. */
	return db_exec(tx,
		       "UPDATE vms SET desired = ?1, node = CASE WHEN ?3 AND "
		       "lock = '' AND ?2 != '' THEN ?2 ELSE node END, version = "
		       "version + (CASE WHEN ?3 AND lock = '' AND ?2 != '' AND "
		       "node != ?2 THEN 1 ELSE 0 END) WHERE vmid = ?4 AND "
		       "(desired != ?1 OR (?3 AND lock = '' AND ?2 != '' AND "
		       "node != ?2))",
		       q, HX_ARRAY_SIZE(q), NULL, NULL, err);
}

static int apply_fn(struct db_tx *tx, void *data, struct hx_err *err)
{
	struct apply_req *q = data;
	char uid[24];
	int r = 0;

	if (q->leader_id != 0 && db_tx_leader(tx) != q->leader_id)
		return hx_err_set(err, HX_ENOTLEADER,
				  "ha: node %" PRIu64 " is no longer the leader",
				  q->leader_id);
	for (size_t i = 0; i < q->n_svc && r == 0; i++)
		r = svc_write(tx, &q->svc[i], err);
	for (size_t i = 0; i < q->n_node && r == 0; i++) {
		const struct node_write *n = &q->node[i];
		struct wire_value p[] = {db_text(n->name), db_text(n->state),
					 db_int(n->since_ms),
					 db_int(n->maintenance ? 1 : 0)};
		r = db_exec(tx,
			    "INSERT INTO ha_nodes (name, state, since_ms, "
			    "maintenance) VALUES (?, ?, ?, ?) ON CONFLICT "
			    "(name) DO UPDATE SET state = excluded.state, "
			    "since_ms = excluded.since_ms, maintenance = "
			    "excluded.maintenance",
			    p, HX_ARRAY_SIZE(p), NULL, NULL, err);
	}
	for (size_t i = 0; i < q->n_ev && r == 0; i++) {
		const struct statedb_event *e = &q->ev[i];
		struct wire_value p[] = {
			db_int(e->time_ms), db_text(e->node),
			db_text(e->kind),   db_text(e->subject),
			db_text(e->message), db_text(e->actor)};
		r = db_exec(tx,
			    "INSERT INTO events (time_ms, node, kind, subject, "
			    "message, actor) VALUES (?, ?, ?, ?, ?, ?)",
			    p, HX_ARRAY_SIZE(p), NULL, NULL, err);
	}
	if (r < 0)
		return r;
	snprintf(uid, sizeof(uid), "%" PRIu64, q->next_uid);
	struct wire_value p[] = {db_text(uid)};
	return db_exec(tx,
		       "INSERT INTO meta (key, value) VALUES ('ha_next_uid', ?) "
		       "ON CONFLICT (key) DO UPDATE SET value = excluded.value "
		       "WHERE CAST(value AS INTEGER) < CAST(excluded.value AS "
		       "INTEGER)",
		       p, 1, NULL, NULL, err);
}

static int apply_prepare(const struct statedb_ha_snapshot *snap,
			 const struct sched_state *post,
			 const struct sched_plan *plan, const char *node,
			 struct apply_req *q)
{
	q->svc = calloc(plan->n_actions + 1, sizeof(*q->svc));
	q->node = calloc(plan->n_actions + 1, sizeof(*q->node));
	q->ev = calloc(plan->n_events + 1, sizeof(*q->ev));
	if (q->svc == NULL || q->node == NULL || q->ev == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < plan->n_actions; i++) {
		const struct sched_action *a = &plan->actions[i];

		if (a->kind == SCHED_ACT_SERVICE) {
			if (!snap->vms[a->index].ha)
				continue; /* plain VMs are not HA's to change */
			svc_prepare(snap, post, a->index, q->now,
				    &q->svc[q->n_svc++]);
		} else {
			struct node_write *w = &q->node[q->n_node++];
			snprintf(w->name, sizeof(w->name), "%s",
				 post->nodes[a->index].name);
			w->state = scheduler_node_state_str(a->u.node.state);
			w->since_ms = (int64_t)a->u.node.since_ms;
			w->maintenance = a->u.node.maintenance;
		}
	}
	for (size_t i = 0; i < plan->n_events; i++)
		event_prepare(snap, &plan->events[i], node, q->now,
			      &q->ev[q->n_ev++]);
	q->next_uid = plan->next_uid;
	return 0;
}

int statedb_ha_apply(struct statedb *db, const struct statedb_ha_snapshot *snap,
		     const struct sched_plan *plan, const char *node,
		     uint64_t leader_id, struct hx_err *err)
{
	struct apply_req q = {.now = (int64_t)hx_wall_ms(),
			      .leader_id = leader_id};
	struct sched_state post;
	int r;

	if (plan->n_actions == 0 && plan->n_events == 0)
		return 0;
	scheduler_state_init(&post);
	r = scheduler_state_copy(&post, &snap->st);
	if (r == 0)
		r = scheduler_plan_apply(&post, plan);
	if (r == -EINVAL) {
		scheduler_state_close(&post);
		return hx_err_set(err, -EINVAL,
				  "ha: the plan does not fit the state");
	}
	if (r == 0)
		r = apply_prepare(snap, &post, plan, node, &q);
	if (r == 0)
		r = db_write(db, apply_fn, &q, err);
	else
		hx_err_set(err, r, "out of memory");
	scheduler_state_close(&post);
	free(q.svc);
	free(q.node);
	free(q.ev);
	return r;
}
