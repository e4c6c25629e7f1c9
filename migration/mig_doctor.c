// SPDX-License-Identifier: Apache-2.0
/*
 * mignet doctor: the checks, the ICMP echo, the throughput probe and its sink.
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
#include "mig_parse.h"
#include "mig_stream.h"
#include "netlink/nl.h"

#define ECHO_TRIES 3
#define ECHO_WAIT 1.0     /* seconds per try */
#define CONNECT_WAIT 3000 /* ms */
#define SINK_IDLE 10      /* s */
#define BUF_BYTES (1u << 20)

static const char *const check_names[MIG_CHECK_COUNT] = {
	"interface", "up", "macvlan", "master", "address", "mtu", "route", "peer", "throughput",
};

const char *mig_check_status_name(enum mig_check_status s)
{
	return s == MIG_CHECK_PASS ? "pass" : s == MIG_CHECK_FAIL ? "fail" : "skip";
}

static void check_set(struct mig_check *c, enum mig_check_status s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void check_set(struct mig_check *c, enum mig_check_status s, const char *fmt, ...)
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

static void check_address(const struct mig_doctor_expect *e, const struct nl_addr *addrs,
			  size_t n, struct mig_check *c)
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
			off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s/%u",
						off ? " " : "", nl_ip_format(&addrs[i].ip, text,
									     sizeof(text)),
						addrs[i].prefixlen);
		if (!hit && (r = range_for(e, &addrs[i])) != NULL)
			hit = &addrs[i];
	}
	snprintf(c->actual, sizeof(c->actual), "%s", list);
	if (e->n_ranges)
		format_ranges(e, c->expected, sizeof(c->expected));
	if (!first) {
		check_set(c, MIG_CHECK_FAIL, "no global address on the interface: did IPAM run?");
		return;
	}
	if (!e->n_ranges) {
		check_set(c, MIG_CHECK_SKIP, "%s; no expected range (--range or ipam.range in "
			  "--config)%s%s", list, e->range_note[0] ? ": " : "", e->range_note);
		return;
	}
	if (!hit) {
		check_set(c, MIG_CHECK_FAIL, "%s: not in %s", list, c->expected);
		return;
	}
	nl_ip_format(&hit->ip, text, sizeof(text));
	if (hit->flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)) {
		check_set(c, MIG_CHECK_FAIL, "%s is %s", text,
			  hit->flags & IFA_F_DADFAILED ? "a duplicate (DAD failed)" : "tentative (DAD)");
		return;
	}
	{
		struct ipam_u128 v, hi;
		int family;

		nl_to_u128(&hit->ip, &family, &v);
		if (ipam_range_excluded(r, v, &hi)) {
			check_set(c, MIG_CHECK_FAIL, "%s lies in %s but is excluded from it", text,
				  r->cidr);
			return;
		}
	}
	if (hit->prefixlen != r->prefixlen) {
		check_set(c, MIG_CHECK_FAIL, "%s/%u is in %s but its prefix length is not /%u",
			  text, hit->prefixlen, r->cidr, r->prefixlen);
		return;
	}
	check_set(c, MIG_CHECK_PASS, "%s/%u in %s", text, hit->prefixlen, r->cidr);
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
		check_set(c, MIG_CHECK_FAIL, "the kernel reports no master (IFLA_LINK)");
		return;
	}
	if (link->link_netnsid >= 0)
		snprintf(where, sizeof(where), " in another network namespace (netns id %d%s%s)",
			 (int)link->link_netnsid, o->master_netns && mr >= 0 ? ": " : "",
			 o->master_netns && mr >= 0 ? o->master_netns : "");
	if (mr < 0) {
		snprintf(c->actual, sizeof(c->actual), "ifindex %d", link->link_ifindex);
		if (mr != -EXDEV)
			check_set(c, e->master[0] ? MIG_CHECK_FAIL : MIG_CHECK_SKIP,
				  "ifindex %d%s: cannot read it: %s%s", link->link_ifindex, where,
				  strerror(-mr), mr == -EPERM || mr == -EACCES ?
				  " (entering --master-netns needs CAP_SYS_ADMIN, and CAP_SYS_PTRACE "
				  "for a /proc path)" : "");
		else
			check_set(c, MIG_CHECK_SKIP, "ifindex %d%s; %s", link->link_ifindex, where,
				  e->master[0] ? "cannot compare by name: name the namespace with "
				  "--master-netns" : "no expected master");
		return;
	}
	snprintf(c->actual, sizeof(c->actual), "%s", master->name);
	if (!e->master[0])
		check_set(c, MIG_CHECK_SKIP, "%s (ifindex %d)%s; no expected master (--master or "
			  "\"master\" in --config)", master->name, master->ifindex, where);
	else if (strcmp(e->master, master->name) != 0)
		check_set(c, MIG_CHECK_FAIL, "%s (ifindex %d)%s, expected %s (%s)", master->name,
			  master->ifindex, where, e->master, e->master_from);
	else
		check_set(c, MIG_CHECK_PASS, "%s (ifindex %d)%s", master->name, master->ifindex,
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
		check_set(c, MIG_CHECK_SKIP, "%u; no expected MTU (--mtu, \"mtu\" in --config, or "
			  "a config without mtu and a master that can be read)", link->mtu);
		return;
	}
	snprintf(c->expected, sizeof(c->expected), "%u", want);
	if (want != link->mtu)
		check_set(c, MIG_CHECK_FAIL, "%u, expected %u (%s)", link->mtu, want, from);
	else
		check_set(c, MIG_CHECK_PASS, "%u (%s)", link->mtu, from);
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
		check_set(&c[MIG_CHECK_INTERFACE], MIG_CHECK_FAIL, r == -ENODEV ?
			  "no interface %s in this network namespace: is the migration network "
			  "attached?" : "%s: %s", o->interface, strerror(-r));
		return 0;
	}
	snprintf(c[MIG_CHECK_INTERFACE].actual, sizeof(c->actual), "ifindex %d", link.ifindex);
	check_set(&c[MIG_CHECK_INTERFACE], MIG_CHECK_PASS, "%s, ifindex %d", link.name,
		  link.ifindex);

	if (!(link.flags & IFF_UP))
		check_set(&c[MIG_CHECK_UP], MIG_CHECK_FAIL, "administratively down");
	else if (!(link.flags & IFF_RUNNING))
		check_set(&c[MIG_CHECK_UP], MIG_CHECK_FAIL, "up, but no carrier (is the master "
			  "down?)");
	else
		check_set(&c[MIG_CHECK_UP], MIG_CHECK_PASS, "up, carrier");

	snprintf(c[MIG_CHECK_MACVLAN].actual, sizeof(c->actual), "%s%s%s",
		 link.kind[0] ? link.kind : "none", strcmp(link.kind, "macvlan") ? "" : " ",
		 strcmp(link.kind, "macvlan") ? "" : mode_name(link.macvlan_mode));
	if (e->mode[0])
		snprintf(c[MIG_CHECK_MACVLAN].expected, sizeof(c->expected), "macvlan %s", e->mode);
	if (strcmp(link.kind, "macvlan") != 0)
		check_set(&c[MIG_CHECK_MACVLAN], MIG_CHECK_FAIL, "kind %s, not macvlan",
			  link.kind[0] ? link.kind : "(none)");
	else if (e->mode[0] && strcmp(e->mode, mode_name(link.macvlan_mode)) != 0)
		check_set(&c[MIG_CHECK_MACVLAN], MIG_CHECK_FAIL, "macvlan mode %s, expected %s",
			  mode_name(link.macvlan_mode), e->mode);
	else
		check_set(&c[MIG_CHECK_MACVLAN], MIG_CHECK_PASS, "macvlan, mode %s",
			  mode_name(link.macvlan_mode));

	mr = link.link_ifindex ? master_lookup(&link, o->master_netns, nl, &master) : -ENODEV;
	if (c[MIG_CHECK_MACVLAN].status == MIG_CHECK_PASS || !strcmp(link.kind, "macvlan"))
		check_master(o, &link, &master, mr, &c[MIG_CHECK_MASTER]);
	else
		check_set(&c[MIG_CHECK_MASTER], MIG_CHECK_SKIP, "not a macvlan");

	r = nl_addr_list(nl, link.ifindex, AF_UNSPEC, ret_addrs, ret_n);
	if (r < 0) {
		check_set(&c[MIG_CHECK_ADDRESS], MIG_CHECK_FAIL, "reading the addresses: %s",
			  strerror(-r));
		*ret_addrs = NULL;
		*ret_n = 0;
	} else {
		check_address(e, *ret_addrs, *ret_n, &c[MIG_CHECK_ADDRESS]);
	}
	check_mtu(e, &link, &master, mr, &c[MIG_CHECK_MTU]);
	return link.ifindex;
}

