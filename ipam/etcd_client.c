// SPDX-License-Identifier: Apache-2.0
/*
 * etcd v3 over the JSON gateway, on libcurl.
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

#include "ipam/curl_api.h"
#include "ipam/etcd_client.h"

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
	char *token;       /* auth token issued by this member, or NULL */
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

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int64_t ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000};

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

static int set_err(struct etcd_client *c, int neg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int set_err(struct etcd_client *c, int neg, const char *fmt, ...)
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

/* --- base64 (RFC 4648, with padding) --- */

static const char b64_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *b64_encode(const char *in, size_t len)
{
	const unsigned char *p = (const unsigned char *)in;
	char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;

		if (i + 1 < len)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < len)
			v |= p[i + 2];
		*o++ = b64_alphabet[(v >> 18) & 63];
		*o++ = b64_alphabet[(v >> 12) & 63];
		*o++ = i + 1 < len ? b64_alphabet[(v >> 6) & 63] : '=';
		*o++ = i + 2 < len ? b64_alphabet[v & 63] : '=';
	}
	*o = '\0';
	return out;
}

static int b64_value(char ch)
{
	const char *p = ch ? strchr(b64_alphabet, ch) : NULL;

	return p ? (int)(p - b64_alphabet) : -1;
}

/* Decode @in; the result is NUL-terminated. Return: 0, -EPROTO for bad input, -ENOMEM. */
static int b64_decode(const char *in, char **ret, size_t *ret_len)
{
	size_t n = strlen(in), o = 0;
	uint32_t acc = 0;
	int bits = 0;
	char *out = malloc(n / 4 * 3 + 4);

	if (!out)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int v;

		if (in[i] == '=')
			break;
		v = b64_value(in[i]);
		if (v < 0) {
			free(out);
			return -EPROTO;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (char)((acc >> bits) & 0xff);
		}
	}
	out[o] = '\0';
	*ret = out;
	*ret_len = o;
	return 0;
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
		return set_err(c, -EINVAL, "etcd_host: more than %d endpoints", ETCD_MAX_ENDPOINTS);
	/* whereabouts accepts a bare "host:port": https when TLS files are given */
	if (!(len > 7 && strncmp(s, "http://", 7) == 0) &&
	    !(len > 8 && strncmp(s, "https://", 8) == 0)) {
		if (memchr(s, ':', len) && memmem(s, len, "://", 3))
			return set_err(c, -EINVAL, "etcd_host: \"%.*s\": scheme must be http or https",
				       (int)len, s);
		scheme = tls ? "https://" : "http://";
	}
	if (strlen(scheme) + len + 1 > URL_MAX)
		return set_err(c, -EINVAL, "etcd_host: endpoint too long");
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
	c->rng = (uint64_t)now_ms() ^ ((uint64_t)(uintptr_t)c << 16) ^ 0x9E3779B97F4A7C15ull;
	if (!c->rng)
		c->rng = 1;
	tls = (cfg->cert_file && *cfg->cert_file) || (cfg->ca_file && *cfg->ca_file);
	s = cfg->endpoints ? cfg->endpoints : "";
	for (;;) {
		comma = strchr(s, ',');
		r = add_endpoint(c, s, comma ? (size_t)(comma - s) : strlen(s), tls);
		if (r < 0)
			goto fail;
		if (!comma)
			break;
		s = comma + 1;
	}
	if (!c->n_ep) {
		r = set_err(c, -EINVAL, "etcd_host: no endpoint given");
		goto fail;
	}
	if ((cfg->cert_file && *cfg->cert_file) != (cfg->key_file && *cfg->key_file)) {
		r = set_err(c, -EINVAL, "etcd_cert_file and etcd_key_file go together");
		goto fail;
	}
	r = -ENOMEM;
	c->username = dup_or_null(cfg->username);
	c->password = strdup(cfg->password ? cfg->password : "");
	c->cert = dup_or_null(cfg->cert_file);
	c->key = dup_or_null(cfg->key_file);
	c->ca = dup_or_null(cfg->ca_file);
	if (!c->password || (cfg->username && *cfg->username && !c->username))
		goto fail;
	if (!curl_api()) {
		r = set_err(c, -ENOSYS, "%s", curl_api_error());
		goto fail;
	}
	if (curl_api()->global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto fail;
	c->curl = curl_api()->easy_init();
	if (!c->curl)
		goto fail;
	c->cur = (size_t)(next_rand(c) % c->n_ep);
	*ret = c;
	return 0;
fail:
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
	c->deadline = ms > 0 ? now_ms() + ms : 0;
}

