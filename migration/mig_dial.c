// SPDX-License-Identifier: Apache-2.0
/*
 * The sending side of the transport (mig_transport.h): a connection bound to the migration
 * address and interface, the receiver's challenge answered with the token's HMAC, its
 * WELCOME awaited. The same for every stream of `send` and every connection of `migrate`.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_stream.h"
#include "mig_sum.h"
#include "mig_transport.h"

#define HANDSHAKE_TIMEOUT MIG_HANDSHAKE_TIMEOUT

int mig_dialer_init(struct mig_dialer *d, const char *interface, const char *target, uint16_t port,
		    const char *token, struct mig_error *err)
{
	char a[64], b[64];
	int r;

	*d = (struct mig_dialer){ .interface = interface, .token = token };
	r = mig_iface_address(interface, 0, &d->local, err);
	if (r < 0)
		return r;
	if (mig_parse_target(target, port, &d->target) < 0)
		return mig_error_set(err, -EINVAL,
				     "--target %s: not ADDR[:PORT] with a numeric "
				     "address",
				     target);
	if (d->target.ss.ss_family != d->local.ss.ss_family)
		return mig_error_set(err, -EAFNOSUPPORT,
				     "target %s and migration address %s are "
				     "of different families",
				     mig_addr_format(&d->target, a, sizeof(a)),
				     mig_addr_format(&d->local, b, sizeof(b)));
	return mig_route_check(&d->target, interface, err);
}

static int connect_timeout(int fd, const struct mig_addr *a, unsigned int seconds)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int flags = fcntl(fd, F_GETFL), soerr = 0, r;
	socklen_t len = sizeof(soerr);

	fcntl(fd, F_SETFL, flags | O_NONBLOCK);
	r = connect(fd, (const struct sockaddr *)&a->ss, a->len);
	if (r < 0 && errno != EINPROGRESS)
		return -errno;
	if (r < 0) {
		do {
			r = poll(&pfd, 1, (int)seconds * 1000);
		} while (r < 0 && errno == EINTR);
		if (r == 0)
			return -ETIMEDOUT;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
			return -errno;
		if (soerr)
			return -soerr;
	}
	fcntl(fd, F_SETFL, flags);
	return 0;
}

/* A new socket in *@fd, bound to the migration interface and address, connected within
 * @seconds. Return: 0 or -errno with err set. */
static int stream_connect(const struct mig_dialer *d, int *fd, unsigned int seconds,
			  struct mig_error *err)
{
	struct mig_addr local = d->local;
	char peer[64];
	int r;

	*fd = socket(d->target.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (*fd < 0)
		return mig_error_set(err, -errno, "socket: %s", strerror(errno));
	if (setsockopt(*fd, SOL_SOCKET, SO_BINDTODEVICE, d->interface,
		       (socklen_t)strlen(d->interface)) < 0)
		return mig_error_set(err, -errno, "SO_BINDTODEVICE %s: %s", d->interface,
				     strerror(errno));
	if (local.ss.ss_family == AF_INET)
		((struct sockaddr_in *)&local.ss)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&local.ss)->sin6_port = 0;
	if (bind(*fd, (struct sockaddr *)&local.ss, local.len) < 0)
		return mig_error_set(err, -errno, "bind to the migration address: %s",
				     strerror(errno));
	r = connect_timeout(*fd, &d->target, seconds);
	if (r < 0)
		return mig_error_set(err, r, "connect to %s port %u: %s",
				     mig_addr_format(&d->target, peer, sizeof(peer)),
				     mig_addr_port(&d->target), strerror(-r));
	return 0;
}

/* What a failed read of the receiver's answer @what (@n: from mig_read_full) means, in @err:
 * silence for @seconds is not a closed connection. Return: the error code. */
static int handshake_failed(unsigned int index, const char *peer, ssize_t n, const char *what,
			    unsigned int seconds, struct mig_error *err)
{
	if (n == -ETIMEDOUT)
		return mig_error_set(
			err, -ETIMEDOUT,
			"stream %u: %s accepted the connection but "
			"sent no %s within %u s: the handshake timed out (a stopped or "
			"overloaded receiver, or not a mignet receiver?)",
			index, peer, what, seconds);
	return mig_error_set(err, n ? (int)n : -ECONNRESET,
			     "stream %u: %s closed the connection during the handshake "
			     "(a --from allowlist that does not include us?)%s%s",
			     index, peer, n ? ": " : "", n ? strerror((int)-n) : "");
}

/*
 * Connects stream @index and reads the receiver's challenge (its header into @f, the nonce
 * into @nonce). A receiver flooded with handshakes sheds new connections with REJECT
 * "overloaded" instead of a challenge: connect again a few milliseconds later (staggered per
 * stream), until HANDSHAKE_TIMEOUT from the first attempt. Return: 0 or -errno with err set.
 */
