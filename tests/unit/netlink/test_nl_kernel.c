// SPDX-License-Identifier: Apache-2.0
/*
 * netlink/ against the real kernel. A forked child unshares two fresh network namespaces,
 * A (holding a veth pair, veth0 being the macvlan master) and B (the "container"), and runs
 * every operation there; the namespaces die with the child, so nothing can be left behind.
 * Where practical the kernel's state is checked independently with `ip -j ...`.
 * Needs root; exits 77 (meson's "skipped") otherwise.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "netlink/nl.h"
#include "tests/unit/check.h"

static int ns_a, ns_b;

/* Run @cmd in the namespace @nsfd and return its stdout (static buffer). */
static const char *sh_in(int nsfd, const char *cmd)
{
	static char out[65536];
	size_t n = 0;
	FILE *f;
	int orig;

	out[0] = '\0';
	if (nl_netns_enter(nsfd, &orig) < 0)
		return out;
	f = popen(cmd, "r");
	if (f) {
		n = fread(out, 1, sizeof(out) - 1, f);
		pclose(f);
	}
	out[n] = '\0';
	nl_netns_return(orig);
	return out;
}

static bool contains(const char *hay, const char *needle)
{
	if (strstr(hay, needle))
		return true;
	fprintf(stderr, "  missing %s in: %s\n", needle, hay);
	return false;
}

#define CHECK_HAS(hay, needle) CHECK(contains(hay, needle))

static int sysctl_in(int nsfd, const char *key, const char *value)
{
	int orig, err = nl_netns_enter(nsfd, &orig);

	if (err < 0)
		return err;
	err = nl_sysctl_write(key, value);
	nl_netns_return(orig);
	return err;
}

static struct nl_ip ip(const char *text)
{
	struct nl_ip r = { .family = 0 };

	CHECK(nl_ip_parse(text, &r) == 0);
	return r;
}

static ino_t ns_ino(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static void test_netns(void)
{
	int fd, orig;
	ino_t self;

	fd = nl_netns_open("/proc/self/ns/net");
	CHECK(fd >= 0);
	self = ns_ino(fd);
	CHECK(self == ns_ino(ns_a));
	if (fd >= 0)
		close(fd);
	CHECK(nl_netns_open("/nonexistent/netns") == -ENOENT);
	CHECK(nl_netns_open("/etc/hostname") == -EINVAL);
	CHECK(nl_netns_open("/proc") == -EINVAL);
	CHECK(nl_netns_open("/proc/self/ns/mnt") == -EINVAL); /* nsfs, but not a netns */

	CHECK(nl_netns_enter(ns_b, &orig) == 0);
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	CHECK(ns_ino(fd) == ns_ino(ns_b));
	close(fd);
	CHECK(nl_netns_return(orig) == 0);
	fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	CHECK(ns_ino(fd) == self);
	close(fd);
	CHECK(nl_netns_enter(-1, &orig) == -EBADF);
}

static void test_sysctl(void)
{
	char buf[16] = "";
	FILE *f;

	CHECK(sysctl_in(ns_b, "net.ipv6.conf.all.accept_dad", "1") == 0);
	CHECK(sysctl_in(ns_b, "net/ipv6/conf/default/accept_dad", "1") == 0);
	CHECK(sysctl_in(ns_b, "net.ipv4.conf.all.arp_notify", "1") == 0);
	CHECK_HAS(sh_in(ns_b, "cat /proc/sys/net/ipv4/conf/all/arp_notify"), "1");
	CHECK_HAS(sh_in(ns_a, "cat /proc/sys/net/ipv4/conf/all/arp_notify"), "0");
	CHECK(sysctl_in(ns_b, "net.ipv4.conf.nosuchif.arp_notify", "1") == -ENOENT);
	CHECK(sysctl_in(ns_b, "net.ipv4.conf.all.arp_notify", "banana") == -EINVAL);
	f = fopen("/proc/sys/net/ipv4/conf/all/arp_notify", "r"); /* we are in A */
	if (f) {
		CHECK(fgets(buf, sizeof(buf), f) != NULL);
		fclose(f);
	}
	CHECK_STR(buf, "0\n");
}

static void check_has_addr(struct nl *nl, int ifindex, const char *text, uint8_t plen, bool settled)
{
	struct nl_addr *v = NULL;
	size_t n = 0;
	struct nl_ip want = ip(text);
	bool found = false;

	CHECK(nl_addr_list(nl, ifindex, AF_UNSPEC, &v, &n) == 0);
	for (size_t i = 0; i < n; i++) {
		if (v[i].ip.family != want.family || memcmp(v[i].ip.addr, want.addr, 16))
			continue;
		found = true;
		CHECK(v[i].prefixlen == plen);
		CHECK(v[i].scope == RT_SCOPE_UNIVERSE);
		if (settled)
			CHECK(!(v[i].flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED)));
	}
	CHECK(found);
	if (!found)
		fprintf(stderr, "  address %s not listed\n", text);
	free(v);
}

