// SPDX-License-Identifier: Apache-2.0
/*
 * whereabouts CHECK: every range holds an allocation of the attachment, and prevResult shows it.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "ipam/allocate.h"
#include "plugins/whereabouts/whereabouts.h"

static bool prev_has(const struct cni_conf *conf, int family, struct ipam_u128 ip, uint8_t len)
{
	struct cni_addr want;

	ipam_addr_to_cni(family, ip, &want);
	for (size_t i = 0; i < conf->prev_result.n_ips; i++)
		if (cni_addr_equal(&conf->prev_result.ips[i].addr, &want) &&
		    conf->prev_result.ips[i].prefixlen == len)
			return true;
	return false;
}

int whereabouts_check(struct cni_ctx *ctx, struct cni_error *err)
{
	struct wb_session s;
	struct ipam_u128 *ips = NULL;
	bool *found = NULL;
	int rc = -1;

	if (!ctx->conf.has_prev_result)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: CHECK needs \"prevResult\"");
	if (wb_session_begin(ctx, &s, false, err) < 0)
		return -1;
	ips = calloc(s.conf.n_ranges, sizeof(*ips));
	found = calloc(s.conf.n_ranges, sizeof(*found));
	if (!ips || !found) {
		cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (ipam_lookup(s.store, &s.conf, ctx->env.containerid, ctx->env.ifname, found, ips, err) <
	    0)
		goto out;
	for (size_t i = 0; i < s.conf.n_ranges; i++) {
		const struct ipam_range *r = &s.conf.ranges[i];
		char a[INET6_ADDRSTRLEN];

		if (!found[i]) {
			cni_err(err, CNI_ERR_INTERNAL,
				"no allocation in range %s for container %s interface %s", r->cidr,
				ctx->env.containerid, ctx->env.ifname);
			goto out;
		}
		if (!prev_has(&ctx->conf, r->family, ips[i], r->prefixlen)) {
			cni_err(err, CNI_ERR_INTERNAL,
				"%s/%u (allocated in range %s) is not in prevResult",
				ipam_addr_format(r->family, ips[i], a, sizeof(a)), r->prefixlen,
				r->cidr);
			goto out;
		}
	}
	rc = 0;
out:
	free(ips);
	free(found);
	wb_session_end(&s);
	return rc;
}
