// SPDX-License-Identifier: Apache-2.0
/*
 * The destination side of a migration.
 *
 * Theory of operation. The receiver listens on its migration address only (bound to the
 * interface too), never on the wildcard. Each accepted connection is checked, in order:
 * the peer address against --from (a mismatch is closed before a byte is read), then its
 * HELLO: frame syntax, payload checksum, the token (compared in constant time), the
 * session. Memory is mapped only once a first stream passed all of that, so a rejected
 * peer never causes a write. Handshakes run concurrently from one poll() loop, bounded in
 * number and time (PENDING_MAX, HELLO_DEADLINE below), so a flood cannot starve the
 * sender. When all N streams of the session joined, the listener closes and one thread per
 * stream reads frames:
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

#include "mig_frame.h"
#include "mig_hmac.h"
#include "mig_parse.h"
#include "mig_region.h"
#include "mig_stream.h"
#include "mig_sum.h"

#define HANDSHAKE_TIMEOUT 10 /* seconds for all streams to join (and socket timeouts) */
#define BARRIER_TICK_MS 250  /* a stream at a round end looks at the others' progress */

/*
 * Against a flood of connections: handshakes are served concurrently from one poll() loop on
 * non-blocking sockets. At most PENDING_MAX connections wait for their HELLO at a time, each
 * with a fixed buffer (struct pending, no allocation), and at most PENDING_PER_SOURCE of them
 * from one address (room for every stream of one sender), so a flood from one host leaves
 * the other slots to everyone else. A new connection takes a free slot, else the oldest
 * pending one of its own address (when that address is at its share) or of all, but only
 * once that one had PENDING_MIN_AGE seconds: a reconnecting flood cannot evict a handshake
 * faster than that. One exception, for fairness: a connection may take the oldest slot at
 * once when that slot's address holds at least PENDING_FAIR_GAP more pending handshakes than
 * its own, so that several flooding hosts cannot keep every slot young against a sender,
 * which holds at most one (it opens its streams one after the other). When no slot can be
 * had, the new connection is shed at once with REJECT
 * "overloaded" (a sender retries); the backlog is always drained, because a full backlog
 * makes the kernel drop SYNs, and a sender's SYN retransmits (1, 3, 7 s) would outlast its
 * join. Each pending one has HELLO_DEADLINE seconds from accept for its whole HELLO, however
 * slowly it trickles in. A genuine sender answers its challenge within one round trip, so it
 * is admitted promptly whatever idle or slow peers hold.
 */
#define PENDING_MAX 256      /* unauthenticated connections waiting for their HELLO */
#define PENDING_PER_SOURCE MIG_MAX_STREAMS /* of them from one address */
#define PENDING_FAIR_GAP 4   /* holding this many more than a newcomer's address: evictable */
#define HELLO_DEADLINE 3     /* seconds from accept to a complete HELLO */
#define PENDING_MIN_AGE 0.25 /* seconds a pending handshake is safe from being dropped */
#define LISTEN_BACKLOG 1024  /* the kernel's queue of not yet accepted connections */
#define ACCEPT_BATCH 256     /* accepts per poll() wake-up, so pending handshakes still run */
#define SHED_EVENT_EVERY 1.0 /* seconds between two events counting shed connections */
#define STR_(x) #x
#define STR(x) STR_(x)

struct pending {
	int fd;                 /* -1: free slot */
	struct mig_addr peer;
	double since;           /* accepted at (mig_now) */
	double deadline;
	uint64_t seq;           /* accept order: the smallest is the oldest */
	size_t got;             /* bytes of buf received */
	uint8_t nonce[MIG_CHALLENGE_LEN];
	uint8_t buf[MIG_FRAME_HDR_LEN + MIG_HELLO_LEN];
};

struct recv_ctx;

struct recv_stream {
	struct recv_ctx *ctx;
	unsigned int index;
	int fd;
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
	struct mig_addr local;
	struct mig_cidr from;
	bool have_from;
	int lfd;

