// SPDX-License-Identifier: Apache-2.0
/*
 * mig_tls: a client and a server over a socketpair, with certificates made in a temporary
 * directory by mig_tls_init_dir() and mig_tls_issue() (the code of `mignet tls-init`):
 * success (TLS 1.3, AES-GCM, bytes both ways through the pumps), each refusal with its
 * message on the side that refused and the peer's alert on the other, TLS 1.2 only where
 * allowed, and rotation (a context loaded after the files changed uses the new ones).
 */
#include <errno.h>
#include <ftw.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../check.h"
#include "mig_tls.h"
#include "mig_tls_priv.h" /* the record layer's state, its rekey interval */

static char base[64];

static void path(char *buf, size_t size, const char *rel)
{
	snprintf(buf, size, "%s/%s", base, rel);
}

/* A leaf under lab/ca.{crt,key} into DIR/{tls.crt,tls.key,ca.crt} (ca.crt from @ca_dir). */
static void make_leaf(const char *dir, const char *ca_dir, const char *cn, enum mig_tls_role role,
		      int64_t nb, int64_t na)
{
	char d[128], crt[160], key[160], ca[160], cakey[160], cacopy[160], cmd[400];
	struct mig_tls_issue is = { .cn = cn, .role = role, .not_before = nb, .not_after = na };
	struct mig_error err = { 0 };
	int r;

	path(d, sizeof(d), dir);
	snprintf(crt, sizeof(crt), "%s/tls.crt", d);
	snprintf(key, sizeof(key), "%s/tls.key", d);
	snprintf(cacopy, sizeof(cacopy), "%s/ca.crt", d);
	snprintf(ca, sizeof(ca), "%s/%s/ca.crt", base, ca_dir);
	snprintf(cakey, sizeof(cakey), "%s/%s/ca.key", base, ca_dir);
	snprintf(cmd, sizeof(cmd), "mkdir -p %s && cp %s/lab/ca.crt %s", d, base, cacopy);
	CHECK(system(cmd) == 0);
	r = mig_tls_issue(&is, ca, cakey, crt, key, &err);
	if (r < 0)
		fprintf(stderr, "issue %s: %s\n", dir, err.msg);
	CHECK(r == 0);
}

struct side {
	struct mig_tls_opts o;
	const char *dir; /* under base */
	struct mig_tls_ctx *ctx;
	int fd;
	int r;
	enum mig_tls_refusal refusal;
	struct mig_error err;
	struct mig_tls_conn *conn;
	struct mig_tls_info info;
};

static int load(struct side *s, enum mig_tls_role role, const char *dir)
{
	static char dirs[2][160];
	char *d = dirs[role];

	path(d, sizeof(dirs[0]), dir);
	s->o.role = role;
	s->o.dir = d;
	if (!s->o.handshake_timeout_ms)
		s->o.handshake_timeout_ms = 5000;
	s->err.msg[0] = '\0';
	s->r = mig_tls_ctx_load(&s->o, &s->ctx, &s->err);
	if (s->r < 0)
		fprintf(stderr, "load %s: %s\n", dir, s->err.msg);
	return s->r;
}

static void *handshake_thread(void *arg)
{
	struct side *s = arg;

	s->r = mig_tls_handshake(s->ctx, s->fd, &s->conn, &s->refusal, &s->err);
	if (!s->r)
		mig_tls_conn_info(s->conn, &s->info);
	return NULL;
}

