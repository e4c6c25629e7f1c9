// SPDX-License-Identifier: Apache-2.0
/*
 * The sender's streams: connection and handshake, and the thread that sends a round's
 * batches (zero-copy or not), its ROUND_END and then flushes its zero-copy completions.
 * See mig_send.c for the whole picture.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mig_frame.h"
#include "mig_parse.h"
#include "mig_send_priv.h"
#include "mig_stream.h"
#include "mig_sum.h"

void send_abort(struct send_ctx *c, int code, const char *fmt, ...)
{
	va_list ap;
	unsigned int i;
	bool first;

	va_start(ap, fmt);
	first = mig_error_set_first(&c->aborted, &c->lock, NULL, &c->err, code, fmt, ap);
	va_end(ap);
	if (!first)
		return;
	for (i = 0; c->streams && i < c->nstreams; i++)
		if (c->streams[i].fd >= 0)
			shutdown(c->streams[i].fd, SHUT_RDWR);
}

static void throttle(struct send_ctx *c, size_t len)
{
	double now, at;

	if (!c->o->bandwidth)
		return;
	pthread_mutex_lock(&c->bw_lock);
	now = mig_now();
	at = c->bw_next > now ? c->bw_next : now;
	c->bw_next = at + (double)len / (double)c->o->bandwidth;
	pthread_mutex_unlock(&c->bw_lock);
	while (at > now && !atomic_load(&c->aborted)) {
		double d = at - now > 0.1 ? 0.1 : at - now;

		usleep((useconds_t)(d * 1e6));
		now = mig_now();
	}
}

/* A header and its payload in one sendmsg loop (the copy path). */
int send_iov(int fd, const uint8_t *hdr, const void *payload, size_t len)
{
	struct iovec iov[2] = { { (void *)hdr, MIG_FRAME_HDR_LEN }, { (void *)payload, len } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = len ? 2 : 1 };
	ssize_t n;

	while (msg.msg_iovlen) {
		n = sendmsg(fd, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN ? -ETIMEDOUT : -errno;
		}
		while (msg.msg_iovlen && (size_t)n >= msg.msg_iov->iov_len) {
			n -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
			msg.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

static int send_batch(struct send_stream *s, const struct mig_range *b)
{
	struct send_ctx *c = s->ctx;
	uint64_t off = b->start * c->region.page_size;
	size_t len = (size_t)((b->end - b->start) * c->region.page_size);
	const uint8_t *p = c->region.base + off;
	struct mig_frame f = { .type = MIG_FRAME_PAGES, .round = c->round, .length = (uint32_t)len,
			       .offset = off, .flags = c->live ? MIG_FRAME_F_LIVE : 0 };
	uint8_t hdr[MIG_FRAME_HDR_LEN];
	int r;

	throttle(c, len);
	f.checksum = mig_sum64(p, len);
	mig_frame_encode(&f, hdr);
	if (s->zc.active) {
		/* the header goes by copy: its buffer is reused before any completion */
		r = mig_write_full(s->fd, hdr, sizeof(hdr), MSG_MORE);
		if (r == 0)
			r = mig_zc_send(&s->zc, p, len, 0);
	} else {
		r = send_iov(s->fd, hdr, p, len);
	}
	if (r < 0)
		return r;
	s->bytes += sizeof(hdr) + len;
	/* read by the main thread for progress */
	__atomic_store_n(&s->page_bytes, s->page_bytes + len, __ATOMIC_RELAXED);
	atomic_fetch_add(&c->round_done, len);
	return 0;
}

static int stream_round(struct send_stream *s)
{
	struct send_ctx *c = s->ctx;
	struct mig_frame f = { .type = MIG_FRAME_ROUND_END, .round = c->round,
			       .flags = c->final ? MIG_FRAME_F_FINAL : 0 };
	uint8_t hdr[MIG_FRAME_HDR_LEN];
	size_t i;
	int r;

	while ((i = atomic_fetch_add(&c->cursor, 1)) < c->batches.n) {
		if (atomic_load(&c->aborted))
			return -ECANCELED;
		r = send_batch(s, &c->batches.v[i]);
		if (r < 0)
			return r;
	}
	mig_frame_encode(&f, hdr);
	r = mig_write_full(s->fd, hdr, sizeof(hdr), 0);
	if (r < 0)
		return r;
	s->bytes += sizeof(hdr);
	/* the flush barrier: nothing of this round is still pinned by the kernel */
	return mig_zc_flush(&s->zc, (int)c->timeout * 1000);
}

void *send_stream_main(void *arg)
{
	struct send_stream *s = arg;
	struct send_ctx *c = s->ctx;
	int r;

	for (;;) {
		pthread_mutex_lock(&c->lock);
		while (c->gen == s->gen && !c->quit)
			pthread_cond_wait(&c->cond, &c->lock);
		if (c->quit) {
			pthread_mutex_unlock(&c->lock);
			break;
		}
		s->gen = c->gen;
		pthread_mutex_unlock(&c->lock);

		r = atomic_load(&c->aborted) ? 0 : stream_round(s);
		if (r < 0 && r != -ECANCELED) {
			char peer[64];

			mig_addr_format(&c->target, peer, sizeof(peer));
			if (r == -EPIPE || r == -ECONNRESET)
				send_abort(c, r, "stream %u: the receiver %s closed the connection",
					   s->index, peer);
			else if (r == -ETIMEDOUT)
				send_abort(c, r, "stream %u: no progress for %u s sending to %s",
					   s->index, c->timeout, peer);
			else
				send_abort(c, r, "stream %u: send: %s", s->index, strerror(-r));
		}
		pthread_mutex_lock(&c->lock);
		c->done++;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
	}
	return NULL;
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

/* A new socket for stream @s, bound to the migration interface and address, connected
 * within @seconds. Return: 0 or -errno with err set. */
static int stream_connect(struct send_ctx *c, struct send_stream *s, unsigned int seconds,
			  struct mig_error *err)
{
	const struct mig_send_opts *o = c->o;
	struct mig_addr local = c->local;
	char peer[64];
	int r;

	s->fd = socket(c->target.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s->fd < 0)
		return mig_error_set(err, -errno, "socket: %s", strerror(errno));
	if (setsockopt(s->fd, SOL_SOCKET, SO_BINDTODEVICE, o->interface,
		       (socklen_t)strlen(o->interface)) < 0)
		return mig_error_set(err, -errno, "SO_BINDTODEVICE %s: %s", o->interface,
				     strerror(errno));
	if (local.ss.ss_family == AF_INET)
		((struct sockaddr_in *)&local.ss)->sin_port = 0;
	else
		((struct sockaddr_in6 *)&local.ss)->sin6_port = 0;
	if (bind(s->fd, (struct sockaddr *)&local.ss, local.len) < 0)
		return mig_error_set(err, -errno, "bind to the migration address: %s",
				     strerror(errno));
	r = connect_timeout(s->fd, &c->target, seconds);
	if (r < 0)
		return mig_error_set(err, r, "connect to %s port %u: %s",
				     mig_addr_format(&c->target, peer, sizeof(peer)),
				     mig_addr_port(&c->target), strerror(-r));
	return 0;
}

/* What a failed read of the receiver's answer @what (@n: from mig_read_full) means, in @err:
 * silence for @seconds is not a closed connection. Return: the error code. */
static int handshake_failed(struct send_stream *s, const char *peer, ssize_t n, const char *what,
			    unsigned int seconds, struct mig_error *err)
{
	if (n == -ETIMEDOUT)
		return mig_error_set(err, -ETIMEDOUT, "stream %u: %s accepted the connection but "
				     "sent no %s within %u s: the handshake timed out (a stopped or "
				     "overloaded receiver, or not a mignet receiver?)", s->index,
				     peer, what, seconds);
	return mig_error_set(err, n ? (int)n : -ECONNRESET,
			     "stream %u: %s closed the connection during the handshake "
			     "(a --from allowlist that does not include us?)%s%s", s->index,
			     peer, n ? ": " : "", n ? strerror((int)-n) : "");
}

/*
 * Connects stream @s and reads the receiver's challenge (its header into @f, the nonce into
 * @nonce). A receiver flooded with handshakes sheds new connections with REJECT "overloaded"
 * instead of a challenge: connect again a few milliseconds later (staggered per stream),
 * until HANDSHAKE_TIMEOUT from the first attempt. Return: 0 or -errno with err set.
 */
static int stream_challenge(struct send_ctx *c, struct send_stream *s, struct mig_frame *f,
			    uint8_t nonce[MIG_CHALLENGE_LEN], struct mig_error *err)
{
	double deadline = mig_now() + HANDSHAKE_TIMEOUT;
	uint8_t hdr[MIG_FRAME_HDR_LEN];
	unsigned int attempt;
	char peer[64];
	ssize_t n;
	int r;

	mig_addr_format(&c->target, peer, sizeof(peer));
	for (attempt = 0;; attempt++) {
		double left = deadline - mig_now();

		r = stream_connect(c, s, left > 1 ? (unsigned int)left : 1, err);
		if (r < 0)
			return r;
		mig_set_timeouts(s->fd, HANDSHAKE_TIMEOUT);
		/* the receiver speaks first: a challenge to answer with the token's HMAC */
		n = mig_read_full(s->fd, hdr, sizeof(hdr));
		if (n == sizeof(hdr) && mig_frame_decode(hdr, f) == 0 &&
		    f->type == MIG_FRAME_REJECT && f->aux == MIG_REJECT_OVERLOADED &&
		    mig_now() + 0.05 < deadline) {
			close(s->fd);
			s->fd = -1;
			s->connect_retries++;
			usleep(5000 + (attempt * 7919 + s->index * 3571) % 20000);
			continue;
		}
		break;
	}
	if (n == sizeof(hdr) && mig_frame_decode(hdr, f) == 0 && f->type == MIG_FRAME_CHALLENGE)
		n = mig_read_full(s->fd, nonce, MIG_CHALLENGE_LEN);
	else if (n == sizeof(hdr) && f->type == MIG_FRAME_REJECT)
		return mig_error_set(err, -EAGAIN, "stream %u: the receiver %s refused the "
				     "connection: %s (still after %u attempts in %d s)", s->index,
				     peer, mig_reject_name(f->aux), attempt + 1, HANDSHAKE_TIMEOUT);
	else if (n == sizeof(hdr))
		return mig_error_set(err, -EPROTO, "stream %u: %s is not a mignet receiver",
				     s->index, peer);
	if (n <= 0)
		return handshake_failed(s, peer, n, "challenge", HANDSHAKE_TIMEOUT, err);
	return 0;
}

int send_stream_open(struct send_ctx *c, struct send_stream *s, uint64_t session,
		     struct mig_error *err)
{
	const struct mig_send_opts *o = c->o;
	struct mig_hello h = { .session = session, .stream_index = s->index,
			       .stream_count = c->nstreams, .memory_bytes = c->region.len,
			       .page_size = (uint32_t)c->region.page_size };
	uint8_t hdr[MIG_FRAME_HDR_LEN], payload[MIG_HELLO_LEN], nonce[MIG_CHALLENGE_LEN];
	struct mig_frame f = { 0 };
	unsigned int wait;
	char peer[64];
	ssize_t n;
	int r;

	mig_addr_format(&c->target, peer, sizeof(peer));
	r = stream_challenge(c, s, &f, nonce, err);
	if (r < 0)
		return r;
	if (f.checksum != mig_sum64(nonce, sizeof(nonce)))
		return mig_error_set(err, -EPROTO, "stream %u: corrupt challenge", s->index);
	if (o->token) {
		h.flags |= MIG_HELLO_F_MAC;
		mig_hello_encode(&h, payload);
		mig_hello_mac(o->token, nonce, payload, h.mac);
	}
	mig_hello_encode(&h, payload);
	f = (struct mig_frame){ .type = MIG_FRAME_HELLO, .length = MIG_HELLO_LEN };
	f.checksum = mig_sum64(payload, sizeof(payload));
	mig_frame_encode(&f, hdr);
	r = send_iov(s->fd, hdr, payload, sizeof(payload));
	if (r < 0)
		return mig_error_set(err, r, "stream %u: sending hello to %s: %s", s->index, peer,
				     strerror(-r));
	s->bytes += 2 * sizeof(hdr) + sizeof(payload) + sizeof(nonce);
	/* the receiver maps and populates the memory before it answers: allow for it */
	wait = c->timeout > HANDSHAKE_TIMEOUT ? c->timeout : HANDSHAKE_TIMEOUT;
	mig_set_timeouts(s->fd, wait);
	n = mig_read_full(s->fd, hdr, sizeof(hdr));
	if (n <= 0)
		return handshake_failed(s, peer, n, "answer to the hello", wait, err);
	r = mig_frame_decode(hdr, &f);
	if (r < 0)
		return mig_error_set(err, -EPROTO, "stream %u: bad answer to hello", s->index);
	if (f.type == MIG_FRAME_REJECT)
		return mig_error_set(err, -EACCES, "the receiver %s rejected the migration: %s",
				     peer, mig_reject_name(f.aux));
	if (f.type != MIG_FRAME_WELCOME)
		return mig_error_set(err, -EPROTO, "stream %u: unexpected %s answer to hello",
				     s->index, mig_frame_type_name(f.type));
	r = mig_zc_init(&s->zc, s->fd, o->zc_mode);
	if (r < 0)
		return mig_error_set(err, r, "SO_ZEROCOPY (--zerocopy always): %s", strerror(-r));
	mig_set_timeouts(s->fd, c->timeout);
	return 0;
}
