// SPDX-License-Identifier: Apache-2.0
/*
 * Range parsing and 128-bit arithmetic. Addresses are parsed with inet_pton, which refuses
 * what is ambiguous (leading zeros in IPv4 octets, zones, trailing garbage), and converted to
 * big-endian integers so that "next address", "is in range" and "network of" are plain
 * integer operations.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam/range.h"

static struct ipam_u128 from_bytes(int family, const uint8_t *b)
{
	struct ipam_u128 r = { 0, 0 };

	if (family == 4) {
		r.lo = (uint64_t)b[0] << 24 | (uint64_t)b[1] << 16 | (uint64_t)b[2] << 8 | b[3];
		return r;
	}
	for (int i = 0; i < 8; i++) {
		r.hi = r.hi << 8 | b[i];
		r.lo = r.lo << 8 | b[8 + i];
	}
	return r;
}

static void to_bytes(int family, struct ipam_u128 a, uint8_t *b)
{
	if (family == 4) {
		for (int i = 0; i < 4; i++)
			b[i] = a.lo >> (24 - 8 * i);
		return;
	}
	for (int i = 0; i < 8; i++) {
		b[i] = a.hi >> (56 - 8 * i);
		b[8 + i] = a.lo >> (56 - 8 * i);
	}
}

int ipam_addr_parse(const char *s, int *ret_family, struct ipam_u128 *ret)
{
	uint8_t b[16];

	if (!s)
		return -EINVAL;
	if (inet_pton(AF_INET, s, b) == 1) {
		*ret_family = 4;
		*ret = from_bytes(4, b);
		return 0;
	}
	if (inet_pton(AF_INET6, s, b) == 1) {
		*ret_family = 6;
		*ret = from_bytes(6, b);
		return 0;
	}
	return -EINVAL;
}

const char *ipam_addr_format(int family, struct ipam_u128 a, char *buf, size_t size)
{
	uint8_t b[16];

	to_bytes(family, a, b);
	if (!inet_ntop(family == 4 ? AF_INET : AF_INET6, b, buf, size) && size)
		buf[0] = '\0';
	return buf;
}

void ipam_addr_to_cni(int family, struct ipam_u128 a, struct cni_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	ret->family = family == 4 ? AF_INET : AF_INET6;
	to_bytes(family, a, ret->bytes);
}

int ipam_addr_from_cni(const struct cni_addr *c, int *ret_family, struct ipam_u128 *ret)
{
	if (c->family != AF_INET && c->family != AF_INET6)
		return -EINVAL;
	*ret_family = c->family == AF_INET ? 4 : 6;
	*ret = from_bytes(*ret_family, c->bytes);
	return 0;
}

/* The host mask of a /@prefixlen in @family: the low (bits - prefixlen) bits set. */
static struct ipam_u128 host_mask(int family, unsigned int prefixlen)
{
	unsigned int host = ipam_family_bits(family) - prefixlen;
	struct ipam_u128 m = { 0, 0 };

	if (host >= 128) {
		m.hi = m.lo = UINT64_MAX;
	} else if (host >= 64) {
		m.lo = UINT64_MAX;
		m.hi = host == 64 ? 0 : (UINT64_MAX >> (128 - host));
	} else if (host > 0) {
		m.lo = UINT64_MAX >> (64 - host);
	}
	return m;
}

void ipam_prefix_bounds(int family, struct ipam_u128 a, unsigned int prefixlen,
			struct ipam_u128 *ret_net, struct ipam_u128 *ret_bcast)
{
	struct ipam_u128 m = host_mask(family, prefixlen);

	ret_net->hi = a.hi & ~m.hi;
	ret_net->lo = a.lo & ~m.lo;
	ret_bcast->hi = a.hi | m.hi;
	ret_bcast->lo = a.lo | m.lo;
	if (family == 4) {
		ret_net->hi = ret_bcast->hi = 0;
		ret_net->lo &= 0xffffffffu;
		ret_bcast->lo &= 0xffffffffu;
	}
}

/*
 * Parse "ADDR/LEN" into address, family and prefix length. The length is decimal without
 * sign or leading zeros (as Go's ParseCIDR). Return: 0 or -EINVAL.
 */
static int parse_cidr(const char *s, int *ret_family, struct ipam_u128 *ret_addr,
		      unsigned int *ret_len)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *slash = strchr(s, '/');
	const char *p;
	unsigned long len = 0;
	size_t n;
	int family;

	if (!slash)
		return -EINVAL;
	n = slash - s;
	if (n == 0 || n >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, n);
	addr[n] = '\0';
	if (ipam_addr_parse(addr, &family, ret_addr) < 0)
		return -EINVAL;
	p = slash + 1;
	if (!*p || strlen(p) > 3 || (p[0] == '0' && p[1]))
		return -EINVAL;
	for (; *p; p++) {
		if (*p < '0' || *p > '9')
			return -EINVAL;
		len = len * 10 + (*p - '0');
	}
	if (len > ipam_family_bits(family))
		return -EINVAL;
	*ret_family = family;
	*ret_len = len;
	return 0;
}

