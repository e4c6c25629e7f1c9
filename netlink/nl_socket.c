// SPDX-License-Identifier: Apache-2.0
/*
 * The NETLINK_ROUTE socket and its one request/reply loop.
 *
 * Theory of operation: every operation builds one request and hands it to nl_request(),
 * which stamps it with NLM_F_ACK and a fresh sequence number, sends it, and reads until the
 * kernel has said everything it will say about it: the ACK (NLMSG_ERROR with error 0 or
 * -errno) for a plain request, NLMSG_DONE for a dump (a dump that fails to start ends with
 * an error ACK instead). Messages that are not replies to this request (wrong portid or
 * sequence) are skipped. Data messages go to the caller's callback, one per message; the
 * callback then walks the attributes with one libmnl callback per nesting level.
 *
 * The socket sets NETLINK_EXT_ACK, so a failing kernel also says why, and NETLINK_CAP_ACK,
 * so it does not echo our whole request back in the ACK. The reason text lands in
 * nl->ext_ack; it is cleared at the start of every request.
 */
#include <errno.h>
#include <libmnl/libmnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "netlink/nl.h"
#include "netlink/nl_priv.h"

/**
 * nl_open() - open a NETLINK_ROUTE socket in the caller's current network namespace
 * @ret: receives the socket; untouched on failure.
 * Return: 0, or -errno.
 */
int nl_open(struct nl *ret)
{
	const struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct mnl_socket *sock;
	struct timespec ts;
	int one = 1, err;

	sock = mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC);
	if (!sock)
		return -errno;
	/* Both options are best effort: old kernels lack them and still work. */
	mnl_socket_setsockopt(sock, NETLINK_EXT_ACK, &one, sizeof(one));
	mnl_socket_setsockopt(sock, NETLINK_CAP_ACK, &one, sizeof(one));
	/*
	 * Connected to the kernel (port id 0), the socket takes unicast from the kernel only:
	 * af_netlink refuses (ECONNREFUSED) what another socket sends to our port id, so a
	 * CAP_NET_ADMIN process of the same netns (a privileged pod, for a socket opened in its
	 * netns) cannot forge a reply by guessing our sequence number.
	 */
	if (mnl_socket_bind(sock, 0, MNL_SOCKET_AUTOPID) < 0 ||
	    connect(mnl_socket_get_fd(sock), (const struct sockaddr *)&kernel, sizeof(kernel)) <
		    0) {
		err = -errno;
		mnl_socket_close(sock);
		return err;
	}
	clock_gettime(CLOCK_MONOTONIC, &ts);
	memset(ret, 0, sizeof(*ret));
	ret->sock = sock;
	ret->portid = mnl_socket_get_portid(sock);
	ret->seq = (uint32_t)(ts.tv_sec ^ ts.tv_nsec);
	return 0;
}

/**
 * nl_open_in_netns() - open a NETLINK_ROUTE socket inside the netns behind @netns_fd
 * @ret: receives the socket; untouched on failure.
 * @netns_fd: a network namespace fd (see nl_netns_open()).
 *
 * If the thread cannot get back to its own namespace (which only a vanished original
 * namespace could cause), the new socket is closed and that error is returned.
 * Return: 0, or -errno.
 */
int nl_open_in_netns(struct nl *ret, int netns_fd)
{
	struct nl tmp;
	int orig, err, err2;

	err = nl_netns_enter(netns_fd, &orig);
	if (err < 0)
		return err;
	err = nl_open(&tmp);
	err2 = nl_netns_return(orig);
	if (err == 0 && err2 < 0) {
		nl_close(&tmp);
		err = err2;
	}
	if (err == 0)
		*ret = tmp;
	return err;
}

/**
 * nl_close() - close the socket
 * @nl: a socket from nl_open(), a zeroed struct, or one already closed (then a no-op).
 */
void nl_close(struct nl *nl)
{
	if (!nl || !nl->sock)
		return;
	mnl_socket_close(nl->sock);
	nl->sock = NULL;
}

struct ext_ack_ctx {
	char *msg;
	size_t size;
};

static int parse_ext_ack_attr(const struct nlattr *attr, void *data)
{
	struct ext_ack_ctx *ctx = data;

	switch (mnl_attr_get_type(attr)) {
	case NLMSGERR_ATTR_MSG:
		if (mnl_attr_validate(attr, MNL_TYPE_NUL_STRING) < 0)
			return MNL_CB_ERROR;
		if (ctx->msg && ctx->size)
			snprintf(ctx->msg, ctx->size, "%s", mnl_attr_get_str(attr));
		break;
	}
	return MNL_CB_OK;
}

/**
 * nl_ext_ack_parse() - decode an NLMSG_ERROR or NLMSG_DONE message
 * @nlh: the message (its nlmsg_len must lie within the buffer it is in).
 * @msg: receives NLMSGERR_ATTR_MSG, "" if absent or malformed; may be NULL.
 * @size: size of @msg.
 * Return: the error carried (0 or -errno), or -EBADMSG if the message is too short.
 */
