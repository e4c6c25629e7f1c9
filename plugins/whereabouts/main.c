// SPDX-License-Identifier: Apache-2.0
/*
 * whereabouts: the CNI IPAM plugin. Each verb (add.c, del.c, check.c, status.c) resolves the
 * config, opens the store, and hands the work to the allocator of ipam/; this plugin only
 * translates between CNI and the allocator. This file: the session every verb begins with,
 * the verb table, and main().
 */
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni/log.h"
#include "cni/caps.h"
#include "cni/conf.h"
#include "cni/json.h"
#include "cni/plugin.h"
#include "ipam/owner.h"
#include "plugins/whereabouts/whereabouts.h"

void wb_session_end(struct wb_session *s)
{
	if (s->store)
		s->store->ops->close(s->store);
	ipam_config_free(&s->conf);
}

/* The flat file may carry log_file/log_level; the skeleton only saw the inline keys. */
static int flat_file_logging(struct cni_ctx *ctx, struct wb_session *s, struct cni_error *err)
{
	if (!s->conf.flat_file[0] || cni_json_get(ctx->conf.ipam, "log_file") ||
	    !cni_json_get(s->conf.merged, "log_file"))
		return 0;
	return cni_log_setup(s->conf.merged, "ipam", "whereabouts", &ctx->env, err);
}

/* Whose this verb's allocations are: the CNI network "name", and this node (s->node). */
static int session_owner(const struct cni_ctx *ctx, struct wb_session *s, struct cni_error *err)
{
	if (ctx->conf.name && strlen(ctx->conf.name) >= IPAM_CNI_NETWORK_MAX)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: \"name\" is longer than %d bytes",
			       IPAM_CNI_NETWORK_MAX - 1);
	return ipam_node_name(&s->conf, s->node, sizeof(s->node), err);
}

int wb_session_begin(struct cni_ctx *ctx, struct wb_session *s, bool owner, struct cni_error *err)
{
	memset(s, 0, sizeof(*s));
	if (!ctx->conf.ipam)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"ipam\" is missing");
	if (ipam_config_load(ctx->conf.ipam, NULL, &s->conf, err) < 0)
		return -1;
	if (flat_file_logging(ctx, s, err) < 0)
		goto out;
	if (s->conf.flat_file[0])
		cni_log(CNI_LOG_DEBUG, "used keys from the flat file %s", s->conf.flat_file);
	if (ctx->env.containerid && strlen(ctx->env.containerid) >= IPAM_ID_MAX) {
		cni_err(err, CNI_ERR_ENV, "CNI_CONTAINERID is longer than %d bytes",
			IPAM_ID_MAX - 1);
		goto out;
	}
	if (ctx->args.pod_namespace && *ctx->args.pod_namespace && ctx->args.pod_name &&
	    *ctx->args.pod_name) {
		size_t n = (size_t)snprintf(s->podref, sizeof(s->podref), "%s/%s",
					    ctx->args.pod_namespace, ctx->args.pod_name);

		if (n >= sizeof(s->podref)) {
			cni_err(err, CNI_ERR_ENV,
				"K8S_POD_NAMESPACE/K8S_POD_NAME are longer than %d bytes",
				IPAM_PODREF_MAX - 1);
			goto out;
		}
	}
	if (owner && session_owner(ctx, s, err) < 0)
		goto out;
	if (ipam_store_open(&s->conf, &s->store, err) < 0)
		goto out;
	return 0;
out:
	wb_session_end(s);
	return -1;
}

static const struct cni_plugin whereabouts_plugin = {
	.name = "whereabouts",
	.log_keys_in = "ipam",
	.add = whereabouts_add,
	.del = whereabouts_del,
	.check = whereabouts_check,
	.status = whereabouts_status,
	.gc = whereabouts_gc,
};

int main(void)
{
	/*
	 * Least privilege: an IPAM plugin touches only its store, config and log, all root's own
	 * files, so it needs no capability at all (docs/reliability.md); drop every one before
	 * reading any input. Not fatal if it cannot: nothing below relies on having dropped.
	 * DEL converges whatever prevResult holds: cni_plugin_run() ignores one it cannot read.
	 */
	(void)cni_caps_drop(NULL, 0);
	return cni_plugin_run(&whereabouts_plugin, stdin, stdout, stderr);
}
