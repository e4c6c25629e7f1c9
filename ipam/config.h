/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The whereabouts "ipam" object, resolved once into a struct the allocator trusts: the
 * inline keys, completed by the first flat file found (configuration_path, then the three
 * well-known paths), ranges parsed and checked, the datastore chosen.
 */
#ifndef MIGNET_IPAM_CONFIG_H
#define MIGNET_IPAM_CONFIG_H

#include <json-c/json.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "cni/error.h"
#include "cni/result.h"
#include "ipam/range.h"

#define IPAM_DEFAULT_STORE_DIR "/var/lib/cni/whereabouts"
#define IPAM_DEFAULT_LOCK_TIMEOUT_MS 10000
#define IPAM_NETWORK_NAME_MAX 200

enum ipam_datastore {
	IPAM_STORE_FILE,
	IPAM_STORE_ETCD,
};

/* One static "addresses" entry. */
struct ipam_static {
	struct cni_addr addr;
	uint8_t prefixlen;
	struct cni_addr gateway; /* family 0: none */
};

struct ipam_config {
	struct ipam_range *ranges; /* the top-level range first, then ipRanges */
	size_t n_ranges;
	const char *network_name; /* NULL: the unnamed network */
	bool overlapping;	  /* enable_overlapping_ranges */
	bool has_gateway;
	int gateway_family;
	struct ipam_u128 gateway;
	struct cni_route *routes;
	size_t n_routes;
	struct cni_dns dns;
	struct ipam_static *addresses;
	size_t n_addresses;
	enum ipam_datastore datastore;
	const char *store_dir;
	int64_t lock_timeout_ms;
	char flat_file[PATH_MAX];   /* the flat file used, "" when none */
	struct json_object *merged; /* owns the strings above */
};

/* The flat files whereabouts looks for, after "configuration_path". NULL-terminated. */
extern const char *const ipam_flat_file_paths[];

/**
 * ipam_config_load() - resolve @ipam (the config's "ipam" object)
 * @flat_paths: NULL-terminated list of flat files to try after configuration_path
 *	(ipam_flat_file_paths in the plugin; tests pass their own)
 * Return: 0, or -1 with err set: code 7 naming the key path ("ipam.ipRanges[0].range_end")
 * and the bad value. @ret is zeroed on failure.
 */
int ipam_config_load(struct json_object *ipam, const char *const *flat_paths,
		     struct ipam_config *ret, struct cni_error *err);

/** ipam_config_free() - release everything; accepts a zeroed struct. */
void ipam_config_free(struct ipam_config *c);

/**
 * ipam_gateway_for() - the gateway to report for an address of @r
 * Return: true when the configured gateway lies in @r's CIDR.
 */
bool ipam_gateway_for(const struct ipam_config *c, const struct ipam_range *r);

#endif