/* ---- ICMP echo ---- */

static uint16_t inet_csum(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint32_t sum = 0;

	for (; len > 1; p += 2, len -= 2)
		sum += (uint32_t)(p[0] << 8 | p[1]);
	if (len)
		sum += (uint32_t)(p[0] << 8);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return htons((uint16_t)~sum);
}

static int icmp_socket(int family, const char *ifname, bool *ret_raw)
{
	int proto = family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
	int fd, r;

	*ret_raw = false;
	fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, proto);
	if (fd < 0 && (errno == EACCES || errno == EPERM || errno == EPROTONOSUPPORT)) {
		fd = socket(family, SOCK_RAW | SOCK_CLOEXEC, proto);
		*ret_raw = true;
	}
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0) {
		r = -errno;
		close(fd);
		return r;
	}
	return fd;
}

/* Is @buf (@n bytes from @from) the echo reply to (@id, @seq)? */
static bool is_reply(const struct mig_addr *peer, const struct sockaddr_storage *from,
		     const uint8_t *buf, size_t n, bool raw, uint16_t id, uint16_t seq)
{
	if (peer->ss.ss_family == AF_INET) {
		const struct icmphdr *h;

		if (memcmp(&((const struct sockaddr_in *)from)->sin_addr,
			   &((const struct sockaddr_in *)&peer->ss)->sin_addr, 4) != 0)
			return false;
		if (raw) { /* a raw IPv4 socket sees the IP header */
			size_t ihl;

			if (n < sizeof(struct iphdr))
				return false;
			ihl = (size_t)(buf[0] & 0xf) * 4;
			if (ihl < sizeof(struct iphdr) || n < ihl)
				return false;
			buf += ihl;
			n -= ihl;
		}
		if (n < sizeof(*h))
			return false;
		h = (const struct icmphdr *)buf;
		return h->type == ICMP_ECHOREPLY && ntohs(h->un.echo.sequence) == seq &&
		       (!raw || ntohs(h->un.echo.id) == id);
	} else {
		const struct icmp6_hdr *h = (const struct icmp6_hdr *)buf;

		if (memcmp(&((const struct sockaddr_in6 *)from)->sin6_addr,
			   &((const struct sockaddr_in6 *)&peer->ss)->sin6_addr, 16) != 0)
			return false;
		if (n < sizeof(*h))
			return false;
		return h->icmp6_type == ICMP6_ECHO_REPLY && ntohs(h->icmp6_seq) == seq &&
		       (!raw || ntohs(h->icmp6_id) == id);
	}
}

