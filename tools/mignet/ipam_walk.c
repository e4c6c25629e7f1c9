// SPDX-License-Identifier: Apache-2.0
/*
 * `mignet ipam`'s walk of a store (see cmd_ipam.c for the theory of operation): each network
 * read under its lock into rows (records and corrupt entries), a release that lowers the
 * hints first as the allocator does, the commit, and whether a recorded netns still lives.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>

#include "ipam_admin_priv.h"

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

const char *const admin_ns_state_name[] = {
	[NS_UNKNOWN] = "unknown",
	[NS_LIVE] = "live",
	[NS_GONE] = "gone",
	[NS_NOT_NETNS] = "not a namespace",
	[NS_UNRECORDED] = "not recorded",
};

/* "10.1.0.0_16" -> "10.1.0.0/16" */
void admin_pool_cidr(const char *pool, char *buf, size_t size)
{
	char *us;

	snprintf(buf, size, "%s", pool);
	us = strrchr(buf, '_');
	if (us)
		*us = '/';
}

const char *admin_network_arg(const char *dir)
{
	return strcmp(dir, "_unnamed") == 0 ? NULL : dir;
}

enum ns_state admin_netns_state(const char *path)
{
	struct statfs sfs;

	if (!*path)
		return NS_UNRECORDED;
	if (statfs(path, &sfs) < 0)
		return errno == ENOENT || errno == ENOTDIR ? NS_GONE : NS_UNKNOWN;
	return (unsigned long)sfs.f_type == NSFS_MAGIC ? NS_LIVE : NS_NOT_NETNS;
}

/* --- collecting allocations under the lock --- */

struct collect {
	struct ipam_store *s;
	const char *network, *pool;
	struct rows *rows;
	int failed;
};

/* A new zeroed row of @c's network and pool. Return: it, or NULL (out of memory, said in c). */
static struct row *row_add(struct collect *c)
{
	struct row *g = realloc(c->rows->v, (c->rows->n + 1) * sizeof(*g)), *r;

	if (!g) {
		c->failed = -ENOMEM;
		return NULL;
	}
	c->rows->v = g;
	r = &g[c->rows->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->network, sizeof(r->network), "%s", c->network);
	snprintf(r->pool, sizeof(r->pool), "%s", c->pool);
	return r;
}

static int collect_alloc(const struct ipam_alloc *a, void *arg)
{
	struct collect *c = arg;
	struct row *r = row_add(c);

	if (!r)
		return -1;
	r->a = *a;
	/* gc judges by it (on the node the record names: cmd_ipam.c) */
	snprintf(r->netns, sizeof(r->netns), "%s", a->netns);
	return 0;
}

/* An entry that keeps its address taken but is no record: shown, released, never gc'ed. */
static int collect_corrupt(int family, struct ipam_u128 ip, const char *why, void *arg)
{
	struct collect *c = arg;
	struct row *r = row_add(c);

	if (!r)
		return -1;
	r->a.family = family;
	r->a.ip = ip;
	snprintf(r->corrupt, sizeof(r->corrupt), "%s", why);
	return 0;
}

static int collect_pool(const char *name, int family, struct ipam_u128 net, unsigned int len,
			void *arg)
{
	struct pool_list *p = arg;
	char(*g)[IPAM_CIDR_MAX] = realloc(p->v, (p->n + 1) * sizeof(*g));

	(void)family, (void)net, (void)len;
	if (!g)
		return -1;
	p->v = g;
	snprintf(p->v[p->n++], IPAM_CIDR_MAX, "%s", name);
	return 0;
}

/* A store's failure, after "mignet ipam: <fmt>: ": its message and, when it has them, its
 * details (for etcd: which endpoint failed, how). */
void admin_store_failed(FILE *err, const struct cni_error *e, const char *fmt, ...)
{
	va_list ap;

	fputs("mignet ipam: ", err);
	va_start(ap, fmt);
	vfprintf(err, fmt, ap);
	va_end(ap);
	fprintf(err, ": %s", e->msg);
	if (e->details[0])
		fprintf(err, " (%s)", e->details);
	fputc('\n', err);
}

/*
 * Every allocation of the locked network @net into @rows, and its pools into @pools (may be
 * NULL). Return: 0 or -1 (message written).
 */
