// SPDX-License-Identifier: Apache-2.0
/*
 * Node slices: each node claims one slice ("node_slice_size", e.g. "/28") of every range in
 * etcd and allocates inside it from its local file store, so the common ADD never leaves
 * the node.
 *
 * Theory of operation
 *
 *   /mignet/whereabouts/_nodes/<node>                        {"lease":"<id>"}   lease <id>
 *   /mignet/whereabouts/<network>/<pool>/slices/<slice pool>  {"node":"<node>"}  lease <id>
 *
 * A node holds one etcd lease (TTL "node_slice_lease_ttl", default 3600 s); its node key and
 * every slice it claims are attached to it. A node whose lease is not renewed within the TTL
 * has departed: etcd deletes its keys, and its slices are free for the next node that
 * claims. Renewal happens on any verb once a third of the TTL has passed since the last
 * one, so a node renews at least as often as its runtime calls the plugin (CNI 1.1 runtimes
 * call STATUS periodically).
 *
 * A claim is a txn "if the slice key does not exist, put it with my lease"; the lowest free
 * slice wins, and a lost race tries the next. The claim is cached on the node in
 * <store_dir>/_slices/<network>_<pool>@<node> (slice, lease, time of the last renewal; named
 * by node, since a store_dir may be shared by several nodes), written atomically, so a verb
 * normally reads one small local file and does not contact etcd. When etcd cannot be
 * reached, a cached claim whose lease cannot have expired yet is used; without one, the verb
 * fails with code 11.
 *
 * The etcd client is created only when a range needs etcd (no cached claim, or its renewal is
 * due): creating it loads libcurl, which costs a verb served from the cache more than the
 * rest of its work.
 *
 * The rule that keeps addresses unique across nodes: a node allocates only in a slice whose
 * key names it, and a slice key exists only while its node's lease lives. The TTL must
 * therefore exceed the longest time a node can keep running pods without being able to
 * reach etcd or call the plugin (docs/etcd.md).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cni/json.h"
#include "ipam/etcd_store.h"
#include "ipam/owner.h"
#include "ipam/record.h"

#define DEFAULT_TTL 3600
#define NODE_MAX 254
#define MAX_SLICES_SCANNED 65536

struct claim {
	char slice[IPAM_CIDR_MAX]; /* slice pool name, "10.1.0.16_28" */
	int64_t lease;
	int64_t renewed; /* CLOCK_BOOTTIME seconds of this boot (see boot_id()) */
};

struct slicer {
	struct ipam_config *c;
	struct etcd_config cfg;
	struct etcd_client *etcd; /* NULL until a range needs etcd (slicer_etcd()) */
	char node[NODE_MAX + 1];
	char net[3 * 256 + 1];
	int64_t ttl;
	int64_t lease; /* this run's view of the node lease, 0: not known yet */
	bool etcd_down;
};

/* --- the local cache --- */

static void cache_path(const struct slicer *sl, const char *pool, char *out, size_t size)
{
	/* per node: a store_dir shared by several nodes holds each node's claim apart */
	snprintf(out, size, "%s/_slices/%s_%s@%s", sl->c->store_dir, sl->net, pool, sl->node);
}

/*
 * The renewal time is kept in CLOCK_BOOTTIME, which every process of one boot shares and
 * which no clock step moves (with the wall clock, a step back made a cached renewal look
 * recent, so the lease could expire in etcd while this node went on using its slice, which
 * another node could then claim). The boot's id goes with it: after a reboot the time
 * means nothing and the claim is renewed.
 */
static int64_t now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_BOOTTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static const char *boot_id(void)
{
	static char id[40];
	int fd;
	ssize_t n;

	if (id[0])
		return id;
	fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, id, sizeof(id) - 1) : -1;
	if (fd >= 0)
		close(fd);
	id[n > 0 ? n : 0] = '\0';
	id[strcspn(id, "\n")] = '\0';
	return id;
}

static bool cache_read(const struct slicer *sl, const char *pool, struct claim *ret)
{
	char path[PATH_MAX], buf[512];
	struct json_object *o, *v;
	int fd;
	ssize_t n;
	bool ok;

	cache_path(sl, pool, path, sizeof(path));
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return false;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return false;
	buf[n] = '\0';
	o = json_tokener_parse(buf);
	ok = o && json_object_object_get_ex(o, "slice", &v) &&
	     json_object_is_type(v, json_type_string) &&
	     (size_t)json_object_get_string_len(v) < sizeof(ret->slice);
	if (ok) {
		snprintf(ret->slice, sizeof(ret->slice), "%s", json_object_get_string(v));
		ok = json_object_object_get_ex(o, "lease", &v) &&
		     (ret->lease = json_object_get_int64(v)) != 0 &&
		     json_object_object_get_ex(o, "renewed", &v);
		if (ok)
			ret->renewed = json_object_get_int64(v);
		/* of another boot, an older cache file without one, or ahead of this boot's
		 * clock: not a time of this clock, so due for renewal now */
		if (ok &&
		    (!json_object_object_get_ex(o, "boot", &v) ||
		     !json_object_is_type(v, json_type_string) || !boot_id()[0] ||
		     strcmp(json_object_get_string(v), boot_id()) != 0 || ret->renewed > now_s()))
			ret->renewed = INT64_MIN / 2;
	}
	json_object_put(o);
	return ok;
}

