// SPDX-License-Identifier: Apache-2.0
/* Range parsing, exclusion and 128-bit arithmetic, with vectors of our own. */
#include <string.h>

#include "ipam/range.h"
#include "tests/unit/check.h"

static const char *fmt(int family, struct ipam_u128 a)
{
	static char buf[4][INET6_ADDRSTRLEN];
	static int i;

	i = (i + 1) % 4;
	return ipam_addr_format(family, a, buf[i], sizeof(buf[i]));
}

static int parse(const char *spec, const char *start, const char *end, struct ipam_range *r,
		 struct cni_error *err)
{
	memset(err, 0, sizeof(*err));
	return ipam_range_parse("ipam.range", spec, "ipam.range_start", start, "ipam.range_end",
				end, r, err);
}

/*
 * @spec (with @start and @end) parses into @r, whose CIDR is @cidr and whose first and last
 * addresses are @first and @last (each NULL: not checked); the failures name @spec.
 */
static void check_range(const char *spec, const char *start, const char *end, struct ipam_range *r,
			const char *cidr, const char *first, const char *last)
{
	int family = strchr(spec, ':') ? 6 : 4, failed = check_failed;
	struct cni_error err;

	CHECK(parse(spec, start, end, r, &err) == 0);
	if (cidr)
		CHECK_STR(r->cidr, cidr);
	if (first)
		CHECK_STR(fmt(family, r->first), first);
	if (last)
		CHECK_STR(fmt(family, r->last), last);
	if (check_failed != failed)
		fprintf(stderr, "  (the range \"%s\")\n", spec);
}

static void test_u128(void)
{
	struct ipam_u128 a = { 0, UINT64_MAX }, b;

	b = ipam_u128_inc(a);
	CHECK(b.hi == 1 && b.lo == 0);
	CHECK(ipam_u128_eq(ipam_u128_dec(b), a));
	CHECK(ipam_u128_cmp(a, b) < 0 && ipam_u128_cmp(b, a) > 0 && ipam_u128_cmp(a, a) == 0);
	b = ipam_u128_sub((struct ipam_u128){ 5, 0 }, (struct ipam_u128){ 0, 1 });
	CHECK(b.hi == 4 && b.lo == UINT64_MAX);
	b = ipam_u128_add((struct ipam_u128){ 0, UINT64_MAX }, (struct ipam_u128){ 0, 2 });
	CHECK(b.hi == 1 && b.lo == 1);
}

static void test_cidr(void)
{
	struct ipam_range r;

	/* host bits are dropped */
	check_range("192.168.2.230/24", NULL, NULL, &r, "192.168.2.0/24", "192.168.2.1",
		    "192.168.2.254");
	CHECK(r.family == 4 && r.prefixlen == 24);
	/* /30: two usable */
	check_range("10.0.0.0/30", NULL, NULL, &r, NULL, "10.0.0.1", "10.0.0.2");
	/* /0 works with exact arithmetic */
	check_range("0.0.0.0/0", NULL, NULL, &r, NULL, NULL, "255.255.255.254");
	/* range_start / range_end narrow */
	check_range("10.1.0.0/16", "10.1.5.0", "10.1.5.9", &r, NULL, "10.1.5.0", "10.1.5.9");
}

static void test_dash(void)
{
	struct cni_error err;
	struct ipam_range r;

	check_range("192.168.1.5-192.168.1.25/24", NULL, NULL, &r, "192.168.1.0/24", "192.168.1.5",
		    "192.168.1.25");
	check_range("fd00::10-fd00::20/64", NULL, NULL, &r, "fd00::/64", "fd00::10", "fd00::20");
	/* start outside the CIDR of the end */
	CHECK(parse("192.168.0.5-192.168.1.25/24", NULL, NULL, &r, &err) < 0);
	CHECK(err.code == 7 && strstr(err.msg, "ipam.range") && strstr(err.msg, "192.168.0.5"));
	/* dash form plus range_start */
	CHECK(parse("192.168.1.5-192.168.1.25/24", "192.168.1.6", NULL, &r, &err) < 0);
	CHECK(err.code == 7 && strstr(err.msg, "range_start"));
	/* inverted */
	CHECK(parse("192.168.1.25-192.168.1.5/24", NULL, NULL, &r, &err) < 0);
	CHECK(err.code == 7 && strstr(err.msg, "inverted"));
	CHECK(parse("192.168.1.x-192.168.1.5/24", NULL, NULL, &r, &err) < 0);
	CHECK(err.code == 7);
}

