// SPDX-License-Identifier: Apache-2.0
/*
 * The etcd client's transport: endpoints, one HTTP exchange on libcurl, failover between
 * members, authentication. The KV, txn and lease calls that ride on it are etcd/kv.c.
 *
 * Theory of operation
 *
 * Every call is one POST of a JSON body to "<endpoint>/v3/<service>/<method>" and one JSON
 * answer. The gateway prefix "/v3/" is served by etcd 3.4 (Debian 12 ships 3.4.23) and later;
 * 3.3 served "/v3beta/" and 3.2 "/v3alpha/", which we do not support.
 *
 * One curl easy handle is reused, so consecutive requests to one endpoint share a kept-alive
 * connection (and TLS session). A request is tried on the current endpoint; a failure that
 * says nothing about the request itself (cannot connect, connection reset, empty reply, the
 * per-attempt timeout, TLS handshake, HTTP 5xx with gRPC "unavailable"/"deadline exceeded")
 * moves to the next endpoint. After a full round of failures we sleep a jittered back-off
 * (25 ms doubling to 400 ms) and go round again, until the deadline. The per-attempt timeout
 * is a third of what is left (at least 500 ms) so that one hung member cannot eat the whole
 * budget while another one could answer.
 *
 * Resending a request after a failure that happened once it was sent can apply it twice. The
 * callers in mignet only send txns guarded by a compare on a revision, which cannot apply
 * twice, and idempotent reads, deletes and lease calls.
 *
 * Authentication: with a user name, "/v3/auth/authenticate" gives a token that goes in the
 * "Authorization" header. etcd's default "simple" tokens are local to the member that issued
 * them, so the token is kept per endpoint and fetched again after an "invalid auth token".
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "etcd/client.h"
#include "etcd/curl_api.h"
#include "etcd/transport_priv.h"
#include "util/clock.h"

#define REPLY_MAX (64u << 20)
#define NO_DEADLINE_ATTEMPT_MS 30000
#define MIN_ATTEMPT_MS 500
#define URL_MAX 512

/* gRPC status codes the gateway reports in {"code": N} */
enum {
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_DEADLINE_EXCEEDED = 4,
	GRPC_NOT_FOUND = 5,
	GRPC_PERMISSION_DENIED = 7,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_FAILED_PRECONDITION = 9,
	GRPC_UNAVAILABLE = 14,
	GRPC_UNAUTHENTICATED = 16,
};

struct endpoint {
	char url[URL_MAX]; /* "http://host:port", no trailing slash */
	char *token;	   /* auth token issued by this member, or NULL */
};

struct etcd_client {
	CURL *curl;
	struct endpoint ep[ETCD_MAX_ENDPOINTS];
	size_t n_ep, cur;
	char *username, *password, *cert, *key, *ca;
	int64_t deadline; /* monotonic ms, 0: none */
	uint64_t rng;
	char errmsg[512];
	/* the reply being received */
	char *buf;
	size_t len, cap;
};

/* --- small helpers --- */

