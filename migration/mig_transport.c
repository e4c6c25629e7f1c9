// SPDX-License-Identifier: Apache-2.0
/*
 * The transport of every migration: the listener's handshakes and the sender's dial.
 *
 * Theory of operation. The listener listens on its migration address only (bound to the
 * interface too), never on the wildcard. Each accepted connection is checked, in order:
 * the peer address against --from (a mismatch is closed before a byte is read), then its
 * HELLO: frame syntax, payload checksum, the token (compared in constant time), then the
 * caller's check (the session: struct mig_accept_ops). Only a connection that passed all of
 * that is handed to the caller, so a rejected peer never causes a write to a guest's memory
 * or a byte to a QEMU. Handshakes run concurrently from one poll() loop, bounded in number
 * and time (PENDING_MAX, HELLO_DEADLINE below), so a flood cannot starve the sender.
 *
 * Against a flood of connections: handshakes are served concurrently from one poll() loop on
 * non-blocking sockets. At most PENDING_MAX connections wait for their HELLO at a time, each
 * with a fixed buffer (struct mig_pending, allocated once), and at most PENDING_PER_SOURCE of
 * them from one address (room for every stream of one sender), so a flood from one host
 * leaves the other slots to everyone else. A new connection takes a free slot, else the
 * oldest pending one of its own address (when that address is at its share) or of all, but
 * only once that one had PENDING_MIN_AGE seconds: a reconnecting flood cannot evict a
 * handshake faster than that. One exception, for fairness: a connection may take the oldest
 * slot at once when that slot's address holds at least PENDING_FAIR_GAP more pending
 * handshakes than its own, so that several flooding hosts cannot keep every slot young
 * against a sender, which holds at most one (it opens its streams one after the other). When
 * no slot can be had, the new connection is shed at once with REJECT "overloaded" (a sender
 * retries); the backlog is always drained, because a full backlog makes the kernel drop
 * SYNs, and a sender's SYN retransmits (1, 3, 7 s) would outlast its join. Each pending one
 * has HELLO_DEADLINE seconds from accept for its whole HELLO, however slowly it trickles in.
 * A genuine sender answers its challenge within one round trip, so it is admitted promptly
 * whatever idle or slow peers hold.
 *
 * With TLS (l->tls), an admitted connection gets its WELCOME only once it holds one of the
 * bounded TLS handshake slots, and joins only once its handshake passed and the caller's
 * check still says yes: the handshakes run beside the loop (mig_accept_tls.c), so a peer that
 * stalls or trickles its handshake holds a slot for MIG_TLS_ACCEPT_DEADLINE seconds at most
 * and never the loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mig_hmac.h"
#include "mig_stream.h"
#include "mig_sum.h"
#include "mig_tls.h"
#include "mig_transport_priv.h"

#define PENDING_MAX 256			   /* unauthenticated connections waiting for their HELLO */
#define PENDING_PER_SOURCE MIG_MAX_STREAMS /* of them from one address */
#define PENDING_FAIR_GAP 4   /* holding this many more than a newcomer's address: evictable */
#define HELLO_DEADLINE 3     /* seconds from accept to a complete HELLO */
#define PENDING_MIN_AGE 0.25 /* seconds a pending handshake is safe from being dropped */
#define LISTEN_BACKLOG 1024  /* the kernel's queue of not yet accepted connections */
#define ACCEPT_BATCH 256     /* accepts per poll() wake-up, so pending handshakes still run */
#define SHED_EVENT_EVERY 1.0 /* seconds between two events counting shed connections */
#define HANDSHAKE_TIMEOUT MIG_HANDSHAKE_TIMEOUT
#define STR_(x) #x
#define STR(x) STR_(x)

struct mig_pending {
	int fd; /* -1: free slot */
	struct mig_addr peer;
	double since; /* accepted at (mig_now) */
	double deadline;
	uint64_t seq; /* accept order: the smallest is the oldest */
	size_t got;   /* bytes of buf received */
	uint8_t nonce[MIG_CHALLENGE_LEN];
	uint8_t buf[MIG_FRAME_HDR_LEN + MIG_HELLO_LEN];
};

/* The listener's state and the caller's answers, for one mig_listener_serve(). */
struct serve {
	struct mig_listener *l;
	const struct mig_accept_ops *ops;
	void *opaque;
};

