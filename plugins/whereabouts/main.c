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
#include <strings.h>

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

/*
 * DEL needs nothing of prevResult, and must converge whatever the chain's earlier plugins
 * put there (an empty gateway, an address without prefix, another plugin's result): the
 * spec asks plugins to complete DEL without error wherever they can. The common parser
 * refuses a prevResult it cannot read, so for DEL the key is dropped before it parses.
 * Input that is not one JSON object, or is too big, goes on unchanged and is refused there
 * as for any verb. Return: the stream to read the config from (@in when nothing changed),
 * its text in *@ret_text to free after it is closed.
 */
/* Remove "prevResult", spelt in any case (Go's decoder would read it). Return: any removed. */
static bool drop_prev_result(struct json_object *root)
{
	char key[sizeof("prevResult")];
	bool any = false, found;

	do {
		found = false;
		json_object_object_foreach(root, k, v)
		{
			(void)v;
			if (strcasecmp(k, "prevResult") == 0) {
				memcpy(key, k, sizeof(key)); /* del frees k */
				found = true;
				break;
			}
		}
		if (found)
			json_object_object_del(root, key);
		any = any || found;
	} while (found);
	return any;
}

static FILE *del_input(FILE *in, char **ret_text)
{
	const char *cmd = getenv("CNI_COMMAND");
	struct cni_error err = { 0 };
	struct json_object *root;
	char *buf, *text;
	size_t len = 0, got;
	FILE *f;

	*ret_text = NULL;
	if (!cmd || strcmp(cmd, "DEL") != 0)
		return in;
	buf = malloc(CNI_STDIN_MAX + 2);
	if (!buf)
		return in;
	while (len <= CNI_STDIN_MAX && (got = fread(buf + len, 1, CNI_STDIN_MAX + 1 - len, in)) > 0)
		len += got;
	buf[len] = '\0';
	text = buf;
	root = len <= CNI_STDIN_MAX ? cni_json_parse_object(buf, len, "config", &err) : NULL;
	if (root && drop_prev_result(root)) {
		text = strdup(json_object_to_json_string_ext(
			root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
		if (text) {
			free(buf);
			len = strlen(text);
		} else {
			text = buf;
		}
	}
	json_object_put(root);
	/* a read error shows as input cut short, which the parser refuses */
	f = len ? fmemopen(text, len, "r") : fopen("/dev/null", "r");
	if (!f) {
		free(text);
		return NULL;
	}
	*ret_text = text;
	return f;
}

int main(void)
{
	char *text;
	FILE *in;
	int rc;

	/*
	 * Least privilege: an IPAM plugin touches only its store, config and log, all root's own
	 * files, so it needs no capability at all (docs/reliability.md); drop every one before
	 * reading any input. Not fatal if it cannot: nothing below relies on having dropped.
	 */
	if (cni_caps_drop(NULL, 0) < 0) {
	}
	in = del_input(stdin, &text);
	if (!in) {
		printf("{\"cniVersion\": \"%s\", \"code\": %d, \"msg\": \"out of memory\"}\n",
		       cni_version_string(CNI_VERSION_LATEST), CNI_ERR_INTERNAL);
		return 1;
	}
	rc = cni_plugin_run(&whereabouts_plugin, in, stdout, stderr);
	if (in != stdin)
		fclose(in);
	free(text);
	return rc;
}
