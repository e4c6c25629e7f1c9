// SPDX-License-Identifier: Apache-2.0
/*
 * mignet doctor: the checks and the run that orders them (the probes over the wire, the ICMP
 * echo, the TCP throughput probe and its sink, are mig_doctor_probe.c).
 *
 * Theory of operation: every check reads one fact and compares it with one expectation.
 * The local facts come from rtnetlink in the caller's network namespace (nl_link_get for the
 * link, its kind, IFLA_LINK/IFLA_LINK_NETNSID for the master, flags and MTU; nl_addr_list for
 * the addresses); the master is named by reading IFLA_LINK in the master's namespace, which is
 * this one when the kernel sends no IFLA_LINK_NETNSID, or the one the caller names
 * (--master-netns): a netns id cannot be turned back into a namespace without it, so the
 * master is then reported by ifindex and not compared by name. The peer checks go over the
 * wire: RTM_GETROUTE says which interface the kernel would use for the peer (it must be the
 * migration interface), an ICMP echo on a socket bound to the interface (SO_BINDTODEVICE, so
 * the request leaves and the reply is accepted on that interface only) says the peer answers
 * there, and a TCP stream to the sink says how fast. Each check is PASS, FAIL, or SKIP when
 * there is nothing to compare with or a check it depends on failed.
 *
 * ICMP: a ping socket (SOCK_DGRAM/IPPROTO_ICMP{,V6}: no privilege when the caller's group is
 * in net.ipv4.ping_group_range, which a new network namespace sets to none) first, then a raw
 * socket (CAP_NET_RAW). When neither can be opened, a TCP connect to the sink's port stands
 * in: an accepted or a refused connection both prove the peer's kernel answered.
 *
 * The probe's wire format is the sink's whole protocol: the client sends bytes and shuts its
 * side down; the sink answers the count it read as a big-endian u64 and closes. The rate is
 * count / (first byte sent .. answer read), so the client's socket buffer does not flatter it.
 */
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <linux/if_addr.h>
#include <netinet/icmp6.h>
#include <netinet/ip.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_doctor.h"
#include "mig_doctor_priv.h"
#include "mig_parse.h"
#include "mig_stream.h"
#include "netlink/nl.h"

#define ECHO_TRIES 3
#define ECHO_WAIT 1.0	  /* seconds per try */
#define CONNECT_WAIT 3000 /* ms */
#define SINK_IDLE 10	  /* s */
#define BUF_BYTES (1u << 20)

static const char *const check_names[MIG_CHECK_COUNT] = {
	"interface", "up", "macvlan", "master", "address", "mtu", "route", "peer", "throughput",
};

const char *mig_check_status_name(enum mig_check_status s)
{
	return s == MIG_CHECK_PASS ? "pass" : s == MIG_CHECK_FAIL ? "fail" : "skip";
}

void mig_check_set(struct mig_check *c, enum mig_check_status s, const char *fmt, ...)
{
	va_list ap;

	c->status = s;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

/* ---- addresses ---- */

static void nl_to_mig(const struct nl_ip *ip, uint16_t port, struct mig_addr *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (ip->family == AF_INET) {
		struct sockaddr_in *s = (struct sockaddr_in *)&ret->ss;

		s->sin_family = AF_INET;
		s->sin_port = htons(port);
		memcpy(&s->sin_addr, ip->addr, 4);
		ret->len = sizeof(*s);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ret->ss;

		s->sin6_family = AF_INET6;
		s->sin6_port = htons(port);
		memcpy(&s->sin6_addr, ip->addr, 16);
		ret->len = sizeof(*s);
	}
}

static void nl_to_u128(const struct nl_ip *ip, int *ret_family, struct ipam_u128 *ret)
{
	struct ipam_u128 v = { 0, 0 };
	int i;

	if (ip->family == AF_INET) {
		for (i = 0; i < 4; i++)
			v.lo = v.lo << 8 | ip->addr[i];
		*ret_family = 4;
	} else {
		for (i = 0; i < 8; i++)
			v.hi = v.hi << 8 | ip->addr[i];
		for (i = 8; i < 16; i++)
			v.lo = v.lo << 8 | ip->addr[i];
		*ret_family = 6;
	}
	*ret = v;
}

/* Global addresses: scope universe (no link-local, no host scope). */
static bool addr_global(const struct nl_addr *a)
{
	return a->scope == 0 && (a->ip.family == AF_INET || a->ip.family == AF_INET6);
}

/* Return: the range of @e that holds @a (same family, within first..last), or NULL. */
static const struct ipam_range *range_for(const struct mig_doctor_expect *e,
					  const struct nl_addr *a)
{
	struct ipam_u128 v;
	int family;

	nl_to_u128(&a->ip, &family, &v);
	for (size_t i = 0; i < e->n_ranges; i++) {
		const struct ipam_range *r = &e->ranges[i];

		if (r->family == family && ipam_u128_cmp(v, r->first) >= 0 &&
		    ipam_u128_cmp(v, r->last) <= 0)
			return r;
	}
	return NULL;
}

static void format_ranges(const struct mig_doctor_expect *e, char *buf, size_t size)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < e->n_ranges && off < size; i++) {
		const struct ipam_range *r = &e->ranges[i];
		char a[INET6_ADDRSTRLEN], b[INET6_ADDRSTRLEN];
		int n;

		ipam_addr_format(r->family, r->first, a, sizeof(a));
		ipam_addr_format(r->family, r->last, b, sizeof(b));
		n = snprintf(buf + off, size - off, "%s%s (%s-%s)", i ? ", " : "", r->cidr, a, b);
		if (n < 0)
			break;
		off += (size_t)n;
	}
}