int64_t etcd_client_remaining_ms(const struct etcd_client *c)
{
	return c->deadline ? c->deadline - now_ms() : INT64_MAX;
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
	OK,          /* HTTP 200, *ret holds the answer */
	NEXT,        /* try another endpoint */
	NEXT_TLS,    /* this endpoint's certificate is not trusted: try another one */
	NEXT_DOWN,   /* nobody listens there: try another one */
	REAUTH,      /* the token was refused: fetch a new one and retry here */
	FAIL,        /* a definite error, returned to the caller */
};

/*
 * POST @body to @path on endpoint @e within @timeout_ms.
 * Return: the outcome; with OK *@ret is the parsed reply; with FAIL *@err the errno.
 */
static enum outcome exchange(struct etcd_client *c, struct endpoint *e, const char *path,
			     const char *body, int64_t timeout_ms, struct json_object **ret,
			     int *err)
{
	char url[URL_MAX + 64], auth[1024];
	struct curl_slist *hdr = NULL;
	struct json_object *o = NULL, *v;
	long status = 0;
	CURLcode cc;
	int gcode = 0;
	const char *gmsg = "";
	enum outcome out;

	snprintf(url, sizeof(url), "%s%s", e->url, path);
	c->len = 0;
	hdr = curl_api()->slist_append(hdr, "Content-Type: application/json");
	if (e->token && strcmp(path, "/v3/auth/authenticate") != 0) {
		snprintf(auth, sizeof(auth), "Authorization: %s", e->token);
		hdr = curl_api()->slist_append(hdr, auth);
	}
	if (!hdr) {
		*err = -ENOMEM;
		return FAIL;
	}
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
	curl_api()->easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT_MS, (long)(timeout_ms < 1000 ? timeout_ms
										      : 1000));
	if (c->cert) {
		curl_api()->easy_setopt(c->curl, CURLOPT_SSLCERT, c->cert);
		curl_api()->easy_setopt(c->curl, CURLOPT_SSLKEY, c->key);
	}
	if (c->ca)
		curl_api()->easy_setopt(c->curl, CURLOPT_CAINFO, c->ca);
	cc = curl_api()->easy_perform(c->curl);
	curl_api()->slist_free_all(hdr);
	if (cc != CURLE_OK) {
		set_err(c, -EIO, "%s: %s", e->url, curl_api()->easy_strerror(cc));
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
			set_err(c, -EPROTO, "%s: reply larger than %u bytes", e->url, REPLY_MAX);
			*err = -EPROTO;
			return FAIL;
		default:
			return NEXT;
		}
	}
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
	set_err(c, -EIO, "%s%s: HTTP %ld%s%s", e->url, path, status, *gmsg ? ": " : "", gmsg);
	switch (gcode) {
	case GRPC_UNAVAILABLE:
	case GRPC_DEADLINE_EXCEEDED:
		out = NEXT;
		break;
	case GRPC_UNAUTHENTICATED:
		out = strstr(gmsg, "invalid auth token") ? REAUTH : FAIL;
		*err = -EACCES;
		break;
	case GRPC_PERMISSION_DENIED:
		*err = -EACCES;
		out = FAIL;
		break;
	case GRPC_NOT_FOUND:
		*err = -ENOENT;
		out = FAIL;
		break;
	case GRPC_INVALID_ARGUMENT:
	case GRPC_FAILED_PRECONDITION:
		*err = -EINVAL;
		out = FAIL;
		break;
	case GRPC_RESOURCE_EXHAUSTED:
		*err = -E2BIG;
		out = FAIL;
		break;
	default:
		/* a proxy or a member that is starting up: another member may do better */
		out = status >= 500 || status == 0 ? NEXT : FAIL;
		*err = -EIO;
		break;
	}
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
		set_err(c, -EPROTO, "%s: authenticate gave no token", e->url);
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

/*
 * POST @body to @path, failing over between endpoints until the deadline.
 * Return: 0 with *@ret the reply, or a negative errno (-ETIMEDOUT past the deadline).
 */
static int request(struct etcd_client *c, const char *path, struct json_object *body,
		   struct json_object **ret)
{
	const char *text = json_object_to_json_string_ext(body, JSON_C_TO_STRING_PLAIN);
	int64_t backoff = 25;
	size_t tried = 0, n_untrusted = 0, n_down = 0;
	bool untrusted[ETCD_MAX_ENDPOINTS] = {false}, down[ETCD_MAX_ENDPOINTS] = {false};
	bool reauthed = false;

