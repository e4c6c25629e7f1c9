// SPDX-License-Identifier: Apache-2.0
/*
 * The listener's TLS stage: the server's handshake of every admitted connection, run
 * concurrently and bounded, so that a peer that stalls its handshake holds one slot for a
 * few seconds and never the accept loop.
 *
 * Theory of operation. A connection whose HELLO was admitted (mig_transport.c: syntax, token,
 * the session's check) first takes a handshake slot; only then is WELCOME sent, and a thread
 * runs mig_tls_handshake() on it (blocking, on its own socket). The accept loop goes on
 * meanwhile: it polls a pipe the threads write a byte to when they finish, collects the
 * finished ones (mig_tls_accept_next) and hands those that passed to the caller; the others
 * are refused there with the handshake's message. OpenSSL's SSL_CTX is shared by the threads
 * (it is thread-safe for SSL_new); each connection has its own SSL.
 *
 * Bounds, as for the hellos: at most ACTIVE_MAX handshakes at a time, at most PER_SOURCE of
 * them from one address (a sender opens its connections one after another and holds one);
 * a newcomer takes a free slot, else the oldest one of its own address when that address is
 * at its share, else the oldest of all once it is MIN_AGE old, or at once when that slot's
 * address holds FAIR_GAP more than the newcomer's. When no slot can be had the newcomer is
 * shed before WELCOME with REJECT "overloaded", which a sender retries. Each handshake has
 * MIG_TLS_ACCEPT_DEADLINE seconds from WELCOME, however slowly its bytes trickle in. A
 * handshake cut short (its deadline, an eviction, the end of serving) is shut down: its
 * thread's poll wakes, the handshake fails and the thread ends within moments; until then the
 * slot is "dying" and does not count against the bounds (there are twice as many slots as
 * live handshakes may be). A refused or cut connection has been given nothing but the
 * handshake: the caller never saw it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_tls.h"
#include "mig_transport_priv.h"

#define ACTIVE_MAX 32		  /* handshakes running at a time */
#define SLOTS (2 * ACTIVE_MAX)	  /* live ones plus dying ones */
#define PER_SOURCE 8		  /* of them from one address */
#define FAIR_GAP 4		  /* holding this many more than a newcomer's address: evictable */
#define MIN_AGE 1.0		  /* seconds a handshake is safe from being dropped */
#define THREAD_STACK (512u << 10) /* OpenSSL's handshake needs little */
#define STR_(x) #x
#define STR(x) STR_(x)

struct slot {
	int fd; /* -1: free */
	struct mig_addr peer;
	struct mig_hello h;
	uint64_t seq;
	double since, deadline;
	const char *cut; /* why the loop cut it short (NULL: live) */
	pthread_t thread;
	_Atomic bool finished;
	/* the thread's, read after it finished */
	struct mig_tls_ctx *ctx;
	int wake;
	int r;
	struct mig_tls_conn *conn;
	struct mig_error err;
};

struct mig_tls_accept {
	struct slot slot[SLOTS];
	int pipe[2];
	uint64_t seq;
};

static void *handshake_main(void *arg)
{
	struct slot *s = arg;
	char one = 1;

	s->r = mig_tls_handshake(s->ctx, s->fd, &s->conn, NULL, &s->err);
	atomic_store(&s->finished, true);
	if (write(s->wake, &one, 1) < 0) { /* a full pipe wakes the loop all the same */
	}
	return NULL;
}

