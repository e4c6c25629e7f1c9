/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The etcd store (store_etcd.c) and node slices (node_slice.c): the cluster-wide stores
 * behind struct ipam_store_ops, and the etcd connection of a config (etcd_conn.c). Their layout is
 * documented in docs/etcd.md.
 */
#ifndef MIGNET_IPAM_ETCD_STORE_H
#define MIGNET_IPAM_ETCD_STORE_H

#include <stdint.h>

#include "cni/error.h"
#include "ipam/config.h"
#include "etcd/kv.h"
#include "ipam/store.h"

#define IPAM_ETCD_PREFIX "/mignet/whereabouts/"

/**
 * ipam_etcd_config() - the etcd connection keys of the "ipam" object (whereabouts' names:
 * etcd_host, etcd_username, etcd_password, etcd_cert_file, etcd_key_file, etcd_ca_cert_file)
 * The strings point into @c->merged.
 * Return: 0, or -1 with err set (code 7 naming the key).
 */
int ipam_etcd_config(const struct ipam_config *c, struct etcd_config *ret, struct cni_error *err);

/**
 * ipam_etcd_client_new() - a client for @cfg
 * A missing libcurl is the machine's fault, not the config's: code 5 (STATUS reports it as
 * 50, the plugin not ready); the rest (endpoints, TLS files) is code 7 on "ipam.etcd_host".
 * Return: 0 with *@ret set, or -1 with err set.
 */
int ipam_etcd_client_new(const struct etcd_config *cfg, struct etcd_client **ret,
			 struct cni_error *err);

/**
 * ipam_store_etcd_open() - the etcd store for a config with "datastore": "etcd" (and no
 * "node_slice_size": ipam_store_open() chooses). Every verb (lock() to unlock(), with its
 * retries) is bounded by @c->lock_timeout_ms; past it the verb fails with code 11 and nothing
 * of it is written.
 * Return: 0 with *@ret set, or -1 with err set (code 7 for a bad etcd key).
 */
int ipam_store_etcd_open(const struct ipam_config *c, struct ipam_store **ret,
			 struct cni_error *err);

/**
 * ipam_store_etcd_open_client() - the etcd store on an existing client (tests, bench)
 * @timeout_ms: the bound of each verb. The store owns @client from now on.
 */
int ipam_store_etcd_open_client(struct etcd_client *client, int64_t timeout_ms,
				struct ipam_store **ret, struct cni_error *err);

/**
 * ipam_node_slice_apply() - with "node_slice_size", narrow every range of @c to this node's
 * slice, claiming one in etcd when the node holds none (or renewing the node's lease when
 * due), so that the file store at @c->store_dir then allocates inside it.
 * The node is ipam_node_name()'s.
 * Return: 0 (also when @c has no node_slice_size), or -1 with err set: code 11 when etcd
 * cannot be reached in time and no valid local claim exists, 999 when no slice is free.
 */
int ipam_node_slice_apply(struct ipam_config *c, struct cni_error *err);

#endif
