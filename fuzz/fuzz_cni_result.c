// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness: a CNI result, as a delegated IPAM plugin prints it or as prevResult
 * carries it, in any version.
 *
 * Input: one byte choosing the fallback version (a result without "cniVersion" takes the
 * config's), then the JSON. A result that parses is printed in every version with
 * cni_result_to_json(); each 0.3.0+ rendering (and each legacy one that succeeds) must parse
 * back into the same numbers of IPs and routes: a conversion that produces JSON our own
 * parser refuses is a bug, and the harness aborts on it.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni/result.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct cni_result *r, enum cni_version v)
{
	struct cni_error err = { 0 };
	struct cni_result back = { 0 };
	struct json_object *o = cni_result_to_json(r, v, &err), *again;
	const char *text;

	if (!o) {
		/* only legacy versions may refuse: a result without any IP */
		if (v >= CNI_V0_3_0 || err.code != CNI_ERR_VERSION)
			abort();
		return;
	}
	text = json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN);
	again = json_tokener_parse(text);
	if (!again)
		abort();
	if (cni_result_parse(again, v, &back, &err) < 0)
		abort();
	if (v >= CNI_V0_3_0 && (back.n_ips != r->n_ips || back.n_routes != r->n_routes ||
				back.n_interfaces != r->n_interfaces))
		abort();
	cni_result_free(&back);
	json_object_put(again);
	json_object_put(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct json_tokener *tok;
	struct json_object *obj;
	struct cni_result r = { 0 };
	struct cni_error err = { 0 };
	enum cni_version fallback;

	if (size < 1)
		return 0;
	fallback = data[0] % CNI_VERSION_COUNT;
	tok = json_tokener_new(); /* depth 32, as cni_conf_parse() and the delegation use */
	if (!tok)
		abort();
	obj = json_tokener_parse_ex(tok, (const char *)data + 1, (int)(size - 1));
	json_tokener_free(tok);
	if (!obj)
		return 0;
	if (cni_result_parse(obj, fallback, &r, &err) == 0) {
		for (int v = 0; v < CNI_VERSION_COUNT; v++)
			round_trip(&r, v);
		cni_result_free(&r);
	} else if (err.code != CNI_ERR_DECODE && err.code != CNI_ERR_VERSION &&
		   err.code != CNI_ERR_INTERNAL) {
		abort(); /* a result is either decodable, of an unknown version, or not */
	}
	json_object_put(obj);
	return 0;
}
