// SPDX-License-Identifier: Apache-2.0
/*
 * Certificates for the migration's TLS: issuing a lab's CA and the two virt-handler
 * certificates (mignet tls-init, the tests), and checking the material a node holds
 * (mignet doctor). Through OpenSSL's API rather than a recipe for the openssl command: the
 * command is not in a virt-handler image, and OpenSSL 3.0's `openssl x509` cannot back-date
 * a certificate, which the tests of the expired and not-yet-valid refusals need.
 *
 * Keys are ECDSA P-256 (what KubeVirt's own certificates use: a fast handshake). A leaf has
 * basicConstraints CA:FALSE, keyUsage digitalSignature and one extended key usage, serverAuth
 * or clientAuth, as KubeVirt's verifyPeerCert expects of the target and of the source.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mig_tls.h"

#define CA_CN "mignet lab CA"
#define CA_DAYS 3650
#define SKEW (3600) /* node certificates start an hour back: clocks of two nodes differ */

static int ssl_fail(struct mig_error *err, int code, const char *what)
{
	char one[200] = "no detail from OpenSSL";
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, one, sizeof(one));
	ERR_clear_error();
	return mig_error_set(err, code, "%s: %s", what, one);
}

static int add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_nconf_nid(NULL, ctx, nid, value);
	int ok = e && X509_add_ext(x, e, -1);

	X509_EXTENSION_free(e);
	return ok ? 0 : -EINVAL;
}

/* Write @path atomically through @write_fn, mode @mode. */
static int write_pem(const char *path, mode_t mode, int (*write_fn)(FILE *, void *), void *obj,
		     struct mig_error *err)
{
	char tmp[4200];
	FILE *f;
	int fd, r = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return mig_error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (fchmod(fd, mode) < 0 || !(f = fdopen(fd, "w"))) {
		r = mig_error_set(err, -errno, "%s: %s", path, strerror(errno));
		close(fd);
		unlink(tmp);
		return r;
	}
	if (!write_fn(f, obj) || fflush(f) != 0 || fsync(fileno(f)) < 0)
		r = mig_error_set(err, -EIO, "%s: write failed", path);
	if (fclose(f) != 0 && !r)
		r = mig_error_set(err, -errno, "%s: %s", path, strerror(errno));
	if (!r && rename(tmp, path) < 0)
		r = mig_error_set(err, -errno, "%s: rename: %s", path, strerror(errno));
	if (r)
		unlink(tmp);
	return r;
}

static int write_cert(FILE *f, void *x)
{
	return PEM_write_X509(f, x);
}

static int write_key(FILE *f, void *k)
{
	return PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
}

/* The certificate, or with @key the private key, that the PEM file @path holds; or NULL. */
static void *read_pem(const char *path, bool key)
{
	FILE *f = fopen(path, "re");
	void *obj;

	if (!f)
		return NULL;
	if (key)
		obj = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	else
		obj = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	return obj;
}

static X509 *read_cert(const char *path)
{
	return read_pem(path, false);
}

static EVP_PKEY *read_key(const char *path)
{
	return read_pem(path, true);
}

int mig_tls_issue(const struct mig_tls_issue *is, const char *issuer_cert, const char *issuer_key,
		  const char *cert_path, const char *key_path, struct mig_error *err)
{
	X509 *x = NULL, *icert = NULL;
	EVP_PKEY *key = NULL, *ikey = NULL;
	unsigned char serial[16];
	BIGNUM *bn = NULL;
	X509V3_CTX v3;
	int r;

	ERR_clear_error();
	if (issuer_cert) {
		icert = read_cert(issuer_cert);
		ikey = read_key(issuer_key);
		if (!icert || !ikey) {
			r = ssl_fail(err, -EINVAL, !icert ? issuer_cert : issuer_key);
			goto out;
		}
	}
	key = EVP_EC_gen("P-256");
	x = X509_new();
	if (!key || !x || RAND_bytes(serial, sizeof(serial)) != 1) {
		r = ssl_fail(err, -ENOMEM, "key generation");
		goto out;
	}
	serial[0] &= 0x7f; /* a positive serial */
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	if (!X509_set_version(x, X509_VERSION_3) || !bn ||
	    !BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), (long)is->not_before) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), (long)is->not_after) ||
	    !X509_set_pubkey(x, key) ||
	    !X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
					(const unsigned char *)is->cn, -1, -1, 0) ||
	    !X509_set_issuer_name(x, X509_get_subject_name(icert ? icert : x))) {
		r = ssl_fail(err, -EINVAL, "certificate fields");
		goto out;
	}
	X509V3_set_ctx(&v3, icert ? icert : x, x, NULL, NULL, 0);
	if (is->ca)
		r = add_ext(x, &v3, NID_basic_constraints, "critical,CA:TRUE") ?:
		    add_ext(x, &v3, NID_key_usage, "critical,keyCertSign,cRLSign") ?:
		    add_ext(x, &v3, NID_subject_key_identifier, "hash");
	else
		r = add_ext(x, &v3, NID_basic_constraints, "critical,CA:FALSE") ?:
		    add_ext(x, &v3, NID_key_usage, "critical,digitalSignature") ?:
		    add_ext(x, &v3, NID_ext_key_usage, is->role == MIG_TLS_SERVER ? "serverAuth" :
			    "clientAuth") ?:
		    add_ext(x, &v3, NID_subject_key_identifier, "hash") ?:
		    add_ext(x, &v3, NID_authority_key_identifier, "keyid");
	if (r < 0) {
		r = ssl_fail(err, r, "certificate extensions");
		goto out;
	}
	if (!X509_sign(x, ikey ? ikey : key, EVP_sha256())) {
		r = ssl_fail(err, -EINVAL, "signing");
		goto out;
	}
	r = write_pem(key_path, 0600, write_key, key, err);
	if (!r)
		r = write_pem(cert_path, 0644, write_cert, x, err);