/* A macvlan @name of @master in @mode, created straight into @netns_fd, the kernel's defaults. */
static struct nl_macvlan_req macvlan_into(int master, int netns_fd, const char *name,
					  enum nl_macvlan_mode mode)
{
	return (struct nl_macvlan_req){ .master_ifindex = master,
					.netns_fd = netns_fd,
					.name = name,
					.mode = mode,
					.bcqueuelen = -1 };
}

/* A route to @dst/@dst_len through @gw on @ifindex with metric @priority. */
static struct nl_route route_via(const char *dst, uint8_t dst_len, const char *gw, int ifindex,
				 uint32_t priority)
{
	return (struct nl_route){ .dst = ip(dst),
				  .dst_len = dst_len,
				  .gw = ip(gw),
				  .ifindex = ifindex,
				  .priority = priority };
}

static const struct nl_route *find_route(const struct nl_route *v, size_t n, const char *dst,
					 uint8_t dst_len)
{
	struct nl_ip d = { .family = 0 };

	if (dst_len)
		d = ip(dst);
	for (size_t i = 0; i < n; i++)
		if (v[i].dst_len == dst_len && (!dst_len || !memcmp(v[i].dst.addr, d.addr, 16)))
			return &v[i];
	return NULL;
}

static void test_routes(struct nl *a, struct nl *b, int idx)
{
	struct nl_route r = { .family = 0 };
	struct nl_route *v = NULL;
	const struct nl_route *f;
	struct nl_ip src;
	size_t n = 0;
	int oif = 0, err;
	char txt[INET6_ADDRSTRLEN];

	r = route_via("10.2.0.0", 16, "10.1.0.1", idx, 100);
	CHECK(nl_route_add(b, &r) == 0);
	CHECK(nl_route_add(b, &r) == -EEXIST);
	/* another gateway to the same destination and metric is added beside the first */
	r = route_via("10.5.0.0", 24, "10.1.0.1", idx, 7);
	CHECK(nl_route_add(b, &r) == 0);
	r.gw = ip("10.1.0.2");
	CHECK(nl_route_add(b, &r) == 0);
	CHECK_HAS(sh_in(ns_b, "ip -j route show 10.5.0.0/24"), "\"gateway\":\"10.1.0.1\"");
	CHECK_HAS(sh_in(ns_b, "ip -j route show 10.5.0.0/24"), "\"gateway\":\"10.1.0.2\"");
	r = (struct nl_route){
		.dst = ip("10.3.0.0"), .dst_len = 24, .ifindex = idx, .table = 1000, .mtu = 1300
	};
	CHECK(nl_route_add(b, &r) == 0);
	r = (struct nl_route){ .dst = ip("10.4.0.0"), .dst_len = 24, .ifindex = idx, .table = 42 };
	CHECK(nl_route_add(b, &r) == 0);
	r = (struct nl_route){ .family = AF_INET, .gw = ip("10.1.0.1"), .ifindex = idx };
	CHECK(nl_route_add(b, &r) == 0);
	r = route_via("2001:db8:2::", 64, "2001:db8:1::1", idx, 50);
	CHECK(nl_route_add(b, &r) == 0);

	/* a gateway on no link: the kernel refuses and says why */
	r = (struct nl_route){ .dst = ip("10.99.0.0"), .dst_len = 16, .gw = ip("10.99.99.1") };
	err = nl_route_add(b, &r);
	CHECK(err == -ENETUNREACH);
	CHECK(b->ext_ack[0] != '\0');
	fprintf(stderr, "  ext_ack for an off-link gateway: \"%s\" (%s)\n", b->ext_ack,
		strerror(-err));
	CHECK(nl_link_index(b, "lo") == 1);
	CHECK_STR(b->ext_ack, ""); /* cleared by the next request */

	CHECK(nl_route_list(b, AF_INET, 0, idx, &v, &n) == 0);
	f = find_route(v, n, "10.2.0.0", 16);
	CHECK(f != NULL);
	if (f) {
		CHECK_STR(nl_ip_format(&f->gw, txt, sizeof(txt)), "10.1.0.1");
		CHECK(f->priority == 100 && f->ifindex == idx && f->table == RT_TABLE_MAIN);
		CHECK(f->scope == RT_SCOPE_UNIVERSE);
	}
	CHECK(find_route(v, n, NULL, 0) != NULL);	 /* the default route */
	CHECK(find_route(v, n, "10.1.0.0", 24) != NULL); /* the kernel's connected route */
	CHECK(find_route(v, n, "10.3.0.0", 24) == NULL); /* in table 1000 */
	free(v);

	CHECK(nl_route_list(b, AF_INET, 1000, 0, &v, &n) == 0);
	CHECK(n == 1);
	if (n == 1) {
		CHECK(v[0].dst_len == 24 && v[0].table == 1000 && v[0].mtu == 1300);
		CHECK(v[0].scope == RT_SCOPE_LINK && v[0].gw.family == 0 && v[0].ifindex == idx);
	}
	free(v);
	CHECK(nl_route_list(b, AF_INET, 42, 0, &v, &n) == 0);
	CHECK(n == 1 && v[0].table == 42);
	free(v);

	CHECK(nl_route_list(b, AF_INET6, 0, idx, &v, &n) == 0);
	f = find_route(v, n, "2001:db8:2::", 64);
	CHECK(f && f->priority == 50 && f->gw.family == AF_INET6);
	free(v);

	/* two IPv6 gateways to one destination and metric: the kernel makes one multipath route,
	 * listed one entry per hop, each with its interface and gateway */
	r = route_via("2001:db8:5::", 64, "2001:db8:1::1", idx, 60);
	CHECK(nl_route_add(b, &r) == 0);
	r.gw = ip("2001:db8:1::3");
	CHECK(nl_route_add(b, &r) == 0);
	CHECK_HAS(sh_in(ns_b, "ip -j -6 route show 2001:db8:5::/64"), "\"nexthops\"");
	CHECK(nl_route_list(b, AF_INET6, 0, idx, &v, &n) == 0);
	{
		int hops = 0;

		for (size_t i = 0; i < n; i++) {
			if (v[i].dst_len != 64 || !nl_ip_format(&v[i].dst, txt, sizeof(txt)) ||
			    strcmp(txt, "2001:db8:5::") != 0)
				continue;
			hops++;
			CHECK(v[i].ifindex == idx && v[i].priority == 60);
			nl_ip_format(&v[i].gw, txt, sizeof(txt));
			CHECK(strcmp(txt, "2001:db8:1::1") == 0 ||
			      strcmp(txt, "2001:db8:1::3") == 0);
		}
		CHECK(hops == 2);
	}
	free(v);

	CHECK_HAS(sh_in(ns_b, "ip -j route show 10.2.0.0/16"), "\"gateway\":\"10.1.0.1\"");
	CHECK_HAS(sh_in(ns_b, "ip -j route show 10.2.0.0/16"), "\"metric\":100");
	CHECK_HAS(sh_in(ns_b, "ip -j -d route show 10.2.0.0/16"), "\"protocol\":\"boot\"");
	CHECK_HAS(sh_in(ns_b, "ip -j route show table 1000"), "\"dst\":\"10.3.0.0/24\"");
	CHECK_HAS(sh_in(ns_b, "ip -j route show table 1000"), "\"mtu\":1300");
	CHECK_HAS(sh_in(ns_b, "ip -j route show table 1000"), "\"scope\":\"link\"");
	CHECK_HAS(sh_in(ns_b, "ip -j -6 route show 2001:db8:2::/64"), "\"metric\":50");

	CHECK(nl_route_get(b, &(struct nl_ip){ 0 }, &oif, NULL) == -EINVAL);
	src.family = 0;
	CHECK(nl_route_get(b, &(struct nl_ip){ .family = AF_INET, .addr = { 10, 2, 3, 4 } }, &oif,
			   &src) == 0);
	CHECK(oif == idx);
	CHECK_STR(nl_ip_format(&src, txt, sizeof(txt)), "10.1.0.2");
	oif = 0;
	CHECK(nl_route_get(b, &(struct nl_ip){ .family = AF_INET, .addr = { 8, 8, 8, 8 } }, &oif,
			   NULL) == 0); /* the default route */
	CHECK(oif == idx);
	src = ip("2001:db8:2::5");
	CHECK(nl_route_get(b, &src, &oif, &src) == 0);
	CHECK(oif == idx);
	CHECK_STR(nl_ip_format(&src, txt, sizeof(txt)), "2001:db8:1::2");
	oif = -7;
	err = nl_route_get(a, &(struct nl_ip){ .family = AF_INET, .addr = { 10, 9, 9, 9 } }, &oif,
			   NULL);
	CHECK(err == -ENETUNREACH);
	CHECK(oif == -7);
	src = ip("2001:db8:9::9");
	err = nl_route_get(a, &src, &oif, NULL);
	CHECK(err == -ENETUNREACH || err == -EHOSTUNREACH);

	CHECK(nl_default_route_ifindex(b) == idx);
	CHECK(nl_default_route_ifindex(a) == -ENOENT);
}

