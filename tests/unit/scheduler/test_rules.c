/* Unit tests: rule validation, compilation (groups, inheritance), checks. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "scheduler/internal.h"

static void cluster(struct sched_state *st, int n_nodes, int n_svcs)
{
	struct sched_service c;
	char name[16];
	int i;

	scheduler_state_init(st);
	for (i = 1; i <= n_nodes; i++) {
		snprintf(name, sizeof(name), "node%d", i);
		assert_int_equal(scheduler_state_add_node(st, name, 0, 0, NULL),
				 0);
	}
	for (i = 1; i <= n_svcs; i++) {
		scheduler_service_defaults(&c);
		snprintf(c.sid, sizeof(c.sid), "vm:%d", 100 + i);
		assert_int_equal(scheduler_state_add_service(st, &c, 0, NULL),
				 0);
	}
}

/* Adds a rule from compact text: kind "na"/"na!" (strict), "pos"/"neg"
 * (hard), "pos~"/"neg~" (soft), "order"; sids "vm:101,vm:102"; nodes. */
static int add(struct sched_rules *rs, const char *id, const char *kind,
	       const char *sids, const char *nodes)
{
	char sidv[8][SCHED_NAME_MAX], buf[256], *t, *save = NULL;
	struct sched_node_prio np[8];
	struct sched_rule r;
	uint32_t n = 0, m = 0;

	memset(&r, 0, sizeof(r));
	snprintf(r.id, sizeof(r.id), "%s", id);
	if (strncmp(kind, "na", 2) == 0) {
		r.kind = SCHED_RULE_NODE_AFFINITY;
		r.strict = kind[2] == '!';
	} else if (strcmp(kind, "order") == 0) {
		r.kind = SCHED_RULE_ORDER;
	} else {
		r.kind = SCHED_RULE_RESOURCE_AFFINITY;
		r.positive = kind[0] == 'p';
		r.strict = kind[3] != '~';
	}
	snprintf(buf, sizeof(buf), "%s", sids);
	for (t = strtok_r(buf, ",", &save); t && n < 8;
	     t = strtok_r(NULL, ",", &save))
		snprintf(sidv[n++], SCHED_NAME_MAX, "%s", t);
	if (nodes != NULL) {
		snprintf(buf, sizeof(buf), "%s", nodes);
		for (t = strtok_r(buf, ",", &save); t && m < 8;
		     t = strtok_r(NULL, ",", &save)) {
			snprintf(np[m].node, SCHED_NAME_MAX, "%s", t);
			np[m++].priority = 0;
		}
	}
	r.sids = (const char(*)[SCHED_NAME_MAX])sidv;
	r.n_sids = n;
	r.nodes = np;
	r.n_nodes = m;
	return scheduler_rules_add(rs, &r);
}

static uint32_t S(const struct sched_state *st, int vm)
{
	char sid[16];

	snprintf(sid, sizeof(sid), "vm:%d", vm);
	return scheduler_state_find_service(st, sid);
}

static void test_add_validation(void **state)
{
	struct sched_rules rs;
	struct sched_rule r;

	(void)state;
	scheduler_rules_init(&rs);
	assert_int_equal(add(&rs, "a", "na", "vm:101", NULL), -EINVAL);
	assert_int_equal(add(&rs, "a", "na", "vm:101", "node1"), 0);
	assert_int_equal(add(&rs, "a", "neg", "vm:101,vm:102", NULL), -EEXIST);
	assert_int_equal(add(&rs, "b", "neg", "vm:101", NULL), -EINVAL);
	assert_int_equal(add(&rs, "b", "order", "vm:101", NULL), -EINVAL);
	assert_int_equal(add(&rs, "", "pos", "vm:101,vm:102", NULL), -EINVAL);
	memset(&r, 0, sizeof(r));
	memset(r.id, 'x', sizeof(r.id)); /* not terminated */
	assert_int_equal(scheduler_rules_add(&rs, &r), -EINVAL);
	assert_int_equal(rs.n_rules, 1);
	scheduler_rules_close(&rs);
	scheduler_rules_close(&rs); /* closed twice: fine */
}