static void check_address(const struct mig_doctor_expect *e, const struct nl_addr *addrs, size_t n,
			  struct mig_check *c)
{
	char text[INET6_ADDRSTRLEN], list[128] = "";
	const struct nl_addr *hit = NULL, *first = NULL;
	const struct ipam_range *r = NULL;
	size_t off = 0;

	for (size_t i = 0; i < n; i++) {
		if (!addr_global(&addrs[i]))
			continue;
		if (!first)
			first = &addrs[i];
		if (off < sizeof(list))
			off += (size_t)snprintf(
				list + off, sizeof(list) - off, "%s%s/%u", off ? " " : "",
				nl_ip_format(&addrs[i].ip, text, sizeof(text)), addrs[i].prefixlen);
		if (!hit && (r = range_for(e, &addrs[i])) != NULL)
			hit = &addrs[i];
	}
	snprintf(c->actual, sizeof(c->actual), "%s", list);
	if (e->n_ranges)
		format_ranges(e, c->expected, sizeof(c->expected));
	if (!first) {
		mig_check_set(c, MIG_CHECK_FAIL,
			      "no global address on the interface: did IPAM run?");
		return;
	}
	if (!e->n_ranges) {
		mig_check_set(c, MIG_CHECK_SKIP,
			      "%s; no expected range (--range or ipam.range in "
			      "--config)%s%s",
			      list, e->range_note[0] ? ": " : "", e->range_note);
		return;
	}
	if (!hit) {
		mig_check_set(c, MIG_CHECK_FAIL, "%s: not in %s", list, c->expected);
		return;
	}
	nl_ip_format(&hit->ip, text, sizeof(text));
	if (hit->flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) {
		mig_check_set(c, MIG_CHECK_FAIL, "%s is %s", text,
			      hit->flags & IFA_F_DADFAILED ? "a duplicate (DAD failed)"
							   : "tentative (DAD)");
		return;
	}
	{
		struct ipam_u128 v, hi;
		int family;

		nl_to_u128(&hit->ip, &family, &v);
		if (ipam_range_excluded(r, v, &hi)) {
			mig_check_set(c, MIG_CHECK_FAIL, "%s lies in %s but is excluded from it",
				      text, r->cidr);
			return;
		}
	}
	if (hit->prefixlen != r->prefixlen) {
		mig_check_set(c, MIG_CHECK_FAIL, "%s/%u is in %s but its prefix length is not /%u",
			      text, hit->prefixlen, r->cidr, r->prefixlen);
		return;
	}
	mig_check_set(c, MIG_CHECK_PASS, "%s/%u in %s", text, hit->prefixlen, r->cidr);
}

/* ---- the link ---- */

/* The master's link, read in its namespace. Return: 0, -EXDEV when unresolvable, -errno. */
static int master_lookup(const struct nl_link *link, const char *netns, struct nl *nl,
			 struct nl_link *ret)
{
	struct nl other = { 0 };
	int fd, r;

	if (link->link_netnsid < 0)
		return nl_link_get(nl, link->link_ifindex, NULL, ret);
	if (!netns)
		return -EXDEV;
	fd = nl_netns_open(netns);
	if (fd < 0)
		return fd;
	r = nl_open_in_netns(&other, fd);
	close(fd);
	if (r < 0)
		return r;
	r = nl_link_get(&other, link->link_ifindex, NULL, ret);
	nl_close(&other);
	return r;
}

