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
#include <unistd.h>

#include "mig_forward_tls.h"
#include "mig_frame.h"
#include "mig_parse.h"
#include "mig_send_priv.h"
#include "mig_stream.h"
#include "mig_sum.h"
#include "mig_transport.h"

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
	for (i = 0; c->streams && i < c->nstreams; i++) {
		if (c->streams[i].fd >= 0)
			shutdown(c->streams[i].fd, SHUT_RDWR);
		mig_tls_shim_abort(c->streams[i].shim);
	}
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

static int send_batch(struct send_stream *s, const struct mig_range *b)
{
	struct send_ctx *c = s->ctx;
	uint64_t off = b->start * c->region.page_size;
	size_t len = (size_t)((b->end - b->start) * c->region.page_size);
	const uint8_t *p = c->region.base + off;
	struct mig_frame f = { .type = MIG_FRAME_PAGES,
			       .round = c->round,
			       .length = (uint32_t)len,
			       .offset = off,
			       .flags = c->live ? MIG_FRAME_F_LIVE : 0 };
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
		r = mig_write_pair(s->fd, hdr, sizeof(hdr), p, len, 0);
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
	struct mig_frame f = { .type = MIG_FRAME_ROUND_END,
			       .round = c->round,
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

int send_stream_open(struct send_ctx *c, struct send_stream *s, uint64_t session,
		     struct mig_error *err)
{
	const struct mig_send_opts *o = c->o;
	struct mig_hello h = { .session = session,
			       .stream_index = s->index,
			       .stream_count = c->nstreams,
			       .memory_bytes = c->region.len,
			       .page_size = (uint32_t)c->region.page_size };
	int r;

	/* the receiver maps and populates the memory before it answers: allow for it */
	r = mig_dial(&c->dial, &h, &s->fd, &s->connect_retries, err);
	if (r < 0)
		return r;
	s->bytes += 2 * MIG_FRAME_HDR_LEN + MIG_HELLO_LEN + MIG_CHALLENGE_LEN;
	if (o->tls) { /* then TLS, and the stream's frames through the shim */
		struct mig_tls_conn *conn;
		struct mig_error e = { 0 };
		int net = s->fd;

		s->fd = -1;
		r = mig_tls_handshake(o->tls, net, &conn, NULL, &e);
		if (r < 0) {
			close(net);
			return mig_error_set(err, r, "stream %u: %s", s->index, e.msg);
		}
		if (o->tls_info && s->index == 0)
			mig_tls_conn_info(conn, o->tls_info);
		/* the stream's timeouts go on its plain end (below): a stalled receiver then
		 * times the stream out as in clear, rather than the TCP connection under the
		 * shim, which would only say that the connection closed */
		mig_set_timeouts(net, 0);
		r = mig_tls_shim(conn, net, &s->shim, err);
		if (r < 0)
			return r;
		s->fd = r;
		mig_set_timeouts(s->fd, c->timeout);
		return mig_zc_init(&s->zc, s->fd, MIG_ZC_NEVER);
	}
	r = mig_zc_init(&s->zc, s->fd, o->zc_mode);
	if (r < 0)
		return mig_error_set(err, r, "SO_ZEROCOPY (--zerocopy always): %s", strerror(-r));
	return 0;
}
