/* SPDX-License-Identifier: Apache-2.0 */
/* The CNI_* environment variables, validated per verb as the spec requires. */
#ifndef MIGNET_CNI_ENV_H
#define MIGNET_CNI_ENV_H

#include <stdbool.h>

#include "cni/error.h"

enum cni_command {
	CNI_CMD_ADD,
	CNI_CMD_DEL,
	CNI_CMD_CHECK,
	CNI_CMD_VERSION,
	CNI_CMD_STATUS,
	CNI_CMD_GC,
};

/* Pointers into the process environment; NULL when the variable is unset or empty. */
struct cni_env {
	enum cni_command command;
	const char *containerid;
	const char *netns;
	const char *ifname;
	const char *args; /* CNI_ARGS, raw */
	const char *path; /* CNI_PATH */
};

/** cni_command_name() - "ADD" for CNI_CMD_ADD. Return: a static string. */
const char *cni_command_name(enum cni_command c);

/**
 * cni_env_load() - read and validate the environment for its verb
 * ADD and CHECK need CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME, CNI_PATH; DEL needs
 * CNI_CONTAINERID, CNI_IFNAME (CNI_NETNS may be empty); STATUS and GC need CNI_PATH.
 * A present container ID must match [a-zA-Z0-9][a-zA-Z0-9_.-]*; an interface name must be
 * 1-15 bytes, not "." or "..", without '/', ':' or whitespace.
 * Return: 0, or -1 with err set (code 4).
 */
int cni_env_load(struct cni_env *ret, struct cni_error *err);

/** cni_valid_containerid() - Return: true if @id is a valid container ID. */
bool cni_valid_containerid(const char *id);

/** cni_valid_ifname() - Return: true if @name is a valid Linux interface name. */
bool cni_valid_ifname(const char *name);

#endif
