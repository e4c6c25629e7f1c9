// SPDX-License-Identifier: Apache-2.0
/*
 * The etcd client. Without $MIGNET_ETCD_ENDPOINTS only the offline parts run (endpoint
 * lists, prefix ends, the deadline against a port nobody listens on). With it (set by
 * tests/integration/etcd/test_etcd_client.py, which starts a real cluster), every call runs
 * against that cluster; $MIGNET_ETCD_CA/_CERT/_KEY select TLS.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd/kv.h"
#include "tests/unit/check.h"

static struct etcd_client *client(const char *endpoints)
{
	struct etcd_config cfg = {
		.endpoints = endpoints,
		.ca_file = getenv("MIGNET_ETCD_CA"),
		.cert_file = getenv("MIGNET_ETCD_CERT"),
		.key_file = getenv("MIGNET_ETCD_KEY"),
		.username = getenv("MIGNET_ETCD_USER"),
		.password = getenv("MIGNET_ETCD_PASSWORD"),
	};
	struct etcd_client *c = NULL;
	char msg[256];

	if (etcd_client_new(&cfg, &c, msg, sizeof(msg)) < 0)
		fprintf(stderr, "etcd_client_new(%s): %s\n", endpoints, msg);
	return c;
}

static void test_offline(void)
{
	struct etcd_config bad = { .endpoints = " , " };
	struct etcd_config scheme = { .endpoints = "ftp://x:1" };
	struct etcd_config half = { .endpoints = "a:1", .cert_file = "/x" };
	struct etcd_client *c = NULL;
	struct etcd_range_result rr;
	char msg[256], end[16];

	CHECK(etcd_client_new(&bad, &c, msg, sizeof(msg)) == -EINVAL);
	CHECK(strstr(msg, "no endpoint"));
	CHECK(etcd_client_new(&scheme, &c, msg, sizeof(msg)) == -EINVAL);
	CHECK(etcd_client_new(&half, &c, msg, sizeof(msg)) == -EINVAL);

	CHECK(etcd_prefix_end("/a/", 3, end) == 3 && memcmp(end, "/a0", 3) == 0);
	CHECK(etcd_prefix_end("a\xff", 2, end) == 1 && end[0] == 'b');
	CHECK(etcd_prefix_end("\xff", 1, end) == 0);

	/* bare host:port is http without TLS files; nobody listens on port 1 */
	c = client("127.0.0.1:1, http://127.0.0.1:1/");
	CHECK(c != NULL);
	if (!c)
		return;
	CHECK_STR(etcd_client_endpoint(c), "http://127.0.0.1:1");
	etcd_client_set_deadline(c, 300);
	CHECK(etcd_range(c, "k", 0, NULL, 0, 0, false, &rr) == -ETIMEDOUT);
	CHECK(strstr(etcd_client_errmsg(c), "did not answer in time") != NULL);
	CHECK(etcd_client_remaining_ms(c) <= 0);
	etcd_client_free(c);
}

