/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Address ranges with exact 128-bit arithmetic. An IPv4 address lives in the low 32 bits of
 * a struct ipam_u128, an IPv6 address in all 128; every range carries its family, so the two
 * never mix. A range is a CIDR (network and broadcast), narrowed to [first, last] by
 * range_start/range_end (or the dash form), minus a sorted list of disjoint excluded
 * intervals. Portable C: no __int128, which 32-bit targets lack.
 */
#ifndef MIGNET_IPAM_RANGE_H
#define MIGNET_IPAM_RANGE_H

#include <netinet/in.h> /* INET6_ADDRSTRLEN */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cni/error.h"
#include "cni/result.h"

struct ipam_u128 {
	uint64_t hi, lo;
};

static inline int ipam_u128_cmp(struct ipam_u128 a, struct ipam_u128 b)
{
	if (a.hi != b.hi)
		return a.hi < b.hi ? -1 : 1;
	if (a.lo != b.lo)
		return a.lo < b.lo ? -1 : 1;
	return 0;
}

static inline bool ipam_u128_eq(struct ipam_u128 a, struct ipam_u128 b)
{
	return a.hi == b.hi && a.lo == b.lo;
}

static inline struct ipam_u128 ipam_u128_inc(struct ipam_u128 a)
{
	a.lo++;
	if (a.lo == 0)
		a.hi++;
	return a;
}

static inline struct ipam_u128 ipam_u128_dec(struct ipam_u128 a)
{
	if (a.lo == 0)
		a.hi--;
	a.lo--;
	return a;
}

/* a - b, modulo 2^128 */
static inline struct ipam_u128 ipam_u128_sub(struct ipam_u128 a, struct ipam_u128 b)
{
	struct ipam_u128 r = { a.hi - b.hi - (a.lo < b.lo), a.lo - b.lo };

	return r;
}

/* a + b, modulo 2^128 */
static inline struct ipam_u128 ipam_u128_add(struct ipam_u128 a, struct ipam_u128 b)
{
	struct ipam_u128 r = { a.hi + b.hi, a.lo + b.lo };

	if (r.lo < a.lo)
		r.hi++;
	return r;
}

/* Bits of an address of @family: 32 or 128. */
static inline unsigned int ipam_family_bits(int family)
{
	return family == 4 ? 32 : 128;
}

/* An inclusive interval of addresses. */
struct ipam_interval {
	struct ipam_u128 lo, hi;
};

#define IPAM_CIDR_MAX 64 /* "ffff:…:ffff/128" with room to spare */

struct ipam_range {
	int family; /* 4 or 6 */
	uint8_t prefixlen;
	struct ipam_u128 net, bcast;   /* first and last address of the CIDR */
	struct ipam_u128 first, last;  /* the allocatable bounds */
	struct ipam_interval *exclude; /* sorted, disjoint, clipped to [first, last] */
	size_t n_exclude;
	char cidr[IPAM_CIDR_MAX]; /* canonical "10.1.0.0/16" */
};

/**
 * ipam_addr_parse() - parse a textual IPv4 or IPv6 address (no prefix)
 * @ret_family: 4 or 6
 * Return: 0, or -EINVAL.
 */
int ipam_addr_parse(const char *s, int *ret_family, struct ipam_u128 *ret);

/**
 * ipam_addr_format() - canonical text of @a (inet_ntop form) into @buf (>= 46 bytes)
 * Return: @buf.
 */
const char *ipam_addr_format(int family, struct ipam_u128 a, char *buf, size_t size);

/** ipam_addr_to_cni() - the same address as a struct cni_addr. */
void ipam_addr_to_cni(int family, struct ipam_u128 a, struct cni_addr *ret);

/** ipam_addr_from_cni() - Return: 0, or -EINVAL for family 0. */
int ipam_addr_from_cni(const struct cni_addr *c, int *ret_family, struct ipam_u128 *ret);

/**
 * ipam_prefix_bounds() - the first and last address of @a/@prefixlen
 * @prefixlen must not exceed the family's bits.
 */
void ipam_prefix_bounds(int family, struct ipam_u128 a, unsigned int prefixlen,
			struct ipam_u128 *ret_net, struct ipam_u128 *ret_bcast);

/**
 * ipam_range_parse() - parse "range": a CIDR (host bits dropped) or the dash form "A-B/len"
 * @key: the config path for messages, e.g. "ipam.ipRanges[1].range"
 * @range_start, @range_end: the separate keys' values, or NULL; a key named @key_start /
 *	@key_end in messages. The dash form and these keys together are refused.
 * A /31, /32, /127 or /128 is refused (no usable address between network and broadcast);
 * start and end must lie within network+1 … broadcast−1 and not be inverted.
 * Return: 0, or -1 with err set (code 7 naming the key and value). @ret->exclude is NULL.
 */
int ipam_range_parse(const char *key, const char *spec, const char *key_start,
		     const char *range_start, const char *key_end, const char *range_end,
		     struct ipam_range *ret, struct cni_error *err);

/**
 * ipam_range_exclude() - add one "exclude" entry: a CIDR (host bits dropped) or an address
 * @key: e.g. "ipam.exclude[2]"
 * An entry of the other family, or one that does not meet the range's CIDR, is refused.
 * Entries are kept sorted and merged; an entry outside [first, last] but inside the CIDR is
 * accepted and changes nothing.
 * Return: 0, or -1 with err set (code 7).
 */
int ipam_range_exclude(struct ipam_range *r, const char *key, const char *spec,
		       struct cni_error *err);

/** ipam_range_contains() - Return: true if @a (of @family) lies in @r's CIDR. */
bool ipam_range_contains_cidr(const struct ipam_range *r, int family, struct ipam_u128 a);

/**
 * ipam_range_excluded() - is @a excluded?
 * Return: true with the end of the excluded interval in @ret_hi.
 */
bool ipam_range_excluded(const struct ipam_range *r, struct ipam_u128 a, struct ipam_u128 *ret_hi);

/**
 * ipam_range_digest() - a 64-bit FNV-1a digest of what decides allocation order in @r
 * (bounds and exclusions), so a stored search hint is only trusted by the same config.
 */
uint64_t ipam_range_digest(const struct ipam_range *r, bool overlapping);

/**
 * ipam_pool_name() - the store's name of @r's pool: "10.1.0.0_16", "fd00::_64"
 * Return: @buf.
 */
const char *ipam_pool_name(const struct ipam_range *r, char *buf, size_t size);

/**
 * ipam_pool_name_parse() - the inverse of ipam_pool_name()
 * Return: 0 with family, network and prefix length set, or -EINVAL.
 */
int ipam_pool_name_parse(const char *name, int *ret_family, struct ipam_u128 *ret_net,
			 unsigned int *ret_prefixlen);

/** ipam_range_free() - free the exclude list; accepts a zeroed struct. */
void ipam_range_free(struct ipam_range *r);

#endif
