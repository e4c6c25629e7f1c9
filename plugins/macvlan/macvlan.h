/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The macvlan plugin: its configuration and its verbs. The CNI protocol is cni/'s business
 * and the kernel is netlink/'s; this plugin only decides what to ask of each, and in which
 * order, so that a failure at any step leaves nothing behind.
 */
#ifndef MIGNET_PLUGINS_MACVLAN_H
#define MIGNET_PLUGINS_MACVLAN_H

#include <stdbool.h>
#include <stdint.h>

#include "cni/plugin.h"
#include "netlink/nl.h"

/* Plugin-specific error codes (the spec reserves >= 100 for them). */
enum macvlan_code {
	MACVLAN_ERR_KERNEL = 100, /* the kernel refused a link, address or route operation */
	MACVLAN_ERR_IFNAME_TAKEN = 101,
	MACVLAN_ERR_DAD = 102,	 /* an IPv6 address failed duplicate address detection */
	MACVLAN_ERR_CHECK = 103, /* CHECK found the interface not as prevResult says */
};

struct macvlan_config {
	const char *master; /* NULL: the interface of the main table's default route */
	enum nl_macvlan_mode mode;
	const char *mode_name;
	int64_t mtu; /* 0: the kernel's choice (the master's MTU) */
	bool has_mac;
	uint8_t mac[6];		/* runtimeConfig.mac > CNI_ARGS MAC > config "mac" */
	bool link_in_container; /* the master lives in the container's netns */
	int64_t bcqueuelen;	/* -1: kernel default */
};

/**
 * macvlan_config_parse() - read and check the plugin's keys of @ctx's config
 * Return: 0, or -1 with err set (code 7 naming the bad key).
 */
int macvlan_config_parse(const struct cni_ctx *ctx, struct macvlan_config *ret,
			 struct cni_error *err);

/**
 * macvlan_mode_parse() - "bridge", "private", "vepa", "passthru", "source"; "" is bridge.
 * Return: 0, or -1 for an unknown name.
 */
int macvlan_mode_parse(const char *name, enum nl_macvlan_mode *ret);

/** macvlan_mac_parse() - parse "aa:bb:cc:dd:ee:ff" (or '-' separated). Return: 0 or -1. */
int macvlan_mac_parse(const char *s, uint8_t ret[6]);

/**
 * macvlan_kernel_err() - record a failed kernel operation: code 100, "@what: strerror", and
 * the kernel's extended-ACK text (if any) in the details. Return: -1.
 */
int macvlan_kernel_err(struct cni_error *err, const struct nl *nl, int neg_errno, const char *what);

/**
 * macvlan_netns_open() - open CNI_NETNS: code 3 if it does not exist, 4 if it is not a
 * network namespace. Return: the fd, or -1 with err set.
 */
int macvlan_netns_open(const char *path, struct cni_error *err);

/**
 * macvlan_find_master() - the master's ifindex in the namespace of @nl, resolving the default
 * route's interface when the config names none. Return: the ifindex, or -1 with err set.
 */
int macvlan_find_master(struct nl *nl, const struct macvlan_config *cfg, struct cni_error *err);

/**
 * macvlan_route_gateway() - the gateway ADD gives @rt: its own "gw", else the last IP of @res
 * of its family that has a gateway (as the reference plugin does)
 * Return: the gateway, or NULL for a route without one (on-link).
 */
const struct cni_addr *macvlan_route_gateway(const struct cni_result *res,
					     const struct cni_route *rt);

int macvlan_add(struct cni_ctx *ctx, struct cni_result *ret, struct cni_error *err);
int macvlan_del(struct cni_ctx *ctx, struct cni_error *err);
int macvlan_check(struct cni_ctx *ctx, struct cni_error *err);
int macvlan_status(struct cni_ctx *ctx, struct cni_error *err);
int macvlan_gc(struct cni_ctx *ctx, struct cni_error *err);

#endif