int nl_ext_ack_parse(const struct nlmsghdr *nlh, char *msg, size_t size)
{
	struct ext_ack_ctx ctx = { .msg = msg, .size = size };
	size_t payload = mnl_nlmsg_get_payload_len(nlh);
	size_t off;
	int error;

	if (msg && size)
		msg[0] = '\0';
	if (nlh->nlmsg_len < MNL_NLMSG_HDRLEN)
		return -EBADMSG;
	if (nlh->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = mnl_nlmsg_get_payload(nlh);

		if (payload < sizeof(*e))
			return -EBADMSG;
		/* the kernel sends -errno; never let a positive value pass as success */
		error = e->error > 0 ? -e->error : e->error;
		off = sizeof(*e);
		/* Unless capped, the whole request is echoed and the TLVs follow its payload. */
		if (!(nlh->nlmsg_flags & NLM_F_CAPPED)) {
			if (e->msg.nlmsg_len < sizeof(e->msg))
				return error;
			off += e->msg.nlmsg_len - sizeof(e->msg);
		}
	} else {
		/* NLMSG_DONE: an int, the dump's error, then maybe TLVs. Older kernels: no int. */
		if (payload < sizeof(int))
			return 0;
		memcpy(&error, mnl_nlmsg_get_payload(nlh), sizeof(error));
		off = sizeof(int);
	}
	if (error > 0)
		error = -error;
	if (!(nlh->nlmsg_flags & NLM_F_ACK_TLVS) || MNL_ALIGN(off) > payload)
		return error;
	if (mnl_attr_parse(nlh, off, parse_ext_ack_attr, &ctx) < 0 && msg && size)
		msg[0] = '\0';
	return error;
}

/*
 * mnl_nlmsg_ok() of libmnl 1.0.4 compares (int)nlmsg_len, so a length >= 2^31 would pass and
 * the walk would jump far past the buffer: compare unsigned.
 */
static bool msg_fits(const struct nlmsghdr *m, int len)
{
	return len >= (int)sizeof(*m) && m->nlmsg_len >= sizeof(*m) &&
	       m->nlmsg_len <= (unsigned int)len;
}

/* One reply message of the current request; returns true once the request is complete. */
static bool handle_reply(struct nl *nl, const struct nlmsghdr *m, bool dump, nl_msg_cb cb,
			 void *data, int *err)
{
	int e;

	switch (m->nlmsg_type) {
	case NLMSG_NOOP:
		return false;
	case NLMSG_OVERRUN:
		if (*err == 0)
			*err = -ENOBUFS;
		return false;
	case NLMSG_ERROR:
		e = nl_ext_ack_parse(m, nl->ext_ack, sizeof(nl->ext_ack));
		if (e < 0 && *err == 0)
			*err = e;
		if (e == 0)
			nl->ext_ack[0] = '\0'; /* a warning on success is not an error's reason */
		return true;
	case NLMSG_DONE:
		if (!dump)
			return false;
		e = nl_ext_ack_parse(m, nl->ext_ack, sizeof(nl->ext_ack));
		if (e < 0 && *err == 0)
			*err = e;
		if (e == 0)
			nl->ext_ack[0] = '\0';
		return true;
	default:
		if (*err == 0 && cb) {
			e = cb(m, data);
			if (e < 0)
				*err = e;
		}
		return false;
	}
}

/**
 * nl_request() - send @nlh and read every reply to it; see nl_priv.h.
 * @nl: the socket.
 * @nlh: the request; flags NLM_F_REQUEST and NLM_F_ACK are added, nlmsg_seq is set.
 * @cb: called for each data message (may be NULL).
 * @data: passed to @cb.
 * Return: 0, or -errno.
 */
int nl_request(struct nl *nl, struct nlmsghdr *nlh, nl_msg_cb cb, void *data)
{
	bool dump = (nlh->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
	bool done = false;
	char *buf;
	int err = 0;

	if (!nl || !nl->sock)
		return -EBADF;
	nl->ext_ack[0] = '\0';
	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = ++nl->seq;
	nlh->nlmsg_pid = 0;
	buf = malloc(MNL_SOCKET_DUMP_SIZE);
	if (!buf)
		return -ENOMEM;
	if (mnl_socket_sendto(nl->sock, nlh, nlh->nlmsg_len) < 0) {
		err = -errno;
		goto out;
	}
	while (!done) {
		ssize_t n = mnl_socket_recvfrom(nl->sock, buf, MNL_SOCKET_DUMP_SIZE);
		int len;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			/* ENOSPC: one datagram did not fit and is lost; keep reading to the end. */
			if (errno == ENOSPC) {
				if (err == 0)
					err = -EMSGSIZE;
				continue;
			}
			if (err == 0)
				err = -errno;
			break;
		}
		len = (int)n;
		for (const struct nlmsghdr *m = (const void *)buf; msg_fits(m, len);
		     m = mnl_nlmsg_next(m, &len)) {
			if (m->nlmsg_pid != nl->portid || m->nlmsg_seq != nl->seq)
				continue; /* a stale reply or a notification: not ours */
			if (handle_reply(nl, m, dump, cb, data, &err)) {
				done = true;
				break;
			}
		}
	}
out:
	free(buf);
	return err;
}
