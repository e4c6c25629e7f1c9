// SPDX-License-Identifier: Apache-2.0
/*
 * The etcd store.
 *
 * Theory of operation
 *
 * The keys mirror the file store, one key per file (docs/etcd.md):
 *
 *   /mignet/whereabouts/<network>/pools/<pool>             "10.1.0.0/16"  pool registry
 *   /mignet/whereabouts/<network>/<pool>/gen               bumped by every commit to the pool
 *   /mignet/whereabouts/<network>/<pool>/ip/<address>      the allocation: the file store's
 *                                                          one-line JSON record
 *   /mignet/whereabouts/<network>/<pool>/ctr/<id>:<ifname>  "<address>"   index for DEL, CHECK
 *   /mignet/whereabouts/<network>/<pool>/pod/<ns%2Fname>:<ifname>  "<address>"  idempotent ADD
 *   /mignet/whereabouts/<network>/<pool>/next              "<address> <digest>"  search hint
 *
 * Concurrency is optimistic. lock() takes no lock: it starts a session. Reads go to etcd
 * (linearizable) the first time and are cached; the first read in a pool also reads the
 * pool's "gen" key and its registry entry, in one txn. Writes are buffered. commit() sends
 * one txn: "if the gen of every pool this session read is still what we saw (and, when the
 * pool list was read, no pool was registered since), write everything and bump the gens of
 * the pools written". Any commit that changes a pool changes its gen, so a session that
 * committed saw exactly the state it changed: the allocator's decisions hold as if it had
 * held a lock. If the compare fails, commit() reports code 11 and the store's retry() tells
 * the allocator to run the verb again from lock(), after a jittered exponential back-off
 * (10 ms doubling to 640 ms). The whole verb, retries included, is bounded by the deadline
 * set when it began (lock_timeout_ms); past it, code 11.
 *
 * Nothing is half-written: a txn is atomic, and the buffered writes of a verb that fails
 * (commit() called without an error struct, which the allocator does only to clean up after
 * a failure) are dropped. A txn whose answer is lost (timeout after sending) may have been
 * applied; it is safe to repeat (the gens compare fails and the verb re-runs and finds the
 * allocation of its own identity), and an ADD that reported code 11 is undone by the DEL the
 * runtime sends after a failed ADD. A verb that writes nothing still commits a bump of the
 * gens it read, so that a txn of a process that died or gave up, landing late, cannot apply
 * after a later verb has answered (es_commit()).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cni/json.h"
#include "ipam/etcd_store.h"
#include "ipam/record.h"

#define KEY_MAX 4096
#define SUFFIX_MAX 2048
#define MAX_POOLS 64
#define BACKOFF_MIN_MS 10
#define BACKOFF_MAX_MS 640

struct entry {
	char *key;
	char *value; /* NULL: absent (or deleted by this session) */
	bool dirty;
};

struct pool_state {
	char name[IPAM_CIDR_MAX];
	int64_t gen_mod; /* mod_revision of <pool>/gen when first read, 0: absent */
	bool registered; /* pools/<pool> exists */
	bool dirty;
};

struct etcd_store {
	struct ipam_store base;
	struct etcd_client *etcd;
	int64_t timeout_ms;
	char prefix[1024]; /* "/mignet/whereabouts/<network>/" */
	struct entry *e;
	size_t n_e, cap_e;
	struct pool_state pools[MAX_POOLS];
	size_t n_pools;
	int64_t registry_rev; /* revision at which pools/ was listed, 0: not listed */
	bool in_verb, conflict;
	int64_t backoff_ms;
	uint64_t rng;
};

static struct etcd_store *es_of(struct ipam_store *s)
{
	return (struct etcd_store *)s;
}

/* Map a client error onto a CNI error. */
static int etcd_err(struct etcd_store *es, int r, const char *what, struct cni_error *err)
{
	int code = r == -ETIMEDOUT ? CNI_ERR_TRY_LATER : CNI_ERR_IO;

	if (r == -ENOMEM)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	if (r == -ETIMEDOUT)
		cni_err(err, code, "etcd store: %s: no answer within %" PRId64 " ms", what,
			es->timeout_ms);
	else
		cni_err(err, code, "etcd store: %s failed", what);
	if (err)
		cni_err_details(err, "%s", etcd_client_errmsg(es->etcd));
	return -1;
}