static void sleep_ms(int64_t ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static uint64_t next_rand(struct etcd_client *c)
{
	/* xorshift64*: jitter only, not security */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545F4914F6CDD1Dull;
}

int etcd_set_err(struct etcd_client *c, int neg, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(c->errmsg, sizeof(c->errmsg), fmt, ap);
	va_end(ap);
	return neg;
}

static char *dup_or_null(const char *s)
{
	return s && *s ? strdup(s) : NULL;
}

/* --- endpoints --- */

static int add_endpoint(struct etcd_client *c, const char *s, size_t len, bool tls)
{
	struct endpoint *e;
	const char *scheme = "";

	while (len && (*s == ' ' || *s == '\t'))
		s++, len--;
	while (len && (s[len - 1] == ' ' || s[len - 1] == '\t' || s[len - 1] == '/'))
		len--;
	if (!len)
		return 0;
	if (c->n_ep == ETCD_MAX_ENDPOINTS)
		return etcd_set_err(c, -EINVAL, "etcd_host: more than %d endpoints",
				    ETCD_MAX_ENDPOINTS);
	/* whereabouts accepts a bare "host:port": https when TLS files are given */
	if (!(len > 7 && strncmp(s, "http://", 7) == 0) &&
	    !(len > 8 && strncmp(s, "https://", 8) == 0)) {
		if (memchr(s, ':', len) && memmem(s, len, "://", 3))
			return etcd_set_err(c, -EINVAL,
					    "etcd_host: \"%.*s\": scheme must be http or https",
					    (int)len, s);
		scheme = tls ? "https://" : "http://";
	}
	if (strlen(scheme) + len + 1 > URL_MAX)
		return etcd_set_err(c, -EINVAL, "etcd_host: endpoint too long");
	e = &c->ep[c->n_ep++];
	snprintf(e->url, sizeof(e->url), "%s%.*s", scheme, (int)len, s);
	return 0;
}

int etcd_client_new(const struct etcd_config *cfg, struct etcd_client **ret, char *errbuf,
		    size_t errlen)
{
	struct etcd_client *c = calloc(1, sizeof(*c));
	const char *s, *comma;
	bool tls;
	int r = -ENOMEM;

	if (!c) {
		if (errbuf)
			snprintf(errbuf, errlen, "out of memory");
		return -ENOMEM;
	}
	c->rng = (uint64_t)util_now_ms() ^ ((uint64_t)(uintptr_t)c << 16) ^ 0x9E3779B97F4A7C15ull;
	if (!c->rng)
		c->rng = 1;
	tls = (cfg->cert_file && *cfg->cert_file) || (cfg->ca_file && *cfg->ca_file);
	s = cfg->endpoints ? cfg->endpoints : "";
	for (;;) {
		comma = strchr(s, ',');
		r = add_endpoint(c, s, comma ? (size_t)(comma - s) : strlen(s), tls);
		if (r < 0)
			goto out;
		if (!comma)
			break;
		s = comma + 1;
	}
	if (!c->n_ep) {
		r = etcd_set_err(c, -EINVAL, "etcd_host: no endpoint given");
		goto out;
	}
	if ((cfg->cert_file && *cfg->cert_file) != (cfg->key_file && *cfg->key_file)) {
		r = etcd_set_err(c, -EINVAL, "etcd_cert_file and etcd_key_file go together");
		goto out;
	}
	r = -ENOMEM;
	c->username = dup_or_null(cfg->username);
	c->password = strdup(cfg->password ? cfg->password : "");
	c->cert = dup_or_null(cfg->cert_file);
	c->key = dup_or_null(cfg->key_file);
	c->ca = dup_or_null(cfg->ca_file);
	if (!c->password || (cfg->username && *cfg->username && !c->username))
		goto out;
	if (!curl_api()) {
		r = etcd_set_err(c, -ENOSYS, "%s", curl_api_error());
		goto out;
	}
	if (curl_api()->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto out;
	c->curl = curl_api()->easy_init();
	if (!c->curl)
		goto out;
	c->cur = (size_t)(next_rand(c) % c->n_ep);
	*ret = c;
	return 0;
out:
	if (errbuf)
		snprintf(errbuf, errlen, "%s", c->errmsg[0] ? c->errmsg : "out of memory");
	etcd_client_free(c);
	return r;
}

void etcd_client_free(struct etcd_client *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_ep; i++)
		free(c->ep[i].token);
	if (c->curl)
		curl_api()->easy_cleanup(c->curl);
	free(c->username);
	if (c->password)
		explicit_bzero(c->password, strlen(c->password));
	free(c->password);
	free(c->cert);
	free(c->key);
	free(c->ca);
	free(c->buf);
	free(c);
}

void etcd_client_set_deadline(struct etcd_client *c, int64_t ms)
{
	c->deadline = ms > 0 ? util_now_ms() + ms : 0;
}

int64_t etcd_client_remaining_ms(const struct etcd_client *c)
{
	return c->deadline ? c->deadline - util_now_ms() : INT64_MAX;
}

const char *etcd_client_errmsg(const struct etcd_client *c)
{
	return c->errmsg;
}

const char *etcd_client_endpoint(const struct etcd_client *c)
{
	return c->ep[c->cur].url;
}

/* --- one HTTP exchange --- */

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct etcd_client *c = arg;
	size_t n = size * nmemb;

	if (c->len + n + 1 > REPLY_MAX)
		return 0;
	if (c->len + n + 1 > c->cap) {
		size_t cap = c->cap ? c->cap : 4096;
		char *p;

		while (cap < c->len + n + 1)
			cap *= 2;
		p = realloc(c->buf, cap);
		if (!p)
			return 0;
		c->buf = p;
		c->cap = cap;
	}
	memcpy(c->buf + c->len, data, n);
	c->len += n;
	c->buf[c->len] = '\0';
	return n;
}

enum outcome {
	OK,	   /* HTTP 200, *ret holds the answer */
	NEXT,	   /* try another endpoint */
	NEXT_TLS,  /* this endpoint's certificate is not trusted: try another one */
	NEXT_DOWN, /* nobody listens there: try another one */
	REAUTH,	   /* the token was refused: fetch a new one and retry here */
	FAIL,	   /* a definite error, returned to the caller */
};

