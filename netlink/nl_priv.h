/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internals shared by the netlink/ files (and by its unit tests): the one request/reply loop
 * every operation goes through, and the pure helpers that can be tested without a kernel.
 */
#ifndef MIGNET_NETLINK_NL_PRIV_H
#define MIGNET_NETLINK_NL_PRIV_H

#include <linux/netlink.h>
#include <stddef.h>

#include "netlink/nl.h"

/* libmnl 1.0.4 (Debian 12) predates MNL_SOCKET_DUMP_SIZE; the value is libmnl 1.0.5's. */
#ifndef MNL_SOCKET_DUMP_SIZE
#define MNL_SOCKET_DUMP_SIZE 32768
#endif

/* Size of a request buffer: our largest request (a macvlan) is well under 256 bytes. */
#define NL_REQ_SIZE 1024

/*
 * Called for every reply message of the current request other than NLMSG_ERROR/DONE/NOOP.
 * Returns 0 to go on, or -errno: the loop then keeps draining the replies (so the socket
 * stays in step with the kernel) but calls no callback again and reports that error.
 */
typedef int (*nl_msg_cb)(const struct nlmsghdr *nlh, void *data);

/**
 * nl_request() - send @nlh (NLM_F_REQUEST|NLM_F_ACK added, seq assigned) and read every reply
 * A plain request ends at its ACK; a dump (NLM_F_DUMP) ends at NLMSG_DONE (or an error ACK).
 * Replies whose portid or sequence number are not ours are skipped. nl->ext_ack is cleared
 * first and receives the kernel's message when the request fails.
 * Return: 0, or -errno (the kernel's error, a callback's error, or a socket error).
 */
int nl_request(struct nl *nl, struct nlmsghdr *nlh, nl_msg_cb cb, void *data);

/**
 * nl_ext_ack_parse() - decode an NLMSG_ERROR or NLMSG_DONE message
 * @msg: receives NLMSGERR_ATTR_MSG ("" if absent), truncated to @size; may be NULL.
 * Honours NLM_F_CAPPED (the echoed request is then only its header) and NLM_F_ACK_TLVS.
 * Return: the error carried (0 for a plain ACK or a successful DONE, else -errno), or
 * -EBADMSG if the message is too short to hold it.
 */
int nl_ext_ack_parse(const struct nlmsghdr *nlh, char *msg, size_t size);

/**
 * nl_sysctl_path() - "/proc/sys/" + @key, with dots turned into slashes only when @key has no
 * slash at all (a slashed key may carry an interface name with dots in it).
 * Return: 0, -EINVAL for an empty key, a key with "..", or a leading slash, -ENAMETOOLONG.
 */
int nl_sysctl_path(const char *key, char *buf, size_t size);

/* Size in bytes of an address of @family (4 or 16), 0 for anything else. */
static inline size_t nl_ip_len(int family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

#endif
