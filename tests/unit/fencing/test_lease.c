/* Unit tests: fencing leases, self-fence decisions, the leader's verdict. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fencing/fencing.h"

static struct fencing_config cfg(void)
{
	struct fencing_config c;

	fencing_config_default(&c);
	return c;
}

static void test_config(void **state)
{
	struct fencing_config c = cfg();

	(void)state;
	assert_int_equal(fencing_config_check(&c), 0);
	c.margin_ms = c.watchdog_ms - 1;
	assert_int_equal(fencing_config_check(&c), -EINVAL);
	c = cfg();
	c.renew_ms = c.lease_ms / 2;
	assert_int_equal(fencing_config_check(&c), -EINVAL);
	c = cfg();
	c.lease_ms = 0;
	assert_int_equal(fencing_config_check(&c), -EINVAL);
	c = cfg();
	c.watchdog_ms = 0;
	assert_int_equal(fencing_config_check(&c), -EINVAL);
}

static void test_self_fence(void **state)
{
	struct fencing_config c = cfg();
	struct fencing_lease l = {0};
	struct fencing_self_decision d;

	(void)state;
	fencing_lease_check(&c, &l, 1000, true, &d);
	assert_int_equal(d.action, FENCING_SELF_FENCE); /* never had one */
	memset(&l, 0, sizeof(l));
	fencing_lease_check(&c, &l, 1000, false, &d);
	assert_int_equal(d.action, FENCING_SELF_IDLE);
	assert_false(d.feed_watchdog);

	fencing_lease_granted(&l, 10000);
	fencing_lease_check(&c, &l, 13999, true, &d);
	assert_int_equal(d.action, FENCING_SELF_OK);
	assert_true(d.feed_watchdog);
	assert_int_equal(d.lease_age_ms, 3999);
	assert_int_equal(d.expires_ms, 14000);
	fencing_lease_check(&c, &l, 14000, true, &d);
	assert_int_equal(d.action, FENCING_SELF_FENCE);
	assert_false(d.feed_watchdog);
	fencing_lease_check(&c, &l, 14001, true, &d);
	assert_int_equal(d.action, FENCING_SELF_FENCED);
	/* a renewal older than the recorded one does not revive it */
	fencing_lease_granted(&l, 9000);
	fencing_lease_check(&c, &l, 9500, true, &d);
	assert_int_equal(d.action, FENCING_SELF_FENCED);
	/* a new grant does */
	fencing_lease_granted(&l, 20000);
	assert_true(fencing_lease_valid(&c, &l, 20001));
	fencing_lease_check(&c, &l, 20001, true, &d);
	assert_int_equal(d.action, FENCING_SELF_OK);
	fencing_lease_release(&l);
	assert_false(fencing_lease_valid(&c, &l, 20002));
	fencing_lease_check(&c, &l, 20002, false, &d);
	assert_int_equal(d.action, FENCING_SELF_IDLE);
}

static void test_verdict(void **state)
{
	struct fencing_config c = cfg();
	struct fencing_peer p = {0};
	struct fencing_decision d;
	uint64_t el = 5000;
	char buf[256];

	(void)state;
	/* no renewal yet: a new leader counts from its election */
	fencing_peer_check(&c, &p, el, el + 3999, &d);
	assert_int_equal(d.verdict, FENCING_ALIVE);
	assert_int_equal(d.basis, FENCING_BASIS_ELECTION);
	fencing_peer_check(&c, &p, el, el + 4000, &d);
	assert_int_equal(d.verdict, FENCING_EXPIRED);
	fencing_peer_check(&c, &p, el, el + 6999, &d);
	assert_int_equal(d.verdict, FENCING_EXPIRED);
	fencing_peer_check(&c, &p, el, el + 7000, &d);
	assert_int_equal(d.verdict, FENCING_SAFE);
	assert_int_equal(d.lease_age_ms, 7000);
	assert_int_equal(d.safe_ms, el + 7000);

	assert_int_equal(fencing_peer_renew(&p, 8000, false), 0);
	fencing_peer_check(&c, &p, el, 11999, &d);
	assert_int_equal(d.verdict, FENCING_ALIVE);
	assert_int_equal(d.basis, FENCING_BASIS_RENEWAL);
	fencing_peer_check(&c, &p, el, 14999, &d);
	assert_int_equal(d.verdict, FENCING_EXPIRED);
	fencing_peer_check(&c, &p, el, 15000, &d);
	assert_int_equal(d.verdict, FENCING_SAFE);

	/* a renewal recorded before this leader's election does not count */
	fencing_peer_check(&c, &p, 9000, 15000, &d);
	assert_int_equal(d.basis, FENCING_BASIS_ELECTION);
	assert_int_equal(d.verdict, FENCING_EXPIRED);

	/* refused while fencing, unchanged */
	assert_int_equal(fencing_peer_renew(&p, 16000, true), -EPERM);
	assert_int_equal(p.renew_ms, 8000);

	/* fence agent confirmation short-circuits */
	fencing_peer_confirm(&p, 9000);
	fencing_peer_check(&c, &p, el, 9001, &d);
	assert_int_equal(d.verdict, FENCING_CONFIRMED);
	assert_int_equal(d.confirmed_ms, 9000);
	fencing_decision_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "confirmed: fence agent confirmed power-off "
				 "at 9000 ms; lease age 1001 ms since last "
				 "renewal");
	/* ... until the node renews again */
	assert_int_equal(fencing_peer_renew(&p, 9500, false), 0);
	fencing_peer_check(&c, &p, el, 9501, &d);
	assert_int_equal(d.verdict, FENCING_ALIVE);
}

