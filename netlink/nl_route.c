// SPDX-License-Identifier: Apache-2.0
/*
 * Routes: add, list, ask the kernel for the way to an address, find the default route.
 *
 * Theory of operation: a route is an rtmsg plus attributes. A table below 256 travels in
 * rtm_table, a larger one in RTA_TABLE (rtm_table then RT_TABLE_UNSPEC), which is what the
 * kernel reads and what iproute2 sends; on read, RTA_TABLE wins over rtm_table when present.
 * The route MTU is a metric, so it is the RTAX_MTU attribute inside the RTA_METRICS nest:
 * parse_route() hands that nest to parse_metrics(), one callback per level.
 *
 * Listing is an RTM_GETROUTE dump filtered here (table, output interface): only unicast
 * routes the kernel holds in a table, never the cache's clones. A multipath route (RTA_MULTIPATH:
 * rtnexthop entries, each with its own attributes) is listed one entry per hop, so that a
 * route added beside another one to the same destination (IPv6 makes them siblings of one
 * multipath route) is found by its interface and gateway.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <stdlib.h>
#include <string.h>

#include "netlink/nl.h"
#include "netlink/nl_priv.h"
#include "util/array.h"

static struct nlmsghdr *route_msg(char *buf, uint16_t type, uint16_t flags, int family)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct rtmsg *rtm;

	nlh->nlmsg_type = type;
	nlh->nlmsg_flags = flags;
	rtm = mnl_nlmsg_put_extra_header(nlh, sizeof(*rtm));
	rtm->rtm_family = (uint8_t)family;
	return nlh;
}

/**
 * nl_route_add() - add a route (NLM_F_CREATE, without NLM_F_EXCL), protocol boot, type unicast
 * @nl: the socket.
 * @route: the route; family may be 0 to take the one of dst (or gw when dst_len is 0).
 *
 * As the reference plugins do: a route to the same destination that differs in device, gateway
 * or metric stays and the new one is added beside it (IPv4: like `ip route prepend`, first
 * among routes of equal metric; IPv6: a multipath sibling when both have gateways). Only a
 * route identical in every respect to one the kernel holds is -EEXIST.
 * Return: 0, -EEXIST for an identical route, or -errno (e.g. -ENETUNREACH for a gateway not
 * on a link).
 */
int nl_route_add(struct nl *nl, const struct nl_route *route)
{
	char buf[NL_REQ_SIZE] = { 0 }; /* attribute padding must not carry stack bytes */
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	struct nlattr *metrics;
	int family = route->family;
	uint32_t table = route->table ? route->table : RT_TABLE_MAIN;
	size_t len;

	if (!family)
		family = route->dst_len || !route->gw.family ? route->dst.family : route->gw.family;
	len = nl_ip_len(family);
	if (!len || route->dst_len > len * 8)
		return -EINVAL;
	/* a gateway of the other family only for IPv4 over an IPv6 next hop (RFC 5549) */
	if ((route->dst_len && route->dst.family != family) ||
	    (route->gw.family && route->gw.family != family &&
	     !(family == AF_INET && route->gw.family == AF_INET6)))
		return -EINVAL;
	nlh = route_msg(buf, RTM_NEWROUTE, NLM_F_CREATE, family);
	rtm = mnl_nlmsg_get_payload(nlh);
	rtm->rtm_dst_len = route->dst_len;
	rtm->rtm_protocol = RTPROT_BOOT;
	rtm->rtm_type = RTN_UNICAST;
	if (route->scope)
		rtm->rtm_scope = route->scope;
	else
		rtm->rtm_scope = route->gw.family ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK;
	if (table < 256) {
		rtm->rtm_table = (uint8_t)table;
	} else {
		rtm->rtm_table = RT_TABLE_UNSPEC;
		mnl_attr_put_u32(nlh, RTA_TABLE, table);
	}
	if (route->dst_len)
		mnl_attr_put(nlh, RTA_DST, len, route->dst.addr);
	if (route->gw.family == family) {
		mnl_attr_put(nlh, RTA_GATEWAY, len, route->gw.addr);
	} else if (route->gw.family) {
		/* struct rtvia: the next hop's family, then its address */
		char via[sizeof(uint16_t) + 16];
		uint16_t f = AF_INET6;

		memcpy(via, &f, sizeof(f));
		memcpy(via + sizeof(f), route->gw.addr, 16);
		mnl_attr_put(nlh, RTA_VIA, sizeof(via), via);
	}
	if (route->ifindex > 0)
		mnl_attr_put_u32(nlh, RTA_OIF, (uint32_t)route->ifindex);
	if (route->priority)
		mnl_attr_put_u32(nlh, RTA_PRIORITY, route->priority);
	if (route->mtu) {
		metrics = mnl_attr_nest_start(nlh, RTA_METRICS);
		mnl_attr_put_u32(nlh, RTAX_MTU, route->mtu);
		mnl_attr_nest_end(nlh, metrics);
	}
	return nl_request(nl, nlh, NULL, NULL);
}

