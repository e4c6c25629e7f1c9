// SPDX-License-Identifier: Apache-2.0
/* Unit tests of sizes, rates, CIDRs, targets, quantities and the config file. */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>

#include "../check.h"
#include "mig_config.h"
#include "mig_parse.h"
#include "mig_stream.h"

static void test_sizes(void)
{
	uint64_t v = 0;

	CHECK(mig_parse_size("4096", &v) == 0 && v == 4096);
	CHECK(mig_parse_size("64M", &v) == 0 && v == 64ull << 20);
	CHECK(mig_parse_size("64MiB", &v) == 0 && v == 64ull << 20);
	CHECK(mig_parse_size("1G", &v) == 0 && v == 1ull << 30);
	CHECK(mig_parse_size("2Ti", &v) == 0 && v == 2ull << 40);
	CHECK(mig_parse_size("1.5G", &v) == 0 && v == 3ull << 29);
	CHECK(mig_parse_size("10MB", &v) == 0 && v == 10000000);
	CHECK(mig_parse_size("4k", &v) == 0 && v == 4096);
	CHECK(mig_parse_size("", &v) == -EINVAL);
	CHECK(mig_parse_size("M", &v) == -EINVAL);
	CHECK(mig_parse_size("-1", &v) == -EINVAL);
	CHECK(mig_parse_size("12X", &v) == -EINVAL);
	CHECK(mig_parse_size("99999999999T", &v) == -ERANGE);
	CHECK(mig_parse_size(NULL, &v) == -EINVAL);
}

static void test_rates(void)
{
	uint64_t v = 0;

	CHECK(mig_parse_rate("64M", 1, &v) == 0 && v == 64ull << 20);
	CHECK(mig_parse_rate("64MiB/s", 1, &v) == 0 && v == 64ull << 20);
	CHECK(mig_parse_rate("100", 1u << 20, &v) == 0 && v == 100ull << 20);
	CHECK(mig_parse_rate("0", 1u << 20, &v) == 0 && v == 0);
	CHECK(mig_parse_rate("1G/s", 1u << 20, &v) == 0 && v == 1ull << 30);
	CHECK(mig_parse_rate("/s", 1, &v) == -EINVAL);
	CHECK(mig_parse_rate("fast", 1, &v) == -EINVAL);
}

static void test_uint(void)
{
	unsigned long v = 0;

	CHECK(mig_parse_uint("8", 1, 64, &v) == 0 && v == 8);
	CHECK(mig_parse_uint("0", 1, 64, &v) == -ERANGE);
	CHECK(mig_parse_uint("65", 1, 64, &v) == -ERANGE);
	CHECK(mig_parse_uint("8x", 1, 64, &v) == -EINVAL);
	CHECK(mig_parse_uint("-1", 0, 64, &v) == -EINVAL);
}

static struct sockaddr_storage sa(const char *text)
{
	struct sockaddr_storage ss = { 0 };

