/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd v3 calls mignet needs: range, txn (compare + put/delete/range), delete-range and
 * lease grant/keepalive/revoke. Keys and values are byte strings (base64 on the wire, done
 * here); int64 fields travel as JSON strings, as the gateway writes them. Each call goes
 * through the client of etcd/client.h, with its failover and deadline.
 */
#ifndef MIGNET_ETCD_KV_H
#define MIGNET_ETCD_KV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "etcd/client.h"

/* One key-value as a range returns it. key and value are NUL-terminated copies. */
struct etcd_kv {
	char *key;
	size_t key_len;
	char *value;
	size_t value_len;
	int64_t create_revision;
	int64_t mod_revision;
	int64_t version;
	int64_t lease;
};

struct etcd_range_result {
	struct etcd_kv *kvs;
	size_t n_kvs;
	int64_t count;	  /* keys in the range (may exceed n_kvs with a limit) */
	int64_t revision; /* the store revision the read saw */
	bool more;
};

enum etcd_cmp_target {
	ETCD_CMP_VERSION,
	ETCD_CMP_CREATE,
	ETCD_CMP_MOD,
	ETCD_CMP_VALUE,
	ETCD_CMP_LEASE,
};

enum etcd_cmp_result {
	ETCD_EQUAL,
	ETCD_GREATER,
	ETCD_LESS,
	ETCD_NOT_EQUAL,
};

/* One compare of a txn; with range_end set, every key of [key, range_end) must satisfy it. */
struct etcd_cmp {
	const char *key;
	size_t key_len; /* 0: strlen(key) */
	const char *range_end;
	size_t range_end_len;
	enum etcd_cmp_target target;
	enum etcd_cmp_result result;
	int64_t number; /* version, revision or lease ID */
	const char *value;
	size_t value_len;
};

enum etcd_op_kind {
	ETCD_OP_PUT,
	ETCD_OP_DELETE,
	ETCD_OP_RANGE,
};

/* One operation of a txn branch. */
struct etcd_op {
	enum etcd_op_kind kind;
	const char *key;
	size_t key_len;	       /* 0: strlen(key) */
	const char *range_end; /* DELETE, RANGE */
	size_t range_end_len;
	const char *value; /* PUT */
	size_t value_len;  /* 0: strlen(value) when value is set */
	int64_t lease;	   /* PUT: 0 for none */
};

/* What a txn answered: which branch ran, and the results of its RANGE operations in order. */
struct etcd_txn_result {
	bool succeeded;
	int64_t revision;
	struct etcd_range_result *ranges;
	size_t n_ranges;
};

/**
 * etcd_range() - read [@key, @range_end), or @key alone when @range_end is NULL
 * @limit: at most this many keys (0: no limit)
 * @keys_only: leave values out
 * Return: 0 with *@ret filled (free with etcd_range_result_free()), or a negative errno:
 * -ETIMEDOUT past the deadline, -EACCES refused by etcd, -EPROTO for a malformed answer,
 * -EIO for any other etcd error, -ENOMEM.
 */
int etcd_range(struct etcd_client *c, const char *key, size_t key_len, const char *range_end,
	       size_t range_end_len, int64_t limit, bool keys_only, struct etcd_range_result *ret);

/** etcd_range_result_free() - free what a range filled; accepts a zeroed struct. */
void etcd_range_result_free(struct etcd_range_result *r);

/**
 * etcd_txn() - if every compare holds, run @success, else @failure, atomically
 * Return: 0 with *@ret filled (free with etcd_txn_result_free()), or a negative errno as for
 * etcd_range(). A timeout after the request was sent leaves the outcome unknown; callers
 * make their txns safe to repeat (a compare on a revision) and read back.
 */
int etcd_txn(struct etcd_client *c, const struct etcd_cmp *cmp, size_t n_cmp,
	     const struct etcd_op *success, size_t n_success, const struct etcd_op *failure,
	     size_t n_failure, struct etcd_txn_result *ret);

/** etcd_txn_result_free() - free what a txn filled; accepts a zeroed struct. */
void etcd_txn_result_free(struct etcd_txn_result *r);

/**
 * etcd_delete_range() - delete [@key, @range_end), or @key alone
 * Return: the number of keys deleted (>= 0), or a negative errno.
 */
int64_t etcd_delete_range(struct etcd_client *c, const char *key, size_t key_len,
			  const char *range_end, size_t range_end_len);

/**
 * etcd_lease_grant() - a new lease of @ttl seconds
 * Return: 0 with *@ret_id set (and *@ret_ttl, may be NULL), or a negative errno.
 */
int etcd_lease_grant(struct etcd_client *c, int64_t ttl, int64_t *ret_id, int64_t *ret_ttl);

/**
 * etcd_lease_keepalive() - renew lease @id once
 * Return: 0 with *@ret_ttl set to the new TTL, or -ENOENT when the lease has expired or was
 * revoked, or another negative errno.
 */
int etcd_lease_keepalive(struct etcd_client *c, int64_t id, int64_t *ret_ttl);

/**
 * etcd_lease_revoke() - revoke lease @id, deleting every key attached to it
 * Return: 0 (also when the lease was already gone), or a negative errno.
 */
int etcd_lease_revoke(struct etcd_client *c, int64_t id);

/**
 * etcd_prefix_end() - the range_end that selects every key starting with @prefix
 * @out: at least @len bytes
 * Return: the length of the range end (0 for "to the end of the keyspace", written as "\0").
 */
size_t etcd_prefix_end(const char *prefix, size_t len, char *out);

#endif
