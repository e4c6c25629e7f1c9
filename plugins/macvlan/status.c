// SPDX-License-Identifier: Apache-2.0
/*
 * STATUS and GC concern the network, not a container. STATUS: the plugin can serve ADDs when
 * its master exists (code 50 otherwise) and its IPAM says it can. GC: the links die with their
 * netns, so only IPAM holds anything to collect.
 */
#include "cni/delegate.h"
#include "plugins/macvlan/macvlan.h"

int macvlan_status(struct cni_ctx *ctx, struct cni_error *err)
{
	struct macvlan_config cfg;
	struct nl host = { 0 };
	int r;

	if (macvlan_config_parse(ctx, &cfg, err) < 0)
		return -1;
	/* with linkInContainer the master is in a container we do not know yet */
	if (!cfg.link_in_container) {
		r = nl_open(&host);
		if (r < 0)
			return cni_err_errno(err, CNI_ERR_IO, r, "opening a netlink socket");
		r = macvlan_find_master(&host, &cfg, err);
		nl_close(&host);
		if (r < 0) {
			err->code = CNI_ERR_NOT_AVAILABLE;
			return -1;
		}
	}
	if (ctx->conf.ipam)
		return cni_delegate(&ctx->env, CNI_CMD_STATUS, ctx->conf.ipam_type, ctx->conf.raw,
				    ctx->conf.raw_len, ctx->conf.version, NULL, err) < 0
			       ? -1
			       : 0;
	return 0;
}

int macvlan_gc(struct cni_ctx *ctx, struct cni_error *err)
{
	if (!ctx->conf.ipam)
		return 0;
	return cni_delegate(&ctx->env, CNI_CMD_GC, ctx->conf.ipam_type, ctx->conf.raw,
			    ctx->conf.raw_len, ctx->conf.version, NULL, err) < 0
		       ? -1
		       : 0;
}
