// SPDX-License-Identifier: Apache-2.0
/* Unit tests of netlink/'s pure helpers: address text, sysctl paths, extended-ACK decoding. */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <linux/rtnetlink.h>
#include <string.h>

#include "netlink/nl.h"
#include "netlink/nl_priv.h"
#include "tests/unit/check.h"

static void test_ip(void)
{
	struct nl_ip ip = { .family = 99 };
	char buf[INET6_ADDRSTRLEN];

	CHECK(nl_ip_parse("192.168.200.7", &ip) == 0);
	CHECK(ip.family == AF_INET);
	CHECK(ip.addr[0] == 192 && ip.addr[3] == 7);
	CHECK_STR(nl_ip_format(&ip, buf, sizeof(buf)), "192.168.200.7");
	CHECK(nl_ip_parse("2001:DB8::1", &ip) == 0);
	CHECK(ip.family == AF_INET6);
	CHECK_STR(nl_ip_format(&ip, buf, sizeof(buf)), "2001:db8::1");
	CHECK(nl_ip_parse("::ffff:10.0.0.1", &ip) == 0 && ip.family == AF_INET6);

	ip.family = 99;
	CHECK(nl_ip_parse("10.0.0.1/24", &ip) == -EINVAL);
	CHECK(nl_ip_parse("", &ip) == -EINVAL);
	CHECK(nl_ip_parse("256.0.0.1", &ip) == -EINVAL);
	CHECK(nl_ip_parse("fe80::1%eth0", &ip) == -EINVAL);
	CHECK(nl_ip_parse(NULL, &ip) == -EINVAL);
	CHECK(ip.family == 99); /* untouched on failure */

	ip.family = 0;
	CHECK_STR(nl_ip_format(&ip, buf, sizeof(buf)), "");
	nl_ip_parse("2001:db8:1:2:3:4:5:6", &ip);
	CHECK_STR(nl_ip_format(&ip, buf, 8), ""); /* too small: empty, not truncated */
}

static void test_sysctl_path(void)
{
	char buf[64];

	CHECK(nl_sysctl_path("net.ipv4.ip_forward", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "/proc/sys/net/ipv4/ip_forward");
	CHECK(nl_sysctl_path("net/ipv4/conf/eth0.100/arp_notify", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "/proc/sys/net/ipv4/conf/eth0.100/arp_notify");
	CHECK(nl_sysctl_path("net/ipv6/conf/a.b/accept_dad", buf, sizeof(buf)) == 0);
	CHECK_STR(buf, "/proc/sys/net/ipv6/conf/a.b/accept_dad");
	CHECK(nl_sysctl_path("", buf, sizeof(buf)) == -EINVAL);
	CHECK(nl_sysctl_path("/etc/passwd", buf, sizeof(buf)) == -EINVAL);
	CHECK(nl_sysctl_path("net/../../etc", buf, sizeof(buf)) == -EINVAL);
	CHECK(nl_sysctl_path(".net", buf, sizeof(buf)) == -EINVAL);
	CHECK(nl_sysctl_path("net.ipv4.conf.all.a_very_long_name_indeed_longer", buf, 32) ==
	      -ENAMETOOLONG);
	CHECK(nl_sysctl_write("net.ipv4.does_not_exist_here", "1") == -ENOENT);
}

/* Build an NLMSG_ERROR as the kernel does: nlmsgerr, the echoed request unless capped, TLVs. */
static struct nlmsghdr *build_err(char *buf, int error, bool capped, bool tlvs, const char *text)
{
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlmsgerr *e;
	/* the request being answered: an RTM_NEWLINK with a 24-byte payload (ifinfomsg + 8) */
	size_t req_payload = sizeof(struct ifinfomsg) + 8;

	nlh->nlmsg_type = NLMSG_ERROR;
	e = mnl_nlmsg_put_extra_header(nlh, sizeof(*e) + (capped ? 0 : req_payload));
	e->error = error;
	e->msg.nlmsg_len = (uint32_t)(sizeof(e->msg) + req_payload);
	e->msg.nlmsg_type = RTM_NEWLINK;
	if (capped)
		nlh->nlmsg_flags |= NLM_F_CAPPED;
	if (tlvs) {
		nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
		mnl_attr_put_u32(nlh, NLMSGERR_ATTR_OFFS, 20);
		mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, text);
	}
	return nlh;
}

static void test_ext_ack(void)
{
	char buf[512], msg[64];
	struct nlmsghdr *nlh;

	nlh = build_err(buf, -EINVAL, true, true, "Unknown macvlan mode");
	CHECK(nl_ext_ack_parse(nlh, msg, sizeof(msg)) == -EINVAL);
	CHECK_STR(msg, "Unknown macvlan mode");

	nlh = build_err(buf, -ENODEV, false, true, "master not found");
	CHECK(nl_ext_ack_parse(nlh, msg, sizeof(msg)) == -ENODEV);
	CHECK_STR(msg, "master not found");

	nlh = build_err(buf, -EEXIST, true, false, "ignored");
	CHECK(nl_ext_ack_parse(nlh, msg, sizeof(msg)) == -EEXIST);
	CHECK_STR(msg, "");

	nlh = build_err(buf, 0, true, false, "");
	CHECK(nl_ext_ack_parse(nlh, msg, sizeof(msg)) == 0);

	/* truncated to the caller's buffer */
	nlh = build_err(buf, -EINVAL, true, true, "a rather long explanation from the kernel");
	CHECK(nl_ext_ack_parse(nlh, msg, 8) == -EINVAL);
	CHECK_STR(msg, "a rathe");
	CHECK(nl_ext_ack_parse(nlh, NULL, 0) == -EINVAL);

	/* too short to hold a struct nlmsgerr */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_ERROR;
	mnl_nlmsg_put_extra_header(nlh, 4);
	CHECK(nl_ext_ack_parse(nlh, msg, sizeof(msg)) == -EBADMSG);

	/* a malformed string TLV (no NUL) is dropped, the error still comes through */
	nlh = build_err(buf, -EPERM, true, false, "");
	nlh->nlmsg_flags |= NLM_F_ACK_TLVS;
	mnl_attr_put(nlh, NLMSGERR_ATTR_MSG, 4, "abcd");
	CHECK(nl_ext_ack_parse(nlh, msg, sizeof(msg)) == -EPERM);
	CHECK_STR(msg, "");

	/* NLMSG_DONE of a failed dump: an int, then the TLVs */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_DONE;
	nlh->nlmsg_flags = NLM_F_MULTI | NLM_F_ACK_TLVS;
	*(int *)mnl_nlmsg_put_extra_header(nlh, sizeof(int)) = -EMSGSIZE;
	mnl_attr_put_strz(nlh, NLMSGERR_ATTR_MSG, "dump failed");
	CHECK(nl_ext_ack_parse(nlh, msg, sizeof(msg)) == -EMSGSIZE);
	CHECK_STR(msg, "dump failed");

	/* NLMSG_DONE with no payload (very old kernels) is a success */
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = NLMSG_DONE;
	CHECK(nl_ext_ack_parse(nlh, msg, sizeof(msg)) == 0);
}

int main(void)
{
	test_ip();
	test_sysctl_path();
	test_ext_ack();
	return check_summary();
}
