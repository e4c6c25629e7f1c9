// SPDX-License-Identifier: Apache-2.0
/* Unit tests of the wire format: encode/decode round trips and every bound check. */
#include <errno.h>
#include <string.h>

#include "../check.h"
#include "mig_frame.h"

static void test_roundtrip(void)
{
	struct mig_frame f = { .type = MIG_FRAME_PAGES,
			       .flags = MIG_FRAME_F_LIVE,
			       .round = 7,
			       .length = 8192,
			       .offset = 1ull << 33,
			       .checksum = 0x0123456789abcdefull,
			       .aux = 42 },
			 g;
	uint8_t buf[MIG_FRAME_HDR_LEN];

	mig_frame_encode(&f, buf);
	CHECK(buf[0] == 'M' && buf[1] == 'G' && buf[2] == 'N' && buf[3] == 'F');
	CHECK(buf[4] == MIG_FRAME_VERSION);
	CHECK(mig_frame_decode(buf, &g) == 0);
	CHECK(g.type == f.type && g.flags == f.flags && g.round == f.round);
	CHECK(g.length == f.length && g.offset == f.offset && g.checksum == f.checksum);
	CHECK(g.aux == f.aux);
	/* big-endian offset on the wire */
	CHECK(buf[16] == 0 && buf[19] == 2 && buf[23] == 0);
}

static void test_decode_rejects(void)
{
	struct mig_frame f = { .type = MIG_FRAME_PAGES, .length = 4096 }, g = { 0 };
	uint8_t buf[MIG_FRAME_HDR_LEN], bad[MIG_FRAME_HDR_LEN];

	mig_frame_encode(&f, buf);
	memcpy(bad, buf, sizeof(bad));
	bad[0] ^= 0xff;
	CHECK(mig_frame_decode(bad, &g) == -EBADMSG);
	memcpy(bad, buf, sizeof(bad));
	bad[4] = 99;
	CHECK(mig_frame_decode(bad, &g) == -EPROTO);
	memcpy(bad, buf, sizeof(bad));
	bad[5] = 0;
	CHECK(mig_frame_decode(bad, &g) == -EPROTONOSUPPORT);
	bad[5] = 200;
	CHECK(mig_frame_decode(bad, &g) == -EPROTONOSUPPORT);

	f.length = MIG_FRAME_MAX_PAGES + 4096;
	mig_frame_encode(&f, buf);
	CHECK(mig_frame_decode(buf, &g) == -EMSGSIZE);
	f.length = MIG_FRAME_MAX_PAGES;
	mig_frame_encode(&f, buf);
	CHECK(mig_frame_decode(buf, &g) == 0);

	/* control frames carry exactly their payload */
	f = (struct mig_frame){ .type = MIG_FRAME_ROUND_END, .length = 1 };
	mig_frame_encode(&f, buf);
	CHECK(mig_frame_decode(buf, &g) == -EMSGSIZE);
	f = (struct mig_frame){ .type = MIG_FRAME_HELLO, .length = MIG_HELLO_LEN - 1 };
	mig_frame_encode(&f, buf);
	CHECK(mig_frame_decode(buf, &g) == -EMSGSIZE);
	f.length = MIG_HELLO_LEN;
	mig_frame_encode(&f, buf);
	CHECK(mig_frame_decode(buf, &g) == 0);
	f = (struct mig_frame){ .type = MIG_FRAME_DIGEST, .length = MIG_SUMMARY_LEN };
	mig_frame_encode(&f, buf);
	CHECK(mig_frame_decode(buf, &g) == 0);
	f = (struct mig_frame){ .type = MIG_FRAME_CHALLENGE, .length = MIG_CHALLENGE_LEN };
	mig_frame_encode(&f, buf);
	CHECK(mig_frame_decode(buf, &g) == 0);
	f.length = 0;
	mig_frame_encode(&f, buf);
	CHECK(mig_frame_decode(buf, &g) == -EMSGSIZE);
}