/* --- the session cache --- */

static struct entry *entry_find(struct etcd_store *es, const char *key)
{
	for (size_t i = 0; i < es->n_e; i++)
		if (strcmp(es->e[i].key, key) == 0)
			return &es->e[i];
	return NULL;
}

static struct entry *entry_set(struct etcd_store *es, const char *key, const char *value,
			       bool dirty)
{
	struct entry *e = entry_find(es, key);
	char *v = value ? strdup(value) : NULL;

	if (value && !v)
		return NULL;
	if (!e) {
		if (es->n_e == es->cap_e) {
			size_t cap = es->cap_e ? 2 * es->cap_e : 16;
			struct entry *grown = realloc(es->e, cap * sizeof(*grown));

			if (!grown) {
				free(v);
				return NULL;
			}
			es->e = grown;
			es->cap_e = cap;
		}
		e = &es->e[es->n_e];
		e->key = strdup(key);
		if (!e->key) {
			free(v);
			return NULL;
		}
		es->n_e++;
		e->value = NULL;
		e->dirty = false;
	}
	free(e->value);
	e->value = v;
	e->dirty = e->dirty || dirty;
	return e;
}

static void session_reset(struct etcd_store *es)
{
	for (size_t i = 0; i < es->n_e; i++) {
		free(es->e[i].key);
		free(es->e[i].value);
	}
	es->n_e = 0;
	es->n_pools = 0;
	es->registry_rev = 0;
}

static void key_of(struct etcd_store *es, const char *pool, const char *suffix, char *out)
{
	snprintf(out, KEY_MAX, "%s%s/%s", es->prefix, pool, suffix);
}

static struct pool_state *pool_find(struct etcd_store *es, const char *pool)
{
	for (size_t i = 0; i < es->n_pools; i++)
		if (strcmp(es->pools[i].name, pool) == 0)
			return &es->pools[i];
	return NULL;
}

/*
 * Read @suffix of @pool into *@ret (NULL when absent), through the cache. The first read in
 * a pool also reads the pool's gen and registry entry, in the same txn.
 */
static int get(struct etcd_store *es, const char *pool, const char *suffix, const char **ret,
	       struct cni_error *err)
{
	char key[KEY_MAX], gen[KEY_MAX], reg[KEY_MAX];
	struct pool_state *p = pool_find(es, pool);
	struct entry *e;
	int r;

	if (!es->in_verb)
		return cni_err(err, CNI_ERR_INTERNAL, "etcd store: used outside lock()");
	key_of(es, pool, suffix, key);
	e = entry_find(es, key);
	if (e) {
		*ret = e->value;
		return 0;
	}
	if (!p) {
		struct etcd_op ops[3] = {
			{ .kind = ETCD_OP_RANGE, .key = gen },
			{ .kind = ETCD_OP_RANGE, .key = reg },
			{ .kind = ETCD_OP_RANGE, .key = key },
		};
		struct etcd_txn_result tr = { 0 };

		if (es->n_pools == MAX_POOLS)
			return cni_err(err, CNI_ERR_INTERNAL,
				       "etcd store: too many pools in one verb");
		key_of(es, pool, "gen", gen);
		snprintf(reg, sizeof(reg), "%spools/%s", es->prefix, pool);
		r = etcd_txn(es->etcd, NULL, 0, ops, 3, NULL, 0, &tr);
		if (r < 0)
			return etcd_err(es, r, "read", err);
		if (tr.n_ranges != 3) {
			etcd_txn_result_free(&tr);
			return cni_err(err, CNI_ERR_IO, "etcd store: short txn answer");
		}
		p = &es->pools[es->n_pools++];
		snprintf(p->name, sizeof(p->name), "%s", pool);
		p->gen_mod = tr.ranges[0].n_kvs ? tr.ranges[0].kvs[0].mod_revision : 0;
		p->registered = tr.ranges[1].n_kvs > 0;
		p->dirty = false;
		e = entry_set(es, key, tr.ranges[2].n_kvs ? tr.ranges[2].kvs[0].value : NULL,
			      false);
		etcd_txn_result_free(&tr);
	} else {
		struct etcd_range_result rr = { 0 };

		r = etcd_range(es->etcd, key, 0, NULL, 0, 0, false, &rr);
		if (r < 0)
			return etcd_err(es, r, "read", err);
		e = entry_set(es, key, rr.n_kvs ? rr.kvs[0].value : NULL, false);
		etcd_range_result_free(&rr);
	}
	if (!e)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	*ret = e->value;
	return 0;
}

