/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Mutual TLS for the migration connections, on OpenSSL 3 (never our own crypto).
 *
 * A context is loaded from files for each migration (mig_tls_ctx_load), so a certificate that
 * the cluster rotated on disk is used by the next migration without a restart. The files are
 * laid out as KubeVirt mounts them for virt-handler: a directory holding tls.crt (the
 * certificate, optionally followed by its intermediates), tls.key and ca.crt, or three paths.
 *
 * Authentication is KubeVirt's (pkg/util/tls: verifyPeerCert): the peer's chain must verify
 * against ca.crt with the extended key usage of its role (the server's certificate
 * serverAuth, the client's clientAuth), and the peer's subject common name must be the
 * expected one: kubevirt.io:system:node:virt-handler for the server (the target),
 * kubevirt.io:system:client:virt-handler for the client (the source). KubeVirt compares the
 * subject CN, not a subjectAltName (its certificates carry no DNS name or IP); so do we. The
 * server always requires a client certificate.
 *
 * TLS 1.3 only, unless TLS 1.2 is allowed explicitly; AES-GCM first (AES-NI), ChaCha20 after.
 * The handshake runs on a connected socket and ends with the server's verdict: in TLS 1.3
 * the client's handshake completes before the server has checked the client's certificate,
 * so the server sends one byte (MIG_TLS_VERDICT) once it has, and the client's handshake
 * waits for it: both ends then know, before any byte of the migration, whether the other one
 * was accepted, and a refusal says which check failed on the side that refused, and what
 * the peer's alert said on the other side.
 *
 * Record layer: in the kernel (kTLS, SSL_OP_ENABLE_KTLS) when the kernel offers the `tls`
 * TCP ULP and the negotiated cipher is one it has; the pumps then splice(2) through the
 * socket as the plain forwarder does. Otherwise in user space, for TLS 1.3 with AES-GCM
 * (what mignet negotiates), mignet's own record layer (mig_tls_record.c), as kTLS does in
 * the kernel: OpenSSL makes the handshake and every cryptographic operation (AES-GCM,
 * HKDF), we frame the records: full 16 KiB records, many of them per system call (readv
 * into the records' places, encryption and decryption in place, one write or writev), no
 * copy but the kernel's. TLS 1.2 and ChaCha20 keep OpenSSL's record layer: SSL_read and
 * SSL_write with read-ahead.
 */
#ifndef MIGNET_MIGRATION_MIG_TLS_H
#define MIGNET_MIGRATION_MIG_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mig.h"

#define MIG_TLS_SERVER_NAME "kubevirt.io:system:node:virt-handler"
#define MIG_TLS_CLIENT_NAME "kubevirt.io:system:client:virt-handler"
#define MIG_TLS_CERT_FILE "tls.crt"
#define MIG_TLS_KEY_FILE "tls.key"
#define MIG_TLS_CA_FILE "ca.crt"
#define MIG_TLS_HANDSHAKE_TIMEOUT_MS 10000
#define MIG_TLS_VERDICT 0x4d /* 'M': the server accepted the client */
#define MIG_TLS_PUMP_BUF (256u << 10)

enum mig_tls_role {
	MIG_TLS_CLIENT, /* the source: connects, presents the client certificate */
	MIG_TLS_SERVER, /* the target: accepts, requires and verifies a client certificate */
};

/* Why a handshake failed: what the caller may test; the message says more. */
enum mig_tls_refusal {
	MIG_TLS_OK = 0,
	MIG_TLS_UNKNOWN_CA,  /* the peer's chain does not lead to our CA */
	MIG_TLS_WRONG_NAME,  /* the peer's subject CN is not the expected name */
	MIG_TLS_WRONG_USAGE, /* the peer's certificate is not for its role (EKU) */
	MIG_TLS_EXPIRED,
	MIG_TLS_NOT_YET_VALID,
	MIG_TLS_NO_PEER_CERT, /* the client sent no certificate */
	MIG_TLS_BAD_CERT,     /* another verification error */
	MIG_TLS_PLAINTEXT,    /* the peer does not speak TLS */
	MIG_TLS_PEER_REFUSED, /* the peer refused us (its alert is in the message) */
	MIG_TLS_PROTOCOL,     /* no common version or cipher, a malformed message */
	MIG_TLS_IO,	      /* the connection closed, reset or timed out */
};

struct mig_tls_opts {
	enum mig_tls_role role;
	const char *dir;  /* tls.crt, tls.key, ca.crt in it; NULL when the three below are set */
	const char *cert; /* each of these three, when set, wins over the file in dir */
	const char *key;
	const char *ca;
	const char *peer_name; /* NULL: KubeVirt's default for the peer's role; "": no name check */
	bool allow_tls12;
	bool openssl_records; /* OpenSSL's record layer even where mignet's would carry the data */
	unsigned int handshake_timeout_ms; /* 0: MIG_TLS_HANDSHAKE_TIMEOUT_MS */
};

struct mig_tls_ctx;
struct mig_tls_conn;

/* What a connection negotiated, for the report. */
struct mig_tls_info {
	char version[16];      /* "TLSv1.3" */
	char cipher[64];       /* "TLS_AES_128_GCM_SHA256" */
	char peer_name[160];   /* the peer's subject CN */
	char peer_sha256[65];  /* the SHA-256 of the peer's certificate, hex: which one it used */
	bool ktls_tx, ktls_rx; /* the kernel holds the record layer for that direction */
	char path[200];	       /* "kernel (kTLS)" or "user space: <why>" */
};

/**
 * mig_tls_kernel_path() - can the record layer go to the kernel here
 * Reads /proc/sys/net/ipv4/tcp_available_ulp and whether this OpenSSL has kTLS.
 * @why: filled with one line saying which path the connections will take and why.
 * Return: true when kTLS will be attempted.
 */
bool mig_tls_kernel_path(char *why, size_t size);

/** mig_tls_refusal_name() - a short stable name: "unknown-ca", "wrong-name", ... */
const char *mig_tls_refusal_name(enum mig_tls_refusal r);

/**
 * mig_tls_ctx_load() - read the certificate, key and CA of @o now and build a context
 * Fails when a file is missing or unreadable, the key does not match the certificate, or the
 * CA bundle holds no certificate; the message names the file.
 * Return: 0 with *@ret set (free with mig_tls_ctx_free), or -errno with @err.
 */
int mig_tls_ctx_load(const struct mig_tls_opts *o, struct mig_tls_ctx **ret, struct mig_error *err);

/** mig_tls_ctx_free() - free a context; connections made from it keep their own reference. */
void mig_tls_ctx_free(struct mig_tls_ctx *ctx);

/**
 * mig_tls_handshake() - run the handshake of the context's role on the connected socket @fd
 * Waits at most the context's handshake timeout. The server first peeks at the first bytes
 * and refuses a peer whose first record is not a TLS handshake (a plaintext peer) without
 * reading them. Nothing but the handshake and the verdict byte is read or written.
 * On success @fd is non-blocking and owned by the caller still (close it after
 * mig_tls_conn_free).
 * @ret_refusal: why it failed (may be NULL).
 * Return: 0 with *@ret set, -EACCES (a certificate was refused, either way),
 * -EPROTO (plaintext peer, protocol), -ETIMEDOUT, -ECONNRESET, or another -errno; @err says which.
 */
int mig_tls_handshake(struct mig_tls_ctx *ctx, int fd, struct mig_tls_conn **ret,
		      enum mig_tls_refusal *ret_refusal, struct mig_error *err);

/** mig_tls_conn_info() - what @c negotiated. */
void mig_tls_conn_info(const struct mig_tls_conn *c, struct mig_tls_info *ret);

/**
 * mig_tls_conn_free() - free @c without closing its socket (NULL is fine). Sends no
 * close_notify: the pumps do when their input ends.
 */
void mig_tls_conn_free(struct mig_tls_conn *c);

/**
 * mig_tls_pump_in() - move the peer's bytes to @out_fd until the peer's close_notify
 * With mignet's record layer: large reads from the socket into the connection's own buffer,
 * each record decrypted in place and its tag checked before any of its bytes is written,
 * then one writev(2) of the records' plaintexts (@buf is not used). With OpenSSL's: SSL_read
 * into @buf (at least 16 KiB; MIG_TLS_PUMP_BUF is good), then write(2) all of it to @out_fd
 * (blocking); with kTLS receive, splice(2) from the socket through a pipe instead.
 * At the end, shuts @out_fd's write side down. Safe to run in one thread while
 * mig_tls_pump_out() runs on the same @c in another (the SSL calls are serialised).
 * @ret_bytes: plaintext bytes moved (may be NULL).
 * Return: 0 at a clean end, -errno (-EPROTO: the peer closed without close_notify, a
 * truncation, or sent an alert; -EBADMSG: a record did not verify, mignet's record layer)
 * with @err.
 */
int mig_tls_pump_in(struct mig_tls_conn *c, int out_fd, void *buf, size_t len, uint64_t *ret_bytes,
		    struct mig_error *err);

/**
 * mig_tls_pump_out() - move @in_fd's bytes to the peer until @in_fd's end of file
 * With mignet's record layer: readv(2) into the places of up to 16 full records in the
 * connection's own buffer, encrypted in place, one write(2) (@buf is not used); with
 * OpenSSL's: read(2) into @buf, then SSL_write it (full records); with kTLS send, splice(2)
 * through a pipe into the socket. At @in_fd's end, sends close_notify (the other direction goes
 * on). Return: 0, or -errno with @err.
 */
int mig_tls_pump_out(struct mig_tls_conn *c, int in_fd, void *buf, size_t len, uint64_t *ret_bytes,
		     struct mig_error *err);

/**
 * mig_tls_write_all() / mig_tls_read_full() - whole buffers over @c, for a small
 * application handshake after TLS's (waits at most @timeout_ms per call; 0 = forever).
 * mig_tls_read_full() returns -EPIPE when the peer closed before @len bytes.
 * Return: 0 or -errno.
 */
int mig_tls_write_all(struct mig_tls_conn *c, const void *buf, size_t len, int timeout_ms);
/* (both hold the connection's lock while they wait: not while the pumps run) */
int mig_tls_read_full(struct mig_tls_conn *c, void *buf, size_t len, int timeout_ms);

struct x509_st;

/**
 * mig_tls_cert_cn() - the subject CN of @cert (an X509; the last CN, as Go's crypto/x509
 * reads it). Return: 0, or -ENOENT when it has none, -EINVAL when it holds a NUL byte.
 */
int mig_tls_cert_cn(struct x509_st *cert, char *buf, size_t size);

/* ---- certificates (mig_tls_cert.c): mignet tls-init, mignet doctor, tests ---- */

/* One certificate to issue. */
struct mig_tls_issue {
	const char *cn;		/* the subject CN */
	bool ca;		/* a CA (self-signed when no issuer is given) */
	enum mig_tls_role role; /* the EKU of a leaf: serverAuth or clientAuth */
	int64_t not_before;	/* seconds relative to now (negative: in the past) */
	int64_t not_after;
};

/**
 * mig_tls_issue() - make a P-256 key and a certificate for it
 * Signed by @issuer_cert/@issuer_key, or self-signed when they are NULL. Written as PEM to
 * @cert_path (0644) and @key_path (0600), each atomically (a temporary file, then rename).
 * @issuer_cert, @issuer_key: PEM files.
 * Return: 0 or -errno with @err.
 */
int mig_tls_issue(const struct mig_tls_issue *is, const char *issuer_cert, const char *issuer_key,
		  const char *cert_path, const char *key_path, struct mig_error *err);

/**
 * mig_tls_init_dir() - a lab's CA and the two virt-handler certificates
 * Writes @dir/ca.crt and @dir/ca.key (reused when both exist and @new_ca is false: a second
 * run re-issues the node certificates under the same CA, as a rotation does), then
 * @dir/server/{tls.crt,tls.key,ca.crt} (CN @server_cn, serverAuth: the target's, `incoming
 * --tls-dir DIR/server`) and @dir/client/{...} (CN @client_cn, clientAuth: the source's).
 * @days: the node certificates' validity.
 * Return: 0 or -errno with @err.
 */
int mig_tls_init_dir(const char *dir, const char *server_cn, const char *client_cn,
		     unsigned int days, bool new_ca, struct mig_error *err);

/* The TLS checks of mignet doctor, in the order they run. */
enum mig_tls_check_id {
	MIG_TLS_CHECK_FILES, /* tls.crt, tls.key, ca.crt present and readable */
	MIG_TLS_CHECK_KEY,   /* the key matches the certificate */
	MIG_TLS_CHECK_CHAIN, /* the chain verifies against ca.crt */
	MIG_TLS_CHECK_DATES, /* now within notBefore..notAfter (and how long is left) */
	MIG_TLS_CHECK_NAME,  /* the subject CN is the role's name, EKU the role's usage */
	MIG_TLS_CHECK_PATH,  /* kernel or user-space record layer, and why */
	MIG_TLS_CHECK_COUNT,
};

struct mig_tls_check {
	const char *name;
	int status; /* enum mig_check_status of tools/mignet/mig_doctor.h */
	char detail[320];
};

/**
 * mig_tls_doctor() - check the TLS material of @o (its dir or its three files)
 * @role_given: @o->role is the role the certificate is for; false: the role whose
 * KubeVirt name the certificate's CN carries (either passes).
 * @own_name: the CN the certificate must carry (NULL: the role's KubeVirt name).
 * Statuses: 0 pass, 1 fail, 2 skip (a check it depends on failed): enum mig_check_status.
 */
void mig_tls_doctor(const struct mig_tls_opts *o, bool role_given, const char *own_name,
		    struct mig_tls_check ret[MIG_TLS_CHECK_COUNT]);

#endif
