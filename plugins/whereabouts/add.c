// SPDX-License-Identifier: Apache-2.0
/*
 * whereabouts ADD: one address per range from the allocator, reported as a CNI result.
 */
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni/log.h"
#include "ipam/allocate.h"
#include "plugins/whereabouts/whereabouts.h"

static int copy_strings(char ***dst, size_t *dst_n, char **src, size_t n)
{
	if (!n)
		return 0;
	*dst = calloc(n, sizeof(**dst));
	if (!*dst)
		return -1;
	for (size_t i = 0; i < n; i++) {
		(*dst)[i] = strdup(src[i]);
		if (!(*dst)[i])
			return -1;
		(*dst_n)++;
	}
	return 0;
}

static int copy_dns(struct cni_dns *dst, const struct cni_dns *src)
{
	if (src->domain && !(dst->domain = strdup(src->domain)))
		return -1;
	if (copy_strings(&dst->nameservers, &dst->n_nameservers, src->nameservers,
			 src->n_nameservers) < 0 ||
	    copy_strings(&dst->search, &dst->n_search, src->search, src->n_search) < 0 ||
	    copy_strings(&dst->options, &dst->n_options, src->options, src->n_options) < 0)
		return -1;
	return 0;
}

/* CNI 0.1.0 and 0.2.0 results hold one IPv4 and one IPv6 address at most. */
static int check_version_fits(const struct cni_ctx *ctx, const struct ipam_config *c,
			      struct cni_error *err)
{
	size_t v4 = 0, v6 = 0;

	if (ctx->conf.version >= CNI_V0_3_0)
		return 0;
	for (size_t i = 0; i < c->n_ranges; i++)
		*(c->ranges[i].family == 4 ? &v4 : &v6) += 1;
	for (size_t i = 0; i < c->n_addresses; i++)
		*(c->addresses[i].addr.family == AF_INET ? &v4 : &v6) += 1;
	if (v4 > 1 || v6 > 1)
		return cni_err(err, CNI_ERR_VERSION,
			       "cniVersion %s cannot report more than one address per family; use "
			       "0.3.0 or later",
			       cni_version_string(ctx->conf.version));
	return 0;
}

static int build_result(const struct ipam_config *c, const struct ipam_u128 *ips,
			struct cni_result *ret, struct cni_error *err)
{
	for (size_t i = 0; i < c->n_ranges; i++) {
		const struct ipam_range *r = &c->ranges[i];
		struct cni_ip ip = { .prefixlen = r->prefixlen, .interface = -1 };

		ipam_addr_to_cni(r->family, ips[i], &ip.addr);
		if (ipam_gateway_for(c, r))
			ipam_addr_to_cni(c->gateway_family, c->gateway, &ip.gateway);
		if (cni_result_add_ip(ret, &ip) < 0)
			return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < c->n_addresses; i++) {
		struct cni_ip ip = { .addr = c->addresses[i].addr,
				     .prefixlen = c->addresses[i].prefixlen,
				     .gateway = c->addresses[i].gateway,
				     .interface = -1 };

		if (cni_result_add_ip(ret, &ip) < 0)
			return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	}
	for (size_t i = 0; i < c->n_routes; i++)
		if (cni_result_add_route(ret, &c->routes[i]) < 0)
			return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	if (copy_dns(&ret->dns, &c->dns) < 0)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	return 0;
}

int whereabouts_add(struct cni_ctx *ctx, struct cni_result *ret, struct cni_error *err)
{
	struct wb_session s;
	struct ipam_owner o;
	struct ipam_u128 *ips = NULL;
	int rc = -1;

	if (wb_session_begin(ctx, &s, true, err) < 0)
		return -1;
	o.podref = s.podref[0] ? s.podref : NULL;
	o.id = ctx->env.containerid;
	o.ifname = ctx->env.ifname;
	o.cni_network = ctx->conf.name;
	o.node = s.node;
	/* recorded for `mignet ipam gc`; a path that is not absolute or too long is not */
	o.netns = ipam_netns_usable(ctx->env.netns) ? ctx->env.netns : NULL;
	if (check_version_fits(ctx, &s.conf, err) < 0)
		goto out;
	ips = calloc(s.conf.n_ranges, sizeof(*ips));
	if (!ips) {
		cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (ipam_allocate(s.store, &s.conf, &o, ips, err) < 0)
		goto out;
	for (size_t i = 0; i < s.conf.n_ranges; i++) {
		char a[INET6_ADDRSTRLEN];

		cni_log(CNI_LOG_VERBOSE, "%s holds %s in %s", o.podref ? o.podref : o.id,
			ipam_addr_format(s.conf.ranges[i].family, ips[i], a, sizeof(a)),
			s.conf.ranges[i].cidr);
	}
	rc = build_result(&s.conf, ips, ret, err);
out:
	free(ips);
	wb_session_end(&s);
	return rc;
}