static int parse_metrics(const struct nlattr *attr, void *data)
{
	struct nl_route *r = data;

	switch (mnl_attr_get_type(attr)) {
	case RTAX_MTU:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		r->mtu = mnl_attr_get_u32(attr);
		break;
	}
	return MNL_CB_OK;
}

struct route_attrs {
	struct nl_route *r;
	struct nl_ip *prefsrc;
	const struct nlattr *multipath;
};

static int get_ip(const struct nlattr *attr, int family, struct nl_ip *ip)
{
	size_t len = nl_ip_len(family);

	if (mnl_attr_validate2(attr, MNL_TYPE_BINARY, len) < 0)
		return MNL_CB_ERROR;
	ip->family = family;
	memcpy(ip->addr, mnl_attr_get_payload(attr), len);
	return MNL_CB_OK;
}

/* RTA_VIA (struct rtvia): a gateway of its own family, IPv6 for an IPv4 route (RFC 5549). */
static int get_via(const struct nlattr *attr, struct nl_ip *ip)
{
	const char *p = mnl_attr_get_payload(attr);
	uint16_t family;
	size_t len;

	if (mnl_attr_get_payload_len(attr) < sizeof(family))
		return MNL_CB_ERROR;
	memcpy(&family, p, sizeof(family));
	len = nl_ip_len(family);
	if (!len || mnl_attr_get_payload_len(attr) < sizeof(family) + len)
		return MNL_CB_OK; /* a next hop we do not speak (e.g. MPLS): no gateway */
	memset(ip, 0, sizeof(*ip));
	ip->family = family;
	memcpy(ip->addr, p + sizeof(family), len);
	return MNL_CB_OK;
}

static int parse_route(const struct nlattr *attr, void *data)
{
	struct route_attrs *a = data;
	struct nl_route *r = a->r;

	switch (mnl_attr_get_type(attr)) {
	case RTA_DST:
		return get_ip(attr, r->family, &r->dst);
	case RTA_GATEWAY:
		return get_ip(attr, r->family, &r->gw);
	case RTA_VIA:
		return get_via(attr, &r->gw);
	case RTA_PREFSRC:
		return a->prefsrc ? get_ip(attr, r->family, a->prefsrc) : MNL_CB_OK;
	case RTA_OIF:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		r->ifindex = (int)mnl_attr_get_u32(attr);
		break;
	case RTA_PRIORITY:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		r->priority = mnl_attr_get_u32(attr);
		break;
	case RTA_TABLE:
		if (mnl_attr_validate(attr, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		r->table = mnl_attr_get_u32(attr);
		break;
	case RTA_METRICS:
		if (mnl_attr_validate(attr, MNL_TYPE_NESTED) < 0)
			return MNL_CB_ERROR;
		return mnl_attr_parse_nested(attr, parse_metrics, r);
	case RTA_MULTIPATH:
		if (mnl_attr_validate(attr, MNL_TYPE_BINARY) < 0)
			return MNL_CB_ERROR;
		a->multipath = attr;
		break;
	}
	return MNL_CB_OK;
}

/* The attributes of one rtnexthop: only its gateway matters here. */
static int parse_hop(const struct nlattr *attr, void *data)
{
	struct nl_route *r = data;

	if (mnl_attr_get_type(attr) == RTA_GATEWAY)
		return get_ip(attr, r->family, &r->gw);
	if (mnl_attr_get_type(attr) == RTA_VIA)
		return get_via(attr, &r->gw);
	return MNL_CB_OK;
}

/*
 * Decode one RTM_NEWROUTE into @r (and its preferred source into @prefsrc if non-NULL);
 * @ret_multipath (may be NULL) receives its RTA_MULTIPATH, or NULL.
 */
static int decode_route(const struct nlmsghdr *nlh, struct nl_route *r, struct nl_ip *prefsrc,
			uint8_t *ret_type, uint32_t *ret_flags, const struct nlattr **ret_multipath)
{
	const struct rtmsg *rtm = mnl_nlmsg_get_payload(nlh);
	struct route_attrs a = { .r = r, .prefsrc = prefsrc };

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*rtm) || !nl_ip_len(rtm->rtm_family))
		return -EBADMSG;
	memset(r, 0, sizeof(*r));
	r->family = rtm->rtm_family;
	r->dst_len = rtm->rtm_dst_len;
	r->scope = rtm->rtm_scope;
	r->table = rtm->rtm_table;
	if (mnl_attr_parse(nlh, sizeof(*rtm), parse_route, &a) < 0)
		return -EBADMSG;
	*ret_type = rtm->rtm_type;
	*ret_flags = rtm->rtm_flags;
	if (ret_multipath)
		*ret_multipath = a.multipath;
	return 0;
}