/* Load @s from @dir and give it one end of a new socketpair, @sv[0]; @sv[1] is the peer's. */
static void load_on_socketpair(struct side *s, enum mig_tls_role role, const char *dir, int sv[2])
{
	CHECK(load(s, role, dir) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	s->fd = sv[0];
}

static void print_side(const char *who, const struct side *s)
{
	fprintf(stderr, "  %s: %d %s: %s\n", who, s->r, mig_tls_refusal_name(s->refusal),
		s->err.msg);
}

/* Shake hands between two loaded sides over a socketpair; fds stay open in s->fd. */
static void shake(struct side *srv, struct side *cli)
{
	int sv[2];
	pthread_t t;

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	srv->fd = sv[0];
	cli->fd = sv[1];
	pthread_create(&t, NULL, handshake_thread, srv);
	handshake_thread(cli);
	if (cli->r < 0) /* a refused client closes: the server is not left waiting */
		shutdown(cli->fd, SHUT_RDWR);
	pthread_join(t, NULL);
	print_side("server", srv);
	print_side("client", cli);
}

/* Load both from their dirs and shake hands. */
static void pair(struct side *srv, const char *sdir, struct side *cli, const char *cdir)
{
	CHECK(load(srv, MIG_TLS_SERVER, sdir) == 0);
	CHECK(load(cli, MIG_TLS_CLIENT, cdir) == 0);
	shake(srv, cli);
}

static void done(struct side *s)
{
	mig_tls_conn_free(s->conn);
	mig_tls_ctx_free(s->ctx);
	close(s->fd);
	memset(s, 0, sizeof(*s));
}

/* ---- bytes through the pumps ---- */

#define BYTES_AB (24u << 20) /* client to server: a migration's direction */
#define BYTES_BA (1u << 20)  /* the return path */

static unsigned char pattern(uint64_t i, unsigned int seed)
{
	return (unsigned char)((i * 2654435761u) >> 13 ^ seed);
}

struct plain {
	int fd;
	uint64_t send, received;
	unsigned int seed_out, seed_in;
	uint64_t errors;
};

static void *plain_writer(void *arg)
{
	struct plain *p = arg;
	static __thread unsigned char buf[65536];
	uint64_t off = 0;

	while (off < p->send) {
		size_t n = p->send - off < sizeof(buf) ? (size_t)(p->send - off) : sizeof(buf);
		ssize_t w;

		for (size_t i = 0; i < n; i++)
			buf[i] = pattern(off + i, p->seed_out);
		w = write(p->fd, buf, n);
		if (w <= 0)
			break;
		off += (uint64_t)w;
	}
	shutdown(p->fd, SHUT_WR);
	return NULL;
}

static void *plain_reader(void *arg)
{
	struct plain *p = arg;
	unsigned char buf[65536];
	ssize_t n;

	while ((n = read(p->fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++)
			p->errors += buf[i] != pattern(p->received + (uint64_t)i, p->seed_in);
		p->received += (uint64_t)n;
	}
	return NULL;
}

struct pump {
	struct mig_tls_conn *c;
	int fd;
	bool out;
	uint64_t bytes;
	int r;
	struct mig_error err;
	unsigned char buf[MIG_TLS_PUMP_BUF];
};

static void *pump_thread(void *arg)
{
	struct pump *p = arg;

	if (p->out)
		p->r = mig_tls_pump_out(p->c, p->fd, p->buf, sizeof(p->buf), &p->bytes, &p->err);
	else
		p->r = mig_tls_pump_in(p->c, p->fd, p->buf, sizeof(p->buf), &p->bytes, &p->err);
	if (p->r) { /* the other threads end too, and the case fails, not hangs */
		fprintf(stderr, "pump: %s\n", p->err.msg);
		shutdown(p->fd, SHUT_RDWR);
		shutdown(p->c->fd, SHUT_RDWR);
	}
	return NULL;
}

/*
 * plain A <-> client pumps <-> TLS <-> server pumps <-> plain B, both directions at once,
 * each pump in its own thread (as a forwarder runs them).
 */
static void transfer(struct side *srv, struct side *cli)
{
	int a[2], b[2];
	struct plain pa = { .send = BYTES_AB, .seed_out = 1, .seed_in = 2 };
	struct plain pb = { .send = BYTES_BA, .seed_out = 2, .seed_in = 1 };
	static struct pump pumps[4];
	pthread_t t[8];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) == 0);
	pa.fd = a[0];
	pb.fd = b[0];
	memset(pumps, 0, sizeof(pumps));
	pumps[0] = (struct pump){ .c = cli->conn, .fd = a[1], .out = true };
	pumps[1] = (struct pump){ .c = cli->conn, .fd = a[1], .out = false };
	pumps[2] = (struct pump){ .c = srv->conn, .fd = b[1], .out = true };
	pumps[3] = (struct pump){ .c = srv->conn, .fd = b[1], .out = false };
	for (int i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, pump_thread, &pumps[i]);
	pthread_create(&t[4], NULL, plain_writer, &pa);
	pthread_create(&t[5], NULL, plain_reader, &pa);
	pthread_create(&t[6], NULL, plain_writer, &pb);
	pthread_create(&t[7], NULL, plain_reader, &pb);
	for (int i = 0; i < 8; i++)
		pthread_join(t[i], NULL);
	for (int i = 0; i < 4; i++)
		CHECK(pumps[i].r == 0);
	CHECK(pumps[0].bytes == BYTES_AB);
	CHECK(pumps[3].bytes == BYTES_AB);
	CHECK(pumps[2].bytes == BYTES_BA);
	CHECK(pumps[1].bytes == BYTES_BA);
	CHECK(pb.received == BYTES_AB);
	CHECK(pa.received == BYTES_BA);
	CHECK(pa.errors == 0 && pb.errors == 0);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
}

/* ---- the cases ---- */

static void test_success(void)
{
	struct side s = { 0 }, c = { 0 };

	fprintf(stderr, "success\n");
	pair(&s, "lab/server", &c, "lab/client");
	CHECK(s.r == 0 && c.r == 0);
	CHECK(s.refusal == MIG_TLS_OK && c.refusal == MIG_TLS_OK);
	CHECK_STR(c.info.version, "TLSv1.3");
	CHECK_STR(c.info.cipher, "TLS_AES_128_GCM_SHA256");
	CHECK_STR(s.info.cipher, "TLS_AES_128_GCM_SHA256");
	CHECK_STR(c.info.peer_name, MIG_TLS_SERVER_NAME);
	CHECK_STR(s.info.peer_name, MIG_TLS_CLIENT_NAME);
	CHECK(strlen(c.info.peer_sha256) == 64);
	CHECK(c.info.path[0] != '\0');
	if (!s.r && !c.r)
		transfer(&s, &c);
	done(&s);
	done(&c);
}