int admin_collect(struct ipam_store *s, const char *net, struct rows *rows, struct pool_list *pools,
		  FILE *err)
{
	struct pool_list p = { 0 };
	struct cni_error e = { 0 };
	int r = 0;

	if (s->ops->each_pool(s, collect_pool, &p, &e) < 0) {
		if (!e.code)
			cni_err(&e, CNI_ERR_IO, "out of memory");
		admin_store_failed(err, &e, "network %s", net);
		free(p.v);
		return -1;
	}
	for (size_t i = 0; r == 0 && i < p.n; i++) {
		struct collect c = { .s = s, .network = net, .pool = p.v[i], .rows = rows };

		if (s->ops->each_alloc(s, p.v[i], collect_alloc, &c, &e) < 0 ||
		    (s->ops->each_corrupt &&
		     s->ops->each_corrupt(s, p.v[i], collect_corrupt, &c, &e) < 0)) {
			fprintf(err, "mignet ipam: network %s pool %s: %s\n", net, p.v[i],
				c.failed ? strerror(-c.failed) : e.msg);
			r = -1;
		}
	}
	if (pools && r == 0)
		*pools = p;
	else
		free(p.v);
	return r;
}

int admin_lock(struct ipam_store *s, const char *net, FILE *err)
{
	struct cni_error e = { 0 };

	if (s->ops->lock(s, admin_network_arg(net), &e) < 0) {
		admin_store_failed(err, &e, "network %s", net);
		return -1;
	}
	return 0;
}

/* --- release --- */

struct lower {
	struct ipam_store *s;
	const struct ipam_alloc *a;
	struct cni_error *e;
};

static int lower_hint(const char *name, int family, struct ipam_u128 net, unsigned int len,
		      void *arg)
{
	struct lower *l = arg;
	struct ipam_u128 lo, hi;

	if (family != l->a->family)
		return 0;
	ipam_prefix_bounds(family, net, len, &lo, &hi);
	if (ipam_u128_cmp(l->a->ip, lo) < 0 || ipam_u128_cmp(l->a->ip, hi) > 0)
		return 0;
	return l->s->ops->hint_lower(l->s, name, family, l->a->ip, l->e);
}

/* Release @r's allocation in the locked network (not committed). Return: 0 or -1. */
int admin_release(struct ipam_store *s, const struct row *r, FILE *err)
{
	struct cni_error e = { 0 };
	struct lower l = { .s = s, .a = &r->a, .e = &e };

	/* hints first, as the allocator does: a crash in between leaves a hint too low */
	if (s->ops->each_pool(s, lower_hint, &l, &e) < 0 ||
	    s->ops->release(s, r->pool, &r->a, &e) < 0) {
		admin_store_failed(err, &e, "release in network %s", r->network);
		return -1;
	}
	return 0;
}

int admin_commit(struct ipam_store *s, const char *net, FILE *err)
{
	struct cni_error e = { 0 };

	if (s->ops->commit(s, &e) < 0) {
		admin_store_failed(err, &e, "network %s", net);
		return -1;
	}
	return 0;
}

bool admin_row_matches(const struct row *r, const char *what)
{
	struct ipam_u128 ip;
	int family;

	if (ipam_addr_parse(what, &family, &ip) == 0)
		return family == r->a.family && ipam_u128_cmp(ip, r->a.ip) == 0;
	if (r->corrupt[0]) /* it names no pod and no container */
		return false;
	return strcmp(r->a.podref, what) == 0 || strcmp(r->a.id, what) == 0;
}

/* Every allocation of @nets matching @what (all when NULL). Return: 0 or EXIT_FAIL. */
int admin_gather(struct ipam_store *s, char **nets, const char *what, struct rows *ret, FILE *err)
{
	int rc = 0;

	for (size_t i = 0; nets[i]; i++) {
		struct rows rows = { 0 };

		if (admin_lock(s, nets[i], err) < 0) {
			rc = EXIT_FAIL;
			continue;
		}
		if (admin_collect(s, nets[i], &rows, NULL, err) < 0)
			rc = EXIT_FAIL;
		s->ops->unlock(s);
		for (size_t k = 0; k < rows.n; k++) {
			struct row *g;

			if (what && !admin_row_matches(&rows.v[k], what))
				continue;
			g = realloc(ret->v, (ret->n + 1) * sizeof(*g));
			if (!g) {
				rc = EXIT_FAIL;
				break;
			}
			ret->v = g;
			ret->v[ret->n++] = rows.v[k];
		}
		free(rows.v);
	}
	return rc;
}
