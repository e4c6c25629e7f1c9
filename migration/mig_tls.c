// SPDX-License-Identifier: Apache-2.0
/*
 * Mutual TLS for the migration connections: contexts and the handshake (the pumps: mig_tls_pump.c).
 *
 * Theory of operation. mig_tls_ctx_load() builds an SSL_CTX from the files as they are now
 * (the caller loads one per migration: rotation needs no restart). The handshake runs the
 * socket non-blocking under poll(2) with one deadline, so a silent peer costs at most the
 * timeout. The peer's certificate is judged in verify_cb(): OpenSSL verifies the chain
 * against ca.crt, the validity dates and the extended key usage of the peer's role (the
 * purpose: sslclient on the server, sslserver on the client); verify_cb() records the first
 * error it reports, then at depth 0 compares the subject CN with the expected name. The
 * recorded reason is what the refusal message says; the peer learns it from the TLS alert
 * OpenSSL sends for that error (unknown_ca, certificate_expired, bad_certificate...).
 *
 * After the handshake the server sends MIG_TLS_VERDICT and the client reads it (see
 * mig_tls.h), so a client refused for its certificate fails in mig_tls_handshake() too.
 *
 * The two pumps of a connection may run in two threads: every SSL call is made under the
 * connection's lock, on a non-blocking socket, and the waits (poll) are made without it.
 * SSL_read never waits for the socket to be writable and SSL_write never reads in TLS 1.3
 * without renegotiation (disabled), so the two directions do not stall each other.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "mig_tls_priv.h"

#define CIPHERS_13 "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#define CIPHERS_12                                                   \
	"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:" \
	"ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:" \
	"ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"
#define READ_BUFFER (256u << 10) /* many 16 KiB records per recv with read-ahead */
#define ULP_FILE "/proc/sys/net/ipv4/tcp_available_ulp"

static int conn_index = -1;
static pthread_once_t conn_index_once = PTHREAD_ONCE_INIT;

static void conn_index_init(void)
{
	conn_index = SSL_get_ex_new_index(0, NULL, NULL, NULL, NULL);
}

static const char *const refusal_names[] = {
	[MIG_TLS_OK] = "ok",
	[MIG_TLS_UNKNOWN_CA] = "unknown-ca",
	[MIG_TLS_WRONG_NAME] = "wrong-name",
	[MIG_TLS_WRONG_USAGE] = "wrong-usage",
	[MIG_TLS_EXPIRED] = "expired",
	[MIG_TLS_NOT_YET_VALID] = "not-yet-valid",
	[MIG_TLS_NO_PEER_CERT] = "no-client-certificate",
	[MIG_TLS_BAD_CERT] = "bad-certificate",
	[MIG_TLS_PLAINTEXT] = "plaintext-peer",
	[MIG_TLS_PEER_REFUSED] = "refused-by-peer",
	[MIG_TLS_PROTOCOL] = "protocol",
	[MIG_TLS_IO] = "connection",
};

const char *mig_tls_refusal_name(enum mig_tls_refusal r)
{
	if ((size_t)r >= sizeof(refusal_names) / sizeof(refusal_names[0]))
		return "?";
	return refusal_names[r];
}

/* ---- which record layer ---- */

static bool tls_module_loadable(void)
{
	struct utsname u;
	char path[300], line[512];
	bool found = false;
	FILE *f;

	if (uname(&u) < 0)
		return false;
	snprintf(path, sizeof(path), "/lib/modules/%s/modules.dep", u.release);
	f = fopen(path, "re");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line), f))
		found = !strncmp(line, "kernel/net/tls/tls.ko", 21);
	fclose(f);
	return found;
}

/* Ask the kernel itself: TCP_ULP "tls" on a fresh TCP socket is ENOENT when it has no such
 * ULP (and cannot load one), ENOTCONN or another refusal of the state when it has. Unlike
 * tcp_available_ulp, this answers in any network namespace. Return: 1, 0, or -errno. */
static int ulp_probe(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), r;

	if (fd < 0)
		return -errno;
	r = setsockopt(fd, IPPROTO_TCP, TCP_ULP, "tls", 3) == 0 ? 1 : errno == ENOENT ? 0 : 1;
	close(fd);
	return r;
}