out:
	BN_free(bn);
	X509_free(x);
	X509_free(icert);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ikey);
	return r;
}

static int mkdir_p1(const char *path, struct mig_error *err)
{
	if (mkdir(path, 0755) < 0 && errno != EEXIST)
		return mig_error_set(err, -errno, "%s: %s", path, strerror(errno));
	return 0;
}

/* Copy the CA certificate @from into @to (atomically). */
static int copy_ca(const char *from, const char *to, struct mig_error *err)
{
	X509 *x = read_cert(from);
	int r;

	if (!x)
		return ssl_fail(err, -EINVAL, from);
	r = write_pem(to, 0644, write_cert, x, err);
	X509_free(x);
	return r;
}

int mig_tls_init_dir(const char *dir, const char *server_cn, const char *client_cn,
		     unsigned int days, bool new_ca, struct mig_error *err)
{
	static const char *const sub[2] = { "server", "client" };
	char ca[4096], cakey[4096], d[4096], crt[4200], key[4200], cacopy[4200], ca_cn[64];
	struct mig_tls_issue is = {
		.cn = ca_cn, .ca = true, .not_before = -SKEW, .not_after = (int64_t)CA_DAYS * 86400
	};
	unsigned char id[4] = { 0 };
	int r;

	RAND_bytes(id, sizeof(id)); /* two labs' CAs differ in name, not only in key */
	snprintf(ca_cn, sizeof(ca_cn), "%s %02x%02x%02x%02x", CA_CN, id[0], id[1], id[2], id[3]);
	snprintf(ca, sizeof(ca), "%s/ca.crt", dir);
	snprintf(cakey, sizeof(cakey), "%s/ca.key", dir);
	r = mkdir_p1(dir, err);
	if (r < 0)
		return r;
	if (new_ca || access(ca, R_OK) < 0 || access(cakey, R_OK) < 0) {
		r = mig_tls_issue(&is, NULL, NULL, ca, cakey, err);
		if (r < 0)
			return r;
	}
	for (int i = 0; i < 2; i++) {
		struct mig_tls_issue leaf = {
			.cn = i == 0 ? server_cn : client_cn,
			.role = i == 0 ? MIG_TLS_SERVER : MIG_TLS_CLIENT,
			.not_before = -SKEW,
			.not_after = (int64_t)days * 86400,
		};

		snprintf(d, sizeof(d), "%s/%s", dir, sub[i]);
		snprintf(crt, sizeof(crt), "%s/%s", d, MIG_TLS_CERT_FILE);
		snprintf(key, sizeof(key), "%s/%s", d, MIG_TLS_KEY_FILE);
		snprintf(cacopy, sizeof(cacopy), "%s/%s", d, MIG_TLS_CA_FILE);
		r = mkdir_p1(d, err);
		if (!r)
			r = copy_ca(ca, cacopy, err);
		if (!r)
			r = mig_tls_issue(&leaf, ca, cakey, crt, key, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- mignet doctor's checks ---- */

static const char *const tls_check_names[MIG_TLS_CHECK_COUNT] = {
	"tls-files", "tls-key", "tls-chain", "tls-dates", "tls-name", "tls-path",
};

enum { ST_PASS, ST_FAIL, ST_SKIP }; /* enum mig_check_status's values */

static void tls_set(struct mig_tls_check *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void tls_set(struct mig_tls_check *c, int status, const char *fmt, ...)
{
	va_list ap;

	c->status = status;
	va_start(ap, fmt);
	vsnprintf(c->detail, sizeof(c->detail), fmt, ap);
	va_end(ap);
}

static void when(const ASN1_TIME *t, char *buf, size_t size)
{
	BIO *b = BIO_new(BIO_s_mem());
	int n = 0;

	if (b && ASN1_TIME_print(b, t) == 1)
		n = BIO_read(b, buf, (int)size - 1);
	buf[n > 0 ? n : 0] = '\0';
	BIO_free(b);
}

/* The dates of one certificate: 0 fine, -1 not valid now (@c is set). */
static int check_dates(X509 *x, const char *what, struct mig_tls_check *c, int *ret_days)
{
	char t[64], cn[160] = "?";
	int days = 0, secs = 0;

	mig_tls_cert_cn(x, cn, sizeof(cn));
	if (X509_cmp_current_time(X509_get0_notBefore(x)) > 0) {
		when(X509_get0_notBefore(x), t, sizeof(t));
		tls_set(c, ST_FAIL, "%s (CN %s) is not valid before %s", what, cn, t);
		return -1;
	}
	if (X509_cmp_current_time(X509_get0_notAfter(x)) < 0) {
		when(X509_get0_notAfter(x), t, sizeof(t));
		tls_set(c, ST_FAIL, "%s (CN %s) expired on %s", what, cn, t);
		return -1;
	}
	ASN1_TIME_diff(&days, &secs, NULL, X509_get0_notAfter(x));
	*ret_days = days;
	return 0;
}

void mig_tls_doctor(const struct mig_tls_opts *o, bool role_given, const char *own_name,
		    struct mig_tls_check ret[MIG_TLS_CHECK_COUNT])
{
	char cbuf[4096], kbuf[4096], abuf[4096], missing[400] = "", why[200], cn[160] = "";
	const char *paths[3] = {
		o->cert	 ? o->cert
		: o->dir ? (snprintf(cbuf, sizeof(cbuf), "%s/%s", o->dir, MIG_TLS_CERT_FILE), cbuf)
			 : NULL,
		o->key	 ? o->key
		: o->dir ? (snprintf(kbuf, sizeof(kbuf), "%s/%s", o->dir, MIG_TLS_KEY_FILE), kbuf)
			 : NULL,
		o->ca	 ? o->ca
		: o->dir ? (snprintf(abuf, sizeof(abuf), "%s/%s", o->dir, MIG_TLS_CA_FILE), abuf)
			 : NULL,
	};
	STACK_OF(X509) *untrusted = sk_X509_new_null(), *chain = NULL;
	X509_STORE *store = X509_STORE_new();
	X509_STORE_CTX *xs = X509_STORE_CTX_new();
	EVP_PKEY *key = NULL;
	X509 *cert = NULL;
	enum mig_tls_role role = o->role;
	const char *want;
	FILE *f;
	int i, days = 0, min_days = -1;

	for (i = 0; i < MIG_TLS_CHECK_COUNT; i++) {
		ret[i].name = tls_check_names[i];
		tls_set(&ret[i], ST_SKIP, "the tls-files check failed");
	}
	mig_tls_kernel_path(why, sizeof(why));
	tls_set(&ret[MIG_TLS_CHECK_PATH], ST_PASS, "%s", why);

	for (i = 0; i < 3; i++) {
		static const char *const what[3] = { "cert", "key", "ca" };

		if (!paths[i] || access(paths[i], R_OK) < 0)
			snprintf(missing + strlen(missing), sizeof(missing) - strlen(missing),
				 "%s%s%s%s", missing[0] ? "; " : "", paths[i] ? paths[i] : what[i],
				 paths[i] ? ": " : ": not given", paths[i] ? strerror(errno) : "");
	}
	if (missing[0]) {
		tls_set(&ret[MIG_TLS_CHECK_FILES], ST_FAIL, "%s", missing);
		goto out;
	}
	tls_set(&ret[MIG_TLS_CHECK_FILES], ST_PASS, "%s, %s, %s", paths[0], paths[1], paths[2]);

	/* the key */
	f = fopen(paths[0], "re");
	if (f) {
		X509 *extra;

		cert = PEM_read_X509(f, NULL, NULL, NULL);
		while (cert && (extra = PEM_read_X509(f, NULL, NULL, NULL)) != NULL)
			sk_X509_push(untrusted, extra); /* intermediates after the leaf */
		fclose(f);
	}
	ERR_clear_error();
	key = read_key(paths[1]);
	ERR_clear_error();
	if (!cert) {
		tls_set(&ret[MIG_TLS_CHECK_KEY], ST_FAIL, "%s holds no PEM certificate", paths[0]);
		goto out;
	}
	mig_tls_cert_cn(cert, cn, sizeof(cn));
	if (!key)
		tls_set(&ret[MIG_TLS_CHECK_KEY], ST_FAIL,
			"%s holds no PEM private key (or it is "
			"encrypted)",
			paths[1]);
	else if (X509_check_private_key(cert, key) != 1)
		tls_set(&ret[MIG_TLS_CHECK_KEY], ST_FAIL,
			"%s does not match the certificate in %s "
			"(CN %s)",
			paths[1], paths[0], cn);
	else
		tls_set(&ret[MIG_TLS_CHECK_KEY], ST_PASS, "the key matches the certificate (CN %s)",
			cn);
	ERR_clear_error();

	/* the chain, dates aside (the dates check says those) */
	if (!store || !xs || !untrusted || X509_STORE_load_file(store, paths[2]) != 1 ||
	    sk_X509_OBJECT_num(X509_STORE_get0_objects(store)) < 1) {
		tls_set(&ret[MIG_TLS_CHECK_CHAIN], ST_FAIL, "%s holds no PEM CA certificate",
			paths[2]);
	} else if (X509_STORE_CTX_init(xs, store, cert, untrusted) == 1) {
		X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(xs),
					    X509_V_FLAG_NO_CHECK_TIME);
		if (X509_verify_cert(xs) == 1) {
			chain = X509_STORE_CTX_get1_chain(xs);
			tls_set(&ret[MIG_TLS_CHECK_CHAIN], ST_PASS,
				"CN %s verifies against %s "
				"(%d certificates in the chain)",
				cn, paths[2], sk_X509_num(chain));
		} else {
			int e = X509_STORE_CTX_get_error(xs);

			tls_set(&ret[MIG_TLS_CHECK_CHAIN], ST_FAIL,
				"CN %s does not verify against "
				"%s: %s%s",
				cn, paths[2], X509_verify_cert_error_string(e),
				e == X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY
					? " (signed by another CA)"
					: "");
		}
	}
	ERR_clear_error();

	/* the dates: the certificate, and the chain's CAs when it verified */
	if (check_dates(cert, "the certificate", &ret[MIG_TLS_CHECK_DATES], &days) == 0) {
		min_days = days;
		for (i = 1; chain && i < sk_X509_num(chain); i++) {
			if (check_dates(sk_X509_value(chain, i), "the CA",
					&ret[MIG_TLS_CHECK_DATES], &days) < 0) {
				min_days = -2;
				break;
			}
		}
		if (min_days >= 0) {
			char t[64];

			when(X509_get0_notAfter(cert), t, sizeof(t));
			tls_set(&ret[MIG_TLS_CHECK_DATES], ST_PASS, "valid until %s (%d days left)",
				t, min_days);
		}
	}

	/* the name and the usage */
	if (!role_given)
		role = !strcmp(cn, MIG_TLS_CLIENT_NAME) ? MIG_TLS_CLIENT : MIG_TLS_SERVER;
	want = own_name			? own_name
	       : role == MIG_TLS_SERVER ? MIG_TLS_SERVER_NAME
					: MIG_TLS_CLIENT_NAME;
	if (own_name && !own_name[0])
		tls_set(&ret[MIG_TLS_CHECK_NAME], ST_PASS, "CN %s (no name expected)", cn);
	else if (strcmp(cn, want) != 0)
		tls_set(&ret[MIG_TLS_CHECK_NAME], ST_FAIL,
			"CN %s%s, the %s's certificate must name "
			"%s%s",
			cn[0] ? cn : "(none)", "",
			role == MIG_TLS_SERVER ? "target (server)" : "source (client)", want,
			role_given || own_name ? "" : " (or " MIG_TLS_CLIENT_NAME " for a client)");
	else if (X509_check_purpose(cert,
				    role == MIG_TLS_SERVER ? X509_PURPOSE_SSL_SERVER
							   : X509_PURPOSE_SSL_CLIENT,
				    0) != 1)
		tls_set(&ret[MIG_TLS_CHECK_NAME], ST_FAIL,
			"CN %s is right but the certificate is "
			"not for a TLS %s (extended key usage %s missing)",
			cn, role == MIG_TLS_SERVER ? "server" : "client",
			role == MIG_TLS_SERVER ? "serverAuth" : "clientAuth");
	else
		tls_set(&ret[MIG_TLS_CHECK_NAME], ST_PASS, "CN %s, usage %s: the %s's certificate",
			cn, role == MIG_TLS_SERVER ? "serverAuth" : "clientAuth",
			role == MIG_TLS_SERVER ? "target (server)" : "source (client)");
	ERR_clear_error();
out:
	sk_X509_pop_free(chain, X509_free);
	sk_X509_pop_free(untrusted, X509_free);
	X509_STORE_CTX_free(xs);
	X509_STORE_free(store);
	X509_free(cert);
	EVP_PKEY_free(key);
}
