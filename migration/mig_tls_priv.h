/* SPDX-License-Identifier: Apache-2.0 */
/* mig_tls's insides, shared by mig_tls.c (contexts, handshake) and mig_tls_pump.c. */
#ifndef MIGNET_MIGRATION_MIG_TLS_PRIV_H
#define MIGNET_MIGRATION_MIG_TLS_PRIV_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <sys/uio.h>

#include "mig_tls.h"

struct mig_tls_ctx {
	SSL_CTX *ssl;
	bool openssl_records;
	enum mig_tls_role role;
	bool check_name;
	char peer_name[160];
	unsigned int timeout_ms;
	bool ktls;
	char path_why[200];
};

/* What our own record layer (mig_tls_record.c) needs from OpenSSL's handshake. */
struct mig_tls_capture {
	unsigned char secret[2][48]; /* the traffic secrets _0: [0] client's, [1] server's */
	size_t secret_len[2];
	uint64_t app_records[2]; /* application-data records under them: [0] read, [1] written */
	bool other_records;	 /* a post-handshake record of another type: no switch */
};

struct mig_tls_record;

/* our record layer sends a KeyUpdate after this many records (AES-GCM's limit: 2^24.5) */
#define MIG_TLS_REKEY_RECORDS (1ull << 23)

enum mig_tls_layer { MIG_TLS_LAYER_UNDECIDED, MIG_TLS_LAYER_OPENSSL, MIG_TLS_LAYER_OURS };

struct mig_tls_conn {
	SSL *ssl;
	int fd;
	enum mig_tls_role role;
	pthread_mutex_t lock;
	bool check_name;
	char peer_name[160];
	bool ktls_tx, ktls_rx;
	bool ktls_offered;
	char path_why[200];
	bool openssl_records; /* the options asked for OpenSSL's record layer */
	struct mig_tls_capture cap;
	enum mig_tls_layer layer; /* decided at the first data call, under the lock */
	struct mig_tls_record *rl;
	uint64_t rekey_records;	 /* 0: MIG_TLS_REKEY_RECORDS (tests set fewer) */
	uint64_t key_updates[2]; /* KeyUpdates our record layer [0] followed, [1] sent */
	/* the verification's verdict, from verify_cb */
	enum mig_tls_refusal refusal;
	char why[256];
};

/* the role of our peer */
static inline const char *mig_tls_peer_role(enum mig_tls_role r)
{
	return r == MIG_TLS_SERVER ? "client" : "server";
}

/* Wait for @events on @fd until @deadline (mig_now(); < 0: forever). Return: 0 or -errno. */
int mig_tls_wait_fd(int fd, short events, double deadline);

/**
 * mig_tls_writev_all() - write all of @iov (@cnt entries, consumed) to @fd, waiting for room
 * when @fd is non-blocking
 * Return: 0 or -errno.
 */
int mig_tls_writev_all(int fd, struct iovec *iov, int cnt);

/**
 * mig_tls_plain_readv() - readv(2) from the plain side @fd, waiting while it has nothing
 * Return: bytes (0 at its end), or -errno with @err set.
 */
ssize_t mig_tls_plain_readv(int fd, const struct iovec *iov, int cnt, struct mig_error *err);

/* OpenSSL's error queue as one line (emptied). */
void mig_tls_ssl_errors(char *buf, size_t size);

enum mig_tls_step { STEP_HANDSHAKE, STEP_READ, STEP_WRITE };

/* A handshake step, or all of @buf read or written, before @deadline. Return: 0, -EIO (an
 * SSL error: *@ret_ssl_err, *@ret_errno), or -errno of the wait. */
int mig_tls_step(struct mig_tls_conn *c, enum mig_tls_step s, void *buf, size_t len,
		 double deadline, int *ret_ssl_err, int *ret_errno);

/* ---- mignet's TLS 1.3 record layer (mig_tls_record.c) ---- */

/*
 * Decide, once, under c->lock, which record layer carries @c's data: ours when it may
 * (TLS 1.3, AES-GCM, no kTLS, the secrets and sequence numbers known, nothing buffered in
 * OpenSSL that we cannot take over); OpenSSL's otherwise. Return: the layer.
 */
enum mig_tls_layer mig_tls_layer_decide(struct mig_tls_conn *c);

/**
 * mig_tls_record_refusal() - why our record layer does not (or would not) carry @c
 * Return: NULL when it does (or will, at the first data call), else a short reason.
 */
const char *mig_tls_record_refusal(const struct mig_tls_conn *c);

/**
 * mig_tls_record_pump_in() / mig_tls_record_pump_out() - mig_tls_pump_in() and
 * mig_tls_pump_out() on our record layer (their contracts; no caller buffer needed).
 * Return: 0, or -errno with @err.
 */
int mig_tls_record_pump_in(struct mig_tls_conn *c, int out_fd, uint64_t *bytes,
			   struct mig_error *err);
int mig_tls_record_pump_out(struct mig_tls_conn *c, int in_fd, uint64_t *bytes,
			    struct mig_error *err);

/**
 * mig_tls_record_write_all() / mig_tls_record_read_full() - mig_tls_write_all() and
 * mig_tls_read_full() on our record layer, until @deadline (mig_now(); < 0: none).
 * Return: 0, -EPIPE (closed: close_notify read, or our side closed), -EPROTO, -ETIMEDOUT.
 */
int mig_tls_record_write_all(struct mig_tls_conn *c, const void *buf, size_t len, double deadline);
int mig_tls_record_read_full(struct mig_tls_conn *c, void *buf, size_t len, double deadline);

/** mig_tls_record_close_notify() - send close_notify (once). Return: 0 or -errno with @err. */
int mig_tls_record_close_notify(struct mig_tls_conn *c, struct mig_error *err);

/** mig_tls_record_free() - free the record layer and wipe its keys (NULL is fine). */
void mig_tls_record_free(struct mig_tls_record *rl);

#endif
