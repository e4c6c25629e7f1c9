// SPDX-License-Identifier: Apache-2.0
/*
 * mignet doctor's probes over the wire: the ICMP echo on a socket bound to the migration
 * interface (a ping socket first, then a raw one, else a TCP connect to the sink's port
 * stands in), the TCP throughput probe, and the sink that answers it (see mig_doctor.c for
 * the theory of operation and the sink's wire format).
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
#include "mig_doctor_priv.h"
#include "mig_parse.h"
#include "mig_stream.h"
#include "netlink/nl.h"

#define ECHO_TRIES 3
#define ECHO_WAIT 1.0	  /* seconds per try */
#define CONNECT_WAIT 3000 /* ms */
#define SINK_IDLE 10	  /* s */
#define BUF_BYTES (1u << 20)

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
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) <
	    0) {
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
		if (sendto(fd, pkt, sizeof(pkt), 0, (const struct sockaddr *)&peer->ss, peer->len) <
		    0) {
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
			if (n > 0 &&
			    is_reply(peer, &from, buf, (size_t)n, *ret_raw, id, (uint16_t)tries)) {
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
	if (setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) <
		    0 ||
	    (src && bind(fd, (const struct sockaddr *)&src->ss, src->len) < 0))
		goto out;
	if (connect(fd, (const struct sockaddr *)&dst->ss, dst->len) < 0) {
		if (errno != EINPROGRESS)
			goto out;
		pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
		r = poll(&pfd, 1, CONNECT_WAIT);
		if (r == 0) {
			errno = ETIMEDOUT;
			goto out;
		}
		if (r < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			goto out;
		if (soerr) {
			errno = soerr;
			goto out;
		}
	}
	if (fcntl(fd, F_SETFL, 0) < 0)
		goto out;
	return fd;
out:
	r = -errno;
	close(fd);
	return r;
}

/* Why no ICMP socket could be opened, when it is a matter of privilege. */
static const char *no_icmp_why(int r)
{
	return r == -EPERM || r == -EACCES
		       ? ": ping sockets are off here (net.ipv4.ping_group_range) "
			 "and a raw socket needs CAP_NET_RAW"
		       : "";
}

void mig_doctor_check_peer(const struct mig_doctor_opts *o, const struct mig_addr *peer,
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
		mig_check_set(c, MIG_CHECK_PASS,
			      "%s answered an ICMP echo over %s in %.3f ms (%s "
			      "socket)",
			      text, o->interface, ms, raw ? "raw" : "ping");
		return;
	}
	if (r != -ETIMEDOUT) { /* no ICMP socket: a TCP connection to the sink's port instead */
		fd = tcp_connect(o->interface, src, peer);
		if (fd >= 0 || fd == -ECONNREFUSED) {
			if (fd >= 0)
				close(fd);
			snprintf(c->actual, sizeof(c->actual), "TCP port %u %s",
				 mig_addr_port(peer), fd >= 0 ? "accepted" : "refused");
			mig_check_set(c, MIG_CHECK_PASS,
				      "%s answered TCP port %u over %s (%s; no ICMP "
				      "socket: %s%s)",
				      text, mig_addr_port(peer), o->interface,
				      fd >= 0 ? "accepted" : "refused", strerror(-r),
				      no_icmp_why(r));
			return;
		}
		mig_check_set(c, MIG_CHECK_FAIL,
			      "no ICMP socket (%s%s) and TCP port %u of %s over %s: "
			      "%s",
			      strerror(-r), no_icmp_why(r), mig_addr_port(peer), text, o->interface,
			      strerror(-fd));
		return;
	}
	snprintf(c->actual, sizeof(c->actual), "no answer");
	mig_check_set(c, MIG_CHECK_FAIL,
		      "%s did not answer %d ICMP echo requests over %s (%s socket%s%s)", text,
		      ECHO_TRIES, o->interface, raw ? "raw" : "ping", send_err ? "; send: " : "",
		      send_err ? strerror(send_err) : "");
}

void mig_doctor_check_throughput(const struct mig_doctor_opts *o, const struct mig_addr *peer,
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
		mig_check_set(c, MIG_CHECK_FAIL,
			      "connect to %s port %u over %s: %s (is `mignet doctor "
			      "--serve` running on the peer?)",
			      text, mig_addr_port(peer), o->interface, strerror(-fd));
		return;
	}
	buf = malloc(BUF_BYTES);
	if (!buf) {
		close(fd);
		mig_check_set(c, MIG_CHECK_FAIL, "out of memory");
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
		mig_check_set(c, MIG_CHECK_FAIL, "stream to %s port %u: %s after %s", text,
			      mig_addr_port(peer), strerror(-r),
			      mig_format_bytes((double)sent, sz, sizeof(sz)));
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
		mig_check_set(c, MIG_CHECK_FAIL, "the sink counted %" PRIu64 " bytes of %" PRIu64,
			      got, sent);
	else if (o->min_gbps > 0 && rep->probe_gbps < o->min_gbps)
		mig_check_set(c, MIG_CHECK_FAIL, "%.3f Gbit/s (%s in %.3f s), below %.3f",
			      rep->probe_gbps, sz, t, o->min_gbps);
	else
		mig_check_set(c, MIG_CHECK_PASS, "%.3f Gbit/s (%s in %.3f s to %s port %u)",
			      rep->probe_gbps, sz, t, text, mig_addr_port(peer));
}

/* route, peer, throughput. */
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
	    setsockopt(fd, SOL_SOCKET, SO_BINDTODEVICE, ifname, (socklen_t)strlen(ifname) + 1) <
		    0 ||
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
			event(r < 0 ? "dropped" : "served",
			      mig_addr_format(&peer, ptext, sizeof(ptext)), mig_addr_port(&peer), 0,
			      opaque);
	}
	r = 0;
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return r;
}
