// SPDX-License-Identifier: Apache-2.0
/*
 * Allocation. The lowest free address is found by walking up from a starting point, one
 * address at a time over held ones and one interval at a time over excluded ones; the walk
 * starts at the pool's search hint, below which every usable address is known to be
 * unavailable, so a steady ADD/DEL cycle costs the same on an empty pool and on a full one.
 *
 * The hint holds for one config (its digest covers bounds, exclusions and the overlap flag);
 * it is raised past each address handed out and lowered by every release of an address in
 * any pool of the network that contains it. A hint that is wrong can only be too low (the
 * walk is longer) or, after a crash lost a lowering, too high: the walk then falls back to
 * the start of the range before declaring it exhausted, so no address is lost for good.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam/allocate.h"
#include "ipam/owner.h"

struct pool_info {
	char name[IPAM_CIDR_MAX];
	int family;
	struct ipam_u128 net, bcast;
};

struct pools {
	struct pool_info *v;
	size_t n;
};

static int collect_pool(const char *name, int family, struct ipam_u128 net, unsigned int len,
			void *arg)
{
	struct pools *p = arg;
	struct pool_info *grown = realloc(p->v, (p->n + 1) * sizeof(*grown));

	if (!grown)
		return -1;
	p->v = grown;
	snprintf(p->v[p->n].name, sizeof(p->v[p->n].name), "%s", name);
	p->v[p->n].family = family;
	ipam_prefix_bounds(family, net, len, &p->v[p->n].net, &p->v[p->n].bcast);
	p->n++;
	return 0;
}

static int list_pools(struct ipam_store *s, struct pools *ret, struct cni_error *err)
{
	memset(ret, 0, sizeof(*ret));
	if (s->ops->each_pool(s, collect_pool, ret, err) < 0) {
		free(ret->v);
		if (err && !err->code)
			cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		return -1;
	}
	return 0;
}

static bool pool_contains(const struct pool_info *p, int family, struct ipam_u128 ip)
{
	return p->family == family && ipam_u128_cmp(ip, p->net) >= 0 &&
	       ipam_u128_cmp(ip, p->bcast) <= 0;
}

/* The addresses this ADD holds already, in the earlier ranges of its config. */
struct chosen {
	const struct ipam_alloc *v;
	size_t n;
};

static bool chosen_here(const struct chosen *c, int family, struct ipam_u128 ip)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].family == family && ipam_u128_eq(c->v[i].ip, ip))
			return true;
	return false;
}

/*
 * Is @ip unavailable in @pool? Chosen by this ADD for an earlier range (one result never
 * holds an address twice, whatever the overlap setting: such a range may be a pool created
 * by this very ADD, not yet among @others), held there, or (overlap) held by another pool
 * containing it.
 */
static int unavailable(struct ipam_store *s, const char *pool, const struct pools *others,
		       const struct chosen *mine, int family, struct ipam_u128 ip,
		       struct cni_error *err)
{
	int r = chosen_here(mine, family, ip) ? 1 : s->ops->taken(s, pool, family, ip, err);

	for (size_t i = 0; r == 0 && others && i < others->n; i++)
		if (strcmp(others->v[i].name, pool) != 0 &&
		    pool_contains(&others->v[i], family, ip))
			r = s->ops->taken(s, others->v[i].name, family, ip, err);
	return r;
}

/* Walk up from @from. Return: 1 with @ret, 0 when nothing is free, -1 on error. */
static int walk(struct ipam_store *s, const struct ipam_range *r, const char *pool,
		const struct pools *others, const struct chosen *mine, struct ipam_u128 from,
		struct ipam_u128 *ret, struct cni_error *err)
{
	struct ipam_u128 a = from, hi;

	while (ipam_u128_cmp(a, r->last) <= 0) {
		int u;

		if (ipam_range_excluded(r, a, &hi)) {
			if (ipam_u128_cmp(hi, r->last) >= 0)
				return 0;
			a = ipam_u128_inc(hi);
			continue;
		}
		u = unavailable(s, pool, others, mine, r->family, a, err);
		if (u < 0)
			return -1;
		if (u == 0) {
			*ret = a;
			return 1;
		}
		if (ipam_u128_eq(a, r->last))
			return 0;
		a = ipam_u128_inc(a);
	}
	return 0;
}

