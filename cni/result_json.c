// SPDX-License-Identifier: Apache-2.0
/*
 * Results to and from JSON, in every version's shape:
 *   0.1.0, 0.2.0   {"ip4":{"ip","gateway","routes"},"ip6":{…},"dns"}
 *   0.3.x, 0.4.0 {"interfaces","ips":[{"version","address","gateway","interface"}],"routes","dns"}
 *   1.0.0, 1.1.0   as 0.4.0 without "version"; 1.1.0 adds route mtu/advmss/priority/table/scope
 *                  and interface mtu/socketPath/pciID
 * Decoding problems are code 6 and name the field ("ips[1].address"). Addresses are read as Go's
 * net.IP reads them (libcni and the reference plugins are Go): "" is no address at all, so
 * "gateway": "" and "gw": "" mean none; anything else must parse.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni/json.h"
#include "cni/result.h"

static int bad(struct cni_error *err, const char *field, const char *what)
{
	return cni_err(err, CNI_ERR_DECODE, "invalid result: \"%s\" %s", field, what);
}

/* The JSON getters report code 7 (config); inside a result a wrong type is a decode error. */
static int as_decode(int r, struct cni_error *err)
{
	if (r < 0 && err)
		err->code = CNI_ERR_DECODE;
	return r;
}

/* A string naming an IP address, where Go reads "" as none: then *@s becomes NULL. */
static void empty_is_none(const char **s)
{
	if (*s && !**s)
		*s = NULL;
}

static int parse_route(struct json_object *o, const char *where, struct cni_route *ret,
		       struct cni_error *err)
{
	struct cni_route rt = { .mtu = CNI_UNSET,
				.advmss = CNI_UNSET,
				.priority = CNI_UNSET,
				.table = CNI_UNSET,
				.scope = CNI_UNSET };
	static const struct {
		const char *key;
		size_t off;
	} ints[] = {
		{ "mtu", offsetof(struct cni_route, mtu) },
		{ "advmss", offsetof(struct cni_route, advmss) },
		{ "priority", offsetof(struct cni_route, priority) },
		{ "table", offsetof(struct cni_route, table) },
		{ "scope", offsetof(struct cni_route, scope) },
	};
	const char *dst = NULL, *gw = NULL;
	char field[96];

	if (!json_object_is_type(o, json_type_object))
		return bad(err, where, "must be an object");
	if (as_decode(cni_json_string(o, where, "dst", &dst, err), err) < 0 ||
	    as_decode(cni_json_string(o, where, "gw", &gw, err), err) < 0)
		return -1;
	empty_is_none(&gw);
	snprintf(field, sizeof(field), "%s.dst", where);
	if (!dst || cni_cidr_parse(dst, &rt.dst, &rt.dst_len) < 0)
		return bad(err, field, "must be a CIDR");
	snprintf(field, sizeof(field), "%s.gw", where);
	if (gw && cni_addr_parse(gw, &rt.gw) < 0)
		return bad(err, field, "must be an IP address");
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
		int64_t *slot = (int64_t *)((char *)&rt + ints[i].off);

		if (as_decode(cni_json_int(o, where, ints[i].key, 0, UINT32_MAX, slot, err), err) <
		    0)
			return -1;
	}
	*ret = rt;
	return 0;
}

static int parse_routes(struct json_object *parent, const char *where, struct cni_result *r,
			struct cni_error *err)
{
	struct json_object *arr = NULL;
	char field[64];

	int found = as_decode(cni_json_array(parent, where, "routes", &arr, err), err);

	if (found <= 0)
		return found;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct cni_route rt;

		snprintf(field, sizeof(field), "%s%sroutes[%zu]", where ? where : "",
			 where ? "." : "", i);
		if (parse_route(json_object_array_get_idx(arr, i), field, &rt, err) < 0)
			return -1;
		if (cni_result_add_route(r, &rt) < 0)
			return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	}
	return 0;
}

static int parse_legacy_ip(struct json_object *root, const char *key, int family,
			   struct cni_result *r, struct cni_error *err)
{
	struct json_object *o = NULL;
	const char *ip = NULL, *gw = NULL;
	struct cni_ip cip = { .interface = -1 };
	char field[32];