static int bad(struct cni_error *err, const char *key, const char *value, const char *why)
{
	return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"%s\" \"%.100s\": %s", key, value,
		       why);
}

/* Parse an optional bound (@s may be NULL) and check it lies in the usable part of @r. */
static int parse_bound(struct ipam_range *r, const char *key, const char *s, struct ipam_u128 *ret,
		       struct cni_error *err)
{
	int family;

	if (!s)
		return 0;
	if (ipam_addr_parse(s, &family, ret) < 0)
		return bad(err, key, s, "not an IP address");
	if (family != r->family)
		return bad(err, key, s,
			   r->family == 4 ? "not an IPv4 address, the range is IPv4"
					  : "not an IPv6 address, the range is IPv6");
	if (ipam_u128_cmp(*ret, r->net) <= 0 || ipam_u128_cmp(*ret, r->bcast) >= 0) {
		char why[128];

		snprintf(why, sizeof(why), "outside the usable addresses of %s", r->cidr);
		return bad(err, key, s, why);
	}
	return 0;
}

int ipam_range_parse(const char *key, const char *spec, const char *key_start,
		     const char *range_start, const char *key_end, const char *range_end,
		     struct ipam_range *ret, struct cni_error *err)
{
	struct ipam_range r = { 0 };
	const char *cidr = spec, *dash = strchr(spec, '-');
	char start_buf[INET6_ADDRSTRLEN + 1], nbuf[INET6_ADDRSTRLEN];
	const char *start = range_start, *start_key = key_start;
	const char *end = range_end, *end_key = key_end;
	struct ipam_u128 addr;
	unsigned int len;

	if (dash) {
		size_t n = dash - spec;

		if (range_start || range_end)
			return bad(err, key, spec,
				   range_start ? "the dash form cannot be combined with range_start"
					       : "the dash form cannot be combined with range_end");
		if (n == 0 || n >= sizeof(start_buf))
			return bad(err, key, spec, "expected START-END/LEN with IP addresses");
		memcpy(start_buf, spec, n);
		start_buf[n] = '\0';
		start = start_buf;
		start_key = key;
		cidr = dash + 1;
	}
	if (parse_cidr(cidr, &r.family, &addr, &len) < 0)
		return bad(err, key, spec,
			   dash ? "expected START-END/LEN with IP addresses"
				: "not a CIDR (expected ADDRESS/LEN or START-END/LEN)");
	if (ipam_family_bits(r.family) - len < 2)
		return bad(err, key, spec,
			   "the prefix leaves no usable address between network and "
			   "broadcast (/31, /32, /127 and /128 are refused)");
	r.prefixlen = len;
	ipam_prefix_bounds(r.family, addr, len, &r.net, &r.bcast);
	snprintf(r.cidr, sizeof(r.cidr), "%s/%u",
		 ipam_addr_format(r.family, r.net, nbuf, sizeof(nbuf)), len);
	r.first = ipam_u128_inc(r.net);
	r.last = ipam_u128_dec(r.bcast);
	if (dash) {
		char end_buf[INET6_ADDRSTRLEN + 1];
		size_t n = strchr(cidr, '/') - cidr;

		memcpy(end_buf, cidr, n);
		end_buf[n] = '\0';
		if (parse_bound(&r, key, start, &r.first, err) < 0 ||
		    parse_bound(&r, key, end_buf, &r.last, err) < 0)
			return -1;
	} else if (parse_bound(&r, start_key, start, &r.first, err) < 0 ||
		   parse_bound(&r, end_key, end, &r.last, err) < 0) {
		return -1;
	}
	if (ipam_u128_cmp(r.first, r.last) > 0) {
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN], why[160];

		snprintf(why, sizeof(why), "the range is inverted: start %s is above end %s",
			 ipam_addr_format(r.family, r.first, a, sizeof(a)),
			 ipam_addr_format(r.family, r.last, b, sizeof(b)));
		return bad(err, dash ? key : (end ? end_key : start_key),
			   dash ? spec : (end ? end : start), why);
	}
	*ret = r;
	return 0;
}

int ipam_range_exclude(struct ipam_range *r, const char *key, const char *spec,
		       struct cni_error *err)
{
	struct ipam_interval iv, *grown;
	struct ipam_u128 addr;
	unsigned int len;
	int family;
	size_t i, j;

