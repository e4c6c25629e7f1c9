// SPDX-License-Identifier: Apache-2.0
/* Config resolution: ranges, flat file, datastore choice, and the messages of each refusal. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipam/config.h"
#include "tests/unit/check.h"

static const char *const no_flat[] = { NULL };

static int load(const char *json, const char *const *flat, struct ipam_config *c,
		struct cni_error *err)
{
	struct json_object *o = json_tokener_parse(json);
	int r;

	memset(err, 0, sizeof(*err));
	if (!o) {
		fprintf(stderr, "bad test JSON: %s\n", json);
		return -2;
	}
	r = ipam_config_load(o, flat ? flat : no_flat, c, err);
	json_object_put(o);
	return r;
}

/* Expect a refusal with code 7 whose message holds @a and @b. */
static void refused(const char *json, const char *a, const char *b)
{
	struct ipam_config c;
	struct cni_error err;
	int r = load(json, NULL, &c, &err);

	CHECK(r == -1 && err.code == 7 && strstr(err.msg, a) && (!b || strstr(err.msg, b)));
	if (r == 0)
		ipam_config_free(&c);
	if (r != -1 || err.code != 7 || !strstr(err.msg, a) || (b && !strstr(err.msg, b)))
		fprintf(stderr, "  for %s\n  got code %d: %s\n", json, err.code, err.msg);
}

static void test_ranges(void)
{
	struct ipam_config c;
	struct cni_error err;
	char buf[64];

	CHECK(load("{\"type\":\"whereabouts\",\"range\":\"10.0.0.0/24\",\"exclude\":[\"10.0.0.1\"],"
		   "\"ipRanges\":[{\"range\":\"fd00::/64\",\"range_start\":\"fd00::10\"},"
		   "{\"range\":\"10.1.0.5-10.1.0.9/24\",\"exclude\":[\"10.1.0.6/32\"]}]}",
		   NULL, &c, &err) == 0);
	CHECK(c.n_ranges == 3);
	CHECK_STR(c.ranges[0].cidr, "10.0.0.0/24");
	CHECK(c.ranges[0].n_exclude == 1);
	CHECK_STR(c.ranges[1].cidr, "fd00::/64");
	CHECK_STR(ipam_addr_format(6, c.ranges[1].first, buf, sizeof(buf)), "fd00::10");
	CHECK_STR(c.ranges[2].cidr, "10.1.0.0/24");
	CHECK(c.ranges[2].n_exclude == 1);
	CHECK(c.overlapping == true && c.network_name == NULL);
	CHECK(c.datastore == IPAM_STORE_FILE);
	CHECK_STR(c.store_dir, IPAM_DEFAULT_STORE_DIR);
	CHECK(c.lock_timeout_ms == IPAM_DEFAULT_LOCK_TIMEOUT_MS);
	ipam_config_free(&c);

	/* kubernetes-only tuning keys, etcd keys and unknown keys are accepted */
	CHECK(load("{\"range\":\"10.0.0.0/24\",\"leader_lease_duration\":1500,\"sleep_for_race\":1,"
		   "\"reconciler_cron_expression\":\"30 4 * * "
		   "*\",\"etcd_host\":\"x\",\"whatever\":[1],"
		   "\"datastore\":\"file\",\"kubernetes\":{\"kubeconfig\":\"/"
		   "k\"},\"network_name\":\"mig-net.1\","
		   "\"enable_overlapping_ranges\":false,\"store_dir\":\"/tmp/"
		   "x\",\"lock_timeout_ms\":5}",
		   NULL, &c, &err) == 0);
	CHECK(!c.overlapping);
	CHECK_STR(c.network_name, "mig-net.1");
	CHECK_STR(c.store_dir, "/tmp/x");
	CHECK(c.lock_timeout_ms == 5);
	ipam_config_free(&c);
}

static void test_gateway_routes_dns(void)
{
	struct ipam_config c;
	struct cni_error err;

	CHECK(load("{\"range\":\"10.0.0.0/"
		   "24\",\"gateway\":\"10.0.0.1\",\"routes\":[{\"dst\":\"0.0.0.0/0\","
		   "\"gw\":\"10.0.0.1\"},{\"dst\":\"fd00::/"
		   "8\"}],\"dns\":{\"nameservers\":[\"10.0.0.53\"]},"
		   "\"addresses\":[{\"address\":\"192.168.9.9/24\",\"gateway\":\"192.168.9.1\"}]}",
		   NULL, &c, &err) == 0);
	CHECK(c.has_gateway && ipam_gateway_for(&c, &c.ranges[0]));
	/* the gateway is never handed out */
	CHECK(c.ranges[0].n_exclude == 1);
	CHECK(c.n_routes == 2 && c.routes[0].dst_len == 0 && c.routes[0].gw.family != 0);
	CHECK(c.dns.n_nameservers == 1);
	CHECK(c.n_addresses == 1 && c.addresses[0].prefixlen == 24);
	ipam_config_free(&c);
}

