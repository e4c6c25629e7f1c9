// SPDX-License-Identifier: Apache-2.0
/*
 * CHECK: is the interface still what ADD made and prevResult says? IPAM checks its own part
 * first; then, in the container, the link must exist, be up, be a macvlan in the configured
 * mode on the configured master, and carry prevResult's MAC, its addresses with their subnet
 * (connected) routes, and its routes, each to its destination through the gateway ADD gave it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "cni/delegate.h"
#include "plugins/macvlan/macvlan.h"

static int mismatch(struct cni_error *err, const char *ifname, const char *what)
{
	return cni_err(err, MACVLAN_ERR_CHECK, "CHECK of %s failed: %s", ifname, what);
}

/* prevResult's entry for our interface: same name, and same sandbox when it names one. */
static int find_prev_interface(const struct cni_ctx *ctx)
{
	const struct cni_result *p = &ctx->conf.prev_result;

	for (size_t i = 0; i < p->n_interfaces; i++)
		if (p->interfaces[i].name && strcmp(p->interfaces[i].name, ctx->env.ifname) == 0 &&
		    (!p->interfaces[i].sandbox || !*p->interfaces[i].sandbox ||
		     strcmp(p->interfaces[i].sandbox, ctx->env.netns) == 0))
			return (int)i;
	return -1;
}

static int check_link(struct cni_ctx *ctx, const struct macvlan_config *cfg, struct nl *host,
		      struct nl *ctr, const struct nl_link *link, struct cni_error *err)
{
	const struct cni_result *p = &ctx->conf.prev_result;
	int idx = find_prev_interface(ctx);
	char buf[160];

	if (!(link->flags & IFF_UP))
		return mismatch(err, ctx->env.ifname, "it is down");
	if (strcmp(link->kind, "macvlan") != 0) {
		snprintf(buf, sizeof(buf), "it is a \"%s\" link, not macvlan", link->kind);
		return mismatch(err, ctx->env.ifname, buf);
	}
	if (link->macvlan_mode != cfg->mode) {
		snprintf(buf, sizeof(buf), "its mode is not \"%s\"", cfg->mode_name);
		return mismatch(err, ctx->env.ifname, buf);
	}
	if (idx < 0)
		return mismatch(err, ctx->env.ifname,
				"prevResult has no interface of that name in this netns");
	if (p->interfaces[idx].mac && *p->interfaces[idx].mac) {
		char mac[18];

		snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", link->mac[0],
			 link->mac[1], link->mac[2], link->mac[3], link->mac[4], link->mac[5]);
		if (strcasecmp(mac, p->interfaces[idx].mac) != 0) {
			snprintf(buf, sizeof(buf), "its MAC is %s, prevResult says %s", mac,
				 p->interfaces[idx].mac);
			return mismatch(err, ctx->env.ifname, buf);
		}
	}
	/* the master: in the host netns unless linkInContainer, found the same way ADD found it */
	if (!cfg->link_in_container || link->link_netnsid < 0) {
		struct cni_error ignored = { 0 };
		int master =
			macvlan_find_master(cfg->link_in_container ? ctr : host, cfg, &ignored);

		if (master > 0 && link->link_ifindex != master)
			return mismatch(err, ctx->env.ifname, "it is not on the configured master");
	}
	return 0;
}

static int check_addresses(struct cni_ctx *ctx, struct nl *ctr, int ifindex, int prev_idx,
			   struct cni_error *err)
{
	const struct cni_result *p = &ctx->conf.prev_result;
	struct nl_addr *addrs = NULL;
	size_t n = 0;
	int r = nl_addr_list(ctr, ifindex, AF_UNSPEC, &addrs, &n);

	if (r < 0)
		return macvlan_kernel_err(err, ctr, r, "listing addresses");
	for (size_t i = 0; r == 0 && i < p->n_ips; i++) {
		const struct cni_ip *ip = &p->ips[i];
		bool found = false;

		if (ip->interface >= 0 && ip->interface != prev_idx)
			continue;
		for (size_t j = 0; j < n && !found; j++)
			found = addrs[j].ip.family == ip->addr.family &&
				addrs[j].prefixlen == ip->prefixlen &&
				memcmp(addrs[j].ip.addr, ip->addr.bytes,
				       ip->addr.family == AF_INET ? 4 : 16) == 0;
		if (!found) {
			char a[64], buf[128];

			snprintf(buf, sizeof(buf),
				 "address %s/%u from prevResult is not on the interface",
				 cni_addr_format(&ip->addr, a, sizeof(a)), ip->prefixlen);
			r = mismatch(err, ctx->env.ifname, buf);
		}
	}
	free(addrs);
	return r < 0 ? -1 : 0;
}

static size_t addr_len(int family)
{
	return family == AF_INET ? 4 : 16;
}

