// SPDX-License-Identifier: Apache-2.0
/*
 * ADD. The link is born under a temporary random name directly inside the container's netns
 * (so nothing ever appears on the host side) and only then renamed to CNI_IFNAME: a rename
 * onto a taken name fails without touching the interface that holds it. From the moment the
 * link exists every failure unwinds: the link is deleted and, if IPAM already answered, IPAM
 * DEL gives the address back.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "cni/delegate.h"
#include "cni/log.h"
#include "plugins/macvlan/macvlan.h"

/*
 * IPv6 DAD normally takes ~1 s (one probe); allow for retransmits on a busy machine. The wait
 * ends at once when the link has no carrier (DAD cannot run); an address still tentative at
 * the end is not an error: only a duplicate that DAD reported is.
 */
#define DAD_TIMEOUT_MS 10000

struct add_state {
	struct cni_ctx *ctx;
	const struct macvlan_config *cfg;
	int netns_fd;
	struct nl host, ctr;
	int ifindex;	/* of the new link in the container; 0 until it exists */
	bool started;	/* the link is being made: a failure from here on unwinds */
	bool ipam_done; /* IPAM ADD succeeded: undo with IPAM DEL */
	struct cni_result ipam;
};

static int create_link(struct add_state *s, struct cni_error *err)
{
	struct nl *via = s->cfg->link_in_container ? &s->ctr : &s->host;
	struct nl_macvlan_req req = {
		.netns_fd = s->cfg->link_in_container ? -1 : s->netns_fd,
		.mode = s->cfg->mode,
		.mtu = s->cfg->mtu,
		.mac = s->cfg->has_mac ? s->cfg->mac : NULL,
		.bcqueuelen = s->cfg->bcqueuelen,
	};
	struct nl_link master;
	uint8_t rnd[4] = { 0 };
	char tmpname[IF_NAMESIZE];
	int r;

	req.master_ifindex = macvlan_find_master(via, s->cfg, err);
	if (req.master_ifindex < 0)
		return -1;
	r = nl_link_get(via, req.master_ifindex, NULL, &master);
	if (r < 0)
		return macvlan_kernel_err(err, via, r, "reading the master");
	if (s->cfg->mtu > master.mtu)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: \"mtu\" %lld is larger than master %s's MTU %u",
			       (long long)s->cfg->mtu, master.name, master.mtu);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		return cni_err_errno(err, CNI_ERR_IO, errno, "getrandom");
	snprintf(tmpname, sizeof(tmpname), "mv%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
	req.name = tmpname;
	r = nl_macvlan_create(via, &req);
	if (r < 0)
		return macvlan_kernel_err(err, via, r, "creating the macvlan link");
	r = nl_link_index(&s->ctr, tmpname);
	if (r < 0) {
		/* it was created but cannot be found: cannot happen short of a race with a rename
		 */
		return macvlan_kernel_err(err, &s->ctr, r, "finding the new link in the container");
	}
	s->ifindex = r;
	r = nl_link_rename(&s->ctr, s->ifindex, s->ctx->env.ifname);
	if (r == -EEXIST)
		return cni_err(
			err, MACVLAN_ERR_IFNAME_TAKEN,
			"interface \"%s\" already exists in the container's network namespace",
			s->ctx->env.ifname);
	if (r < 0)
		return macvlan_kernel_err(err, &s->ctr, r, "renaming the new link");
	cni_log(CNI_LOG_DEBUG, "created macvlan %s (ifindex %d) on %s, mode %s", tmpname,
		s->ifindex, master.name, s->cfg->mode_name);
	return 0;
}

/* arp_notify / ndisc_notify: tell the neighbours at once when the address moves. */
static int set_notify_sysctls(struct add_state *s, struct cni_error *err)
{
	const char *ifname = s->ctx->env.ifname;
	char key[96];
	int orig, r;

	r = nl_netns_enter(s->netns_fd, &orig);
	if (r < 0)
		return cni_err_errno(err, CNI_ERR_IO, r,
				     "entering the container's network namespace");
	snprintf(key, sizeof(key), "net/ipv4/conf/%s/arp_notify", ifname);
	r = nl_sysctl_write(key, "1");
	if (r == 0) {
		snprintf(key, sizeof(key), "net/ipv6/conf/%s/ndisc_notify", ifname);
		r = nl_sysctl_write(key, "1");
		/* IPv6 may be disabled in the container: then there is nothing to notify */
		if (r == -ENOENT)
			r = 0;
	}
	nl_netns_return(orig);
	if (r < 0)
		return cni_err_errno(err, CNI_ERR_IO, r, key);
	return 0;
}

const struct cni_addr *macvlan_route_gateway(const struct cni_result *res,
					     const struct cni_route *rt)
{
	int family = rt->dst.family;
	const struct cni_addr *gw = NULL;

	if (rt->gw.family)
		return &rt->gw;
	for (size_t i = 0; i < res->n_ips; i++)
		if (res->ips[i].addr.family == family && res->ips[i].gateway.family)
			gw = &res->ips[i].gateway;
	return gw;
}

