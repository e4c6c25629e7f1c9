// SPDX-License-Identifier: Apache-2.0
/*
 * The environment of a CNI invocation. What each verb requires follows the spec's table:
 * ADD/CHECK need everything, DEL tolerates a missing netns (the container may be gone),
 * STATUS and GC concern the network, not a container, and need only the path.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cni/env.h"
#include "cni/text.h"

static const char *const command_names[] = {
	[CNI_CMD_ADD] = "ADD",	       [CNI_CMD_DEL] = "DEL",	    [CNI_CMD_CHECK] = "CHECK",
	[CNI_CMD_VERSION] = "VERSION", [CNI_CMD_STATUS] = "STATUS", [CNI_CMD_GC] = "GC",
};

enum need { OPTIONAL, REQUIRED };

struct verb_needs {
	enum need containerid, netns, ifname, path;
};

static const struct verb_needs needs[] = {
	[CNI_CMD_ADD] = { REQUIRED, REQUIRED, REQUIRED, REQUIRED },
	[CNI_CMD_DEL] = { REQUIRED, OPTIONAL, REQUIRED, REQUIRED },
	[CNI_CMD_CHECK] = { REQUIRED, REQUIRED, REQUIRED, REQUIRED },
	[CNI_CMD_VERSION] = { OPTIONAL, OPTIONAL, OPTIONAL, OPTIONAL },
	[CNI_CMD_STATUS] = { OPTIONAL, OPTIONAL, OPTIONAL, REQUIRED },
	[CNI_CMD_GC] = { OPTIONAL, OPTIONAL, OPTIONAL, REQUIRED },
};

const char *cni_command_name(enum cni_command c)
{
	return c <= CNI_CMD_GC ? command_names[c] : "?";
}

bool cni_valid_containerid(const char *id)
{
	if (!isalnum((unsigned char)id[0]))
		return false;
	for (const char *p = id + 1; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '_' && *p != '.' && *p != '-')
			return false;
	return true;
}

bool cni_valid_ifname(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len > 15 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (const char *p = name; *p; p++)
		if (*p == '/' || *p == ':' || isspace((unsigned char)*p) ||
		    iscntrl((unsigned char)*p))
			return false;
	/* the kernel takes any bytes, but the name goes into JSON results: it must be UTF-8 */
	return cni_utf8_valid(name, len);
}

static const char *env_value(const char *name)
{
	const char *v = getenv(name);

	return v && *v ? v : NULL;
}

static int require(const char *value, enum need need, const char *name, enum cni_command c,
		   struct cni_error *err)
{
	if (value || need == OPTIONAL)
		return 0;
	return cni_err(err, CNI_ERR_ENV, "required environment variable %s is missing for %s", name,
		       command_names[c]);
}

int cni_env_load(struct cni_env *ret, struct cni_error *err)
{
	struct cni_env e = { 0 };
	const char *cmd = env_value("CNI_COMMAND");
	const struct verb_needs *n;
	bool found = false;

	if (!cmd)
		return cni_err(err, CNI_ERR_ENV,
			       "required environment variable CNI_COMMAND is missing");
	for (size_t i = 0; i < sizeof(command_names) / sizeof(command_names[0]); i++) {
		if (strcmp(cmd, command_names[i]) == 0) {
			e.command = i;
			found = true;
		}
	}
	if (!found) {
		cni_err(err, CNI_ERR_ENV, "unknown CNI_COMMAND \"%.32s\"", cmd);
		return cni_err_details(err, "known commands: ADD, DEL, CHECK, VERSION, STATUS, GC");
	}
	e.containerid = env_value("CNI_CONTAINERID");
	e.netns = env_value("CNI_NETNS");
	e.ifname = env_value("CNI_IFNAME");
	e.args = env_value("CNI_ARGS");
	e.path = env_value("CNI_PATH");

	n = &needs[e.command];
	if (require(e.containerid, n->containerid, "CNI_CONTAINERID", e.command, err) < 0 ||
	    require(e.netns, n->netns, "CNI_NETNS", e.command, err) < 0 ||
	    require(e.ifname, n->ifname, "CNI_IFNAME", e.command, err) < 0 ||
	    require(e.path, n->path, "CNI_PATH", e.command, err) < 0)
		return -1;
	if (e.containerid && !cni_valid_containerid(e.containerid))
		return cni_err(
			err, CNI_ERR_ENV,
			"invalid CNI_CONTAINERID \"%.64s\": must match [a-zA-Z0-9][a-zA-Z0-9_.-]*",
			e.containerid);
	if (e.ifname && !cni_valid_ifname(e.ifname))
		return cni_err(err, CNI_ERR_ENV,
			       "invalid CNI_IFNAME \"%.64s\": 1-15 bytes, not \".\" or \"..\", no "
			       "'/', ':' or whitespace",
			       e.ifname);
	*ret = e;
	return 0;
}
