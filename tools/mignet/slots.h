/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Waiting for a migration slot, for `send` and `migrate`: the node-local
 * parallelOutboundMigrationsPerNode (mig_limit.h) and the cluster-wide
 * parallelMigrationsPerCluster (mig_cluster_limit.h), said on stderr and as JSON events.
 */
#ifndef MIGNET_TOOLS_SLOTS_H
#define MIGNET_TOOLS_SLOTS_H

#include <stdbool.h>

struct slot_waiter {
	const char *who; /* "mignet send" */
	bool json;
};

/** slot_outbound() - wait for a node-local slot in @dir. Return: the slot fd or -errno. */
int slot_outbound(const struct slot_waiter *w, const char *dir, unsigned int limit);

/** slot_cluster_waiting() - mig_cluster_opts.on_wait; @arg is a struct slot_waiter. */
void slot_cluster_waiting(void *arg, unsigned int limit);

#endif