/*
 * Our record layer against OpenSSL's, both ways: the client on one, the server on the other
 * (SSL_write -> our reader, our writer -> SSL_read), across KeyUpdates: ours every few
 * records, and one the OpenSSL side sends (requesting ours) before the data.
 */
static void interop(bool client_openssl, uint64_t rekey)
{
	struct side s = { .o.openssl_records = !client_openssl },
		    c = { .o.openssl_records = client_openssl };
	struct side *o = client_openssl ? &c : &s, *m = client_openssl ? &s : &c;

	fprintf(stderr, "interop: %s on OpenSSL's record layer, ours rekeys every %llu records\n",
		client_openssl ? "client" : "server", (unsigned long long)rekey);
	pair(&s, "lab/server", &c, "lab/client");
	CHECK(s.r == 0 && c.r == 0);
	if (s.r || c.r)
		goto out;
	fprintf(stderr, "  ours: %s\n  OpenSSL's: %s\n", m->info.path, o->info.path);
	CHECK(strstr(m->info.path, "mignet's TLS 1.3 record layer") != NULL);
	CHECK(strstr(o->info.path, "OpenSSL's record layer") != NULL);
	m->conn->rekey_records = rekey;
	CHECK(SSL_key_update(o->conn->ssl, SSL_KEY_UPDATE_REQUESTED) == 1);
	transfer(&s, &c);
	fprintf(stderr, "  ours: %llu KeyUpdates sent, %llu followed\n",
		(unsigned long long)m->conn->key_updates[1],
		(unsigned long long)m->conn->key_updates[0]);
	CHECK(m->conn->key_updates[0] == 1); /* OpenSSL's, which asked for ours */
	/*
	 * every @rekey records (at most 16 KiB each) of what ours sent, or the one asked for:
	 * that one is owed only before ours' next record (RFC 8446, 4.6.3), and as the server
	 * ours may have sent all of its 1 MiB before it read the request
	 */
	CHECK(m->conn->key_updates[1] >=
	      (rekey		? (client_openssl ? BYTES_BA : BYTES_AB) / 16384 / rekey
	       : client_openssl ? 0
				: 1));
	CHECK(m->conn->layer == MIG_TLS_LAYER_OURS);
	CHECK(o->conn->layer == MIG_TLS_LAYER_OPENSSL);
	CHECK(m->conn->rekey_records == rekey);
out:
	done(&s);
	done(&c);
}

struct bulk {
	struct mig_tls_conn *c;
	unsigned char *buf;
	size_t len;
	int r;
};

static void *bulk_writer(void *arg)
{
	struct bulk *b = arg;

	b->r = mig_tls_write_all(b->c, b->buf, b->len, 10000);
	return NULL;
}

/* mig_tls_write_all() / mig_tls_read_full() of many records, KeyUpdates among them. */
static void bulk_both_ways(struct side *from, struct side *to)
{
	size_t len = 3u << 20, got = 0;
	struct bulk b = { .c = from->conn, .len = len };
	unsigned char *in = malloc(len);
	pthread_t t;

	b.buf = malloc(len);
	for (size_t i = 0; i < len; i++)
		b.buf[i] = pattern(i, 9);
	from->conn->rekey_records = 5;
	pthread_create(&t, NULL, bulk_writer, &b);
	while (got < len) {
		size_t n = len - got < 100000 ? len - got : 100000;

		if (mig_tls_read_full(to->conn, in + got, n, 10000) < 0)
			break;
		got += n;
	}
	pthread_join(t, NULL);
	CHECK(b.r == 0);
	CHECK(got == len && !memcmp(in, b.buf, len));
	CHECK(from->conn->key_updates[1] >= len / 16384 / 5);
	CHECK(to->conn->key_updates[0] == from->conn->key_updates[1]);
	free(b.buf);
	free(in);
}

/* The small application handshake over our layer, then the pumps on the same connection. */
static void test_small_then_pumps(void)
{
	struct side s = { 0 }, c = { 0 };
	char b[7] = "";

	fprintf(stderr, "write_all / read_full, then the pumps\n");
	pair(&s, "lab/server", &c, "lab/client");
	CHECK(s.r == 0 && c.r == 0);
	if (s.r || c.r)
		goto out;
	CHECK(mig_tls_write_all(c.conn, "hello, world", 12, 1000) == 0);
	CHECK(mig_tls_read_full(s.conn, b, 5, 1000) == 0); /* the rest stays for the pump */
	CHECK(!memcmp(b, "hello", 5));
	CHECK(mig_tls_read_full(s.conn, b, 7, 1000) == 0);
	CHECK(!memcmp(b, ", world", 7));
	CHECK(mig_tls_read_full(s.conn, b, 1, 100) == -ETIMEDOUT);
	CHECK(s.conn->layer == MIG_TLS_LAYER_OURS && c.conn->layer == MIG_TLS_LAYER_OURS);
	bulk_both_ways(&c, &s);
	bulk_both_ways(&s, &c);
	transfer(&s, &c);
out:
	done(&s);
	done(&c);
}

