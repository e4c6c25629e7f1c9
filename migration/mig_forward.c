// SPDX-License-Identifier: Apache-2.0
/*
 * The forwarder (mig_forward.h): two threads per connection, each blocked in splice(2).
 * A pipe per direction carries page references from one socket to the other: the bytes
 * never enter user space. Threads rather than one epoll loop: each blocking splice moves up
 * to a pipe's worth per call, so a pump wakes rarely, and a direction with nothing to move
 * (the return path) costs nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_forward.h"

#define MIG_PIPE_SIZE (1u << 20)

static int splice_run(struct mig_pump_dir *d, void *arg)
{
	int p[2], r = 0;
	ssize_t n, m;

	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fcntl(p[1], F_SETPIPE_SZ, MIG_PIPE_SIZE); /* best effort: 64 KiB otherwise */
	for (;;) {
		n = splice(d->in, NULL, p[1], NULL, MIG_PIPE_SIZE, SPLICE_F_MOVE);
		if (n == 0)
			break;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		while (n > 0) {
			m = splice(p[0], NULL, d->out, NULL, (size_t)n, SPLICE_F_MOVE);
			if (m < 0 && errno == EINTR)
				continue;
			if (m <= 0) {
				r = m < 0 ? -errno : -EPIPE;
				goto out;
			}
			n -= m;
			atomic_fetch_add(&d->bytes, (uint64_t)m);
		}
	}
out:
	close(p[0]);
	close(p[1]);
	return r;
}

const struct mig_pump_ops mig_pump_splice = { .name = "splice", .run = splice_run };

void mig_forwarder_init(struct mig_forwarder *fw, const struct mig_pump_ops *ops)
{
	memset(fw, 0, sizeof(*fw));
	fw->ops = ops;
	pthread_mutex_init(&fw->lock, NULL);
}

static void fail(struct mig_forwarder *fw, struct mig_pump_dir *d)
{
	struct mig_conn *c = d->conn;
	int expect = 0;

	shutdown(c->local_fd, SHUT_RDWR);
	shutdown(c->net_fd, SHUT_RDWR);
	if (!atomic_compare_exchange_strong(&fw->failed, &expect, 1))
		return;
	pthread_mutex_lock(&fw->lock);
	mig_error_set(&fw->err, d->result, "connection %u: %s %s: %s", c->index,
		      d->to_net ? "QEMU -> network" : "network -> QEMU", fw->ops->name,
		      strerror(-d->result));
	pthread_mutex_unlock(&fw->lock);
}

static void *pump_main(void *arg)
{
	struct mig_pump_dir *d = arg;
	struct mig_forwarder *fw = d->conn->fw;

	d->result = fw->ops->run(d, fw->ops->arg);
	if (d->result < 0)
		fail(fw, d);
	else
		shutdown(d->out, SHUT_WR); /* the orderly end, passed on */
	atomic_fetch_add(&d->conn->finished, 1);
	return NULL;
}

int mig_forward_start(struct mig_forwarder *fw, unsigned int index, int local_fd, int net_fd,
		      struct mig_error *err)
{
	struct mig_conn *c;
	int r;

	if (fw->n >= MIG_MAX_STREAMS) {
		close(local_fd);
		close(net_fd);
		return mig_error_set(err, -E2BIG, "more than %d connections", MIG_MAX_STREAMS);
	}
	c = &fw->conns[fw->n];
	*c = (struct mig_conn){
		.fw = fw, .index = index, .local_fd = local_fd, .net_fd = net_fd, .used = true
	};
	c->up = (struct mig_pump_dir){ .conn = c, .in = local_fd, .out = net_fd, .to_net = true };
	c->down = (struct mig_pump_dir){ .conn = c, .in = net_fd, .out = local_fd };
	fw->n++;
	r = pthread_create(&c->up.thread, NULL, pump_main, &c->up);
	if (r == 0) {
		c->up.started = true;
		r = pthread_create(&c->down.thread, NULL, pump_main, &c->down);
	}
	if (r) {
		shutdown(local_fd, SHUT_RDWR);
		shutdown(net_fd, SHUT_RDWR);
		return mig_error_set(err, -r, "pthread_create: %s", strerror(r));
	}
	c->down.started = true;
	return 0;
}

int mig_forward_pass(struct mig_forwarder *fw, unsigned int index, int net_fd,
		     struct mig_error *err)
{
	struct mig_conn *c;

	if (fw->n >= MIG_MAX_STREAMS) {
		close(net_fd);
		return mig_error_set(err, -E2BIG, "more than %d connections", MIG_MAX_STREAMS);
	}
	c = &fw->conns[fw->n];
	*c = (struct mig_conn){ .fw = fw,
				.index = index,
				.local_fd = -1,
				.net_fd = net_fd,
				.used = true,
				.passed = true,
				.finished = 2 };
	fw->n++;
	return 0;
}

/* What the kernel counted on a socket QEMU holds: payload acknowledged and received. */
static uint64_t socket_bytes(int fd)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0)
		return 0;
	return ti.tcpi_bytes_acked + ti.tcpi_bytes_received;
}

uint64_t mig_conn_bytes(struct mig_conn *c)
{
	if (c->passed)
		return c->net_fd >= 0 ? socket_bytes(c->net_fd) : atomic_load(&c->up.bytes);
	return atomic_load(&c->up.bytes) + atomic_load(&c->down.bytes);
}

unsigned int mig_forwarder_active(struct mig_forwarder *fw)
{
	unsigned int i, n = 0;

	for (i = 0; i < fw->n; i++)
		n += atomic_load(&fw->conns[i].finished) < 2;
	return n;
}

uint64_t mig_forwarder_bytes(struct mig_forwarder *fw)
{
	uint64_t b = 0;
	unsigned int i;

	for (i = 0; i < fw->n; i++)
		b += mig_conn_bytes(&fw->conns[i]);
	return b;
}

void mig_forwarder_shutdown(struct mig_forwarder *fw)
{
	unsigned int i;

	for (i = 0; i < atomic_load(&fw->n); i++) {
		if (fw->conns[i].local_fd >= 0)
			shutdown(fw->conns[i].local_fd, SHUT_RDWR);
		shutdown(fw->conns[i].net_fd, SHUT_RDWR);
	}
}

void mig_forwarder_stop(struct mig_forwarder *fw, bool graceful, unsigned int wait_s)
{
	double deadline = mig_now() + wait_s;
	unsigned int i;

	while (graceful && mig_forwarder_active(fw) && mig_now() < deadline)
		usleep(20 * 1000);
	for (i = 0; i < fw->n; i++) {
		struct mig_conn *c = &fw->conns[i];

		if (c->passed && c->net_fd >= 0) /* the last count, kept past the close */
			atomic_store(&c->up.bytes, socket_bytes(c->net_fd));
		if (c->local_fd >= 0)
			shutdown(c->local_fd, SHUT_RDWR);
		shutdown(c->net_fd, SHUT_RDWR);
		if (c->up.started)
			pthread_join(c->up.thread, NULL);
		if (c->down.started)
			pthread_join(c->down.thread, NULL);
		c->up.started = c->down.started = false;
		if (c->local_fd >= 0)
			close(c->local_fd);
		if (c->net_fd >= 0)
			close(c->net_fd);
		c->local_fd = c->net_fd = -1;
	}
}