	bool have_session;
	struct mig_hello session;
	struct mig_region region;
	struct recv_stream streams[MIG_MAX_STREAMS];
	unsigned int joined;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int arrived;   /* streams at the current round end */
	unsigned int released;  /* round ends passed */
	bool round_final;       /* the FINAL flag of the first stream at the current round end */
	unsigned int first_at;  /* that stream */

	double t_first;         /* when the streams started reading */
	_Atomic int aborted;
	struct mig_error err;

	uint64_t shed;          /* connections shed since the last event saying so */
	struct mig_addr shed_peer; /* the last of them */
	double shed_said;       /* when that event was sent */
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
	for (i = 0; i < c->joined; i++)
		if (c->streams[i].fd >= 0)
			shutdown(c->streams[i].fd, SHUT_RDWR);
}

static void event(struct recv_ctx *c, enum mig_event ev, const char *detail,
		  const struct mig_addr *peer)
{
	if (c->o->event)
		c->o->event(ev, detail, peer, c->o->opaque);
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
		recv_abort(c, r, "the streams disagree on the end of the migration: stream %u "
			   "ended round %u as the final one, stream %u did not (a broken sender)",
			   final ? s->index : other, round, final ? other : s->index);
	else if (r == -ETIMEDOUT)
		recv_abort(c, r, "stream %u: waited %u s at the end of round %u for the other "
			   "streams, which completed no frame meanwhile (progress timeout)", s->index,
			   c->o->progress_timeout, round);
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
			recv_abort(c, -EPIPE, "stream %u: the sender closed the connection in round "
				   "%u before the end of the migration", s->index, round);
			return -EPIPE;
		}
		if (n < 0) {
			if (n == -EPIPE)
				recv_abort(c, -EPIPE, "stream %u: truncated frame header", s->index);
			else if (n == -ETIMEDOUT)
				recv_abort(c, -ETIMEDOUT, "stream %u: nothing received for %u s "
					   "(progress timeout)", s->index, c->o->progress_timeout);
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
			recv_abort(c, -ERANGE, "stream %u: frame out of bounds (offset %" PRIu64
				   ", length %u, memory %" PRIu64 "): rejected", s->index, f.offset,
				   f.length, c->region.len);
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
				recv_abort(c, -EBADMSG, "stream %u: checksum mismatch at offset %"
					   PRIu64 " (round %u)", s->index, f.offset, round);
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

static int send_ctl(int fd, uint8_t type, uint16_t flags, uint64_t aux)
{
	struct mig_frame f = { .type = type, .flags = flags, .aux = aux };
	uint8_t hdr[MIG_FRAME_HDR_LEN];

	mig_frame_encode(&f, hdr);
	return mig_write_full(fd, hdr, sizeof(hdr), 0);
}

/* Whether the hello proves the token: its HMAC over our challenge and its own fields. */
static bool token_proven(const char *token, const uint8_t nonce[MIG_CHALLENGE_LEN],
			 const uint8_t payload[MIG_HELLO_LEN], const struct mig_hello *h)
{
	uint8_t want[MIG_MAC_LEN];
	bool ok;

	mig_hello_mac(token, nonce, payload, want);
	ok = mig_memeq(want, h->mac, MIG_MAC_LEN);
	return ok && (h->flags & MIG_HELLO_F_MAC);
}

static void reject(struct recv_ctx *c, int fd, const struct mig_addr *peer, uint64_t reason,
		   const char *detail, struct mig_report *rep)
{
	if (reason)
		send_ctl(fd, MIG_FRAME_REJECT, 0, reason);
	close(fd);
	rep->rejected++;
	event(c, MIG_EV_REJECTED, detail, peer);
}

/* Sends the challenge on a freshly accepted connection. Return: 1 sent, 0 rejected, -errno. */
static int challenge(struct recv_ctx *c, struct pending *p, struct mig_report *rep,
		     struct mig_error *err)
{
	uint8_t frame[MIG_FRAME_HDR_LEN + MIG_CHALLENGE_LEN];
	struct mig_frame f;
	ssize_t n;

	mig_set_timeouts(p->fd, HANDSHAKE_TIMEOUT);
	if (getrandom(p->nonce, sizeof(p->nonce), 0) != sizeof(p->nonce)) {
		close(p->fd);
		return mig_error_set(err, -EIO, "getrandom failed");
	}
	f = (struct mig_frame){ .type = MIG_FRAME_CHALLENGE, .length = sizeof(p->nonce),
				.checksum = mig_sum64(p->nonce, sizeof(p->nonce)) };
	mig_frame_encode(&f, frame);
	memcpy(frame + MIG_FRAME_HDR_LEN, p->nonce, sizeof(p->nonce));
	/* 72 bytes into the empty send buffer of a new socket: all or nothing */
	n = send(p->fd, frame, sizeof(frame), MSG_NOSIGNAL);
	if (n != (ssize_t)sizeof(frame)) {
		reject(c, p->fd, &p->peer, 0, "gone before the hello", rep);
		return 0;
	}
	return 1;
}

/* Checks a complete HELLO (p->buf) and admits the stream. The socket is blocking again.
 * Return: 1 joined, 0 rejected, -errno fatal. */
static int admit(struct recv_ctx *c, struct pending *p, struct mig_report *rep,
		 struct mig_error *err)
{
	const uint8_t *payload = p->buf + MIG_FRAME_HDR_LEN;
	const struct mig_addr *peer = &p->peer;
	int fd = p->fd;
	struct mig_hello h;
	struct mig_frame f;
	int r;

	mig_frame_decode(p->buf, &f); /* checked when the header arrived */
	if (mig_sum64(payload, MIG_HELLO_LEN) != f.checksum || mig_hello_decode(payload, &h) < 0) {
		reject(c, fd, peer, MIG_REJECT_PROTOCOL, "malformed hello", rep);
		return 0;
	}
	if (c->o->token && !token_proven(c->o->token, p->nonce, payload, &h)) {
		reject(c, fd, peer, MIG_REJECT_TOKEN, "token mismatch", rep);
		return 0;
	}
	if (h.memory_bytes > c->o->max_memory) {
		reject(c, fd, peer, MIG_REJECT_TOO_BIG, "memory larger than --max-memory", rep);
		return 0;
	}
	if (h.page_size != (uint32_t)sysconf(_SC_PAGESIZE)) {
		reject(c, fd, peer, MIG_REJECT_PROTOCOL, "page size differs", rep);
		return 0;
	}
	if (c->have_session &&
	    (h.session != c->session.session || h.stream_count != c->session.stream_count ||
	     h.memory_bytes != c->session.memory_bytes ||
	     c->streams[h.stream_index].fd >= 0)) {
		reject(c, fd, peer, MIG_REJECT_BUSY, "another migration is in progress", rep);
		return 0;
	}
	if (!c->have_session) {
		r = mig_region_alloc(&c->region, h.memory_bytes, true);
		if (r == 0)
			r = mig_region_populate(&c->region);
		if (r < 0) {
			reject(c, fd, peer, MIG_REJECT_TOO_BIG, "cannot map the memory", rep);
			return mig_error_set(err, r, "cannot map %" PRIu64 " bytes: %s",
					     h.memory_bytes, strerror(-r));
		}
		c->session = h;
		c->have_session = true;
	}
	if (send_ctl(fd, MIG_FRAME_WELCOME, 0, 0) < 0) {
		close(fd);
		return 0;
	}
	c->streams[h.stream_index].fd = fd;
	c->streams[h.stream_index].peer = *peer;
	c->streams[h.stream_index].bytes = 2 * MIG_FRAME_HDR_LEN + MIG_HELLO_LEN +
					   MIG_CHALLENGE_LEN;
	c->joined++;
	return 1;
}

/* Reads what arrived of a pending HELLO, never past its end. Return: 1 joined, 0 still
 * pending or rejected (p->fd is then -1), -errno fatal. */
static int pending_read(struct recv_ctx *c, struct pending *p, struct mig_report *rep,
			struct mig_error *err)
{
	struct mig_frame f;
	size_t want;
	ssize_t n;
	int r;

	for (;;) {
		want = p->got < MIG_FRAME_HDR_LEN ? MIG_FRAME_HDR_LEN - p->got
						  : sizeof(p->buf) - p->got;
		n = recv(p->fd, p->buf + p->got, want, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			/* the peer closed (or reset) before a whole hello */
			if (p->got < MIG_FRAME_HDR_LEN)
				reject(c, p->fd, &p->peer, 0, "no valid hello", rep);
			else
				reject(c, p->fd, &p->peer, MIG_REJECT_PROTOCOL, "malformed hello",
				       rep);
			p->fd = -1;
			return 0;
		}
		p->got += (size_t)n;
		if (p->got == MIG_FRAME_HDR_LEN &&
		    (mig_frame_decode(p->buf, &f) < 0 || f.type != MIG_FRAME_HELLO)) {
			reject(c, p->fd, &p->peer, 0, "no valid hello", rep);
			p->fd = -1;
			return 0;
		}
		if (p->got == sizeof(p->buf))
			break;
	}
	/* blocking again, with the socket timeouts, for WELCOME and the stream thread */
	fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) & ~O_NONBLOCK);
	r = admit(c, p, rep, err);
	p->fd = -1;
	return r;
}

