/* SPDX-License-Identifier: Apache-2.0 */
/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), just enough to prove knowledge of the
 * migration token without sending it: the receiver sends a random challenge, the sender
 * answers HMAC(token, context || challenge || hello). Self-contained so that the data path
 * needs no crypto library; checked against the FIPS and RFC 4231 vectors in the unit tests.
 */
#ifndef MIGNET_MIGRATION_MIG_HMAC_H
#define MIGNET_MIGRATION_MIG_HMAC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_SHA256_LEN 32

struct mig_sha256 {
	uint32_t h[8];
	uint64_t len;
	uint8_t buf[64];
	size_t used;
};

void mig_sha256_init(struct mig_sha256 *s);
void mig_sha256_update(struct mig_sha256 *s, const void *data, size_t len);
void mig_sha256_final(struct mig_sha256 *s, uint8_t out[MIG_SHA256_LEN]);

/** mig_hmac_sha256() - HMAC-SHA256 of the concatenation of @n parts. */
void mig_hmac_sha256(const void *key, size_t key_len, const void *const *parts, const size_t *lens,
		     size_t n, uint8_t out[MIG_SHA256_LEN]);

/** mig_memeq() - constant-time comparison of @len bytes. */
bool mig_memeq(const void *a, const void *b, size_t len);

#endif
