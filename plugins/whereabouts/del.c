// SPDX-License-Identifier: Apache-2.0
/*
 * whereabouts DEL and GC: release what an attachment holds; GC releases what no valid attachment
 * holds.
 */
#include <stdbool.h>

#include "cni/conf.h"
#include "cni/log.h"
#include "ipam/allocate.h"
#include "plugins/whereabouts/whereabouts.h"

int whereabouts_del(struct cni_ctx *ctx, struct cni_error *err)
{
	struct wb_session s;
	int n;

	if (wb_session_begin(ctx, &s, false, err) < 0)
		return -1;
	n = ipam_release(s.store, &s.conf, ctx->env.containerid, ctx->env.ifname, err);
	if (n >= 0)
		cni_log(CNI_LOG_VERBOSE, "released %d address(es)", n);
	wb_session_end(&s);
	return n < 0 ? -1 : 0;
}

static bool attachment_valid(const char *id, const char *ifname, void *arg)
{
	return cni_conf_attachment_valid(arg, id, ifname);
}

int whereabouts_gc(struct cni_ctx *ctx, struct cni_error *err)
{
	struct wb_session s;
	int n;

	/* no list of valid attachments, nothing to judge by: release nothing */
	if (!ctx->conf.has_attachments)
		return 0;
	if (wb_session_begin(ctx, &s, true, err) < 0)
		return -1;
	/* only this network's allocations made on this node: others share the pool or store */
	n = ipam_gc(s.store, &s.conf, ctx->conf.name, s.node, attachment_valid, &ctx->conf, err);
	if (n >= 0)
		cni_log(CNI_LOG_VERBOSE, "gc released %d address(es)", n);
	wb_session_end(&s);
	return n < 0 ? -1 : 0;
}
