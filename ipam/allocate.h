/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The allocator: whereabouts' rules on top of any struct ipam_store. Every function takes
 * the network's lock, does all of its ranges under it, commits, and unlocks.
 */
#ifndef MIGNET_IPAM_ALLOCATE_H
#define MIGNET_IPAM_ALLOCATE_H

#include <stdbool.h>
#include <stddef.h>

#include "cni/error.h"
#include "ipam/config.h"
#include "ipam/store.h"

/* Who asks: the pod (when the runtime names it) and the attachment. */
struct ipam_owner {
	const char *podref;	 /* "namespace/name", or NULL: the identity is (id, ifname) */
	const char *id;		 /* CNI_CONTAINERID */
	const char *ifname;	 /* CNI_IFNAME */
	const char *cni_network; /* the CNI network "name", or NULL: not recorded */
	const char *node;	 /* ipam_node_name(), or NULL: not recorded */
	/* the container's netns path (CNI_NETNS), or NULL: not recorded (ipam_netns_usable()) */
	const char *netns;
};

/**
 * ipam_allocate() - one address per range of @c for @o, in range order
 * An identity that already holds an address in a range keeps it (the container ID is
 * updated). Otherwise the lowest free address wins: usable, not excluded, not held in the
 * pool, and, with enable_overlapping_ranges, not held by another pool of the network that
 * contains it. If a range is exhausted, what this call allocated in earlier ranges is
 * released again.
 * @ret_ips: receives c->n_ranges addresses
 * Return: 0, or -1 with err set (999 naming the exhausted range; store errors as they come).
 */
int ipam_allocate(struct ipam_store *s, const struct ipam_config *c, const struct ipam_owner *o,
		  struct ipam_u128 *ret_ips, struct cni_error *err);

/**
 * ipam_release() - release what (@id, @ifname) holds in every range of @c
 * Return: the number released (0 when nothing was held), or -1 with err set.
 */
int ipam_release(struct ipam_store *s, const struct ipam_config *c, const char *id,
		 const char *ifname, struct cni_error *err);

/**
 * ipam_lookup() - what (@id, @ifname) holds, range by range, without changing anything
 * @ret_found: c->n_ranges flags; @ret_ips: c->n_ranges addresses (valid where found)
 * Return: 0, or -1 with err set.
 */
int ipam_lookup(struct ipam_store *s, const struct ipam_config *c, const char *id,
		const char *ifname, bool *ret_found, struct ipam_u128 *ret_ips,
		struct cni_error *err);

/* GC: is this attachment still valid? */
typedef bool (*ipam_valid_cb)(const char *id, const char *ifname, void *arg);

/**
 * ipam_gc() - release every allocation of @c's ranges whose attachment @valid refuses
 * Only the allocations made for CNI network @cni_network on node @node are judged (NULL:
 * any); those of other networks sharing a pool and of other nodes sharing the store are
 * kept, whatever @valid says (ipam_alloc_in_scope()).
 * Return: the number released, or -1 with err set.
 */
int ipam_gc(struct ipam_store *s, const struct ipam_config *c, const char *cni_network,
	    const char *node, ipam_valid_cb valid, void *arg, struct cni_error *err);

#endif