	int found = as_decode(cni_json_object(root, NULL, key, &o, err), err);

	if (found <= 0)
		return found;
	if (as_decode(cni_json_string(o, key, "ip", &ip, err), err) < 0 ||
	    as_decode(cni_json_string(o, key, "gateway", &gw, err), err) < 0)
		return -1;
	empty_is_none(&gw);
	snprintf(field, sizeof(field), "%s.ip", key);
	if (!ip || cni_cidr_parse(ip, &cip.addr, &cip.prefixlen) < 0 || cip.addr.family != family)
		return bad(err, field, "must be a CIDR of the right family");
	snprintf(field, sizeof(field), "%s.gateway", key);
	if (gw && (cni_addr_parse(gw, &cip.gateway) < 0 || cip.gateway.family != family))
		return bad(err, field, "must be an IP address of the right family");
	if (cni_result_add_ip(r, &cip) < 0)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	return parse_routes(o, key, r, err);
}

static int parse_interfaces(struct json_object *root, struct cni_result *r, struct cni_error *err)
{
	struct json_object *arr = NULL;

	int found = as_decode(cni_json_array(root, NULL, "interfaces", &arr, err), err);

	if (found <= 0)
		return found;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		const char *name = NULL, *mac = NULL, *sandbox = NULL, *sock = NULL, *pci = NULL;
		int64_t mtu = 0;
		char where[48];
		int idx;

		snprintf(where, sizeof(where), "interfaces[%zu]", i);
		if (!json_object_is_type(o, json_type_object))
			return bad(err, where, "must be an object");
		if (as_decode(cni_json_string(o, where, "name", &name, err), err) < 0 ||
		    as_decode(cni_json_string(o, where, "mac", &mac, err), err) < 0 ||
		    as_decode(cni_json_string(o, where, "sandbox", &sandbox, err), err) < 0 ||
		    as_decode(cni_json_string(o, where, "socketPath", &sock, err), err) < 0 ||
		    as_decode(cni_json_string(o, where, "pciID", &pci, err), err) < 0 ||
		    as_decode(cni_json_int(o, where, "mtu", 0, UINT32_MAX, &mtu, err), err) < 0)
			return -1;
		idx = cni_result_add_interface(r, name ? name : "", mac, sandbox);
		if (idx < 0)
			return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		r->interfaces[idx].mtu = mtu;
		r->interfaces[idx].socket_path = sock ? strdup(sock) : NULL;
		r->interfaces[idx].pci_id = pci ? strdup(pci) : NULL;
	}
	return 0;
}

static int parse_ips(struct json_object *root, struct cni_result *r, struct cni_error *err)
{
	struct json_object *arr = NULL;

	int found = as_decode(cni_json_array(root, NULL, "ips", &arr, err), err);

	if (found <= 0)
		return found;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		const char *addr = NULL, *gw = NULL;
		struct cni_ip ip = { .interface = -1 };
		int64_t iface = -1;
		char where[48], field[80];

		snprintf(where, sizeof(where), "ips[%zu]", i);
		if (!json_object_is_type(o, json_type_object))
			return bad(err, where, "must be an object");
		if (as_decode(cni_json_string(o, where, "address", &addr, err), err) < 0 ||
		    as_decode(cni_json_string(o, where, "gateway", &gw, err), err) < 0 ||
		    as_decode(cni_json_int(o, where, "interface", 0, INT32_MAX, &iface, err), err) <
			    0)
			return -1;
		empty_is_none(&gw);
		snprintf(field, sizeof(field), "%s.address", where);
		if (!addr || cni_cidr_parse(addr, &ip.addr, &ip.prefixlen) < 0)
			return bad(err, field, "must be a CIDR");
		snprintf(field, sizeof(field), "%s.gateway", where);
		if (gw &&
		    (cni_addr_parse(gw, &ip.gateway) < 0 || ip.gateway.family != ip.addr.family))
			return bad(err, field, "must be an IP address of the address's family");
		snprintf(field, sizeof(field), "%s.interface", where);
		if (iface >= (int64_t)r->n_interfaces)
			return bad(err, field, "is not an index into interfaces");
		ip.interface = (int)iface;
		if (cni_result_add_ip(r, &ip) < 0)
			return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	}
	return 0;
}

