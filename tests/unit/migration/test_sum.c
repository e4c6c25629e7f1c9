// SPDX-License-Identifier: Apache-2.0
/* Unit tests of the frame checksum and the region digest. */
#include <stdlib.h>
#include <string.h>

#include "../check.h"
#include "mig_sum.h"

static void test_sum(void)
{
	size_t n = 256 * 1024, i;
	uint8_t *a = malloc(n + 64), *b = malloc(n + 64);
	uint64_t s, x = 88172645463325252ull;

	for (i = 0; i < n + 64; i++) { /* xorshift: no period within the buffer */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		a[i] = (uint8_t)x;
	}
	memcpy(b, a, n + 64);
	s = mig_sum64(a, n);
	CHECK(s == mig_sum64(b, n));
	CHECK(s != mig_sum64(a, n - 1)); /* length matters */
	CHECK(mig_sum64(a, 0) == mig_sum64(b, 0));
	b[12345] ^= 1; /* one flipped bit */
	CHECK(s != mig_sum64(b, n));
	memcpy(b, a, n);
	/* two swapped words in the same lane */
	memcpy(b + 0, a + 64, 8);
	memcpy(b + 64, a + 0, 8);
	CHECK(s != mig_sum64(b, n));
	memcpy(b, a, n);
	/* two swapped 4 KiB pages */
	memcpy(b, a + 4096, 4096);
	memcpy(b + 4096, a, 4096);
	CHECK(s != mig_sum64(b, n));
	/* unaligned start and odd tail */
	CHECK(mig_sum64(a + 1, 1000) == mig_sum64(memcpy(b, a + 1, 1000), 1000));
	CHECK(mig_sum64(a, 7) != mig_sum64(a, 8));
	/* all-zero buffers of different lengths differ */
	memset(b, 0, n);
	CHECK(mig_sum64(b, 4096) != mig_sum64(b, 8192));
	free(a);
	free(b);
}

static void test_digest(void)
{
	uint64_t len = 5 * MIG_DIGEST_CHUNK + 4096, d;
	uint8_t *m = calloc(1, len);

	for (uint64_t i = 0; i < len; i += 8)
		m[i] = (uint8_t)(i >> 12);
	d = mig_digest(m, len);
	/* split anywhere on a chunk boundary: the parts add up */
	CHECK(d == mig_digest_part(m, 0, 2 * MIG_DIGEST_CHUNK) +
			   mig_digest_part(m, 2 * MIG_DIGEST_CHUNK, len - 2 * MIG_DIGEST_CHUNK));
	m[len - 1] ^= 0x80;
	CHECK(d != mig_digest(m, len));
	m[len - 1] ^= 0x80;
	/* swapping two whole chunks changes the digest (chunk index is mixed in) */
	{
		uint8_t *t = malloc(MIG_DIGEST_CHUNK);

		m[0] = 0xaa;
		d = mig_digest(m, len);
		memcpy(t, m, MIG_DIGEST_CHUNK);
		memcpy(m, m + MIG_DIGEST_CHUNK, MIG_DIGEST_CHUNK);
		memcpy(m + MIG_DIGEST_CHUNK, t, MIG_DIGEST_CHUNK);
		CHECK(d != mig_digest(m, len));
		free(t);
	}
	CHECK(mig_mix64(1) != mig_mix64(2));
	free(m);
}

int main(void)
{
	test_sum();
	test_digest();
	return check_summary();
}