/* Send one POST of @body to @url; the reply lands in c->buf. Return: libcurl's code. */
static CURLcode perform(struct etcd_client *c, const struct endpoint *e, const char *url,
			const char *path, const char *body, int64_t timeout_ms)
{
	struct curl_slist *hdr = NULL;
	char auth[1024];
	CURLcode cc;

	c->len = 0;
	hdr = curl_api()->slist_append(hdr, "Content-Type: application/json");
	if (e->token && strcmp(path, "/v3/auth/authenticate") != 0) {
		snprintf(auth, sizeof(auth), "Authorization: %s", e->token);
		hdr = curl_api()->slist_append(hdr, auth);
	}
	if (!hdr)
		return CURLE_OUT_OF_MEMORY;
	curl_api()->easy_reset(c->curl);
	curl_api()->easy_setopt(c->curl, CURLOPT_URL, url);
	curl_api()->easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_api()->easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_api()->easy_setopt(c->curl, CURLOPT_POST, 1L);
	curl_api()->easy_setopt(c->curl, CURLOPT_POSTFIELDS, body);
	curl_api()->easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
	curl_api()->easy_setopt(c->curl, CURLOPT_HTTPHEADER, hdr);
	curl_api()->easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_data);
	curl_api()->easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
	curl_api()->easy_setopt(c->curl, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
	curl_api()->easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS,
				(long)(timeout_ms < 1000 ? timeout_ms : 1000));
	if (c->cert) {
		curl_api()->easy_setopt(c->curl, CURLOPT_SSLCERT, c->cert);
		curl_api()->easy_setopt(c->curl, CURLOPT_SSLKEY, c->key);
	}
	if (c->ca)
		curl_api()->easy_setopt(c->curl, CURLOPT_CAINFO, c->ca);
	cc = curl_api()->easy_perform(c->curl);
	curl_api()->slist_free_all(hdr);
	return cc;
}

/* What a transfer that failed with @cc means for the request (the message is kept in c). */
static enum outcome curl_outcome(struct etcd_client *c, const struct endpoint *e, CURLcode cc,
				 int *err)
{
	etcd_set_err(c, -EIO, "%s: %s", e->url, curl_api()->easy_strerror(cc));
	switch (cc) {
	case CURLE_OUT_OF_MEMORY:
		*err = -ENOMEM;
		return FAIL;
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
		*err = -EINVAL;
		return FAIL;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		*err = -EACCES;
		return NEXT_TLS;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return NEXT_DOWN;
	case CURLE_WRITE_ERROR:
		etcd_set_err(c, -EPROTO, "%s: reply larger than %u bytes", e->url, REPLY_MAX);
		*err = -EPROTO;
		return FAIL;
	default:
		return NEXT;
	}
}

/* What an answer other than HTTP 200 with a JSON object means: the gateway's gRPC code. */
static enum outcome http_outcome(long status, int gcode, const char *gmsg, int *err)
{
	switch (gcode) {
	case GRPC_UNAVAILABLE:
	case GRPC_DEADLINE_EXCEEDED:
		return NEXT;
	case GRPC_UNAUTHENTICATED:
		*err = -EACCES;
		return strstr(gmsg, "invalid auth token") ? REAUTH : FAIL;
	case GRPC_PERMISSION_DENIED:
		*err = -EACCES;
		return FAIL;
	case GRPC_NOT_FOUND:
		*err = -ENOENT;
		return FAIL;
	case GRPC_INVALID_ARGUMENT:
	case GRPC_FAILED_PRECONDITION:
		*err = -EINVAL;
		return FAIL;
	case GRPC_RESOURCE_EXHAUSTED:
		*err = -E2BIG;
		return FAIL;
	default:
		/* a proxy or a member that is starting up: another member may do better */
		*err = -EIO;
		return status >= 500 || status == 0 ? NEXT : FAIL;
	}
}

/*
 * POST @body to @path on endpoint @e within @timeout_ms.
 * Return: the outcome; with OK *@ret is the parsed reply; with FAIL *@err the errno.
 */
