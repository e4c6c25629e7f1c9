// SPDX-License-Identifier: Apache-2.0
#include <string.h>

#include "mig_sum.h"

#define LANES 8

uint64_t mig_mix64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return x;
}

/*
 * The lanes are independent, so GCC turns the inner loop into vector adds; the clones pick
 * AVX2 or AVX-512 at load time where the CPU has them.
 */
__attribute__((target_clones("avx512f", "avx2", "default"), optimize("tree-vectorize"))) static void
sum_blocks(const uint8_t *p, size_t blocks, uint64_t *a, uint64_t *b)
{
	uint64_t la[LANES], lb[LANES], w[LANES];
	size_t i, j;

	memcpy(la, a, sizeof(la));
	memcpy(lb, b, sizeof(lb));
	for (i = 0; i < blocks; i++) {
		memcpy(w, p + i * sizeof(w), sizeof(w));
		for (j = 0; j < LANES; j++) {
			la[j] += w[j];
			lb[j] += la[j];
		}
	}
	memcpy(a, la, sizeof(la));
	memcpy(b, lb, sizeof(lb));
}

uint64_t mig_sum64(const void *buf, size_t len)
{
	const size_t block = LANES * sizeof(uint64_t);
	uint64_t a[LANES] = { 0 }, b[LANES] = { 0 }, h;
	const uint8_t *p = buf;
	size_t blocks = len / block, j;

	sum_blocks(p, blocks, a, b);
	if (len % block) {
		uint8_t tail[LANES * sizeof(uint64_t)] = { 0 };

		memcpy(tail, p + blocks * block, len % block);
		sum_blocks(tail, 1, a, b);
	}
	h = mig_mix64(len);
	for (j = 0; j < LANES; j++)
		h = mig_mix64(h ^ a[j]) + mig_mix64(b[j] + j);
	return h;
}

uint64_t mig_digest_part(const uint8_t *base, uint64_t off, uint64_t len)
{
	uint64_t d = 0, end = off + len, n;

	for (; off < end; off += n) {
		n = end - off < MIG_DIGEST_CHUNK ? end - off : MIG_DIGEST_CHUNK;
		d += mig_mix64(mig_sum64(base + off, n) ^ (off / MIG_DIGEST_CHUNK + 1));
	}
	return d;
}

uint64_t mig_digest(const uint8_t *base, uint64_t len)
{
	return mig_digest_part(base, 0, len);
}