static int listen_on(struct recv_ctx *c, struct mig_error *err)
{
	int one = 1;

	c->lfd = socket(c->local.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->lfd < 0)
		return mig_error_set(err, -errno, "socket: %s", strerror(errno));
	setsockopt(c->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(c->lfd, SOL_SOCKET, SO_BINDTODEVICE, c->o->interface,
		       (socklen_t)strlen(c->o->interface)) < 0)
		return mig_error_set(err, -errno, "SO_BINDTODEVICE %s: %s", c->o->interface,
				     strerror(errno));
	if (bind(c->lfd, (struct sockaddr *)&c->local.ss, c->local.len) < 0 ||
	    listen(c->lfd, LISTEN_BACKLOG) < 0) {
		int e = errno;
		char a[64];

		return mig_error_set(err, -e, "listen on %s port %u: %s%s",
				     mig_addr_format(&c->local, a, sizeof(a)), c->o->port,
				     strerror(e), mig_listen_hint(e, c->o->port));
	}
	return 0;
}

/* How many pending slots the descriptor limit leaves room for (the streams, a few spare). */
static unsigned int pending_cap(void)
{
	struct rlimit rl;
	rlim_t room;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur == RLIM_INFINITY)
		return PENDING_MAX;
	room = rl.rlim_cur > MIG_MAX_STREAMS + 32 ? rl.rlim_cur - MIG_MAX_STREAMS - 32 : 1;
	return room < PENDING_MAX ? (unsigned int)room : PENDING_MAX;
}