/*
 * Echo @peer over @ifname. Return: 0 with the round trip in *@ret_ms, -ETIMEDOUT without an
 * answer, or -errno when no ICMP socket could be opened.
 */
static int echo(const struct mig_addr *target, const char *ifname, bool *ret_raw, double *ret_ms,
		int *ret_send_err)
{
	uint16_t id = (uint16_t)(getpid() ^ 0x6d67);
	uint8_t pkt[64], buf[1500];
	struct mig_addr to = *target, *peer = &to;
	int fd, tries;

	/* a raw IPv6 socket takes sin6_port as the protocol: it must be 0 (or ICMPv6's) */
	if (to.ss.ss_family == AF_INET6)
		((struct sockaddr_in6 *)&to.ss)->sin6_port = 0;
	else
		((struct sockaddr_in *)&to.ss)->sin_port = 0;
	*ret_send_err = 0;
	fd = icmp_socket(peer->ss.ss_family, ifname, ret_raw);
	if (fd < 0)
		return fd;
	for (tries = 1; tries <= ECHO_TRIES; tries++) {
		double start = mig_now(), deadline = start + ECHO_WAIT;

		memset(pkt, 0xa5, sizeof(pkt));
		if (peer->ss.ss_family == AF_INET) {
			struct icmphdr *h = (struct icmphdr *)pkt;

			h->type = ICMP_ECHO;
			h->code = 0;
			h->checksum = 0;
			h->un.echo.id = htons(id);
			h->un.echo.sequence = htons((uint16_t)tries);
			h->checksum = inet_csum(pkt, sizeof(pkt));
		} else {
			struct icmp6_hdr *h = (struct icmp6_hdr *)pkt;

			h->icmp6_type = ICMP6_ECHO_REQUEST;
			h->icmp6_code = 0;
			h->icmp6_cksum = 0; /* the kernel fills it in for ICMPv6 */
			h->icmp6_id = htons(id);
			h->icmp6_seq = htons((uint16_t)tries);
		}
		if (sendto(fd, pkt, sizeof(pkt), 0, (const struct sockaddr *)&peer->ss,
			   peer->len) < 0) {
			*ret_send_err = errno; /* e.g. EHOSTUNREACH: neighbour resolution failed */
			continue;
		}
		for (;;) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			struct sockaddr_storage from;
			socklen_t flen = sizeof(from);
			double left = deadline - mig_now();
			ssize_t n;

			if (left <= 0 || poll(&pfd, 1, (int)(left * 1000) + 1) <= 0)
				break;
			n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&from,
				     &flen);
			if (n > 0 && is_reply(peer, &from, buf, (size_t)n, *ret_raw, id,
					      (uint16_t)tries)) {
				*ret_ms = (mig_now() - start) * 1000;
				close(fd);
				return 0;
			}
		}
	}
	close(fd);
	return -ETIMEDOUT;
}