static const char *mode_name(uint32_t mode)
{
	switch (mode) {
	case 1:
		return "private";
	case 2:
		return "vepa";
	case 4:
		return "bridge";
	case 8:
		return "passthru";
	case 16:
		return "source";
	}
	return "?";
}

static void check_master(const struct mig_doctor_opts *o, const struct nl_link *link,
			 const struct nl_link *master, int mr, struct mig_check *c)
{
	const struct mig_doctor_expect *e = o->expect;
	char where[200] = "";

	if (e->master[0])
		snprintf(c->expected, sizeof(c->expected), "%s", e->master);
	if (!link->link_ifindex) {
		mig_check_set(c, MIG_CHECK_FAIL, "the kernel reports no master (IFLA_LINK)");
		return;
	}
	if (link->link_netnsid >= 0)
		snprintf(where, sizeof(where), " in another network namespace (netns id %d%s%s)",
			 (int)link->link_netnsid, o->master_netns && mr >= 0 ? ": " : "",
			 o->master_netns && mr >= 0 ? o->master_netns : "");
	if (mr < 0) {
		snprintf(c->actual, sizeof(c->actual), "ifindex %d", link->link_ifindex);
		if (mr != -EXDEV)
			mig_check_set(c, e->master[0] ? MIG_CHECK_FAIL : MIG_CHECK_SKIP,
				      "ifindex %d%s: cannot read it: %s%s", link->link_ifindex,
				      where, strerror(-mr),
				      mr == -EPERM || mr == -EACCES
					      ? " (entering --master-netns needs CAP_SYS_ADMIN, "
						"and CAP_SYS_PTRACE "
						"for a /proc path)"
					      : "");
		else
			mig_check_set(
				c, MIG_CHECK_SKIP, "ifindex %d%s; %s", link->link_ifindex, where,
				e->master[0] ? "cannot compare by name: name the namespace with "
					       "--master-netns"
					     : "no expected master");
		return;
	}
	snprintf(c->actual, sizeof(c->actual), "%s", master->name);
	if (!e->master[0])
		mig_check_set(c, MIG_CHECK_SKIP,
			      "%s (ifindex %d)%s; no expected master (--master or "
			      "\"master\" in --config)",
			      master->name, master->ifindex, where);
	else if (strcmp(e->master, master->name) != 0)
		mig_check_set(c, MIG_CHECK_FAIL, "%s (ifindex %d)%s, expected %s (%s)",
			      master->name, master->ifindex, where, e->master, e->master_from);
	else
		mig_check_set(c, MIG_CHECK_PASS, "%s (ifindex %d)%s", master->name, master->ifindex,
			      where);
}

static void check_mtu(const struct mig_doctor_expect *e, const struct nl_link *link,
		      const struct nl_link *master, int mr, struct mig_check *c)
{
	uint32_t want = e->mtu;
	const char *from = e->mtu_from;

	snprintf(c->actual, sizeof(c->actual), "%u", link->mtu);
	if (!want && e->mtu_is_masters && mr >= 0) {
		want = master->mtu;
		from = "the master's, as the config sets no mtu";
	}
	if (!want) {
		mig_check_set(c, MIG_CHECK_SKIP,
			      "%u; no expected MTU (--mtu, \"mtu\" in --config, or "
			      "a config without mtu and a master that can be read)",
			      link->mtu);
		return;
	}
	snprintf(c->expected, sizeof(c->expected), "%u", want);
	if (want != link->mtu)
		mig_check_set(c, MIG_CHECK_FAIL, "%u, expected %u (%s)", link->mtu, want, from);
	else
		mig_check_set(c, MIG_CHECK_PASS, "%u (%s)", link->mtu, from);
}

/* interface, up, macvlan, master, address, mtu. Return: the link's ifindex, or 0. */
static int local_checks(const struct mig_doctor_opts *o, struct nl *nl,
			struct mig_doctor_report *rep, struct nl_addr **ret_addrs, size_t *ret_n)
{
	const struct mig_doctor_expect *e = o->expect;
	struct mig_check *c = rep->checks;
	struct nl_link link, master;
	int r, mr;