	c->errmsg[0] = '\0';
	if (!text)
		return -ENOMEM;
	for (;;) {
		int64_t left = c->deadline ? c->deadline - now_ms() : NO_DEADLINE_ATTEMPT_MS;
		int64_t attempt = left / 3 > MIN_ATTEMPT_MS ? left / 3 : MIN_ATTEMPT_MS;
		struct endpoint *e = &c->ep[c->cur];
		enum outcome out = OK;
		int err = -EIO;

		if (left <= 0) {
			char prev[sizeof(c->errmsg)];

			snprintf(prev, sizeof(prev), "%s", c->errmsg);
			return set_err(c, -ETIMEDOUT, "etcd did not answer in time%s%s",
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

			left = c->deadline ? c->deadline - now_ms() : pause;
			sleep_ms(pause < left ? pause : (left > 0 ? left : 0));
			if (backoff < 400)
				backoff *= 2;
		}
	}
}

/* --- JSON building and reading --- */

static int add_bytes(struct json_object *o, const char *name, const char *s, size_t len)
{
	char *b = b64_encode(s, len);

	if (!b)
		return -ENOMEM;
	json_object_object_add(o, name, json_object_new_string(b));
	free(b);
	return 0;
}

static void add_i64(struct json_object *o, const char *name, int64_t v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRId64, v);
	json_object_object_add(o, name, json_object_new_string(buf));
}

/* An int64 field: the gateway writes strings, omits zeros; accept numbers too. */
static int64_t get_i64(struct json_object *o, const char *name)
{
	struct json_object *v;

	if (!o || !json_object_object_get_ex(o, name, &v))
		return 0;
	if (json_object_is_type(v, json_type_string))
		return strtoll(json_object_get_string(v), NULL, 10);
	if (json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	return 0;
}

static bool get_bool(struct json_object *o, const char *name)
{
	struct json_object *v;

	return o && json_object_object_get_ex(o, name, &v) && json_object_get_boolean(v);
}

static int get_bytes(struct json_object *o, const char *name, char **ret, size_t *ret_len)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, name, &v) || !json_object_is_type(v, json_type_string)) {
		*ret = strdup("");
		*ret_len = 0;
		return *ret ? 0 : -ENOMEM;
	}
	return b64_decode(json_object_get_string(v), ret, ret_len);
}

static int64_t header_revision(struct json_object *o)
{
	struct json_object *h;

	return json_object_object_get_ex(o, "header", &h) ? get_i64(h, "revision") : 0;
}

size_t etcd_prefix_end(const char *prefix, size_t len, char *out)
{
	memcpy(out, prefix, len);
	while (len) {
		if ((unsigned char)out[len - 1] < 0xff) {
			out[len - 1]++;
			return len;
		}
		len--;
	}
	out[0] = '\0';
	return 0;
}

static int key_fields(struct json_object *o, const char *key, size_t key_len,
		      const char *range_end, size_t range_end_len)
{
	if (add_bytes(o, "key", key, key_len ? key_len : strlen(key)) < 0)
		return -ENOMEM;
	if (range_end) {
		/* an empty range_end would mean "this key only": use "\0" for "to the end" */
		size_t n = range_end_len ? range_end_len : strlen(range_end);

		if (add_bytes(o, "range_end", n ? range_end : "", n ? n : 1) < 0)
			return -ENOMEM;
	}
	return 0;
}

static int parse_range(struct etcd_client *c, struct json_object *o, struct etcd_range_result *ret)
{
	struct json_object *kvs;
	size_t n = 0;

	memset(ret, 0, sizeof(*ret));
	ret->revision = header_revision(o);
	ret->count = get_i64(o, "count");
	ret->more = get_bool(o, "more");
	if (!json_object_object_get_ex(o, "kvs", &kvs))
		return 0;
	if (!json_object_is_type(kvs, json_type_array))
		return set_err(c, -EPROTO, "range: \"kvs\" is not an array");
	n = json_object_array_length(kvs);
	ret->kvs = calloc(n ? n : 1, sizeof(*ret->kvs));
	if (!ret->kvs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *kv = json_object_array_get_idx(kvs, i);
		struct etcd_kv *d = &ret->kvs[i];
		int r;

		if (!json_object_is_type(kv, json_type_object))
			return set_err(c, -EPROTO, "range: a kv is not an object");
		ret->n_kvs = i + 1;
		r = get_bytes(kv, "key", &d->key, &d->key_len);
		if (r == 0)
			r = get_bytes(kv, "value", &d->value, &d->value_len);
		if (r < 0)
			return r == -EPROTO ? set_err(c, r, "range: bad base64") : r;
		d->create_revision = get_i64(kv, "create_revision");
		d->mod_revision = get_i64(kv, "mod_revision");
		d->version = get_i64(kv, "version");
		d->lease = get_i64(kv, "lease");
	}
	return 0;
}

