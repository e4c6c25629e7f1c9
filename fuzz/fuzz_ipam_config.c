// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness: the whereabouts configuration, as a NetworkAttachmentDefinition author
 * and a node's flat file give it: ipam_config_load() (inline keys, the flat file merged in,
 * ranges in CIDR and dash form, range_start/range_end, exclude lists, ipRanges, gateway,
 * routes, dns, addresses, datastore keys), then the range model's invariants.
 *
 * Input: the "ipam" JSON object, optionally followed by a NUL byte and the flat file's bytes
 * (written to a private temporary file that is passed as the only flat-file path; the key
 * "configuration_path" is removed so the harness never opens a path the input names).
 *
 * Invariants checked on every range of a config that loads: network <= first <= last <=
 * broadcast; exclusions sorted, disjoint, inside [first, last]; the pool name parses back to
 * the same family, network and prefix length; every excluded interval is reported excluded.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ipam/config.h"
#include "ipam/range.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char flat_path[64];

static void cleanup(void)
{
	unlink(flat_path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	int fd;

	(void)argc, (void)argv;
	snprintf(flat_path, sizeof(flat_path), "/dev/shm/mignet-fuzz-flat-XXXXXX");
	fd = mkstemp(flat_path);
	if (fd < 0)
		abort();
	close(fd);
	atexit(cleanup);
	return 0;
}

static void check_range(const struct ipam_range *r)
{
	struct ipam_u128 net, hi;
	unsigned int len;
	int family;
	char name[IPAM_CIDR_MAX + 8];

	if (r->family != 4 && r->family != 6)
		abort();
	if (ipam_u128_cmp(r->net, r->first) > 0 || ipam_u128_cmp(r->first, r->last) > 0 ||
	    ipam_u128_cmp(r->last, r->bcast) > 0)
		abort();
	for (size_t i = 0; i < r->n_exclude; i++) {
		const struct ipam_interval *e = &r->exclude[i];

		if (ipam_u128_cmp(e->lo, e->hi) > 0 || ipam_u128_cmp(e->lo, r->first) < 0 ||
		    ipam_u128_cmp(e->hi, r->last) > 0)
			abort();
		if (i && ipam_u128_cmp(r->exclude[i - 1].hi, e->lo) >= 0)
			abort(); /* not sorted or overlapping */
		if (!ipam_range_excluded(r, e->lo, &hi) || !ipam_range_excluded(r, e->hi, &hi))
			abort();
	}
	ipam_pool_name(r, name, sizeof(name));
	if (ipam_pool_name_parse(name, &family, &net, &len) < 0 || family != r->family ||
	    !ipam_u128_eq(net, r->net) || len != r->prefixlen)
		abort();
	ipam_range_digest(r, false);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *const paths[] = { flat_path, NULL };
	const uint8_t *nul = memchr(data, '\0', size);
	size_t json_len = nul ? (size_t)(nul - data) : size;
	struct json_tokener *tok;
	struct json_object *ipam;
	struct ipam_config c;
	struct cni_error err = { 0 };
	FILE *f;

	if (size > (1 << 20))
		return 0;
	/* the flat file: present only when the input has a second part */
	if (nul) {
		f = fopen(flat_path, "w");
		if (!f)
			abort();
		fwrite(nul + 1, 1, size - json_len - 1, f);
		fclose(f);
	} else {
		truncate(flat_path, 0);
	}
	tok = json_tokener_new();
	if (!tok)
		abort();
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT);
	ipam = json_tokener_parse_ex(tok, (const char *)data, (int)json_len);
	json_tokener_free(tok);
	if (!ipam || !json_object_is_type(ipam, json_type_object)) {
		json_object_put(ipam);
		return 0;
	}
	json_object_object_del(ipam, "configuration_path");
	if (ipam_config_load(ipam, nul ? paths : paths + 1, &c, &err) == 0) {
		for (size_t i = 0; i < c.n_ranges; i++)
			check_range(&c.ranges[i]);
		for (size_t i = 0; i < c.n_ranges; i++)
			ipam_gateway_for(&c, &c.ranges[i]);
		ipam_config_free(&c);
	} else if (err.code != CNI_ERR_CONFIG && err.code != CNI_ERR_INTERNAL &&
		   err.code != CNI_ERR_DECODE) {
		abort();
	}
	json_object_put(ipam);
	return 0;
}