static void event(struct mig_listener *l, enum mig_event ev, const char *detail,
		  const struct mig_addr *peer)
{
	if (l->event)
		l->event(ev, detail, peer, l->opaque);
}

int mig_send_ctl(int fd, uint8_t type, uint16_t flags, uint64_t aux)
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

void mig_listener_reject(struct mig_listener *l, int fd, const struct mig_addr *peer,
			 uint64_t reason, const char *detail)
{
	if (reason)
		mig_send_ctl(fd, MIG_FRAME_REJECT, 0, reason);
	close(fd);
	l->rejected++;
	event(l, MIG_EV_REJECTED, detail, peer);
}

/* Sends the challenge on a freshly accepted connection. Return: 1 sent, 0 rejected, -errno. */
static int challenge(struct mig_listener *l, struct mig_pending *p, struct mig_error *err)
{
	uint8_t frame[MIG_FRAME_HDR_LEN + MIG_CHALLENGE_LEN];
	struct mig_frame f;
	ssize_t n;

	mig_set_timeouts(p->fd, HANDSHAKE_TIMEOUT);
	if (getrandom(p->nonce, sizeof(p->nonce), 0) != sizeof(p->nonce)) {
		close(p->fd);
		return mig_error_set(err, -EIO, "getrandom failed");
	}
	f = (struct mig_frame){ .type = MIG_FRAME_CHALLENGE,
				.length = sizeof(p->nonce),
				.checksum = mig_sum64(p->nonce, sizeof(p->nonce)) };
	mig_frame_encode(&f, frame);
	memcpy(frame + MIG_FRAME_HDR_LEN, p->nonce, sizeof(p->nonce));
	/* 72 bytes into the empty send buffer of a new socket: all or nothing */
	n = send(p->fd, frame, sizeof(frame), MSG_NOSIGNAL);
	if (n != (ssize_t)sizeof(frame)) {
		mig_listener_reject(l, p->fd, &p->peer, 0, "gone before the hello");
		return 0;
	}
	return 1;
}

/* Checks a complete HELLO (p->buf) and admits the connection. The socket is blocking again.
 * Return: 1 joined, 0 rejected, -errno fatal. */
static int admit(struct serve *s, struct mig_pending *p, struct mig_error *err)
{
	const uint8_t *payload = p->buf + MIG_FRAME_HDR_LEN;
	const struct mig_addr *peer = &p->peer;
	struct mig_listener *l = s->l;
	const char *detail = "refused";
	uint64_t reason = MIG_REJECT_PROTOCOL;
	int fd = p->fd;
	struct mig_hello h;
	struct mig_frame f;
	int r;

	mig_frame_decode(p->buf, &f); /* checked when the header arrived */
	if (mig_sum64(payload, MIG_HELLO_LEN) != f.checksum || mig_hello_decode(payload, &h) < 0) {
		mig_listener_reject(l, fd, peer, MIG_REJECT_PROTOCOL, "malformed hello");
		return 0;
	}
	if (l->token && !token_proven(l->token, p->nonce, payload, &h)) {
		mig_listener_reject(l, fd, peer, MIG_REJECT_TOKEN, "token mismatch");
		return 0;
	}
	r = s->ops->check(s->opaque, &h, peer, &reason, &detail, err);
	if (r != 0) {
		mig_listener_reject(l, fd, peer, reason, detail);
		return r < 0 ? r : 0;
	}
	if (l->tls) /* WELCOME, then the TLS handshake, beside the others (mig_accept_tls.c) */
		return mig_tls_accept_start(l, fd, &h, peer, err);
	if (mig_send_ctl(fd, MIG_FRAME_WELCOME, 0, 0) < 0) {
		close(fd);
		return 0;
	}
	r = s->ops->joined(s->opaque, fd, NULL, &h, peer, err);
	return r < 0 ? r : 1;
}

/* The connections whose TLS handshake passed: asked again, then joined. Return: 1 done, 0
 * go on, -errno fatal. */
