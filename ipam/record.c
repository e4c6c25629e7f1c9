// SPDX-License-Identifier: Apache-2.0
/*
 * The record codec of both stores (ipam/record.h): records, hints, percent-encoded names, and
 * why a stored allocation record is not one (the diagnosis `mignet ipam` shows for an entry
 * that keeps an address taken without saying who holds it).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam/owner.h"
#include "ipam/record.h"
#include "ipam/store.h"

void ipam_pct_encode(const char *s, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 4 < size; s++) {
		unsigned char ch = *s;

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_') {
			out[o++] = ch;
		} else {
			out[o++] = '%';
			out[o++] = hex[ch >> 4];
			out[o++] = hex[ch & 15];
		}
	}
	out[o] = '\0';
}

int ipam_record_text(const struct ipam_alloc *a, char *out, size_t size)
{
	struct json_object *o = json_object_new_object();
	char ip[INET6_ADDRSTRLEN];
	int n;

	if (!o)
		return -ENOMEM;
	json_object_object_add(
		o, "ip",
		json_object_new_string(ipam_addr_format(a->family, a->ip, ip, sizeof(ip))));
	json_object_object_add(o, "id", json_object_new_string(a->id));
	json_object_object_add(o, "podref", json_object_new_string(a->podref));
	json_object_object_add(o, "ifname", json_object_new_string(a->ifname));
	/* the namespace of the ADD, for "mignet ipam gc" */
	if (a->netns[0])
		json_object_object_add(o, "netns", json_object_new_string(a->netns));
	ipam_record_add_owner(o, a);
	n = snprintf(out, size, "%s\n",
		     json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
							       JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return n < 0 || (size_t)n >= size ? -E2BIG : n;
}

static bool copy_field(struct json_object *o, const char *key, char *out, size_t size)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string) ||
	    (size_t)json_object_get_string_len(v) >= size)
		return false;
	memcpy(out, json_object_get_string(v), json_object_get_string_len(v) + 1);
	return true;
}

bool ipam_record_parse(const char *text, const char *addr, struct ipam_alloc *ret)
{
	struct json_object *o = json_tokener_parse(text);
	struct ipam_alloc a = { 0 };
	char ip[INET6_ADDRSTRLEN];
	bool ok;

	ok = o && json_object_is_type(o, json_type_object) && copy_field(o, "ip", ip, sizeof(ip)) &&
	     copy_field(o, "id", a.id, sizeof(a.id)) &&
	     copy_field(o, "podref", a.podref, sizeof(a.podref)) &&
	     copy_field(o, "ifname", a.ifname, sizeof(a.ifname)) &&
	     ipam_addr_parse(ip, &a.family, &a.ip) == 0 && (!addr || strcmp(ip, addr) == 0);
	if (ok) {
		/* an absent, unusable or relative "netns" reads as none (an older record) */
		if (!copy_field(o, "netns", a.netns, sizeof(a.netns)) || a.netns[0] != '/')
			a.netns[0] = '\0';
		ipam_record_get_owner(o, &a);
	}
	json_object_put(o);
	if (ok)
		*ret = a;
	return ok;
}

char *ipam_hint_text(int family, struct ipam_u128 ip, uint64_t digest, char *out, size_t size)
{
	char addr[INET6_ADDRSTRLEN];

	snprintf(out, size, "%s %016" PRIx64, ipam_addr_format(family, ip, addr, sizeof(addr)),
		 digest);
	return out;
}

bool ipam_hint_parse(const char *text, int *ret_family, struct ipam_u128 *ret_ip,
		     uint64_t *ret_digest)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *sp = strchr(text, ' ');
	char *end;

	if (!sp || (size_t)(sp - text) >= sizeof(addr))
		return false;
	memcpy(addr, text, sp - text);
	addr[sp - text] = '\0';
	if (ipam_addr_parse(addr, ret_family, ret_ip) < 0)
		return false;
	errno = 0;
	*ret_digest = strtoull(sp + 1, &end, 16);
	return !errno && *end == '\0' && end != sp + 1;
}

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

bool ipam_record_is(const struct ipam_alloc *a, enum ipam_index by, const char *key,
		    const char *ifname)
{
	return strcmp(by == IPAM_INDEX_POD ? a->podref : a->id, key) == 0 &&
	       strcmp(a->ifname, ifname) == 0;
}