static void cache_write(const struct slicer *sl, const char *pool, const struct claim *cl)
{
	char path[PATH_MAX], tmp[PATH_MAX + 32], text[256];
	int fd, n;

	snprintf(path, sizeof(path), "%s/_slices", sl->c->store_dir);
	mkdir(sl->c->store_dir, 0700);
	mkdir(path, 0700);
	cache_path(sl, pool, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.%d.tmp", path, (int)getpid());
	n = snprintf(text, sizeof(text),
		     "{\"slice\":\"%s\",\"lease\":%" PRId64 ",\"renewed\":%" PRId64
		     ",\"boot\":\"%s\"}\n",
		     cl->slice, cl->lease, cl->renewed, boot_id());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return;
	if (write(fd, text, n) != n || fsync(fd) < 0) {
		close(fd);
		unlink(tmp);
		return;
	}
	close(fd);
	if (rename(tmp, path) < 0)
		unlink(tmp);
}

/* --- etcd --- */

static int etcd_fail(struct slicer *sl, int r, const char *what, struct cni_error *err)
{
	if (r == -ETIMEDOUT)
		sl->etcd_down = true;
	cni_err(err, r == -ETIMEDOUT ? CNI_ERR_TRY_LATER : CNI_ERR_IO, "node slices: %s: %s", what,
		r == -ETIMEDOUT ? "etcd did not answer in time" : "etcd refused");
	if (err)
		cni_err_details(err, "%s", etcd_client_errmsg(sl->etcd));
	return -1;
}

/*
 * Create the etcd client on first use; the verb's bound (lock_timeout_ms) starts then.
 * Return: 0, or -1 with err set (code 7: the etcd keys are unusable; 5: libcurl is missing).
 */
static int slicer_etcd(struct slicer *sl, struct cni_error *err)
{
	if (sl->etcd)
		return 0;
	if (ipam_etcd_client_new(&sl->cfg, &sl->etcd, err) < 0)
		return -1;
	etcd_client_set_deadline(sl->etcd, sl->c->lock_timeout_ms);
	return 0;
}

/* The node's lease: renewed if it lives, else a new one with the node key attached. */
static int node_lease(struct slicer *sl, struct cni_error *err)
{
	char key[512], val[64];
	struct etcd_range_result rr = { 0 };
	int64_t id = 0, ttl;
	int r;

	if (sl->lease)
		return 0;
	if (slicer_etcd(sl, err) < 0)
		return -1;
	snprintf(key, sizeof(key), "%s_nodes/%s", IPAM_ETCD_PREFIX, sl->node);
	for (int attempt = 0; attempt < 5; attempt++) {
		struct etcd_txn_result tr = { 0 };

		r = etcd_range(sl->etcd, key, 0, NULL, 0, 0, false, &rr);
		if (r < 0)
			return etcd_fail(sl, r, "read node key", err);
		if (rr.n_kvs && rr.kvs[0].lease) {
			id = rr.kvs[0].lease;
			etcd_range_result_free(&rr);
			r = etcd_lease_keepalive(sl->etcd, id, &ttl);
			if (r == 0) {
				sl->lease = id;
				return 0;
			}
			if (r != -ENOENT)
				return etcd_fail(sl, r, "renew the node lease", err);
			continue; /* expired just now: its key goes with it */
		}
		etcd_range_result_free(&rr);
		r = etcd_lease_grant(sl->etcd, sl->ttl, &id, NULL);
		if (r < 0)
			return etcd_fail(sl, r, "grant a node lease", err);
		snprintf(val, sizeof(val), "{\"lease\":\"%" PRId64 "\"}", id);
		{
			struct etcd_cmp cmp = { .key = key,
						.target = ETCD_CMP_CREATE,
						.result = ETCD_EQUAL };
			struct etcd_op put = {
				.kind = ETCD_OP_PUT, .key = key, .value = val, .lease = id
			};

			r = etcd_txn(sl->etcd, &cmp, 1, &put, 1, NULL, 0, &tr);
		}
		if (r < 0)
			return etcd_fail(sl, r, "write node key", err);
		if (tr.succeeded) {
			etcd_txn_result_free(&tr);
			sl->lease = id;
			return 0;
		}
		/* another verb on this node made one meanwhile: use it */
		etcd_txn_result_free(&tr);
		etcd_lease_revoke(sl->etcd, id);
	}
	return cni_err(err, CNI_ERR_TRY_LATER, "node slices: cannot settle the node lease");
}

/* Slice @k of @r: its pool name and bounds. */
static void slice_of(const struct ipam_range *r, unsigned int len, uint64_t k, char *name,
		     size_t size, struct ipam_u128 *lo, struct ipam_u128 *hi)
{
	unsigned int shift = ipam_family_bits(r->family) - len;
	struct ipam_u128 off = { 0, 0 }, net;
	struct ipam_range s = { .family = r->family, .prefixlen = (uint8_t)len };

	if (shift >= 64)
		off.hi = k << (shift - 64);
	else {
		off.lo = k << shift;
		off.hi = shift ? k >> (64 - shift) : 0;
	}
	net = ipam_u128_add(r->net, off);
	ipam_prefix_bounds(r->family, net, len, lo, hi);
	s.net = *lo;
	s.bcast = *hi;
	ipam_pool_name(&s, name, size);
}

/* Claim a slice of @r (pool @pool) for this node. Return: 0 with @ret->slice set, or -1. */
static int claim(struct slicer *sl, const struct ipam_range *r, const char *pool, unsigned int len,
		 struct claim *ret, struct cni_error *err)
{
	char prefix[1024], end[1024], key[1200], val[NODE_MAX + 32], name[IPAM_CIDR_MAX];
	struct etcd_range_result rr = { 0 };
	uint64_t n_slices;
	size_t n, end_len;
	int r2;

	if (node_lease(sl, err) < 0)
		return -1;
	n = (size_t)snprintf(prefix, sizeof(prefix), "%s%s/%s/slices/", IPAM_ETCD_PREFIX, sl->net,
			     pool);
	end_len = etcd_prefix_end(prefix, n, end);
	snprintf(val, sizeof(val), "{\"node\":\"%s\"}", sl->node);
	n_slices = len - r->prefixlen >= 16 ? MAX_SLICES_SCANNED : 1ull << (len - r->prefixlen);
	for (int attempt = 0; attempt < 8; attempt++) {
		r2 = etcd_range(sl->etcd, prefix, n, end, end_len, 0, false, &rr);
		if (r2 < 0)
			return etcd_fail(sl, r2, "list slices", err);
		/* already ours (another verb of this node claimed it) */
		for (size_t i = 0; i < rr.n_kvs; i++) {
			if (strcmp(rr.kvs[i].value, val) == 0 && rr.kvs[i].lease == sl->lease) {
				snprintf(ret->slice, sizeof(ret->slice), "%s", rr.kvs[i].key + n);
				etcd_range_result_free(&rr);
				return 0;
			}
		}
		for (uint64_t k = 0; k < n_slices; k++) {
			struct ipam_u128 lo, hi;
			struct etcd_txn_result tr = { 0 };
			bool used = false;

			slice_of(r, len, k, name, sizeof(name), &lo, &hi);
			/* a slice with no allocatable address of the range is no use */
			if (ipam_u128_cmp(hi, r->first) < 0 || ipam_u128_cmp(lo, r->last) > 0)
				continue;
			for (size_t i = 0; i < rr.n_kvs && !used; i++)
				used = strcmp(rr.kvs[i].key + n, name) == 0;
			if (used)
				continue;
			snprintf(key, sizeof(key), "%s%s", prefix, name);
			{
				struct etcd_cmp cmp = { .key = key,
							.target = ETCD_CMP_CREATE,
							.result = ETCD_EQUAL };
				struct etcd_op put = { .kind = ETCD_OP_PUT,
						       .key = key,
						       .value = val,
						       .lease = sl->lease };

				r2 = etcd_txn(sl->etcd, &cmp, 1, &put, 1, NULL, 0, &tr);
			}
			if (r2 < 0) {
				etcd_range_result_free(&rr);
				return etcd_fail(sl, r2, "claim a slice", err);
			}
			if (tr.succeeded) {
				etcd_txn_result_free(&tr);
				etcd_range_result_free(&rr);
				snprintf(ret->slice, sizeof(ret->slice), "%s", name);
				return 0;
			}
			etcd_txn_result_free(&tr);
			break; /* lost a race: list again */
		}
		if (rr.n_kvs >= n_slices) {
			etcd_range_result_free(&rr);
			break;
		}
		etcd_range_result_free(&rr);
	}
	return cni_err(err, CNI_ERR_INTERNAL, "node slices: no free /%u slice left in range %s",
		       len, r->cidr);
}

/* Is the cached claim still ours in etcd? Renew the lease. Return: 1 yes, 0 lost, -1. */
static int renew(struct slicer *sl, const char *pool, struct claim *cl, struct cni_error *err)
{
	char key[1200];
	struct etcd_range_result rr = { 0 };
	int64_t ttl;
	int r;

	if (slicer_etcd(sl, err) < 0)
		return -1;
	r = etcd_lease_keepalive(sl->etcd, cl->lease, &ttl);
	if (r == -ENOENT)
		return 0;
	if (r < 0)
		return etcd_fail(sl, r, "renew the node lease", err);
	snprintf(key, sizeof(key), "%s%s/%s/slices/%s", IPAM_ETCD_PREFIX, sl->net, pool, cl->slice);
	r = etcd_range(sl->etcd, key, 0, NULL, 0, 0, false, &rr);
	if (r < 0)
		return etcd_fail(sl, r, "read the slice", err);
	r = rr.n_kvs && rr.kvs[0].lease == cl->lease;
	etcd_range_result_free(&rr);
	if (r)
		sl->lease = cl->lease;
	return r;
}

static int apply_range(struct slicer *sl, struct ipam_range *r, unsigned int len,
		       struct cni_error *err)
{
	char pool[IPAM_CIDR_MAX];
	struct claim cl = { 0 };
	bool cached;
	int64_t now = now_s();
	int fam, ok = 0;
	struct ipam_u128 net, lo, hi;
	unsigned int slen;

	if (len <= r->prefixlen || len > ipam_family_bits(r->family))
		return cni_err(
			err, CNI_ERR_CONFIG,
			"invalid config: \"ipam.node_slice_size\" \"/%u\": must be longer than "
			"the prefix of range %s",
			len, r->cidr);
	ipam_pool_name(r, pool, sizeof(pool));
	cached = cache_read(sl, pool, &cl);
	if (cached && now - cl.renewed < sl->ttl / 3) {
		ok = 1;
	} else if (cached && !sl->etcd_down) {
		ok = renew(sl, pool, &cl, err);
		if (ok < 0 && sl->etcd_down && now - cl.renewed < sl->ttl)
			ok = 1; /* etcd unreachable, but the lease cannot have expired yet */
		else if (ok < 0)
			return -1;
		else if (ok)
			cl.renewed = now;
	} else if (cached && now - cl.renewed < sl->ttl) {
		ok = 1;
	}
	if (!ok) {
		if (claim(sl, r, pool, len, &cl, err) < 0)
			return -1;
		cl.lease = sl->lease;
		cl.renewed = now;
	}
	if (!ok || cl.renewed == now)
		cache_write(sl, pool, &cl);
	if (ipam_pool_name_parse(cl.slice, &fam, &net, &slen) < 0 || fam != r->family ||
	    slen != len)
		return cni_err(err, CNI_ERR_IO, "node slices: bad cached slice \"%s\"", cl.slice);
	ipam_prefix_bounds(fam, net, slen, &lo, &hi);
	if (ipam_u128_cmp(lo, r->first) > 0)
		r->first = lo;
	if (ipam_u128_cmp(hi, r->last) < 0)
		r->last = hi;
	if (ipam_u128_cmp(r->first, r->last) > 0)
		return cni_err(err, CNI_ERR_IO, "node slices: slice %s lies outside range %s",
			       cl.slice, r->cidr);
	return 0;
}

int ipam_node_slice_apply(struct ipam_config *c, struct cni_error *err)
{
	struct slicer sl = { .c = c };
	const char *size = NULL, *p;
	int64_t ttl = DEFAULT_TTL;
	unsigned long len;
	char *end;
	int rc = 0;

	if (cni_json_string(c->merged, "ipam", "node_slice_size", &size, err) < 0 ||
	    cni_json_int(c->merged, "ipam", "node_slice_lease_ttl", 2, 31536000, &ttl, err) < 0)
		return -1;
	if (!size || !*size)
		return 0;
	p = size[0] == '/' ? size + 1 : size;
	errno = 0;
	len = strtoul(p, &end, 10);
	if (errno || end == p || *end || len > 128)
		return cni_err(
			err, CNI_ERR_CONFIG,
			"invalid config: \"ipam.node_slice_size\" \"%s\": not a prefix length "
			"such as \"/28\"",
			size);
	sl.ttl = ttl;
	/* the same name is recorded with each allocation (ipam/owner.h) */
	if (ipam_node_name(c, sl.node, sizeof(sl.node), err) < 0)
		return -1;
	ipam_pct_encode(ipam_network_dir(c->network_name), sl.net, sizeof(sl.net));
	/* the keys are checked on every verb; the client is made only when etcd is needed */
	if (ipam_etcd_config(c, &sl.cfg, err) < 0)
		return -1;
	for (size_t i = 0; rc == 0 && i < c->n_ranges; i++)
		rc = apply_range(&sl, &c->ranges[i], (unsigned int)len, err);
	etcd_client_free(sl.etcd);
	return rc;
}
