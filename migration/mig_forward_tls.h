/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TLS for the QEMU migration path: the forwarder's pump for TLS connections, and a shim
 * that gives code speaking on a plain socket (the control connection) a TLS connection.
 *
 * The pump (mig_pump_tls_init): per forwarder, the TLS connection of each connection index;
 * the QEMU -> network direction runs mig_tls_pump_out() from QEMU's socket, the other
 * mig_tls_pump_in() to it (mig_tls.h: SSL_read/write through one buffer each, or splice
 * with kTLS), so the data path has no hop beyond the plain one's.
 *
 * The shim (mig_tls_shim): two threads pump between the TLS connection and one end of a
 * socketpair; the caller gets the other end, a plain blocking socket, closes it when done
 * and then calls mig_tls_shim_close(), which waits until what was written went out (and
 * close_notify after it): a process that exits right after its last message would
 * otherwise lose it. One copy more per byte: for the control connection's few messages,
 * never for QEMU's stream.
 */
#ifndef MIGNET_MIGRATION_MIG_FORWARD_TLS_H
#define MIGNET_MIGRATION_MIG_FORWARD_TLS_H

#include "mig_forward.h"
#include "mig_tls.h"

struct mig_tls_streams {
	struct mig_tls_conn *conn[MIG_MAX_STREAMS]; /* by connection index */
};

/** mig_pump_tls_init() - @ops pumps through @s's connections (by the connection's index). */
void mig_pump_tls_init(struct mig_pump_ops *ops, struct mig_tls_streams *s);

/** mig_tls_streams_free() - free every connection of @s (after mig_forwarder_stop()). */
void mig_tls_streams_free(struct mig_tls_streams *s);

struct mig_tls_shim;

/**
 * mig_tls_shim() - a plain socket speaking through @c (on @net_fd)
 * Takes @c and @net_fd over (freed and closed by mig_tls_shim_close()).
 * Return: the plain end (blocking; close it when done) with *@ret set, or -errno with @err
 * (@c freed, @net_fd closed).
 */
int mig_tls_shim(struct mig_tls_conn *c, int net_fd, struct mig_tls_shim **ret,
		 struct mig_error *err);

/**
 * mig_tls_shim_abort() - break the TLS connection under @sh (shut its socket down), so that
 * pumps waiting on the network return: before mig_tls_shim_close() on a failure (NULL is
 * fine).
 */
void mig_tls_shim_abort(struct mig_tls_shim *sh);

/**
 * mig_tls_shim_close() - after the caller closed its end: wait for the bytes written to
 * it to go out through TLS, close_notify, then end the other direction and free (NULL is
 * fine).
 */
void mig_tls_shim_close(struct mig_tls_shim *sh);

#endif
