// SPDX-License-Identifier: Apache-2.0
/*
 * The destination side of a migration.
 *
 * Theory of operation. The transport (mig_transport.c) listens on the migration address and
 * runs the handshakes: --from, the HELLO's syntax, the token; then admit() here checks the
 * session; with TLS (o->tls) the transport then runs the mutual TLS handshake, and each
 * stream's bytes go through a shim (a plain socketpair pumped to the TLS connection). Memory
 * is mapped only once a first stream passed all of that (joined()), so a rejected peer never
 * causes a write. When all N streams of the session joined, the listener closes
 * and one thread per stream reads frames:
 *
 *   PAGES      bounds-checked against the region (mig_frame_check_pages), then received
 *              straight into the region at its offset, then its checksum verified;
 *   ROUND_END  the stream waits until every stream reached the same round end (so a newer
 *              copy of a page never gets overwritten by an older one from another stream);
 *              with FINAL it is done. Every stream must say the same about FINAL: one
 *              that stopped while another went on would leave that one waiting for ever.
 *              The wait ends when no stream completed a frame for --progress-timeout.
 *
 * Any bad frame ends the migration: every socket is shut down and receive fails. After the
 * final round, stream 0 acknowledges it, receives the sender's DIGEST and answers RESULT
 * with its own digest of the region and whether the two agree.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_forward_tls.h"
#include "mig_frame.h"
#include "mig_hmac.h"
#include "mig_parse.h"
#include "mig_region.h"
#include "mig_stream.h"
#include "mig_sum.h"
#include "mig_transport.h"

#define HANDSHAKE_TIMEOUT MIG_HANDSHAKE_TIMEOUT /* seconds for all streams to join */
#define BARRIER_TICK_MS 250 /* a stream at a round end looks at the others' progress */

struct recv_ctx;

struct recv_stream {
	struct recv_ctx *ctx;
	unsigned int index;
	int fd;			   /* with TLS, the shim's plain end */
	struct mig_tls_shim *shim; /* NULL: plaintext */
	pthread_t thread;
	bool started;
	struct mig_addr peer;
	uint64_t bytes;
	uint64_t page_bytes;
	uint64_t races;
	unsigned int rounds;
};

struct recv_ctx {
	const struct mig_receive_opts *o;
	struct mig_listener l;
	struct mig_report *rep;
	double deadline, join_deadline;

	bool have_session;
	struct mig_hello session;
	struct mig_region region;
	struct recv_stream streams[MIG_MAX_STREAMS];
	unsigned int joined;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int arrived;  /* streams at the current round end */
	unsigned int released; /* round ends passed */
	bool round_final;      /* the FINAL flag of the first stream at the current round end */
	unsigned int first_at; /* that stream */

	double t_first; /* when the streams started reading */
	_Atomic int aborted;
	struct mig_error err;
};

