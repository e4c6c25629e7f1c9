// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness: the network configuration a runtime writes on stdin.
 *
 * Input: optionally a first line "ARGS:<CNI_ARGS>\n", then the config bytes. Runs what a
 * plugin runs on them before touching the kernel: cni_conf_peek_version(), cni_conf_parse()
 * (common keys, prevResult, dns, runtimeConfig, GC attachments), cni_args_parse(), then the
 * macvlan plugin's own keys (macvlan_config_parse() through a struct cni_ctx), the error JSON,
 * and GC's attachment lookup.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni/args.h"
#include "cni/conf.h"
#include "cni/plugin.h"
#include "plugins/macvlan/macvlan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dup_bytes(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

static void exercise_error(const struct cni_error *err, enum cni_version v)
{
	struct json_object *o = cni_error_to_json(err, cni_version_string(v));

	if (!o)
		abort();
	/* the message and details are NUL-terminated and printable as JSON */
	if (!json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY))
		abort();
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cni_ctx ctx = { 0 };
	struct cni_error err = { 0 };
	struct macvlan_config cfg;
	char *args = NULL, *raw;
	enum cni_version label;

	if (size > CNI_STDIN_MAX)
		return 0; /* cni_conf_read() refuses it before any parser sees it */
	if (size >= 5 && memcmp(data, "ARGS:", 5) == 0) {
		const uint8_t *nl = memchr(data, '\n', size);
		size_t n = nl ? (size_t)(nl - data) : size;

		args = dup_bytes(data + 5, n - 5);
		data += nl ? n + 1 : n;
		size -= nl ? n + 1 : n;
	}
	raw = dup_bytes(data, size); /* cni_conf_read() gives a NUL-terminated buffer */
	label = cni_conf_peek_version(raw, size);
	if (label >= CNI_VERSION_COUNT)
		abort();
	if (cni_conf_parse(raw, size, &ctx.conf, &err) < 0) {
		exercise_error(&err, label);
		goto out;
	}
	if (cni_args_parse(args, &ctx.args, &err) < 0) {
		exercise_error(&err, label);
		goto out;
	}
	if (macvlan_config_parse(&ctx, &cfg, &err) < 0)
		exercise_error(&err, label);
	else if (cfg.master && !cni_valid_ifname(cfg.master))
		abort(); /* the plugin promises a valid name or none */
	if (ctx.conf.has_attachments && ctx.conf.n_attachments)
		cni_conf_attachment_valid(&ctx.conf, ctx.conf.attachments[0].containerid, "eth0");
	if (ctx.conf.has_prev_result) {
		struct json_object *o =
			cni_result_to_json(&ctx.conf.prev_result, ctx.conf.version, &err);

		json_object_put(o);
	}
out:
	cni_args_free(&ctx.args);
	cni_conf_free(&ctx.conf); /* frees raw */
	free(args);
	return 0;
}
