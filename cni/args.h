/* SPDX-License-Identifier: Apache-2.0 */
/*
 * CNI_ARGS: "K=V;K=V". The keys the runtimes and Multus pass are kept; a repeated key takes
 * its last value (Multus may append one). An unknown key is an error unless IgnoreUnknown is
 * true, as in libcni's convention.
 */
#ifndef MIGNET_CNI_ARGS_H
#define MIGNET_CNI_ARGS_H

#include <stdbool.h>

#include "cni/error.h"

struct cni_args {
	bool ignore_unknown;
	const char *pod_namespace;	    /* K8S_POD_NAMESPACE */
	const char *pod_name;		    /* K8S_POD_NAME */
	const char *pod_infra_container_id; /* K8S_POD_INFRA_CONTAINER_ID */
	const char *pod_uid;		    /* K8S_POD_UID */
	const char *mac;		    /* MAC */
	const char *ip;			    /* IP (comma-separated list allowed) */
	const char *gateway;		    /* GATEWAY (whereabouts' static-IP args) */
	char *buf;			    /* owns the strings above */
};

/**
 * cni_args_parse() - parse @s (may be NULL or empty)
 * Return: 0, or -1 with err set (code 2 for an unknown key, 4 for a malformed pair).
 */
int cni_args_parse(const char *s, struct cni_args *ret, struct cni_error *err);

/** cni_args_free() - release what cni_args_parse() allocated; accepts a zeroed struct. */
void cni_args_free(struct cni_args *a);

#endif
