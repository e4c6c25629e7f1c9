/* SPDX-License-Identifier: Apache-2.0 */
/*
 * One result model for every CNI version. Parsed from any version's JSON (an IPAM plugin's
 * output or a prevResult) and printed in any version: 1.x (interfaces, ips with an interface
 * index, routes, dns), 0.3.x/0.4.0 (the same plus "version" per IP), 0.1.0/0.2.0 (ip4/ip6).
 */
#ifndef MIGNET_CNI_RESULT_H
#define MIGNET_CNI_RESULT_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cni/error.h"
#include "cni/version.h"

/* A binary IPv4 (first 4 bytes) or IPv6 address; family 0 means "none". */
struct cni_addr {
	int family;
	uint8_t bytes[16];
};

struct cni_interface {
	char *name;
	char *mac;
	char *sandbox;	   /* the netns path; NULL for a host interface */
	uint32_t mtu;	   /* 1.1.0; 0 = not reported */
	char *socket_path; /* 1.1.0 */
	char *pci_id;	   /* 1.1.0 */
};

struct cni_ip {
	struct cni_addr addr;
	uint8_t prefixlen;
	struct cni_addr gateway; /* family 0: none */
	int interface;		 /* index into interfaces, -1 = none */
};

#define CNI_UNSET (-1)

struct cni_route {
	struct cni_addr dst;
	uint8_t dst_len;
	struct cni_addr gw; /* family 0: none */
	/* 1.1.0 route attributes; CNI_UNSET when absent */
	int64_t mtu, advmss, priority, table, scope;
};

struct cni_dns {
	char **nameservers;
	size_t n_nameservers;
	char *domain;
	char **search;
	size_t n_search;
	char **options;
	size_t n_options;
};

struct cni_result {
	struct cni_interface *interfaces;
	size_t n_interfaces;
	struct cni_ip *ips;
	size_t n_ips;
	struct cni_route *routes;
	size_t n_routes;
	struct cni_dns dns;
};

/** cni_addr_parse() - parse "10.1.2.3" or "fd00::1". Return: 0 or -1. */
int cni_addr_parse(const char *s, struct cni_addr *ret);

/** cni_cidr_parse() - parse "10.1.2.3/24" (host bits kept). Return: 0 or -1. */
int cni_cidr_parse(const char *s, struct cni_addr *ret_addr, uint8_t *ret_prefixlen);

/** cni_addr_format() - format into @buf (>= 46 bytes). Return: @buf. */
const char *cni_addr_format(const struct cni_addr *a, char *buf, size_t size);

/** cni_addr_equal() - Return: true when both are the same family and address. */
bool cni_addr_equal(const struct cni_addr *a, const struct cni_addr *b);

/**
 * cni_result_parse() - parse a result in the version it declares ("cniVersion"), or in
 * @fallback when it declares none (e.g. a prevResult inherits the config's version)
 * Return: 0, or -1 with err set (code 6 naming the bad field); @ret is untouched on failure.
 */
int cni_result_parse(struct json_object *obj, enum cni_version fallback, struct cni_result *ret,
		     struct cni_error *err);

/**
 * cni_result_to_json() - the result as version @v prints it
 * Converting to 0.1.0/0.2.0 keeps the first IPv4 and the first IPv6 address; a result with
 * no IP cannot be expressed there and is an error (code 1).
 * Return: a new object, or NULL with err set.
 */
struct json_object *cni_result_to_json(const struct cni_result *r, enum cni_version v,
				       struct cni_error *err);

/** cni_result_add_interface() - append an interface. Return: its index, or -1 (ENOMEM). */
int cni_result_add_interface(struct cni_result *r, const char *name, const char *mac,
			     const char *sandbox);

/** cni_result_add_ip() - append an IP. Return: 0 or -1 (ENOMEM). */
int cni_result_add_ip(struct cni_result *r, const struct cni_ip *ip);

/** cni_result_add_route() - append a route. Return: 0 or -1 (ENOMEM). */
int cni_result_add_route(struct cni_result *r, const struct cni_route *route);

/**
 * cni_dns_parse() - parse a DNS object ("dns" of a config or result) into @ret
 * Return: 0, or -1 with err set (code 7, naming @where's bad key).
 */
int cni_dns_parse(struct json_object *obj, const char *where, struct cni_dns *ret,
		  struct cni_error *err);

/** cni_dns_free() - free the strings of @d and zero it. */
void cni_dns_free(struct cni_dns *d);

/** cni_dns_empty() - Return: true if nothing is set. */
bool cni_dns_empty(const struct cni_dns *d);

/** cni_result_free() - free everything inside @r (not @r itself); accepts a zeroed struct. */
void cni_result_free(struct cni_result *r);

#endif