static int stream_challenge(const struct mig_dialer *d, unsigned int index, int *fd,
			    uint64_t *retries, struct mig_frame *f,
			    uint8_t nonce[MIG_CHALLENGE_LEN], struct mig_error *err)
{
	double deadline = mig_now() + HANDSHAKE_TIMEOUT;
	uint8_t hdr[MIG_FRAME_HDR_LEN];
	unsigned int attempt;
	char peer[64];
	ssize_t n;
	int r;

	mig_addr_format(&d->target, peer, sizeof(peer));
	for (attempt = 0;; attempt++) {
		double left = deadline - mig_now();

		r = stream_connect(d, fd, left > 1 ? (unsigned int)left : 1, err);
		if (r < 0)
			return r;
		mig_set_timeouts(*fd, HANDSHAKE_TIMEOUT);
		/* the receiver speaks first: a challenge to answer with the token's HMAC */
		n = mig_read_full(*fd, hdr, sizeof(hdr));
		if (n == sizeof(hdr) && mig_frame_decode(hdr, f) == 0 &&
		    f->type == MIG_FRAME_REJECT && f->aux == MIG_REJECT_OVERLOADED &&
		    mig_now() + 0.05 < deadline) {
			close(*fd);
			*fd = -1;
			(*retries)++;
			usleep(5000 + (attempt * 7919 + index * 3571) % 20000);
			continue;
		}
		break;
	}
	if (n == sizeof(hdr) && mig_frame_decode(hdr, f) == 0 && f->type == MIG_FRAME_CHALLENGE)
		n = mig_read_full(*fd, nonce, MIG_CHALLENGE_LEN);
	else if (n == sizeof(hdr) && f->type == MIG_FRAME_REJECT)
		return mig_error_set(err, -EAGAIN,
				     "stream %u: the receiver %s refused the "
				     "connection: %s (still after %u attempts in %d s)",
				     index, peer, mig_reject_name(f->aux), attempt + 1,
				     HANDSHAKE_TIMEOUT);
	else if (n == sizeof(hdr))
		return mig_error_set(err, -EPROTO, "stream %u: %s is not a mignet receiver", index,
				     peer);
	if (n <= 0)
		return handshake_failed(index, peer, n, "challenge", HANDSHAKE_TIMEOUT, err);
	return 0;
}

/* The hello, answered: WELCOME, or why not. Return: 0 or -errno with @err set. */
static int stream_hello(const struct mig_dialer *d, int fd, const struct mig_hello *hello,
			const uint8_t nonce[MIG_CHALLENGE_LEN], struct mig_error *err)
{
	uint8_t hdr[MIG_FRAME_HDR_LEN], payload[MIG_HELLO_LEN];
	struct mig_hello h = *hello;
	struct mig_frame f;
	unsigned int wait;
	char peer[64];
	ssize_t n;
	int r;

	mig_addr_format(&d->target, peer, sizeof(peer));
	if (d->token) {
		h.flags |= MIG_HELLO_F_MAC;
		mig_hello_encode(&h, payload);
		mig_hello_mac(d->token, nonce, payload, h.mac);
	}
	mig_hello_encode(&h, payload);
	f = (struct mig_frame){ .type = MIG_FRAME_HELLO, .length = MIG_HELLO_LEN };
	f.checksum = mig_sum64(payload, sizeof(payload));
	mig_frame_encode(&f, hdr);
	r = mig_write_pair(fd, hdr, sizeof(hdr), payload, sizeof(payload), 0);
	if (r < 0)
		return mig_error_set(err, r, "stream %u: sending hello to %s: %s", h.stream_index,
				     peer, strerror(-r));
	/* the receiver maps and populates the memory before it answers: allow for it */
	wait = d->timeout > HANDSHAKE_TIMEOUT ? d->timeout : HANDSHAKE_TIMEOUT;
	mig_set_timeouts(fd, wait);
	n = mig_read_full(fd, hdr, sizeof(hdr));
	if (n <= 0)
		return handshake_failed(h.stream_index, peer, n, "answer to the hello", wait, err);
	r = mig_frame_decode(hdr, &f);
	if (r < 0)
		return mig_error_set(err, -EPROTO, "stream %u: bad answer to hello",
				     h.stream_index);
	if (f.type == MIG_FRAME_REJECT && f.aux == MIG_REJECT_OVERLOADED) /* its TLS slots */
		return mig_error_set(err, -EAGAIN,
				     "stream %u: the receiver %s refused the connection after "
				     "the hello: %s",
				     h.stream_index, peer, mig_reject_name(f.aux));
	if (f.type == MIG_FRAME_REJECT)
		return mig_error_set(err, -EACCES, "the receiver %s rejected the migration: %s",
				     peer, mig_reject_name(f.aux));
	if (f.type != MIG_FRAME_WELCOME)
		return mig_error_set(err, -EPROTO, "stream %u: unexpected %s answer to hello",
				     h.stream_index, mig_frame_type_name(f.type));
	return 0;
}

int mig_dial(const struct mig_dialer *d, const struct mig_hello *h, int *ret_fd,
	     uint64_t *ret_retries, struct mig_error *err)
{
	double deadline = mig_now() + HANDSHAKE_TIMEOUT;
	uint8_t nonce[MIG_CHALLENGE_LEN];
	struct mig_frame f = { 0 };
	uint64_t retries = 0;
	unsigned int attempt;
	int fd = -1, r;

	for (attempt = 0;; attempt++) {
		r = stream_challenge(d, h->stream_index, &fd, &retries, &f, nonce, err);
		if (r == 0 && f.checksum != mig_sum64(nonce, sizeof(nonce)))
			r = mig_error_set(err, -EPROTO, "stream %u: corrupt challenge",
					  h->stream_index);
		if (r == 0)
			r = stream_hello(d, fd, h, nonce, err);
		/* shed after the hello (no TLS handshake slot free): again, as for a challenge */
		if (r != -EAGAIN || fd < 0 || mig_now() + 0.05 >= deadline)
			break;
		close(fd);
		fd = -1;
		retries++;
		usleep(5000 + (attempt * 7919 + h->stream_index * 3571) % 20000);
	}
	if (ret_retries)
		*ret_retries += retries;
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		*ret_fd = -1;
		return r;
	}
	mig_set_timeouts(fd, d->timeout);
	*ret_fd = fd;
	return 0;
}
