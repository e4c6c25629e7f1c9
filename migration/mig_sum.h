/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Checksums of the data path.
 *
 * mig_sum64() is the checksum of one frame's payload: eight interleaved 64-bit Fletcher lanes
 * (a += word, b += a) folded by a mixer. It catches reordered, dropped, duplicated or flipped
 * words, runs near memory speed (the compiler vectorises the lanes) and is not cryptographic:
 * it guards against bugs and bad frames, not against an attacker, whom the token keeps out.
 *
 * mig_digest() is the digest of a whole region, the one both sides compare at the end: the
 * wrapping sum of mixed per-MiB checksums, so any split of the work gives the same value.
 */
#ifndef MIGNET_MIGRATION_MIG_SUM_H
#define MIGNET_MIGRATION_MIG_SUM_H

#include <stddef.h>
#include <stdint.h>

#define MIG_DIGEST_CHUNK (1u << 20)

/** mig_sum64() - checksum of @len bytes at @buf (any length, any alignment). */
uint64_t mig_sum64(const void *buf, size_t len);

/** mig_mix64() - the splitmix64 finaliser: a bijective 64-bit mixer. */
uint64_t mig_mix64(uint64_t x);

/**
 * mig_digest_part() - the digest contribution of [@off, @off + @len) of a region at @base
 * @off must be a multiple of MIG_DIGEST_CHUNK; parts add up (wrapping) to mig_digest().
 */
uint64_t mig_digest_part(const uint8_t *base, uint64_t off, uint64_t len);

/** mig_digest() - digest of a whole region of @len bytes. */
uint64_t mig_digest(const uint8_t *base, uint64_t len);

#endif