int cni_result_parse(struct json_object *obj, enum cni_version fallback, struct cni_result *ret,
		     struct cni_error *err)
{
	struct cni_result r = { 0 };
	struct json_object *dns = NULL;
	const char *vs = NULL;
	enum cni_version v = fallback;

	if (!json_object_is_type(obj, json_type_object))
		return cni_err(err, CNI_ERR_DECODE, "invalid result: not a JSON object");
	if (as_decode(cni_json_string(obj, NULL, "cniVersion", &vs, err), err) < 0)
		return -1;
	if (vs && cni_version_parse(vs, &v, err) < 0)
		return -1;
	if (v < CNI_V0_3_0) {
		if (parse_legacy_ip(obj, "ip4", AF_INET, &r, err) < 0 ||
		    parse_legacy_ip(obj, "ip6", AF_INET6, &r, err) < 0)
			goto out;
	} else if (parse_interfaces(obj, &r, err) < 0 || parse_ips(obj, &r, err) < 0 ||
		   parse_routes(obj, NULL, &r, err) < 0) {
		goto out;
	}
	if (as_decode(cni_json_object(obj, NULL, "dns", &dns, err), err) < 0 ||
	    (dns && as_decode(cni_dns_parse(dns, "dns", &r.dns, err), err) < 0))
		goto out;
	*ret = r;
	return 0;
out:
	cni_result_free(&r);
	return -1;
}

/* ---- printing ---- */

static void add_string(struct json_object *o, const char *key, const char *value)
{
	if (value)
		json_object_object_add(o, key, json_object_new_string(value));
}

static void add_cidr(struct json_object *o, const char *key, const struct cni_addr *a, uint8_t len)
{
	char buf[INET6_ADDRSTRLEN], cidr[INET6_ADDRSTRLEN + 5];

	snprintf(cidr, sizeof(cidr), "%s/%u", cni_addr_format(a, buf, sizeof(buf)), len);
	add_string(o, key, cidr);
}

static void add_addr(struct json_object *o, const char *key, const struct cni_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (a->family)
		add_string(o, key, cni_addr_format(a, buf, sizeof(buf)));
}

static struct json_object *strings_json(char **v, size_t n)
{
	struct json_object *a = json_object_new_array();

	for (size_t i = 0; i < n; i++)
		json_object_array_add(a, json_object_new_string(v[i]));
	return a;
}

static struct json_object *dns_json(const struct cni_dns *d)
{
	struct json_object *o = json_object_new_object();

	if (d->n_nameservers)
		json_object_object_add(o, "nameservers",
				       strings_json(d->nameservers, d->n_nameservers));
	add_string(o, "domain", d->domain);
	if (d->n_search)
		json_object_object_add(o, "search", strings_json(d->search, d->n_search));
	if (d->n_options)
		json_object_object_add(o, "options", strings_json(d->options, d->n_options));
	return o;
}

static struct json_object *route_json(const struct cni_route *rt, enum cni_version v)
{
	struct json_object *o = json_object_new_object();

	add_cidr(o, "dst", &rt->dst, rt->dst_len);
	add_addr(o, "gw", &rt->gw);
	if (v >= CNI_V1_1_0) {
		const struct {
			const char *key;
			int64_t value;
		} extra[] = { { "mtu", rt->mtu },
			      { "advmss", rt->advmss },
			      { "priority", rt->priority },
			      { "table", rt->table },
			      { "scope", rt->scope } };

		for (size_t i = 0; i < sizeof(extra) / sizeof(extra[0]); i++)
			if (extra[i].value != CNI_UNSET)
				json_object_object_add(o, extra[i].key,
						       json_object_new_int64(extra[i].value));
	}
	return o;
}

static struct json_object *legacy_ip_json(const struct cni_result *r, const struct cni_ip *ip)
{
	struct json_object *o = json_object_new_object(), *routes = json_object_new_array();