static void test_format(void **state)
{
	struct fencing_config c = cfg();
	struct fencing_peer p = {0};
	struct fencing_decision d;
	char buf[256];

	(void)state;
	fencing_peer_renew(&p, 1000, false);
	fencing_peer_check(&c, &p, 0, 9000, &d);
	fencing_decision_format(&d, buf, sizeof(buf));
	assert_string_equal(buf, "safe: lease age 8000 ms since last renewal, "
				 "expired at 5000 ms, safe at 8000 ms");
	assert_string_equal(fencing_verdict_str(FENCING_CONFIRMED), "confirmed");
	assert_string_equal(fencing_self_action_str(FENCING_SELF_FENCE),
			    "self-fence");
}

static void test_saturation(void **state)
{
	struct fencing_config c = cfg();
	struct fencing_lease l = {0};
	struct fencing_peer p = {0};
	struct fencing_self_decision sd;
	struct fencing_decision d;

	(void)state;
	fencing_lease_granted(&l, UINT64_MAX - 10);
	fencing_lease_check(&c, &l, UINT64_MAX - 5, true, &sd);
	assert_int_equal(sd.action, FENCING_SELF_OK);
	fencing_peer_renew(&p, UINT64_MAX - 10, false);
	fencing_peer_check(&c, &p, 0, UINT64_MAX - 5, &d);
	assert_int_equal(d.verdict, FENCING_ALIVE);
	assert_true(d.safe_ms == UINT64_MAX);
}

/* splitmix64 */
static uint64_t rnd(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Property: whenever a leader declares a node SAFE, that node has been
 * dead for sure: its own lease ended, and even with a hung agent its
 * watchdog fired (lease end + watchdog <= now). Random renewal delays,
 * lost replies, elections (some with renewals in flight) and pauses.
 */
static void test_property_safe_means_dead(void **state)
{
	struct fencing_config c = cfg();
	unsigned seed_i;

	(void)state;
	for (seed_i = 1; seed_i <= 200; seed_i++) {
		uint64_t seed = seed_i, now = 0, elected = 0;
		uint64_t node_sent = 0; /* node: last granted renewal sent */
		bool node_has = false;
		struct fencing_peer p = {0};
		int step;

		for (step = 0; step < 400; step++) {
			struct fencing_decision d;
			uint64_t r = rnd(&seed) % 100;

			now += 1 + rnd(&seed) % 700;
			if (r < 60) {
				/* a renewal sent now, accepted after a delay,
				 * reply maybe lost */
				uint64_t sent = now;
				uint64_t acc = now + rnd(&seed) % 300;

				if (fencing_peer_renew(&p, acc, false) == 0 &&
				    rnd(&seed) % 4 != 0) {
					node_sent = sent;
					node_has = true;
				}
				now = acc;
			} else if (r < 65) {
				elected = now; /* new leader, no records */
				memset(&p, 0, sizeof(p));
			} else if (r < 70) {
				now += rnd(&seed) % 20000; /* node silent */
			}
			fencing_peer_check(&c, &p, elected, now, &d);
			if (d.verdict == FENCING_SAFE && node_has) {
				if (node_sent + c.lease_ms + c.watchdog_ms > now)
					fail_msg("seed %u step %d: safe at %llu "
						 "but node alive until %llu",
						 seed_i, step,
						 (unsigned long long)now,
						 (unsigned long long)(node_sent +
								      c.lease_ms +
								      c.watchdog_ms));
			}
		}
	}
}

/* A leader whose process stalled longer than an election timeout grants
 * nothing until two election timeouts after it woke, and then only on a
 * leadership answer taken after that (a cluster test froze the leader:
 * right after the thaw it renewed its own lease on its stale raft state
 * and kept its HA VM running while a successor recovered it elsewhere). */
static void test_stall(void **state)
{
	struct fencing_stall s = {0};
	const uint64_t et = 450;

	(void)state;
	assert_false(fencing_stall_may_grant(&s, 1000, 1000, et)); /* no tick */
	s = (struct fencing_stall){0};
	assert_false(fencing_stall_tick(&s, 1000, et));
	assert_true(fencing_stall_may_grant(&s, 1050, 1040, et));
	assert_false(fencing_stall_tick(&s, 1100, et));
	assert_false(fencing_stall_tick(&s, 1550, et)); /* 450: not a stall */
	assert_true(fencing_stall_may_grant(&s, 1560, 1500, et));

	/* frozen 6 s; the grant comes before the checking thread's tick */
	assert_false(fencing_stall_may_grant(&s, 7600, 7600, et));
	assert_int_equal(s.stalled_ms, 6050);
	assert_int_equal(s.hold_until_ms, 7600 + 2 * et);
	assert_true(fencing_stall_tick(&s, 7605, et));
	assert_int_equal(s.hold_until_ms, 7605 + 2 * et);
	for (uint64_t t = 7700; t < 7605 + 2 * et; t += 100) {
		assert_false(fencing_stall_tick(&s, t, et));
		assert_false(fencing_stall_may_grant(&s, t, t, et));
	}
	assert_false(fencing_stall_tick(&s, 8505, et));
	/* held no longer, but the leadership answer predates the hold's end */
	assert_false(fencing_stall_may_grant(&s, 8505, 8400, et));
	assert_true(fencing_stall_may_grant(&s, 8510, 8505, et));

	/* the checking thread stalls alone, the grant sees it first */
	assert_false(fencing_stall_may_grant(&s, 9000, 8990, et));
	assert_true(fencing_stall_tick(&s, 9001, et));
	assert_false(fencing_stall_may_grant(&s, 9002, 9002, et));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config),
		cmocka_unit_test(test_self_fence),
		cmocka_unit_test(test_verdict),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_saturation),
		cmocka_unit_test(test_property_safe_means_dead),
		cmocka_unit_test(test_stall),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