void etcd_range_result_free(struct etcd_range_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_kvs; i++) {
		free(r->kvs[i].key);
		free(r->kvs[i].value);
	}
	free(r->kvs);
	memset(r, 0, sizeof(*r));
}

/* --- the calls --- */

static struct json_object *range_body(const char *key, size_t key_len, const char *range_end,
				      size_t range_end_len, int64_t limit, bool keys_only)
{
	struct json_object *b = json_object_new_object();

	if (!b || key_fields(b, key, key_len, range_end, range_end_len) < 0) {
		json_object_put(b);
		return NULL;
	}
	if (limit > 0)
		add_i64(b, "limit", limit);
	if (keys_only)
		json_object_object_add(b, "keys_only", json_object_new_boolean(1));
	return b;
}

int etcd_range(struct etcd_client *c, const char *key, size_t key_len, const char *range_end,
	       size_t range_end_len, int64_t limit, bool keys_only, struct etcd_range_result *ret)
{
	struct json_object *b = range_body(key, key_len, range_end, range_end_len, limit, keys_only);
	struct json_object *reply = NULL;
	struct etcd_range_result res;
	int r;

	if (!b)
		return -ENOMEM;
	r = request(c, "/v3/kv/range", b, &reply);
	json_object_put(b);
	if (r < 0)
		return r;
	r = parse_range(c, reply, &res);
	json_object_put(reply);
	if (r < 0) {
		etcd_range_result_free(&res);
		return r;
	}
	*ret = res;
	return 0;
}

static const char *const cmp_targets[] = {"VERSION", "CREATE", "MOD", "VALUE", "LEASE"};
static const char *const cmp_results[] = {"EQUAL", "GREATER", "LESS", "NOT_EQUAL"};

static struct json_object *cmp_json(const struct etcd_cmp *m)
{
	struct json_object *o = json_object_new_object();

	if (!o || key_fields(o, m->key, m->key_len, m->range_end, m->range_end_len) < 0)
		goto fail;
	json_object_object_add(o, "target", json_object_new_string(cmp_targets[m->target]));
	json_object_object_add(o, "result", json_object_new_string(cmp_results[m->result]));
	switch (m->target) {
	case ETCD_CMP_VERSION:
		add_i64(o, "version", m->number);
		break;
	case ETCD_CMP_CREATE:
		add_i64(o, "create_revision", m->number);
		break;
	case ETCD_CMP_MOD:
		add_i64(o, "mod_revision", m->number);
		break;
	case ETCD_CMP_LEASE:
		add_i64(o, "lease", m->number);
		break;
	case ETCD_CMP_VALUE:
		if (add_bytes(o, "value", m->value ? m->value : "",
			      m->value_len ? m->value_len : (m->value ? strlen(m->value) : 0)) < 0)
			goto fail;
		break;
	}
	return o;
fail:
	json_object_put(o);
	return NULL;
}

static struct json_object *op_json(const struct etcd_op *op)
{
	struct json_object *o = json_object_new_object(), *inner = NULL;

	if (!o)
		return NULL;
	switch (op->kind) {
	case ETCD_OP_PUT:
		inner = json_object_new_object();
		if (!inner || key_fields(inner, op->key, op->key_len, NULL, 0) < 0 ||
		    add_bytes(inner, "value", op->value ? op->value : "",
			      op->value_len ? op->value_len : (op->value ? strlen(op->value) : 0)) <
			    0)
			goto fail;
		if (op->lease)
			add_i64(inner, "lease", op->lease);
		json_object_object_add(o, "request_put", inner);
		break;
	case ETCD_OP_DELETE:
		inner = json_object_new_object();
		if (!inner || key_fields(inner, op->key, op->key_len, op->range_end,
					 op->range_end_len) < 0)
			goto fail;
		json_object_object_add(o, "request_delete_range", inner);
		break;
	case ETCD_OP_RANGE:
		inner = range_body(op->key, op->key_len, op->range_end, op->range_end_len, 0, false);
		if (!inner)
			goto fail;
		json_object_object_add(o, "request_range", inner);
		break;
	}
	return o;
fail:
	json_object_put(inner);
	json_object_put(o);
	return NULL;
}

static int add_ops(struct json_object *b, const char *name, const struct etcd_op *ops, size_t n)
{
	struct json_object *a = json_object_new_array();

	if (!a)
		return -ENOMEM;
	json_object_object_add(b, name, a);
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = op_json(&ops[i]);

		if (!o)
			return -ENOMEM;
		json_object_array_add(a, o);
	}
	return 0;
}