	add_cidr(o, "ip", &ip->addr, ip->prefixlen);
	add_addr(o, "gateway", &ip->gateway);
	for (size_t i = 0; i < r->n_routes; i++)
		if (r->routes[i].dst.family == ip->addr.family)
			json_object_array_add(routes, route_json(&r->routes[i], CNI_V0_2_0));
	if (json_object_array_length(routes))
		json_object_object_add(o, "routes", routes);
	else
		json_object_put(routes);
	return o;
}

static struct json_object *legacy_json(const struct cni_result *r, enum cni_version v,
				       struct cni_error *err)
{
	const struct cni_ip *ip4 = NULL, *ip6 = NULL;
	struct json_object *o;

	for (size_t i = 0; i < r->n_ips; i++) {
		if (r->ips[i].addr.family == AF_INET && !ip4)
			ip4 = &r->ips[i];
		else if (r->ips[i].addr.family == AF_INET6 && !ip6)
			ip6 = &r->ips[i];
	}
	if (!ip4 && !ip6) {
		cni_err(err, CNI_ERR_VERSION,
			"cannot convert the result to version %s: it has no IP address",
			cni_version_string(v));
		cni_err_details(err, "versions 0.1.0 and 0.2.0 express a result only as ip4/ip6; "
				     "use cniVersion 0.3.0 or later for an interface without IPAM");
		return NULL;
	}
	o = json_object_new_object();
	add_string(o, "cniVersion", cni_version_string(v));
	if (ip4)
		json_object_object_add(o, "ip4", legacy_ip_json(r, ip4));
	if (ip6)
		json_object_object_add(o, "ip6", legacy_ip_json(r, ip6));
	json_object_object_add(o, "dns", dns_json(&r->dns));
	return o;
}

static struct json_object *interface_json(const struct cni_interface *in, enum cni_version v)
{
	struct json_object *o = json_object_new_object();

	add_string(o, "name", in->name);
	if (in->mac && *in->mac)
		add_string(o, "mac", in->mac);
	if (v >= CNI_V1_1_0 && in->mtu)
		json_object_object_add(o, "mtu", json_object_new_int64(in->mtu));
	if (in->sandbox && *in->sandbox)
		add_string(o, "sandbox", in->sandbox);
	if (v >= CNI_V1_1_0) {
		add_string(o, "socketPath", in->socket_path);
		add_string(o, "pciID", in->pci_id);
	}
	return o;
}

struct json_object *cni_result_to_json(const struct cni_result *r, enum cni_version v,
				       struct cni_error *err)
{
	struct json_object *o, *arr;

	if (v < CNI_V0_3_0)
		return legacy_json(r, v, err);
	o = json_object_new_object();
	add_string(o, "cniVersion", cni_version_string(v));
	if (r->n_interfaces) {
		arr = json_object_new_array();
		for (size_t i = 0; i < r->n_interfaces; i++)
			json_object_array_add(arr, interface_json(&r->interfaces[i], v));
		json_object_object_add(o, "interfaces", arr);
	}
	if (r->n_ips) {
		arr = json_object_new_array();
		for (size_t i = 0; i < r->n_ips; i++) {
			const struct cni_ip *ip = &r->ips[i];
			struct json_object *e = json_object_new_object();

			if (v < CNI_V1_0_0)
				add_string(e, "version", ip->addr.family == AF_INET ? "4" : "6");
			add_cidr(e, "address", &ip->addr, ip->prefixlen);
			add_addr(e, "gateway", &ip->gateway);
			if (ip->interface >= 0)
				json_object_object_add(e, "interface",
						       json_object_new_int(ip->interface));
			json_object_array_add(arr, e);
		}
		json_object_object_add(o, "ips", arr);
	}
	if (r->n_routes) {
		arr = json_object_new_array();
		for (size_t i = 0; i < r->n_routes; i++)
			json_object_array_add(arr, route_json(&r->routes[i], v));
		json_object_object_add(o, "routes", arr);
	}
	json_object_object_add(o, "dns", dns_json(&r->dns));
	return o;
}
