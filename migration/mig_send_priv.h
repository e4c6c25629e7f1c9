/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sender's shared state: mig_send.c runs the rounds, mig_send_stream.c the streams.
 * Private to those two files.
 */
#ifndef MIGNET_MIGRATION_MIG_SEND_PRIV_H
#define MIGNET_MIGRATION_MIG_SEND_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "mig.h"
#include "mig_ranges.h"
#include "mig_region.h"
#include "mig_transport.h"
#include "mig_zerocopy.h"

#define BATCH_PAGES 64				/* 256 KiB frames with 4 KiB pages */
#define HANDSHAKE_TIMEOUT MIG_HANDSHAKE_TIMEOUT /* seconds */

struct send_ctx;

struct send_stream {
	struct send_ctx *ctx;
	unsigned int index;
	int fd;			   /* with TLS, the shim's plain end */
	struct mig_tls_shim *shim; /* NULL: plaintext */
	pthread_t thread;
	bool started;
	struct mig_zc zc;
	uint64_t bytes;
	uint64_t page_bytes;
	uint64_t connect_retries; /* connections the receiver shed as overloaded */
	unsigned int gen;
};

struct send_ctx {
	const struct mig_send_opts *o;
	struct mig_region region;
	struct mig_dialer dial; /* the transport: addresses, token, timeouts */
	struct mig_addr local, target;
	unsigned int nstreams;
	struct send_stream *streams;
	unsigned int timeout; /* socket timeout, seconds */
	uint64_t batch_pages; /* pages per PAGES frame */

	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int gen;  /* incremented by main to start a round */
	unsigned int done; /* streams done with the current generation */
	bool quit;

	/* the current round, read-only for the streams while it runs */
	struct mig_ranges batches;
	_Atomic size_t cursor;
	unsigned int round;
	bool live;
	bool final;
	_Atomic uint64_t round_done;
	uint64_t round_total;

	_Atomic int aborted;
	struct mig_error err; /* first error, under lock */

	pthread_mutex_t bw_lock;
	double bw_next;
};

/** send_abort() - record the first error, shut every stream down so blocked threads return */
void send_abort(struct send_ctx *c, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/** send_stream_main() - a stream thread: one round per generation until quit. */
void *send_stream_main(void *arg);

/**
 * send_stream_open() - connect stream @s, answer the challenge, get WELCOME
 * Return: 0 or -errno with @err filled.
 */
int send_stream_open(struct send_ctx *c, struct send_stream *s, uint64_t session,
		     struct mig_error *err);

#endif