static int lowest_free(struct ipam_store *s, const struct ipam_config *c,
		       const struct ipam_range *r, const char *pool, const struct pools *others,
		       const struct chosen *mine, struct ipam_u128 *ret, struct cni_error *err)
{
	uint64_t digest = ipam_range_digest(r, c->overlapping);
	struct ipam_u128 start = r->first, hint;
	int found, h;

	h = s->ops->hint_get(s, pool, digest, &hint, err);
	if (h < 0)
		return -1;
	if (h > 0 && ipam_u128_cmp(hint, r->first) > 0 && ipam_u128_cmp(hint, r->last) <= 0)
		start = hint;
	found = walk(s, r, pool, others, mine, start, ret, err);
	if (found == 0 && !ipam_u128_eq(start, r->first))
		found = walk(s, r, pool, others, mine, r->first, ret, err);
	return found;
}

/*
 * Release @a from @pool. The hints of every pool of the network that contains the address
 * are lowered first: a process killed in between leaves a hint too low, which is harmless.
 */
static int release_one(struct ipam_store *s, const char *pool, const struct ipam_alloc *a,
		       struct cni_error *err)
{
	struct pools all;
	int r = 0;

	if (list_pools(s, &all, err) < 0)
		return -1;
	for (size_t i = 0; r == 0 && i < all.n; i++)
		if (pool_contains(&all.v[i], a->family, a->ip))
			r = s->ops->hint_lower(s, all.v[i].name, a->family, a->ip, err);
	free(all.v);
	if (r < 0)
		return -1;
	return s->ops->release(s, pool, a, err);
}

static void fill_owner(struct ipam_alloc *a, const struct ipam_owner *o)
{
	snprintf(a->id, sizeof(a->id), "%s", o->id);
	snprintf(a->podref, sizeof(a->podref), "%s", o->podref ? o->podref : "");
	snprintf(a->ifname, sizeof(a->ifname), "%s", o->ifname);
	snprintf(a->cni_network, sizeof(a->cni_network), "%s",
		 o->cni_network ? o->cni_network : "");
	snprintf(a->node, sizeof(a->node), "%s", o->node ? o->node : "");
	/* recorded only when it fits whole */
	if (!o->netns || strlen(o->netns) >= sizeof(a->netns))
		a->netns[0] = '\0';
	else
		snprintf(a->netns, sizeof(a->netns), "%s", o->netns);
}

/* The allocation @o already holds in @pool. Return: 1, 0, -1. */
static int existing(struct ipam_store *s, const char *pool, const struct ipam_owner *o,
		    struct ipam_alloc *ret, struct cni_error *err)
{
	int r = 0;

	if (o->podref && *o->podref)
		r = s->ops->find(s, pool, IPAM_INDEX_POD, o->podref, o->ifname, ret, err);
	/* the same container and interface is the same attachment, whatever pod it names */
	if (r == 0)
		r = s->ops->find(s, pool, IPAM_INDEX_ID, o->id, o->ifname, ret, err);
	return r;
}

static int allocate_locked(struct ipam_store *s, const struct ipam_config *c,
			   const struct ipam_owner *o, struct ipam_u128 *ret_ips, bool *fresh,
			   struct ipam_alloc *made, struct cni_error *err)
{
	struct pools others = { 0 };
	int rc = -1;