	if (strchr(spec, '/')) {
		if (parse_cidr(spec, &family, &addr, &len) < 0)
			return bad(err, key, spec, "not a CIDR or an IP address");
	} else {
		if (ipam_addr_parse(spec, &family, &addr) < 0)
			return bad(err, key, spec, "not a CIDR or an IP address");
		len = ipam_family_bits(family);
	}
	if (family != r->family)
		return bad(err, key, spec,
			   r->family == 4 ? "not IPv4, the range is IPv4"
					  : "not IPv6, the range is IPv6");
	ipam_prefix_bounds(family, addr, len, &iv.lo, &iv.hi);
	if (ipam_u128_cmp(iv.hi, r->net) < 0 || ipam_u128_cmp(iv.lo, r->bcast) > 0) {
		char why[128];

		snprintf(why, sizeof(why), "outside the range %s", r->cidr);
		return bad(err, key, spec, why);
	}
	/* clip to the allocatable bounds; an interval that misses them changes nothing */
	if (ipam_u128_cmp(iv.lo, r->first) < 0)
		iv.lo = r->first;
	if (ipam_u128_cmp(iv.hi, r->last) > 0)
		iv.hi = r->last;
	if (ipam_u128_cmp(iv.lo, iv.hi) > 0)
		return 0;
	grown = realloc(r->exclude, (r->n_exclude + 1) * sizeof(*grown));
	if (!grown)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	r->exclude = grown;
	/* insert sorted by lo, then merge neighbours that touch or overlap */
	for (i = 0; i < r->n_exclude && ipam_u128_cmp(r->exclude[i].lo, iv.lo) <= 0; i++)
		;
	memmove(&r->exclude[i + 1], &r->exclude[i], (r->n_exclude - i) * sizeof(*grown));
	r->exclude[i] = iv;
	r->n_exclude++;
	for (i = 0, j = 1; j < r->n_exclude; j++) {
		struct ipam_interval *cur = &r->exclude[i];

		if (!ipam_u128_eq(cur->hi, r->bcast) &&
		    ipam_u128_cmp(r->exclude[j].lo, ipam_u128_inc(cur->hi)) > 0) {
			r->exclude[++i] = r->exclude[j];
			continue;
		}
		if (ipam_u128_cmp(r->exclude[j].hi, cur->hi) > 0)
			cur->hi = r->exclude[j].hi;
	}
	r->n_exclude = i + 1;
	return 0;
}

bool ipam_range_contains_cidr(const struct ipam_range *r, int family, struct ipam_u128 a)
{
	return family == r->family && ipam_u128_cmp(a, r->net) >= 0 &&
	       ipam_u128_cmp(a, r->bcast) <= 0;
}

bool ipam_range_excluded(const struct ipam_range *r, struct ipam_u128 a, struct ipam_u128 *ret_hi)
{
	size_t lo = 0, hi = r->n_exclude;

	/* binary search for the last interval starting at or below @a */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (ipam_u128_cmp(r->exclude[mid].lo, a) <= 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0 || ipam_u128_cmp(a, r->exclude[lo - 1].hi) > 0)
		return false;
	if (ret_hi)
		*ret_hi = r->exclude[lo - 1].hi;
	return true;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t fnv_u128(uint64_t h, struct ipam_u128 v)
{
	uint8_t b[16];

	to_bytes(6, v, b);
	return fnv(h, b, sizeof(b));
}

uint64_t ipam_range_digest(const struct ipam_range *r, bool overlapping)
{
	uint64_t h = 0xcbf29ce484222325ull;
	uint8_t flags[2] = { (uint8_t)r->family, overlapping };

	h = fnv(h, flags, sizeof(flags));
	h = fnv_u128(h, r->first);
	h = fnv_u128(h, r->last);
	for (size_t i = 0; i < r->n_exclude; i++) {
		h = fnv_u128(h, r->exclude[i].lo);
		h = fnv_u128(h, r->exclude[i].hi);
	}
	return h;
}

const char *ipam_pool_name(const struct ipam_range *r, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN];

	snprintf(buf, size, "%s_%u", ipam_addr_format(r->family, r->net, a, sizeof(a)),
		 r->prefixlen);
	return buf;
}

int ipam_pool_name_parse(const char *name, int *ret_family, struct ipam_u128 *ret_net,
			 unsigned int *ret_prefixlen)
{
	char cidr[IPAM_CIDR_MAX];
	struct ipam_u128 net, bcast;
	char *us;

	if (strlen(name) >= sizeof(cidr))
		return -EINVAL;
	strcpy(cidr, name);
	us = strrchr(cidr, '_');
	if (!us)
		return -EINVAL;
	*us = '/';
	if (parse_cidr(cidr, ret_family, ret_net, ret_prefixlen) < 0)
		return -EINVAL;
	ipam_prefix_bounds(*ret_family, *ret_net, *ret_prefixlen, &net, &bcast);
	if (!ipam_u128_eq(net, *ret_net))
		return -EINVAL;
	return 0;
}

void ipam_range_free(struct ipam_range *r)
{
	free(r->exclude);
	r->exclude = NULL;
	r->n_exclude = 0;
}