static bool same_host(const struct mig_addr *a, const struct mig_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
		       &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, sizeof(struct in6_addr));
}

static unsigned int held_by(const struct pending *pend, unsigned int cap,
			    const struct mig_addr *peer)
{
	unsigned int i, n = 0;

	for (i = 0; i < cap; i++)
		n += pend[i].fd >= 0 && same_host(&pend[i].peer, peer);
	return n;
}

/*
 * The slot for a connection from @peer: a free one, else the oldest pending one of @peer's
 * address when it holds its share, else the oldest of all. *@ret_young_ok: the slot may be
 * taken before PENDING_MIN_AGE (its address holds PENDING_FAIR_GAP more than @peer's).
 */
static struct pending *pending_slot(struct pending *pend, unsigned int cap,
				    const struct mig_addr *peer, bool *ret_young_ok)
{
	struct pending *free_slot = NULL, *oldest = NULL, *oldest_own = NULL;
	unsigned int i, own = 0;

	for (i = 0; i < cap; i++) {
		if (pend[i].fd < 0) {
			free_slot = free_slot ? free_slot : &pend[i];
			continue;
		}
		if (!oldest || pend[i].seq < oldest->seq)
			oldest = &pend[i];
		if (same_host(&pend[i].peer, peer)) {
			own++;
			if (!oldest_own || pend[i].seq < oldest_own->seq)
				oldest_own = &pend[i];
		}
	}
	*ret_young_ok = false;
	if (own >= PENDING_PER_SOURCE)
		return oldest_own;
	if (free_slot)
		return free_slot;
	*ret_young_ok = held_by(pend, cap, &oldest->peer) >= own + PENDING_FAIR_GAP;
	return oldest;
}

