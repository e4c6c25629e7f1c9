// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cni/args.h"

static int set_known(struct cni_args *a, const char *key, const char *value)
{
	static const struct {
		const char *key;
		size_t offset;
	} keys[] = {
		{ "K8S_POD_NAMESPACE", offsetof(struct cni_args, pod_namespace) },
		{ "K8S_POD_NAME", offsetof(struct cni_args, pod_name) },
		{ "K8S_POD_INFRA_CONTAINER_ID", offsetof(struct cni_args, pod_infra_container_id) },
		{ "K8S_POD_UID", offsetof(struct cni_args, pod_uid) },
		{ "MAC", offsetof(struct cni_args, mac) },
		{ "IP", offsetof(struct cni_args, ip) },
		{ "GATEWAY", offsetof(struct cni_args, gateway) },
	};

	if (strcmp(key, "IgnoreUnknown") == 0) {
		a->ignore_unknown = strcasecmp(value, "true") == 0 || strcmp(value, "1") == 0;
		return 1;
	}
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		if (strcmp(key, keys[i].key) == 0) {
			/* later pairs overwrite earlier ones: the last value wins */
			*(const char **)((char *)a + keys[i].offset) = value;
			return 1;
		}
	}
	return 0;
}

int cni_args_parse(const char *s, struct cni_args *ret, struct cni_error *err)
{
	struct cni_args a = { 0 };
	const char *unknown = NULL;
	char *save = NULL;

	if (!s || !*s) {
		*ret = a;
		return 0;
	}
	a.buf = strdup(s);
	if (!a.buf)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	for (char *pair = strtok_r(a.buf, ";", &save); pair; pair = strtok_r(NULL, ";", &save)) {
		char *eq = strchr(pair, '=');

		if (!eq || eq == pair) {
			cni_err(err, CNI_ERR_ENV,
				"CNI_ARGS: invalid pair \"%.64s\": want KEY=VALUE", pair);
			goto out;
		}
		*eq = '\0';
		if (!set_known(&a, pair, eq + 1) && !unknown)
			unknown = pair;
	}
	/* IgnoreUnknown may come after the unknown key, so judge only at the end */
	if (unknown && !a.ignore_unknown) {
		cni_err(err, CNI_ERR_UNSUPPORTED_FIELD,
			"CNI_ARGS: unknown key \"%.64s\" (add IgnoreUnknown=true to skip unknown "
			"keys)",
			unknown);
		goto out;
	}
	*ret = a;
	return 0;
out:
	free(a.buf);
	return -1;
}

void cni_args_free(struct cni_args *a)
{
	free(a->buf);
	a->buf = NULL;
}