/* ---- a tampering relay between the client and the server ---- */

#define REC_HDR_LEN 5

enum tamper { T_FLIP, T_REPLAY, T_REORDER, T_TRUNCATE, T_CUT };

struct relay {
	int a, b; /* the client's far end, the server's far end */
	atomic_int armed;
	enum tamper mode;
	int target;	     /* which record after arming */
	uint64_t before;     /* plaintext bytes of the records before it */
	unsigned char *prev; /* the record before (replay) */
	size_t prev_len;
	unsigned char *held; /* the target (reorder) */
	size_t held_len;
	int seen;
	bool stop;
};

static void send_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w <= 0)
			return;
		p = (const char *)p + w;
		n -= (size_t)w;
	}
}

/* One whole record from the client: forward it as the mode says. */
static void relay_record(struct relay *r, unsigned char *rec, size_t len)
{
	int i = r->seen++;

	if (i < r->target) {
		r->before += len - REC_HDR_LEN - 17;
		free(r->prev);
		r->prev = malloc(len);
		memcpy(r->prev, rec, len);
		r->prev_len = len;
		send_all(r->b, rec, len);
		return;
	}
	if (i == r->target) {
		switch (r->mode) {
		case T_FLIP:
			rec[len / 2] ^= 0x10;
			send_all(r->b, rec, len);
			return;
		case T_REPLAY:
			send_all(r->b, r->prev, r->prev_len);
			send_all(r->b, rec, len);
			return;
		case T_REORDER:
			r->held = malloc(len);
			memcpy(r->held, rec, len);
			r->held_len = len;
			return;
		case T_TRUNCATE:
			send_all(r->b, rec, len / 2);
			shutdown(r->b, SHUT_WR);
			r->stop = true;
			return;
		case T_CUT: /* at a record boundary, without close_notify */
			shutdown(r->b, SHUT_WR);
			r->stop = true;
			return;
		}
	}
	send_all(r->b, rec, len);
	if (r->held) {
		send_all(r->b, r->held, r->held_len);
		free(r->held);
		r->held = NULL;
	}
}

static void *relay_thread(void *arg)
{
	struct relay *r = arg;
	static unsigned char buf[1 << 20];
	size_t fill = 0;
	unsigned char tmp[65536];

	for (;;) {
		struct pollfd p[2] = { { .fd = r->a, .events = POLLIN },
				       { .fd = r->b, .events = POLLIN } };
		ssize_t n;

		if (poll(p, 2, -1) < 0)
			break;
		if (p[1].revents) { /* the server's bytes go through as they are */
			n = read(r->b, tmp, sizeof(tmp));
			if (n <= 0) {
				shutdown(r->a, SHUT_WR);
				break;
			}
			send_all(r->a, tmp, (size_t)n);
		}
		if (!p[0].revents)
			continue;
		n = read(r->a, buf + fill, sizeof(buf) - fill);
		if (n <= 0) {
			if (!r->stop)
				shutdown(r->b, SHUT_WR);
			break;
		}
		fill += (size_t)n;
		if (!atomic_load(&r->armed)) {
			send_all(r->b, buf, fill);
			fill = 0;
			continue;
		}
		while (!r->stop && fill >= REC_HDR_LEN) {
			size_t len = REC_HDR_LEN + ((size_t)buf[3] << 8 | buf[4]);

			if (fill < len)
				break;
			relay_record(r, buf, len);
			memmove(buf, buf + len, fill - len);
			fill -= len;
		}
		if (r->stop)
			fill = 0;
	}
	return NULL;
}

/*
 * The client's stream altered on the way; our reader (the server) must refuse it and write
 * exactly the plaintext of the records before the altered one, none of it.
 */
