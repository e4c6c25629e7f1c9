// SPDX-License-Identifier: Apache-2.0
/*
 * The TLS pumps alone, without QEMU: a writer feeds a unix socket (as QEMU feeds mignet),
 * the client's pump_out encrypts onto a TCP connection over loopback, the server's pump_in
 * decrypts into another unix socket that a reader drains. Prints the throughput and the
 * CPU seconds per GiB of the two pump threads (getrusage per thread: user and system).
 *
 *   bench_tls_pump [GiB] [ours|openssl]     (default 2 ours)
 *
 * Not a test (no verdict): a tool for comparing the record layers; run it alone on the
 * machine (flock /tmp/mignet-bench.lock).
 */
#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "mig_tls.h"

struct side {
	struct mig_tls_ctx *ctx;
	struct mig_tls_conn *conn;
	int fd, r;
	struct mig_error err;
};

struct pump {
	struct mig_tls_conn *c;
	int fd;
	bool out;
	uint64_t bytes;
	double cpu;
	int r;
	struct mig_error err;
	unsigned char buf[MIG_TLS_PUMP_BUF];
};

static uint64_t total;

static double thread_cpu(void)
{
	struct rusage u;

	getrusage(RUSAGE_THREAD, &u);
	return (double)u.ru_utime.tv_sec + u.ru_utime.tv_usec / 1e6 + (double)u.ru_stime.tv_sec +
	       u.ru_stime.tv_usec / 1e6;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + t.tv_nsec / 1e9;
}

static void *handshake(void *arg)
{
	struct side *s = arg;

	s->r = mig_tls_handshake(s->ctx, s->fd, &s->conn, NULL, &s->err);
	return NULL;
}

static void *pump(void *arg)
{
	struct pump *p = arg;

	if (p->out)
		p->r = mig_tls_pump_out(p->c, p->fd, p->buf, sizeof(p->buf), &p->bytes, &p->err);
	else
		p->r = mig_tls_pump_in(p->c, p->fd, p->buf, sizeof(p->buf), &p->bytes, &p->err);
	p->cpu = thread_cpu();
	if (p->r)
		fprintf(stderr, "pump: %s\n", p->err.msg);
	return NULL;
}

static void *writer(void *arg)
{
	static unsigned char buf[1 << 20];
	int fd = *(int *)arg;
	uint64_t off = 0;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(i * 7 + 3);
	while (off < total) {
		size_t n = total - off < sizeof(buf) ? (size_t)(total - off) : sizeof(buf);
		ssize_t w = write(fd, buf, n);

		if (w <= 0)
			break;
		off += (uint64_t)w;
	}
	shutdown(fd, SHUT_WR);
	return NULL;
}

static void *reader(void *arg)
{
	static unsigned char buf[1 << 20];
	int fd = *(int *)arg;

	while (read(fd, buf, sizeof(buf)) > 0)
		;
	return NULL;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

int main(int argc, char **argv)
{
	char base[] = "/tmp/mignet-bench-tls.XXXXXX", dir[2][128];
	bool openssl = argc > 2 && !strcmp(argv[2], "openssl");
	struct side s = { 0 }, c = { 0 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	struct mig_error err = { 0 };
	struct mig_tls_info info;
	static struct pump po, pi;
	int l, src[2], dst[2];
	pthread_t t[4];
	double t0, dt;

	signal(SIGPIPE, SIG_IGN);
	total = (uint64_t)((argc > 1 ? atof(argv[1]) : 2) * (1 << 30));
	if (!mkdtemp(base) ||
	    mig_tls_init_dir(base, MIG_TLS_SERVER_NAME, MIG_TLS_CLIENT_NAME, 1, false, &err) < 0)
		return fprintf(stderr, "certificates: %s\n", err.msg), 1;
	snprintf(dir[0], sizeof(dir[0]), "%s/server", base);
	snprintf(dir[1], sizeof(dir[1]), "%s/client", base);
	if (mig_tls_ctx_load(&(struct mig_tls_opts){ .role = MIG_TLS_SERVER,
						     .dir = dir[0],
						     .openssl_records = openssl },
			     &s.ctx, &err) < 0 ||
	    mig_tls_ctx_load(&(struct mig_tls_opts){ .role = MIG_TLS_CLIENT,
						     .dir = dir[1],
						     .openssl_records = openssl },
			     &c.ctx, &err) < 0)
		return fprintf(stderr, "load: %s\n", err.msg), 1;
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &alen) < 0)
		return perror("listen"), 1;
	c.fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(c.fd, (struct sockaddr *)&a, sizeof(a)) < 0 || (s.fd = accept(l, NULL, 0)) < 0)
		return perror("connect"), 1;
	pthread_create(&t[0], NULL, handshake, &s);
	handshake(&c);
	pthread_join(t[0], NULL);
	if (s.r || c.r)
		return fprintf(stderr, "handshake: %s %s\n", s.err.msg, c.err.msg), 1;
	mig_tls_conn_info(c.conn, &info);
	socketpair(AF_UNIX, SOCK_STREAM, 0, src);
	socketpair(AF_UNIX, SOCK_STREAM, 0, dst);
	po = (struct pump){ .c = c.conn, .fd = src[1], .out = true };
	pi = (struct pump){ .c = s.conn, .fd = dst[1], .out = false };
	t0 = now();
	pthread_create(&t[0], NULL, pump, &po);
	pthread_create(&t[1], NULL, pump, &pi);
	pthread_create(&t[2], NULL, writer, &src[0]);
	pthread_create(&t[3], NULL, reader, &dst[0]);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	dt = now() - t0;
	printf("%s: %s %s\n", openssl ? "openssl" : "ours", info.cipher, info.path);
	printf("%.2f GiB in %.2f s: %.0f MiB/s; CPU s/GiB: send %.3f receive %.3f total %.3f%s\n",
	       (double)pi.bytes / (1 << 30), dt, (double)pi.bytes / (1 << 20) / dt,
	       po.cpu * (1 << 30) / (double)total, pi.cpu * (1 << 30) / (double)total,
	       (po.cpu + pi.cpu) * (1 << 30) / (double)total,
	       pi.bytes == total && !po.r && !pi.r ? "" : " (INCOMPLETE)");
	mig_tls_conn_free(s.conn);
	mig_tls_conn_free(c.conn);
	mig_tls_ctx_free(s.ctx);
	mig_tls_ctx_free(c.ctx);
	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return pi.bytes == total ? 0 : 1;
}
