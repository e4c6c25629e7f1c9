/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The transport every migration shares, `receive`/`send` (synthetic memory) and
 * `incoming`/`migrate` (a QEMU's migration): TCP connections on the migration address, each
 * opened with the same handshake
 *
 *   receiver -> CHALLENGE (a nonce)   sender -> HELLO (+ HMAC of the token over the nonce)
 *   receiver -> WELCOME or REJECT
 *
 * The receiving side is a listener bound to the interface's address with a flood-resistant
 * accept loop (mig_listener_serve(), see mig_transport.c); what a session is, and whether a
 * hello belongs to it, is the caller's: it answers through struct mig_accept_ops. The sending
 * side is mig_dial(): bound to the migration address and interface, retrying a receiver that
 * sheds connections as overloaded.
 */
#ifndef MIGNET_MIGRATION_MIG_TRANSPORT_H
#define MIGNET_MIGRATION_MIG_TRANSPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "mig.h"
#include "mig_frame.h"
#include "mig_parse.h"

#define MIG_HANDSHAKE_TIMEOUT 10  /* seconds */
#define MIG_TLS_ACCEPT_DEADLINE 5 /* seconds from WELCOME to the end of the TLS handshake */

struct mig_pending;
struct mig_tls_accept;
struct mig_tls_ctx;
struct mig_tls_conn;

/* Set event and opaque before mig_listener_open(), tls after it; the rest is the listener's. */
struct mig_listener {
	const char *interface;
	uint16_t port;
	const char *token; /* NULL: no token is asked for */
	struct mig_addr local;
	struct mig_cidr from;
	bool have_from;
	int lfd;
	mig_event_fn event;
	void *opaque;	   /* of event */
	uint64_t rejected; /* connections refused or shed */
	/*
	 * NULL: plaintext. Else every admitted connection runs the server's TLS handshake
	 * (mutual: mig_tls.h) after WELCOME, concurrently with the others and bounded in number
	 * and time (mig_accept_tls.c), and only one that passed it joins.
	 */
	struct mig_tls_ctx *tls;

	/* private */
	struct mig_tls_accept *acc;
	struct mig_pending *pend;
	unsigned int cap;
	uint64_t seq;
	uint64_t shed;
	struct mig_addr shed_peer;
	double shed_said;
};

struct mig_accept_ops {
	/*
	 * A HELLO with a proven token (and a correct syntax) from @peer: whether it belongs to
	 * the session. Return: 0 to admit it; 1 to refuse it with REJECT *@ret_reason (enum
	 * mig_reject) and *@ret_detail saying why (the REJECTED event); -errno to refuse it
	 * the same way and stop serving (@err filled). With TLS it is asked again once the
	 * connection's handshake passed (the session may have changed meanwhile: other
	 * handshakes run at the same time); a refusal then only closes the connection.
	 * It must not commit anything to the session: joined() does.
	 */
	int (*check)(void *opaque, const struct mig_hello *h, const struct mig_addr *peer,
		     uint64_t *ret_reason, const char **ret_detail, struct mig_error *err);
	/*
	 * WELCOME was sent (and with TLS, the handshake passed and check() said yes again):
	 * @fd now belongs to the callee, and so does @tls (NULL without TLS; @fd is then
	 * blocking, else non-blocking). Return: 0 or -errno.
	 */
	int (*joined)(void *opaque, int fd, struct mig_tls_conn *tls, const struct mig_hello *h,
		      const struct mig_addr *peer, struct mig_error *err);
	/* Whether serving is done; checked after every joined connection. */
	bool (*done)(void *opaque);
	/* The deadline (mig_now() seconds, 0 none) and the error when it passes. */
	double (*deadline)(void *opaque);
	int (*expired)(void *opaque, struct mig_error *err);
};

/**
 * mig_listener_open() - listen on the global-unicast address of @interface, port @port
 * @from: a CIDR allowlist of peers, or NULL
 * Return: 0 or -errno with @err filled; mig_listener_close() it in both cases.
 */
int mig_listener_open(struct mig_listener *l, const char *interface, uint16_t port,
		      const char *from, const char *token, struct mig_error *err);

/**
 * mig_listener_serve() - run the handshakes of incoming connections until @ops->done()
 * @watch_fd: a descriptor (or -1) whose readability ends serving with -ECANCELED (a control
 *            connection that closed)
 * Return: 0 when done, the result of @ops->expired() past the deadline, or -errno.
 */
int mig_listener_serve(struct mig_listener *l, const struct mig_accept_ops *ops, void *opaque,
		       int watch_fd, struct mig_error *err);

/** mig_listener_close() - close the listening socket (accepts a closed one). */
void mig_listener_close(struct mig_listener *l);

struct mig_dialer {
	const char *interface;
	struct mig_addr local; /* the migration address (its port is ignored) */
	struct mig_addr target;
	const char *token;
	unsigned int timeout; /* socket timeouts after the handshake, seconds */
};

/**
 * mig_dialer_init() - the migration address of @interface, @target parsed (default port
 * @port) and its route checked to leave through @interface
 * Return: 0 or -errno with @err filled.
 */
int mig_dialer_init(struct mig_dialer *d, const char *interface, const char *target, uint16_t port,
		    const char *token, struct mig_error *err);

/**
 * mig_dial() - connect to the receiver and pass the handshake with @h (its MAC is computed
 * here when there is a token)
 * @ret_fd: the connected, blocking socket; -1 on failure
 * @ret_retries: incremented for every connection the receiver shed as overloaded
 * Return: 0, or -errno with @err filled: -EACCES when the receiver refused the hello.
 */
int mig_dial(const struct mig_dialer *d, const struct mig_hello *h, int *ret_fd,
	     uint64_t *ret_retries, struct mig_error *err);

/** mig_send_ctl() - a frame without payload. Return: 0 or -errno. */
int mig_send_ctl(int fd, uint8_t type, uint16_t flags, uint64_t aux);

#endif
