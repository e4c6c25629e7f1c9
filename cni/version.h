/* SPDX-License-Identifier: Apache-2.0 */
/* CNI spec versions: parsing, ordering, and what each verb requires. */
#ifndef MIGNET_CNI_VERSION_H
#define MIGNET_CNI_VERSION_H

#include <json-c/json.h>

#include "cni/error.h"

/* In ascending order, so versions compare with < and >=. */
enum cni_version {
	CNI_V0_1_0,
	CNI_V0_2_0,
	CNI_V0_3_0,
	CNI_V0_3_1,
	CNI_V0_4_0,
	CNI_V1_0_0,
	CNI_V1_1_0,
	CNI_VERSION_COUNT,
};

#define CNI_VERSION_LATEST CNI_V1_1_0

/** cni_version_string() - "0.3.1" for CNI_V0_3_1. Return: a static string. */
const char *cni_version_string(enum cni_version v);

/**
 * cni_version_parse() - parse a cniVersion string; NULL means 0.1.0 (the spec's default)
 * Return: 0, or -1 with err set to code 1 and the supported list in details.
 */
int cni_version_parse(const char *s, enum cni_version *ret, struct cni_error *err);

/** cni_version_supported_json() - the array ["0.1.0", …, "1.1.0"]. Return: new object. */
struct json_object *cni_version_supported_json(void);

#endif