	if (c->overlapping && list_pools(s, &others, err) < 0)
		return -1;
	for (size_t i = 0; i < c->n_ranges; i++) {
		const struct ipam_range *r = &c->ranges[i];
		char pool[IPAM_CIDR_MAX];
		struct ipam_alloc cur, *a = &made[i];
		int found;

		ipam_pool_name(r, pool, sizeof(pool));
		found = existing(s, pool, o, &cur, err);
		if (found < 0)
			goto out;
		if (found) {
			*a = cur;
			fill_owner(a, o);
			/* re-recorded when its owner changed (or an older record lacks one) */
			if ((strcmp(cur.id, a->id) != 0 || strcmp(cur.podref, a->podref) != 0 ||
			     strcmp(cur.cni_network, a->cni_network) != 0 ||
			     strcmp(cur.node, a->node) != 0) &&
			    s->ops->put(s, pool, a, &cur, err) < 0)
				goto out;
			ret_ips[i] = cur.ip;
			continue;
		}
		found = lowest_free(s, c, r, pool, c->overlapping ? &others : NULL,
				    &(struct chosen){ made, i }, &a->ip, err);
		if (found < 0)
			goto out;
		if (found == 0) {
			char first[INET6_ADDRSTRLEN], last[INET6_ADDRSTRLEN];

			cni_err(err, CNI_ERR_INTERNAL, "no free address left in range %s (%s-%s%s)",
				r->cidr,
				ipam_addr_format(r->family, r->first, first, sizeof(first)),
				ipam_addr_format(r->family, r->last, last, sizeof(last)),
				r->n_exclude ? ", minus exclusions" : "");
			goto out;
		}
		a->family = r->family;
		fill_owner(a, o);
		if (s->ops->put(s, pool, a, NULL, err) < 0)
			goto out;
		/*
		 * Everything below the address is unavailable to this config. Raised only once the
		 * allocation exists, so that a process killed in between leaves the hint too low.
		 */
		if (s->ops->hint_set(s, pool, r->family, ipam_u128_inc(a->ip),
				     ipam_range_digest(r, c->overlapping), err) < 0) {
			fresh[i] = true;
			goto out;
		}
		fresh[i] = true;
		ret_ips[i] = a->ip;
	}
	rc = 0;
out:
	free(others.v);
	return rc;
}

/* An optimistic store (etcd) lost a race at commit(): run the verb again. */
static bool store_retry(struct ipam_store *s, int rc, struct cni_error *err)
{
	if (rc >= 0 || !s->ops->retry || !s->ops->retry(s))
		return false;
	if (err)
		memset(err, 0, sizeof(*err));
	return true;
}

int ipam_allocate(struct ipam_store *s, const struct ipam_config *c, const struct ipam_owner *o,
		  struct ipam_u128 *ret_ips, struct cni_error *err)
{
	struct ipam_alloc *made = calloc(c->n_ranges, sizeof(*made));
	bool *fresh = calloc(c->n_ranges, sizeof(*fresh));
	int rc = -1;

	if (!made || !fresh) {
		cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		goto out;
	}
	do { /* once, or again while an optimistic store (etcd) asks to retry */
		memset(fresh, 0, c->n_ranges * sizeof(*fresh));
		if (s->ops->lock(s, c->network_name, err) < 0)
			goto out;
		rc = allocate_locked(s, c, o, ret_ips, fresh, made, err);
		if (rc < 0) {
			/* give back what this call took, keeping the first error */
			for (size_t i = 0; i < c->n_ranges; i++) {
				char pool[IPAM_CIDR_MAX];

				if (fresh[i])
					release_one(
						s,
						ipam_pool_name(&c->ranges[i], pool, sizeof(pool)),
						&made[i], NULL);
			}
			s->ops->commit(s, NULL);
		} else {
			rc = s->ops->commit(s, err);
		}
		s->ops->unlock(s);
	} while (store_retry(s, rc, err));
out:
	free(made);
	free(fresh);
	return rc;
}

/*
 * @pool_fn on the pool of every range of @c, stopping at the first failure, in one store
 * session that is committed, and run again while an optimistic store (etcd) asks to.
 * Return: the sum of what @pool_fn returned, or -1 with @err set.
 */