/* Two bridge-mode macvlans on one master answer each other's neighbour solicitations. */
static void test_dad_failure(struct nl *a, struct nl *b, int master)
{
	struct nl_macvlan_req req = { .master_ifindex = master,
				      .netns_fd = -1,
				      .name = "dup0",
				      .mode = NL_MACVLAN_BRIDGE,
				      .bcqueuelen = -1 };
	struct nl_ip dup = ip("2001:db8:1::2");
	int idx, err;

	CHECK(sysctl_in(ns_a, "net.ipv6.conf.default.accept_dad", "1") == 0);
	CHECK(nl_macvlan_create(a, &req) == 0); /* netns_fd -1: here, in A */
	idx = nl_link_index(a, "dup0");
	CHECK(idx > 0);
	CHECK(nl_link_index(b, "dup0") == -ENODEV);
	CHECK(sysctl_in(ns_a, "net/ipv6/conf/dup0/accept_dad", "1") == 0);
	CHECK(nl_link_set_up(a, idx, true) == 0);
	CHECK(nl_addr_add(a, idx, &dup, 64) == 0);
	err = nl_addr_wait_dad(a, idx, 5000);
	CHECK(err == -EADDRNOTAVAIL);
	if (err != -EADDRNOTAVAIL)
		fprintf(stderr, "  DAD of a duplicate: %s\n", strerror(-err));
	CHECK_HAS(sh_in(ns_a, "ip -j addr show dev dup0"), "dadfailed");
	CHECK(nl_link_del(a, idx) == 0);
}