static void test_groups(void **state)
{
	struct sched_state st;
	struct sched_rules rs;
	struct sched_compiled c;
	uint32_t g1, k, n;

	(void)state;
	cluster(&st, 3, 6);
	scheduler_rules_init(&rs);
	assert_int_equal(add(&rs, "p1", "pos", "vm:101,vm:102", NULL), 0);
	assert_int_equal(add(&rs, "p2", "pos", "vm:102,vm:103", NULL), 0);
	assert_int_equal(add(&rs, "n1", "neg", "vm:104,vm:103", NULL), 0);
	assert_int_equal(add(&rs, "s1", "pos~", "vm:105,vm:106", NULL), 0);
	assert_int_equal(add(&rs, "o1", "order", "vm:104,vm:105,vm:106", NULL),
			 0);
	assert_int_equal(add(&rs, "x", "pos", "vm:101,vm:999", NULL), 0);
	assert_int_equal(sched_compile(&c, &rs, &st), 0);
	/* 101, 102, 103 form one group (transitively) */
	g1 = c.grp[S(&st, 101)];
	assert_int_equal(c.grp[S(&st, 102)], g1);
	assert_int_equal(c.grp[S(&st, 103)], g1);
	assert_int_equal(c.grp_start[g1 + 1] - c.grp_start[g1], 3);
	assert_true(c.grp[S(&st, 104)] != g1);
	/* 104 apart from 103 means apart from the whole group */
	n = 0;
	for (k = c.neg_start[c.grp[S(&st, 104)]];
	     k < c.neg_start[c.grp[S(&st, 104)] + 1]; k++)
		n += c.neg[k] == g1;
	assert_int_equal(n, 1);
	/* soft partners are symmetric, not groups */
	assert_true(c.grp[S(&st, 105)] != c.grp[S(&st, 106)]);
	assert_int_equal(c.spos_start[S(&st, 105) + 1] -
				 c.spos_start[S(&st, 105)],
			 1);
	assert_int_equal(c.spos[c.spos_start[S(&st, 106)]], S(&st, 105));
	/* order chain: 106 after 105 after 104 */
	assert_int_equal(c.pred_start[S(&st, 106) + 1] -
				 c.pred_start[S(&st, 106)],
			 1);
	assert_int_equal(c.pred[c.pred_start[S(&st, 106)]], S(&st, 105));
	assert_int_equal(c.pred[c.pred_start[S(&st, 105)]], S(&st, 104));
	assert_int_equal(c.pred_start[S(&st, 104) + 1] -
				 c.pred_start[S(&st, 104)],
			 0);
	sched_compiled_close(&c);
	scheduler_rules_close(&rs);
	scheduler_state_close(&st);
}

static void test_inherit_node_affinity(void **state)
{
	struct sched_state st;
	struct sched_rules rs;
	struct sched_compiled c;

	(void)state;
	cluster(&st, 3, 5);
	scheduler_rules_init(&rs);
	assert_int_equal(add(&rs, "na", "na", "vm:102", "node2"), 0);
	assert_int_equal(add(&rs, "p", "pos", "vm:101,vm:102,vm:103", NULL), 0);
	/* a second group whose members disagree: nothing inherited */
	assert_int_equal(add(&rs, "na4", "na!", "vm:104", "node1"), 0);
	assert_int_equal(add(&rs, "na5", "na!", "vm:105", "node3"), 0);
	assert_int_equal(add(&rs, "q", "pos", "vm:104,vm:105", NULL), 0);
	assert_int_equal(sched_compile(&c, &rs, &st), 0);
	assert_int_equal(c.svc_na[S(&st, 101)], c.svc_na[S(&st, 102)]);
	assert_int_equal(c.svc_na[S(&st, 103)], c.svc_na[S(&st, 102)]);
	assert_true(c.svc_na[S(&st, 102)] != SCHED_NONE);
	assert_true(c.svc_na[S(&st, 104)] != c.svc_na[S(&st, 105)]);
	sched_compiled_close(&c);
	scheduler_rules_close(&rs);
	scheduler_state_close(&st);
}

