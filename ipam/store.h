/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The allocation store, behind one small interface so that the allocator runs unchanged on
 * the file store (store_file.c) and on the etcd store that comes later.
 *
 * Model: a store holds networks (a "network_name", or the unnamed network); a network holds
 * pools, one per range CIDR, named by ipam_pool_name() ("10.1.0.0_16"); a pool holds
 * allocations, at most one per address. Every operation but open/close/status runs inside
 * lock() … unlock() on one network, which excludes every other process using the same store
 * (on a shared mount, every node). Changes become durable at commit(), which the allocator
 * calls before it answers; a change is atomic on its own (a crash leaves it done or not).
 */
#ifndef MIGNET_IPAM_STORE_H
#define MIGNET_IPAM_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "cni/error.h"
#include "ipam/range.h"

struct ipam_config;

#define IPAM_ID_MAX 256	    /* container ID, with its NUL */
#define IPAM_PODREF_MAX 512 /* "namespace/name", with its NUL */
#define IPAM_IFNAME_MAX 16
#define IPAM_CNI_NETWORK_MAX 256 /* the CNI network "name", with its NUL */
#define IPAM_NODE_MAX 254	 /* a node name (Kubernetes: at most 253), with its NUL */
#define IPAM_NETNS_MAX 1024	 /* the netns path recorded with an allocation, with its NUL */

/* One allocation: an address and who holds it. */
struct ipam_alloc {
	int family;
	struct ipam_u128 ip;
	char id[IPAM_ID_MAX];	      /* CNI_CONTAINERID of the latest ADD */
	char podref[IPAM_PODREF_MAX]; /* "namespace/name", "" when the runtime gave none */
	char ifname[IPAM_IFNAME_MAX];
	/*
	 * Whose it is, for GC: the CNI network "name" of the ADD and the node that made it.
	 * "" in a record written before they were recorded (docs/whereabouts.md).
	 */
	char cni_network[IPAM_CNI_NETWORK_MAX];
	char node[IPAM_NODE_MAX];
	/*
	 * The container's network namespace of the ADD (CNI_NETNS), so that `mignet ipam gc` can
	 * tell a live attachment from a stale one; "" when not recorded.
	 */
	char netns[IPAM_NETNS_MAX];
};

struct ipam_store;

/* The index find() looks a key up in: the pod's (a podref) or the container's (its ID). */
enum ipam_index {
	IPAM_INDEX_POD = 'p',
	IPAM_INDEX_ID = 'c',
};

/* Called for each pool of the locked network: its name and CIDR. Return <0 to stop. */
typedef int (*ipam_pool_cb)(const char *pool, int family, struct ipam_u128 net,
			    unsigned int prefixlen, void *arg);
/* Called for each allocation of a pool. Return <0 to stop. */
typedef int (*ipam_alloc_cb)(const struct ipam_alloc *a, void *arg);
/* Called for each corrupt entry of a pool: the address it keeps taken, and why. <0 stops. */
typedef int (*ipam_corrupt_cb)(int family, struct ipam_u128 ip, const char *why, void *arg);

/*
 * Every function returns >= 0 on success (lookups: 1 found, 0 not found) or -1 with err set:
 * code 11 when the lock cannot be had in time, 5 for an I/O failure, 7 for an unusable store
 * location. A pool that was never written is empty, not an error.
 */