static void tamper(const char *what, enum tamper mode, bool client_openssl, int want)
{
	struct side s = { 0 }, c = { .o.openssl_records = client_openssl };
	struct relay rl = { .mode = mode, .target = 5 };
	int ca[2], sb[2], a[2], b[2];
	struct plain pa = { .send = 2u << 20, .seed_out = 7 }, pb = { .seed_in = 7 };
	static struct pump out, in, back;
	pthread_t hs, rt, t[5];
	struct timespec until;
	bool mac = want == -EBADMSG;

	fprintf(stderr, "tamper: %s, the client on %s record layer\n", what,
		client_openssl ? "OpenSSL's" : "our");
	CHECK(load(&s, MIG_TLS_SERVER, "lab/server") == 0);
	CHECK(load(&c, MIG_TLS_CLIENT, "lab/client") == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ca) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sb) == 0);
	c.fd = ca[0];
	rl.a = ca[1];
	s.fd = sb[0];
	rl.b = sb[1];
	pthread_create(&rt, NULL, relay_thread, &rl);
	pthread_create(&hs, NULL, handshake_thread, &s);
	handshake_thread(&c);
	pthread_join(hs, NULL);
	CHECK(s.r == 0 && c.r == 0);
	atomic_store(&rl.armed, 1);

	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, a) == 0);
	CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, b) == 0);
	pa.fd = a[0];
	pb.fd = b[0];
	out = (struct pump){ .c = c.conn, .fd = a[1], .out = true };
	in = (struct pump){ .c = s.conn, .fd = b[1], .out = false };
	pthread_create(&t[0], NULL, pump_thread, &out);
	pthread_create(&t[1], NULL, pump_thread, &in);
	pthread_create(&t[2], NULL, plain_reader, &pb);
	pthread_create(&t[3], NULL, plain_writer, &pa);
	/* the client reads too: a record that does not verify is answered with bad_record_mac */
	back = (struct pump){ .c = c.conn, .fd = a[1], .out = false };
	pthread_create(&t[4], NULL, pump_thread, &back);
	pthread_join(t[1], NULL);
	if (mac) {
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 10;
		CHECK(pthread_timedjoin_np(t[4], NULL, &until) == 0);
		fprintf(stderr, "  client: %d %s\n", back.r, back.err.msg);
		CHECK(back.r < 0 && strstr(back.err.msg, "bad record mac"));
	}
	/* the server refused: everything else ends (EPIPE, EOF) */
	shutdown(b[1], SHUT_RDWR);
	shutdown(sb[0], SHUT_RDWR);
	shutdown(ca[0], SHUT_RDWR);
	shutdown(a[1], SHUT_RDWR);
	for (int i = 0; i < 5; i++)
		if (i != 1 && (i != 4 || !mac))
			pthread_join(t[i], NULL);
	pthread_join(rt, NULL);
	fprintf(stderr, "  server pump: %d %s; %llu bytes written of %llu before the record\n",
		in.r, in.err.msg, (unsigned long long)pb.received, (unsigned long long)rl.before);
	CHECK(s.conn->layer == MIG_TLS_LAYER_OURS);
	CHECK(in.r == want);
	CHECK(rl.seen > rl.target);
	CHECK(pb.received == rl.before);
	CHECK(pb.errors == 0);
	free(rl.prev);
	free(rl.held);
	for (int i = 0; i < 2; i++) {
		close(a[i]);
		close(b[i]);
	}
	close(ca[1]);
	close(sb[1]);
	done(&s);
	done(&c);
}

/*
 * Another suite or version: AES-256-GCM (SHA-384's HKDF) on ours against OpenSSL's;
 * ChaCha20 and TLS 1.2 stay on OpenSSL's record layer, and still carry the bytes.
 */
static void suite(const char *what, const char *suites13, int version, bool client_openssl,
		  const char *want_cipher, enum mig_tls_layer want)
{
	struct side s = { .o.allow_tls12 = version == TLS1_2_VERSION },
		    c = { .o.allow_tls12 = version == TLS1_2_VERSION,
			  .o.openssl_records = client_openssl };

	fprintf(stderr, "suite: %s\n", what);
	CHECK(load(&s, MIG_TLS_SERVER, "lab/server") == 0);
	CHECK(load(&c, MIG_TLS_CLIENT, "lab/client") == 0);
	CHECK(SSL_CTX_set_ciphersuites(s.ctx->ssl, suites13) == 1);
	CHECK(SSL_CTX_set_ciphersuites(c.ctx->ssl, suites13) == 1);
	if (version)
		CHECK(SSL_CTX_set_max_proto_version(c.ctx->ssl, version) == 1);
	shake(&s, &c);
	CHECK(s.r == 0 && c.r == 0);
	if (s.r || c.r)
		goto out;
	fprintf(stderr, "  %s %s: %s\n", s.info.version, s.info.cipher, s.info.path);
	CHECK_STR(s.info.cipher, want_cipher);
	transfer(&s, &c);
	CHECK(s.conn->layer == want);
out:
	done(&s);
	done(&c);
}

static void test_record_layer(void)
{
	suite("AES-256-GCM, ours against OpenSSL's", "TLS_AES_256_GCM_SHA384", 0, true,
	      "TLS_AES_256_GCM_SHA384", MIG_TLS_LAYER_OURS);
	suite("ChaCha20-Poly1305", "TLS_CHACHA20_POLY1305_SHA256", 0, false,
	      "TLS_CHACHA20_POLY1305_SHA256", MIG_TLS_LAYER_OPENSSL);
	suite("TLS 1.2", "TLS_AES_128_GCM_SHA256", TLS1_2_VERSION, false,
	      "ECDHE-ECDSA-AES128-GCM-SHA256", MIG_TLS_LAYER_OPENSSL);
	interop(true, 3);
	interop(false, 3);
	interop(true, 0);
	test_small_then_pumps();
	for (int o = 0; o < 2; o++) {
		tamper("a flipped bit", T_FLIP, o, -EBADMSG);
		tamper("a replayed record", T_REPLAY, o, -EBADMSG);
		tamper("two records swapped", T_REORDER, o, -EBADMSG);
		tamper("a record cut in half, then the end", T_TRUNCATE, o, -EPROTO);
		tamper("the end at a record boundary, no close_notify", T_CUT, o, -EPROTO);
	}
}