static void test_links(struct nl *a, struct nl *b)
{
	static const uint8_t mac[6] = { 0x02, 0x00, 0x00, 0xaa, 0xbb, 0x01 };
	struct nl_macvlan_req req = { .netns_fd = ns_b,
				      .name = "tmp0",
				      .mode = NL_MACVLAN_BRIDGE,
				      .mtu = 1400,
				      .mac = mac,
				      .bcqueuelen = 100 };
	struct nl_link link = { .ifindex = 0 };
	const char *out;
	int master, idx, err;

	master = nl_link_index(a, "veth0");
	CHECK(master > 0);
	CHECK(nl_link_index(a, "nosuchlink") == -ENODEV);
	CHECK(nl_link_index(a, "") == -EINVAL);
	CHECK(nl_link_get(a, master, NULL, &link) == 0);
	CHECK_STR(link.kind, "veth");
	CHECK_STR(link.name, "veth0");
	CHECK(link.flags & IFF_UP);

	/* bad requests: the errno, and the kernel's reason when it gives one */
	req.master_ifindex = 9999;
	err = nl_macvlan_create(a, &req);
	CHECK(err == -ENODEV);
	fprintf(stderr, "  ext_ack for a missing master: \"%s\" (%s)\n", a->ext_ack,
		strerror(-err));
	req.master_ifindex = master;
	req.mode = 3;
	err = nl_macvlan_create(a, &req);
	CHECK(err == -EINVAL);
	fprintf(stderr, "  ext_ack for mode 3: \"%s\" (%s)\n", a->ext_ack, strerror(-err));
	req.mode = NL_MACVLAN_BRIDGE;

	CHECK(nl_macvlan_create(a, &req) == 0);
	CHECK(nl_macvlan_create(a, &req) == -EEXIST);
	CHECK(nl_link_index(a, "tmp0") == -ENODEV); /* it went straight into B */
	CHECK(nl_link_get(b, 0, "tmp0", &link) == 0);
	idx = link.ifindex;
	CHECK_STR(link.kind, "macvlan");
	CHECK(link.macvlan_mode == NL_MACVLAN_BRIDGE);
	CHECK(link.link_ifindex == master);
	CHECK(link.link_netnsid >= 0); /* the master lives in another namespace */
	CHECK(link.mtu == 1400);
	CHECK(link.mac_len == 6 && memcmp(link.mac, mac, 6) == 0);
	CHECK(link.bcqueuelen == 100);
	CHECK(!(link.flags & IFF_UP));
	out = sh_in(ns_b, "ip -j -d link show tmp0");
	CHECK_HAS(out, "\"info_kind\":\"macvlan\"");
	CHECK_HAS(out, "\"mode\":\"bridge\"");
	CHECK_HAS(out, "\"mtu\":1400");
	CHECK_HAS(out, "\"address\":\"02:00:00:aa:bb:01\"");
	CHECK_HAS(out, "\"bcqueuelen\":100");

	/* a second macvlan, private mode, random MAC, kernel's MTU, to collide names with */
	req = macvlan_into(master, ns_b, "net1", NL_MACVLAN_PRIVATE);
	CHECK(nl_macvlan_create(a, &req) == 0);
	CHECK(nl_link_get(b, 0, "net1", &link) == 0);
	CHECK(link.macvlan_mode == NL_MACVLAN_PRIVATE && link.mtu == 1500 && link.mac_len == 6);
	CHECK_HAS(sh_in(ns_b, "ip -j -d link show net1"), "\"mode\":\"private\"");

	CHECK(nl_link_rename(b, idx, "net1") == -EEXIST);
	CHECK(nl_link_index(b, "tmp0") == idx); /* untouched */
	CHECK(nl_link_del(b, link.ifindex) == 0);
	CHECK(nl_link_del(b, link.ifindex) == -ENODEV);
	CHECK(nl_link_get(b, link.ifindex, NULL, &link) == -ENODEV);
	CHECK(nl_link_rename(b, idx, "net1") == 0);
	CHECK(nl_link_index(b, "net1") == idx);
	CHECK(nl_link_index(b, "tmp0") == -ENODEV);
	CHECK_HAS(sh_in(ns_b, "ip -j link show net1"), "\"ifname\":\"net1\"");

	CHECK(nl_link_set_up(b, idx, true) == 0);
	CHECK(nl_link_get(b, idx, NULL, &link) == 0 && (link.flags & IFF_UP));
	/* Linux >= 6.2 renames a link that is up; older kernels say -EBUSY */
	err = nl_link_rename(b, idx, "net2");
	CHECK(err == 0 || err == -EBUSY);
	if (err == 0) {
		CHECK_HAS(sh_in(ns_b, "ip -j link show net2"), "\"UP\"");
		CHECK(nl_link_rename(b, idx, "net1") == 0);
	}
	CHECK_HAS(sh_in(ns_b, "ip -j link show net1"), "\"UP\"");

	/* addresses: net1 is up and its master has carrier, so DAD runs */
	CHECK(sysctl_in(ns_b, "net/ipv6/conf/net1/accept_dad", "1") == 0);
	CHECK(nl_addr_add(b, idx, &(struct nl_ip){ .family = AF_INET, .addr = { 10, 1, 0, 2 } },
			  24) == 0);
	CHECK(nl_addr_add(b, idx, &(struct nl_ip){ .family = AF_INET, .addr = { 10, 1, 0, 2 } },
			  24) == -EEXIST);
	CHECK(nl_addr_add(b, idx, &(struct nl_ip){ .family = AF_INET }, 33) == -EINVAL);
	CHECK(nl_addr_add(b, idx, &(struct nl_ip){ .family = 0 }, 8) == -EINVAL);
	CHECK(nl_addr_add(b, idx,
			  &(struct nl_ip){ .family = AF_INET6,
					   .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 2 } },
			  64) == 0);
	err = nl_addr_wait_dad(b, idx, 5000);
	CHECK(err == 0);
	if (err)
		fprintf(stderr, "  DAD: %s\n", strerror(-err));
	check_has_addr(b, idx, "10.1.0.2", 24, true);
	check_has_addr(b, idx, "2001:db8:1::2", 64, true);
	check_has_addr(b, 0, "10.1.0.2", 24, true);
	out = sh_in(ns_b, "ip -j addr show dev net1");
	CHECK_HAS(out, "\"local\":\"10.1.0.2\",\"prefixlen\":24");
	CHECK_HAS(out, "\"local\":\"2001:db8:1::2\",\"prefixlen\":64");

	test_routes(a, b, idx);
	test_dad_failure(a, b, master);

	/* a link that is down keeps its addresses tentative and has no carrier: no DAD can run, so
	 * the wait ends at once (it would end in -ETIMEDOUT if it waited) */
	req = macvlan_into(master, ns_b, "down0", NL_MACVLAN_VEPA);
	CHECK(nl_macvlan_create(a, &req) == 0);
	err = nl_link_index(b, "down0");
	CHECK(nl_addr_add(b, err,
			  &(struct nl_ip){ .family = AF_INET6,
					   .addr = { 0x20, 0x01, 0x0d, 0xb8, 0, 1, [15] = 3 } },
			  64) == 0);
	CHECK(nl_addr_wait_dad(b, err, 5000) == -ENETDOWN);
	CHECK(nl_link_del(b, err) == 0);

	CHECK(nl_link_set_up(b, idx, false) == 0);
	CHECK(nl_link_get(b, idx, NULL, &link) == 0 && !(link.flags & IFF_UP));
	CHECK(nl_link_del(b, idx) == 0);
	CHECK(nl_link_index(b, "net1") == -ENODEV);
	CHECK_STR(sh_in(ns_b, "ip -o link show | grep -v ' lo:'"), "");
}