static void test_refusals(void)
{
	refused("{}", "\"ipam.range\" or \"ipam.ipRanges\" is required", NULL);
	refused("{\"range\":\"\"}", "is required", NULL);
	refused("{\"range\":42}", "\"ipam.range\" must be a string", NULL);
	refused("{\"range\":\"10.0.0.0/32\"}", "\"ipam.range\"", "10.0.0.0/32");
	refused("{\"range\":\"fd00::/127\"}", "\"ipam.range\"", "/127");
	refused("{\"range\":\"10.0.0.0/24\",\"range_start\":\"10.0.1.5\"}", "\"ipam.range_start\"",
		"10.0.1.5");
	refused("{\"range\":\"10.0.0.0/24\",\"range_end\":\"bogus\"}", "\"ipam.range_end\"",
		"bogus");
	refused("{\"range\":\"10.0.0.0/24\",\"exclude\":[\"10.0.0.300\"]}", "\"ipam.exclude[0]\"",
		"10.0.0.300");
	refused("{\"range\":\"10.0.0.0/24\",\"exclude\":\"10.0.0.3\"}",
		"\"ipam.exclude\" must be an array", NULL);
	refused("{\"range\":\"10.0.0.0/24\",\"exclude\":[\"10.0.0.3\", 4]}", "\"ipam.exclude[1]\"",
		NULL);
	refused("{\"range\":\"10.0.0.0/24\",\"exclude\":[\"10.9.0.0/24\"]}", "\"ipam.exclude[0]\"",
		"outside");
	refused("{\"ipRanges\":[{\"range\":\"10.0.0.0/24\"},{\"range\":\"10.1.0.0/"
		"24\",\"range_end\":\"10.1.1.1\"}]}",
		"\"ipam.ipRanges[1].range_end\"", "10.1.1.1");
	refused("{\"ipRanges\":[{\"range_start\":\"10.0.0.5\"}]}",
		"\"ipam.ipRanges[0].range\" is missing", NULL);
	refused("{\"ipRanges\":[\"10.0.0.0/24\"]}", "\"ipam.ipRanges[0]\" must be an object", NULL);
	refused("{\"ipRanges\":[{\"range\":\"10.0.0.0/24\",\"exclude\":[\"fd00::1\"]}]}",
		"\"ipam.ipRanges[0].exclude[0]\"", "fd00::1");
	refused("{\"range_start\":\"10.0.0.5\",\"ipRanges\":[{\"range\":\"10.0.0.0/24\"}]}",
		"\"ipam.range_start\" applies to \"ipam.range\"", NULL);
	refused("{\"range\":\"10.0.0.0/24\",\"gateway\":\"10.0.1.1\"}", "\"ipam.gateway\"",
		"not inside");
	refused("{\"range\":\"10.0.0.0/24\",\"gateway\":\"gw\"}", "\"ipam.gateway\"", "gw");
	refused("{\"range\":\"10.0.0.0/24\",\"network_name\":\"a/b\"}", "\"ipam.network_name\"",
		"a/b");
	refused("{\"range\":\"10.0.0.0/24\",\"network_name\":\"..\"}", "\"ipam.network_name\"",
		NULL);
	refused("{\"range\":\"10.0.0.0/24\",\"enable_overlapping_ranges\":\"yes\"}",
		"\"ipam.enable_overlapping_ranges\"", NULL);
	refused("{\"range\":\"10.0.0.0/24\",\"routes\":[{\"dst\":\"10.0.0.0\"}]}",
		"\"ipam.routes[0].dst\"", NULL);
	refused("{\"range\":\"10.0.0.0/24\",\"routes\":[{\"dst\":\"10.0.0.0/"
		"8\",\"gw\":\"fd00::1\"}]}",
		"\"ipam.routes[0].gw\"", NULL);
	refused("{\"range\":\"10.0.0.0/24\",\"addresses\":[{\"address\":\"10.9.9.9\"}]}",
		"\"ipam.addresses[0].address\"", NULL);
	refused("{\"range\":\"10.0.0.0/24\",\"dns\":{\"nameservers\":\"x\"}}", "ipam.dns", NULL);
	refused("{\"range\":\"10.0.0.0/24\",\"store_dir\":\"relative/dir\"}", "\"ipam.store_dir\"",
		"absolute");
	refused("{\"range\":\"10.0.0.0/24\",\"lock_timeout_ms\":-1}", "\"ipam.lock_timeout_ms\"",
		NULL);
	refused("{\"range\":\"10.0.0.0/24\",\"datastore\":\"kubernetes\"}", "\"ipam.datastore\"",
		"same address out on two nodes");
	refused("{\"range\":\"10.0.0.0/24\",\"kubernetes\":{\"kubeconfig\":\"/etc/k\"}}",
		"\"ipam.kubernetes.kubeconfig\"", "\"file\"");
	refused("{\"range\":\"10.0.0.0/24\",\"datastore\":\"consul\"}", "\"ipam.datastore\"",
		"consul");
	refused("{\"range\":\"10.0.0.0/24\",\"node_slice_size\":\"/28\"}",
		"\"ipam.node_slice_size\"", NULL);
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

static void test_flat_file(void)
{
	char dir[] = "/tmp/ipam-cfg-XXXXXX", own[64], first[64], second[64], bad[64];
	const char *paths[] = { first, second, NULL };
	struct ipam_config c;
	struct cni_error err;
	char json[512];

	CHECK(mkdtemp(dir) != NULL);
	snprintf(own, sizeof(own), "%s/own.conf", dir);
	snprintf(first, sizeof(first), "%s/first.conf", dir);
	snprintf(second, sizeof(second), "%s/second.conf", dir);
	snprintf(bad, sizeof(bad), "%s/bad.conf", dir);
	write_file(second, "{\"range\":\"10.2.0.0/24\",\"store_dir\":\"/second\"}");
	write_file(first,
		   "{\"range\":\"10.1.0.0/24\",\"store_dir\":\"/first\",\"network_name\":\"flat\","
		   "\"kubernetes\":{\"kubeconfig\":\"/k\"},\"datastore\":\"file\"}");
	write_file(own, "{\"store_dir\":\"/own\",\"exclude\":[\"10.9.0.9\"]}");
	write_file(bad, "{not json");

	/* the first file found fills only what the inline config leaves empty */
	CHECK(load("{\"range\":\"10.9.0.0/24\",\"network_name\":\"\"}", paths, &c, &err) == 0);
	CHECK_STR(c.ranges[0].cidr, "10.9.0.0/24");
	CHECK_STR(c.store_dir, "/first");
	CHECK_STR(c.network_name, "flat");
	CHECK_STR(c.flat_file, first);
	ipam_config_free(&c);

	/* a flat file's gateway outside the inline range: refused, and the details say why */
	write_file(bad, "{\"gateway\":\"10.1.0.1\"}");
	snprintf(json, sizeof(json), "{\"range\":\"10.9.0.0/24\",\"configuration_path\":\"%s\"}",
		 bad);
	CHECK(load(json, paths, &c, &err) < 0);
	CHECK(strstr(err.msg, "ipam.gateway") && strstr(err.details, bad));
	write_file(bad, "{not json");

	/* configuration_path comes before the well-known paths */
	snprintf(json, sizeof(json), "{\"range\":\"10.9.0.0/24\",\"configuration_path\":\"%s\"}",
		 own);
	CHECK(load(json, paths, &c, &err) == 0);
	CHECK_STR(c.store_dir, "/own");
	CHECK(c.ranges[0].n_exclude == 1);
	CHECK(c.network_name == NULL);
	ipam_config_free(&c);

	/* a configuration_path that does not exist falls through to the list */
	CHECK(load("{\"range\":\"10.9.0.0/24\",\"configuration_path\":\"/nonexistent/x.conf\"}",
		   paths, &c, &err) == 0);
	CHECK_STR(c.store_dir, "/first");
	ipam_config_free(&c);

	/* none found is fine; a broken one is an error that names it */
	CHECK(load("{\"range\":\"10.9.0.0/24\"}", NULL, &c, &err) == 0);
	CHECK(c.flat_file[0] == '\0');
	ipam_config_free(&c);
	snprintf(json, sizeof(json), "{\"range\":\"10.9.0.0/24\",\"configuration_path\":\"%s\"}",
		 bad);
	CHECK(load(json, paths, &c, &err) < 0 && err.code == 7 && strstr(err.msg, bad));

	/* the flat file alone may hold the range */
	CHECK(load("{\"type\":\"whereabouts\"}", paths + 1, &c, &err) == 0);
	CHECK_STR(c.ranges[0].cidr, "10.2.0.0/24");
	ipam_config_free(&c);

	unlink(own);
	unlink(first);
	unlink(second);
	unlink(bad);
	rmdir(dir);
}

int main(void)
{
	test_ranges();
	test_gateway_routes_dns();
	test_refusals();
	test_flat_file();
	return check_summary();
}