static void recv_abort(struct recv_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void recv_abort(struct recv_ctx *c, int code, const char *fmt, ...)
{
	unsigned int i;
	va_list ap;
	bool first;

	va_start(ap, fmt);
	first = mig_error_set_first(&c->aborted, &c->lock, &c->cond, &c->err, code, fmt, ap);
	va_end(ap);
	if (!first)
		return;
	for (i = 0; i < MIG_MAX_STREAMS; i++) {
		if (c->streams[i].fd >= 0)
			shutdown(c->streams[i].fd, SHUT_RDWR);
		mig_tls_shim_abort(c->streams[i].shim);
	}
}

/* Counts @n more bytes received on @s, a whole frame or header at a time (read by the other
 * streams while they wait). */
static void add_bytes(struct recv_stream *s, uint64_t n)
{
	__atomic_store_n(&s->bytes, s->bytes + n, __ATOMIC_RELAXED);
}

static uint64_t bytes_received(struct recv_ctx *c)
{
	uint64_t n = 0;
	unsigned int i;

	for (i = 0; i < c->joined; i++)
		n += __atomic_load_n(&c->streams[i].bytes, __ATOMIC_RELAXED);
	return n;
}

/*
 * Waits at the end of round @round (@final: its ROUND_END said FINAL) until every stream is
 * there, and checks that they all agree on @final. The wait gives up once no stream completed
 * a frame for the progress timeout (a stream still receiving its share of the round keeps it
 * going). Return: 0, or -errno with the migration aborted.
 */
static int round_barrier(struct recv_stream *s, unsigned int round, bool final)
{
	struct recv_ctx *c = s->ctx;
	unsigned int gen, other = 0;
	uint64_t seen = bytes_received(c);
	double quiet_since = mig_now();
	int r = 0;

	pthread_mutex_lock(&c->lock);
	gen = c->released;
	if (c->arrived == 0) {
		c->round_final = final;
		c->first_at = s->index;
	} else if (c->round_final != final) {
		other = c->first_at;
		r = -EPROTO;
	}
	if (r == 0 && ++c->arrived == c->session.stream_count) {
		c->arrived = 0;
		c->released++;
		pthread_cond_broadcast(&c->cond);
	}
	while (r == 0 && c->released == gen && !atomic_load(&c->aborted)) {
		struct timespec until;
		uint64_t now_bytes;

		mig_deadline(&until, BARRIER_TICK_MS);
		pthread_cond_timedwait(&c->cond, &c->lock, &until);
		if (c->released != gen || !c->o->progress_timeout)
			continue;
		now_bytes = bytes_received(c);
		if (now_bytes != seen) {
			seen = now_bytes;
			quiet_since = mig_now();
		} else if (mig_now() - quiet_since >= c->o->progress_timeout) {
			r = -ETIMEDOUT;
		}
	}
	pthread_mutex_unlock(&c->lock);
	/* recv_abort() takes the lock */
	if (r == -EPROTO)
		recv_abort(c, r,
			   "the streams disagree on the end of the migration: stream %u "
			   "ended round %u as the final one, stream %u did not (a broken sender)",
			   final ? s->index : other, round, final ? other : s->index);
	else if (r == -ETIMEDOUT)
		recv_abort(c, r,
			   "stream %u: waited %u s at the end of round %u for the other "
			   "streams, which completed no frame meanwhile (progress timeout)",
			   s->index, c->o->progress_timeout, round);
	if (r == 0 && atomic_load(&c->aborted))
		r = -ECANCELED;
	return r;
}

static int stream_loop(struct recv_stream *s)
{
	struct recv_ctx *c = s->ctx;
	uint8_t hdr[MIG_FRAME_HDR_LEN];
	unsigned int round = 1;
	struct mig_frame f;
	ssize_t n;
	int r;

	for (;;) {
		n = mig_read_full(s->fd, hdr, sizeof(hdr));
		if (n == 0) {
			recv_abort(c, -EPIPE,
				   "stream %u: the sender closed the connection in round "
				   "%u before the end of the migration",
				   s->index, round);
			return -EPIPE;
		}
		if (n < 0) {
			if (n == -EPIPE)
				recv_abort(c, -EPIPE, "stream %u: truncated frame header",
					   s->index);
			else if (n == -ETIMEDOUT)
				recv_abort(c, -ETIMEDOUT,
					   "stream %u: nothing received for %u s "
					   "(progress timeout)",
					   s->index, c->o->progress_timeout);
			else
				recv_abort(c, (int)n, "stream %u: %s", s->index, strerror((int)-n));
			return (int)n;
		}
		add_bytes(s, sizeof(hdr));
		r = mig_frame_decode(hdr, &f);
		if (r < 0) {
			recv_abort(c, -EPROTO, "stream %u: bad frame header (%s)", s->index,
				   strerror(-r));
			return -EPROTO;
		}
		if (f.round != round) {
			recv_abort(c, -EPROTO, "stream %u: %s frame of round %u in round %u",
				   s->index, mig_frame_type_name(f.type), f.round, round);
			return -EPROTO;
		}
		if (f.type == MIG_FRAME_ROUND_END) {
			s->rounds = round;
			r = round_barrier(s, round, f.flags & MIG_FRAME_F_FINAL);
			if (r < 0)
				return r;
			if (f.flags & MIG_FRAME_F_FINAL)
				return 0;
			round++;
			continue;
		}
		if (f.type != MIG_FRAME_PAGES) {
			recv_abort(c, -EPROTO, "stream %u: unexpected %s frame", s->index,
				   mig_frame_type_name(f.type));
			return -EPROTO;
		}
		if (mig_frame_check_pages(&f, c->region.len, (uint32_t)c->region.page_size) < 0) {
			recv_abort(c, -ERANGE,
				   "stream %u: frame out of bounds (offset %" PRIu64
				   ", length %u, memory %" PRIu64 "): rejected",
				   s->index, f.offset, f.length, c->region.len);
			return -ERANGE;
		}
		n = mig_read_full(s->fd, c->region.base + f.offset, f.length);
		if (n != (ssize_t)f.length) {
			recv_abort(c, n == -ETIMEDOUT ? -ETIMEDOUT : -EPIPE,
				   "stream %u: truncated PAGES frame (%s)", s->index,
				   n == -ETIMEDOUT ? "progress timeout" : "stream ended");
			return -EPIPE;
		}
		add_bytes(s, f.length);
		s->page_bytes += f.length;
		if (mig_sum64(c->region.base + f.offset, f.length) != f.checksum) {
			if (!(f.flags & MIG_FRAME_F_LIVE)) {
				recv_abort(c, -EBADMSG,
					   "stream %u: checksum mismatch at offset %" PRIu64
					   " (round %u)",
					   s->index, f.offset, round);
				return -EBADMSG;
			}
			/* the guest wrote the page while it was sent: it comes again later */
			s->races++;
		}
	}
}

static void *stream_main(void *arg)
{
	stream_loop(arg);
	return NULL;
}

/* The session's part of the handshake (mig_accept_ops.check). */
static int admit(void *opaque, const struct mig_hello *h, const struct mig_addr *peer,
		 uint64_t *ret_reason, const char **ret_detail, struct mig_error *err)
{
	struct recv_ctx *c = opaque;

	*ret_reason = MIG_REJECT_PROTOCOL;
	if (h->flags & MIG_HELLO_F_VM) {
		*ret_detail = "a QEMU migration: this is mignet receive, not mignet incoming";
		return 1;
	}
	if (h->memory_bytes > c->o->max_memory) {
		*ret_reason = MIG_REJECT_TOO_BIG;
		*ret_detail = "memory larger than --max-memory";
		return 1;
	}
	if (h->page_size != (uint32_t)sysconf(_SC_PAGESIZE)) {
		*ret_detail = "page size differs";
		return 1;
	}
	if (c->have_session &&
	    (h->session != c->session.session || h->stream_count != c->session.stream_count ||
	     h->memory_bytes != c->session.memory_bytes || c->streams[h->stream_index].fd >= 0)) {
		*ret_reason = MIG_REJECT_BUSY;
		*ret_detail = "another migration is in progress";
		return 1;
	}
	return 0;
}

/* A stream passed the handshake, TLS's too (mig_accept_ops.joined): the first one sets the
 * session up and maps its memory, only now. */
static int joined(void *opaque, int fd, struct mig_tls_conn *tls, const struct mig_hello *h,
		  const struct mig_addr *peer, struct mig_error *err)
{
	struct recv_ctx *c = opaque;
	int r;

	if (!c->have_session) {
		r = mig_region_alloc(&c->region, h->memory_bytes, true);
		if (r == 0)
			r = mig_region_populate(&c->region);
		if (r < 0) {
			mig_tls_conn_free(tls);
			close(fd);
			return mig_error_set(err, r, "cannot map %" PRIu64 " bytes: %s",
					     h->memory_bytes, strerror(-r));
		}
		c->session = *h;
		c->have_session = true;
	}
	if (tls) {
		if (c->o->tls_info && !c->joined)
			mig_tls_conn_info(tls, c->o->tls_info);
		/* the streams read and write a plain socket; the shim pumps it through TLS */
		fd = mig_tls_shim(tls, fd, &c->streams[h->stream_index].shim, err);
		if (fd < 0)
			return fd;
	}
	c->streams[h->stream_index].fd = fd;
	c->streams[h->stream_index].peer = *peer;
	c->streams[h->stream_index].bytes =
		2 * MIG_FRAME_HDR_LEN + MIG_HELLO_LEN + MIG_CHALLENGE_LEN;
	if (c->joined++ == 0) {
		c->join_deadline = mig_now() + HANDSHAKE_TIMEOUT;
		if (c->o->event)
			c->o->event(MIG_EV_STARTED, NULL, peer, c->o->opaque);
	}
	return 0;
}

static bool session_complete(void *opaque)
{
	struct recv_ctx *c = opaque;

	return c->have_session && c->joined == c->session.stream_count;
}

static double session_deadline(void *opaque)
{
	struct recv_ctx *c = opaque;

	if (c->join_deadline && (!c->deadline || c->join_deadline < c->deadline))
		return c->join_deadline;
	return c->deadline;
}

static int session_expired(void *opaque, struct mig_error *err)
{
	struct recv_ctx *c = opaque;

	if (c->have_session)
		return mig_error_set(err, -ETIMEDOUT, "only %u of %u streams joined within %d s",
				     c->joined, c->session.stream_count, HANDSHAKE_TIMEOUT);
	return mig_error_set(err, -ETIMEDOUT,
			     "no migration arrived within %u s (%" PRIu64
			     " connection(s) rejected)",
			     c->o->timeout, c->l.rejected);
}

static const struct mig_accept_ops session_ops = {
	.check = admit,
	.joined = joined,
	.done = session_complete,
	.deadline = session_deadline,
	.expired = session_expired,
};

/* Accepts until a whole session joined. Return: 0, -ETIMEDOUT, or -errno. */
static int accept_session(struct recv_ctx *c, struct mig_report *rep, struct mig_error *err)
{
	int r;

	c->deadline = c->o->timeout ? mig_now() + c->o->timeout : 0;
	r = mig_listener_serve(&c->l, &session_ops, c, -1, err);
	rep->rejected = c->l.rejected;
	return r;
}

/* After the final round: acknowledge, compare digests. */
static int conclude(struct recv_ctx *c, struct mig_report *rep, struct mig_error *err)
{
	int fd = c->streams[0].fd;
	uint8_t hdr[MIG_FRAME_HDR_LEN], payload[MIG_SUMMARY_LEN];
	struct mig_summary sum;
	struct mig_frame f;
	ssize_t n;
	int r;

	r = mig_send_ctl(fd, MIG_FRAME_FINAL_ACK, 0, 0);
	if (r < 0)
		return mig_error_set(err, r, "sending the final acknowledgement: %s", strerror(-r));
	/* the sender computes its digest meanwhile */
	rep->digest = mig_digest(c->region.base, c->region.len);
	n = mig_read_full(fd, hdr, sizeof(hdr));
	if (n != sizeof(hdr) || mig_frame_decode(hdr, &f) < 0 || f.type != MIG_FRAME_DIGEST)
		return mig_error_set(err, -EPROTO, "expected the sender's digest");
	n = mig_read_full(fd, payload, sizeof(payload));
	if (n != sizeof(payload) || mig_sum64(payload, sizeof(payload)) != f.checksum)
		return mig_error_set(err, -EPROTO, "truncated or corrupt digest frame");
	mig_summary_decode(payload, &sum);
	rep->peer_digest = sum.digest;
	rep->verified = rep->digest == sum.digest;
	rep->downtime_ms = (double)sum.downtime_us / 1000.0;
	rep->zc_mode = sum.zc_mode <= MIG_ZC_NEVER ? (enum mig_zc_mode)sum.zc_mode : MIG_ZC_AUTO;
	rep->zc.sends = sum.zc_sends;
	rep->zc.completions = sum.zc_completions;
	rep->zc.copied = sum.zc_copied;
	r = mig_send_ctl(fd, MIG_FRAME_RESULT, rep->verified ? MIG_FRAME_F_VERIFIED : 0,
			 rep->digest);
	if (r < 0)
		return mig_error_set(err, r, "sending the result: %s", strerror(-r));
	if (!rep->verified)
		return mig_error_set(err, -EIO,
				     "digest mismatch: received %016" PRIx64
				     ", sender has %016" PRIx64,
				     rep->digest, sum.digest);
	return 0;
}

int mig_receive(const struct mig_receive_opts *o, struct mig_report *rep, struct mig_error *err)
{
	struct recv_ctx c = { .o = o,
			      .rep = rep,
			      .l = { .lfd = -1, .event = o->event, .opaque = o->opaque } };
	char port[16];
	unsigned int i;
	double t_end, cpu0;
	int r;

	memset(rep, 0, sizeof(*rep));
	rep->role = "receive";
	rep->dirty_tracking = "n/a";
	snprintf(rep->interface, sizeof(rep->interface), "%s", o->interface);
	pthread_mutex_init(&c.lock, NULL);
	r = mig_cond_init(&c.cond);
	if (r < 0)
		return mig_error_set(err, r, "pthread_cond_init: %s", strerror(-r));
	for (i = 0; i < MIG_MAX_STREAMS; i++)
		c.streams[i].fd = -1;
	r = mig_listener_open(&c.l, o->interface, o->port, o->from, o->token, err);
	c.l.tls = o->tls;
	if (c.l.local.ss.ss_family)
		mig_addr_format(&c.l.local, rep->target_address, sizeof(rep->target_address));
	rep->port = o->port;
	if (r < 0)
		goto out;
	snprintf(port, sizeof(port), "%u", o->port);
	if (o->event)
		o->event(MIG_EV_LISTENING, port, &c.l.local, o->opaque);
	r = accept_session(&c, rep, err);
	mig_listener_close(&c.l);
	if (r < 0)
		goto out;
	mig_addr_format(&c.streams[0].peer, rep->source_address, sizeof(rep->source_address));
	rep->memory_bytes = c.region.len;
	rep->page_size = c.region.page_size;
	rep->streams = c.session.stream_count;
	c.t_first = mig_now();
	cpu0 = mig_cpu_now();
	for (i = 0; i < c.joined; i++) {
		c.streams[i].ctx = &c;
		c.streams[i].index = i;
		mig_set_timeouts(c.streams[i].fd, o->progress_timeout);
		r = pthread_create(&c.streams[i].thread, NULL, stream_main, &c.streams[i]);
		if (r) {
			recv_abort(&c, -r, "pthread_create: %s", strerror(r));
			break;
		}
		c.streams[i].started = true;
	}
	for (i = 0; i < c.joined; i++) {
		if (c.streams[i].started)
			pthread_join(c.streams[i].thread, NULL);
		rep->bytes += c.streams[i].bytes;
		rep->page_bytes += c.streams[i].page_bytes;
		rep->checksum_races += c.streams[i].races;
		if (c.streams[i].rounds > rep->rounds)
			rep->rounds = c.streams[i].rounds;
	}
	t_end = mig_now();
	rep->cpu_seconds = mig_cpu_now() - cpu0;
	if (c.t_first)
		rep->seconds = t_end - c.t_first;
	if (rep->seconds > 0)
		rep->gbps = (double)rep->bytes * 8 / rep->seconds / 1e9;
	if (atomic_load(&c.aborted)) {
		*err = c.err;
		r = c.err.code ? c.err.code : -EIO;
		goto out;
	}
	r = conclude(&c, rep, err);
out:
	for (i = 0; i < MIG_MAX_STREAMS; i++) {
		if (c.streams[i].fd >= 0)
			close(c.streams[i].fd);
		if (r < 0) /* else what the streams wrote (the result) goes out first */
			mig_tls_shim_abort(c.streams[i].shim);
		mig_tls_shim_close(c.streams[i].shim);
	}
	mig_listener_close(&c.l);
	mig_region_free(&c.region);
	return r;
}
