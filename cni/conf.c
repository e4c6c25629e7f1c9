// SPDX-License-Identifier: Apache-2.0
/*
 * The network configuration: stdin is read once with a cap (1 MiB; a runtime has no reason to
 * send more, and an unbounded read is a memory-exhaustion door), parsed with json-c, and the
 * keys every plugin shares are type-checked here, once, at the edge.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cni/conf.h"
#include "cni/json.h"

int cni_conf_read(FILE *in, char **ret, size_t *ret_len, struct cni_error *err)
{
	size_t cap = 64 * 1024, len = 0;
	char *buf = malloc(cap + 1);

	if (!buf)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	for (;;) {
		size_t n;

		if (len == cap) {
			char *grown;

			if (cap > CNI_STDIN_MAX) {
				free(buf);
				return cni_err(
					err, CNI_ERR_IO,
					"network configuration on stdin is larger than %d bytes",
					CNI_STDIN_MAX);
			}
			cap *= 2;
			grown = realloc(buf, cap + 1);
			if (!grown) {
				free(buf);
				return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
			}
			buf = grown;
		}
		n = fread(buf + len, 1, cap - len, in);
		len += n;
		if (n == 0) {
			if (ferror(in)) {
				free(buf);
				return cni_err_errno(err, CNI_ERR_IO, errno, "reading stdin");
			}
			break;
		}
	}
	if (len > CNI_STDIN_MAX) {
		free(buf);
		return cni_err(err, CNI_ERR_IO,
			       "network configuration on stdin is larger than %d bytes",
			       CNI_STDIN_MAX);
	}
	buf[len] = '\0';
	*ret = buf;
	*ret_len = len;
	return 0;
}

enum cni_version cni_conf_peek_version(const char *raw, size_t len)
{
	struct json_object *root =
		raw ? cni_json_parse_object(raw, len, "network configuration", NULL) : NULL;
	enum cni_version v = CNI_VERSION_LATEST;
	const char *s = NULL;

	if (root && cni_json_string(root, NULL, "cniVersion", &s, NULL) == 1)
		cni_version_parse(s, &v, NULL);
	else if (root)
		v = CNI_V0_1_0;
	json_object_put(root);
	return v;
}

static int parse_attachments(struct cni_conf *c, struct cni_error *err)
{
	const char *keys[] = { "cni.dev/valid-attachments", "cni.dev/attachments" };
	struct json_object *arr = NULL;
	const char *key = NULL;
	size_t n;

	for (size_t k = 0; k < 2 && !arr; k++) {
		int r = cni_json_array(c->root, NULL, keys[k], &arr, err);

		if (r < 0)
			return -1;
		key = keys[k];
	}
	if (!arr)
		return 0;
	n = json_object_array_length(arr);
	c->attachments = calloc(n ? n : 1, sizeof(*c->attachments));
	if (!c->attachments)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *o = json_object_array_get_idx(arr, i);
		struct cni_attachment *a = &c->attachments[i];
		char where[64];

		snprintf(where, sizeof(where), "%s[%zu]", key, i);
		if (!json_object_is_type(o, json_type_object))
			return cni_err(err, CNI_ERR_CONFIG,
				       "invalid config: \"%s\" must be an object", where);
		if (cni_json_string(o, where, "containerID", &a->containerid, err) < 0 ||
		    cni_json_string(o, where, "ifname", &a->ifname, err) < 0)
			return -1;
		if (!a->containerid || !a->ifname)
			return cni_err(err, CNI_ERR_CONFIG,
				       "invalid config: \"%s\" needs containerID and ifname",
				       where);
	}
	c->n_attachments = n;
	c->has_attachments = true;
	return 0;
}

/*
 * prevResult: a problem with it is kept in prev_result_err rather than failing the parse, for
 * DEL must converge whatever an earlier plugin of the chain answered (the caller decides).
 */
static void parse_prev_result(struct cni_conf *c)
{
	struct cni_error *err = &c->prev_result_err;
	struct json_object *prev = NULL;
	char inner[sizeof(err->msg)];

	if (cni_json_object(c->root, NULL, "prevResult", &prev, err) < 0)
		return;
	if (!prev)
		return;
	if (cni_result_parse(prev, c->version, &c->prev_result, err) < 0) {
		/* name where the bad field sits */
		snprintf(inner, sizeof(inner), "%s", err->msg);
		cni_err(err, err->code, "prevResult: %s", inner);
		return;
	}
	c->has_prev_result = true;
}

static int parse_common(struct cni_conf *c, struct cni_error *err)
{
	struct json_object *ipam = NULL, *dns = NULL;
	const char *version = NULL;

	if (cni_json_string(c->root, NULL, "cniVersion", &version, err) < 0)
		return -1;
	if (cni_version_parse(version, &c->version, err) < 0)
		return -1;
	if (cni_json_string(c->root, NULL, "name", &c->name, err) < 0 ||
	    cni_json_string(c->root, NULL, "type", &c->type, err) < 0 ||
	    cni_json_object(c->root, NULL, "ipam", &ipam, err) < 0 ||
	    cni_json_object(c->root, NULL, "dns", &dns, err) < 0 ||
	    cni_json_object(c->root, NULL, "runtimeConfig", &c->runtime_config, err) < 0)
		return -1;
	if (ipam && json_object_object_length(ipam) > 0) {
		c->ipam = ipam;
		if (cni_json_string(ipam, "ipam", "type", &c->ipam_type, err) < 0)
			return -1;
		if (!c->ipam_type || !*c->ipam_type)
			return cni_err(err, CNI_ERR_CONFIG,
				       "invalid config: \"ipam.type\" is missing");
	}
	if (dns && cni_dns_parse(dns, "dns", &c->dns, err) < 0)
		return -1;
	if (c->runtime_config &&
	    (cni_json_string(c->runtime_config, "runtimeConfig", "mac", &c->runtime_mac, err) < 0 ||
	     cni_json_string_array(c->runtime_config, "runtimeConfig", "ips", &c->runtime_ips,
				   &c->n_runtime_ips, err) < 0))
		return -1;
	parse_prev_result(c);
	return parse_attachments(c, err);
}

int cni_conf_parse(char *raw, size_t len, struct cni_conf *ret, struct cni_error *err)
{
	memset(ret, 0, sizeof(*ret));
	ret->raw = raw;
	ret->raw_len = len;
	ret->version = CNI_VERSION_LATEST;
	ret->root = cni_json_parse_object(raw, len, "network configuration", err);
	if (!ret->root)
		return -1;
	return parse_common(ret, err);
}

void cni_conf_free(struct cni_conf *c)
{
	cni_result_free(&c->prev_result);
	free(c->attachments);
	free(c->runtime_ips);
	cni_dns_free(&c->dns);
	json_object_put(c->root);
	free(c->raw);
	memset(c, 0, sizeof(*c));
}

bool cni_conf_attachment_valid(const struct cni_conf *c, const char *containerid,
			       const char *ifname)
{
	for (size_t i = 0; i < c->n_attachments; i++)
		if (strcmp(c->attachments[i].containerid, containerid) == 0 &&
		    strcmp(c->attachments[i].ifname, ifname) == 0)
			return true;
	return false;
}