static void to_nl_ip(const struct cni_addr *a, struct nl_ip *ret)
{
	ret->family = a->family;
	memcpy(ret->addr, a->bytes, sizeof(ret->addr));
}

/*
 * Which address failed DAD, for the message: nl_addr_wait_dad() only says that one did, and
 * with several IPv6 addresses from IPAM the admin must know which one is taken on the link.
 */
static const char *dad_failed_addr(struct add_state *s, char *buf, size_t size)
{
	struct nl_addr *v = NULL;
	size_t n = 0;

	snprintf(buf, size, "(unknown)");
	if (nl_addr_list(&s->ctr, s->ifindex, AF_INET6, &v, &n) < 0)
		return buf;
	for (size_t i = 0; i < n; i++) {
		char a[INET6_ADDRSTRLEN];

		if ((v[i].flags & IFA_F_DADFAILED) &&
		    inet_ntop(AF_INET6, v[i].ip.addr, a, sizeof(a))) {
			snprintf(buf, size, "%s/%u", a, v[i].prefixlen);
			break;
		}
	}
	free(v);
	return buf;
}

static int configure_addresses(struct add_state *s, struct cni_error *err)
{
	const struct cni_result *res = &s->ipam;
	bool has_v6 = false;
	int r;

	for (size_t i = 0; i < res->n_ips; i++) {
		struct nl_ip ip;
		char buf[96];

		to_nl_ip(&res->ips[i].addr, &ip);
		has_v6 |= ip.family == AF_INET6;
		r = nl_addr_add(&s->ctr, s->ifindex, &ip, res->ips[i].prefixlen);
		if (r < 0) {
			char addr[INET6_ADDRSTRLEN];

			snprintf(buf, sizeof(buf), "adding address %s/%u",
				 cni_addr_format(&res->ips[i].addr, addr, sizeof(addr)),
				 res->ips[i].prefixlen);
			return macvlan_kernel_err(err, &s->ctr, r, buf);
		}
	}
	r = nl_link_set_up(&s->ctr, s->ifindex, true);
	if (r < 0)
		return macvlan_kernel_err(err, &s->ctr, r, "setting the link up");
	if (!has_v6)
		return 0;
	r = nl_addr_wait_dad(&s->ctr, s->ifindex, DAD_TIMEOUT_MS);
	if (r == -EADDRNOTAVAIL) {
		char bad[INET6_ADDRSTRLEN + 8];

		return cni_err(err, MACVLAN_ERR_DAD,
			       "IPv6 address %s of %s failed duplicate address detection: it is in "
			       "use on the link",
			       dad_failed_addr(s, bad, sizeof(bad)), s->ctx->env.ifname);
	}
	if (r == -ENETDOWN || r == -ETIMEDOUT) {
		/* as the reference: answer with the address tentative; the kernel probes later */
		cni_log(CNI_LOG_VERBOSE, "IPv6 addresses of %s still tentative (%s): not waiting",
			s->ctx->env.ifname,
			r == -ENETDOWN ? "no carrier, DAD cannot run" : "DAD still running");
		return 0;
	}
	if (r < 0) {
		char what[80];

		snprintf(what, sizeof(what), "waiting for IPv6 duplicate address detection on %s",
			 s->ctx->env.ifname);
		return macvlan_kernel_err(err, &s->ctr, r, what);
	}
	return 0;
}

static int configure_routes(struct add_state *s, struct cni_error *err)
{
	const struct cni_result *res = &s->ipam;

	for (size_t i = 0; i < res->n_routes; i++) {
		const struct cni_route *rt = &res->routes[i];
		const struct cni_addr *gw = macvlan_route_gateway(res, rt);
		struct nl_route nr = {
			.family = rt->dst.family,
			.dst_len = rt->dst_len,
			.ifindex = s->ifindex,
			.priority = rt->priority != CNI_UNSET ? rt->priority : 0,
			.table = rt->table != CNI_UNSET ? rt->table : 0,
			.scope = rt->scope != CNI_UNSET ? rt->scope : 0,
			.mtu = rt->mtu != CNI_UNSET ? rt->mtu : 0,
		};
		char buf[160], dst[64], via[64];
		int r;

		to_nl_ip(&rt->dst, &nr.dst);
		if (gw)
			to_nl_ip(gw, &nr.gw);
		r = nl_route_add(&s->ctr, &nr);
		/* the very same route is there already (IPAM listed it twice): it is what we want
		 */
		if (r == -EEXIST)
			continue;
		if (r < 0) {
			/* the gateway (maybe taken from an IP's) is what the kernel most often
			 * refuses */
			snprintf(buf, sizeof(buf), "adding route to %s/%u%s%s",
				 cni_addr_format(&rt->dst, dst, sizeof(dst)), rt->dst_len,
				 gw ? " via " : "",
				 gw ? cni_addr_format(gw, via, sizeof(via)) : "");
			return macvlan_kernel_err(err, &s->ctr, r, buf);
		}
	}
	return 0;
}