/* Says how many connections were shed since it last said so (the last one's peer). */
static void shed_event(struct recv_ctx *c)
{
	char detail[96];

	if (!c->shed)
		return;
	snprintf(detail, sizeof(detail), "too many pending handshakes (%" PRIu64 " shed, asked "
		 "to retry)", c->shed);
	event(c, MIG_EV_REJECTED, detail, &c->shed_peer);
	c->shed = 0;
	c->shed_said = mig_now();
}

/* A connection no slot can take: told to retry, closed; counted, and said once a second. */
static void shed(struct recv_ctx *c, int fd, const struct mig_addr *peer, struct mig_report *rep)
{
	send_ctl(fd, MIG_FRAME_REJECT, 0, MIG_REJECT_OVERLOADED); /* non-blocking: best effort */
	close(fd);
	rep->rejected++;
	c->shed++;
	c->shed_peer = *peer;
	if (mig_now() >= c->shed_said + SHED_EVENT_EVERY)
		shed_event(c);
}

/* Accepts new connections (a batch), each into the slot pending_slot() names, dropping the
 * pending one there when it is at least PENDING_MIN_AGE old, else shedding the new one.
 * Return: 0, or -errno fatal. */
static int accept_some(struct recv_ctx *c, struct pending *pend, unsigned int cap,
		       uint64_t *seq, struct mig_report *rep, struct mig_error *err)
{
	unsigned int k;
	int r;

	for (k = 0; k < ACCEPT_BATCH; k++) {
		struct mig_addr peer = { .len = sizeof(peer.ss) };
		struct pending *p;
		bool young_ok;
		double now;
		int fd;

		fd = accept4(c->lfd, (struct sockaddr *)&peer.ss, &peer.len,
			     SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return 0; /* EAGAIN, or an aborted connection: poll again */
		if (c->have_from && !mig_cidr_match(&c->from, (const struct sockaddr *)&peer.ss)) {
			reject(c, fd, &peer, 0, "source not in --from", rep);
			continue;
		}
		now = mig_now();
		p = pending_slot(pend, cap, &peer, &young_ok);
		if (p->fd >= 0 && !young_ok && now < p->since + PENDING_MIN_AGE) {
			shed(c, fd, &peer, rep);
			continue;
		}
		if (p->fd >= 0)
			reject(c, p->fd, &p->peer, 0, "too many pending handshakes (oldest dropped)",
			       rep);
		*p = (struct pending){ .fd = fd, .peer = peer, .seq = (*seq)++, .since = now,
				       .deadline = now + HELLO_DEADLINE };
		r = challenge(c, p, rep, err);
		if (r <= 0)
			p->fd = -1;
		if (r < 0)
			return r;
	}
	return 0;
}

/* Accepts until a whole session joined. Return: 0, -ETIMEDOUT, or -errno. */
static int accept_session(struct recv_ctx *c, struct mig_report *rep, struct mig_error *err)
{
	double deadline = c->o->timeout ? mig_now() + c->o->timeout : 0, join_deadline = 0;
	struct pending pend[PENDING_MAX];
	struct pollfd pfd[1 + PENDING_MAX];
	struct pending *slot[1 + PENDING_MAX];
	unsigned int i, n, cap = pending_cap();
	uint64_t seq = 0;
	int r = 0;

	for (i = 0; i < PENDING_MAX; i++)
		pend[i].fd = -1;
	while (!c->have_session || c->joined < c->session.stream_count) {
		double now = mig_now(), until = 0;
		int ms = -1;

		/* handshakes past their deadline */
		for (i = 0; i < PENDING_MAX; i++) {
			if (pend[i].fd >= 0 && now >= pend[i].deadline) {
				reject(c, pend[i].fd, &pend[i].peer, 0,
				       "no hello within " STR(HELLO_DEADLINE) " s", rep);
				pend[i].fd = -1;
			}
		}
		if (deadline)
			until = deadline;
		if (join_deadline && (!until || join_deadline < until))
			until = join_deadline;
		if (until && now >= until)
			break;
		pfd[0] = (struct pollfd){ .fd = c->lfd, .events = POLLIN };
		n = 1;
		for (i = 0; i < PENDING_MAX; i++) {
			if (pend[i].fd < 0)
				continue;
			if (!until || pend[i].deadline < until)
				until = pend[i].deadline;
			slot[n] = &pend[i];
			pfd[n++] = (struct pollfd){ .fd = pend[i].fd, .events = POLLIN };
		}
		if (until)
			ms = until > now ? (int)((until - now) * 1000) + 1 : 0;
		r = poll(pfd, n, ms);
		if (r < 0 && errno != EINTR) {
			r = mig_error_set(err, -errno, "poll: %s", strerror(errno));
			goto out;
		}
		if (r <= 0)
			continue;
		for (i = 1; i < n; i++) {
			unsigned int joined = c->joined;

			if (!pfd[i].revents || slot[i]->fd < 0)
				continue;
			r = pending_read(c, slot[i], rep, err);
			if (r < 0)
				goto out;
			if (r == 1 && joined == 0) {
				join_deadline = mig_now() + HANDSHAKE_TIMEOUT;
				event(c, MIG_EV_STARTED, NULL, &slot[i]->peer);
			}
			if (c->have_session && c->joined == c->session.stream_count)
				break;
		}
		if (c->have_session && c->joined == c->session.stream_count)
			break;
		if (pfd[0].revents) {
			r = accept_some(c, pend, cap, &seq, rep, err);
			if (r < 0)
				goto out;
		}
	}
	r = 0;
out:
	shed_event(c);
	/* left waiting when the session is complete (or failed): closed like the backlog */
	for (i = 0; i < PENDING_MAX; i++)
		if (pend[i].fd >= 0)
			close(pend[i].fd);
	if (r < 0)
		return r;
	if (c->have_session && c->joined == c->session.stream_count)
		return 0;
	if (c->have_session)
		return mig_error_set(err, -ETIMEDOUT, "only %u of %u streams joined within %d s",
				     c->joined, c->session.stream_count, HANDSHAKE_TIMEOUT);
	return mig_error_set(err, -ETIMEDOUT, "no migration arrived within %u s (%" PRIu64
			     " connection(s) rejected)", c->o->timeout, rep->rejected);
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

	r = send_ctl(fd, MIG_FRAME_FINAL_ACK, 0, 0);
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
	r = send_ctl(fd, MIG_FRAME_RESULT, rep->verified ? MIG_FRAME_F_VERIFIED : 0, rep->digest);
	if (r < 0)
		return mig_error_set(err, r, "sending the result: %s", strerror(-r));
	if (!rep->verified)
		return mig_error_set(err, -EIO, "digest mismatch: received %016" PRIx64
				     ", sender has %016" PRIx64, rep->digest, sum.digest);
	return 0;
}

int mig_receive(const struct mig_receive_opts *o, struct mig_report *rep, struct mig_error *err)
{
	struct recv_ctx c = { .o = o, .lfd = -1 };
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
	if (o->from) {
		if (mig_cidr_parse(o->from, &c.from) < 0)
			return mig_error_set(err, -EINVAL, "--from %s: not a CIDR", o->from);
		c.have_from = true;
	}
	r = mig_iface_address(o->interface, o->port, &c.local, err);
	if (r < 0)
		return r;
	mig_addr_format(&c.local, rep->target_address, sizeof(rep->target_address));
	rep->port = o->port;
	r = listen_on(&c, err);
	if (r < 0)
		goto out;
	snprintf(port, sizeof(port), "%u", o->port);
	event(&c, MIG_EV_LISTENING, port, &c.local);
	r = accept_session(&c, rep, err);
	close(c.lfd);
	c.lfd = -1;
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
	for (i = 0; i < MIG_MAX_STREAMS; i++)
		if (c.streams[i].fd >= 0)
			close(c.streams[i].fd);
	if (c.lfd >= 0)
		close(c.lfd);
	mig_region_free(&c.region);
	return r;
}