/* Buffer a write (@value NULL: delete). The pool must have been read in this session. */
static int set(struct etcd_store *es, const char *pool, const char *suffix, const char *value,
	       struct cni_error *err)
{
	char key[KEY_MAX];
	struct pool_state *p;
	const char *cur;

	/* make sure the pool's gen is known before anything of it is written */
	if (get(es, pool, suffix, &cur, err) < 0)
		return -1;
	p = pool_find(es, pool);
	key_of(es, pool, suffix, key);
	if (!entry_set(es, key, value, true))
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	p->dirty = true;
	return 0;
}

static void index_suffix(char kind, const char *key, const char *ifname, char *out, size_t size)
{
	char enc[3 * IPAM_PODREF_MAX + 1];

	ipam_pct_encode(key, enc, sizeof(enc));
	snprintf(out, size, "%s/%s:%s", kind == 'p' ? "pod" : "ctr", enc, ifname);
}

static void ip_suffix(int family, struct ipam_u128 ip, char *out, size_t size)
{
	char addr[INET6_ADDRSTRLEN];

	snprintf(out, size, "ip/%s", ipam_addr_format(family, ip, addr, sizeof(addr)));
}

/* Follow index @suffix to its record. Return: 1 with @ret, 0, -1. */
static int find(struct etcd_store *es, const char *pool, const char *suffix, struct ipam_alloc *ret,
		struct cni_error *err)
{
	char rec_suffix[INET6_ADDRSTRLEN + 8];
	const char *addr, *text;

	if (get(es, pool, suffix, &addr, err) < 0)
		return -1;
	if (!addr || strlen(addr) >= INET6_ADDRSTRLEN)
		return 0;
	snprintf(rec_suffix, sizeof(rec_suffix), "ip/%s", addr);
	if (get(es, pool, rec_suffix, &text, err) < 0)
		return -1;
	return text && ipam_record_parse(text, addr, ret) ? 1 : 0;
}

/* --- operations --- */

static int es_lock(struct ipam_store *s, const char *network, struct cni_error *err)
{
	struct etcd_store *es = es_of(s);
	char enc[3 * 256 + 1];

	if (!es->conflict) {
		/* a new verb: its bound starts now; a retry keeps the verb's deadline */
		etcd_client_set_deadline(es->etcd, es->timeout_ms);
		es->backoff_ms = BACKOFF_MIN_MS;
	}
	es->conflict = false;
	session_reset(es);
	ipam_pct_encode(ipam_network_dir(network), enc, sizeof(enc));
	snprintf(es->prefix, sizeof(es->prefix), "%s%s/", IPAM_ETCD_PREFIX, enc);
	es->in_verb = true;
	return 0;
}

static void es_unlock(struct ipam_store *s)
{
	struct etcd_store *es = es_of(s);

	session_reset(es);
	es->in_verb = false;
}

/* The txn of a commit: its compares, its operations and the keys they point at. */
struct commit_txn {
	struct etcd_cmp cmp[MAX_POOLS + 1];
	struct etcd_op *ops;
	char (*keys)[KEY_MAX];
	char gen_value[40], reg_prefix[KEY_MAX], reg_end[KEY_MAX];
	size_t n_cmp, n_ops, n_keys;
};