/* The result: our interface, IPAM's addresses on it, IPAM's routes, and DNS. */
static int build_result(struct add_state *s, struct cni_result *ret, struct cni_error *err)
{
	struct nl_link link;
	char mac[18];
	int r, idx;

	r = nl_link_get(&s->ctr, s->ifindex, NULL, &link);
	if (r < 0)
		return macvlan_kernel_err(err, &s->ctr, r, "reading the new link back");
	snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", link.mac[0], link.mac[1],
		 link.mac[2], link.mac[3], link.mac[4], link.mac[5]);
	/* take IPAM's addresses, routes and DNS; the only interface is ours, index 0 */
	ret->ips = s->ipam.ips;
	ret->n_ips = s->ipam.n_ips;
	ret->routes = s->ipam.routes;
	ret->n_routes = s->ipam.n_routes;
	ret->dns = s->ipam.dns;
	s->ipam.ips = NULL, s->ipam.n_ips = 0;
	s->ipam.routes = NULL, s->ipam.n_routes = 0;
	memset(&s->ipam.dns, 0, sizeof(s->ipam.dns));
	idx = cni_result_add_interface(ret, s->ctx->env.ifname, mac, s->ctx->env.netns);
	if (idx < 0)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	ret->interfaces[idx].mtu = link.mtu;
	for (size_t i = 0; i < ret->n_ips; i++)
		ret->ips[i].interface = idx;
	if (!cni_dns_empty(&s->ctx->conf.dns)) {
		cni_dns_free(&ret->dns);
		ret->dns = s->ctx->conf.dns;
		memset(&s->ctx->conf.dns, 0, sizeof(s->ctx->conf.dns));
	}
	return 0;
}

static void unwind(struct add_state *s)
{
	struct cni_error ignored = { 0 };

	cni_log(CNI_LOG_VERBOSE, "unwinding: deleting the link%s",
		s->ipam_done ? ", IPAM DEL" : "");
	if (s->ifindex > 0)
		nl_link_del(&s->ctr, s->ifindex);
	if (s->ipam_done)
		cni_delegate(&s->ctx->env, CNI_CMD_DEL, s->ctx->conf.ipam_type, s->ctx->conf.raw,
			     s->ctx->conf.raw_len, s->ctx->conf.version, NULL, &ignored);
}

int macvlan_add(struct cni_ctx *ctx, struct cni_result *ret, struct cni_error *err)
{
	struct macvlan_config cfg;
	struct add_state s = { .ctx = ctx, .cfg = &cfg, .netns_fd = -1 };
	int r = -1;

	if (macvlan_config_parse(ctx, &cfg, err) < 0)
		return -1;
	if (!ctx->conf.ipam && ctx->conf.version < CNI_V0_3_0)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: an interface without \"ipam\" needs cniVersion "
			       "0.3.0 or later (%s results carry only ip4/ip6)",
			       cni_version_string(ctx->conf.version));
	s.netns_fd = macvlan_netns_open(ctx->env.netns, err);
	if (s.netns_fd < 0)
		return -1;
	if ((r = nl_open(&s.host)) < 0 || (r = nl_open_in_netns(&s.ctr, s.netns_fd)) < 0) {
		cni_err_errno(err, CNI_ERR_IO, r, "opening a netlink socket");
		r = -1;
		goto out;
	}
	r = -1;
	s.started = true;
	if (create_link(&s, err) < 0)
		goto out;
	if (ctx->conf.ipam) {
		int d = cni_delegate(&ctx->env, CNI_CMD_ADD, ctx->conf.ipam_type, ctx->conf.raw,
				     ctx->conf.raw_len, ctx->conf.version, &s.ipam, err);

		/* an answer we cannot use may still have allocated: then the unwind runs IPAM DEL
		 */
		s.ipam_done = d == 0 || d == CNI_DELEGATE_UNDO;
		if (d < 0)
			goto out;
		cni_log(CNI_LOG_DEBUG, "IPAM %s returned %zu addresses, %zu routes",
			ctx->conf.ipam_type, s.ipam.n_ips, s.ipam.n_routes);
		if (!s.ipam.n_ips) {
			cni_err(err, CNI_ERR_INTERNAL,
				"IPAM plugin \"%s\" returned no IP configuration",
				ctx->conf.ipam_type);
			goto out;
		}
	}
	if (set_notify_sysctls(&s, err) < 0 || configure_addresses(&s, err) < 0 ||
	    configure_routes(&s, err) < 0 || build_result(&s, ret, err) < 0)
		goto out;
	r = 0;
out:
	if (r < 0 && s.started)
		unwind(&s);
	cni_result_free(&s.ipam);
	nl_close(&s.ctr);
	nl_close(&s.host);
	if (s.netns_fd >= 0)
		close(s.netns_fd);
	return r;
}