static void expect(const char *what, const char *sdir, const char *cdir, int sr,
		   enum mig_tls_refusal srf, const char *smsg, int cr, enum mig_tls_refusal crf,
		   const char *cmsg)
{
	struct side s = { 0 }, c = { 0 };

	fprintf(stderr, "%s\n", what);
	pair(&s, sdir, &c, cdir);
	CHECK(s.r == sr);
	CHECK(s.refusal == srf);
	CHECK(c.r == cr);
	CHECK(c.refusal == crf);
	if (smsg && !strstr(s.err.msg, smsg))
		fprintf(stderr, "  want \"%s\" in the server's message\n", smsg);
	CHECK(!smsg || strstr(s.err.msg, smsg));
	if (cmsg && !strstr(c.err.msg, cmsg))
		fprintf(stderr, "  want \"%s\" in the client's message\n", cmsg);
	CHECK(!cmsg || strstr(c.err.msg, cmsg));
	done(&s);
	done(&c);
}

/* A raw OpenSSL client: no certificate, or only TLS 1.2. */
struct raw {
	int fd;
	int max_version;
	unsigned long err;
	int connected;
	int alert;
};

static void *raw_client(void *arg)
{
	struct raw *rc = arg;
	SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
	SSL *ssl;
	char b;

	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	if (rc->max_version)
		SSL_CTX_set_max_proto_version(ctx, rc->max_version);
	ssl = SSL_new(ctx);
	SSL_set_fd(ssl, rc->fd);
	rc->connected = SSL_connect(ssl) == 1;
	if (rc->connected && SSL_read(ssl, &b, 1) <= 0) /* TLS 1.3: the refusal comes here */
		rc->connected = 0;
	rc->err = ERR_peek_last_error();
	ERR_clear_error();
	shutdown(rc->fd, SHUT_RDWR);
	SSL_free(ssl);
	SSL_CTX_free(ctx);
	return NULL;
}

static void test_raw(const char *what, int max_version, bool allow12, enum mig_tls_refusal want,
		     const char *smsg, int want_alert)
{
	struct side s = { .o.allow_tls12 = allow12 };
	struct raw rc = { .max_version = max_version };
	pthread_t t;
	int sv[2];

	fprintf(stderr, "%s\n", what);
	load_on_socketpair(&s, MIG_TLS_SERVER, "lab/server", sv);
	rc.fd = sv[1];
	pthread_create(&t, NULL, raw_client, &rc);
	handshake_thread(&s);
	pthread_join(t, NULL);
	fprintf(stderr, "  server: %d %s: %s\n  client: %s\n", s.r, mig_tls_refusal_name(s.refusal),
		s.err.msg, ERR_reason_error_string(rc.err));
	CHECK(s.r < 0);
	CHECK(s.refusal == want);
	CHECK(strstr(s.err.msg, smsg) != NULL);
	CHECK(!rc.connected);
	CHECK(ERR_GET_REASON(rc.err) == SSL_AD_REASON_OFFSET + want_alert);
	close(sv[1]);
	done(&s);
}

static void test_plaintext(void)
{
	static const char qemu[] = "QEVM\0\0\0\3"; /* QEMU's stream: magic, version */
	struct side s = { 0 };
	int sv[2];
	char b[16];

	fprintf(stderr, "plaintext client\n");
	load_on_socketpair(&s, MIG_TLS_SERVER, "lab/server", sv);
	CHECK(write(sv[1], qemu, 8) == 8);
	handshake_thread(&s);
	print_side("server", &s);
	CHECK(s.r == -EPROTO);
	CHECK(s.refusal == MIG_TLS_PLAINTEXT);
	CHECK(strstr(s.err.msg, "plaintext peer") && strstr(s.err.msg, "51 45 56 4d"));
	/* nothing was consumed: the bytes are still there, and nothing was answered */
	CHECK(recv(sv[0], b, sizeof(b), MSG_DONTWAIT) == 8);
	CHECK(recv(sv[1], b, sizeof(b), MSG_DONTWAIT) < 0 && errno == EAGAIN);
	close(sv[1]);
	done(&s);

	/* a client that says nothing: refused at the timeout */
	fprintf(stderr, "silent client\n");
	s.o.handshake_timeout_ms = 200;
	load_on_socketpair(&s, MIG_TLS_SERVER, "lab/server", sv);
	handshake_thread(&s);
	print_side("server", &s);
	CHECK(s.r == -ETIMEDOUT);
	CHECK(strstr(s.err.msg, "no TLS ClientHello") != NULL);
	close(sv[1]);
	done(&s);
}

