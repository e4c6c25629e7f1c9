// SPDX-License-Identifier: Apache-2.0
/*
 * whereabouts: the CNI IPAM plugin. Each verb resolves the config, opens the store, and hands
 * the work to the allocator; this file only translates between CNI and the allocator.
 */
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cni/json.h"
#include "cni/log.h"
#include "cni/caps.h"
#include "cni/conf.h"
#include "cni/json.h"
#include "cni/plugin.h"
#include "ipam/allocate.h"
#include "ipam/config.h"
#include "ipam/etcd_store.h" /* etcd (issue 7) */
#include "ipam/owner.h"
#include "ipam/store.h"

struct session {
	struct ipam_config conf;
	struct ipam_store *store;
	char podref[IPAM_PODREF_MAX];
	char node[IPAM_NODE_MAX];
};

static void session_end(struct session *s)
{
	if (s->store)
		s->store->ops->close(s->store);
	ipam_config_free(&s->conf);
}

/* The flat file may carry log_file/log_level; the skeleton only saw the inline keys. */
static int flat_file_logging(struct cni_ctx *ctx, struct session *s, struct cni_error *err)
{
	if (!s->conf.flat_file[0] || cni_json_get(ctx->conf.ipam, "log_file") ||
	    !cni_json_get(s->conf.merged, "log_file"))
		return 0;
	return cni_log_setup(s->conf.merged, "ipam", "whereabouts", &ctx->env, err);
}

/* Whose this verb's allocations are: the CNI network "name", and this node (s->node). */
static int session_owner(const struct cni_ctx *ctx, struct session *s, struct cni_error *err)
{
	if (ctx->conf.name && strlen(ctx->conf.name) >= IPAM_CNI_NETWORK_MAX)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"name\" is longer than %d bytes",
			       IPAM_CNI_NETWORK_MAX - 1);
	return ipam_node_name(&s->conf, s->node, sizeof(s->node), err);
}

/* @owner: resolve whose the allocations are (ADD, GC), before the store is touched */
static int session_begin(struct cni_ctx *ctx, struct session *s, bool owner,
			 struct cni_error *err)
{
	memset(s, 0, sizeof(*s));
	if (!ctx->conf.ipam)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"ipam\" is missing");
	if (ipam_config_load(ctx->conf.ipam, NULL, &s->conf, err) < 0)
		return -1;
	if (flat_file_logging(ctx, s, err) < 0)
		goto fail;
	if (s->conf.flat_file[0])
		cni_log(CNI_LOG_DEBUG, "used keys from the flat file %s", s->conf.flat_file);
	if (ctx->env.containerid && strlen(ctx->env.containerid) >= IPAM_ID_MAX) {
		cni_err(err, CNI_ERR_ENV, "CNI_CONTAINERID is longer than %d bytes", IPAM_ID_MAX - 1);
		goto fail;
	}
	if (ctx->args.pod_namespace && *ctx->args.pod_namespace && ctx->args.pod_name &&
	    *ctx->args.pod_name) {
		size_t n = (size_t)snprintf(s->podref, sizeof(s->podref), "%s/%s", ctx->args.pod_namespace,
					    ctx->args.pod_name);

		if (n >= sizeof(s->podref)) {
			cni_err(err, CNI_ERR_ENV, "K8S_POD_NAMESPACE/K8S_POD_NAME are longer than %d bytes",
				IPAM_PODREF_MAX - 1);
			goto fail;
		}
	}
	if (owner && session_owner(ctx, s, err) < 0)
		goto fail;
	if (s->conf.datastore == IPAM_STORE_ETCD) { /* etcd (issue 7): etcd, or node slices */
		if (ipam_store_etcd_open(&s->conf, &s->store, err) < 0)
			goto fail;
	} else if (ipam_store_file_open(s->conf.store_dir, s->conf.lock_timeout_ms, &s->store, err) < 0)
		goto fail;
	return 0;
