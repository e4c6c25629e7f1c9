// SPDX-License-Identifier: Apache-2.0
/*
 * mignet's TLS 1.3 record layer (RFC 8446, section 5), after OpenSSL's handshake.
 *
 * Theory of operation. OpenSSL makes the whole handshake and every cryptographic operation
 * (AES-GCM through EVP, HKDF through EVP_KDF); this file only frames the records, as the
 * kernel's kTLS does when the machine has it. At the end of the handshake the connection
 * holds what kTLS would be given (mig_tls.c's callbacks): the two application traffic
 * secrets (the keylog callback: CLIENT_TRAFFIC_SECRET_0, SERVER_TRAFFIC_SECRET_0) and how
 * many records each direction already carried under them (the message callback counts the
 * records of inner type application_data: the verdict byte, an application handshake).
 * OpenSSL reads without read-ahead until then, so it holds no byte beyond the last record
 * it took; the first data call (mig_tls_layer_decide) moves the connection to our layer,
 * taking over any plaintext of a record OpenSSL had not handed out, or leaves it with
 * OpenSSL (TLS 1.2, ChaCha20, kTLS, anything unexpected) and turns read-ahead on.
 *
 * Keys: key and iv = HKDF-Expand-Label(secret, "key"/"iv", "", length); each record's
 * nonce is the iv XOR its 64-bit sequence number; the additional data is the record's 5-byte
 * header. A KeyUpdate replaces the secret by HKDF-Expand-Label(secret, "traffic upd", "",
 * Hash.length) and the sequence restarts at 0. We send one (update_not_requested) before
 * MIG_TLS_REKEY_RECORDS records, well below AES-GCM's limit of 2^24.5, and when the peer's
 * KeyUpdate asked for one (before our next record). A peer's KeyUpdate rekeys our reading
 * after its record.
 *
 * Sending: readv(2) from the plain side straight into the places of up to 16 records of
 * the connection's buffer (header, 16 KiB, content type, tag), each encrypted in place,
 * then one write(2) of them all: one read and one write per 256 KiB, no copy of our own.
 * Receiving: reads of up to 1 MiB into the connection's buffer; every complete record is
 * decrypted in place and its tag checked (EVP_DecryptFinal_ex) before its plaintext goes
 * into the writev(2) that follows; a record that does not verify ends the stream after the
 * ones before it, and none of its bytes is written. A replayed, reordered or dropped record
 * fails the tag (the nonce is the sequence number); a stream cut short without
 * close_notify is a truncation. Alerts: close_notify ends the stream; user_canceled is
 * ignored; any other alert is the peer's error. We answer a record that does not verify
 * with bad_record_mac, as OpenSSL does, when the sending side is free to.
 *
 * Locking: the receiving state is only touched by the one thread that reads (the pump or
 * mig_tls_read_full()), the sending state under tx_lock; the reader flags a KeyUpdate it
 * owes the peer (tx_update_owed) and the sender sends it. OpenSSL is not called at all
 * once the switch is made: the two directions no longer share a lock.
 */
#include <errno.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/tls1.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mig_tls_priv.h"

#define REC_HDR 5
#define REC_TAG 16
#define REC_PLAIN 16384u			     /* 2^14, the largest plaintext */
#define REC_SLOT (REC_HDR + REC_PLAIN + 1 + REC_TAG) /* a full record on the wire */
#define REC_MAX_CIPHER (REC_PLAIN + 256)	     /* the largest length field allowed */
#define TX_SLOTS 16				     /* records per write */
#define RX_BUF (1u << 20)
#define RX_ROOM (256u << 10) /* compact the receive buffer when less room is left */
#define IOV_BATCH 128

/* TLS types and alerts (RFC 8446) */
#define CT_ALERT 21
#define CT_HANDSHAKE 22
#define CT_APPDATA 23
#define HS_NEW_SESSION_TICKET 4
#define HS_KEY_UPDATE 24
#define AL_CLOSE_NOTIFY 0
#define AL_UNEXPECTED_MESSAGE 10
#define AL_BAD_RECORD_MAC 20
#define AL_RECORD_OVERFLOW 22
#define AL_ILLEGAL_PARAMETER 47
#define AL_DECODE_ERROR 50
#define AL_USER_CANCELED 90

