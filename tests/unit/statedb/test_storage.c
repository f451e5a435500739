/* Unit tests for statedb/storage.c: pools, pool status, snapshot trees
 * and the name rules, against a real dqlite node. */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <dqlite.h>

#include "lib/lib.h"
#include "statedb/statedb.h"
#include "tests/unit/statedb/dqfix.h"


struct fixture {
	struct statedb *db[2];
	struct dqfix dq;
};

static int setup(void **state)
{
	static struct fixture f;

	memset(&f, 0, sizeof(f));
	if (dqfix_setup(&f.dq, "stor", 2, NULL) < 0)
		return -1;
	f.db[0] = f.dq.db[0];
	f.db[1] = f.dq.db[1];
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	dqfix_teardown(&f->dq);
	return 0;
}

static struct statedb_pool pool_of(const char *name, const char *type,
				   const char *path)
{
	struct statedb_pool p;

	memset(&p, 0, sizeof(p));
	snprintf(p.name, sizeof(p.name), "%s", name);
	snprintf(p.type, sizeof(p.type), "%s", type);
	snprintf(p.path, sizeof(p.path), "%s", path);
	snprintf(p.options, sizeof(p.options), "{}");
	snprintf(p.content, sizeof(p.content), "images,iso");
	return p;
}

static void test_volume_names(void **state)
{
	static const char *const good[] = {"vm-100-disk-0.qcow2", "a",
					   "Debian_12.iso", "x+y.raw", NULL};
	static const char *const bad[] = {
		"",    "../etc/passwd", "a/b", ".hidden", "-rf",  "a..b",
		"a b", "a@snap",	"a:b", "a\\b",	  "\x01", NULL};
	char longname[STATEDB_VOLUME_NAME_MAX + 2];
	char pool[40], name[200];
	struct hx_err err = {0};

	(void)state;
	for (int i = 0; good[i] != NULL; i++)
		assert_int_equal(statedb_volume_name_check(good[i], &err), 0);
	for (int i = 0; bad[i] != NULL; i++) {
		memset(&err, 0, sizeof(err));
		assert_int_equal(statedb_volume_name_check(bad[i], &err),
				 -EINVAL);
		assert_true(err.msg[0] != '\0');
	}
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(statedb_volume_name_check(longname, NULL), -EINVAL);
	longname[STATEDB_VOLUME_NAME_MAX] = '\0';
	assert_int_equal(statedb_volume_name_check(longname, NULL), 0);

	assert_int_equal(statedb_volid_parse("fast:vm-1.qcow2", pool,
					     sizeof(pool), name, sizeof(name),
					     &err),
			 0);
	assert_string_equal(pool, "fast");
	assert_string_equal(name, "vm-1.qcow2");
	assert_int_equal(statedb_volid_parse("local:x.raw", pool, sizeof(pool),
					     name, sizeof(name), &err),
			 0);
	assert_int_equal(statedb_volid_parse("fast:../x", pool, sizeof(pool),
					     name, sizeof(name), &err),
			 -EINVAL);
	assert_int_equal(statedb_volid_parse("/etc/passwd", pool, sizeof(pool),
					     name, sizeof(name), &err),
			 -EINVAL);
	assert_int_equal(statedb_volid_parse(":x", pool, sizeof(pool), name,
					     sizeof(name), &err),
			 -EINVAL);
	assert_int_equal(statedb_volid_parse("Fa/st:x", pool, sizeof(pool),
					     name, sizeof(name), &err),
			 -EINVAL);
	assert_int_equal(statedb_snapshot_name_check("before-upgrade", &err),
			 0);
	assert_int_equal(statedb_snapshot_name_check("1x", &err), -EINVAL);
	assert_int_equal(statedb_snapshot_name_check("a/b", &err), -EINVAL);
}

