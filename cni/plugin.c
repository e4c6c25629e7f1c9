// SPDX-License-Identifier: Apache-2.0
/*
 * One CNI invocation from environment to printed answer. The order matters for what a caller
 * sees: the config's cniVersion is peeked first so that every later error is labelled with
 * the version the runtime speaks; then the environment (code 4), the config (6/1/7), the
 * verb's minimum version (1), CNI_ARGS (2/4), and finally the verb itself.
 */
#include <stdlib.h>
#include <string.h>

#include "cni/json.h"

#include "cni/log.h"
#include "cni/plugin.h"

static const enum cni_version min_version[] = {
	[CNI_CMD_ADD] = CNI_V0_1_0,	[CNI_CMD_DEL] = CNI_V0_1_0,    [CNI_CMD_CHECK] = CNI_V0_4_0,
	[CNI_CMD_VERSION] = CNI_V0_1_0, [CNI_CMD_STATUS] = CNI_V1_1_0, [CNI_CMD_GC] = CNI_V1_1_0,
};

static void print_json(FILE *out, struct json_object *o)
{
	fprintf(out, "%s\n",
		json_object_to_json_string_ext(o, JSON_C_TO_STRING_PRETTY |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
	fflush(out);
}

static int print_error(FILE *out, const struct cni_error *err, enum cni_version v)
{
	struct json_object *o = cni_error_to_json(err, cni_version_string(v));

	if (o)
		print_json(out, o);
	json_object_put(o);
	return 1;
}

static int print_version(FILE *out)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "cniVersion",
			       json_object_new_string(cni_version_string(CNI_VERSION_LATEST)));
	json_object_object_add(o, "supportedVersions", cni_version_supported_json());
	print_json(out, o);
	json_object_put(o);
	return 0;
}

static int setup_log(const struct cni_plugin *p, struct cni_ctx *ctx, struct cni_error *err)
{
	struct json_object *obj = ctx->conf.root;

	if (p->log_keys_in) {
		int found = cni_json_object(ctx->conf.root, NULL, p->log_keys_in, &obj, err);

		if (found <= 0)
			return found;
	}
	return cni_log_setup(obj, p->log_keys_in ? p->log_keys_in : "", p->name, &ctx->env, err);
}

static int call_verb(const struct cni_plugin *p, struct cni_ctx *ctx, FILE *out,
		     struct cni_error *err)
{
	int (*verb)(struct cni_ctx *, struct cni_error *) = NULL;
	struct cni_result result = { 0 };
	struct json_object *o;

	switch (ctx->env.command) {
	case CNI_CMD_ADD:
		if (!p->add)
			break;
		if (p->add(ctx, &result, err) < 0) {
			cni_result_free(&result);
			return -1;
		}
		o = cni_result_to_json(&result, ctx->conf.version, err);
		cni_result_free(&result);
		if (!o)
			return -1;
		print_json(out, o);
		json_object_put(o);
		return 0;
	case CNI_CMD_DEL:
		verb = p->del;
		break;
	case CNI_CMD_CHECK:
		verb = p->check;
		break;
	case CNI_CMD_STATUS:
		verb = p->status;
		break;
	case CNI_CMD_GC:
		verb = p->gc;
		break;
	case CNI_CMD_VERSION:
		break;
	}
	if (!verb)
		return cni_err(err, CNI_ERR_ENV, "%s does not support CNI_COMMAND %s", p->name,
			       cni_command_name(ctx->env.command));
	return verb(ctx, err);
}

int cni_plugin_run(const struct cni_plugin *p, FILE *in, FILE *out, FILE *diag)
{
	struct cni_error err = { 0 };
	struct cni_ctx ctx = { 0 };
	enum cni_version label = CNI_VERSION_LATEST;
	char *raw = NULL;
	size_t len = 0;
	int status = 1;

	if (!getenv("CNI_COMMAND") || !*getenv("CNI_COMMAND"))
		fprintf(diag,
			"CNI %s plugin %s\nCNI protocol versions supported: 0.1.0, 0.2.0, "
			"0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0\n",
			p->name, MIGNET_VERSION);
	if (cni_env_load(&ctx.env, &err) < 0) {
		/* still label the error with the caller's version if the config says it */
		if (cni_conf_read(in, &raw, &len, NULL) == 0)
			label = cni_conf_peek_version(raw, len);
		free(raw);
		return print_error(out, &err, label);
	}
	if (ctx.env.command == CNI_CMD_VERSION)
		return print_version(out);
	if (cni_conf_read(in, &raw, &len, &err) < 0)
		return print_error(out, &err, label);
	label = cni_conf_peek_version(raw, len);
	if (cni_conf_parse(raw, len, &ctx.conf, &err) < 0)
		goto out;
	if (ctx.conf.version < min_version[ctx.env.command]) {
		cni_err(&err, CNI_ERR_VERSION,
			"config version %s does not allow %s (needs %s or later)",
			cni_version_string(ctx.conf.version), cni_command_name(ctx.env.command),
			cni_version_string(min_version[ctx.env.command]));
		goto out;
	}
	if (ctx.conf.prev_result_err.code && ctx.env.command != CNI_CMD_DEL) {
		err = ctx.conf.prev_result_err;
		goto out;
	}
	if (setup_log(p, &ctx, &err) < 0 || cni_args_parse(ctx.env.args, &ctx.args, &err) < 0)
		goto out;
	/* DEL must converge: an earlier plugin's odd answer does not keep an allocation alive */
	if (ctx.conf.prev_result_err.code)
		cni_log(CNI_LOG_VERBOSE, "DEL ignores prevResult: %s",
			ctx.conf.prev_result_err.msg);
	cni_log(CNI_LOG_VERBOSE, "start: netns=%s", ctx.env.netns ? ctx.env.netns : "-");
	if (call_verb(p, &ctx, out, &err) == 0)
		status = 0;
out:
	if (status) {
		cni_log(CNI_LOG_ERROR, "code %d: %s%s%s", err.code, err.msg,
			err.details[0] ? ": " : "", err.details);
		print_error(out, &err, label);
	} else {
		cni_log(CNI_LOG_VERBOSE, "done");
	}
	cni_log_close();
	cni_args_free(&ctx.args);
	cni_conf_free(&ctx.conf);
	return status;
}