struct route_list {
	uint32_t table;
	int ifindex;
	struct nl_route *v;
	size_t n, cap;
};

/* Append @r to @list if it leaves through the interface asked for. Return: 0 or -ENOMEM. */
static int route_list_add(struct route_list *list, const struct nl_route *r)
{
	struct nl_route *v;

	if (list->ifindex > 0 && r->ifindex != list->ifindex)
		return 0;
	v = util_array_room(list->v, &list->cap, list->n, sizeof(*v), 8);
	if (!v)
		return -ENOMEM;
	list->v = v;
	list->v[list->n++] = *r;
	return 0;
}

/* One entry per hop of @mp, each @r with the hop's interface and gateway. */
static int route_list_hops(struct route_list *list, const struct nl_route *r,
			   const struct nlattr *mp)
{
	const struct rtnexthop *nh = mnl_attr_get_payload(mp);
	size_t left = mnl_attr_get_payload_len(mp);

	while (left >= sizeof(*nh) && nh->rtnh_len >= sizeof(*nh) && nh->rtnh_len <= left) {
		struct nl_route hop = *r;
		int err;

		hop.gw.family = 0;
		hop.ifindex = nh->rtnh_ifindex;
		if (mnl_attr_parse_payload(RTNH_DATA(nh), (size_t)nh->rtnh_len - RTNH_LENGTH(0),
					   parse_hop, &hop) < 0)
			return 0; /* a malformed hop: skip the rest, as for an unknown family */
		err = route_list_add(list, &hop);
		if (err < 0)
			return err;
		if ((size_t)RTNH_ALIGN(nh->rtnh_len) >= left)
			break;
		left -= (size_t)RTNH_ALIGN(nh->rtnh_len);
		nh = RTNH_NEXT(nh);
	}
	return 0;
}

static int route_list_reply(const struct nlmsghdr *nlh, void *data)
{
	struct route_list *list = data;
	const struct nlattr *mp;
	struct nl_route r;
	uint8_t type;
	uint32_t flags;

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return 0;
	if (decode_route(nlh, &r, NULL, &type, &flags, &mp) < 0)
		return 0; /* a family we do not speak (e.g. MPLS); not an error */
	if (type != RTN_UNICAST || (flags & RTM_F_CLONED) || r.table != list->table)
		return 0;
	if (mp)
		return route_list_hops(list, &r, mp);
	return route_list_add(list, &r);
}

/**
 * nl_route_list() - unicast routes of @family in @table leaving through @ifindex
 * @nl: the socket.
 * @family: AF_INET or AF_INET6 (AF_UNSPEC: both).
 * @table: the table, 0 = main.
 * @ifindex: the output interface, 0 = any.
 * @ret: receives a malloc'd array (free() it; NULL when empty); untouched on failure.
 * @ret_n: receives its length; untouched on failure.
 * Return: 0 or -errno.
 */
