/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The plugin skeleton: a main() hands its verbs to cni_plugin_run(), which loads and checks
 * the environment, answers VERSION, reads and parses stdin, enforces each verb's minimum
 * version (CHECK >= 0.4.0, STATUS and GC >= 1.1.0), parses CNI_ARGS, calls the verb, and
 * prints the result (ADD, in the config's version) or the error JSON.
 */
#ifndef MIGNET_CNI_PLUGIN_H
#define MIGNET_CNI_PLUGIN_H

#include <stdio.h>

#include "cni/args.h"
#include "cni/conf.h"
#include "cni/env.h"
#include "cni/error.h"
#include "cni/result.h"

struct cni_ctx {
	struct cni_env env;
	struct cni_conf conf;
	struct cni_args args;
};

/* Each verb returns 0 or -1 with err set. A NULL verb answers "not supported" (code 4). */
struct cni_plugin {
	const char *name; /* for the "about" line and messages */
	/* where "log_file"/"log_level" live: NULL = the config's top level, else that object */
	const char *log_keys_in;
	int (*add)(struct cni_ctx *ctx, struct cni_result *ret, struct cni_error *err);
	int (*del)(struct cni_ctx *ctx, struct cni_error *err);
	int (*check)(struct cni_ctx *ctx, struct cni_error *err);
	int (*status)(struct cni_ctx *ctx, struct cni_error *err);
	int (*gc)(struct cni_ctx *ctx, struct cni_error *err);
};

/**
 * cni_plugin_run() - run one CNI invocation
 * @in: the config (stdin); @out: where the result or error JSON goes (stdout);
 * @diag: where the human "about" text goes when CNI_COMMAND is unset (stderr).
 * Return: the process exit status (0 on success, 1 on error).
 */
int cni_plugin_run(const struct cni_plugin *p, FILE *in, FILE *out, FILE *diag);

#endif