static void test_v6(void)
{
	struct ipam_range r;

	check_range("fd00:1:2:3::abcd/64", NULL, NULL, &r, "fd00:1:2:3::/64", "fd00:1:2:3::1",
		    "fd00:1:2:3:ffff:ffff:ffff:fffe");
	/* big ranges: a /8 and a /1 cross the 64-bit halves */
	check_range("fd00::/8", NULL, NULL, &r, NULL, NULL,
		    "fdff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	check_range("8000::/1", NULL, NULL, &r, NULL, "8000::1",
		    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
	check_range("::/0", NULL, NULL, &r, NULL, "::1", NULL);
	/* range_start across the half boundary */
	check_range("fd00::/63", "fd00:0:0:1::5", NULL, &r, NULL, "fd00:0:0:1::5", NULL);
	/* /126 is the smallest accepted */
	check_range("fd00::/126", NULL, NULL, &r, NULL, "fd00::1", "fd00::2");
}

static void test_refused(void)
{
	static const char *const bad[] = {
		"10.0.0.0/31",	"10.0.0.1/32",
		"fd00::/127",	"fd00::1/128",
		"10.0.0.0/33",	"10.0.0.0",
		"10.0.0.0/",	"10.0.0.0/024",
		"10.0.0.0/-1",	"010.0.0.0/8",
		"fd00::/129",	"fd00::%eth0/64",
		"nonsense",	"",
		"10.0.0.0/24 ",
	};
	struct cni_error err;
	struct ipam_range r;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = parse(bad[i], NULL, NULL, &r, &err);

		CHECK(rc < 0 && err.code == 7 && strstr(err.msg, "\"ipam.range\""));
		if (rc == 0)
			fprintf(stderr, "accepted: %s\n", bad[i]);
	}
	/* out-of-range and mismatched bounds name their key */
	CHECK(parse("10.0.0.0/24", "10.0.0.0", NULL, &r, &err) < 0);
	CHECK(strstr(err.msg, "ipam.range_start") && strstr(err.msg, "10.0.0.0"));
	CHECK(parse("10.0.0.0/24", NULL, "10.0.0.255", &r, &err) < 0);
	CHECK(strstr(err.msg, "ipam.range_end") && strstr(err.msg, "10.0.0.255"));
	CHECK(parse("10.0.0.0/24", "10.0.1.1", NULL, &r, &err) < 0);
	CHECK(strstr(err.msg, "ipam.range_start"));
	CHECK(parse("10.0.0.0/24", "fd00::1", NULL, &r, &err) < 0);
	CHECK(strstr(err.msg, "IPv4"));
	CHECK(parse("10.0.0.0/24", "10.0.0.9", "10.0.0.8", &r, &err) < 0);
	CHECK(strstr(err.msg, "inverted") && strstr(err.msg, "ipam.range_end"));
	CHECK(parse("10.0.0.0/24", "junk", NULL, &r, &err) < 0);
	CHECK(strstr(err.msg, "ipam.range_start") && strstr(err.msg, "junk"));
}