static void test_pool_check(void **state)
{
	struct statedb_pool p;
	struct hx_err err = {0};

	(void)state;
	p = pool_of("fast", "dir", "/srv/fast");
	snprintf(p.nodes, sizeof(p.nodes), "n2, n1 n2");
	assert_int_equal(statedb_pool_check(&p, &err), 0);
	assert_string_equal(p.nodes, " n2 n1 ");
	assert_string_equal(p.content, " images iso ");
	assert_true(statedb_pool_on_node(&p, "n1"));
	assert_false(statedb_pool_on_node(&p, "n3"));
	assert_false(statedb_pool_on_node(&p, "n"));
	assert_true(statedb_pool_has_content(&p, "iso"));
	assert_false(statedb_pool_has_content(&p, "backup"));

	static const struct {
		const char *name, *type, *path, *content, *options;
	} bad[] = {
		{"local", "dir", "/srv", "images", "{}"},
		{"Fast", "dir", "/srv", "images", "{}"},
		{"a/b", "dir", "/srv", "images", "{}"},
		{"fast", "zfs", "/srv", "images", "{}"},
		{"fast", "lvm", "/srv", "images", "{}"},
		{"fast", "dir", "srv", "images", "{}"},
		{"fast", "dir", "/srv/../etc", "images", "{}"},
		{"fast", "dir", "/srv/", "images", "{}"},
		{"fast", "dir", "", "images", "{}"},
		{"fast", "btrfs", "/a,b", "images", "{}"},
		{"fast", "dir", "/srv", "", "{}"},
		{"fast", "dir", "/srv", "images,movies", "{}"},
		{"fast", "dir", "/srv", "images", "[]"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = pool_of(bad[i].name, bad[i].type, bad[i].path);
		snprintf(p.content, sizeof(p.content), "%s", bad[i].content);
		snprintf(p.options, sizeof(p.options), "%s", bad[i].options);
		memset(&err, 0, sizeof(err));
		if (statedb_pool_check(&p, &err) != -EINVAL)
			fail_msg("pool %zu was accepted", i);
		assert_true(err.msg[0] != '\0');
	}
	p = pool_of("ceph", "rbd", "");
	assert_int_equal(statedb_pool_check(&p, &err), 0);
	assert_true(p.shared);
}

static void test_pool_crud(void **state)
{
	struct fixture *f = *state;
	struct statedb_pool p = pool_of("fast", "btrfs", "/srv/fast"), got,
			    *list = NULL;
	struct statedb_pool_status st = {0}, *sts = NULL;
	struct hx_err err = {0};
	char digest[33];
	unsigned n = 0;

	assert_int_equal(statedb_pool_create(f->db[0], &p, &err), 0);
	assert_int_equal(statedb_pool_create(f->db[1], &p, &err), -EEXIST);
	p = pool_of("bad", "dir", "/x/../y");
	assert_int_equal(statedb_pool_create(f->db[0], &p, &err), -EINVAL);
	assert_int_equal(statedb_pool_get(f->db[0], "bad", &got, &err),
			 -ENOENT);
	assert_int_equal(statedb_pool_get(f->db[1], "fast", &got, &err), 0);
	assert_string_equal(got.type, "btrfs");
	assert_string_equal(got.path, "/srv/fast");
	assert_string_equal(got.content, " images iso ");
	assert_false(got.shared);
	snprintf(digest, sizeof(digest), "%s", got.digest);

	/* Status rows do not change the digest. */
	snprintf(st.pool, sizeof(st.pool), "fast");
	snprintf(st.node, sizeof(st.node), "n1");
	st.available = true;
	st.capacity_bytes = 1000;
	st.used_bytes = 10;
	st.free_bytes = 990;
	assert_int_equal(statedb_pool_status_set(f->db[0], &st, &err), 0);
	st.used_bytes = 20;
	assert_int_equal(statedb_pool_status_set(f->db[0], &st, &err), 0);
	snprintf(st.pool, sizeof(st.pool), "nope");
	assert_int_equal(statedb_pool_status_set(f->db[0], &st, &err), -ENOENT);
	assert_int_equal(
		statedb_pool_status_list(f->db[0], "fast", &sts, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_int_equal(sts[0].used_bytes, 20);
	assert_true(sts[0].available);
	free(sts);
	assert_int_equal(statedb_pool_get(f->db[1], "fast", &got, &err), 0);
	assert_string_equal(got.digest, digest);

	/* Update with a stale digest fails and changes nothing. */
	snprintf(got.nodes, sizeof(got.nodes), "n1");
	assert_int_equal(statedb_pool_update(f->db[0], &got, "stale", &err),
			 HX_ECONFLICT);
	assert_int_equal(statedb_pool_get(f->db[1], "fast", &got, &err), 0);
	assert_string_equal(got.nodes, "");
	snprintf(got.nodes, sizeof(got.nodes), "n1");
	snprintf(got.path, sizeof(got.path), "/elsewhere");
	assert_int_equal(statedb_pool_update(f->db[0], &got, digest, &err), 0);
	assert_int_equal(statedb_pool_get(f->db[1], "fast", &got, &err), 0);
	assert_string_equal(got.nodes, " n1 ");
	assert_string_equal(got.path, "/srv/fast"); /* path never changes */
	assert_string_not_equal(got.digest, digest);

	assert_int_equal(statedb_pool_list(f->db[1], &list, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(list[0].name, "fast");
	free(list);

	assert_int_equal(statedb_pool_delete(f->db[0], "fast", &err), 0);
	assert_int_equal(statedb_pool_delete(f->db[0], "fast", &err), -ENOENT);
	assert_int_equal(
		statedb_pool_status_list(f->db[0], NULL, &sts, &n, &err), 0);
	assert_int_equal(n, 0);
	free(sts);
}

static const char *snap_parent_of(struct statedb_snapshot *s, unsigned n,
				  const char *name)
{
	for (unsigned i = 0; i < n; i++)
		if (strcmp(s[i].name, name) == 0)
			return s[i].parent;
	return NULL;
}

static const char *snap_current(struct statedb_snapshot *s, unsigned n)
{
	const char *cur = NULL;

	for (unsigned i = 0; i < n; i++)
		if (s[i].current) {
			assert_null(cur);
			cur = s[i].name;
		}
	return cur;
}

static void test_snapshot_tree(void **state)
{
	struct fixture *f = *state;
	struct statedb_vm_spec spec = {.name = "snapvm",
				       .cpus = 1,
				       .memory_mb = 128,
				       .tags = "",
				       .config = "{}"};
	struct statedb_snapshot s = {.vmid = 100, .config = "{\"a\":1}"},
				*list = NULL;
	struct hx_err err = {0};
	unsigned n = 0;

	assert_int_equal(statedb_snapshot_add(f->db[0], &s, &err), -EINVAL);
	snprintf(s.name, sizeof(s.name), "one");
	assert_int_equal(statedb_snapshot_add(f->db[0], &s, &err), -ENOENT);
	assert_int_equal(
		statedb_vm_create(f->db[0], 100, "n1", &spec, "stopped", &err),
		0);
	assert_int_equal(statedb_snapshot_add(f->db[0], &s, &err), 0);
	assert_int_equal(statedb_snapshot_add(f->db[1], &s, &err), -EEXIST);
	snprintf(s.name, sizeof(s.name), "two");
	assert_int_equal(statedb_snapshot_add(f->db[0], &s, &err), 0);
	/* Back to one, then a branch. */
	assert_int_equal(
		statedb_snapshot_set_current(f->db[0], 100, "one", &err), 0);
	assert_int_equal(
		statedb_snapshot_set_current(f->db[0], 100, "nope", &err),
		-ENOENT);
	snprintf(s.name, sizeof(s.name), "three");
	s.ram = true;
	assert_int_equal(statedb_snapshot_add(f->db[0], &s, &err), 0);
	assert_int_equal(statedb_snapshot_list(f->db[1], 100, &list, &n, &err),
			 0);
	assert_int_equal(n, 3);
	assert_string_equal(snap_parent_of(list, n, "one"), "");
	assert_string_equal(snap_parent_of(list, n, "two"), "one");
	assert_string_equal(snap_parent_of(list, n, "three"), "one");
	assert_string_equal(snap_current(list, n), "three");
	assert_string_equal(list[0].config, "{\"a\":1}");
	statedb_snapshot_list_free(list, n);

	/* Removing "one" moves its children to the root. */
	assert_int_equal(statedb_snapshot_remove(f->db[0], 100, "one", &err),
			 0);
	assert_int_equal(statedb_snapshot_remove(f->db[0], 100, "one", &err),
			 -ENOENT);
	assert_int_equal(statedb_snapshot_list(f->db[1], 100, &list, &n, &err),
			 0);
	assert_int_equal(n, 2);
	assert_string_equal(snap_parent_of(list, n, "two"), "");
	assert_string_equal(snap_parent_of(list, n, "three"), "");
	statedb_snapshot_list_free(list, n);
	/* Removing the current one makes its parent current. */
	snprintf(s.name, sizeof(s.name), "four");
	assert_int_equal(statedb_snapshot_add(f->db[0], &s, &err), 0);
	assert_int_equal(statedb_snapshot_remove(f->db[0], 100, "four", &err),
			 0);
	assert_int_equal(statedb_snapshot_list(f->db[1], 100, &list, &n, &err),
			 0);
	assert_string_equal(snap_current(list, n), "three");
	statedb_snapshot_list_free(list, n);

	/* Deleting the VM deletes its snapshots. */
	assert_int_equal(statedb_vm_delete(f->db[0], 100, &err), 0);
	assert_int_equal(statedb_snapshot_list(f->db[1], 100, &list, &n, &err),
			 0);
	assert_int_equal(n, 0);
	statedb_snapshot_list_free(list, n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_volume_names),
		cmocka_unit_test(test_pool_check),
		cmocka_unit_test(test_pool_crud),
		cmocka_unit_test(test_snapshot_tree),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("statedb storage", tests, setup,
					   teardown) == 0
		       ? 0
		       : 1;
}
