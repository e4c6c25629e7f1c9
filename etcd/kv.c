// SPDX-License-Identifier: Apache-2.0
/*
 * The etcd v3 KV, txn and lease calls: each builds the JSON body the gateway expects (keys and
 * values base64, int64 fields as strings), sends it through etcd_request() (etcd/transport.c:
 * endpoints, failover, authentication) and decodes the answer into the structs of etcd/kv.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/kv.h"
#include "etcd/transport_priv.h"

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

static int key_fields(struct json_object *o, const char *key, size_t key_len, const char *range_end,
		      size_t range_end_len)
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
		return etcd_set_err(c, -EPROTO, "range: \"kvs\" is not an array");
	n = json_object_array_length(kvs);
	ret->kvs = calloc(n ? n : 1, sizeof(*ret->kvs));
	if (!ret->kvs)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct json_object *kv = json_object_array_get_idx(kvs, i);
		struct etcd_kv *d = &ret->kvs[i];
		int r;

		if (!json_object_is_type(kv, json_type_object))
			return etcd_set_err(c, -EPROTO, "range: a kv is not an object");
		ret->n_kvs = i + 1;
		r = get_bytes(kv, "key", &d->key, &d->key_len);
		if (r == 0)
			r = get_bytes(kv, "value", &d->value, &d->value_len);
		if (r < 0)
			return r == -EPROTO ? etcd_set_err(c, r, "range: bad base64") : r;
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
	struct json_object *b =
		range_body(key, key_len, range_end, range_end_len, limit, keys_only);
	struct json_object *reply = NULL;
	struct etcd_range_result res;
	int r;

	if (!b)
		return -ENOMEM;
	r = etcd_request(c, "/v3/kv/range", b, &reply);
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

static const char *const cmp_targets[] = { "VERSION", "CREATE", "MOD", "VALUE", "LEASE" };
static const char *const cmp_results[] = { "EQUAL", "GREATER", "LESS", "NOT_EQUAL" };
/* the field that holds the number a target other than VALUE compares */
static const char *const cmp_numbers[] = { [ETCD_CMP_VERSION] = "version",
					   [ETCD_CMP_CREATE] = "create_revision",
					   [ETCD_CMP_MOD] = "mod_revision",
					   [ETCD_CMP_LEASE] = "lease" };

static struct json_object *cmp_json(const struct etcd_cmp *m)
{
	struct json_object *o = json_object_new_object();

	if (!o || key_fields(o, m->key, m->key_len, m->range_end, m->range_end_len) < 0)
		goto out;
	json_object_object_add(o, "target", json_object_new_string(cmp_targets[m->target]));
	json_object_object_add(o, "result", json_object_new_string(cmp_results[m->result]));
	if (m->target != ETCD_CMP_VALUE) {
		add_i64(o, cmp_numbers[m->target], m->number);
		return o;
	}
	if (add_bytes(o, "value", m->value ? m->value : "",
		      m->value_len ? m->value_len : (m->value ? strlen(m->value) : 0)) < 0)
		goto out;
	return o;
out:
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
			goto out;
		if (op->lease)
			add_i64(inner, "lease", op->lease);
		json_object_object_add(o, "request_put", inner);
		break;
	case ETCD_OP_DELETE:
		inner = json_object_new_object();
		if (!inner ||
		    key_fields(inner, op->key, op->key_len, op->range_end, op->range_end_len) < 0)
			goto out;
		json_object_object_add(o, "request_delete_range", inner);
		break;
	case ETCD_OP_RANGE:
		inner = range_body(op->key, op->key_len, op->range_end, op->range_end_len, 0,
				   false);
		if (!inner)
			goto out;
		json_object_object_add(o, "request_range", inner);
		break;
	}
	return o;
out:
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
	struct etcd_txn_result res = { 0 };
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
	r = etcd_request(c, "/v3/kv/txn", b, &reply);
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
	r = etcd_request(c, "/v3/kv/deleterange", b, &reply);
	json_object_put(b);
	if (r < 0)
		return r;
	r = get_i64(reply, "deleted");
	json_object_put(reply);
	return r;
}

/* A lease request to @path with the one field @name = @v. Return: etcd_request()'s. */
static int lease_request(struct etcd_client *c, const char *path, const char *name, int64_t v,
			 struct json_object **reply)
{
	struct json_object *b = json_object_new_object();
	int r;

	if (!b)
		return -ENOMEM;
	add_i64(b, name, v);
	r = etcd_request(c, path, b, reply);
	json_object_put(b);
	return r;
}

int etcd_lease_grant(struct etcd_client *c, int64_t ttl, int64_t *ret_id, int64_t *ret_ttl)
{
	struct json_object *reply = NULL;
	int r = lease_request(c, "/v3/lease/grant", "TTL", ttl, &reply);
	int64_t id;

	if (r < 0)
		return r;
	id = get_i64(reply, "ID");
	if (ret_ttl)
		*ret_ttl = get_i64(reply, "TTL");
	json_object_put(reply);
	if (!id)
		return etcd_set_err(c, -EPROTO, "lease grant gave no ID");
	*ret_id = id;
	return 0;
}

int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ret_ttl)
{
	struct json_object *reply = NULL, *res;
	int64_t ttl = 0;
	/* a stream in gRPC; through the gateway one request gives one {"result": …} */
	int r = lease_request(c, "/v3/lease/keepalive", "ID", id, &reply);

	if (r < 0)
		return r;
	if (json_object_object_get_ex(reply, "result", &res))
		ttl = get_i64(res, "TTL");
	json_object_put(reply);
	if (ttl <= 0)
		return etcd_set_err(c, -ENOENT, "lease %" PRIx64 " has expired", (uint64_t)id);
	*ret_ttl = ttl;
	return 0;
}

int etcd_lease_revoke(struct etcd_client *c, int64_t id)
{
	struct json_object *reply = NULL;
	int r = lease_request(c, "/v3/lease/revoke", "ID", id, &reply);

	json_object_put(reply);
	return r == -ENOENT ? 0 : r;
}
