// SPDX-License-Identifier: Apache-2.0
/*
 * The one place a store is chosen from a config, for the whereabouts plugin and `mignet ipam`
 * alike.
 */
#include <stdbool.h>
#include <string.h>

#include "cni/json.h"
#include "ipam/config.h"
#include "ipam/etcd_store.h"
#include "ipam/store.h"

bool ipam_netns_usable(const char *path)
{
	return path && path[0] == '/' && strlen(path) < IPAM_NETNS_MAX && !strpbrk(path, "\n\r");
}

int ipam_store_open(struct ipam_config *c, struct ipam_store **ret, struct cni_error *err)
{
	const char *slice = NULL;

	if (c->datastore != IPAM_STORE_ETCD)
		return ipam_store_file_open(c->store_dir, c->lock_timeout_ms, ret, err);
	if (cni_json_string(c->merged, "ipam", "node_slice_size", &slice, err) < 0)
		return -1;
	if (!slice || !*slice)
		return ipam_store_etcd_open(c, ret, err);
	/* node slices: this node's slices are claimed in etcd, its addresses kept in files */
	if (ipam_node_slice_apply(c, err) < 0)
		return -1;
	return ipam_store_file_open(c->store_dir, c->lock_timeout_ms, ret, err);
}
