/* SPDX-License-Identifier: Apache-2.0 */
/*
 * IPAM delegation, as the spec has it: find the plugin named by "ipam.type" in CNI_PATH,
 * run it with the same stdin and environment (CNI_COMMAND set to the verb), pass its stderr
 * through, and parse what it prints: a result, or an error whose code is kept.
 */
#ifndef MIGNET_CNI_DELEGATE_H
#define MIGNET_CNI_DELEGATE_H

#include <stddef.h>

#include "cni/env.h"
#include "cni/error.h"
#include "cni/result.h"
#include "cni/version.h"

/**
 * cni_delegate_find() - the first executable regular file named @type in the ':'-separated
 * @path. A @type containing '/' (or empty, "." or "..") is refused.
 * Return: 0 with a malloc'd path in @ret, or -1 with err set (code 7 bad type, 5 not found).
 */
int cni_delegate_find(const char *path, const char *type, char **ret, struct cni_error *err);

/**
 * cni_delegate() - run the IPAM plugin @type for @command
 * @stdin_buf, @len: the bytes to pass on stdin (normally the config as received)
 * @version: the config's version, to parse a result that omits cniVersion
 * @ret: for ADD, receives the parsed result; may be NULL for other verbs
 * Return: 0; -1 with err set: the plugin's own error (code, msg, details kept) or ours, and
 * the plugin holds nothing for this call (it failed, or never ran); or CNI_DELEGATE_UNDO
 * with err set: the plugin ran and may hold what it allocated, but its answer cannot be used
 * (exit 0 with a result we refuse, more output than we read, killed by a signal): a caller
 * unwinding an ADD must run DEL (which the spec makes idempotent) to give it back.
 */
#define CNI_DELEGATE_UNDO (-2)

int cni_delegate(const struct cni_env *env, enum cni_command command, const char *type,
		 const char *stdin_buf, size_t len, enum cni_version version,
		 struct cni_result *ret, struct cni_error *err);

#endif