	r = nl_link_get(nl, 0, o->interface, &link);
	if (r < 0) {
		mig_check_set(&c[MIG_CHECK_INTERFACE], MIG_CHECK_FAIL,
			      r == -ENODEV ? "no interface %s in this network namespace: is the "
					     "migration network "
					     "attached?"
					   : "%s: %s",
			      o->interface, strerror(-r));
		return 0;
	}
	snprintf(c[MIG_CHECK_INTERFACE].actual, sizeof(c->actual), "ifindex %d", link.ifindex);
	mig_check_set(&c[MIG_CHECK_INTERFACE], MIG_CHECK_PASS, "%s, ifindex %d", link.name,
		      link.ifindex);

	if (!(link.flags & IFF_UP))
		mig_check_set(&c[MIG_CHECK_UP], MIG_CHECK_FAIL, "administratively down");
	else if (!(link.flags & IFF_RUNNING))
		mig_check_set(&c[MIG_CHECK_UP], MIG_CHECK_FAIL,
			      "up, but no carrier (is the master "
			      "down?)");
	else
		mig_check_set(&c[MIG_CHECK_UP], MIG_CHECK_PASS, "up, carrier");

	snprintf(c[MIG_CHECK_MACVLAN].actual, sizeof(c->actual), "%s%s%s",
		 link.kind[0] ? link.kind : "none", strcmp(link.kind, "macvlan") ? "" : " ",
		 strcmp(link.kind, "macvlan") ? "" : mode_name(link.macvlan_mode));
	if (e->mode[0])
		snprintf(c[MIG_CHECK_MACVLAN].expected, sizeof(c->expected), "macvlan %s", e->mode);
	if (strcmp(link.kind, "macvlan") != 0)
		mig_check_set(&c[MIG_CHECK_MACVLAN], MIG_CHECK_FAIL, "kind %s, not macvlan",
			      link.kind[0] ? link.kind : "(none)");
	else if (e->mode[0] && strcmp(e->mode, mode_name(link.macvlan_mode)) != 0)
		mig_check_set(&c[MIG_CHECK_MACVLAN], MIG_CHECK_FAIL, "macvlan mode %s, expected %s",
			      mode_name(link.macvlan_mode), e->mode);
	else
		mig_check_set(&c[MIG_CHECK_MACVLAN], MIG_CHECK_PASS, "macvlan, mode %s",
			      mode_name(link.macvlan_mode));

	mr = link.link_ifindex ? master_lookup(&link, o->master_netns, nl, &master) : -ENODEV;
	if (c[MIG_CHECK_MACVLAN].status == MIG_CHECK_PASS || !strcmp(link.kind, "macvlan"))
		check_master(o, &link, &master, mr, &c[MIG_CHECK_MASTER]);
	else
		mig_check_set(&c[MIG_CHECK_MASTER], MIG_CHECK_SKIP, "not a macvlan");

	r = nl_addr_list(nl, link.ifindex, AF_UNSPEC, ret_addrs, ret_n);
	if (r < 0) {
		mig_check_set(&c[MIG_CHECK_ADDRESS], MIG_CHECK_FAIL, "reading the addresses: %s",
			      strerror(-r));
		*ret_addrs = NULL;
		*ret_n = 0;
	} else {
		check_address(e, *ret_addrs, *ret_n, &c[MIG_CHECK_ADDRESS]);
	}
	check_mtu(e, &link, &master, mr, &c[MIG_CHECK_MTU]);
	return link.ifindex;
}