static void test_live(const char *endpoints)
{
	struct etcd_client *c = client(endpoints);
	struct etcd_range_result rr = { 0 };
	struct etcd_txn_result tr = { 0 };
	char prefix[64], key[96], end[64];
	int64_t lease = 0, ttl = 0, rev;
	size_t plen, elen;

	CHECK(c != NULL);
	if (!c)
		return;
	etcd_client_set_deadline(c, 10000);
	plen = (size_t)snprintf(prefix, sizeof(prefix), "/test-client/%d/", (int)getpid());
	elen = etcd_prefix_end(prefix, plen, end);

	/* create-if-absent, twice: the second must fail its compare */
	snprintf(key, sizeof(key), "%sa", prefix);
	for (int i = 0; i < 2; i++) {
		struct etcd_cmp cmp = { .key = key,
					.target = ETCD_CMP_CREATE,
					.result = ETCD_EQUAL };
		struct etcd_op put = { .kind = ETCD_OP_PUT, .key = key, .value = "v\n\x01 binary" };
		struct etcd_op get = { .kind = ETCD_OP_RANGE, .key = key };

		CHECK(etcd_txn(c, &cmp, 1, &put, 1, &get, 1, &tr) == 0);
		CHECK(tr.succeeded == (i == 0));
		if (i == 1) {
			CHECK(tr.n_ranges == 1 && tr.ranges[0].n_kvs == 1);
			if (tr.n_ranges == 1 && tr.ranges[0].n_kvs == 1)
				CHECK_STR(tr.ranges[0].kvs[0].value, "v\n\x01 binary");
		}
		etcd_txn_result_free(&tr);
	}
	CHECK(etcd_range(c, key, 0, NULL, 0, 0, false, &rr) == 0);
	CHECK(rr.n_kvs == 1 && rr.count == 1 && rr.revision >= rr.kvs[0].mod_revision);
	rev = rr.n_kvs ? rr.kvs[0].mod_revision : 0;
	etcd_range_result_free(&rr);

	/* compare on the mod revision: the stale one fails, the current one wins */
	{
		struct etcd_cmp cmp = {
			.key = key, .target = ETCD_CMP_MOD, .result = ETCD_EQUAL, .number = rev
		};
		struct etcd_op put = { .kind = ETCD_OP_PUT, .key = key, .value = "w" };

		CHECK(etcd_txn(c, &cmp, 1, &put, 1, NULL, 0, &tr) == 0 && tr.succeeded);
		etcd_txn_result_free(&tr);
		CHECK(etcd_txn(c, &cmp, 1, &put, 1, NULL, 0, &tr) == 0 && !tr.succeeded);
		etcd_txn_result_free(&tr);
	}
	/* a compare over a whole prefix */
	{
		struct etcd_cmp cmp = { .key = prefix,
					.range_end = end,
					.range_end_len = elen,
					.target = ETCD_CMP_MOD,
					.result = ETCD_LESS,
					.number = 1 };
		struct etcd_op put = { .kind = ETCD_OP_PUT, .key = key, .value = "x" };

		CHECK(etcd_txn(c, &cmp, 1, &put, 1, NULL, 0, &tr) == 0 && !tr.succeeded);
		etcd_txn_result_free(&tr);
	}

	/* a lease: keys attached to it go with it */
	CHECK(etcd_lease_grant(c, 30, &lease, &ttl) == 0 && lease != 0 && ttl == 30);
	snprintf(key, sizeof(key), "%sleased", prefix);
	{
		struct etcd_op put = {
			.kind = ETCD_OP_PUT, .key = key, .value = "l", .lease = lease
		};

		CHECK(etcd_txn(c, NULL, 0, &put, 1, NULL, 0, &tr) == 0 && tr.succeeded);
		etcd_txn_result_free(&tr);
	}
	CHECK(etcd_lease_keepalive(c, lease, &ttl) == 0 && ttl > 0);
	CHECK(etcd_range(c, prefix, plen, end, elen, 0, true, &rr) == 0);
	CHECK(rr.n_kvs == 2 && rr.kvs[0].value_len == 0);
	etcd_range_result_free(&rr);
	CHECK(etcd_lease_revoke(c, lease) == 0);
	CHECK(etcd_lease_revoke(c, lease) == 0);
	CHECK(etcd_lease_keepalive(c, lease, &ttl) == -ENOENT);
	CHECK(etcd_range(c, key, 0, NULL, 0, 0, false, &rr) == 0 && rr.n_kvs == 0);
	etcd_range_result_free(&rr);

	CHECK(etcd_delete_range(c, prefix, plen, end, elen) == 1);
	CHECK(etcd_range(c, prefix, plen, end, elen, 0, false, &rr) == 0 && rr.n_kvs == 0);
	etcd_range_result_free(&rr);
	etcd_client_free(c);

	/* failover: a dead endpoint first, the live ones behind it */
	{
		char list[1024];

		snprintf(list, sizeof(list), "http://127.0.0.1:1,%s", endpoints);
		c = client(list);
		CHECK(c != NULL);
		for (int i = 0; c && i < 4; i++) {
			int r;

			etcd_client_set_deadline(c, 5000);
			r = etcd_range(c, prefix, plen, NULL, 0, 0, false, &rr);
			CHECK(r == 0);
			if (r < 0)
				fprintf(stderr, "failover: %d %s\n", r, etcd_client_errmsg(c));
			etcd_range_result_free(&rr);
		}
		etcd_client_free(c);
	}
}

int main(void)
{
	const char *live = getenv("MIGNET_ETCD_ENDPOINTS");

	if (!live || !getenv("MIGNET_ETCD_CA"))
		test_offline();
	if (live && *live)
		test_live(live);
	return check_summary();
}
