/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whose an allocation is, beyond its attachment: the CNI network "name" it was made for and
 * the node that made it, both recorded with it. A GC (the plugin's, and `mignet ipam gc`)
 * judges only the allocations of its own network made on its own node: two networks may
 * share a pool, and a store may be shared by every node. A record written before these
 * were recorded lacks them and matches any network and any node (docs/whereabouts.md).
 */
#ifndef MIGNET_IPAM_OWNER_H
#define MIGNET_IPAM_OWNER_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>

#include "cni/error.h"
#include "ipam/config.h"
#include "ipam/store.h"

/**
 * ipam_node_name() - the name of this node, recorded with each allocation it makes (and the
 * owner of its node slices)
 * @c: the resolved config, or NULL (then only the environment and the host name count)
 * The first that is set wins: "ipam.node_name" (inline, or from the flat file); $NODENAME;
 * the file "nodename" in the directory of the flat file used (whereabouts' install-cni.sh
 * writes $NODENAME there); the host name. Surrounding white space is trimmed.
 * @ret: at least IPAM_NODE_MAX bytes
 * Return: 0, or -1 with err set (code 7 for a bad "ipam.node_name" or nodename file, 4 for a
 * bad $NODENAME or host name: empty, over 253 bytes, a '/', white space or a control
 * character).
 */
int ipam_node_name(const struct ipam_config *c, char *ret, size_t size, struct cni_error *err);

/**
 * ipam_alloc_in_scope() - may a GC of CNI network @cni_network on node @node judge @a?
 * @cni_network, @node: NULL matches any. A record without the field matches too.
 */
bool ipam_alloc_in_scope(const struct ipam_alloc *a, const char *cni_network, const char *node);

/** ipam_record_add_owner() - add "cni_network" and "node" of @a to record @o (when set). */
void ipam_record_add_owner(struct json_object *o, const struct ipam_alloc *a);

/**
 * ipam_record_get_owner() - read "cni_network" and "node" of record @o into @a
 * A field that is absent, not a string or too long is left "" (as in an older record).
 */
void ipam_record_get_owner(struct json_object *o, struct ipam_alloc *a);

#endif