/* The gen compare of every pool read, the gen bumps, the registrations of new pools. */
static int build_pools(struct etcd_store *es, bool fence, struct commit_txn *t,
		       struct cni_error *err)
{
	for (size_t i = 0; i < es->n_pools; i++) {
		struct pool_state *p = &es->pools[i];

		/* every pool this session read, written or not: its decisions rest on them */
		key_of(es, p->name, "gen", t->keys[t->n_keys]);
		t->cmp[t->n_cmp++] = (struct etcd_cmp){ .key = t->keys[t->n_keys],
							.target = ETCD_CMP_MOD,
							.result = ETCD_EQUAL,
							.number = p->gen_mod };
		if (p->dirty || fence) {
			t->ops[t->n_ops++] = (struct etcd_op){ .kind = ETCD_OP_PUT,
							       .key = t->keys[t->n_keys],
							       .value = t->gen_value };
		}
		t->n_keys++;
		if (p->dirty && !p->registered) {
			int fam;
			struct ipam_u128 net;
			unsigned int len;
			char addr[INET6_ADDRSTRLEN], *cidr = t->keys[t->n_keys] + KEY_MAX / 2;

			snprintf(t->keys[t->n_keys], KEY_MAX / 2, "%spools/%s", es->prefix,
				 p->name);
			if (ipam_pool_name_parse(p->name, &fam, &net, &len) < 0)
				return cni_err(err, CNI_ERR_INTERNAL,
					       "etcd store: bad pool name %s", p->name);
			snprintf(cidr, KEY_MAX / 2, "%s/%u",
				 ipam_addr_format(fam, net, addr, sizeof(addr)), len);
			t->ops[t->n_ops++] = (struct etcd_op){ .kind = ETCD_OP_PUT,
							       .key = t->keys[t->n_keys],
							       .value = cidr };
			t->n_keys++;
		}
	}
	return 0;
}

/* The whole txn of a commit into @t (whose ops and keys are allocated). Return: 0 or -1. */
static int build_txn(struct etcd_store *es, bool fence, struct commit_txn *t, struct cni_error *err)
{
	snprintf(t->gen_value, sizeof(t->gen_value), "%016" PRIx64,
		 es->rng++ ^ (uint64_t)time(NULL));
	if (build_pools(es, fence, t, err) < 0)
		return -1;
	if (es->registry_rev) {
		size_t n = (size_t)snprintf(t->reg_prefix, sizeof(t->reg_prefix), "%spools/",
					    es->prefix);
		size_t end_len = etcd_prefix_end(t->reg_prefix, n, t->reg_end);

		t->cmp[t->n_cmp++] = (struct etcd_cmp){ .key = t->reg_prefix,
							.range_end = t->reg_end,
							.range_end_len = end_len,
							.target = ETCD_CMP_MOD,
							.result = ETCD_LESS,
							.number = es->registry_rev + 1 };
	}
	for (size_t i = 0; i < es->n_e; i++) {
		struct entry *e = &es->e[i];

		if (!e->dirty)
			continue;
		t->ops[t->n_ops++] =
			e->value ? (struct etcd_op){ .kind = ETCD_OP_PUT,
						     .key = e->key,
						     .value = e->value,
						     .value_len = strlen(e->value) }
				 : (struct etcd_op){ .kind = ETCD_OP_DELETE, .key = e->key };
	}
	return 0;
}

static bool is_hint_key(const char *key)
{
	size_t n = strlen(key);

	return n >= 5 && strcmp(key + n - 5, "/next") == 0;
}

/*
 * etcd refused the txn for its space quota (alarm NOSPACE): it then takes no put at all, only
 * deletes. A verb that only frees (DEL, GC, release) still runs, as a txn of its deletes
 * under the same compares: without the gen bumps (under the alarm nothing else can write, so
 * no decision another verb rests on can change) and without lowering hints (a hint too high
 * only delays reuse until the search wraps round). A verb that would write, an ADD, fails
 * saying why. A verb that writes nothing answers without its fence (it cannot be written).
 * Return: 0 (committed, or nothing to commit), 1 (compare failed), -1 with @err.
 */
static int commit_deletes_only(struct etcd_store *es, struct commit_txn *t, bool fence,
			       struct etcd_txn_result *tr, struct cni_error *err)
{
	size_t n = 0;
	int r;