int nl_route_list(struct nl *nl, int family, uint32_t table, int ifindex, struct nl_route **ret,
		  size_t *ret_n)
{
	char buf[NL_REQ_SIZE] = { 0 }; /* attribute padding must not carry stack bytes */
	struct route_list list = { .table = table ? table : RT_TABLE_MAIN, .ifindex = ifindex };
	int err;

	if (family != AF_UNSPEC && !nl_ip_len(family))
		return -EAFNOSUPPORT;
	err = nl_request(nl, route_msg(buf, RTM_GETROUTE, NLM_F_DUMP, family), route_list_reply,
			 &list);
	if (err < 0) {
		free(list.v);
		return err;
	}
	*ret = list.v;
	*ret_n = list.n;
	return 0;
}

struct route_get {
	struct nl_route r;
	struct nl_ip src;
	uint8_t type;
	bool found;
};

static int route_get_reply(const struct nlmsghdr *nlh, void *data)
{
	struct route_get *g = data;
	uint32_t flags;

	if (nlh->nlmsg_type != RTM_NEWROUTE)
		return 0;
	if (decode_route(nlh, &g->r, &g->src, &g->type, &flags, NULL) < 0)
		return -EBADMSG;
	g->found = true;
	return 0;
}

/**
 * nl_route_get() - ask the kernel which way it would send to @dst (like ip route get)
 * @nl: the socket.
 * @dst: the destination.
 * @ret_ifindex: receives the output interface; untouched on failure.
 * @ret_src: receives the preferred source (family 0 if none); may be NULL.
 * Return: 0, -ENETUNREACH / -EHOSTUNREACH when there is no route, or -errno.
 */
int nl_route_get(struct nl *nl, const struct nl_ip *dst, int *ret_ifindex, struct nl_ip *ret_src)
{
	char buf[NL_REQ_SIZE] = { 0 }; /* attribute padding must not carry stack bytes */
	struct route_get g = { .found = false };
	struct nlmsghdr *nlh;
	struct rtmsg *rtm;
	size_t len = nl_ip_len(dst->family);
	int err;

	if (!len)
		return -EINVAL;
	nlh = route_msg(buf, RTM_GETROUTE, 0, dst->family);
	rtm = mnl_nlmsg_get_payload(nlh);
	rtm->rtm_dst_len = (uint8_t)(len * 8);
	mnl_attr_put(nlh, RTA_DST, len, dst->addr);
	err = nl_request(nl, nlh, route_get_reply, &g);
	if (err < 0)
		return err;
	if (!g.found)
		return -ENETUNREACH;
	switch (g.type) {
	case RTN_UNREACHABLE:
	case RTN_BLACKHOLE:
		return -EHOSTUNREACH;
	case RTN_PROHIBIT:
		return -EACCES;
	}
	if (g.r.ifindex <= 0)
		return -ENETUNREACH;
	*ret_ifindex = g.r.ifindex;
	if (ret_src)
		*ret_src = g.src;
	return 0;
}

/**
 * nl_default_route_ifindex() - the output interface of the main table's default route
 * @nl: the socket.
 *
 * Tries IPv4 first, then IPv6; among several default routes of a family the one with the
 * lowest metric wins, as it does in the kernel.
 * Return: the ifindex, -ENOENT if there is none, or -errno.
 */
int nl_default_route_ifindex(struct nl *nl)
{
	static const int families[] = { AF_INET, AF_INET6 };

	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		struct nl_route *v;
		size_t n;
		int best = -1;
		int err = nl_route_list(nl, families[f], RT_TABLE_MAIN, 0, &v, &n);

		if (err < 0)
			return err;
		for (size_t i = 0; i < n; i++) {
			if (v[i].dst_len || v[i].ifindex <= 0)
				continue;
			if (best < 0 || v[i].priority < v[best].priority)
				best = (int)i;
		}
		err = best >= 0 ? v[best].ifindex : -ENOENT;
		free(v);
		if (err > 0)
			return err;
	}
	return -ENOENT;
}