struct rl_keys {
	EVP_CIPHER_CTX *aead;
	unsigned char secret[48];
	unsigned char iv[12];
	uint64_t seq;
};

struct mig_tls_record {
	const EVP_CIPHER *cipher;
	const char *digest; /* the suite's hash, HKDF's */
	size_t secret_len, key_len;

	pthread_mutex_t tx_lock;
	struct rl_keys tx;
	atomic_bool tx_update_owed;
	bool tx_closed;
	unsigned char *tx_buf; /* TX_SLOTS records */

	struct rl_keys rx;
	unsigned char *rx_buf; /* RX_BUF */
	size_t rx_start, rx_fill;
	size_t pt_off, pt_len; /* a record's plaintext not handed out yet (read_full) */
	int rx_error;	       /* sticky: the stream ended badly */
	bool rx_closed;
};

/* ---- keys ---- */

/* HKDF-Expand-Label(secret, label, "", len), RFC 8446 section 7.1, by OpenSSL's HKDF. */
static int expand_label(const struct mig_tls_record *rl, const unsigned char *secret,
			const char *label, unsigned char *out, size_t len)
{
	unsigned char info[2 + 1 + 6 + 32 + 1];
	size_t ll = strlen(label), n = 0;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY, r = -EIO;
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5];

	if (!kctx || ll > 32)
		goto out;
	info[n++] = (unsigned char)(len >> 8);
	info[n++] = (unsigned char)len;
	info[n++] = (unsigned char)(6 + ll);
	memcpy(info + n, "tls13 ", 6);
	n += 6;
	memcpy(info + n, label, ll);
	n += ll;
	info[n++] = 0; /* an empty context */
	params[0] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	params[1] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)rl->digest, 0);
	params[2] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)secret,
						      rl->secret_len);
	params[3] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	params[4] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, len, params) == 1)
		r = 0;
out:
	EVP_KDF_CTX_free(kctx);
	EVP_KDF_free(kdf);
	return r;
}

/* Take @secret (NULL: the next one, "traffic upd") as @k's, derive key and iv. */
static int keys_set(struct mig_tls_record *rl, struct rl_keys *k, const unsigned char *secret,
		    int enc)
{
	unsigned char key[32], next[48];
	int r;

	if (!secret) {
		r = expand_label(rl, k->secret, "traffic upd", next, rl->secret_len);
		if (r < 0)
			return r;
		secret = next;
	}
	memcpy(k->secret, secret, rl->secret_len);
	OPENSSL_cleanse(next, sizeof(next));
	r = expand_label(rl, k->secret, "key", key, rl->key_len);
	if (!r)
		r = expand_label(rl, k->secret, "iv", k->iv, sizeof(k->iv));
	if (!r && !k->aead && !(k->aead = EVP_CIPHER_CTX_new()))
		r = -ENOMEM;
	if (!r && EVP_CipherInit_ex(k->aead, rl->cipher, NULL, key, NULL, enc) != 1)
		r = -EIO;
	OPENSSL_cleanse(key, sizeof(key));
	k->seq = 0;
	return r;
}

static void keys_free(struct rl_keys *k)
{
	EVP_CIPHER_CTX_free(k->aead);
	OPENSSL_cleanse(k, sizeof(*k));
}

static void make_nonce(const struct rl_keys *k, unsigned char nonce[12])
{
	memcpy(nonce, k->iv, 12);
	for (int i = 0; i < 8; i++)
		nonce[11 - i] ^= (unsigned char)(k->seq >> (8 * i));
}

/*
 * Make the record at @rec: its @n bytes of plaintext are at rec + REC_HDR already; the
 * content type and the tag go after them. Return: the record's length on the wire, or -EIO.
 */