	if (fence)
		return 0;
	for (size_t i = 0; i < es->n_e; i++)
		if (es->e[i].dirty && es->e[i].value && !is_hint_key(es->e[i].key))
			return cni_err(err, CNI_ERR_IO,
				       "etcd store: etcd is out of space (its quota, alarm "
				       "NOSPACE): nothing can be allocated until it is compacted, "
				       "defragmented and the alarm disarmed; DEL still frees");
	for (size_t i = 0; i < t->n_ops; i++)
		if (t->ops[i].kind == ETCD_OP_DELETE)
			t->ops[n++] = t->ops[i];
	t->n_ops = n;
	etcd_txn_result_free(tr);
	memset(tr, 0, sizeof(*tr));
	r = etcd_txn(es->etcd, t->cmp, t->n_cmp, t->ops, t->n_ops, NULL, 0, tr);
	if (r < 0)
		return etcd_err(es, r, "commit", err);
	return tr->succeeded ? 0 : 1;
}

static int es_commit(struct ipam_store *s, struct cni_error *err)
{
	struct etcd_store *es = es_of(s);
	struct commit_txn t = { 0 };
	struct etcd_txn_result tr = { 0 };
	size_t n_dirty = 0;
	bool fence;
	int r, rc = -1;

	/* no error struct: the allocator is cleaning up after a failure; write nothing */
	if (!err) {
		session_reset(es);
		return 0;
	}
	for (size_t i = 0; i < es->n_e; i++)
		n_dirty += es->e[i].dirty;
	/*
	 * A verb that changes nothing (a repeated ADD, a DEL of what is not held) still bumps
	 * the gen of every pool it read. A txn sent by a process that died or gave up at its
	 * deadline can reach etcd after this verb (slow network, proxy, raft replication); it
	 * compared the same gens, so now it fails whichever of the two lands second. Without
	 * this, a DEL landing after the same container's repeated ADD freed the address that
	 * ADD had just returned (handed to the next container: a duplicate), and an ADD landing
	 * after the runtime's DEL left an allocation behind.
	 */
	fence = n_dirty == 0;
	if (fence && !es->n_pools)
		return 0;
	t.ops = calloc(n_dirty + 2 * es->n_pools, sizeof(*t.ops));
	t.keys = calloc(2 * es->n_pools + 1, sizeof(*t.keys));
	if (!t.ops || !t.keys) {
		cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (build_txn(es, fence, &t, err) < 0)
		goto out;
	r = etcd_txn(es->etcd, t.cmp, t.n_cmp, t.ops, t.n_ops, NULL, 0, &tr);
	if (r == -E2BIG && strstr(etcd_client_errmsg(es->etcd), "space exceeded")) {
		r = commit_deletes_only(es, &t, fence, &tr, err);
		if (r < 0)
			goto out;
		tr.succeeded = r == 0;
	} else if (r < 0) {
		etcd_err(es, r, "commit", err);
		goto out;
	}
	if (!tr.succeeded) {
		es->conflict = true;
		cni_err(err, CNI_ERR_TRY_LATER,
			"etcd store: another writer changed the pool; no answer within %" PRId64
			" ms",
			es->timeout_ms);
		goto out;
	}
	for (size_t i = 0; i < es->n_e; i++)
		es->e[i].dirty = false;
	rc = 0;
out:
	etcd_txn_result_free(&tr);
	free(t.ops);
	free(t.keys);
	return rc;
}

static bool es_retry(struct ipam_store *s)
{
	struct etcd_store *es = es_of(s);
	int64_t left = etcd_client_remaining_ms(es->etcd), pause;

	if (!es->conflict)
		return false;
	es->rng ^= es->rng << 13;
	es->rng ^= es->rng >> 7;
	es->rng ^= es->rng << 17;
	/* "equal jitter": half the back-off fixed, half random */
	pause = es->backoff_ms / 2 + (int64_t)(es->rng % (uint64_t)(es->backoff_ms / 2 + 1));
	if (pause >= left) {
		es->conflict = false;
		return false;
	}
	usleep((useconds_t)pause * 1000);
	if (es->backoff_ms < BACKOFF_MAX_MS)
		es->backoff_ms *= 2;
	return true;
}

/* The allocation the index @by of @key names, when it is @key's. */
static int es_find(struct ipam_store *s, const char *pool, enum ipam_index by, const char *key,
		   const char *ifname, struct ipam_alloc *ret, struct cni_error *err)
{
	char suffix[SUFFIX_MAX];
	struct ipam_alloc a;
	int r;

	index_suffix((char)by, key, ifname, suffix, sizeof(suffix));
	r = find(es_of(s), pool, suffix, &a, err);
	if (r <= 0)
		return r;
	if (!ipam_record_is(&a, by, key, ifname))
		return 0;
	*ret = a;
	return 1;
}

static int es_taken(struct ipam_store *s, const char *pool, int family, struct ipam_u128 ip,
		    struct cni_error *err)
{
	char suffix[INET6_ADDRSTRLEN + 8];
	const char *v;

	ip_suffix(family, ip, suffix, sizeof(suffix));
	if (get(es_of(s), pool, suffix, &v, err) < 0)
		return -1;
	return v != NULL;
}

static int es_put(struct ipam_store *s, const char *pool, const struct ipam_alloc *a,
		  const struct ipam_alloc *old, struct cni_error *err)
{
	struct etcd_store *es = es_of(s);
	char text[4096], rec[INET6_ADDRSTRLEN + 8], ctr[SUFFIX_MAX], pod[SUFFIX_MAX];
	char addr[INET6_ADDRSTRLEN], old_ctr[SUFFIX_MAX], old_pod[SUFFIX_MAX];

	if (ipam_record_text(a, text, sizeof(text)) < 0)
		return cni_err(err, CNI_ERR_INTERNAL, "etcd store: record too long");
	ipam_addr_format(a->family, a->ip, addr, sizeof(addr));
	ip_suffix(a->family, a->ip, rec, sizeof(rec));
	index_suffix('c', a->id, a->ifname, ctr, sizeof(ctr));
	index_suffix('p', a->podref, a->ifname, pod, sizeof(pod));
	if (old) {
		index_suffix('c', old->id, old->ifname, old_ctr, sizeof(old_ctr));
		index_suffix('p', old->podref, old->ifname, old_pod, sizeof(old_pod));
		if (strcmp(old_ctr, ctr) != 0 && set(es, pool, old_ctr, NULL, err) < 0)
			return -1;
		if (old->podref[0] && strcmp(old_pod, pod) != 0 &&
		    set(es, pool, old_pod, NULL, err) < 0)
			return -1;
	}
	if (set(es, pool, rec, text, err) < 0 || set(es, pool, ctr, addr, err) < 0 ||
	    (a->podref[0] && set(es, pool, pod, addr, err) < 0))
		return -1;
	return 0;
}

static int es_release(struct ipam_store *s, const char *pool, const struct ipam_alloc *a,
		      struct cni_error *err)
{
	struct etcd_store *es = es_of(s);
	char rec[INET6_ADDRSTRLEN + 8], name[SUFFIX_MAX], addr[INET6_ADDRSTRLEN];
	const char *v;

	ipam_addr_format(a->family, a->ip, addr, sizeof(addr));
	ip_suffix(a->family, a->ip, rec, sizeof(rec));
	if (set(es, pool, rec, NULL, err) < 0)
		return -1;
	/* indexes go only when they point at this address */
	index_suffix('c', a->id, a->ifname, name, sizeof(name));
	if (get(es, pool, name, &v, err) < 0 ||
	    (v && strcmp(v, addr) == 0 && set(es, pool, name, NULL, err) < 0))
		return -1;
	if (a->podref[0]) {
		index_suffix('p', a->podref, a->ifname, name, sizeof(name));
		if (get(es, pool, name, &v, err) < 0 ||
		    (v && strcmp(v, addr) == 0 && set(es, pool, name, NULL, err) < 0))
			return -1;
	}
	return 0;
}

static int write_hint(struct etcd_store *es, const char *pool, int family, struct ipam_u128 ip,
		      uint64_t digest, struct cni_error *err)
{
	char text[80];

	return set(es, pool, "next", ipam_hint_text(family, ip, digest, text, sizeof(text)), err);
}

static int es_hint_get(struct ipam_store *s, const char *pool, uint64_t digest,
		       struct ipam_u128 *ret, struct cni_error *err)
{
	const char *text;
	uint64_t d;
	int family;

	if (get(es_of(s), pool, "next", &text, err) < 0)
		return -1;
	if (!text || !ipam_hint_parse(text, &family, ret, &d) || d != digest)
		return 0;
	return 1;
}

static int es_hint_set(struct ipam_store *s, const char *pool, int family, struct ipam_u128 ip,
		       uint64_t digest, struct cni_error *err)
{
	return write_hint(es_of(s), pool, family, ip, digest, err);
}

static int es_hint_lower(struct ipam_store *s, const char *pool, int family, struct ipam_u128 ip,
			 struct cni_error *err)
{
	struct ipam_u128 cur;
	const char *text;
	uint64_t d;
	int f;

	if (get(es_of(s), pool, "next", &text, err) < 0)
		return -1;
	if (!text || !ipam_hint_parse(text, &f, &cur, &d) || f != family ||
	    ipam_u128_cmp(cur, ip) <= 0)
		return 0;
	return write_hint(es_of(s), pool, family, ip, d, err);
}

/*
 * Every key under the prefix @key (@n bytes) into @rr, with their values unless @keys_only.
 * Return: 0, or -1 with @err saying @what failed.
 */
static int range_prefix(struct etcd_store *es, const char *key, size_t n, bool keys_only,
			const char *what, struct etcd_range_result *rr, struct cni_error *err)
{
	char end[KEY_MAX];
	size_t end_len = etcd_prefix_end(key, n, end);
	int r = etcd_range(es->etcd, key, n, end, end_len, 0, keys_only, rr);

	return r < 0 ? etcd_err(es, r, what, err) : 0;
}

static int es_each_pool(struct ipam_store *s, ipam_pool_cb cb, void *arg, struct cni_error *err)
{
	struct etcd_store *es = es_of(s);
	struct etcd_range_result rr = { 0 };
	char key[KEY_MAX];
	size_t n = (size_t)snprintf(key, sizeof(key), "%spools/", es->prefix);
	int rc = 0;

	if (!es->in_verb)
		return cni_err(err, CNI_ERR_INTERNAL, "etcd store: used outside lock()");
	if (range_prefix(es, key, n, true, "list pools", &rr, err) < 0)
		return -1;
	if (!es->registry_rev)
		es->registry_rev = rr.revision;
	for (size_t i = 0; rc == 0 && i < rr.n_kvs; i++) {
		const char *name = rr.kvs[i].key + n;
		struct ipam_u128 net;
		unsigned int len;
		int family;

		if (ipam_pool_name_parse(name, &family, &net, &len) < 0)
			continue;
		if (cb(name, family, net, len, arg) < 0)
			rc = -1;
	}
	/* pools this session created are not registered yet */
	for (size_t i = 0; rc == 0 && i < es->n_pools; i++) {
		struct pool_state *p = &es->pools[i];
		struct ipam_u128 net;
		unsigned int len;
		int family;

		if (p->registered || !p->dirty ||
		    ipam_pool_name_parse(p->name, &family, &net, &len) < 0)
			continue;
		if (cb(p->name, family, net, len, arg) < 0)
			rc = -1;
	}
	etcd_range_result_free(&rr);
	return rc;
}

static int es_each_alloc(struct ipam_store *s, const char *pool, ipam_alloc_cb cb, void *arg,
			 struct cni_error *err)
{
	struct etcd_store *es = es_of(s);
	struct etcd_range_result rr = { 0 };
	char key[KEY_MAX];
	const char *dummy;
	int rc = 0;
	size_t n;

	/* registers the pool's gen in the session, so a concurrent change is a conflict */
	if (get(es, pool, "gen", &dummy, err) < 0)
		return -1;
	key_of(es, pool, "ip/", key);
	n = strlen(key);
	if (range_prefix(es, key, n, false, "list allocations", &rr, err) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < rr.n_kvs; i++) {
		struct entry *e = entry_find(es, rr.kvs[i].key);
		const char *text = e ? e->value : rr.kvs[i].value;
		struct ipam_alloc a;

		if (text && ipam_record_parse(text, rr.kvs[i].key + n, &a) && cb(&a, arg) < 0)
			rc = -1;
	}
	/* records this session added */
	for (size_t i = 0; rc == 0 && i < es->n_e; i++) {
		struct entry *e = &es->e[i];
		struct ipam_alloc a;
		bool listed = false;

		if (!e->dirty || !e->value || strncmp(e->key, key, n) != 0)
			continue;
		for (size_t k = 0; k < rr.n_kvs && !listed; k++)
			listed = strcmp(rr.kvs[k].key, e->key) == 0;
		if (!listed && ipam_record_parse(e->value, e->key + n, &a) && cb(&a, arg) < 0)
			rc = -1;
	}
	etcd_range_result_free(&rr);
	return rc;
}

/* The values under ip/ that are no record of their key's address: they keep it taken. */
static int es_each_corrupt(struct ipam_store *s, const char *pool, ipam_corrupt_cb cb, void *arg,
			   struct cni_error *err)
{
	struct etcd_store *es = es_of(s);
	struct etcd_range_result rr = { 0 };
	char key[KEY_MAX];
	int rc = 0;
	size_t n;

	key_of(es, pool, "ip/", key);
	n = strlen(key);
	if (range_prefix(es, key, n, false, "list allocations", &rr, err) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < rr.n_kvs; i++) {
		struct entry *e = entry_find(es, rr.kvs[i].key);
		const char *text = e ? e->value : rr.kvs[i].value, *addr = rr.kvs[i].key + n;
		char canon[INET6_ADDRSTRLEN], why[256];
		struct ipam_alloc a;
		struct ipam_u128 ip;
		int family;

		/* only a key es_taken() looks at keeps an address taken */
		if (!text || ipam_record_parse(text, addr, &a) ||
		    ipam_addr_parse(addr, &family, &ip) < 0 ||
		    strcmp(ipam_addr_format(family, ip, canon, sizeof(canon)), addr) != 0)
			continue;
		if (ipam_record_check(text, addr, why, sizeof(why)))
			snprintf(why, sizeof(why), "not a well-formed record");
		if (cb(family, ip, why, arg) < 0)
			rc = -1;
	}
	etcd_range_result_free(&rr);
	return rc;
}

static int es_status(struct ipam_store *s, struct cni_error *err)
{
	struct etcd_store *es = es_of(s);
	struct etcd_range_result rr = { 0 };
	int r;

	etcd_client_set_deadline(es->etcd, es->timeout_ms);
	r = etcd_range(es->etcd, IPAM_ETCD_PREFIX, 0, NULL, 0, 1, true, &rr);
	etcd_range_result_free(&rr);
	return r < 0 ? etcd_err(es, r, "status", err) : 0;
}

static void es_close(struct ipam_store *s)
{
	struct etcd_store *es = es_of(s);

	if (!s)
		return;
	session_reset(es);
	free(es->e);
	etcd_client_free(es->etcd);
	free(es);
}

static const struct ipam_store_ops etcd_ops = {
	.name = "etcd",
	.lock = es_lock,
	.unlock = es_unlock,
	.commit = es_commit,
	.retry = es_retry,
	.find = es_find,
	.taken = es_taken,
	.put = es_put,
	.release = es_release,
	.hint_get = es_hint_get,
	.hint_set = es_hint_set,
	.hint_lower = es_hint_lower,
	.each_pool = es_each_pool,
	.each_alloc = es_each_alloc,
	.each_corrupt = es_each_corrupt,
	.status = es_status,
	.close = es_close,
};

int ipam_store_etcd_open_client(struct etcd_client *client, int64_t timeout_ms,
				struct ipam_store **ret, struct cni_error *err)
{
	struct etcd_store *es = calloc(1, sizeof(*es));

	if (!es) {
		etcd_client_free(client);
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	}
	es->base.ops = &etcd_ops;
	es->etcd = client;
	es->timeout_ms = timeout_ms > 0 ? timeout_ms : IPAM_DEFAULT_LOCK_TIMEOUT_MS;
	es->rng = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)es;
	if (!es->rng)
		es->rng = 1;
	*ret = &es->base;
	return 0;
}

int ipam_store_etcd_open(const struct ipam_config *c, struct ipam_store **ret,
			 struct cni_error *err)
{
	struct etcd_client *client = NULL;
	struct etcd_config cfg;

	if (ipam_etcd_config(c, &cfg, err) < 0 || ipam_etcd_client_new(&cfg, &client, err) < 0)
		return -1;
	return ipam_store_etcd_open_client(client, c->lock_timeout_ms, ret, err);
}