static void test_exclude(void)
{
	struct cni_error err = { 0 };
	struct ipam_u128 a, hi;
	struct ipam_range r;
	int f;

	CHECK(parse("10.0.0.0/24", NULL, NULL, &r, &err) == 0);
	CHECK(ipam_range_exclude(&r, "x", "10.0.0.8/30", &err) == 0);
	CHECK(ipam_range_exclude(&r, "x", "10.0.0.3", &err) == 0);
	CHECK(ipam_range_exclude(&r, "x", "10.0.0.13/30", &err) == 0); /* host bits: .12/30 */
	CHECK(ipam_range_exclude(&r, "x", "10.0.0.0/30", &err) == 0);  /* clipped to .1-.3 */
	/* .1-.3 and .8-.15 after merging .8/30 and .12/30 */
	CHECK(r.n_exclude == 2);
	CHECK_STR(fmt(4, r.exclude[0].lo), "10.0.0.1");
	CHECK_STR(fmt(4, r.exclude[0].hi), "10.0.0.3");
	CHECK_STR(fmt(4, r.exclude[1].lo), "10.0.0.8");
	CHECK_STR(fmt(4, r.exclude[1].hi), "10.0.0.15");
	ipam_addr_parse("10.0.0.9", &f, &a);
	CHECK(ipam_range_excluded(&r, a, &hi) && !strcmp(fmt(4, hi), "10.0.0.15"));
	ipam_addr_parse("10.0.0.4", &f, &a);
	CHECK(!ipam_range_excluded(&r, a, &hi));
	ipam_addr_parse("10.0.0.16", &f, &a);
	CHECK(!ipam_range_excluded(&r, a, &hi));
	/* an exclusion covering the whole range */
	CHECK(ipam_range_exclude(&r, "x", "10.0.0.0/16", &err) == 0);
	CHECK(r.n_exclude == 1);
	CHECK_STR(fmt(4, r.exclude[0].hi), "10.0.0.254");
	/* refused: other family, outside, junk */
	CHECK(ipam_range_exclude(&r, "ipam.exclude[3]", "fd00::1", &err) < 0);
	CHECK(err.code == 7 && strstr(err.msg, "ipam.exclude[3]"));
	CHECK(ipam_range_exclude(&r, "ipam.exclude[4]", "10.0.1.0/24", &err) < 0);
	CHECK(strstr(err.msg, "outside") && strstr(err.msg, "10.0.1.0/24"));
	CHECK(ipam_range_exclude(&r, "ipam.exclude[5]", "10.0.0.1/40", &err) < 0);
	ipam_range_free(&r);

	/* v6 exclusions across the 64-bit halves */
	CHECK(parse("fd00::/56", NULL, NULL, &r, &err) == 0);
	CHECK(ipam_range_exclude(&r, "x", "fd00:0:0:1::/64", &err) == 0);
	ipam_addr_parse("fd00:0:0:1:ffff::", &f, &a);
	CHECK(ipam_range_excluded(&r, a, &hi) &&
	      !strcmp(fmt(6, hi), "fd00::1:ffff:ffff:ffff:ffff"));
	ipam_range_free(&r);
}

static void test_pool_name(void)
{
	struct cni_error err;
	struct ipam_range r;
	struct ipam_u128 net;
	unsigned int len;
	char name[IPAM_CIDR_MAX];
	int f;

	CHECK(parse("fd00:1::/64", NULL, NULL, &r, &err) == 0);
	CHECK_STR(ipam_pool_name(&r, name, sizeof(name)), "fd00:1::_64");
	CHECK(ipam_pool_name_parse(name, &f, &net, &len) == 0 && f == 6 && len == 64 &&
	      ipam_u128_eq(net, r.net));
	CHECK(ipam_pool_name_parse("10.0.0.1_24", &f, &net, &len) < 0); /* not a network */
	CHECK(ipam_pool_name_parse("lock", &f, &net, &len) < 0);
	CHECK(ipam_pool_name_parse("10.0.0.0_24", &f, &net, &len) == 0 && f == 4);
	/* digests differ by bounds */
	{
		struct ipam_range r2;

		CHECK(parse("fd00:1::/64", "fd00:1::5", NULL, &r2, &err) == 0);
		CHECK(ipam_range_digest(&r, true) != ipam_range_digest(&r2, true));
		CHECK(ipam_range_digest(&r, true) != ipam_range_digest(&r, false));
	}
}

int main(void)
{
	test_u128();
	test_cidr();
	test_dash();
	test_v6();
	test_refused();
	test_exclude();
	test_pool_name();
	return check_summary();
}