static int join_secured(struct serve *s, struct mig_error *err)
{
	struct mig_listener *l = s->l;
	struct mig_secured c;
	const char *detail;
	uint64_t reason;
	char msg[200];
	int r;

	while (mig_tls_accept_next(l, &c)) {
		detail = "refused";
		r = s->ops->check(s->opaque, &c.h, &c.peer, &reason, &detail, err);
		if (r != 0) {
			mig_tls_conn_free(c.conn);
			snprintf(msg, sizeof(msg), "connection %u, after its TLS handshake: %s",
				 c.h.stream_index, detail);
			mig_listener_reject(l, c.fd, &c.peer, 0, msg);
			if (r < 0)
				return r;
			continue;
		}
		r = s->ops->joined(s->opaque, c.fd, c.conn, &c.h, &c.peer, err);
		if (r < 0)
			return r;
		if (s->ops->done(s->opaque))
			return 1;
	}
	return 0;
}

/* Reads what arrived of a pending HELLO, never past its end. Return: 1 joined, 0 still
 * pending or rejected (p->fd is then -1), -errno fatal. */
static int pending_read(struct serve *s, struct mig_pending *p, struct mig_error *err)
{
	struct mig_listener *l = s->l;
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
				mig_listener_reject(l, p->fd, &p->peer, 0, "no valid hello");
			else
				mig_listener_reject(l, p->fd, &p->peer, MIG_REJECT_PROTOCOL,
						    "malformed hello");
			p->fd = -1;
			return 0;
		}
		p->got += (size_t)n;
		if (p->got == MIG_FRAME_HDR_LEN &&
		    (mig_frame_decode(p->buf, &f) < 0 || f.type != MIG_FRAME_HELLO)) {
			mig_listener_reject(l, p->fd, &p->peer, 0, "no valid hello");
			p->fd = -1;
			return 0;
		}
		if (p->got == sizeof(p->buf))
			break;
	}
	/* blocking again, with the socket timeouts, for WELCOME and the caller */
	fcntl(p->fd, F_SETFL, fcntl(p->fd, F_GETFL) & ~O_NONBLOCK);
	r = admit(s, p, err);
	p->fd = -1;
	return r;
}

