/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The whereabouts IPAM plugin: the session each verb begins with, and the verbs. The CNI
 * protocol is cni/'s business and allocation is ipam/'s; this plugin only translates between
 * them.
 */
#ifndef MIGNET_PLUGINS_WHEREABOUTS_H
#define MIGNET_PLUGINS_WHEREABOUTS_H

#include <stdbool.h>

#include "cni/plugin.h"
#include "ipam/config.h"
#include "ipam/store.h"

/* What a verb works on: the resolved config, the open store, who asks. */
struct wb_session {
	struct ipam_config conf;
	struct ipam_store *store;
	char podref[IPAM_PODREF_MAX];
	char node[IPAM_NODE_MAX];
};

/**
 * wb_session_begin() - resolve the config of @ctx and open its store
 * @owner: resolve whose the allocations are (ADD, GC), before the store is touched
 * Return: 0, or -1 with err set (and nothing left open).
 */
int wb_session_begin(struct cni_ctx *ctx, struct wb_session *s, bool owner, struct cni_error *err);

/** wb_session_end() - close the store and free the config of @s. */
void wb_session_end(struct wb_session *s);

int whereabouts_add(struct cni_ctx *ctx, struct cni_result *ret, struct cni_error *err);
int whereabouts_del(struct cni_ctx *ctx, struct cni_error *err);
int whereabouts_check(struct cni_ctx *ctx, struct cni_error *err);
int whereabouts_status(struct cni_ctx *ctx, struct cni_error *err);
int whereabouts_gc(struct cni_ctx *ctx, struct cni_error *err);

#endif