static enum outcome exchange(struct etcd_client *c, struct endpoint *e, const char *path,
			     const char *body, int64_t timeout_ms, struct json_object **ret,
			     int *err)
{
	char url[URL_MAX + 64];
	struct json_object *o = NULL, *v;
	long status = 0;
	CURLcode cc;
	int gcode = 0;
	const char *gmsg = "";
	enum outcome out;

	snprintf(url, sizeof(url), "%s%s", e->url, path);
	cc = perform(c, e, url, path, body, timeout_ms);
	if (cc != CURLE_OK)
		return curl_outcome(c, e, cc, err);
	curl_api()->easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
	if (c->len)
		o = json_tokener_parse(c->buf);
	if (status == 200 && o && json_object_is_type(o, json_type_object)) {
		*ret = o;
		return OK;
	}
	if (o && json_object_is_type(o, json_type_object)) {
		if (json_object_object_get_ex(o, "code", &v))
			gcode = json_object_get_int(v);
		if ((json_object_object_get_ex(o, "message", &v) ||
		     json_object_object_get_ex(o, "error", &v)) &&
		    json_object_is_type(v, json_type_string))
			gmsg = json_object_get_string(v);
	}
	etcd_set_err(c, -EIO, "%s%s: HTTP %ld%s%s", e->url, path, status, *gmsg ? ": " : "", gmsg);
	out = http_outcome(status, gcode, gmsg, err);
	json_object_put(o);
	return out;
}

static enum outcome authenticate(struct etcd_client *c, struct endpoint *e, int64_t timeout_ms,
				 int *err)
{
	struct json_object *body = json_object_new_object(), *reply = NULL, *tok;
	enum outcome out;

	if (!body) {
		*err = -ENOMEM;
		return FAIL;
	}
	json_object_object_add(body, "name", json_object_new_string(c->username));
	json_object_object_add(body, "password", json_object_new_string(c->password));
	out = exchange(c, e, "/v3/auth/authenticate",
		       json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN), timeout_ms,
		       &reply, err);
	json_object_put(body);
	if (out == REAUTH)
		out = FAIL;
	if (out != OK)
		return out;
	if (!json_object_object_get_ex(reply, "token", &tok) ||
	    !json_object_is_type(tok, json_type_string)) {
		json_object_put(reply);
		etcd_set_err(c, -EPROTO, "%s: authenticate gave no token", e->url);
		*err = -EPROTO;
		return FAIL;
	}
	free(e->token);
	e->token = strdup(json_object_get_string(tok));
	json_object_put(reply);
	if (!e->token) {
		*err = -ENOMEM;
		return FAIL;
	}
	return OK;
}

int etcd_request(struct etcd_client *c, const char *path, struct json_object *body,
		 struct json_object **ret)
{
	const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	int64_t backoff = 25;
	size_t tried = 0, n_untrusted = 0, n_down = 0;
	bool untrusted[ETCD_MAX_ENDPOINTS] = { false }, down[ETCD_MAX_ENDPOINTS] = { false };
	bool reauthed = false;

	c->errmsg[0] = '\0';
	if (!text)
		return -ENOMEM;
	for (;;) {
		int64_t left = c->deadline ? c->deadline - util_now_ms() : NO_DEADLINE_ATTEMPT_MS;
		int64_t attempt = left / 3 > MIN_ATTEMPT_MS ? left / 3 : MIN_ATTEMPT_MS;
		struct endpoint *e = &c->ep[c->cur];
		enum outcome out = OK;
		int err = -EIO;

		if (left <= 0) {
			char prev[sizeof(c->errmsg)];

			snprintf(prev, sizeof(prev), "%s", c->errmsg);
			return etcd_set_err(c, -ETIMEDOUT, "etcd did not answer in time%s%s",
					    prev[0] ? "; last error: " : "", prev);
		}
		if (!c->deadline)
			attempt = NO_DEADLINE_ATTEMPT_MS;
		if (attempt > left)
			attempt = left;
		if (c->username && !e->token)
			out = authenticate(c, e, attempt, &err);
		if (out == OK)
			out = exchange(c, e, path, text, attempt, ret, &err);
		if (out == OK)
			return 0;
		if (out == FAIL)
			return err;
		if (out == REAUTH && !reauthed) {
			free(e->token);
			e->token = NULL;
			reauthed = true;
			continue;
		}
		if (out == REAUTH)
			return err;
		/*
		 * NEXT*: when every endpoint that listens has an untrusted certificate, waiting
		 * will not help (a member that is down may come back; its certificate will not
		 * change).
		 */
		if (out == NEXT_TLS && !untrusted[c->cur]) {
			untrusted[c->cur] = true;
			n_untrusted++;
		}
		if (out == NEXT_DOWN && !down[c->cur]) {
			down[c->cur] = true;
			n_down++;
		}
		if (n_untrusted && n_untrusted + n_down >= c->n_ep)
			return err;
		c->cur = (c->cur + 1) % c->n_ep;
		if (++tried % c->n_ep == 0) {
			int64_t pause = backoff / 2 + (int64_t)(next_rand(c) % (uint64_t)backoff);

			left = c->deadline ? c->deadline - util_now_ms() : pause;
			sleep_ms(pause < left ? pause : (left > 0 ? left : 0));
			if (backoff < 400)
				backoff *= 2;
		}
	}
}

/* --- JSON building and reading --- */