static int listen_on(struct mig_listener *l, struct mig_error *err)
{
	int one = 1;

	l->lfd = socket(l->local.ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (l->lfd < 0)
		return mig_error_set(err, -errno, "socket: %s", strerror(errno));
	setsockopt(l->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (setsockopt(l->lfd, SOL_SOCKET, SO_BINDTODEVICE, l->interface,
		       (socklen_t)strlen(l->interface)) < 0)
		return mig_error_set(err, -errno, "SO_BINDTODEVICE %s: %s", l->interface,
				     strerror(errno));
	if (bind(l->lfd, (struct sockaddr *)&l->local.ss, l->local.len) < 0 ||
	    listen(l->lfd, LISTEN_BACKLOG) < 0) {
		int e = errno;
		char a[64];

		return mig_error_set(err, -e, "listen on %s port %u: %s%s",
				     mig_addr_format(&l->local, a, sizeof(a)), l->port, strerror(e),
				     mig_listen_hint(e, l->port));
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

bool mig_same_host(const struct mig_addr *a, const struct mig_addr *b)
{
	if (a->ss.ss_family != b->ss.ss_family)
		return false;
	if (a->ss.ss_family == AF_INET)
		return ((const struct sockaddr_in *)&a->ss)->sin_addr.s_addr ==
		       ((const struct sockaddr_in *)&b->ss)->sin_addr.s_addr;
	return !memcmp(&((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
		       &((const struct sockaddr_in6 *)&b->ss)->sin6_addr, sizeof(struct in6_addr));
}

static unsigned int held_by(const struct mig_pending *pend, unsigned int cap,
			    const struct mig_addr *peer)
{
	unsigned int i, n = 0;

	for (i = 0; i < cap; i++)
		n += pend[i].fd >= 0 && mig_same_host(&pend[i].peer, peer);
	return n;
}

/*
 * The slot for a connection from @peer: a free one, else the oldest pending one of @peer's
 * address when it holds its share, else the oldest of all. *@ret_young_ok: the slot may be
 * taken before PENDING_MIN_AGE (its address holds PENDING_FAIR_GAP more than @peer's).
 */
static struct mig_pending *pending_slot(struct mig_pending *pend, unsigned int cap,
					const struct mig_addr *peer, bool *ret_young_ok)
{
	struct mig_pending *free_slot = NULL, *oldest = NULL, *oldest_own = NULL;
	unsigned int i, own = 0;

	for (i = 0; i < cap; i++) {
		if (pend[i].fd < 0) {
			free_slot = free_slot ? free_slot : &pend[i];
			continue;
		}
		if (!oldest || pend[i].seq < oldest->seq)
			oldest = &pend[i];
		if (mig_same_host(&pend[i].peer, peer)) {
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
static void shed_event(struct mig_listener *l)
{
	char detail[96];

	if (!l->shed)
		return;
	snprintf(detail, sizeof(detail),
		 "too many pending handshakes (%" PRIu64 " shed, asked "
		 "to retry)",
		 l->shed);
	event(l, MIG_EV_REJECTED, detail, &l->shed_peer);
	l->shed = 0;
	l->shed_said = mig_now();
}

/* A connection no slot can take: told to retry, closed; counted, and said once a second. */
void mig_listener_shed(struct mig_listener *l, int fd, const struct mig_addr *peer)
{
	mig_send_ctl(fd, MIG_FRAME_REJECT, 0,
		     MIG_REJECT_OVERLOADED); /* non-blocking: best effort */
	close(fd);
	l->rejected++;
	l->shed++;
	l->shed_peer = *peer;
	if (mig_now() >= l->shed_said + SHED_EVENT_EVERY)
		shed_event(l);
}

/* Accepts new connections (a batch), each into the slot pending_slot() names, dropping the
 * pending one there when it is at least PENDING_MIN_AGE old, else shedding the new one.
 * Return: 0, or -errno fatal. */
static int accept_some(struct mig_listener *l, struct mig_error *err)
{
	struct mig_pending *pend = l->pend;
	unsigned int k;
	int r;

	for (k = 0; k < ACCEPT_BATCH; k++) {
		struct mig_addr peer = { .len = sizeof(peer.ss) };
		struct mig_pending *p;
		bool young_ok;
		double now;
		int fd;

		fd = accept4(l->lfd, (struct sockaddr *)&peer.ss, &peer.len,
			     SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return 0; /* EAGAIN, or an aborted connection: poll again */
		if (l->have_from && !mig_cidr_match(&l->from, (const struct sockaddr *)&peer.ss)) {
			mig_listener_reject(l, fd, &peer, 0, "source not in --from");
			continue;
		}
		now = mig_now();
		p = pending_slot(pend, l->cap, &peer, &young_ok);
		if (p->fd >= 0 && !young_ok && now < p->since + PENDING_MIN_AGE) {
			mig_listener_shed(l, fd, &peer);
			continue;
		}
		if (p->fd >= 0)
			mig_listener_reject(l, p->fd, &p->peer, 0,
					    "too many pending handshakes (oldest dropped)");
		*p = (struct mig_pending){ .fd = fd,
					   .peer = peer,
					   .seq = l->seq++,
					   .since = now,
					   .deadline = now + HELLO_DEADLINE };
		r = challenge(l, p, err);
		if (r <= 0)
			p->fd = -1;
		if (r < 0)
			return r;
	}
	return 0;
}

/* Drops the handshakes past their deadline. */
static void expire_pending(struct mig_listener *l, double now)
{
	unsigned int i;

	for (i = 0; i < PENDING_MAX; i++) {
		if (l->pend[i].fd >= 0 && now >= l->pend[i].deadline) {
			mig_listener_reject(l, l->pend[i].fd, &l->pend[i].peer, 0,
					    "no hello within " STR(HELLO_DEADLINE) " s");
			l->pend[i].fd = -1;
		}
	}
}

/* The poll set: the listener, @watch_fd, finished TLS handshakes, the pending hellos.
 * Return: its size. */
static unsigned int poll_set(struct mig_listener *l, int watch_fd, struct pollfd *pfd,
			     struct mig_pending **slot, double *until)
{
	unsigned int i, n;

	pfd[0] = (struct pollfd){ .fd = l->lfd, .events = POLLIN };
	pfd[1] = (struct pollfd){ .fd = watch_fd, .events = POLLIN };
	pfd[2] = (struct pollfd){ .fd = mig_tls_accept_fd(l), .events = POLLIN };
	n = 3;
	for (i = 0; i < PENDING_MAX; i++) {
		if (l->pend[i].fd < 0)
			continue;
		if (!*until || l->pend[i].deadline < *until)
			*until = l->pend[i].deadline;
		slot[n] = &l->pend[i];
		pfd[n++] = (struct pollfd){ .fd = l->pend[i].fd, .events = POLLIN };
	}
	return n;
}

/* Serves the connections poll() found readable. Return: 1 done, 0 go on, -errno. */
static int serve_ready(struct serve *s, struct pollfd *pfd, struct mig_pending **slot,
		       unsigned int n, struct mig_error *err)
{
	unsigned int i;
	int r;

	if (pfd[2].revents) {
		r = join_secured(s, err);
		if (r != 0)
			return r;
	}
	for (i = 3; i < n; i++) {
		if (!pfd[i].revents || slot[i]->fd < 0)
			continue;
		r = pending_read(s, slot[i], err);
		if (r < 0)
			return r;
		if (r == 1 && s->ops->done(s->opaque))
			return 1;
	}
	if (pfd[0].revents)
		return accept_some(s->l, err);
	return 0;
}

int mig_listener_serve(struct mig_listener *l, const struct mig_accept_ops *ops, void *opaque,
		       int watch_fd, struct mig_error *err)
{
	struct serve s = { .l = l, .ops = ops, .opaque = opaque };
	struct pollfd pfd[3 + PENDING_MAX];
	struct mig_pending *slot[3 + PENDING_MAX];
	unsigned int i, n;
	int r = 0;

	while (!ops->done(opaque)) {
		double now = mig_now(), until = ops->deadline(opaque), tls_until;
		int ms = -1;

		expire_pending(l, now);
		tls_until = mig_tls_accept_expire(l, now);
		if (until && now >= until) {
			r = ops->expired(opaque, err);
			goto out;
		}
		n = poll_set(l, watch_fd, pfd, slot, &until);
		if (tls_until && (!until || tls_until < until))
			until = tls_until;
		if (until)
			ms = until > now ? (int)((until - now) * 1000) + 1 : 0;
		r = poll(pfd, n, ms);
		if (r < 0 && errno != EINTR) {
			r = mig_error_set(err, -errno, "poll: %s", strerror(errno));
			goto out;
		}
		if (r <= 0)
			continue;
		if (pfd[1].revents) {
			r = mig_error_set(err, -ECANCELED, "the control connection closed");
			goto out;
		}
		r = serve_ready(&s, pfd, slot, n, err);
		if (r < 0)
			goto out;
	}
	r = 0;
out:
	/* the session has what it needed (or failed): a handshake still running is not needed */
	mig_tls_accept_stop(l, r == 0 ? "closed during its TLS handshake: the session was "
					"complete without it"
				      : "closed during its TLS handshake: serving ended");
	shed_event(l);
	/* left waiting when the session is complete (or failed): closed like the backlog */
	for (i = 0; i < PENDING_MAX; i++) {
		if (l->pend[i].fd >= 0)
			close(l->pend[i].fd);
		l->pend[i].fd = -1;
	}
	return r;
}

int mig_listener_open(struct mig_listener *l, const char *interface, uint16_t port,
		      const char *from, const char *token, struct mig_error *err)
{
	unsigned int i;
	int r;

	*l = (struct mig_listener){ .interface = interface,
				    .port = port,
				    .token = token,
				    .lfd = -1,
				    .event = l->event,
				    .opaque = l->opaque };
	if (from) {
		if (mig_cidr_parse(from, &l->from) < 0)
			return mig_error_set(err, -EINVAL, "--from %s: not a CIDR", from);
		l->have_from = true;
	}
	l->pend = calloc(PENDING_MAX, sizeof(*l->pend));
	if (!l->pend)
		return mig_error_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < PENDING_MAX; i++)
		l->pend[i].fd = -1;
	l->cap = pending_cap();
	r = mig_iface_address(interface, port, &l->local, err);
	if (r < 0)
		return r;
	return listen_on(l, err);
}

void mig_listener_close(struct mig_listener *l)
{
	mig_tls_accept_free(l);
	if (l->lfd >= 0)
		close(l->lfd);
	l->lfd = -1;
	free(l->pend);
	l->pend = NULL;
}
