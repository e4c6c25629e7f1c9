// SPDX-License-Identifier: Apache-2.0
/*
 * macvlan: a CNI plugin that gives a container a macvlan interface on a host NIC.
 *
 * Least privilege (cni/caps.h, measured in docs/reliability.md): before it reads any input the
 * plugin keeps CAP_NET_ADMIN (links, addresses, routes), CAP_SYS_ADMIN (setns into the
 * container's netns) and, only when CNI_NETNS lies under /proc (/proc/PID/ns/net), CAP_SYS_PTRACE
 * (the kernel lets a process open another's namespace files only if its permitted set covers
 * the target's, or with CAP_SYS_PTRACE); everything else leaves the effective, permitted,
 * inheritable and bounding sets, so a delegated IPAM plugin inherits no more either. Each verb
 * then checks what it needs and names what is missing.
 */
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni/caps.h"
#include "plugins/macvlan/macvlan.h"

static const struct cni_cap cap_net_admin = {
	CAP_NET_ADMIN, "to create, configure and delete the link, its addresses and routes"
};
static const struct cni_cap cap_sys_admin = { CAP_SYS_ADMIN,
					      "to enter the container's network namespace" };
static const struct cni_cap cap_sys_ptrace = { CAP_SYS_PTRACE,
					       "to open another process's /proc/PID/ns/net" };

/* Does @netns resolve to a file under /proc (a process's namespace link)? */
static bool netns_in_proc(const char *netns)
{
	char real[PATH_MAX];

	if (!netns || !*netns)
		return false;
	if (!realpath(netns, real))
		return strncmp(netns, "/proc/", 6) == 0;
	return strncmp(real, "/proc/", 6) == 0;
}

/* Check @n of @caps, plus CAP_SYS_PTRACE when the container's netns is a /proc link. */
static int need(const struct cni_ctx *ctx, const struct cni_cap *const *caps, size_t n,
		struct cni_error *err)
{
	struct cni_cap list[4];
	char what[32];
	size_t k = 0;

	for (size_t i = 0; i < n && k < 3; i++)
		list[k++] = *caps[i];
	if (netns_in_proc(ctx->env.netns))
		list[k++] = cap_sys_ptrace;
	snprintf(what, sizeof(what), "macvlan %s", cni_command_name(ctx->env.command));
	return cni_caps_check(what, list, k, err);
}

static int add(struct cni_ctx *ctx, struct cni_result *ret, struct cni_error *err)
{
	const struct cni_cap *caps[] = { &cap_net_admin, &cap_sys_admin };

	if (need(ctx, caps, 2, err) < 0)
		return -1;
	return macvlan_add(ctx, ret, err);
}

static int del(struct cni_ctx *ctx, struct cni_error *err)
{
	const struct cni_cap *caps[] = { &cap_net_admin, &cap_sys_admin };

	/* without a netns, DEL only gives the address back: IPAM's business */
	if (ctx->env.netns && need(ctx, caps, 2, err) < 0)
		return -1;
	return macvlan_del(ctx, err);
}

static int check(struct cni_ctx *ctx, struct cni_error *err)
{
	const struct cni_cap *caps[] = { &cap_sys_admin }; /* CHECK only reads */

	if (need(ctx, caps, 1, err) < 0)
		return -1;
	return macvlan_check(ctx, err);
}

/* STATUS (reads the master) and GC (IPAM only) need no capability. */
static const struct cni_plugin macvlan_plugin = {
	.name = "macvlan",
	.add = add,
	.del = del,
	.check = check,
	.status = macvlan_status,
	.gc = macvlan_gc,
};

int main(void)
{
	struct cni_cap keep[] = { cap_net_admin, cap_sys_admin, cap_sys_ptrace };

	/* keep CAP_SYS_PTRACE only when the netns will be opened through /proc */
	if (cni_caps_drop(keep, netns_in_proc(getenv("CNI_NETNS")) ? 3 : 2) < 0) {
		/* Not fatal: each verb still checks what it needs before using it. */
	}
	return cni_plugin_run(&macvlan_plugin, stdin, stdout, stderr);
}
