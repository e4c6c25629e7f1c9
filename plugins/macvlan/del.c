// SPDX-License-Identifier: Apache-2.0
/*
 * DEL: give the address back first (IPAM DEL), then remove the link. Everything that may
 * already be gone, the netns, the link, the master, counts as done: a runtime retries DEL
 * until it succeeds, so DEL must converge rather than insist. The master is never looked at.
 */
#include <errno.h>
#include <unistd.h>

#include "cni/delegate.h"
#include "plugins/macvlan/macvlan.h"

int macvlan_del(struct cni_ctx *ctx, struct cni_error *err)
{
	struct cni_error ns_err = { 0 };
	struct nl ctr = { 0 };
	int netns_fd, ifindex, r;

	if (ctx->conf.ipam &&
	    cni_delegate(&ctx->env, CNI_CMD_DEL, ctx->conf.ipam_type, ctx->conf.raw,
			 ctx->conf.raw_len, ctx->conf.version, NULL, err) < 0)
		return -1;
	if (!ctx->env.netns)
		return 0;
	netns_fd = macvlan_netns_open(ctx->env.netns, &ns_err);
	if (netns_fd < 0)
		return ns_err.code == CNI_ERR_UNKNOWN_CONTAINER
			       ? 0
			       : cni_err(err, ns_err.code, "%s", ns_err.msg);
	r = nl_open_in_netns(&ctr, netns_fd);
	close(netns_fd);
	if (r < 0)
		return cni_err_errno(err, CNI_ERR_IO, r,
				     "opening a netlink socket in the container");
	ifindex = nl_link_index(&ctr, ctx->env.ifname);
	r = ifindex < 0 ? ifindex : nl_link_del(&ctr, ifindex);
	if (r == -ENODEV)
		r = 0;
	if (r < 0)
		macvlan_kernel_err(err, &ctr, r, "deleting the link");
	nl_close(&ctr);
	return r < 0 ? -1 : 0;
}
