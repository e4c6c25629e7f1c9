/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Plugin logging, as whereabouts has it: "log_file" and "log_level" (debug, verbose, error,
 * panic; default error) in the config. Lines go to that file only, never to stdout, which
 * belongs to the result. Every line names the plugin, the verb, the container ID and the
 * interface, so one file can serve every pod of a node.
 */
#ifndef MIGNET_CNI_LOG_H
#define MIGNET_CNI_LOG_H

#include <json-c/json.h>

#include "cni/env.h"
#include "cni/error.h"

enum cni_log_level {
	CNI_LOG_PANIC,
	CNI_LOG_ERROR,
	CNI_LOG_VERBOSE,
	CNI_LOG_DEBUG,
};

/**
 * cni_log_setup() - read "log_file"/"log_level" from @obj (the config, or its "ipam" object)
 * and open the file for appending. Without "log_file" logging stays off.
 * @where: the path of @obj for messages ("" or "ipam").
 * Return: 0, or -1 with err set (code 7 for a bad level or a file that cannot be opened).
 */
int cni_log_setup(struct json_object *obj, const char *where, const char *plugin,
		  const struct cni_env *env, struct cni_error *err);

/** cni_log() - write one line at @level if the configured level lets it through. */
void cni_log(enum cni_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/** cni_log_close() - close the log file (the plugin's exit path). */
void cni_log_close(void);

#endif
