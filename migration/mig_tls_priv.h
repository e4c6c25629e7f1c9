/* SPDX-License-Identifier: Apache-2.0 */
/* mig_tls's insides, shared by mig_tls.c (contexts, handshake) and mig_tls_pump.c. */
#ifndef MIGNET_MIGRATION_MIG_TLS_PRIV_H
#define MIGNET_MIGRATION_MIG_TLS_PRIV_H

#include <openssl/ssl.h>
#include <pthread.h>

#include "mig_tls.h"

struct mig_tls_ctx {
	SSL_CTX *ssl;
	enum mig_tls_role role;
	bool check_name;
	char peer_name[160];
	unsigned int timeout_ms;
	bool ktls;
	char path_why[200];
};

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

/* OpenSSL's error queue as one line (emptied). */
void mig_tls_ssl_errors(char *buf, size_t size);

enum mig_tls_step { STEP_HANDSHAKE, STEP_READ, STEP_WRITE };

/* A handshake step, or all of @buf read or written, before @deadline. Return: 0, -EIO (an
 * SSL error: *@ret_ssl_err, *@ret_errno), or -errno of the wait. */
int mig_tls_step(struct mig_tls_conn *c, enum mig_tls_step s, void *buf, size_t len,
		 double deadline, int *ret_ssl_err, int *ret_errno);

#endif
