/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rtnetlink on libmnl: the few link, address and route operations the plugins need.
 *
 * A struct nl is one NETLINK_ROUTE socket. A netlink socket belongs to the network namespace
 * it was created in, for its whole life, so "operate inside the container" means "open a
 * socket there" (nl_open_in_netns), never "switch the thread back and forth around each call".
 *
 * Every request carries NLM_F_ACK and waits for the kernel's answer. On failure a function
 * returns -errno and leaves the kernel's extended-ACK text (if it sent one) in nl->ext_ack,
 * for the caller to surface in its error details. Nothing here prints, allocates globals or
 * knows about CNI or JSON.
 */
#ifndef MIGNET_NETLINK_NL_H
#define MIGNET_NETLINK_NL_H

#include <net/if.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mnl_socket;

struct nl {
	struct mnl_socket *sock;
	uint32_t portid;
	uint32_t seq;
	char ext_ack[256]; /* the kernel's last extended-ACK message, "" if none */
};

/* An IPv4 or IPv6 address: family AF_INET (first 4 bytes of addr used) or AF_INET6. */
struct nl_ip {
	int family;
	uint8_t addr[16];
};

/* macvlan modes, values of IFLA_MACVLAN_MODE */
enum nl_macvlan_mode {
	NL_MACVLAN_PRIVATE = 1,
	NL_MACVLAN_VEPA = 2,
	NL_MACVLAN_BRIDGE = 4,
	NL_MACVLAN_PASSTHRU = 8,
	NL_MACVLAN_SOURCE = 16,
};

struct nl_macvlan_req {
	int master_ifindex; /* in the namespace of the socket the request goes through */
	int netns_fd;	    /* create straight into this netns (IFLA_NET_NS_FD); -1 = here */
	const char *name;   /* name to create with (a temporary one, renamed later) */
	enum nl_macvlan_mode mode;
	uint32_t mtu;	    /* 0 = let the kernel choose (the master's MTU) */
	const uint8_t *mac; /* 6 bytes, NULL = random */
	int32_t bcqueuelen; /* IFLA_MACVLAN_BC_QUEUE_LEN; < 0 = leave the kernel default */
};

struct nl_link {
	int ifindex;
	char name[IF_NAMESIZE];
	char kind[32];	       /* IFLA_INFO_KIND, "" when none */
	uint32_t macvlan_mode; /* valid when kind is "macvlan" */
	int link_ifindex;      /* IFLA_LINK (the master of a macvlan), 0 if absent */
	int32_t link_netnsid;  /* IFLA_LINK_NETNSID, -1 if absent (master in same netns) */
	uint8_t mac[32];
	size_t mac_len;
	uint32_t mtu;
	uint32_t flags;	     /* ifi_flags: IFF_UP, ... */
	uint32_t bcqueuelen; /* IFLA_MACVLAN_BC_QUEUE_LEN if reported, else 0 */
};

struct nl_addr {
	struct nl_ip ip;
	uint8_t prefixlen;
	uint32_t flags; /* IFA_F_TENTATIVE, IFA_F_DADFAILED, ... (IFA_FLAGS if present) */
	uint8_t scope;
};

struct nl_route {
	int family;
	struct nl_ip dst; /* ignored when dst_len is 0 (default route) */
	uint8_t dst_len;
	struct nl_ip gw;   /* gw.family == 0: no gateway */
	int ifindex;	   /* output interface, 0 = none */
	uint32_t priority; /* RTA_PRIORITY (metric), 0 = unset */
	uint32_t table;	   /* 0 = main (RT_TABLE_MAIN) */
	uint8_t scope;	   /* RT_SCOPE_*; on add, 0 means: link if no gateway, else universe */
	uint32_t mtu;	   /* RTAX_MTU, 0 = unset */
};

/**
 * nl_open() - open a NETLINK_ROUTE socket in the caller's current network namespace
 * Return: 0, or -errno.
 */
int nl_open(struct nl *ret);

/**
 * nl_open_in_netns() - open a NETLINK_ROUTE socket inside the netns behind @netns_fd
 * The calling thread enters the netns only for the socket() call and is back before return.
 * Return: 0, or -errno.
 */
int nl_open_in_netns(struct nl *ret, int netns_fd);

/** nl_close() - close the socket; accepts a zeroed or already closed struct. */
void nl_close(struct nl *nl);

/**
 * nl_netns_open() - open a network namespace file (e.g. /var/run/netns/x, /proc/PID/ns/net)
 * Checks it really is a namespace file (nsfs), so a plain file or directory is refused.
 * Return: an O_RDONLY|O_CLOEXEC fd, -ENOENT if absent, -EINVAL if not a netns, or -errno.
 */
int nl_netns_open(const char *path);

/**
 * nl_netns_enter() - move the calling thread into the netns @netns_fd
 * @ret_orig_fd: receives an fd of the namespace the thread was in, for nl_netns_return().
 * Return: 0, or -errno (then the thread is where it was).
 */