/* A client against a server that answers in plaintext (a mignet without TLS). */
static void test_plaintext_server(void)
{
	struct side c = { 0 };
	int sv[2];

	fprintf(stderr, "plaintext server\n");
	load_on_socketpair(&c, MIG_TLS_CLIENT, "lab/client", sv);
	CHECK(write(sv[1], "MIGNET hello, plaintext\n", 24) == 24);
	handshake_thread(&c);
	print_side("client", &c);
	CHECK(c.r == -EPROTO);
	CHECK(c.refusal == MIG_TLS_PLAINTEXT);
	close(sv[1]);
	done(&c);
}

static void test_tls12(void)
{
	struct side s = { 0 }, c = { 0 };

	test_raw("TLS 1.2 client, TLS 1.3 only", TLS1_2_VERSION, false, MIG_TLS_PROTOCOL,
		 "no common version", SSL_AD_PROTOCOL_VERSION);
	/* allowed: the version passes, the missing certificate is what is refused */
	test_raw("TLS 1.2 client, TLS 1.2 allowed", TLS1_2_VERSION, true, MIG_TLS_NO_PEER_CERT,
		 "sent no client certificate", SSL_AD_HANDSHAKE_FAILURE);

	fprintf(stderr, "TLS 1.2 allowed on both sides\n");
	s.o.allow_tls12 = true;
	c.o.allow_tls12 = true;
	pair(&s, "lab/server", &c, "lab/client");
	CHECK(s.r == 0 && c.r == 0);
	CHECK_STR(c.info.version, "TLSv1.3"); /* allowed, not preferred */
	done(&s);
	done(&c);
}

static char *sha_of(const char *sdir, const char *cdir, char *buf)
{
	struct side s = { 0 }, c = { 0 };

	pair(&s, sdir, &c, cdir);
	CHECK(s.r == 0 && c.r == 0);
	snprintf(buf, 65, "%s", c.info.peer_sha256);
	done(&s);
	done(&c);
	return buf;
}

static void test_rotation(void)
{
	struct side s = { 0 }, c = { 0 };
	struct mig_error err = { 0 };
	char before[65], after[65], lab[128], cmd[400];

	fprintf(stderr, "rotation\n");
	path(lab, sizeof(lab), "lab");
	sha_of("lab/server", "lab/client", before);
	snprintf(cmd, sizeof(cmd), "cp -r %s/lab/client %s/old-client", base, base);
	CHECK(system(cmd) == 0);
	/* a context loaded before the rotation keeps what it read */
	CHECK(load(&s, MIG_TLS_SERVER, "lab/server") == 0);

	/* rotate: a new CA and new node certificates, in place */
	CHECK(mig_tls_init_dir(lab, MIG_TLS_SERVER_NAME, MIG_TLS_CLIENT_NAME, 30, true, &err) == 0);

	/* the context loaded before: the old server certificate, the old CA */
	CHECK(load(&c, MIG_TLS_CLIENT, "old-client") == 0);
	shake(&s, &c);
	CHECK(s.r == 0 && c.r == 0);
	CHECK_STR(c.info.peer_sha256, before);
	done(&s);
	done(&c);

	/* loaded after: the new certificate; a client certificate of the old CA is refused */
	CHECK(strcmp(sha_of("lab/server", "lab/client", after), before) != 0);
	snprintf(cmd, sizeof(cmd), "cp %s/lab/ca.crt %s/old-client/ca.crt", base, base);
	CHECK(system(cmd) == 0);
	expect("old client after rotation", "lab/server", "old-client", -EACCES, MIG_TLS_UNKNOWN_CA,
	       "not from our CA", -EACCES, MIG_TLS_PEER_REFUSED, "unknown CA");
}

/* mignet doctor's checks of the material on disk */
static void doctor_case(const char *what, const char *dir, const char *cert, const char *key,
			enum mig_tls_check_id failing, const char *msg)
{
	char d[160], c[200], k[200];
	struct mig_tls_opts o = { .role = MIG_TLS_SERVER };
	struct mig_tls_check ch[MIG_TLS_CHECK_COUNT];

	fprintf(stderr, "doctor: %s\n", what);
	path(d, sizeof(d), dir);
	o.dir = d;
	if (cert) {
		path(c, sizeof(c), cert);
		o.cert = c;
	}
	if (key) {
		path(k, sizeof(k), key);
		o.key = k;
	}
	mig_tls_doctor(&o, false, NULL, ch);
	for (int i = 0; i < MIG_TLS_CHECK_COUNT; i++) {
		int want = i == MIG_TLS_CHECK_PATH		 ? 0
			   : (int)failing == MIG_TLS_CHECK_COUNT ? 0
			   : i == (int)failing			 ? 1
			   : failing == MIG_TLS_CHECK_FILES	 ? 2
								 : 0;

		fprintf(stderr, "  %-9s %d %s\n", ch[i].name, ch[i].status, ch[i].detail);
		CHECK(ch[i].status == want);
	}
	if (failing < MIG_TLS_CHECK_COUNT)
		CHECK(strstr(ch[failing].detail, msg) != NULL);
}