/* ---- TCP ---- */

/* A TCP socket bound to @ifname and @src, connected to @dst. Return: the fd or -errno. */
static int tcp_connect(const char *ifname, const struct mig_addr *src, const struct mig_addr *dst)
{
	struct pollfd pfd;
	socklen_t len = sizeof(int);
	int fd, r, soerr = 0;

	fd = socket(dst->ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0 ||
	    (src && bind(fd, (const struct sockaddr *)&src->ss, src->len) < 0))
		goto fail;
	if (connect(fd, (const struct sockaddr *)&dst->ss, dst->len) < 0) {
		if (errno != EINPROGRESS)
			goto fail;
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		r = poll(&pfd, 1, CONNECT_WAIT);
		if (r == 0) {
			errno = ETIMEDOUT;
			goto fail;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			goto fail;
		if (soerr) {
			errno = soerr;
			goto fail;
		}
	}
	if (fcntl(fd, F_SETFL, 0) < 0)
		goto fail;
	return fd;
fail:
	r = -errno;
	close(fd);
	return r;
}

/* Why no ICMP socket could be opened, when it is a matter of privilege. */
static const char *no_icmp_why(int r)
{
	return r == -EPERM || r == -EACCES ? ": ping sockets are off here (net.ipv4.ping_group_range) "
					     "and a raw socket needs CAP_NET_RAW" : "";
}

static void check_peer(const struct mig_doctor_opts *o, const struct mig_addr *peer,
		       const struct mig_addr *src, struct mig_check *c)
{
	char text[INET6_ADDRSTRLEN];
	double ms = 0;
	bool raw = false;
	int r, fd, send_err = 0;

	mig_addr_format(peer, text, sizeof(text));
	r = echo(peer, o->interface, &raw, &ms, &send_err);
	if (r == 0) {
		snprintf(c->actual, sizeof(c->actual), "echo reply in %.3f ms", ms);
		check_set(c, MIG_CHECK_PASS, "%s answered an ICMP echo over %s in %.3f ms (%s "
			  "socket)", text, o->interface, ms, raw ? "raw" : "ping");
		return;
	}
	if (r != -ETIMEDOUT) { /* no ICMP socket: a TCP connection to the sink's port instead */
		fd = tcp_connect(o->interface, src, peer);
		if (fd >= 0 || fd == -ECONNREFUSED) {
			if (fd >= 0)
				close(fd);
			snprintf(c->actual, sizeof(c->actual), "TCP port %u %s", mig_addr_port(peer),
				 fd >= 0 ? "accepted" : "refused");
			check_set(c, MIG_CHECK_PASS, "%s answered TCP port %u over %s (%s; no ICMP "
				  "socket: %s%s)", text, mig_addr_port(peer), o->interface,
				  fd >= 0 ? "accepted" : "refused", strerror(-r), no_icmp_why(r));
			return;
		}
		check_set(c, MIG_CHECK_FAIL, "no ICMP socket (%s%s) and TCP port %u of %s over %s: "
			  "%s", strerror(-r), no_icmp_why(r), mig_addr_port(peer), text, o->interface,
			  strerror(-fd));
		return;
	}
	snprintf(c->actual, sizeof(c->actual), "no answer");
	check_set(c, MIG_CHECK_FAIL, "%s did not answer %d ICMP echo requests over %s (%s socket%s%s)",
		  text, ECHO_TRIES, o->interface, raw ? "raw" : "ping", send_err ? "; send: " : "",
		  send_err ? strerror(send_err) : "");
}

static void check_throughput(const struct mig_doctor_opts *o, const struct mig_addr *peer,
			     const struct mig_addr *src, struct mig_doctor_report *rep)
{
	struct mig_check *c = &rep->checks[MIG_CHECK_THROUGHPUT];
	double secs = o->probe_seconds > 0 ? o->probe_seconds : MIG_DOCTOR_PROBE_SECONDS;
	uint64_t cap = o->probe_bytes ? o->probe_bytes : MIG_DOCTOR_PROBE_BYTES;
	uint64_t sent = 0, got_be, got = 0;
	char text[INET6_ADDRSTRLEN], sz[32];
	double start, t;
	char *buf;
	int fd, r;

	mig_addr_format(peer, text, sizeof(text));
	if (o->min_gbps > 0)
		snprintf(c->expected, sizeof(c->expected), ">= %.3f Gbit/s", o->min_gbps);
	fd = tcp_connect(o->interface, src, peer);
	if (fd < 0) {
		check_set(c, MIG_CHECK_FAIL, "connect to %s port %u over %s: %s (is `mignet doctor "
			  "--serve` running on the peer?)", text, mig_addr_port(peer), o->interface,
			  strerror(-fd));
		return;
	}
	buf = malloc(BUF_BYTES);
	if (!buf) {
		close(fd);
		check_set(c, MIG_CHECK_FAIL, "out of memory");
		return;
	}
	memset(buf, 0x5a, BUF_BYTES);
	mig_set_timeouts(fd, SINK_IDLE);
	start = mig_now();
	while (sent < cap && mig_now() - start < secs) {
		size_t n = cap - sent < BUF_BYTES ? (size_t)(cap - sent) : BUF_BYTES;

		r = mig_write_full(fd, buf, n, MSG_NOSIGNAL);
		if (r < 0)
			break;
		sent += n;
	}
	free(buf);
	r = sent ? 0 : -EPIPE;
	if (shutdown(fd, SHUT_WR) < 0 && !r)
		r = -errno;
	if (!r) {
		ssize_t n = mig_read_full(fd, &got_be, sizeof(got_be));

		r = n == (ssize_t)sizeof(got_be) ? 0 : n == 0 ? -EPIPE : (int)n;
	}
	t = mig_now() - start;
	close(fd);
	if (r < 0) {
		check_set(c, MIG_CHECK_FAIL, "stream to %s port %u: %s after %s", text,
			  mig_addr_port(peer), strerror(-r), mig_format_bytes((double)sent, sz,
									     sizeof(sz)));
		return;
	}
	got = be64toh(got_be);
	rep->probed = true;
	rep->probe_bytes = got;
	rep->probe_seconds = t;
	rep->probe_gbps = t > 0 ? (double)got * 8 / t / 1e9 : 0;
	snprintf(c->actual, sizeof(c->actual), "%.3f Gbit/s", rep->probe_gbps);
	mig_format_bytes((double)got, sz, sizeof(sz));
	if (got != sent)
		check_set(c, MIG_CHECK_FAIL, "the sink counted %" PRIu64 " bytes of %" PRIu64,
			  got, sent);
	else if (o->min_gbps > 0 && rep->probe_gbps < o->min_gbps)
		check_set(c, MIG_CHECK_FAIL, "%.3f Gbit/s (%s in %.3f s), below %.3f", rep->probe_gbps,
			  sz, t, o->min_gbps);
	else
		check_set(c, MIG_CHECK_PASS, "%.3f Gbit/s (%s in %.3f s to %s port %u)",
			  rep->probe_gbps, sz, t, text, mig_addr_port(peer));
}

/* route, peer, throughput. */
static void peer_checks(const struct mig_doctor_opts *o, struct nl *nl, int ifindex,
			const struct nl_addr *addrs, size_t n, struct mig_doctor_report *rep)
{
	struct mig_check *c = rep->checks;
	struct mig_addr peer, src, *srcp = NULL;
	struct nl_ip dst = { 0 };
	char other[IF_NAMESIZE] = "?";
	int out = 0, r;

	if (mig_parse_target(o->peer, MIG_DOCTOR_PORT, &peer) < 0) { /* checked by the caller */
		check_set(&c[MIG_CHECK_ROUTE], MIG_CHECK_FAIL, "%s: not an address", o->peer);
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
		check_set(&c[MIG_CHECK_ROUTE], MIG_CHECK_FAIL, "no route to %s: %s", rep->peer,
			  strerror(-r));
	} else if (out != ifindex) {
		if_indextoname((unsigned int)out, other);
		snprintf(c[MIG_CHECK_ROUTE].actual, sizeof(c->actual), "%s", other);
		check_set(&c[MIG_CHECK_ROUTE], MIG_CHECK_FAIL, "the route to %s leaves through %s "
			  "(ifindex %d), not %s: migration traffic would go over another network",
			  rep->peer, other, out, o->interface);
	} else {
		snprintf(c[MIG_CHECK_ROUTE].actual, sizeof(c->actual), "%s", o->interface);
		check_set(&c[MIG_CHECK_ROUTE], MIG_CHECK_PASS, "%s is reached through %s",
			  rep->peer, o->interface);
	}

	check_peer(o, &peer, srcp, &c[MIG_CHECK_PEER]);

	if (o->no_probe)
		check_set(&c[MIG_CHECK_THROUGHPUT], MIG_CHECK_SKIP, "--no-probe");
	else if (c[MIG_CHECK_ROUTE].status != MIG_CHECK_PASS ||
		 c[MIG_CHECK_PEER].status != MIG_CHECK_PASS)
		check_set(&c[MIG_CHECK_THROUGHPUT], MIG_CHECK_SKIP, "the %s check failed",
			  c[MIG_CHECK_ROUTE].status != MIG_CHECK_PASS ? "route" : "peer");
	else if (!srcp)
		check_set(&c[MIG_CHECK_THROUGHPUT], MIG_CHECK_SKIP, "no global address of the "
			  "peer's family on %s", o->interface);
	else
		check_throughput(o, &peer, srcp, rep);
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
		check_set(&rep->checks[i], MIG_CHECK_SKIP, "no interface");
	}
	if (o->tls) {
		mig_tls_doctor(o->tls, o->tls_role_given, o->tls_name, rep->tls);
		rep->tls_checked = true;
	}
	if (o->tls_only) {
		for (i = 0; i < MIG_CHECK_COUNT; i++)
			check_set(&rep->checks[i], MIG_CHECK_SKIP, "--tls-only");
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
			check_set(&rep->checks[i], MIG_CHECK_SKIP, "no --peer");
	}
	free(addrs);
	nl_close(&nl);
count:
	for (i = 0; i < MIG_CHECK_COUNT + (rep->tls_checked ? MIG_TLS_CHECK_COUNT : 0); i++) {
		int st = i < MIG_CHECK_COUNT ? (int)rep->checks[i].status :
			 rep->tls[i - MIG_CHECK_COUNT].status;

		if (st == MIG_CHECK_PASS)
			rep->passed++;
		else if (st == MIG_CHECK_FAIL)
			rep->failed++;
		else
			rep->skipped++;
	}
	return 0;
}