static void peer_checks(const struct mig_doctor_opts *o, struct nl *nl, int ifindex,
			const struct nl_addr *addrs, size_t n, struct mig_doctor_report *rep)
{
	struct mig_check *c = rep->checks;
	struct mig_addr peer, src, *srcp = NULL;
	struct nl_ip dst = { 0 };
	char other[IF_NAMESIZE] = "?";
	int out = 0, r;

	if (mig_parse_target(o->peer, MIG_DOCTOR_PORT, &peer) < 0) { /* checked by the caller */
		mig_check_set(&c[MIG_CHECK_ROUTE], MIG_CHECK_FAIL, "%s: not an address", o->peer);
		return;
	}
	mig_addr_format(&peer, rep->peer, sizeof(rep->peer));
	dst.family = peer.ss.ss_family;
	if (dst.family == AF_INET)
		memcpy(dst.addr, &((struct sockaddr_in *)&peer.ss)->sin_addr, 4);
	else
		memcpy(dst.addr, &((struct sockaddr_in6 *)&peer.ss)->sin6_addr, 16);
	for (size_t i = 0; i < n && !srcp; i++) {
		if (addr_global(&addrs[i]) && addrs[i].ip.family == dst.family) {
			nl_to_mig(&addrs[i].ip, 0, &src);
			srcp = &src;
		}
	}

	snprintf(c[MIG_CHECK_ROUTE].expected, sizeof(c->expected), "%s", o->interface);
	r = nl_route_get(nl, &dst, &out, NULL);
	if (r < 0) {
		mig_check_set(&c[MIG_CHECK_ROUTE], MIG_CHECK_FAIL, "no route to %s: %s", rep->peer,
			      strerror(-r));
	} else if (out != ifindex) {
		if_indextoname((unsigned int)out, other);
		snprintf(c[MIG_CHECK_ROUTE].actual, sizeof(c->actual), "%s", other);
		mig_check_set(
			&c[MIG_CHECK_ROUTE], MIG_CHECK_FAIL,
			"the route to %s leaves through %s "
			"(ifindex %d), not %s: migration traffic would go over another network",
			rep->peer, other, out, o->interface);
	} else {
		snprintf(c[MIG_CHECK_ROUTE].actual, sizeof(c->actual), "%s", o->interface);
		mig_check_set(&c[MIG_CHECK_ROUTE], MIG_CHECK_PASS, "%s is reached through %s",
			      rep->peer, o->interface);
	}

	mig_doctor_check_peer(o, &peer, srcp, &c[MIG_CHECK_PEER]);

	if (o->no_probe)
		mig_check_set(&c[MIG_CHECK_THROUGHPUT], MIG_CHECK_SKIP, "--no-probe");
	else if (c[MIG_CHECK_ROUTE].status != MIG_CHECK_PASS ||
		 c[MIG_CHECK_PEER].status != MIG_CHECK_PASS)
		mig_check_set(&c[MIG_CHECK_THROUGHPUT], MIG_CHECK_SKIP, "the %s check failed",
			      c[MIG_CHECK_ROUTE].status != MIG_CHECK_PASS ? "route" : "peer");
	else if (!srcp)
		mig_check_set(&c[MIG_CHECK_THROUGHPUT], MIG_CHECK_SKIP,
			      "no global address of the "
			      "peer's family on %s",
			      o->interface);
	else
		mig_doctor_check_throughput(o, &peer, srcp, rep);
}

int mig_doctor_run(const struct mig_doctor_opts *o, struct mig_doctor_report *ret,
		   struct mig_error *err)
{
	struct mig_doctor_report *rep = ret;
	struct nl_addr *addrs = NULL;
	struct nl nl = { 0 };
	size_t n = 0;
	int ifindex, r, i;

	memset(rep, 0, sizeof(*rep));
	snprintf(rep->interface, sizeof(rep->interface), "%s", o->interface);
	for (i = 0; i < MIG_CHECK_COUNT; i++) {
		rep->checks[i].name = check_names[i];
		mig_check_set(&rep->checks[i], MIG_CHECK_SKIP, "no interface");
	}
	if (o->tls) {
		mig_tls_doctor(o->tls, o->tls_role_given, o->tls_name, rep->tls);
		rep->tls_checked = true;
	}
	if (o->tls_only) {
		for (i = 0; i < MIG_CHECK_COUNT; i++)
			mig_check_set(&rep->checks[i], MIG_CHECK_SKIP, "--tls-only");
		goto count;
	}
	r = nl_open(&nl);
	if (r < 0)
		return mig_error_set(err, r, "netlink: %s", strerror(-r));
	ifindex = local_checks(o, &nl, rep, &addrs, &n);
	if (ifindex && o->peer) {
		peer_checks(o, &nl, ifindex, addrs, n, rep);
	} else if (ifindex) {
		for (i = MIG_CHECK_ROUTE; i <= MIG_CHECK_THROUGHPUT; i++)
			mig_check_set(&rep->checks[i], MIG_CHECK_SKIP, "no --peer");
	}
	free(addrs);
	nl_close(&nl);
count:
	for (i = 0; i < MIG_CHECK_COUNT + (rep->tls_checked ? MIG_TLS_CHECK_COUNT : 0); i++) {
		int st = i < MIG_CHECK_COUNT ? (int)rep->checks[i].status
					     : rep->tls[i - MIG_CHECK_COUNT].status;

		if (st == MIG_CHECK_PASS)
			rep->passed++;
		else if (st == MIG_CHECK_FAIL)
			rep->failed++;
		else
			rep->skipped++;
	}
	return 0;
}