struct ipam_store_ops {
	const char *name;
	int (*lock)(struct ipam_store *s, const char *network, struct cni_error *err);
	void (*unlock)(struct ipam_store *s);
	int (*commit)(struct ipam_store *s, struct cni_error *err);
	/*
	 * Optional, NULL for stores that lock. After a verb failed, true when
	 * the store's commit lost a race (an optimistic store such as etcd) and the verb should
	 * run again from lock(); the store spaces and bounds the attempts.
	 */
	bool (*retry)(struct ipam_store *s);
	/* the allocation of (@key, @ifname), @key a podref or a container ID as @by says */
	int (*find)(struct ipam_store *s, const char *pool, enum ipam_index by, const char *key,
		    const char *ifname, struct ipam_alloc *ret, struct cni_error *err);
	/* is @ip held in @pool? 1 yes, 0 no */
	int (*taken)(struct ipam_store *s, const char *pool, int family, struct ipam_u128 ip,
		     struct cni_error *err);
	/* record @a; @old is NULL for a new address, else the record it replaces (same ip) */
	int (*put)(struct ipam_store *s, const char *pool, const struct ipam_alloc *a,
		   const struct ipam_alloc *old, struct cni_error *err);
	int (*release)(struct ipam_store *s, const char *pool, const struct ipam_alloc *a,
		       struct cni_error *err);
	/*
	 * The search hint: an address below which every usable address of the range whose
	 * digest is @digest is unavailable. get: 1 with @ret set, 0 none (or another digest).
	 */
	int (*hint_get)(struct ipam_store *s, const char *pool, uint64_t digest,
			struct ipam_u128 *ret, struct cni_error *err);
	int (*hint_set)(struct ipam_store *s, const char *pool, int family, struct ipam_u128 ip,
			uint64_t digest, struct cni_error *err);
	/* lower the hint of @pool, whatever its digest, to @ip if it is above */
	int (*hint_lower)(struct ipam_store *s, const char *pool, int family, struct ipam_u128 ip,
			  struct cni_error *err);
	int (*each_pool)(struct ipam_store *s, ipam_pool_cb cb, void *arg, struct cni_error *err);
	int (*each_alloc)(struct ipam_store *s, const char *pool, ipam_alloc_cb cb, void *arg,
			  struct cni_error *err);
	/*
	 * Optional (NULL: the store holds nothing but records). Each entry of @pool that keeps
	 * its address taken without a well-formed record of it (garbage, the record of another
	 * address, a symbolic link), which each_alloc() does not show. release() of an alloc
	 * with only family and ip set removes one.
	 */
	int (*each_corrupt)(struct ipam_store *s, const char *pool, ipam_corrupt_cb cb, void *arg,
			    struct cni_error *err);
	/* can the store be used? (without the lock) */
	int (*status)(struct ipam_store *s, struct cni_error *err);
	void (*close)(struct ipam_store *s);
};

struct ipam_store {
	const struct ipam_store_ops *ops;
};

/**
 * ipam_store_file_open() - the file store rooted at @dir
 * @dir is created (0700, parents 0755) when missing; it must be a directory owned by us,
 * not a symlink, and not writable by group or others.
 * @lock_timeout_ms: how long lock() waits before failing with code 11
 * Return: 0 with *@ret set, or -1 with err set (code 7 for a refused @dir, 5 for I/O).
 */
int ipam_store_file_open(const char *dir, int64_t lock_timeout_ms, struct ipam_store **ret,
			 struct cni_error *err);

/**
 * ipam_netns_usable() - may @path be recorded as an allocation's netns? (an absolute path
 * that fits IPAM_NETNS_MAX, without a line break)
 */
bool ipam_netns_usable(const char *path);

/**
 * ipam_store_open() - the store @c selects: the file store at "store_dir" (the default), the
 * etcd store for "datastore": "etcd", or, with "node_slice_size" too, the file store at
 * "store_dir" after ipam_node_slice_apply() narrowed @c's ranges to this node's slices
 * Return: 0 with *@ret set, or -1 with err set (as the store's open says).
 */
int ipam_store_open(struct ipam_config *c, struct ipam_store **ret, struct cni_error *err);

/**
 * ipam_record_check() - is @text a well-formed allocation record filed under address @name?
 * (one JSON object with string "ip", "id", "podref" and "ifname" that fit, "ip" == @name)
 * Return: true, or false with the reason in @why.
 */
bool ipam_record_check(const char *text, const char *name, char *why, size_t size);

/** ipam_network_dir() - the directory name of a network: its name, or "_unnamed". */
static inline const char *ipam_network_dir(const char *network)
{
	return network && *network ? network : "_unnamed";
}

#endif
