// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness: CNI_ARGS ("K=V;K=V", as Multus and the runtimes pass it) and the other
 * environment strings the plugins validate: container IDs, interface names, and the values a
 * CNI_ARGS may carry (MAC, IP).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cni/args.h"
#include "cni/env.h"
#include "cni/result.h"
#include "plugins/macvlan/macvlan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An IP list "a,b,c" as CNI_ARGS IP= carries it: each element an address or a CIDR. */
static void parse_ip_list(const char *s)
{
	char *copy = strdup(s), *save = NULL;

	if (!copy)
		abort();
	for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		struct cni_addr a;
		uint8_t len;
		char buf[64];

		if (cni_addr_parse(t, &a) == 0)
			cni_addr_format(&a, buf, sizeof(buf));
		if (cni_cidr_parse(t, &a, &len) == 0 && len > (a.family == AF_INET ? 32 : 128))
			abort();
	}
	free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cni_args a = { 0 };
	struct cni_error err = { 0 };
	char *s = malloc(size + 1);
	uint8_t mac[6];

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0'; /* the environment holds C strings: a NUL ends the value */
	if (cni_args_parse(s, &a, &err) == 0) {
		if (a.mac)
			macvlan_mac_parse(a.mac, mac);
		if (a.ip)
			parse_ip_list(a.ip);
		cni_args_free(&a);
	} else if (!err.code || !memchr(err.msg, '\0', sizeof(err.msg))) {
		abort();
	}
	if (s[0]) {
		cni_valid_containerid(s);
		if (cni_valid_ifname(s) && (strlen(s) > 15 || strchr(s, '/')))
			abort();
	}
	free(s);
	return 0;
}