/*
 * Only the kernel may answer: another netlink socket of the netns (any CAP_NET_ADMIN process
 * there may open one) sending a forged reply to our port id is refused by the kernel.
 */
static void test_replies_only_from_the_kernel(struct nl *a)
{
	struct sockaddr_nl to = { .nl_family = AF_NETLINK, .nl_pid = a->portid };
	struct nlmsghdr forged = { .nlmsg_len = sizeof(forged),
				   .nlmsg_type = NLMSG_DONE,
				   .nlmsg_seq = a->seq + 1,
				   .nlmsg_pid = a->portid };
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);

	CHECK(fd >= 0);
	if (fd < 0)
		return;
	errno = 0;
	CHECK(sendto(fd, &forged, sizeof(forged), 0, (struct sockaddr *)&to, sizeof(to)) < 0 &&
	      errno == ECONNREFUSED);
	close(fd);
	/* and the kernel still answers */
	CHECK(nl_link_index(a, "lo") > 0);
}

static int run(void)
{
	struct nl a = { .sock = NULL }, b = { .sock = NULL }, zero = { .sock = NULL };

	if (unshare(CLONE_NEWNET) < 0)
		return perror("unshare"), 1;
	ns_a = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (unshare(CLONE_NEWNET) < 0)
		return perror("unshare"), 1;
	ns_b = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (ns_a < 0 || ns_b < 0 || setns(ns_a, CLONE_NEWNET) < 0)
		return perror("netns"), 1;
	if (system("ip link set lo up && ip link add veth0 type veth peer name veth1 && "
		   "ip link set veth0 up && ip link set veth1 up") != 0)
		return fprintf(stderr, "cannot create the veth pair\n"), 1;

	CHECK(nl_open(&a) == 0);
	CHECK(nl_open_in_netns(&b, ns_b) == 0);
	CHECK(nl_open_in_netns(&zero, -1) < 0 && zero.sock == NULL);
	CHECK(a.portid != 0 && b.portid != 0);
	if (!a.sock || !b.sock)
		return check_summary();
	CHECK(nl_link_index(&b, "veth0") == -ENODEV);

	test_replies_only_from_the_kernel(&a);
	test_netns();
	test_sysctl();
	test_links(&a, &b);

	nl_close(&a);
	nl_close(&a); /* twice: a no-op */
	nl_close(&b);
	nl_close(&zero);
	CHECK(nl_link_index(&a, "lo") == -EBADF);
	return check_summary();
}

int main(void)
{
	int status;
	pid_t pid;

	if (geteuid() != 0) {
		printf("skipped: needs root\n");
		return 77;
	}
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return perror("fork"), 1;
	if (pid == 0) {
		exit(run()); /* exit(), not _exit(): flush stdout, let LeakSanitizer look */
	}
	if (waitpid(pid, &status, 0) < 0)
		return perror("waitpid"), 1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
