// SPDX-License-Identifier: Apache-2.0
/* The forwarder's TLS pump and the control connection's shim (mig_forward_tls.h). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_forward_tls.h"

static int tls_run(struct mig_pump_dir *d, void *arg)
{
	struct mig_tls_streams *s = arg;
	struct mig_tls_conn *c = d->conn->index < MIG_MAX_STREAMS ? s->conn[d->conn->index] : NULL;
	struct mig_error err = { 0 };
	uint64_t bytes = 0;
	void *buf;
	int r;

	if (!c)
		return -ENOTCONN;
	buf = malloc(MIG_TLS_PUMP_BUF);
	if (!buf)
		return -ENOMEM;
	if (d->to_net)
		r = mig_tls_pump_out(c, d->in, buf, MIG_TLS_PUMP_BUF, &bytes, &err);
	else
		r = mig_tls_pump_in(c, d->out, buf, MIG_TLS_PUMP_BUF, &bytes, &err);
	atomic_fetch_add(&d->bytes, bytes);
	free(buf);
	return r;
}

void mig_pump_tls_init(struct mig_pump_ops *ops, struct mig_tls_streams *s)
{
	*ops = (struct mig_pump_ops){ .name = "tls", .run = tls_run, .arg = s };
}

void mig_tls_streams_free(struct mig_tls_streams *s)
{
	for (unsigned int i = 0; i < MIG_MAX_STREAMS; i++) {
		mig_tls_conn_free(s->conn[i]);
		s->conn[i] = NULL;
	}
}

struct mig_tls_shim {
	struct mig_tls_conn *c;
	int net_fd, plain_fd;
	pthread_t out, in;
	bool in_started;
};

/* full records and several of them per system call: the synthetic migration's streams
 * (send/receive) run through the shim too */
static void *shim_out(void *arg)
{
	struct mig_tls_shim *sh = arg;
	void *buf = malloc(MIG_TLS_PUMP_BUF);

	if (buf && mig_tls_pump_out(sh->c, sh->plain_fd, buf, MIG_TLS_PUMP_BUF, NULL, NULL) == 0)
		shutdown(sh->net_fd, SHUT_WR);
	else
		shutdown(sh->net_fd, SHUT_RDWR); /* the other direction ends too */
	free(buf);
	return NULL;
}

static void *shim_in(void *arg)
{
	struct mig_tls_shim *sh = arg;
	void *buf = malloc(MIG_TLS_PUMP_BUF);

	if (!buf || mig_tls_pump_in(sh->c, sh->plain_fd, buf, MIG_TLS_PUMP_BUF, NULL, NULL) < 0)
		shutdown(sh->plain_fd, SHUT_RDWR); /* the caller sees the end */
	free(buf);
	return NULL;
}

int mig_tls_shim(struct mig_tls_conn *c, int net_fd, struct mig_tls_shim **ret,
		 struct mig_error *err)
{
	struct mig_tls_shim *sh = calloc(1, sizeof(*sh));
	int sv[2], r;

	if (!sh || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
		r = -(sh ? errno : ENOMEM);
		free(sh);
		mig_tls_conn_free(c);
		close(net_fd);
		return mig_error_set(err, r, "TLS shim: %s", strerror(-r));
	}
	*sh = (struct mig_tls_shim){ .c = c, .net_fd = net_fd, .plain_fd = sv[1] };
	r = pthread_create(&sh->in, NULL, shim_in, sh);
	if (r == 0) {
		sh->in_started = true;
		r = pthread_create(&sh->out, NULL, shim_out, sh);
	}
	if (r) {
		close(sv[0]);
		shutdown(net_fd, SHUT_RDWR);
		if (sh->in_started)
			pthread_join(sh->in, NULL);
		mig_tls_conn_free(c);
		close(net_fd);
		close(sv[1]);
		free(sh);
		return mig_error_set(err, -r, "TLS shim: pthread_create: %s", strerror(r));
	}
	*ret = sh;
	return sv[0];
}

void mig_tls_shim_abort(struct mig_tls_shim *sh)
{
	if (sh)
		shutdown(sh->net_fd, SHUT_RDWR);
}

void mig_tls_shim_close(struct mig_tls_shim *sh)
{
	if (!sh)
		return;
	pthread_join(sh->out, NULL); /* ends at the caller's close: all it wrote went out */
	shutdown(sh->net_fd, SHUT_RDWR);
	pthread_join(sh->in, NULL);
	mig_tls_conn_free(sh->c);
	close(sh->net_fd);
	close(sh->plain_fd);
	free(sh);
}