static int acc_init(struct mig_listener *l, struct mig_error *err)
{
	struct mig_tls_accept *a;
	unsigned int i;

	if (l->acc)
		return 0;
	a = calloc(1, sizeof(*a));
	if (!a)
		return mig_error_set(err, -ENOMEM, "out of memory");
	if (pipe2(a->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		int e = errno;

		free(a);
		return mig_error_set(err, -e, "pipe: %s", strerror(e));
	}
	for (i = 0; i < SLOTS; i++)
		a->slot[i].fd = -1;
	l->acc = a;
	return 0;
}

static bool live(const struct slot *s)
{
	return s->fd >= 0 && !s->cut;
}

static unsigned int held_by(const struct mig_tls_accept *a, const struct mig_addr *peer)
{
	unsigned int i, n = 0;

	for (i = 0; i < SLOTS; i++)
		n += live(&a->slot[i]) && mig_same_host(&a->slot[i].peer, peer);
	return n;
}

static void cut(struct slot *s, const char *why)
{
	if (s->cut)
		return;
	s->cut = why;
	shutdown(s->fd, SHUT_RDWR); /* the thread's handshake fails at once */
}

/* A free slot for a newcomer from @peer, after cutting the one it may displace; NULL: shed. */
static struct slot *take_slot(struct mig_tls_accept *a, const struct mig_addr *peer, double now)
{
	struct slot *free_slot = NULL, *oldest = NULL, *oldest_own = NULL, *victim = NULL;
	unsigned int i, own = 0, active = 0;

	for (i = 0; i < SLOTS; i++) {
		struct slot *s = &a->slot[i];

		if (s->fd < 0) {
			free_slot = free_slot ? free_slot : s;
			continue;
		}
		if (!live(s))
			continue;
		active++;
		if (!oldest || s->seq < oldest->seq)
			oldest = s;
		if (mig_same_host(&s->peer, peer)) {
			own++;
			if (!oldest_own || s->seq < oldest_own->seq)
				oldest_own = s;
		}
	}
	if (own >= PER_SOURCE)
		victim = oldest_own->since + MIN_AGE <= now ? oldest_own : NULL;
	else if (active >= ACTIVE_MAX)
		victim = oldest->since + MIN_AGE <= now ||
					 held_by(a, &oldest->peer) >= own + FAIR_GAP
				 ? oldest
				 : NULL;
	if ((own >= PER_SOURCE || active >= ACTIVE_MAX) && !victim)
		return NULL;
	if (!free_slot)
		return NULL; /* every slot is dying: they free up in moments, the sender retries */
	if (victim)
		cut(victim, "too many pending TLS handshakes (oldest dropped)");
	return free_slot;
}

int mig_tls_accept_start(struct mig_listener *l, int fd, const struct mig_hello *h,
			 const struct mig_addr *peer, struct mig_error *err)
{
	double now = mig_now();
	pthread_attr_t attr;
	struct slot *s;
	int r;

	r = acc_init(l, err);
	if (r < 0) {
		close(fd);
		return r;
	}
	s = take_slot(l->acc, peer, now);
	if (!s) {
		mig_listener_shed(l, fd, peer);
		return 0;
	}
	if (mig_send_ctl(fd, MIG_FRAME_WELCOME, 0, 0) < 0) {
		close(fd);
		return 0;
	}
	*s = (struct slot){ .fd = fd,
			    .peer = *peer,
			    .h = *h,
			    .seq = l->acc->seq++,
			    .since = now,
			    .deadline = now + MIG_TLS_ACCEPT_DEADLINE,
			    .ctx = l->tls,
			    .wake = l->acc->pipe[1] };
	atomic_store(&s->finished, false);
	r = pthread_attr_init(&attr);
	if (r == 0) {
		pthread_attr_setstacksize(&attr, THREAD_STACK);
		r = pthread_create(&s->thread, &attr, handshake_main, s);
		pthread_attr_destroy(&attr);
	}
	if (r) {
		s->fd = -1;
		mig_listener_reject(l, fd, peer, 0, "no thread for its TLS handshake");
	}
	return 0;
}

int mig_tls_accept_fd(const struct mig_listener *l)
{
	return l->acc ? l->acc->pipe[0] : -1;
}

double mig_tls_accept_expire(struct mig_listener *l, double now)
{
	double until = 0;
	unsigned int i;

	if (!l->acc)
		return 0;
	for (i = 0; i < SLOTS; i++) {
		struct slot *s = &l->acc->slot[i];

		if (!live(s))
			continue;
		if (now >= s->deadline)
			cut(s, "no TLS handshake within " STR(
				       MIG_TLS_ACCEPT_DEADLINE) " s of WELCOME "
								"(a stalled or plaintext peer?)");
		else if (!until || s->deadline < until)
			until = s->deadline;
	}
	return until;
}

/* Joins @s's finished thread and frees the slot. Return: 1 with *@ret (passed), 0 refused. */
static int collect(struct mig_listener *l, struct slot *s, struct mig_secured *ret)
{
	char msg[sizeof(s->err.msg) + 32];
	int fd = s->fd;

	pthread_join(s->thread, NULL);
	s->fd = -1;
	if (s->r == 0 && !s->cut) {
		*ret = (struct mig_secured){
			.fd = fd, .conn = s->conn, .h = s->h, .peer = s->peer
		};
		return 1;
	}
	mig_tls_conn_free(s->conn);
	s->conn = NULL;
	snprintf(msg, sizeof(msg), "connection %u: %s", s->h.stream_index,
		 s->cut ? s->cut : s->err.msg);
	mig_listener_reject(l, fd, &s->peer, 0, msg);
	return 0;
}

int mig_tls_accept_next(struct mig_listener *l, struct mig_secured *ret)
{
	char buf[64];
	unsigned int i;

	if (!l->acc)
		return 0;
	while (read(l->acc->pipe[0], buf, sizeof(buf)) > 0)
		;
	for (i = 0; i < SLOTS; i++) {
		struct slot *s = &l->acc->slot[i];

		if (s->fd >= 0 && atomic_load(&s->finished) && collect(l, s, ret))
			return 1;
	}
	return 0;
}

void mig_tls_accept_stop(struct mig_listener *l, const char *why)
{
	struct mig_secured ok;
	unsigned int i;

	if (!l->acc)
		return;
	for (i = 0; i < SLOTS; i++) {
		struct slot *s = &l->acc->slot[i];

		if (s->fd < 0)
			continue;
		cut(s, why);
		if (collect(l, s, &ok)) { /* cannot pass once cut; for the form */
			mig_tls_conn_free(ok.conn);
			close(ok.fd);
		}
	}
}

void mig_tls_accept_free(struct mig_listener *l)
{
	if (!l->acc)
		return;
	mig_tls_accept_stop(l, "closed during its TLS handshake: the listener closed");
	close(l->acc->pipe[0]);
	close(l->acc->pipe[1]);
	free(l->acc);
	l->acc = NULL;
}