static void test_doctor(void)
{
	doctor_case("a lab's server", "lab/server", NULL, NULL, MIG_TLS_CHECK_COUNT, NULL);
	doctor_case("a lab's client", "lab/client", NULL, NULL, MIG_TLS_CHECK_COUNT, NULL);
	doctor_case("no such directory", "nowhere", NULL, NULL, MIG_TLS_CHECK_FILES,
		    "No such file");
	doctor_case("the key of another certificate", "lab/client", NULL, "lab/server/tls.key",
		    MIG_TLS_CHECK_KEY, "does not match");
	doctor_case("a certificate of another CA", "foreign-client", NULL, NULL,
		    MIG_TLS_CHECK_CHAIN, "does not verify");
	doctor_case("expired", "expired-client", NULL, NULL, MIG_TLS_CHECK_DATES, "expired on");
	doctor_case("not yet valid", "future-server", NULL, NULL, MIG_TLS_CHECK_DATES,
		    "not valid before");
	doctor_case("a wrong name", "wrong-name-server", NULL, NULL, MIG_TLS_CHECK_NAME,
		    "must name " MIG_TLS_SERVER_NAME);
	doctor_case("a client's name, a server's usage", "usage-client", NULL, NULL,
		    MIG_TLS_CHECK_NAME, "clientAuth missing");
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *f)
{
	(void)st;
	(void)flag;
	(void)f;
	return remove(p);
}

int main(void)
{
	struct mig_error err = { 0 };
	char lab[128], other[128], why[200], cmd[600];
	int64_t day = 86400;

	signal(SIGPIPE, SIG_IGN);
	snprintf(base, sizeof(base), "/tmp/mignet-test-tls.XXXXXX");
	if (!mkdtemp(base))
		return 1;
	path(lab, sizeof(lab), "lab");
	path(other, sizeof(other), "other");
	CHECK(mig_tls_init_dir(lab, MIG_TLS_SERVER_NAME, MIG_TLS_CLIENT_NAME, 30, false, &err) ==
	      0);
	CHECK(mig_tls_init_dir(other, MIG_TLS_SERVER_NAME, MIG_TLS_CLIENT_NAME, 30, false, &err) ==
	      0);
	/* a client that trusts our CA but holds a certificate from another one */
	snprintf(cmd, sizeof(cmd),
		 "mkdir %s/foreign-client && cp %s/other/client/tls.* %s/lab/ca.crt "
		 "%s/foreign-client/",
		 base, base, base, base);
	CHECK(system(cmd) == 0);
	make_leaf("wrong-name-server", "lab", "kubevirt.io:system:node:someone-else",
		  MIG_TLS_SERVER, -day, 30 * day);
	make_leaf("expired-client", "lab", MIG_TLS_CLIENT_NAME, MIG_TLS_CLIENT, -3 * day, -day);
	make_leaf("future-server", "lab", MIG_TLS_SERVER_NAME, MIG_TLS_SERVER, day, 30 * day);
	make_leaf("usage-client", "lab", MIG_TLS_CLIENT_NAME, MIG_TLS_SERVER, -day, 30 * day);
	fprintf(stderr, "path: %s (%d)\n", why, mig_tls_kernel_path(why, sizeof(why)));

	test_success();
	test_record_layer();
	expect("client certificate from another CA", "lab/server", "foreign-client", -EACCES,
	       MIG_TLS_UNKNOWN_CA,
	       "client's certificate (CN " MIG_TLS_CLIENT_NAME ") is not from "
	       "our CA",
	       -EACCES, MIG_TLS_PEER_REFUSED, "unknown CA");
	expect("server certificate from another CA", "other/server", "lab/client", -EACCES,
	       MIG_TLS_PEER_REFUSED, "unknown CA", -EACCES, MIG_TLS_UNKNOWN_CA, "not our CA");
	expect("server certificate with the wrong name", "wrong-name-server", "lab/client", -EACCES,
	       MIG_TLS_PEER_REFUSED, NULL, -EACCES, MIG_TLS_WRONG_NAME,
	       "names CN kubevirt.io:system:node:someone-else, not " MIG_TLS_SERVER_NAME);
	expect("expired client certificate", "lab/server", "expired-client", -EACCES,
	       MIG_TLS_EXPIRED, "client's certificate (CN " MIG_TLS_CLIENT_NAME ") expired on",
	       -EACCES, MIG_TLS_PEER_REFUSED, "expired");
	expect("server certificate not yet valid", "future-server", "lab/client", -EACCES,
	       MIG_TLS_PEER_REFUSED, NULL, -EACCES, MIG_TLS_NOT_YET_VALID, "is not valid before");
	expect("client certificate for a server", "lab/server", "usage-client", -EACCES,
	       MIG_TLS_WRONG_USAGE, "clientAuth", -EACCES, MIG_TLS_PEER_REFUSED, NULL);
	test_raw("no client certificate", 0, false, MIG_TLS_NO_PEER_CERT,
		 "sent no client certificate", SSL_AD_CERTIFICATE_REQUIRED);
	test_plaintext();
	test_plaintext_server();
	test_tls12();
	test_rotation();
	test_doctor();

	nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return check_summary();
}
