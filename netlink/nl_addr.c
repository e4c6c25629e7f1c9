// SPDX-License-Identifier: Apache-2.0
/*
 * Addresses: add, list, and wait for IPv6 duplicate address detection.
 *
 * Theory of operation: listing is an RTM_GETADDR dump of one family, filtered here by
 * interface (the kernel filters by index only on strict-check sockets). For each address the
 * local address is IFA_LOCAL when present (on IPv4 IFA_ADDRESS is the peer of a point-to-point
 * link), else IFA_ADDRESS; the 32-bit IFA_FLAGS, when present, replaces the 8-bit ifa_flags.
 *
 * DAD is waited for by polling that dump every 10 ms: a multicast subscription would save a
 * few dumps but adds a second socket and a race between subscribing and the first look,
 * and DAD takes a second or two anyway. Without carrier there is no DAD to wait for: the
 * wait ends as soon as the link is seen without it. IFA_F_DADFAILED is looked at before
 * IFA_F_TENTATIVE, because a failed address keeps its tentative flag.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "netlink/nl.h"
#include "netlink/nl_priv.h"
#include "util/clock.h"
#include "util/array.h"

#define DAD_POLL_MS 10

#ifndef IFF_LOWER_UP
#define IFF_LOWER_UP 0x10000 /* linux/if.h; glibc's net/if.h, which nl.h uses, lacks it */
#endif

/**
 * nl_addr_add() - add an address (IFA_LOCAL and IFA_ADDRESS), scope universe
 * @nl: the socket.
 * @ifindex: the link.
 * @ip: the address (AF_INET or AF_INET6).
 * @prefixlen: its prefix length (<= 32 or <= 128).
 * Return: 0, -EEXIST if the link already has it, or -errno.
 */
int nl_addr_add(struct nl *nl, int ifindex, const struct nl_ip *ip, uint8_t prefixlen)
{
	char buf[NL_REQ_SIZE] = { 0 }; /* attribute padding must not carry stack bytes */
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	size_t len = nl_ip_len(ip->family);

	if (!len || prefixlen > len * 8 || ifindex <= 0)
		return -EINVAL;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)ip->family;
	ifa->ifa_prefixlen = prefixlen;
	ifa->ifa_scope = RT_SCOPE_UNIVERSE;
	ifa->ifa_index = (uint32_t)ifindex;
	mnl_attr_put(nlh, IFA_LOCAL, len, ip->addr);
	mnl_attr_put(nlh, IFA_ADDRESS, len, ip->addr);
	return nl_request(nl, nlh, NULL, NULL);
}

struct addr_list {
	int ifindex;
	struct nl_addr *v;
	size_t n, cap;
};

struct addr_attrs {
	const struct nlattr *local, *address;
	uint32_t flags;
	bool has_flags;
};

static int parse_addr(const struct nlattr *attr, void *data)
{
	struct addr_attrs *a = data;

	switch (mnl_attr_get_type(attr)) {
	case IFA_LOCAL:
		if (mnl_attr_validate(attr, MNL_TYPE_BINARY) < 0)
			return MNL_CB_ERROR;
		a->local = attr;
		break;
	case IFA_ADDRESS:
		if (mnl_attr_validate(attr, MNL_TYPE_BINARY) < 0)
			return MNL_CB_ERROR;
		a->address = attr;
		break;
	case IFA_FLAGS:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		a->flags = mnl_attr_get_u32(attr);
		a->has_flags = true;
		break;
	}
	return MNL_CB_OK;
}