static void test_bounds(void)
{
	const uint64_t mem = 64ull << 20;
	struct mig_frame f = { .type = MIG_FRAME_PAGES, .offset = 0, .length = 4096 };

	CHECK(mig_frame_check_pages(&f, mem, 4096) == 0);
	f.offset = mem - 4096;
	CHECK(mig_frame_check_pages(&f, mem, 4096) == 0);
	f.offset = mem;
	CHECK(mig_frame_check_pages(&f, mem, 4096) == -ERANGE);
	f.offset = mem - 4096;
	f.length = 8192;
	CHECK(mig_frame_check_pages(&f, mem, 4096) == -ERANGE);
	/* offset + length wrapping around 2^64 */
	f.offset = UINT64_MAX - 4095;
	f.length = 8192;
	CHECK(mig_frame_check_pages(&f, mem, 4096) == -ERANGE);
	f.offset = 100; /* unaligned */
	f.length = 4096;
	CHECK(mig_frame_check_pages(&f, mem, 4096) == -ERANGE);
	f.offset = 0;
	f.length = 100;
	CHECK(mig_frame_check_pages(&f, mem, 4096) == -ERANGE);
	f.length = 0;
	CHECK(mig_frame_check_pages(&f, mem, 4096) == -ERANGE);
	f.length = 4096;
	f.type = MIG_FRAME_HELLO;
	CHECK(mig_frame_check_pages(&f, mem, 4096) == -ERANGE);
	f.type = MIG_FRAME_PAGES;
	CHECK(mig_frame_check_pages(&f, 0, 4096) == -ERANGE);
}

/* What mig_hello_decode() makes of @h once encoded. */
static int hello_decoded(const struct mig_hello *h)
{
	uint8_t buf[MIG_HELLO_LEN];
	struct mig_hello g;

	mig_hello_encode(h, buf);
	return mig_hello_decode(buf, &g);
}

static void test_hello(void)
{
	struct mig_hello h = { .session = 0xfeedull,
			       .stream_index = 1,
			       .stream_count = 4,
			       .memory_bytes = 1ull << 30,
			       .page_size = 4096,
			       .flags = MIG_HELLO_F_MAC },
			 g;
	uint8_t buf[MIG_HELLO_LEN], nonce[MIG_CHALLENGE_LEN] = { 1, 2, 3 }, m1[32], m2[32];

	memset(h.mac, 0x5a, sizeof(h.mac));
	mig_hello_encode(&h, buf);
	CHECK(mig_hello_decode(buf, &g) == 0);
	CHECK(g.session == h.session && g.stream_index == 1 && g.stream_count == 4);
	CHECK(g.memory_bytes == h.memory_bytes && g.page_size == 4096);
	CHECK(g.flags == MIG_HELLO_F_MAC && memcmp(g.mac, h.mac, 32) == 0);

	/* the MAC binds the token, the challenge and the hello's fields, not the mac itself */
	mig_hello_mac("token", nonce, buf, m1);
	memset(buf + 32, 0, 32);
	mig_hello_mac("token", nonce, buf, m2);
	CHECK(memcmp(m1, m2, 32) == 0);
	mig_hello_mac("tokem", nonce, buf, m2);
	CHECK(memcmp(m1, m2, 32) != 0);
	nonce[31] = 1;
	mig_hello_mac("token", nonce, buf, m2);
	CHECK(memcmp(m1, m2, 32) != 0);
	nonce[31] = 0;
	buf[23] ^= 1; /* memory size */
	mig_hello_mac("token", nonce, buf, m2);
	CHECK(memcmp(m1, m2, 32) != 0);

	h.stream_index = 4; /* index >= count */
	CHECK(hello_decoded(&h) == -EINVAL);
	h.stream_index = 0;
	h.stream_count = 0;
	CHECK(hello_decoded(&h) == -EINVAL);
	h.stream_count = MIG_MAX_STREAMS + 1;
	CHECK(hello_decoded(&h) == -EINVAL);
	h.stream_count = 1;
	h.page_size = 4000;
	CHECK(hello_decoded(&h) == -EINVAL);
	h.page_size = 4096;
	h.memory_bytes = 4097;
	CHECK(hello_decoded(&h) == -EINVAL);
	h.memory_bytes = 4096;
	h.flags = 0x80; /* unknown flag */
	CHECK(hello_decoded(&h) == -EINVAL);
	h.flags = 0;
	CHECK(hello_decoded(&h) == 0);
}

static void test_summary(void)
{
	struct mig_summary s = { .digest = 1,
				 .bytes = 2,
				 .page_bytes = 3,
				 .rounds = 4,
				 .zc_mode = 2,
				 .zc_sends = 5,
				 .zc_completions = 6,
				 .zc_copied = 7,
				 .downtime_us = 8,
				 .seconds_us = 9,
				 .checksum_races = 10 },
			   t;
	uint8_t buf[MIG_SUMMARY_LEN];

	mig_summary_encode(&s, buf);
	mig_summary_decode(buf, &t);
	CHECK(memcmp(&s, &t, sizeof(s)) == 0);
	CHECK_STR(mig_frame_type_name(MIG_FRAME_PAGES), "PAGES");
	CHECK_STR(mig_frame_type_name(99), "?");
	CHECK_STR(mig_reject_name(MIG_REJECT_TOKEN), "token mismatch");
}

int main(void)
{
	test_roundtrip();
	test_decode_rejects();
	test_bounds();
	test_hello();
	test_summary();
	return check_summary();
}