/* ---- the sink ---- */

static int sink_one(int cfd, char *buf)
{
	uint64_t total = 0, be;
	ssize_t n;

	mig_set_timeouts(cfd, SINK_IDLE);
	for (;;) {
		n = recv(cfd, buf, BUF_BYTES, 0);
		if (n == 0)
			break;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		total += (uint64_t)n;
		if (total > MIG_DOCTOR_SINK_CAP)
			return -EFBIG;
	}
	be = htobe64(total);
	return mig_write_full(cfd, &be, sizeof(be), MSG_NOSIGNAL);
}

int mig_doctor_serve(const char *ifname, uint16_t port, unsigned int count,
		     mig_doctor_serve_fn event, void *opaque, struct mig_error *err)
{
	struct mig_addr a;
	char text[INET6_ADDRSTRLEN];
	unsigned int served = 0;
	int fd = -1, one = 1, r;
	char *buf = NULL;

	r = mig_iface_address(ifname, port, &a, err);
	if (r < 0)
		return r;
	mig_addr_format(&a, text, sizeof(text));
	buf = malloc(BUF_BYTES);
	fd = socket(a.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (!buf || fd < 0) {
		r = mig_error_set(err, buf ? -errno : -ENOMEM, "socket: %s",
				  strerror(buf ? errno : ENOMEM));
		goto out;
	}
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) < 0 ||
	    bind(fd, (struct sockaddr *)&a.ss, a.len) < 0 || listen(fd, 4) < 0) {
		r = mig_error_set(err, -errno, "listening on %s port %u over %s: %s%s", text, port,
				  ifname, strerror(errno), mig_listen_hint(errno, port));
		goto out;
	}
	if (event)
		event("listening", text, port, 0, opaque);
	while (!count || served < count) {
		struct mig_addr peer = { .len = sizeof(peer.ss) };
		char ptext[INET6_ADDRSTRLEN];
		int cfd = accept4(fd, (struct sockaddr *)&peer.ss, &peer.len, SOCK_CLOEXEC);

		if (cfd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			r = mig_error_set(err, -errno, "accept: %s", strerror(errno));
			goto out;
		}
		r = sink_one(cfd, buf);
		close(cfd);
		served++;
		if (event)
			event(r < 0 ? "dropped" : "served", mig_addr_format(&peer, ptext, sizeof(ptext)),
			      mig_addr_port(&peer), 0, opaque);
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}