static int addr_reply(const struct nlmsghdr *nlh, void *data)
{
	struct addr_list *list = data;
	const struct ifaddrmsg *ifa = mnl_nlmsg_get_payload(nlh);
	struct addr_attrs a = { .local = NULL };
	const struct nlattr *ip;
	struct nl_addr *out, *v;
	size_t len;

	if (nlh->nlmsg_type != RTM_NEWADDR || mnl_nlmsg_get_payload_len(nlh) < sizeof(*ifa))
		return 0;
	if (list->ifindex > 0 && ifa->ifa_index != (uint32_t)list->ifindex)
		return 0;
	len = nl_ip_len(ifa->ifa_family);
	if (!len)
		return 0;
	if (mnl_attr_parse(nlh, sizeof(*ifa), parse_addr, &a) < 0)
		return -EBADMSG;
	ip = a.local ? a.local : a.address;
	if (!ip || mnl_attr_get_payload_len(ip) != len)
		return 0;
	v = util_array_room(list->v, &list->cap, list->n, sizeof(*v), 8);
	if (!v)
		return -ENOMEM;
	list->v = v;
	out = &list->v[list->n++];
	memset(out, 0, sizeof(*out));
	out->ip.family = ifa->ifa_family;
	memcpy(out->ip.addr, mnl_attr_get_payload(ip), len);
	out->prefixlen = ifa->ifa_prefixlen;
	out->flags = a.has_flags ? a.flags : ifa->ifa_flags;
	out->scope = ifa->ifa_scope;
	return 0;
}

/**
 * nl_addr_list() - all addresses of @family (AF_UNSPEC = both) on @ifindex (0 = all links)
 * @nl: the socket.
 * @ifindex: the link, or 0 for every link.
 * @family: AF_INET, AF_INET6 or AF_UNSPEC.
 * @ret: receives a malloc'd array (free() it; NULL when empty); untouched on failure.
 * @ret_n: receives its length; untouched on failure.
 * Return: 0 or -errno.
 */
int nl_addr_list(struct nl *nl, int ifindex, int family, struct nl_addr **ret, size_t *ret_n)
{
	char buf[NL_REQ_SIZE] = { 0 }; /* attribute padding must not carry stack bytes */
	struct addr_list list = { .ifindex = ifindex };
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	int err;

	if (family != AF_UNSPEC && !nl_ip_len(family))
		return -EAFNOSUPPORT;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_GETADDR;
	nlh->nlmsg_flags = NLM_F_DUMP;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = (uint8_t)family;
	err = nl_request(nl, nlh, addr_reply, &list);
	if (err < 0) {
		free(list.v);
		return err;
	}
	*ret = list.v;
	*ret_n = list.n;
	return 0;
}

/* Has @ifindex carrier? IFF_LOWER_UP is in ifi_flags while the link is up. Return: 1, 0, -errno. */
static int has_carrier(struct nl *nl, int ifindex)
{
	struct nl_link link;
	int err = nl_link_get(nl, ifindex, NULL, &link);

	if (err < 0)
		return err;
	return (link.flags & IFF_LOWER_UP) != 0;
}

/**
 * nl_addr_wait_dad() - wait until no IPv6 address on @ifindex is tentative
 * @nl: the socket.
 * @ifindex: the link.
 * @timeout_ms: how long to wait at most (<= 0: look once).
 *
 * DAD runs only while the link has carrier: without it an address stays tentative until the
 * carrier comes (and the kernel then probes), so waiting is pointless and the wait ends at
 * once, also when the carrier goes away mid-wait (a flapping NIC).
 * Return: 0 when all are settled, -EADDRNOTAVAIL if one failed DAD (IFA_F_DADFAILED),
 * -ENETDOWN if one is tentative on a link without carrier, -ETIMEDOUT after @timeout_ms,
 * or -errno.
 */
int nl_addr_wait_dad(struct nl *nl, int ifindex, int timeout_ms)
{
	int64_t deadline = util_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);
	const struct timespec poll = { .tv_nsec = DAD_POLL_MS * 1000000L };

	for (;;) {
		struct nl_addr *v;
		size_t n;
		bool tentative = false, failed = false;
		int err = nl_addr_list(nl, ifindex, AF_INET6, &v, &n);

		if (err < 0)
			return err;
		for (size_t i = 0; i < n; i++) {
			failed |= (v[i].flags & IFA_F_DADFAILED) != 0;
			tentative |= (v[i].flags & IFA_F_TENTATIVE) != 0;
		}
		free(v);
		if (failed)
			return -EADDRNOTAVAIL;
		if (!tentative)
			return 0;
		err = has_carrier(nl, ifindex);
		if (err < 0)
			return err;
		if (!err)
			return -ENETDOWN;
		if (util_now_ms() >= deadline)
			return -ETIMEDOUT;
		nanosleep(&poll, NULL);
	}
}
