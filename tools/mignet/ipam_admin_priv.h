/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Inside `mignet ipam` (cmd_ipam.c, the commands and their output; ipam_walk.c, the
 * store walk under each network's lock): what the two halves share. Private to them.
 */
#ifndef MIGNET_TOOLS_IPAM_ADMIN_PRIV_H
#define MIGNET_TOOLS_IPAM_ADMIN_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "cni/error.h"
#include "ipam/config.h"
#include "ipam/store.h"

#define EXIT_FAIL 1
#define EXIT_USAGE 2

struct opts {
	const char *store_dir;
	const char *config;
	const char *network; /* a network_name, "_unnamed", or NULL: every network */
	const char *node;    /* gc: --node, else ipam_node_name() */
	bool json, dry_run;
	int64_t timeout_ms;
	struct ipam_config conf; /* from --config */
};

/* One allocation as the admin sees it. */
struct row {
	char network[IPAM_NETWORK_NAME_MAX + 16];
	char pool[IPAM_CIDR_MAX];
	struct ipam_alloc a;	    /* of a corrupt entry: family and ip only */
	char netns[IPAM_NETNS_MAX]; /* "" when the record holds none */
	char corrupt[256];	    /* why the entry is no record; "" for a record */
};

struct rows {
	struct row *v;
	size_t n;
};

enum ns_state { NS_UNKNOWN, NS_LIVE, NS_GONE, NS_NOT_NETNS, NS_UNRECORDED };

/* The pools of a network, by name. */
struct pool_list {
	char (*v)[IPAM_CIDR_MAX];
	size_t n;
};

extern const char *const admin_ns_state_name[];

/** admin_pool_cidr() - "10.1.0.0_16" -> "10.1.0.0/16" into @buf */
void admin_pool_cidr(const char *pool, char *buf, size_t size);

/** admin_network_arg() - the network name the store takes for directory @dir ("_unnamed": NULL) */
const char *admin_network_arg(const char *dir);

/** admin_netns_state() - is @path (a recorded netns) live, gone, no namespace, unknown? */
enum ns_state admin_netns_state(const char *path);

/**
 * admin_store_failed() - say a store's failure on @err, after "mignet ipam: <fmt>: ": its
 * message and, when it has them, its details (for etcd: which endpoint failed, how)
 */
void admin_store_failed(FILE *err, const struct cni_error *e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * admin_collect() - every allocation of the locked network @net into @rows, and its pools
 * into @pools (may be NULL)
 * Return: 0 or -1 (message written).
 */
int admin_collect(struct ipam_store *s, const char *net, struct rows *rows, struct pool_list *pools,
		  FILE *err);

/** admin_lock() - lock network @net. Return: 0 or -1 (message written). */
int admin_lock(struct ipam_store *s, const char *net, FILE *err);

/**
 * admin_release() - release @r's allocation in the locked network (not committed), its
 * pools' hints lowered first. Return: 0 or -1 (message written).
 */
int admin_release(struct ipam_store *s, const struct row *r, FILE *err);

/** admin_commit() - commit the locked network @net. Return: 0 or -1 (message written). */
int admin_commit(struct ipam_store *s, const char *net, FILE *err);

/** admin_row_matches() - does @r hold address @what, or belong to pod or container @what? */
bool admin_row_matches(const struct row *r, const char *what);

/**
 * admin_gather() - every allocation of @nets matching @what (an address, a namespace/pod or
 * a container ID; all when NULL), each network read under its lock
 * Return: 0 or EXIT_FAIL.
 */
int admin_gather(struct ipam_store *s, char **nets, const char *what, struct rows *ret, FILE *err);

#endif
