// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "cni/version.h"

static const char *const version_names[CNI_VERSION_COUNT] = {
	[CNI_V0_1_0] = "0.1.0", [CNI_V0_2_0] = "0.2.0", [CNI_V0_3_0] = "0.3.0",
	[CNI_V0_3_1] = "0.3.1", [CNI_V0_4_0] = "0.4.0", [CNI_V1_0_0] = "1.0.0",
	[CNI_V1_1_0] = "1.1.0",
};

const char *cni_version_string(enum cni_version v)
{
	return v < CNI_VERSION_COUNT ? version_names[v] : "unknown";
}

int cni_version_parse(const char *s, enum cni_version *ret, struct cni_error *err)
{
	if (!s) {
		*ret = CNI_V0_1_0;
		return 0;
	}
	for (int v = 0; v < CNI_VERSION_COUNT; v++) {
		if (strcmp(s, version_names[v]) == 0) {
			*ret = v;
			return 0;
		}
	}
	cni_err(err, CNI_ERR_VERSION,
		"incompatible CNI versions: config is \"%.64s\", plugin supports 0.1.0 to 1.1.0",
		s);
	return cni_err_details(
		err, "supported versions: 0.1.0, 0.2.0, 0.3.0, 0.3.1, 0.4.0, 1.0.0, 1.1.0");
}

struct json_object *cni_version_supported_json(void)
{
	struct json_object *a = json_object_new_array();

	for (int v = 0; a && v < CNI_VERSION_COUNT; v++)
		json_object_array_add(a, json_object_new_string(version_names[v]));
	return a;
}