static int seal(struct mig_tls_record *rl, unsigned char *rec, size_t n, unsigned char type)
{
	size_t inner = n + 1, clen = inner + REC_TAG;
	unsigned char nonce[12];
	int outl = 0, fl = 0;

	rec[0] = CT_APPDATA;
	rec[1] = 3;
	rec[2] = 3;
	rec[3] = (unsigned char)(clen >> 8);
	rec[4] = (unsigned char)clen;
	rec[REC_HDR + n] = type;
	make_nonce(&rl->tx, nonce);
	if (EVP_EncryptInit_ex(rl->tx.aead, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(rl->tx.aead, NULL, &outl, rec, REC_HDR) != 1 ||
	    EVP_EncryptUpdate(rl->tx.aead, rec + REC_HDR, &outl, rec + REC_HDR, (int)inner) != 1 ||
	    EVP_EncryptFinal_ex(rl->tx.aead, rec + REC_HDR + outl, &fl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(rl->tx.aead, EVP_CTRL_AEAD_GET_TAG, REC_TAG,
				rec + REC_HDR + inner) != 1)
		return -EIO;
	rl->tx.seq++;
	return (int)(REC_HDR + clen);
}

/*
 * Decrypt the record at @rec (its header says @clen bytes follow) in place and check its
 * tag. Return: 0 with the inner type and the plaintext's length, or -EBADMSG (it does not
 * verify), -EPROTO (no content type, too long: *@ret_alert says which alert).
 */
static int open_record(struct mig_tls_record *rl, unsigned char *rec, size_t clen,
		       unsigned char *ret_type, size_t *ret_len, int *ret_alert)
{
	unsigned char nonce[12], *p = rec + REC_HDR;
	size_t inner;
	int outl = 0, fl = 0;

	*ret_alert = AL_BAD_RECORD_MAC;
	if (clen < REC_TAG + 1)
		return -EBADMSG;
	inner = clen - REC_TAG;
	make_nonce(&rl->rx, nonce);
	if (EVP_DecryptInit_ex(rl->rx.aead, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_DecryptUpdate(rl->rx.aead, NULL, &outl, rec, REC_HDR) != 1 ||
	    EVP_DecryptUpdate(rl->rx.aead, p, &outl, p, (int)inner) != 1 ||
	    EVP_CIPHER_CTX_ctrl(rl->rx.aead, EVP_CTRL_AEAD_SET_TAG, REC_TAG, p + inner) != 1 ||
	    EVP_DecryptFinal_ex(rl->rx.aead, p + outl, &fl) != 1)
		return -EBADMSG;
	rl->rx.seq++;
	while (inner && !p[inner - 1]) /* the padding's zeros, then the content type */
		inner--;
	if (!inner) {
		*ret_alert = AL_UNEXPECTED_MESSAGE;
		return -EPROTO;
	}
	if (inner - 1 > REC_PLAIN) {
		*ret_alert = AL_RECORD_OVERFLOW;
		return -EPROTO;
	}
	*ret_type = p[inner - 1];
	*ret_len = inner - 1;
	return 0;
}

/* ---- the switch ---- */

const char *mig_tls_record_refusal(const struct mig_tls_conn *c)
{
	const SSL_CIPHER *ciph = SSL_get_current_cipher(c->ssl);
	uint32_t id = ciph ? SSL_CIPHER_get_id(ciph) : 0;

	if (c->openssl_records)
		return "as asked";
	if (c->ktls_offered)
		return "the kernel's, kTLS, is offered";
	if (SSL_version(c->ssl) != TLS1_3_VERSION)
		return "TLS 1.2";
	if (id != TLS1_3_CK_AES_128_GCM_SHA256 && id != TLS1_3_CK_AES_256_GCM_SHA384)
		return "not an AES-GCM suite";
	if (!c->cap.secret_len[0] || !c->cap.secret_len[1])
		return "no traffic secrets from the handshake";
	if (c->cap.other_records)
		return "a post-handshake message went by";
	return NULL;
}

void mig_tls_record_free(struct mig_tls_record *rl)
{
	if (!rl)
		return;
	keys_free(&rl->tx);
	keys_free(&rl->rx);
	pthread_mutex_destroy(&rl->tx_lock);
	free(rl->tx_buf);
	if (rl->rx_buf)
		OPENSSL_cleanse(rl->rx_buf, RX_BUF);
	free(rl->rx_buf);
	free(rl);
}

/* Build our record layer from @c's capture. Return: 0 or -errno (then OpenSSL's stays). */
static int record_start(struct mig_tls_conn *c)
{
	uint32_t id = SSL_CIPHER_get_id(SSL_get_current_cipher(c->ssl));
	int we = c->role == MIG_TLS_SERVER; /* the secret we write with: the server's is [1] */
	struct mig_tls_record *rl;
	size_t pending;
	int r = -ENOMEM;

	if (SSL_has_pending(c->ssl) && !SSL_pending(c->ssl))
		return -EBUSY; /* raw bytes OpenSSL took and did not process: not ours to read */
	rl = calloc(1, sizeof(*rl));
	if (!rl)
		return -ENOMEM;
	pthread_mutex_init(&rl->tx_lock, NULL);
	atomic_init(&rl->tx_update_owed, false);
	if (id == TLS1_3_CK_AES_128_GCM_SHA256) {
		rl->cipher = EVP_aes_128_gcm();
		rl->digest = "SHA256";
		rl->key_len = 16;
	} else {
		rl->cipher = EVP_aes_256_gcm();
		rl->digest = "SHA384";
		rl->key_len = 32;
	}
	rl->secret_len = c->cap.secret_len[we];
	if (c->cap.secret_len[!we] != rl->secret_len || rl->secret_len != rl->key_len + 16)
		goto fail; /* SHA-256's 32 bytes with AES-128, SHA-384's 48 with AES-256 */
	rl->tx_buf = malloc(TX_SLOTS * REC_SLOT);
	rl->rx_buf = malloc(RX_BUF);
	if (!rl->tx_buf || !rl->rx_buf)
		goto fail;
	r = keys_set(rl, &rl->tx, c->cap.secret[we], 1);
	if (!r)
		r = keys_set(rl, &rl->rx, c->cap.secret[!we], 0);
	if (r < 0)
		goto fail;
	rl->tx.seq = c->cap.app_records[1];
	rl->rx.seq = c->cap.app_records[0];
	/* a record's plaintext OpenSSL decrypted and did not hand out yet is ours now */
	pending = (size_t)SSL_pending(c->ssl);
	if (pending) {
		size_t got = 0;

		if (pending > REC_PLAIN || SSL_read_ex(c->ssl, rl->rx_buf, pending, &got) != 1 ||
		    got != pending || SSL_has_pending(c->ssl)) {
			r = -EBUSY;
			goto fail;
		}
		rl->pt_off = 0;
		rl->pt_len = got;
		rl->rx_start = rl->rx_fill = got;
	}
	c->rl = rl;
	return 0;
fail:
	mig_tls_record_free(rl);
	return r;
}

enum mig_tls_layer mig_tls_layer_decide(struct mig_tls_conn *c)
{
	if (c->layer != MIG_TLS_LAYER_UNDECIDED)
		return c->layer;
	c->layer = MIG_TLS_LAYER_OPENSSL;
	if (!mig_tls_record_refusal(c) && record_start(c) == 0)
		c->layer = MIG_TLS_LAYER_OURS;
	else if (!c->ktls_offered)
		SSL_set_read_ahead(c->ssl, 1); /* OpenSSL's pumps: many records per read */
	OPENSSL_cleanse(c->cap.secret, sizeof(c->cap.secret));
	return c->layer;
}

/* ---- sending ---- */

static int sock_write_all(int fd, const unsigned char *p, size_t n, double deadline)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int r = mig_tls_wait_fd(fd, POLLOUT, deadline);

			if (r < 0)
				return r;
			continue;
		}
		if (w < 0)
			return -errno;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* One control record (an alert, a KeyUpdate), under tx_lock. Return: 0 or -errno. */
static int send_control(struct mig_tls_conn *c, unsigned char type, const unsigned char *body,
			size_t n, double deadline)
{
	unsigned char rec[REC_HDR + 8 + 1 + REC_TAG];
	int len;

	memcpy(rec + REC_HDR, body, n);
	len = seal(c->rl, rec, n, type);
	if (len < 0)
		return len;
	return sock_write_all(c->fd, rec, (size_t)len, deadline);
}

/* A KeyUpdate (update_not_requested) under the old keys, then the new keys. */
static int send_key_update(struct mig_tls_conn *c, double deadline)
{
	static const unsigned char ku[5] = { HS_KEY_UPDATE, 0, 0, 1, 0 };
	int r = send_control(c, CT_HANDSHAKE, ku, sizeof(ku), deadline);

	if (r < 0)
		return r;
	atomic_store(&c->rl->tx_update_owed, false);
	c->key_updates[1]++;
	return keys_set(c->rl, &c->rl->tx, NULL, 1);
}

static bool key_update_due(const struct mig_tls_conn *c)
{
	uint64_t after = c->rekey_records ? c->rekey_records : MIG_TLS_REKEY_RECORDS;

	return c->rl->tx.seq >= after || atomic_load(&c->rl->tx_update_owed);
}

/* A fatal alert from the receiving side, only if the sending side is free: best effort. */
static void send_alert_nowait(struct mig_tls_conn *c, int alert)
{
	struct mig_tls_record *rl = c->rl;
	unsigned char body[2] = { 2, (unsigned char)alert }, rec[REC_HDR + 2 + 1 + REC_TAG];
	int len;

	if (pthread_mutex_trylock(&rl->tx_lock))
		return;
	if (!rl->tx_closed) {
		memcpy(rec + REC_HDR, body, 2);
		len = seal(rl, rec, 2, CT_ALERT);
		if (len > 0 && send(c->fd, rec, (size_t)len, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
			len = -errno;
		rl->tx_closed = true;
	}
	pthread_mutex_unlock(&rl->tx_lock);
}

int mig_tls_record_close_notify(struct mig_tls_conn *c, struct mig_error *err)
{
	static const unsigned char cn[2] = { 1, AL_CLOSE_NOTIFY };
	struct mig_tls_record *rl = c->rl;
	int r = 0;

	pthread_mutex_lock(&rl->tx_lock);
	if (!rl->tx_closed)
		r = send_control(c, CT_ALERT, cn, sizeof(cn), -1);
	rl->tx_closed = true;
	pthread_mutex_unlock(&rl->tx_lock);
	if (r < 0)
		return mig_error_set(err, r, "TLS pump: close_notify could not be sent: %s",
				     strerror(-r));
	return 0;
}

/* Write the records of slots [first, end) of @slots, the last one @last_len long. */
static int flush_slots(struct mig_tls_conn *c, unsigned char *slots, size_t first, size_t end,
		       size_t last_len, double deadline)
{
	if (end <= first)
		return 0;
	return sock_write_all(c->fd, slots + first * REC_SLOT,
			      (end - first - 1) * REC_SLOT + last_len, deadline);
}

/* Seal the @n bytes in the plaintext places of @slots and write them, KeyUpdates where due. */
static int send_slots(struct mig_tls_conn *c, unsigned char *slots, size_t n, double deadline)
{
	struct mig_tls_record *rl = c->rl;
	size_t nrec = (n + REC_PLAIN - 1) / REC_PLAIN, first = 0, last = 0;
	int r = 0;

	pthread_mutex_lock(&rl->tx_lock);
	if (rl->tx_closed) {
		r = -EPIPE;
		goto out;
	}
	for (size_t i = 0; i < nrec; i++) {
		size_t k = i + 1 < nrec ? REC_PLAIN : n - i * REC_PLAIN;
		int len;

		if (key_update_due(c)) {
			r = flush_slots(c, slots, first, i, REC_SLOT, deadline);
			if (!r)
				r = send_key_update(c, deadline);
			if (r < 0)
				goto out;
			first = i;
		}
		len = seal(rl, slots + i * REC_SLOT, k, CT_APPDATA);
		if (len < 0) {
			r = len;
			goto out;
		}
		last = (size_t)len;
	}
	r = flush_slots(c, slots, first, nrec, last, deadline);
out:
	pthread_mutex_unlock(&rl->tx_lock);
	return r;
}

int mig_tls_record_pump_out(struct mig_tls_conn *c, int in_fd, uint64_t *bytes,
			    struct mig_error *err)
{
	struct mig_tls_record *rl = c->rl;
	struct iovec iov[TX_SLOTS];
	int r;

	for (size_t i = 0; i < TX_SLOTS; i++)
		iov[i] = (struct iovec){ rl->tx_buf + i * REC_SLOT + REC_HDR, REC_PLAIN };
	for (;;) {
		ssize_t n = mig_tls_plain_readv(in_fd, iov, TX_SLOTS, err);

		if (n < 0)
			return (int)n;
		if (n == 0)
			return mig_tls_record_close_notify(c, err);
		r = send_slots(c, rl->tx_buf, (size_t)n, -1);
		if (r < 0)
			return mig_error_set(err, r == -EIO ? -EPROTO : r,
					     "TLS pump: write to the %s: %s",
					     mig_tls_peer_role(c->role),
					     r == -EIO ? "the encryption failed" : strerror(-r));
		*bytes += (uint64_t)n;
	}
}

int mig_tls_record_write_all(struct mig_tls_conn *c, const void *buf, size_t len, double deadline)
{
	size_t nslots = (len + REC_PLAIN - 1) / REC_PLAIN;
	const unsigned char *p = buf;
	unsigned char *slots;
	int r = 0;

	if (nslots > TX_SLOTS)
		nslots = TX_SLOTS;
	slots = malloc((nslots ? nslots : 1) * REC_SLOT);
	if (!slots)
		return -ENOMEM;
	while (!r && len) { /* up to 16 records per write, as the pump */
		size_t n = len < nslots * REC_PLAIN ? len : nslots * REC_PLAIN;

		for (size_t off = 0; off < n; off += REC_PLAIN)
			memcpy(slots + off / REC_PLAIN * REC_SLOT + REC_HDR, p + off,
			       n - off < REC_PLAIN ? n - off : REC_PLAIN);
		r = send_slots(c, slots, n, deadline);
		p += n;
		len -= n;
	}
	free(slots);
	return r;
}

/* ---- receiving ---- */

/* A fatal error of the receiving side: sticky, answered with @alert (>= 0) when it can be. */
static int rx_fail(struct mig_tls_conn *c, int r, int alert, struct mig_error *err, const char *fmt,
		   ...) __attribute__((format(printf, 5, 6)));

static int rx_fail(struct mig_tls_conn *c, int r, int alert, struct mig_error *err, const char *fmt,
		   ...)
{
	va_list ap;

	c->rl->rx_error = r;
	if (alert >= 0)
		send_alert_nowait(c, alert);
	if (err) {
		err->code = r;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return r;
}

/*
 * A control record: 0 handled, 1 the peer's close_notify, -EPROTO (with @err).
 */
static int rx_control(struct mig_tls_conn *c, unsigned char type, unsigned char *p, size_t n,
		      struct mig_error *err)
{
	struct mig_tls_record *rl = c->rl;
	char what[96];

	if (type == CT_ALERT) {
		if (n != 2)
			return rx_fail(c, -EPROTO, AL_DECODE_ERROR, err,
				       "TLS pump: the %s sent a malformed alert%s",
				       mig_tls_peer_role(c->role), "");
		if (p[1] == AL_CLOSE_NOTIFY) {
			rl->rx_closed = true;
			return 1;
		}
		if (p[1] == AL_USER_CANCELED && p[0] == 1)
			return 0;
		snprintf(what, sizeof(what), "%s", SSL_alert_desc_string_long(p[1]));
		return rx_fail(c, -EPROTO, -1, err, "TLS pump: the %s sent the alert \"%s\"",
			       mig_tls_peer_role(c->role), what);
	}
	if (type != CT_HANDSHAKE) {
		snprintf(what, sizeof(what), "%u", type);
		return rx_fail(c, -EPROTO, AL_UNEXPECTED_MESSAGE, err,
			       "TLS pump: the %s sent a record of content type %s",
			       mig_tls_peer_role(c->role), what);
	}
	while (n) {
		size_t ml;

		if (n < 4 || (ml = (size_t)p[1] << 16 | (size_t)p[2] << 8 | p[3]) > n - 4)
			return rx_fail(c, -EPROTO, AL_UNEXPECTED_MESSAGE, err,
				       "TLS pump: the %s split a post-handshake message across "
				       "records%s",
				       mig_tls_peer_role(c->role), "");
		if (p[0] == HS_KEY_UPDATE) {
			/* the key changes after this record: it must end it */
			if (ml != 1 || p[4] > 1 || n != 5)
				return rx_fail(c, -EPROTO, AL_ILLEGAL_PARAMETER, err,
					       "TLS pump: the %s sent a malformed KeyUpdate%s",
					       mig_tls_peer_role(c->role), "");
			if (keys_set(rl, &rl->rx, NULL, 0) < 0)
				return rx_fail(c, -EPROTO, -1, err,
					       "TLS pump: the %s's KeyUpdate: no new keys%s",
					       mig_tls_peer_role(c->role), "");
			c->key_updates[0]++;
			if (p[4])
				atomic_store(&rl->tx_update_owed, true);
		} else if (p[0] != HS_NEW_SESSION_TICKET) { /* a ticket: we resume nothing */
			snprintf(what, sizeof(what), "%u", p[0]);
			return rx_fail(c, -EPROTO, AL_UNEXPECTED_MESSAGE, err,
				       "TLS pump: the %s sent the post-handshake message %s",
				       mig_tls_peer_role(c->role), what);
		}
		p += 4 + ml;
		n -= 4 + ml;
	}
	return 0;
}

/*
 * The next complete record of rx_buf, opened. Return: 1 with its type and plaintext, 0 when
 * more bytes are needed, -errno (with @err).
 */
static int rx_next(struct mig_tls_conn *c, unsigned char *ret_type, unsigned char **ret_p,
		   size_t *ret_len, struct mig_error *err)
{
	struct mig_tls_record *rl = c->rl;
	unsigned char *rec = rl->rx_buf + rl->rx_start;
	size_t avail = rl->rx_fill - rl->rx_start, clen;
	char what[64];
	int alert, r;

	if (avail < REC_HDR)
		return 0;
	clen = (size_t)rec[3] << 8 | rec[4];
	if (rec[0] != CT_APPDATA) {
		snprintf(what, sizeof(what), "%u", rec[0]);
		return rx_fail(c, -EPROTO, AL_UNEXPECTED_MESSAGE, err,
			       "TLS pump: the %s sent an unprotected record of type %s",
			       mig_tls_peer_role(c->role), what);
	}
	if (clen > REC_MAX_CIPHER) {
		snprintf(what, sizeof(what), "%zu", clen);
		return rx_fail(c, -EPROTO, AL_RECORD_OVERFLOW, err,
			       "TLS pump: the %s sent a record of %s bytes (record_overflow)",
			       mig_tls_peer_role(c->role), what);
	}
	if (avail < REC_HDR + clen)
		return 0;
	r = open_record(rl, rec, clen, ret_type, ret_len, &alert);
	if (r == -EBADMSG) {
		snprintf(what, sizeof(what), "%llu", (unsigned long long)rl->rx.seq);
		return rx_fail(c, r, alert, err,
			       "TLS pump: a record from the %s does not verify (bad_record_mac: "
			       "altered, replayed or out of order), record %s",
			       mig_tls_peer_role(c->role), what);
	}
	if (r < 0)
		return rx_fail(c, r, alert, err, "TLS pump: the %s sent a malformed record%s",
			       mig_tls_peer_role(c->role), "");
	*ret_p = rec + REC_HDR;
	rl->rx_start += REC_HDR + clen;
	return 1;
}

/* Read more of the socket into rx_buf. Return: bytes, 0 at the end (-EPROTO), -errno. */
static int rx_read(struct mig_tls_conn *c, double deadline, struct mig_error *err)
{
	struct mig_tls_record *rl = c->rl;

	if (rl->rx_start == rl->rx_fill) {
		rl->rx_start = rl->rx_fill = 0;
	} else if (RX_BUF - rl->rx_fill < RX_ROOM) {
		memmove(rl->rx_buf, rl->rx_buf + rl->rx_start, rl->rx_fill - rl->rx_start);
		rl->rx_fill -= rl->rx_start;
		rl->rx_start = 0;
	}
	for (;;) {
		ssize_t n = recv(c->fd, rl->rx_buf + rl->rx_fill, RX_BUF - rl->rx_fill, 0);
		int r;

		if (n > 0) {
			rl->rx_fill += (size_t)n;
			return (int)n;
		}
		if (n == 0)
			return rx_fail(
				c, -EPROTO, -1, err,
				"TLS pump: the %s closed the connection without close_notify "
				"(truncated%s)",
				mig_tls_peer_role(c->role),
				rl->rx_fill > rl->rx_start ? ", in the middle of a record" : "");
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN) {
			r = -errno;
			return rx_fail(c, r, -1, err, "TLS pump: read from the %s: %s",
				       mig_tls_peer_role(c->role), strerror(-r));
		}
		r = mig_tls_wait_fd(c->fd, POLLIN, deadline);
		if (r < 0) {
			if (err)
				mig_error_set(err, r, "TLS pump: poll: %s", strerror(-r));
			return r;
		}
	}
}

ssize_t mig_tls_plain_readv(int fd, const struct iovec *iov, int cnt, struct mig_error *err)
{
	for (;;) {
		ssize_t n = readv(fd, iov, cnt);
		int r;

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return mig_error_set(err, -errno, "TLS pump: read from the plain side: %s",
					     strerror(errno));
		r = mig_tls_wait_fd(fd, POLLIN, -1);
		if (r < 0)
			return mig_error_set(err, r, "TLS pump: poll: %s", strerror(-r));
	}
}

int mig_tls_writev_all(int fd, struct iovec *iov, int cnt)
{
	while (cnt) {
		ssize_t w = writev(fd, iov, cnt);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN) {
			int r = mig_tls_wait_fd(fd, POLLOUT, -1);

			if (r < 0)
				return r;
			continue;
		}
		if (w < 0)
			return -errno;
		while (cnt && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/* Write the gathered plaintexts. Return: 0 or -errno with @err. */
static int flush_plain(int out_fd, struct iovec *iov, int *cnt, size_t *pending, uint64_t *bytes,
		       struct mig_error *err)
{
	int r = mig_tls_writev_all(out_fd, iov, *cnt);

	if (r < 0)
		return mig_error_set(err, r, "TLS pump: write to the plain side: %s", strerror(-r));
	*bytes += *pending;
	*pending = 0;
	*cnt = 0;
	return 0;
}

int mig_tls_record_pump_in(struct mig_tls_conn *c, int out_fd, uint64_t *bytes,
			   struct mig_error *err)
{
	struct mig_tls_record *rl = c->rl;
	struct iovec iov[IOV_BATCH];
	size_t pending = 0;
	int cnt = 0, r, w;

	if (rl->rx_error)
		return mig_error_set(err, rl->rx_error, "TLS pump: the stream already failed");
	if (rl->pt_len) { /* what mig_tls_read_full() left of a record */
		iov[cnt++] = (struct iovec){ rl->rx_buf + rl->pt_off, rl->pt_len };
		pending = rl->pt_len;
		rl->pt_len = 0;
	}
	for (;;) {
		unsigned char type = 0, *p = NULL;
		size_t n = 0;

		r = rl->rx_closed ? 1 : rx_next(c, &type, &p, &n, err);
		if (r == 1 && !rl->rx_closed && type == CT_APPDATA) {
			if (n)
				iov[cnt++] = (struct iovec){ p, n };
			pending += n;
			if (cnt == IOV_BATCH &&
			    (r = flush_plain(out_fd, iov, &cnt, &pending, bytes, err)) < 0)
				return r;
			continue;
		}
		if (r == 1 && !rl->rx_closed) {
			r = rx_control(c, type, p, n, err);
			if (r == 0)
				continue;
		}
		/* 0: more bytes needed, 1: close_notify, < 0: an error; what verified goes first */
		w = flush_plain(out_fd, iov, &cnt, &pending, bytes, r < 0 ? NULL : err);
		if (r < 0)
			return r;
		if (w < 0)
			return w;
		if (r == 1) {
			shutdown(out_fd, SHUT_WR);
			return 0;
		}
		r = rx_read(c, -1, err);
		if (r < 0)
			return r;
	}
}

int mig_tls_record_read_full(struct mig_tls_conn *c, void *buf, size_t len, double deadline)
{
	struct mig_tls_record *rl = c->rl;
	unsigned char *out = buf;

	while (len) {
		unsigned char type = 0, *p = NULL;
		size_t n = 0;
		int r;

		if (rl->pt_len) {
			n = len < rl->pt_len ? len : rl->pt_len;
			memcpy(out, rl->rx_buf + rl->pt_off, n);
			rl->pt_off += n;
			rl->pt_len -= n;
			out += n;
			len -= n;
			continue;
		}
		if (rl->rx_closed)
			return -EPIPE;
		if (rl->rx_error)
			return -EPROTO;
		r = rx_next(c, &type, &p, &n, NULL);
		if (r == 1 && type == CT_APPDATA) {
			rl->pt_off = (size_t)(p - rl->rx_buf);
			rl->pt_len = n;
			continue;
		}
		if (r == 1) {
			r = rx_control(c, type, p, n, NULL);
			if (r == 1)
				return -EPIPE;
			if (r < 0)
				return -EPROTO;
			continue;
		}
		if (r < 0)
			return -EPROTO;
		r = rx_read(c, deadline, NULL);
		if (r < 0)
			return r == -ETIMEDOUT || !rl->rx_error ? r : -EPROTO;
	}
	return 0;
}