int nl_netns_enter(int netns_fd, int *ret_orig_fd);

/** nl_netns_return() - go back to @orig_fd's namespace and close it. Return: 0 or -errno. */
int nl_netns_return(int orig_fd);

/** nl_link_index() - Return: the ifindex of @name in @nl's namespace, or -ENODEV / -errno. */
int nl_link_index(struct nl *nl, const char *name);

/** nl_link_get() - read a link by @ifindex (> 0) or else by @name. Return: 0 or -errno. */
int nl_link_get(struct nl *nl, int ifindex, const char *name, struct nl_link *ret);

/**
 * nl_macvlan_create() - create a macvlan link (RTM_NEWLINK, NLM_F_CREATE|NLM_F_EXCL)
 * Return: 0, -EEXIST if the name is taken in the target netns, or -errno (see nl->ext_ack).
 */
int nl_macvlan_create(struct nl *nl, const struct nl_macvlan_req *req);

/** nl_link_rename() - rename a (down) link. Return: 0, -EEXIST if taken, or -errno. */
int nl_link_rename(struct nl *nl, int ifindex, const char *new_name);

/** nl_link_set_up() - set or clear IFF_UP. Return: 0 or -errno. */
int nl_link_set_up(struct nl *nl, int ifindex, bool up);

/** nl_link_del() - delete a link. Return: 0, -ENODEV if it is gone already, or -errno. */
int nl_link_del(struct nl *nl, int ifindex);

/** nl_addr_add() - add an address (IFA_LOCAL and IFA_ADDRESS). Return: 0 or -errno. */
int nl_addr_add(struct nl *nl, int ifindex, const struct nl_ip *ip, uint8_t prefixlen);

/**
 * nl_addr_list() - all addresses of @family (AF_UNSPEC = both) on @ifindex (0 = all links)
 * @ret: receives a malloc'd array (free() it), @ret_n its length. Untouched on failure.
 * Return: 0 or -errno.
 */
int nl_addr_list(struct nl *nl, int ifindex, int family, struct nl_addr **ret, size_t *ret_n);

/**
 * nl_addr_wait_dad() - wait until no IPv6 address on @ifindex is tentative, while the link
 * has carrier (without it DAD cannot run)
 * Return: 0 when all are settled, -EADDRNOTAVAIL if one failed DAD (IFA_F_DADFAILED),
 * -ENETDOWN at once if one is tentative on a link without carrier, -ETIMEDOUT after
 * @timeout_ms, or -errno.
 */
int nl_addr_wait_dad(struct nl *nl, int ifindex, int timeout_ms);

/**
 * nl_route_add() - add a route beside any other to its destination (NLM_F_CREATE, no
 * NLM_F_EXCL). Return: 0, -EEXIST for a route identical to one the kernel holds, or -errno.
 */
int nl_route_add(struct nl *nl, const struct nl_route *route);

/**
 * nl_route_list() - routes of @family in @table (0 = main) leaving through @ifindex (0 = any);
 * a multipath route is one entry per hop (its interface and gateway)
 * @ret: receives a malloc'd array (free() it), @ret_n its length. Untouched on failure.
 * Return: 0 or -errno.
 */
int nl_route_list(struct nl *nl, int family, uint32_t table, int ifindex, struct nl_route **ret,
		  size_t *ret_n);

/**
 * nl_route_get() - ask the kernel which way it would send to @dst (RTM_GETROUTE, like ip route get)
 * @ret_ifindex: receives the output interface; @ret_src: the preferred source (may be NULL).
 * Return: 0, -ENETUNREACH / -EHOSTUNREACH when there is no route, or -errno.
 */
int nl_route_get(struct nl *nl, const struct nl_ip *dst, int *ret_ifindex, struct nl_ip *ret_src);

/**
 * nl_default_route_ifindex() - the output interface of the main table's default route
 * Tries IPv4 first, then IPv6. Return: the ifindex, -ENOENT if there is none, or -errno.
 */
int nl_default_route_ifindex(struct nl *nl);

/**
 * nl_sysctl_write() - write @value to /proc/sys/@key in the calling thread's netns
 * @key: dotted or slashed ("net/ipv4/conf/eth0/arp_notify"); an interface name in it
 * may contain dots, so callers should pass the slashed form when an ifname is part of it.
 * Return: 0 or -errno.
 */
int nl_sysctl_write(const char *key, const char *value);

/** nl_ip_parse() - parse a textual IPv4/IPv6 address. Return: 0 or -EINVAL. */
int nl_ip_parse(const char *text, struct nl_ip *ret);

/** nl_ip_format() - format @ip into @buf (INET6_ADDRSTRLEN bytes). Return: @buf. */
const char *nl_ip_format(const struct nl_ip *ip, char *buf, size_t size);

#endif