int etcd_txn(struct etcd_client *c, const struct etcd_cmp *cmp, size_t n_cmp,
	     const struct etcd_op *success, size_t n_success, const struct etcd_op *failure,
	     size_t n_failure, struct etcd_txn_result *ret)
{
	struct json_object *b = json_object_new_object(), *a, *reply = NULL, *resps;
	struct etcd_txn_result res = {0};
	int r = -ENOMEM;

	if (!b || !(a = json_object_new_array()))
		goto out;
	json_object_object_add(b, "compare", a);
	for (size_t i = 0; i < n_cmp; i++) {
		struct json_object *o = cmp_json(&cmp[i]);

		if (!o)
			goto out;
		json_object_array_add(a, o);
	}
	if (add_ops(b, "success", success, n_success) < 0 ||
	    add_ops(b, "failure", failure, n_failure) < 0)
		goto out;
	r = request(c, "/v3/kv/txn", b, &reply);
	if (r < 0)
		goto out;
	res.succeeded = get_bool(reply, "succeeded");
	res.revision = header_revision(reply);
	if (json_object_object_get_ex(reply, "responses", &resps) &&
	    json_object_is_type(resps, json_type_array)) {
		size_t n = json_object_array_length(resps);

		res.ranges = calloc(n ? n : 1, sizeof(*res.ranges));
		r = -ENOMEM;
		if (!res.ranges)
			goto out;
		for (size_t i = 0; i < n; i++) {
			struct json_object *rr, *one = json_object_array_get_idx(resps, i);

			if (!json_object_object_get_ex(one, "response_range", &rr))
				continue;
			r = parse_range(c, rr, &res.ranges[res.n_ranges]);
			res.n_ranges++;
			if (r < 0)
				goto out;
		}
	}
	r = 0;
	*ret = res;
	memset(&res, 0, sizeof(res));
out:
	etcd_txn_result_free(&res);
	json_object_put(reply);
	json_object_put(b);
	return r;
}

void etcd_txn_result_free(struct etcd_txn_result *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->n_ranges; i++)
		etcd_range_result_free(&r->ranges[i]);
	free(r->ranges);
	memset(r, 0, sizeof(*r));
}

int64_t etcd_delete_range(struct etcd_client *c, const char *key, size_t key_len,
			  const char *range_end, size_t range_end_len)
{
	struct json_object *b = json_object_new_object(), *reply = NULL;
	int64_t r;

	if (!b || key_fields(b, key, key_len, range_end, range_end_len) < 0) {
		json_object_put(b);
		return -ENOMEM;
	}
	r = request(c, "/v3/kv/deleterange", b, &reply);
	json_object_put(b);
	if (r < 0)
		return r;
	r = get_i64(reply, "deleted");
	json_object_put(reply);
	return r;
}

int etcd_lease_grant(struct etcd_client *c, int64_t ttl, int64_t *ret_id, int64_t *ret_ttl)
{
	struct json_object *b = json_object_new_object(), *reply = NULL;
	int64_t id;
	int r;

	if (!b)
		return -ENOMEM;
	add_i64(b, "TTL", ttl);
	r = request(c, "/v3/lease/grant", b, &reply);
	json_object_put(b);
	if (r < 0)
		return r;
	id = get_i64(reply, "ID");
	if (ret_ttl)
		*ret_ttl = get_i64(reply, "TTL");
	json_object_put(reply);
	if (!id)
		return set_err(c, -EPROTO, "lease grant gave no ID");
	*ret_id = id;
	return 0;
}

int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ret_ttl)
{
	struct json_object *b = json_object_new_object(), *reply = NULL, *res;
	int64_t ttl = 0;
	int r;

	if (!b)
		return -ENOMEM;
	add_i64(b, "ID", id);
	/* a stream in gRPC; through the gateway one request gives one {"result": …} */
	r = request(c, "/v3/lease/keepalive", b, &reply);
	json_object_put(b);
	if (r < 0)
		return r;
	if (json_object_object_get_ex(reply, "result", &res))
		ttl = get_i64(res, "TTL");
	json_object_put(reply);
	if (ttl <= 0)
		return set_err(c, -ENOENT, "lease %" PRIx64 " has expired", (uint64_t)id);
	*ret_ttl = ttl;
	return 0;
}

int etcd_lease_revoke(struct etcd_client *c, int64_t id)
{
	struct json_object *b = json_object_new_object(), *reply = NULL;
	int r;

	if (!b)
		return -ENOMEM;
	add_i64(b, "ID", id);
	r = request(c, "/v3/lease/revoke", b, &reply);
	json_object_put(b);
	json_object_put(reply);
	return r == -ENOENT ? 0 : r;
}