fail:
	session_end(s);
	return -1;
}

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
	if (copy_strings(&dst->nameservers, &dst->n_nameservers, src->nameservers, src->n_nameservers) < 0 ||
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
			       "cniVersion %s cannot report more than one address per family; use 0.3.0 or later",
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
		struct cni_ip ip = { .addr = c->addresses[i].addr, .prefixlen = c->addresses[i].prefixlen,
				     .gateway = c->addresses[i].gateway, .interface = -1 };

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

static int wb_add(struct cni_ctx *ctx, struct cni_result *ret, struct cni_error *err)
{
	struct session s;
	struct ipam_owner o;
	struct ipam_u128 *ips = NULL;
	int rc = -1;

	if (session_begin(ctx, &s, true, err) < 0)
		return -1;
	o.podref = s.podref[0] ? s.podref : NULL;
	o.id = ctx->env.containerid;
	o.ifname = ctx->env.ifname;
	o.cni_network = ctx->conf.name;
	o.node = s.node;
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
	session_end(&s);
	return rc;
}

static int wb_del(struct cni_ctx *ctx, struct cni_error *err)
{
	struct session s;
	int n;

	if (session_begin(ctx, &s, false, err) < 0)
		return -1;
	n = ipam_release(s.store, &s.conf, ctx->env.containerid, ctx->env.ifname, err);
	if (n >= 0)
		cni_log(CNI_LOG_VERBOSE, "released %d address(es)", n);
	session_end(&s);
	return n < 0 ? -1 : 0;
}

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

static int wb_check(struct cni_ctx *ctx, struct cni_error *err)
{
	struct session s;
	struct ipam_u128 *ips = NULL;
	bool *found = NULL;
	int rc = -1;

	if (!ctx->conf.has_prev_result)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: CHECK needs \"prevResult\"");
	if (session_begin(ctx, &s, false, err) < 0)
		return -1;
	ips = calloc(s.conf.n_ranges, sizeof(*ips));
	found = calloc(s.conf.n_ranges, sizeof(*found));
	if (!ips || !found) {
		cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		goto out;
	}
	if (ipam_lookup(s.store, &s.conf, ctx->env.containerid, ctx->env.ifname, found, ips, err) < 0)
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
			cni_err(err, CNI_ERR_INTERNAL, "%s/%u (allocated in range %s) is not in prevResult",
				ipam_addr_format(r->family, ips[i], a, sizeof(a)), r->prefixlen, r->cidr);
			goto out;
		}
	}
	rc = 0;
out:
	free(ips);
	free(found);
	session_end(&s);
	return rc;
}

static int wb_status(struct cni_ctx *ctx, struct cni_error *err)
{
	struct session s;
	int rc;

	if (session_begin(ctx, &s, false, err) < 0) {
		if (err->code == CNI_ERR_IO || err->code == CNI_ERR_TRY_LATER ||
		    strstr(err->msg, "store_dir"))
			err->code = CNI_ERR_NOT_AVAILABLE;
		return -1;
	}
	rc = s.store->ops->status(s.store, err);
	if (rc < 0)
		err->code = CNI_ERR_NOT_AVAILABLE;
	session_end(&s);
	return rc < 0 ? -1 : 0;
}

static bool attachment_valid(const char *id, const char *ifname, void *arg)
{
	return cni_conf_attachment_valid(arg, id, ifname);
}

static int wb_gc(struct cni_ctx *ctx, struct cni_error *err)
{
	struct session s;
	int n;

	/* no list of valid attachments, nothing to judge by: release nothing */
	if (!ctx->conf.has_attachments)
		return 0;
	if (session_begin(ctx, &s, true, err) < 0)
		return -1;
	/* only this network's allocations made on this node: others share the pool or store */
	n = ipam_gc(s.store, &s.conf, ctx->conf.name, s.node, attachment_valid, &ctx->conf, err);
	if (n >= 0)
		cni_log(CNI_LOG_VERBOSE, "gc released %d address(es)", n);
	session_end(&s);
	return n < 0 ? -1 : 0;
}

static const struct cni_plugin whereabouts_plugin = {
	.name = "whereabouts",
	.log_keys_in = "ipam",
	.add = wb_add,
	.del = wb_del,
	.check = wb_check,
	.status = wb_status,
	.gc = wb_gc,
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
		json_object_object_foreach(root, k, v) {
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
