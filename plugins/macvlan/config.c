// SPDX-License-Identifier: Apache-2.0
/* The macvlan plugin's own configuration keys, checked once at the edge. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cni/json.h"
#include "plugins/macvlan/macvlan.h"

static const struct {
	const char *name;
	enum nl_macvlan_mode mode;
} modes[] = {
	{ "bridge", NL_MACVLAN_BRIDGE }, { "private", NL_MACVLAN_PRIVATE },
	{ "vepa", NL_MACVLAN_VEPA },	 { "passthru", NL_MACVLAN_PASSTHRU },
	{ "source", NL_MACVLAN_SOURCE },
};

int macvlan_mode_parse(const char *name, enum nl_macvlan_mode *ret)
{
	if (!*name) {
		*ret = NL_MACVLAN_BRIDGE;
		return 0;
	}
	for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		if (strcmp(name, modes[i].name) == 0) {
			*ret = modes[i].mode;
			return 0;
		}
	}
	return -1;
}

int macvlan_mac_parse(const char *s, uint8_t ret[6])
{
	uint8_t mac[6];

	if (strlen(s) != 17)
		return -1;
	for (int i = 0; i < 6; i++) {
		const char *p = s + 3 * i;
		unsigned int byte;

		if (i < 5 && p[2] != ':' && p[2] != '-')
			return -1;
		if (!strchr("0123456789abcdefABCDEF", p[0]) ||
		    !strchr("0123456789abcdefABCDEF", p[1]) || !p[0] || !p[1] ||
		    sscanf(p, "%2x", &byte) != 1)
			return -1;
		mac[i] = byte;
	}
	/* a multicast address cannot be a unicast interface's address */
	if (mac[0] & 1)
		return -1;
	memcpy(ret, mac, 6);
	return 0;
}

/* MAC priority: runtimeConfig.mac, then CNI_ARGS MAC, then the config's "mac". */
static int pick_mac(const struct cni_ctx *ctx, const char *config_mac, struct macvlan_config *c,
		    struct cni_error *err)
{
	const char *source = "runtimeConfig.mac", *mac = ctx->conf.runtime_mac;

	if (!mac) {
		source = "CNI_ARGS MAC";
		mac = ctx->args.mac;
	}
	if (!mac) {
		source = "mac";
		mac = config_mac;
	}
	if (!mac)
		return 0;
	if (macvlan_mac_parse(mac, c->mac) < 0)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: %s \"%.32s\" is not a unicast MAC address "
			       "(aa:bb:cc:dd:ee:ff)",
			       source, mac);
	c->has_mac = true;
	return 0;
}

int macvlan_config_parse(const struct cni_ctx *ctx, struct macvlan_config *ret,
			 struct cni_error *err)
{
	struct macvlan_config c = { .mode = NL_MACVLAN_BRIDGE,
				    .mode_name = "bridge",
				    .bcqueuelen = -1 };
	struct json_object *root = ctx->conf.root;
	const char *mac = NULL, *mode = NULL;

	if (cni_json_string(root, NULL, "master", &c.master, err) < 0 ||
	    cni_json_string(root, NULL, "mode", &mode, err) < 0 ||
	    cni_json_int(root, NULL, "mtu", 0, 65535, &c.mtu, err) < 0 ||
	    cni_json_string(root, NULL, "mac", &mac, err) < 0 ||
	    cni_json_bool(root, NULL, "linkInContainer", &c.link_in_container, err) < 0 ||
	    cni_json_int(root, NULL, "bcqueuelen", 0, UINT32_MAX, &c.bcqueuelen, err) < 0)
		return -1;
	if (c.master && !*c.master)
		c.master = NULL;
	if (c.master && !cni_valid_ifname(c.master))
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: \"master\" \"%.64s\" is not a valid interface name",
			       c.master);
	if (mode) {
		if (macvlan_mode_parse(mode, &c.mode) < 0) {
			cni_err(err, CNI_ERR_CONFIG, "invalid config: unknown \"mode\" \"%.32s\"",
				mode);
			return cni_err_details(
				err, "modes: bridge (default), private, vepa, passthru, source");
		}
		if (*mode)
			c.mode_name = mode;
	}
	if (pick_mac(ctx, mac, &c, err) < 0)
		return -1;
	*ret = c;
	return 0;
}

int macvlan_kernel_err(struct cni_error *err, const struct nl *nl, int neg_errno, const char *what)
{
	cni_err(err, MACVLAN_ERR_KERNEL, "%s: %s", what, strerror(-neg_errno));
	if (nl && nl->ext_ack[0])
		cni_err_details(err, "kernel: %s", nl->ext_ack);
	return -1;
}

int macvlan_netns_open(const char *path, struct cni_error *err)
{
	int fd = nl_netns_open(path);

	if (fd == -ENOENT)
		return cni_err(err, CNI_ERR_UNKNOWN_CONTAINER,
			       "CNI_NETNS \"%.200s\" does not exist", path);
	if (fd == -EINVAL)
		return cni_err(err, CNI_ERR_ENV, "CNI_NETNS \"%.200s\" is not a network namespace",
			       path);
	if (fd < 0)
		return cni_err_errno(err, CNI_ERR_IO, fd, "opening CNI_NETNS");
	return fd;
}

int macvlan_find_master(struct nl *nl, const struct macvlan_config *cfg, struct cni_error *err)
{
	int ifindex;

	if (!cfg->master) {
		ifindex = nl_default_route_ifindex(nl);
		if (ifindex == -ENOENT)
			return cni_err(err, CNI_ERR_CONFIG,
				       "invalid config: \"master\" is not set and there is no "
				       "default route to take it from");
		if (ifindex < 0)
			return macvlan_kernel_err(err, nl, ifindex, "finding the default route");
		return ifindex;
	}
	ifindex = nl_link_index(nl, cfg->master);
	if (ifindex == -ENODEV)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: \"master\" interface \"%s\" not found%s",
			       cfg->master, cfg->link_in_container ? " in the container" : "");
	if (ifindex < 0)
		return macvlan_kernel_err(err, nl, ifindex, "looking up the master");
	return ifindex;
}
