/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The forwarder: each of a QEMU migration's connections joins a local unix socket (QEMU's
 * side) and a TCP connection on migration0 (the other node's mignet). Each connection has
 * one pump per direction, a thread that moves bytes until end of file and then half-closes
 * the far side, so the peer sees the same orderly end QEMU made. A pump is an ops struct:
 * the plain one splices through a pipe (no byte is copied through user space); a TLS pump
 * (SSL_read/SSL_write, or splice on kTLS) plugs in with the same interface.
 *
 * An error in one direction shuts the whole connection down (both sockets), so QEMU sees
 * it at once and fails its migration rather than waiting; the first error is kept.
 *
 * A connection may also be passed: QEMU was handed the TCP socket itself (QMP getfd, fd:)
 * and moves the bytes; the forwarder keeps its own reference to count them (TCP_INFO) and to
 * shut the socket down as it would a pumped one.
 */
#ifndef MIGNET_MIGRATION_MIG_FORWARD_H
#define MIGNET_MIGRATION_MIG_FORWARD_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mig.h"

struct mig_conn;

/* One direction of one connection. */
struct mig_pump_dir {
	struct mig_conn *conn;
	int in, out;
	bool to_net; /* in: QEMU's unix socket, out: the TCP connection */
	_Atomic uint64_t bytes;
	int result; /* 0 at end of file, else -errno */
	pthread_t thread;
	bool started;
};

struct mig_pump_ops {
	const char *name; /* "splice", "tls", ... */
	/* Moves bytes from d->in to d->out, adding to d->bytes. Return: 0 at end of file of
	 * d->in, -errno otherwise. Called in its own thread. */
	int (*run)(struct mig_pump_dir *d, void *arg);
	void *arg; /* per forwarder: a TLS session factory, say */
};

/** The plain pump: splice(2) through a pipe of MIG_PIPE_SIZE bytes. */
extern const struct mig_pump_ops mig_pump_splice;

struct mig_forwarder;

struct mig_conn {
	struct mig_forwarder *fw;
	unsigned int index;
	int local_fd, net_fd;
	struct mig_pump_dir up;	  /* local -> net */
	struct mig_pump_dir down; /* net -> local */
	_Atomic int finished;	  /* directions done */
	bool used;
	bool passed; /* QEMU holds net_fd itself: no pumps, no local_fd */
};

struct mig_forwarder {
	const struct mig_pump_ops *ops;
	pthread_mutex_t lock;
	struct mig_conn conns[MIG_MAX_STREAMS];
	_Atomic unsigned int n; /* connections started */
	_Atomic int failed;
	struct mig_error err; /* the first error, under lock */
};

/** mig_forwarder_init() - an empty forwarder using @ops for every connection. */
void mig_forwarder_init(struct mig_forwarder *fw, const struct mig_pump_ops *ops);

/**
 * mig_forward_start() - start pumping between @local_fd and @net_fd (both taken over)
 * Return: 0, or -errno (both descriptors closed).
 */
int mig_forward_start(struct mig_forwarder *fw, unsigned int index, int local_fd, int net_fd,
		      struct mig_error *err);

/**
 * mig_forward_pass() - count @net_fd as connection @index although QEMU moves its bytes
 * (the caller handed QEMU its own descriptor of the socket; @net_fd is taken over)
 * Return: 0, or -errno (@net_fd closed).
 */
int mig_forward_pass(struct mig_forwarder *fw, unsigned int index, int net_fd,
		     struct mig_error *err);

/** mig_conn_bytes() - bytes connection @c moved so far, both directions. */
uint64_t mig_conn_bytes(struct mig_conn *c);

/** mig_forwarder_active() - connections whose pumps still run. */
unsigned int mig_forwarder_active(struct mig_forwarder *fw);

/** mig_forwarder_bytes() - bytes moved so far, both directions of every connection. */
uint64_t mig_forwarder_bytes(struct mig_forwarder *fw);

/**
 * mig_forwarder_shutdown() - shut every connection's sockets down (both directions), so
 * that whoever blocks on them, QEMU included, gets an error now; the pumps then end.
 */
void mig_forwarder_shutdown(struct mig_forwarder *fw);

/**
 * mig_forwarder_stop() - shut every connection down, wait for its pumps, close the sockets
 * @graceful: wait up to @wait_s seconds for the pumps to end on their own first
 */
void mig_forwarder_stop(struct mig_forwarder *fw, bool graceful, unsigned int wait_s);

#endif