static int each_pool_in_session(struct ipam_store *s, const struct ipam_config *c,
				int (*pool_fn)(struct ipam_store *s, const char *pool, void *arg,
					       struct cni_error *err),
				void *arg, struct cni_error *err)
{
	int n, rc;

	do {
		n = 0;
		rc = 0;
		if (s->ops->lock(s, c->network_name, err) < 0)
			return -1;
		for (size_t i = 0; rc == 0 && i < c->n_ranges; i++) {
			char pool[IPAM_CIDR_MAX];
			int r = pool_fn(s, ipam_pool_name(&c->ranges[i], pool, sizeof(pool)), arg,
					err);

			if (r < 0)
				rc = -1;
			else
				n += r;
		}
		if (s->ops->commit(s, rc < 0 ? NULL : err) < 0)
			rc = -1;
		s->ops->unlock(s);
	} while (store_retry(s, rc, err));
	return rc < 0 ? -1 : n;
}

struct owner_key {
	const char *id, *ifname;
};

/* Release what @arg (a struct owner_key) holds in @pool. Return: 1, 0 (nothing), -1. */
static int release_in_pool(struct ipam_store *s, const char *pool, void *arg, struct cni_error *err)
{
	const struct owner_key *k = arg;
	struct ipam_alloc a;
	int found = s->ops->find(s, pool, IPAM_INDEX_ID, k->id, k->ifname, &a, err);

	if (found < 0 || (found && release_one(s, pool, &a, err) < 0))
		return -1;
	return found;
}

int ipam_release(struct ipam_store *s, const struct ipam_config *c, const char *id,
		 const char *ifname, struct cni_error *err)
{
	struct owner_key k = { .id = id, .ifname = ifname };

	/* every range, not stopping at the first that holds nothing */
	return each_pool_in_session(s, c, release_in_pool, &k, err);
}

int ipam_lookup(struct ipam_store *s, const struct ipam_config *c, const char *id,
		const char *ifname, bool *ret_found, struct ipam_u128 *ret_ips,
		struct cni_error *err)
{
	char pool[IPAM_CIDR_MAX];
	struct ipam_alloc a;
	int found = 0;

	if (s->ops->lock(s, c->network_name, err) < 0)
		return -1;
	for (size_t i = 0; i < c->n_ranges; i++) {
		ipam_pool_name(&c->ranges[i], pool, sizeof(pool));
		found = s->ops->find(s, pool, IPAM_INDEX_ID, id, ifname, &a, err);
		if (found < 0)
			break;
		ret_found[i] = found;
		if (found)
			ret_ips[i] = a.ip;
	}
	s->ops->unlock(s);
	return found < 0 ? -1 : 0;
}

struct gc_ctx {
	const char *cni_network, *node;
	ipam_valid_cb valid;
	void *arg;
	struct ipam_alloc *stale;
	size_t n;
};

static int gc_collect(const struct ipam_alloc *a, void *arg)
{
	struct gc_ctx *g = arg;
	struct ipam_alloc *grown;

	if (!ipam_alloc_in_scope(a, g->cni_network, g->node) || g->valid(a->id, a->ifname, g->arg))
		return 0;
	grown = realloc(g->stale, (g->n + 1) * sizeof(*grown));
	if (!grown)
		return -1;
	g->stale = grown;
	g->stale[g->n++] = *a;
	return 0;
}

/* Release the stale allocations of @pool that @arg (a struct gc_ctx) picks. Return: how many. */
static int gc_pool(struct ipam_store *s, const char *pool, void *arg, struct cni_error *err)
{
	struct gc_ctx g = *(const struct gc_ctx *)arg;
	int rc = 0;

	if (s->ops->each_alloc(s, pool, gc_collect, &g, err) < 0) {
		if (err && !err->code)
			cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		rc = -1;
	}
	for (size_t k = 0; rc == 0 && k < g.n; k++)
		if (release_one(s, pool, &g.stale[k], err) < 0)
			rc = -1;
	free(g.stale);
	return rc < 0 ? -1 : (int)g.n;
}

int ipam_gc(struct ipam_store *s, const struct ipam_config *c, const char *cni_network,
	    const char *node, ipam_valid_cb valid, void *arg, struct cni_error *err)
{
	struct gc_ctx g = { .cni_network = cni_network, .node = node, .valid = valid, .arg = arg };

	return each_pool_in_session(s, c, gc_pool, &g, err);
}