static void test_disabled_and_unknown(void **state)
{
	struct sched_state st;
	struct sched_rules rs;
	struct sched_compiled c;

	(void)state;
	cluster(&st, 2, 2);
	scheduler_rules_init(&rs);
	assert_int_equal(add(&rs, "p", "pos", "vm:101,vm:102", NULL), 0);
	rs.rules[0].disabled = true;
	assert_int_equal(add(&rs, "na", "na!", "vm:101", "nodeX,node2"), 0);
	assert_int_equal(sched_compile(&c, &rs, &st), 0);
	assert_true(c.grp[S(&st, 101)] != c.grp[S(&st, 102)]);
	assert_int_equal(c.na[c.svc_na[S(&st, 101)]].n, 1); /* nodeX skipped */
	sched_compiled_close(&c);
	scheduler_rules_close(&rs);
	scheduler_state_close(&st);
}

static void test_check(void **state)
{
	struct sched_state st;
	struct sched_rules rs;
	char buf[1024];

	(void)state;
	cluster(&st, 2, 3);
	scheduler_rules_init(&rs);
	assert_int_equal(scheduler_rules_check(&rs, &st, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "");
	assert_int_equal(add(&rs, "a", "na", "vm:101,vm:404", "node1,node9"), 0);
	assert_int_equal(add(&rs, "b", "na", "vm:101", "node2"), 0);
	assert_int_equal(add(&rs, "c", "pos", "vm:102,vm:103", NULL), 0);
	assert_int_equal(add(&rs, "d", "neg", "vm:103,vm:102", NULL), 0);
	assert_int_equal(scheduler_rules_check(&rs, &st, buf, sizeof(buf)), 4);
	assert_non_null(strstr(buf, "rule 'a': unknown resource 'vm:404'"));
	assert_non_null(strstr(buf, "rule 'a': unknown node 'node9'"));
	assert_non_null(strstr(buf, "'vm:101' is in node affinity rules 'a' "
				    "and 'b'"));
	assert_non_null(strstr(buf, "must be both together and apart"));
	/* truncation keeps the count */
	assert_int_equal(scheduler_rules_check(&rs, &st, buf, 8), 4);
	assert_int_equal(strlen(buf), 7);
	scheduler_rules_close(&rs);
	scheduler_state_close(&st);
}

static void test_state_container(void **state)
{
	struct sched_state st, copy;
	struct sched_service c;
	uint32_t i;

	(void)state;
	cluster(&st, 2, 0);
	assert_int_equal(scheduler_state_add_node(&st, "node1", 0, 0, NULL),
			 -EEXIST);
	assert_int_equal(scheduler_state_add_node(&st, "", 0, 0, NULL), -EINVAL);
	scheduler_service_defaults(&c);
	strcpy(c.sid, "vm:3");
	assert_int_equal(scheduler_state_add_service(&st, &c, 7, NULL), -EINVAL);
	assert_int_equal(scheduler_state_add_service(&st, &c, 1, NULL), 0);
	strcpy(c.sid, "vm:1");
	c.request = SCHED_REQ_DISABLED;
	assert_int_equal(scheduler_state_add_service(&st, &c, SCHED_NONE, &i),
			 0);
	assert_int_equal(i, 0); /* sorted */
	assert_int_equal(st.svcs[0].st.state, SCHED_SVC_REQUEST_STOP);
	assert_int_equal(st.svcs[1].st.state, SCHED_SVC_REQUEST_START);
	assert_int_equal(scheduler_state_add_service(&st, &c, 0, NULL), -EEXIST);
	assert_true(st.svcs[0].st.uid != st.svcs[1].st.uid);
	scheduler_state_init(&copy);
	assert_int_equal(scheduler_state_copy(&copy, &st), 0);
	assert_int_equal(copy.n_svcs, 2);
	assert_string_equal(copy.svcs[1].sid, "vm:3");
	assert_int_equal(scheduler_state_remove_service(&st, 0), 0);
	assert_int_equal(scheduler_state_find_service(&st, "vm:3"), 0);
	assert_int_equal(scheduler_state_remove_service(&st, 5), -EINVAL);
	scheduler_state_close(&copy);
	scheduler_state_close(&st);
	scheduler_state_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_add_validation),
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_inherit_node_affinity),
		cmocka_unit_test(test_disabled_and_unknown),
		cmocka_unit_test(test_check),
		cmocka_unit_test(test_state_container),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