bool mig_tls_kernel_path(char *why, size_t size)
{
#ifdef OPENSSL_NO_KTLS
	snprintf(why, size, "user space: this OpenSSL was built without kTLS");
	return false;
#else
	char ulps[256] = "", *tok, *save = NULL, copy[256];
	FILE *f = fopen(ULP_FILE, "re");
	bool tls = false;

	if (f) {
		if (!fgets(ulps, sizeof(ulps), f))
			ulps[0] = '\0';
		fclose(f);
	}
	ulps[strcspn(ulps, "\n")] = '\0';
	snprintf(copy, sizeof(copy), "%s", ulps);
	for (tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
		tls |= !strcmp(tok, "tls");
	if (!tls && ulp_probe() == 1) {
		snprintf(why, size,
			 "kernel (kTLS): the kernel accepts the tls TCP ULP; used on "
			 "each connection whose cipher it has (AES-GCM)");
		return true;
	}
	if (tls) {
		snprintf(why, size,
			 "kernel (kTLS): the kernel offers the tls TCP ULP; used on "
			 "each connection whose cipher it has (AES-GCM)");
		return true;
	}
	if (tls_module_loadable()) {
		snprintf(why, size,
			 "kernel (kTLS): the tls module is not loaded but can be, on "
			 "the first connection");
		return true;
	}
	snprintf(why, size,
		 "user space: the kernel has no tls TCP ULP (setsockopt TCP_ULP "
		 "\"tls\": ENOENT; %s: %s); a kernel with CONFIG_TLS would take the record layer",
		 ULP_FILE, f ? (ulps[0] ? ulps : "empty") : "not visible in this netns");
	return false;
#endif
}

static int verify_cb(int ok, X509_STORE_CTX *xs);

/* ---- what our record layer takes over from the handshake (mig_tls_record.c) ---- */

static int hex_nibble(char h)
{
	return h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : -1;
}

/* "CLIENT_TRAFFIC_SECRET_0 <client random> <secret>", and the server's: kept for the switch */
static void keylog_cb(const SSL *ssl, const char *line)
{
	struct mig_tls_conn *c = SSL_get_ex_data(ssl, conn_index);
	const char *sp;
	int which;
	size_t n = 0;

	if (!c)
		return;
	if (!strncmp(line, "CLIENT_TRAFFIC_SECRET_0 ", 24))
		which = 0;
	else if (!strncmp(line, "SERVER_TRAFFIC_SECRET_0 ", 24))
		which = 1;
	else
		return;
	sp = strchr(line + 24, ' ');
	if (!sp)
		return;
	for (sp++; sp[0] && sp[1] && n < sizeof(c->cap.secret[0]); sp += 2, n++) {
		int hi = hex_nibble(sp[0]), lo = hex_nibble(sp[1]);

		if (hi < 0 || lo < 0)
			return;
		c->cap.secret[which][n] = (unsigned char)(hi << 4 | lo);
	}
	c->cap.secret_len[which] = *sp ? 0 : n;
}

/* Count the records of inner type application_data each way (their sequence numbers). */
static void msg_cb(int write_p, int version, int content_type, const void *buf, size_t len,
		   SSL *ssl, void *arg)
{
	struct mig_tls_conn *c = SSL_get_ex_data(ssl, conn_index);

	(void)version;
	(void)arg;
	if (!c || content_type != SSL3_RT_INNER_CONTENT_TYPE || len != 1)
		return;
	if (*(const unsigned char *)buf == SSL3_RT_APPLICATION_DATA)
		c->cap.app_records[write_p ? 1 : 0]++;
	else if (SSL_is_init_finished(ssl))
		c->cap.other_records = true;
}

/* ---- the context ---- */

void mig_tls_ssl_errors(char *buf, size_t size)
{
	unsigned long e;
	size_t len = 0;

	buf[0] = '\0';
	while ((e = ERR_get_error()) != 0 && len + 2 < size) {
		char one[200];

		ERR_error_string_n(e, one, sizeof(one));
		len += (size_t)snprintf(buf + len, size - len, "%s%s", len ? "; " : "", one);
	}
	if (!buf[0])
		snprintf(buf, size, "no detail from OpenSSL");
}

static const char *pick_path(const char *file, const char *dir, const char *name, char *buf,
			     size_t size)
{
	if (file)
		return file;
	if (!dir)
		return NULL;
	snprintf(buf, size, "%s/%s", dir, name);
	return buf;
}

/* One file that must exist and be readable; the messages of each kind of failure. */
static int file_readable(const char *what, const char *path, struct mig_error *err)
{
	FILE *f;

	if (!path)
		return mig_error_set(err, -EINVAL, "no %s: give --tls-dir DIR or --tls-%s FILE",
				     what, what);
	f = fopen(path, "re");
	if (!f)
		return mig_error_set(err, -errno, "TLS %s %s: %s", what, path, strerror(errno));
	fclose(f);
	return 0;
}

int mig_tls_ctx_load(const struct mig_tls_opts *o, struct mig_tls_ctx **ret, struct mig_error *err)
{
	char cbuf[4096], kbuf[4096], abuf[4096], msg[256];
	const char *cert = pick_path(o->cert, o->dir, MIG_TLS_CERT_FILE, cbuf, sizeof(cbuf));
	const char *key = pick_path(o->key, o->dir, MIG_TLS_KEY_FILE, kbuf, sizeof(kbuf));
	const char *ca = pick_path(o->ca, o->dir, MIG_TLS_CA_FILE, abuf, sizeof(abuf));
	struct mig_tls_ctx *c;
	uint64_t opts;
	int r;

	if ((r = file_readable("cert", cert, err)) < 0 ||
	    (r = file_readable("key", key, err)) < 0 || (r = file_readable("ca", ca, err)) < 0)
		return r;
	pthread_once(&conn_index_once, conn_index_init);
	if (conn_index < 0)
		return mig_error_set(err, -ENOMEM, "OpenSSL: no ex_data index");
	c = calloc(1, sizeof(*c));
	if (!c)
		return mig_error_set(err, -ENOMEM, "out of memory");
	c->role = o->role;
	c->timeout_ms =
		o->handshake_timeout_ms ? o->handshake_timeout_ms : MIG_TLS_HANDSHAKE_TIMEOUT_MS;
	c->check_name = !o->peer_name || o->peer_name[0];
	snprintf(c->peer_name, sizeof(c->peer_name), "%s",
		 o->peer_name		     ? o->peer_name
		 : o->role == MIG_TLS_SERVER ? MIG_TLS_CLIENT_NAME
					     : MIG_TLS_SERVER_NAME);
	c->ktls = mig_tls_kernel_path(c->path_why, sizeof(c->path_why));

	ERR_clear_error();
	c->ssl = SSL_CTX_new(o->role == MIG_TLS_SERVER ? TLS_server_method() : TLS_client_method());
	if (!c->ssl) {
		r = -ENOMEM;
		goto fail_ssl;
	}
	if (!SSL_CTX_set_min_proto_version(c->ssl,
					   o->allow_tls12 ? TLS1_2_VERSION : TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(c->ssl, TLS1_3_VERSION) ||
	    !SSL_CTX_set_ciphersuites(c->ssl, CIPHERS_13) ||
	    !SSL_CTX_set_cipher_list(c->ssl, CIPHERS_12)) {
		r = -EINVAL;
		goto fail_ssl;
	}
	opts = SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET | SSL_OP_CIPHER_SERVER_PREFERENCE;
#ifndef OPENSSL_NO_KTLS
	if (c->ktls)
		opts |= SSL_OP_ENABLE_KTLS;
#endif
	SSL_CTX_set_options(c->ssl, opts);
	SSL_CTX_set_num_tickets(c->ssl, 0);
	SSL_CTX_set_session_cache_mode(c->ssl, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_mode(c->ssl,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	/*
	 * Read-ahead stays off until the first data call decides the record layer
	 * (mig_tls_layer_decide): OpenSSL then holds no byte beyond the records it processed
	 * and ours can take over the stream. kTLS handles its own switch.
	 */
	SSL_CTX_set_read_ahead(c->ssl, c->ktls ? 1 : 0);
	SSL_CTX_set_default_read_buffer_len(c->ssl, READ_BUFFER);
	c->openssl_records = o->openssl_records;
	if (!c->ktls && !o->openssl_records) {
		SSL_CTX_set_keylog_callback(c->ssl, keylog_cb);
		SSL_CTX_set_msg_callback(c->ssl, msg_cb);
	}

	if (SSL_CTX_use_certificate_chain_file(c->ssl, cert) != 1) {
		mig_tls_ssl_errors(msg, sizeof(msg));
		r = mig_error_set(err, -EINVAL, "TLS cert %s: not a PEM certificate (%s)", cert,
				  msg);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c->ssl, key, SSL_FILETYPE_PEM) != 1) {
		mig_tls_ssl_errors(msg, sizeof(msg));
		r = mig_error_set(err, -EINVAL,
				  "TLS key %s: not a PEM private key, or it does not "
				  "match %s (%s)",
				  key, cert, msg);
		goto fail;
	}
	if (SSL_CTX_check_private_key(c->ssl) != 1) {
		mig_tls_ssl_errors(msg, sizeof(msg));
		r = mig_error_set(err, -EINVAL, "TLS key %s does not match the certificate %s", key,
				  cert);
		goto fail;
	}
	if (SSL_CTX_load_verify_locations(c->ssl, ca, NULL) != 1 ||
	    sk_X509_OBJECT_num(X509_STORE_get0_objects(SSL_CTX_get_cert_store(c->ssl))) < 1) {
		mig_tls_ssl_errors(msg, sizeof(msg));
		r = mig_error_set(err, -EINVAL, "TLS ca %s: no PEM certificate in it (%s)", ca,
				  msg);
		goto fail;
	}
	SSL_CTX_set_purpose(c->ssl, o->role == MIG_TLS_SERVER ? X509_PURPOSE_SSL_CLIENT
							      : X509_PURPOSE_SSL_SERVER);
	/* the server requires a client certificate; either side judges it in verify_cb */
	SSL_CTX_set_verify(
		c->ssl,
		SSL_VERIFY_PEER | (o->role == MIG_TLS_SERVER ? SSL_VERIFY_FAIL_IF_NO_PEER_CERT : 0),
		verify_cb);
	ERR_clear_error();
	*ret = c;
	return 0;

fail_ssl:
	mig_tls_ssl_errors(msg, sizeof(msg));
	r = mig_error_set(err, r, "OpenSSL: %s", msg);
fail:
	mig_tls_ctx_free(c);
	return r;
}

void mig_tls_ctx_free(struct mig_tls_ctx *ctx)
{
	if (!ctx)
		return;
	SSL_CTX_free(ctx->ssl);
	free(ctx);
}

/* ---- the verification ---- */

static void time_text(const ASN1_TIME *t, char *buf, size_t size)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	buf[0] = '\0';
	if (b && ASN1_TIME_print(b, t) == 1)
		n = BIO_read(b, buf, (int)size - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

int mig_tls_cert_cn(X509 *cert, char *buf, size_t size)
{
	X509_NAME *name = X509_get_subject_name(cert);
	int i = -1, last = -1;
	const ASN1_STRING *s;
	unsigned char *utf8 = NULL;
	int n;

	buf[0] = '\0';
	while ((i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0)
		last = i;
	if (last < 0)
		return -ENOENT;
	s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, last));
	n = ASN1_STRING_to_UTF8(&utf8, s);
	if (n < 0)
		return -EINVAL;
	if ((size_t)n != strlen((char *)utf8)) {
		OPENSSL_free(utf8);
		return -EINVAL;
	}
	snprintf(buf, size, "%s", utf8);
	OPENSSL_free(utf8);
	return 0;
}

static void record(struct mig_tls_conn *c, enum mig_tls_refusal r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void record(struct mig_tls_conn *c, enum mig_tls_refusal r, const char *fmt, ...)
{
	va_list ap;

	if (c->refusal != MIG_TLS_OK)
		return;
	c->refusal = r;
	va_start(ap, fmt);
	vsnprintf(c->why, sizeof(c->why), fmt, ap);
	va_end(ap);
}

static void verify_failed(struct mig_tls_conn *c, X509_STORE_CTX *xs)
{
	int e = X509_STORE_CTX_get_error(xs), depth = X509_STORE_CTX_get_error_depth(xs);
	X509 *cert = X509_STORE_CTX_get_current_cert(xs);
	const char *who = mig_tls_peer_role(c->role);
	char cn[160] = "?", when[64] = "";

	if (cert)
		mig_tls_cert_cn(cert, cn, sizeof(cn));
	switch (e) {
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		if (depth)
			record(c, MIG_TLS_UNKNOWN_CA,
			       "the %s's certificate is from CA \"%s\", not "
			       "our CA (%s)",
			       who, cn, X509_verify_cert_error_string(e));
		else
			record(c, MIG_TLS_UNKNOWN_CA,
			       "the %s's certificate (CN %s) is not from our "
			       "CA (%s)",
			       who, cn, X509_verify_cert_error_string(e));
		break;
	case X509_V_ERR_CERT_HAS_EXPIRED:
		if (cert)
			time_text(X509_get0_notAfter(cert), when, sizeof(when));
		record(c, MIG_TLS_EXPIRED, "the %s's %scertificate (CN %s) expired on %s", who,
		       depth ? "CA " : "", cn, when);
		break;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		if (cert)
			time_text(X509_get0_notBefore(cert), when, sizeof(when));
		record(c, MIG_TLS_NOT_YET_VALID,
		       "the %s's %scertificate (CN %s) is not valid "
		       "before %s (a clock behind?)",
		       who, depth ? "CA " : "", cn, when);
		break;
	case X509_V_ERR_INVALID_PURPOSE:
		record(c, MIG_TLS_WRONG_USAGE,
		       "the %s's certificate (CN %s) is not for a TLS %s "
		       "(extended key usage %s missing)",
		       who, cn, who, c->role == MIG_TLS_SERVER ? "clientAuth" : "serverAuth");
		break;
	default:
		record(c, MIG_TLS_BAD_CERT,
		       "the %s's certificate (CN %s, depth %d) does not "
		       "verify: %s",
		       who, cn, depth, X509_verify_cert_error_string(e));
	}
}

static int verify_cb(int ok, X509_STORE_CTX *xs)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct mig_tls_conn *c = ssl ? SSL_get_ex_data(ssl, conn_index) : NULL;
	char cn[160];
	int r;

	if (!c)
		return 0;
	if (!ok) {
		verify_failed(c, xs);
		return 0;
	}
	if (X509_STORE_CTX_get_error_depth(xs) != 0 || !c->check_name)
		return 1;
	r = mig_tls_cert_cn(X509_STORE_CTX_get_current_cert(xs), cn, sizeof(cn));
	if (r < 0 || strcmp(cn, c->peer_name) != 0) {
		record(c, MIG_TLS_WRONG_NAME, "the %s's certificate names %s%s, not %s",
		       mig_tls_peer_role(c->role), r == -ENOENT ? "no CN" : "CN ",
		       r == -ENOENT ? "" : cn, c->peer_name);
		X509_STORE_CTX_set_error(xs, X509_V_ERR_HOSTNAME_MISMATCH); /* bad_certificate */
		return 0;
	}
	return 1;
}

/* ---- the handshake ---- */

static int remaining(double deadline)
{
	double left = deadline - mig_now();

	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

int mig_tls_wait_fd(int fd, short events, double deadline)
{
	struct pollfd p = { .fd = fd, .events = events };
	int r;

	for (;;) {
		int ms = deadline < 0 ? -1 : remaining(deadline);

		if (ms == 0)
			return -ETIMEDOUT;
		r = poll(&p, 1, ms);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

/* The server's look at the first bytes, before OpenSSL reads any. */
static int peek_hello(struct mig_tls_conn *c, double deadline, struct mig_error *err)
{
	unsigned char b[8];
	char text[40] = "";
	ssize_t n;
	int r;

	for (;;) {
		r = mig_tls_wait_fd(c->fd, POLLIN, deadline);
		if (r == -ETIMEDOUT) { /* the caller says how long */
			c->refusal = MIG_TLS_PLAINTEXT;
			return r;
		}
		if (r < 0)
			break;
		n = recv(c->fd, b, sizeof(b), MSG_PEEK);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) {
			c->refusal = MIG_TLS_IO;
			return mig_error_set(err, -ECONNRESET,
					     "the client closed the connection "
					     "before its TLS ClientHello");
		}
		/* a TLS record: type 22 (handshake), version 3.x */
		if (b[0] == 22 && (n < 2 || b[1] == 3))
			return 0;
		for (ssize_t i = 0; i < n && i < 4; i++)
			snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%02x",
				 i ? " " : "", b[i]);
		c->refusal = MIG_TLS_PLAINTEXT;
		return mig_error_set(err, -EPROTO,
				     "plaintext peer: the client's first bytes (%s%s) "
				     "are not a TLS handshake; does the source run with --no-tls "
				     "(QEMU's stream starts with QEVM: 51 45 56 4d)?",
				     text, n > 4 ? " ..." : "");
	}
	c->refusal = MIG_TLS_IO;
	return mig_error_set(err, r, "waiting for the TLS ClientHello: %s", strerror(-r));
}

static const char *alert_hint(int alert)
{
	switch (alert) {
	case SSL_AD_UNKNOWN_CA:
		return ": it does not trust our CA";
	case SSL_AD_CERTIFICATE_EXPIRED:
		return ": our certificate expired, or is not valid yet";
	case SSL_AD_CERTIFICATE_REQUIRED:
		return ": it requires a client certificate";
	case SSL_AD_BAD_CERTIFICATE:
		return ": it refused our certificate (a wrong name, or not valid yet?)";
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
		return ": our certificate is not for this role (extended key usage)";
	case SSL_AD_PROTOCOL_VERSION:
		return ": no common TLS version (TLS 1.3 unless 1.2 is allowed)";
	case SSL_AD_HANDSHAKE_FAILURE:
		return ": no common cipher or parameters";
	default:
		return "";
	}
}

/* Classify a failed SSL call of the handshake. Return: -errno, with @err and c->refusal. */
static int handshake_failed(struct mig_tls_conn *c, int ssl_err, int sys_errno,
			    struct mig_error *err)
{
	unsigned long e = ERR_peek_last_error();
	int reason = ERR_GET_LIB(e) == ERR_LIB_SSL ? ERR_GET_REASON(e) : 0;
	const char *peer = mig_tls_peer_role(c->role);
	char msg[256];

	if (c->refusal != MIG_TLS_OK && c->refusal != MIG_TLS_IO) { /* ours, from verify_cb */
		ERR_clear_error();
		return mig_error_set(err, -EACCES, "TLS: refused the %s: %s", peer, c->why);
	}
	if (reason == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		ERR_clear_error();
		c->refusal = MIG_TLS_NO_PEER_CERT;
		return mig_error_set(err, -EACCES,
				     "TLS: refused the client: it sent no client "
				     "certificate (the server requires one from the CA)");
	}
	if (reason >= SSL_AD_REASON_OFFSET && reason < SSL_AD_REASON_OFFSET + 256) {
		int alert = reason - SSL_AD_REASON_OFFSET;

		ERR_clear_error();
		c->refusal = alert == SSL_AD_PROTOCOL_VERSION || alert == SSL_AD_HANDSHAKE_FAILURE
				     ? MIG_TLS_PROTOCOL
				     : MIG_TLS_PEER_REFUSED;
		return mig_error_set(err, c->refusal == MIG_TLS_PROTOCOL ? -EPROTO : -EACCES,
				     "TLS: the %s refused us with the alert \"%s\"%s", peer,
				     SSL_alert_desc_string_long(alert), alert_hint(alert));
	}
	switch (reason) {
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_PACKET_LENGTH_TOO_LONG:
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
		ERR_clear_error();
		c->refusal = MIG_TLS_PLAINTEXT;
		return mig_error_set(err, -EPROTO,
				     "TLS: plaintext peer: the %s does not answer "
				     "with TLS (does it run with --no-tls?)",
				     peer);
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_NO_PROTOCOLS_AVAILABLE:
	case SSL_R_NO_SHARED_CIPHER:
	case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
		ERR_clear_error();
		c->refusal = MIG_TLS_PROTOCOL;
		return mig_error_set(err, -EPROTO,
				     "TLS: no common version or cipher with the %s "
				     "(TLS 1.3 unless TLS 1.2 is allowed on both sides)",
				     peer);
	case SSL_R_UNEXPECTED_EOF_WHILE_READING:
		ERR_clear_error();
		c->refusal = MIG_TLS_IO;
		return mig_error_set(err, -ECONNRESET,
				     "TLS: the %s closed the connection during "
				     "the handshake%s",
				     peer,
				     c->role == MIG_TLS_CLIENT
					     ? " (a plaintext server closes on a ClientHello)"
					     : "");
	}
	if (ssl_err == SSL_ERROR_SYSCALL && !e) {
		c->refusal = MIG_TLS_IO;
		if (!sys_errno)
			return mig_error_set(err, -ECONNRESET,
					     "TLS: the %s closed the connection "
					     "during the handshake",
					     peer);
		return mig_error_set(err, -sys_errno, "TLS handshake with the %s: %s", peer,
				     strerror(sys_errno));
	}
	mig_tls_ssl_errors(msg, sizeof(msg));
	c->refusal = MIG_TLS_PROTOCOL;
	return mig_error_set(err, -EPROTO, "TLS handshake with the %s failed: %s", peer, msg);
}

int mig_tls_step(struct mig_tls_conn *c, enum mig_tls_step s, void *buf, size_t len,
		 double deadline, int *ret_ssl_err, int *ret_errno)
{
	for (;;) {
		size_t n = 0;
		int ok, e, r;

		ERR_clear_error();
		errno = 0;
		if (s == STEP_HANDSHAKE)
			ok = SSL_do_handshake(c->ssl) == 1;
		else if (s == STEP_READ)
			ok = SSL_read_ex(c->ssl, buf, len, &n);
		else
			ok = SSL_write_ex(c->ssl, buf, len, &n);
		if (ok) {
			if (s == STEP_HANDSHAKE || n == len)
				return 0;
			buf = (char *)buf + n;
			len -= n;
			continue;
		}
		e = SSL_get_error(c->ssl, 0);
		*ret_ssl_err = e;
		*ret_errno = errno;
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
			r = mig_tls_wait_fd(c->fd, e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT,
					    deadline);
			if (r < 0)
				return r;
			continue;
		}
		return -EIO;
	}
}

int mig_tls_handshake(struct mig_tls_ctx *ctx, int fd, struct mig_tls_conn **ret,
		      enum mig_tls_refusal *ret_refusal, struct mig_error *err)
{
	double deadline = mig_now() + ctx->timeout_ms / 1000.0;
	struct mig_tls_conn *c;
	unsigned char verdict = MIG_TLS_VERDICT;
	int flags, r, ssl_err = 0, sys_errno = 0;

	if (ret_refusal)
		*ret_refusal = MIG_TLS_IO;
	c = calloc(1, sizeof(*c));
	if (!c)
		return mig_error_set(err, -ENOMEM, "out of memory");
	c->fd = fd;
	c->role = ctx->role;
	c->check_name = ctx->check_name;
	c->ktls_offered = ctx->ktls;
	c->openssl_records = ctx->openssl_records;
	snprintf(c->peer_name, sizeof(c->peer_name), "%s", ctx->peer_name);
	snprintf(c->path_why, sizeof(c->path_why), "%s", ctx->path_why);
	pthread_mutex_init(&c->lock, NULL);

	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		r = mig_error_set(err, -errno, "TLS: fcntl: %s", strerror(errno));
		goto fail;
	}
	if (c->role == MIG_TLS_SERVER) {
		r = peek_hello(c, deadline, err);
		if (r < 0) {
			if (r == -ETIMEDOUT)
				mig_error_set(err, r,
					      "TLS: plaintext peer? the client sent no TLS "
					      "ClientHello within %.1f s",
					      ctx->timeout_ms / 1000.0);
			goto fail;
		}
	}
	c->ssl = SSL_new(ctx->ssl);
	if (!c->ssl || !SSL_set_fd(c->ssl, fd) || !SSL_set_ex_data(c->ssl, conn_index, c)) {
		r = mig_error_set(err, -ENOMEM, "TLS: SSL_new failed");
		goto fail;
	}
	if (c->role == MIG_TLS_SERVER)
		SSL_set_accept_state(c->ssl);
	else
		SSL_set_connect_state(c->ssl);

	r = mig_tls_step(c, STEP_HANDSHAKE, NULL, 0, deadline, &ssl_err, &sys_errno);
	if (r == 0) /* the verdict: the server's after its verification, read by the client */
		r = mig_tls_step(c, c->role == MIG_TLS_SERVER ? STEP_WRITE : STEP_READ, &verdict, 1,
				 deadline, &ssl_err, &sys_errno);
	if (r == -ETIMEDOUT) {
		c->refusal = MIG_TLS_IO;
		mig_error_set(err, r, "TLS: the %s did not complete the handshake within %.1f s%s",
			      mig_tls_peer_role(c->role), ctx->timeout_ms / 1000.0,
			      c->role == MIG_TLS_CLIENT ? " (a plaintext server waits for a "
							  "greeting it never gets)"
							: "");
		goto fail;
	}
	if (r == -EIO && ssl_err == SSL_ERROR_ZERO_RETURN) {
		c->refusal = MIG_TLS_IO;
		r = mig_error_set(err, -ECONNRESET, "TLS: the %s closed before its verdict",
				  mig_tls_peer_role(c->role));
		goto fail;
	}
	if (r == -EIO) {
		r = handshake_failed(c, ssl_err, sys_errno, err);
		goto fail;
	}
	if (r < 0) {
		c->refusal = MIG_TLS_IO;
		mig_error_set(err, r, "TLS handshake with the %s: %s", mig_tls_peer_role(c->role),
			      strerror(-r));
		goto fail;
	}
	if (c->role == MIG_TLS_CLIENT && verdict != MIG_TLS_VERDICT) {
		c->refusal = MIG_TLS_PROTOCOL;
		r = mig_error_set(err, -EPROTO,
				  "TLS: the server's verdict byte is 0x%02x, not "
				  "0x%02x: not a mignet server",
				  verdict, MIG_TLS_VERDICT);
		goto fail;
	}
#ifndef OPENSSL_NO_KTLS
	c->ktls_tx = BIO_get_ktls_send(SSL_get_wbio(c->ssl));
	c->ktls_rx = BIO_get_ktls_recv(SSL_get_rbio(c->ssl));
#endif
	c->refusal = MIG_TLS_OK;
	if (ret_refusal)
		*ret_refusal = MIG_TLS_OK;
	*ret = c;
	return 0;
fail:
	if (ret_refusal)
		*ret_refusal = c->refusal;
	mig_tls_conn_free(c);
	return r;
}

void mig_tls_conn_info(const struct mig_tls_conn *c, struct mig_tls_info *ret)
{
	X509 *peer = SSL_get0_peer_certificate(c->ssl);

	memset(ret, 0, sizeof(*ret));
	snprintf(ret->version, sizeof(ret->version), "%s", SSL_get_version(c->ssl));
	snprintf(ret->cipher, sizeof(ret->cipher), "%s", SSL_get_cipher_name(c->ssl));
	if (peer) {
		unsigned char md[EVP_MAX_MD_SIZE];
		unsigned int n = 0;

		mig_tls_cert_cn(peer, ret->peer_name, sizeof(ret->peer_name));
		if (X509_digest(peer, EVP_sha256(), md, &n) == 1)
			for (unsigned int i = 0; i < n && i < 32; i++)
				snprintf(ret->peer_sha256 + 2 * i, 3, "%02x", md[i]);
	}
	ret->ktls_tx = c->ktls_tx;
	ret->ktls_rx = c->ktls_rx;
	if (c->ktls_tx && c->ktls_rx)
		snprintf(ret->path, sizeof(ret->path), "kernel (kTLS send and receive)");
	else if (c->ktls_tx || c->ktls_rx)
		snprintf(ret->path, sizeof(ret->path),
			 "kernel (kTLS %s only), user space for the "
			 "other direction",
			 c->ktls_tx ? "send" : "receive");
	else if (c->ktls_offered)
		snprintf(ret->path, sizeof(ret->path),
			 "user space: the kernel has the tls ULP but "
			 "did not take %s",
			 ret->cipher);
	else if (c->layer == MIG_TLS_LAYER_OURS ||
		 (c->layer == MIG_TLS_LAYER_UNDECIDED && !mig_tls_record_refusal(c)))
		snprintf(ret->path, sizeof(ret->path),
			 "user space: mignet's TLS 1.3 record layer on OpenSSL's keys and "
			 "AES-GCM (no kTLS: the kernel has no tls ULP)");
	else
		snprintf(ret->path, sizeof(ret->path), "user space: OpenSSL's record layer (%s)",
			 mig_tls_record_refusal(c) ? mig_tls_record_refusal(c)
						   : "the switch to ours failed");
}

void mig_tls_conn_free(struct mig_tls_conn *c)
{
	if (!c)
		return;
	mig_tls_record_free(c->rl);
	OPENSSL_cleanse(&c->cap, sizeof(c->cap));
	SSL_free(c->ssl);
	pthread_mutex_destroy(&c->lock);
	free(c);
}
