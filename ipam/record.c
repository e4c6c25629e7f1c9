// SPDX-License-Identifier: Apache-2.0
/*
 * Why a stored allocation record is not one: the diagnosis `mignet ipam` shows for an entry
 * that keeps an address taken without saying who holds it. Both stores keep the same record,
 * one line of JSON {"ip", "id", "podref", "ifname", ...}, filed under its address.
 */
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "ipam/store.h"

static const char *const fields[] = { "ip", "id", "podref", "ifname" };
static const size_t field_max[] = { INET6_ADDRSTRLEN, IPAM_ID_MAX, IPAM_PODREF_MAX,
				    IPAM_IFNAME_MAX };

bool ipam_record_check(const char *text, const char *name, char *why, size_t size)
{
	struct json_object *o = json_tokener_parse(text), *v;
	struct ipam_u128 ip;
	bool ok = false;
	int family;

	if (!*text) {
		snprintf(why, size, "empty");
		goto out;
	}
	if (!o || !json_object_is_type(o, json_type_object)) {
		snprintf(why, size, "not a JSON object");
		goto out;
	}
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
		if (!json_object_object_get_ex(o, fields[i], &v) ||
		    !json_object_is_type(v, json_type_string)) {
			snprintf(why, size, "\"%s\" is missing or not a string", fields[i]);
			goto out;
		}
		if ((size_t)json_object_get_string_len(v) >= field_max[i]) {
			snprintf(why, size, "\"%s\" is longer than %zu bytes", fields[i],
				 field_max[i] - 1);
			goto out;
		}
	}
	json_object_object_get_ex(o, "ip", &v);
	if (ipam_addr_parse(json_object_get_string(v), &family, &ip) < 0) {
		snprintf(why, size, "\"ip\" \"%.60s\" is not an address",
			 json_object_get_string(v));
		goto out;
	}
	if (strcmp(json_object_get_string(v), name) != 0) {
		snprintf(why, size, "\"ip\" %s is not the address it is filed under",
			 json_object_get_string(v));
		goto out;
	}
	ok = true;
out:
	json_object_put(o);
	return ok;
}
