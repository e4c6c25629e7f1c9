/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The listener's insides, shared by mig_transport.c (accepting, hellos) and
 * mig_accept_tls.c (the TLS handshakes of admitted connections).
 */
#ifndef MIGNET_MIGRATION_MIG_TRANSPORT_PRIV_H
#define MIGNET_MIGRATION_MIG_TRANSPORT_PRIV_H

#include "mig_transport.h"

/** mig_listener_reject() - REJECT @reason (unless 0) on @fd, close it, count it, say @detail. */
void mig_listener_reject(struct mig_listener *l, int fd, const struct mig_addr *peer,
			 uint64_t reason, const char *detail);
/** mig_listener_shed() - REJECT overloaded on @fd (the sender retries); counted, said once a
 * second. */
void mig_listener_shed(struct mig_listener *l, int fd, const struct mig_addr *peer);
/** mig_same_host() - whether @a and @b are the same host (the address without the port). */
bool mig_same_host(const struct mig_addr *a, const struct mig_addr *b);

/* ---- mig_accept_tls.c ---- */

/* One admitted connection, once its TLS handshake succeeded. */
struct mig_secured {
	int fd;
	struct mig_tls_conn *conn;
	struct mig_hello h;
	struct mig_addr peer;
};

/**
 * mig_tls_accept_start() - a handshake slot for @fd (or shed it), WELCOME, its handshake started
 * Return: 0 (started, shed or refused: @fd is no longer the caller's), or -errno (fatal).
 */
int mig_tls_accept_start(struct mig_listener *l, int fd, const struct mig_hello *h,
			 const struct mig_addr *peer, struct mig_error *err);
/** mig_tls_accept_fd() - readable when a handshake finished (-1: none started yet). */
int mig_tls_accept_fd(const struct mig_listener *l);
/**
 * mig_tls_accept_expire() - cut the handshakes past their deadline short
 * Return: the next deadline (mig_now() seconds), 0 when none runs.
 */
double mig_tls_accept_expire(struct mig_listener *l, double now);
/**
 * mig_tls_accept_next() - the next finished handshake that passed, in *@ret (the failed ones
 * are refused on the way). Return: 1 with *@ret, 0 when none is left.
 */
int mig_tls_accept_next(struct mig_listener *l, struct mig_secured *ret);
/** mig_tls_accept_stop() - end every handshake still running, each refused saying @why. */
void mig_tls_accept_stop(struct mig_listener *l, const char *why);
/** mig_tls_accept_free() - stop what runs and free the slots (NULL-safe on the listener). */
void mig_tls_accept_free(struct mig_listener *l);

#endif
