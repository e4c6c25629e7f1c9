/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The listener's insides, shared by mig_transport.c (accepting, hellos) and
 * mig_accept_tls.c (the TLS handshakes of admitted connections).
 */
#ifndef MIGNET_MIGRATION_MIG_TRANSPORT_PRIV_H
#define MIGNET_MIGRATION_MIG_TRANSPORT_PRIV_H

#include "mig_transport.h"

/* Refuses @fd (REJECT @reason unless 0), closes it, counts it and says @detail. */
void mig_listener_reject(struct mig_listener *l, int fd, const struct mig_addr *peer,
			 uint64_t reason, const char *detail);
/* Sheds @fd with REJECT overloaded (the sender retries); counted, said once a second. */
void mig_listener_shed(struct mig_listener *l, int fd, const struct mig_addr *peer);
/* Whether @a and @b are the same host (the address without the port). */
bool mig_same_host(const struct mig_addr *a, const struct mig_addr *b);

/* ---- mig_accept_tls.c ---- */

/* One admitted connection, once its TLS handshake succeeded. */
struct mig_secured {
	int fd;
	struct mig_tls_conn *conn;
	struct mig_hello h;
	struct mig_addr peer;
};

/* Takes a handshake slot for @fd (or sheds it), sends WELCOME, starts its handshake.
 * Return: 0 (started, shed or refused: @fd is no longer the caller's), -errno fatal. */
int mig_tls_accept_start(struct mig_listener *l, int fd, const struct mig_hello *h,
			 const struct mig_addr *peer, struct mig_error *err);
/* The descriptor that turns readable when a handshake finished (-1: none yet). */
int mig_tls_accept_fd(const struct mig_listener *l);
/* Cuts the handshakes past their deadline short; returns the next deadline (0: none). */
double mig_tls_accept_expire(struct mig_listener *l, double now);
/* The next finished handshake that succeeded, in *@ret; the failed ones are refused on the
 * way. Return: 1 with *@ret, 0 when none is left. */
int mig_tls_accept_next(struct mig_listener *l, struct mig_secured *ret);
/* Ends every handshake still running, each refused saying @why. */
void mig_tls_accept_stop(struct mig_listener *l, const char *why);
/* Frees the slots (after mig_tls_accept_stop). */
void mig_tls_accept_free(struct mig_listener *l);

#endif
