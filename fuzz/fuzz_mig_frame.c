// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness: what a migration peer sends, before any of it touches guest memory.
 *
 * Input: byte 0 picks the decoder; the rest is the bytes off the wire.
 *   0: a 40-byte frame header (mig_frame_decode()); a decoded header must encode back to the
 *      same bytes' meaning (decode(encode(f)) == f), and a PAGES frame that passes
 *      mig_frame_check_pages() must lie inside the region, page-aligned and non-empty.
 *   1: a HELLO payload (mig_hello_decode()): what decodes re-encodes stably.
 *   2: a DIGEST payload (mig_summary_decode()), round trip.
 *   3: the operator's text parsers on the same bytes as a C string: sizes, rates, quantities,
 *      CIDRs, targets (mig_parse_*), and the --config JSON (mig_config_parse()).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/mig_config.h"
#include "migration/mig_frame.h"
#include "migration/mig_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void frame(const uint8_t *data, size_t size)
{
	uint8_t hdr[MIG_FRAME_HDR_LEN] = { 0 }, again[MIG_FRAME_HDR_LEN];
	struct mig_frame f, g;
	static const uint64_t regions[] = { 0, 4096, 1ull << 30, UINT64_MAX & ~4095ull };

	memcpy(hdr, data, size < sizeof(hdr) ? size : sizeof(hdr));
	if (mig_frame_decode(hdr, &f) < 0)
		return;
	mig_frame_encode(&f, again);
	/* field by field: the struct has padding */
	if (mig_frame_decode(again, &g) < 0 || f.type != g.type || f.flags != g.flags ||
	    f.round != g.round || f.length != g.length || f.offset != g.offset ||
	    f.checksum != g.checksum || f.aux != g.aux)
		abort();
	if (f.type != MIG_FRAME_PAGES)
		return;
	if (f.length > MIG_FRAME_MAX_PAGES)
		abort(); /* decode caps the payload of every type */
	for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
		for (uint32_t page = 4096; page <= 2u << 20; page *= 512) {
			if (mig_frame_check_pages(&f, regions[i], page) < 0)
				continue;
			if (f.length == 0 || f.offset % page || f.length % page ||
			    f.offset >= regions[i] || f.length > regions[i] - f.offset)
				abort(); /* accepted a frame that writes outside the region */
		}
	}
}

static void hello(const uint8_t *data, size_t size)
{
	uint8_t buf[MIG_HELLO_LEN] = { 0 }, once[MIG_HELLO_LEN], twice[MIG_HELLO_LEN];
	struct mig_hello h, k;

	memcpy(buf, data, size < sizeof(buf) ? size : sizeof(buf));
	memset(&h, 0, sizeof(h));
	if (mig_hello_decode(buf, &h) < 0)
		return;
	/* what decodes must encode to bytes that decode to the same thing */
	mig_hello_encode(&h, once);
	memset(&k, 0, sizeof(k));
	if (mig_hello_decode(once, &k) < 0)
		abort();
	mig_hello_encode(&k, twice);
	if (memcmp(once, twice, sizeof(once)) != 0)
		abort();
}

static void summary(const uint8_t *data, size_t size)
{
	uint8_t buf[MIG_SUMMARY_LEN] = { 0 }, again[MIG_SUMMARY_LEN];
	struct mig_summary s, t;

	memcpy(buf, data, size < sizeof(buf) ? size : sizeof(buf));
	mig_summary_decode(buf, &s);
	mig_summary_encode(&s, again);
	mig_summary_decode(again, &t);
	if (memcmp(&s, &t, sizeof(s)) != 0)
		abort();
}

static void text(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	uint64_t v;
	unsigned long u;
	struct mig_cidr c;
	struct mig_addr a;
	struct mig_config cfg;
	struct mig_error err;
	char buf[64];

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	mig_parse_size(s, &v);
	mig_parse_rate(s, 1u << 20, &v);
	mig_parse_quantity(s, &v);
	mig_parse_uint(s, 1, 1000, &u);
	if (mig_cidr_parse(s, &c) == 0 && c.prefix > (c.family == AF_INET ? 32u : 128u))
		abort();
	if (mig_parse_target(s, 7000, &a) == 0)
		mig_addr_format(&a, buf, sizeof(buf));
	memset(&err, 0, sizeof(err));
	mig_config_parse(s, &cfg, &err);
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* the first byte picks the parser the rest goes to */
	static void (*const parsers[])(const uint8_t *, size_t) = { frame, hello, summary, text };

	if (size < 1)
		return 0;
	parsers[data[0] % 4](data + 1, size - 1);
	return 0;
}