	if (strchr(text, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

		s6->sin6_family = AF_INET6;
		inet_pton(AF_INET6, text, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;

		s4->sin_family = AF_INET;
		inet_pton(AF_INET, text, &s4->sin_addr);
	}
	return ss;
}

#define MATCH(c, text)                                     \
	({                                                 \
		struct sockaddr_storage s_ = sa(text);     \
		mig_cidr_match(c, (struct sockaddr *)&s_); \
	})

static void test_cidr(void)
{
	struct mig_cidr c;

	CHECK(mig_cidr_parse("10.77.0.0/24", &c) == 0 && c.family == AF_INET && c.prefix == 24);
	CHECK(MATCH(&c, "10.77.0.1"));
	CHECK(MATCH(&c, "10.77.0.255"));
	CHECK(!MATCH(&c, "10.77.1.1"));
	CHECK(!MATCH(&c, "fd00::1"));
	CHECK(MATCH(&c, "::ffff:10.77.0.9")); /* v4-mapped */
	CHECK(mig_cidr_parse("10.77.0.1", &c) == 0 && c.prefix == 32);
	CHECK(MATCH(&c, "10.77.0.1") && !MATCH(&c, "10.77.0.2"));
	CHECK(mig_cidr_parse("10.0.0.0/9", &c) == 0);
	CHECK(MATCH(&c, "10.127.255.255") && !MATCH(&c, "10.128.0.0"));
	CHECK(mig_cidr_parse("0.0.0.0/0", &c) == 0 && MATCH(&c, "192.0.2.1"));
	CHECK(mig_cidr_parse("fd77::/64", &c) == 0 && c.family == AF_INET6);
	CHECK(MATCH(&c, "fd77::2") && !MATCH(&c, "fd78::2") && !MATCH(&c, "10.0.0.1"));
	CHECK(mig_cidr_parse("10.0.0.0/33", &c) == -EINVAL);
	CHECK(mig_cidr_parse("fd00::/129", &c) == -EINVAL);
	CHECK(mig_cidr_parse("host.example/24", &c) == -EINVAL);
	CHECK(mig_cidr_parse("10.0.0.0/", &c) == -EINVAL);
}

static void test_target(void)
{
	struct mig_addr a;
	char buf[64];

	CHECK(mig_parse_target("10.77.0.2", 49152, &a) == 0);
	CHECK(a.ss.ss_family == AF_INET && mig_addr_port(&a) == 49152);
	CHECK_STR(mig_addr_format(&a, buf, sizeof(buf)), "10.77.0.2");
	CHECK(mig_parse_target("10.77.0.2:5000", 49152, &a) == 0 && mig_addr_port(&a) == 5000);
	CHECK(mig_parse_target("[fd77::2]:6000", 49152, &a) == 0);
	CHECK(a.ss.ss_family == AF_INET6 && mig_addr_port(&a) == 6000);
	CHECK_STR(mig_addr_format(&a, buf, sizeof(buf)), "fd77::2");
	CHECK(mig_parse_target("fd77::2", 49152, &a) == 0 && mig_addr_port(&a) == 49152);
	CHECK(mig_parse_target("[fd77::2]", 7, &a) == 0 && mig_addr_port(&a) == 7);
	CHECK(mig_parse_target("10.77.0.2:0", 1, &a) == -EINVAL);
	CHECK(mig_parse_target("10.77.0.2:70000", 1, &a) == -EINVAL);
	CHECK(mig_parse_target("node-b:49152", 1, &a) == -EINVAL);
	CHECK(mig_parse_target("[fd77::2", 1, &a) == -EINVAL);
	CHECK(mig_parse_target("", 1, &a) == -EINVAL);
}

static void test_global_unicast(void)
{
	static const struct {
		const char *addr;
		bool global;
	} cases[] = {
		{ "10.77.0.1", true },	      { "192.0.2.1", true }, { "127.0.0.1", false },
		{ "169.254.1.1", false },     { "0.0.0.0", false },  { "224.0.0.1", false },
		{ "255.255.255.255", false }, { "fd77::1", true },   { "2001:db8::1", true },
		{ "fe80::1", false },	      { "::1", false },	     { "::", false },
		{ "ff02::1", false },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sockaddr_storage s = sa(cases[i].addr);
		int failed = check_failed;

		CHECK(mig_is_global_unicast((struct sockaddr *)&s) == cases[i].global);
		if (check_failed != failed)
			fprintf(stderr, "  (the address %s)\n", cases[i].addr);
	}
}

static void test_config(void)
{
	struct mig_config c;
	struct mig_error err = { 0 };
	uint64_t v;

	CHECK(mig_parse_quantity("64Mi", &v) == 0 && v == 64ull << 20);
	CHECK(mig_parse_quantity("64M", &v) == 0 && v == 64000000);
	CHECK(mig_parse_quantity("1Gi", &v) == 0 && v == 1ull << 30);
	CHECK(mig_parse_quantity("0", &v) == 0 && v == 0);
	CHECK(mig_parse_quantity("64MiB", &v) == -EINVAL);

	CHECK(mig_config_parse(
		      "{\"bandwidthPerMigration\":\"64Mi\",\"completionTimeoutPerGiB\":800,"
		      "\"progressTimeout\":150,\"parallelOutboundMigrationsPerNode\":2,"
		      "\"unknownKey\":[1,2]}",
		      &c, &err) == 0);
	CHECK(c.has_bandwidth && c.bandwidth == 64ull << 20);
	CHECK(c.has_completion && c.completion_timeout_per_gib == 800);
	CHECK(c.has_progress && c.progress_timeout == 150);
	CHECK(c.has_parallel && c.parallel_outbound == 2);
	CHECK(mig_config_parse("{\"liveMigrationConfig\":{\"progressTimeout\":5}}", &c, &err) == 0);
	CHECK(c.has_progress && c.progress_timeout == 5 && !c.has_bandwidth);
	CHECK(mig_config_parse("{\"bandwidthPerMigration\":1048576}", &c, &err) == 0);
	CHECK(c.bandwidth == 1048576);
	CHECK(mig_config_parse("{\"progressTimeout\":\"5\"}", &c, &err) == -EINVAL);
	CHECK(strstr(err.msg, "progressTimeout") != NULL);
	CHECK(mig_config_parse("{\"bandwidthPerMigration\":\"fast\"}", &c, &err) == -EINVAL);
	CHECK(mig_config_parse("{\"parallelOutboundMigrationsPerNode\":0}", &c, &err) == -EINVAL);
	CHECK(mig_config_parse("{\"completionTimeoutPerGiB\":-1}", &c, &err) == -EINVAL);
	CHECK(mig_config_parse("[1]", &c, &err) == -EINVAL);
	CHECK(mig_config_parse("{", &c, &err) == -EINVAL);
	CHECK(mig_config_parse("{\"liveMigrationConfig\":3}", &c, &err) == -EINVAL);
}

int main(void)
{
	test_sizes();
	test_rates();
	test_uint();
	test_cidr();
	test_target();
	test_global_unicast();
	test_config();
	return check_summary();
}