/* Is there a route to @dst/@dst_len through @gw (NULL: none) on @ifindex in @table? */
static int find_route(struct nl *ctr, int ifindex, uint32_t table, const struct cni_addr *dst,
		      uint8_t dst_len, const struct cni_addr *gw, bool *ret_found)
{
	struct nl_route *routes = NULL;
	size_t n = 0, len = addr_len(dst->family);
	bool found = false;
	int r = nl_route_list(ctr, dst->family, table, ifindex, &routes, &n);

	if (r < 0)
		return r;
	for (size_t j = 0; j < n && !found; j++)
		found = routes[j].dst_len == dst_len &&
			(dst_len == 0 || memcmp(routes[j].dst.addr, dst->bytes, len) == 0) &&
			(gw ? routes[j].gw.family == gw->family &&
					 memcmp(routes[j].gw.addr, gw->bytes, len) == 0
			    : routes[j].gw.family == 0);
	free(routes);
	*ret_found = found;
	return 0;
}

/* Each address's connected route (its subnet on the link), which the kernel made with it. */
static int check_subnet_routes(struct cni_ctx *ctx, struct nl *ctr, int ifindex, int prev_idx,
			       struct cni_error *err)
{
	const struct cni_result *p = &ctx->conf.prev_result;

	for (size_t i = 0; i < p->n_ips; i++) {
		const struct cni_ip *ip = &p->ips[i];
		size_t len = addr_len(ip->addr.family);
		struct cni_addr net = ip->addr;
		bool found;
		int r;

		if ((ip->interface >= 0 && ip->interface != prev_idx) || ip->prefixlen >= len * 8)
			continue; /* a /32 or /128 has no subnet route */
		for (size_t b = 0; b < len; b++) {
			unsigned int keep = ip->prefixlen > b * 8 ? ip->prefixlen - b * 8 : 0;

			if (keep < 8)
				net.bytes[b] &= (uint8_t)(0xff00 >> keep);
		}
		r = find_route(ctr, ifindex, 0, &net, ip->prefixlen, NULL, &found);
		if (r < 0)
			return macvlan_kernel_err(err, ctr, r, "listing routes");
		if (!found) {
			char a[64], n[64], buf[160];

			snprintf(buf, sizeof(buf),
				 "the subnet route %s/%u of address %s is missing",
				 cni_addr_format(&net, n, sizeof(n)), ip->prefixlen,
				 cni_addr_format(&ip->addr, a, sizeof(a)));
			return mismatch(err, ctx->env.ifname, buf);
		}
	}
	return 0;
}

static int check_routes(struct cni_ctx *ctx, struct nl *ctr, int ifindex, struct cni_error *err)
{
	const struct cni_result *p = &ctx->conf.prev_result;

	for (size_t i = 0; i < p->n_routes; i++) {
		const struct cni_route *rt = &p->routes[i];
		const struct cni_addr *gw = macvlan_route_gateway(p, rt);
		bool found;
		int r = find_route(ctr, ifindex, rt->table != CNI_UNSET ? rt->table : 0, &rt->dst,
				   rt->dst_len, gw, &found);

		if (r < 0)
			return macvlan_kernel_err(err, ctr, r, "listing routes");
		if (!found) {
			char a[64], g[64], buf[192];

			snprintf(buf, sizeof(buf), "route to %s/%u%s%s from prevResult is missing",
				 cni_addr_format(&rt->dst, a, sizeof(a)), rt->dst_len,
				 gw ? " via " : "", gw ? cni_addr_format(gw, g, sizeof(g)) : "");
			return mismatch(err, ctx->env.ifname, buf);
		}
	}
	return 0;
}

int macvlan_check(struct cni_ctx *ctx, struct cni_error *err)
{
	struct nl host = { 0 }, ctr = { 0 };
	struct macvlan_config cfg;
	struct nl_link link;
	int netns_fd, r = -1;

	if (macvlan_config_parse(ctx, &cfg, err) < 0)
		return -1;
	if (!ctx->conf.has_prev_result)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: CHECK needs \"prevResult\"");
	if (ctx->conf.ipam &&
	    cni_delegate(&ctx->env, CNI_CMD_CHECK, ctx->conf.ipam_type, ctx->conf.raw,
			 ctx->conf.raw_len, ctx->conf.version, NULL, err) < 0)
		return -1;
	netns_fd = macvlan_netns_open(ctx->env.netns, err);
	if (netns_fd < 0)
		return -1;
	if ((r = nl_open(&host)) < 0 || (r = nl_open_in_netns(&ctr, netns_fd)) < 0) {
		cni_err_errno(err, CNI_ERR_IO, r, "opening a netlink socket");
		r = -1;
		goto out;
	}
	r = nl_link_get(&ctr, 0, ctx->env.ifname, &link);
	if (r == -ENODEV) {
		r = mismatch(err, ctx->env.ifname, "no such interface in the container");
		goto out;
	}
	if (r < 0) {
		r = macvlan_kernel_err(err, &ctr, r, "reading the link");
		goto out;
	}
	if (check_link(ctx, &cfg, &host, &ctr, &link, err) < 0 ||
	    check_addresses(ctx, &ctr, link.ifindex, find_prev_interface(ctx), err) < 0 ||
	    check_subnet_routes(ctx, &ctr, link.ifindex, find_prev_interface(ctx), err) < 0 ||
	    check_routes(ctx, &ctr, link.ifindex, err) < 0)
		r = -1;
	else
		r = 0;
out:
	nl_close(&ctr);
	nl_close(&host);
	close(netns_fd);
	return r;
}
