/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Page ranges and the work list of a round.
 *
 * A round is a sorted list of page ranges (what PAGEMAP_SCAN returns, or the whole region for
 * round 1). mig_ranges_batches() cuts it into frames of at most max_pages pages, never across
 * a gap; the stream threads then take batches from the list with one atomic cursor, like
 * multifd channels picking up the next packet.
 */
#ifndef MIGNET_MIGRATION_MIG_RANGES_H
#define MIGNET_MIGRATION_MIG_RANGES_H

#include <stddef.h>
#include <stdint.h>

struct mig_range {
	uint64_t start; /* first page */
	uint64_t end;	/* one past the last page */
};

struct mig_ranges {
	struct mig_range *v;
	size_t n, cap;
	uint64_t pages; /* sum of the lengths */
};

/**
 * mig_ranges_add() - append [@start, @end), merging with the last range when they touch
 * Ranges must come in increasing order. Return: 0, -EINVAL (empty or out of order), -ENOMEM.
 */
int mig_ranges_add(struct mig_ranges *r, uint64_t start, uint64_t end);

/**
 * mig_ranges_union() - the sorted, merged union of @a and @b into @out (cleared first)
 * Return: 0 or -ENOMEM.
 */
int mig_ranges_union(const struct mig_ranges *a, const struct mig_ranges *b,
		     struct mig_ranges *out);

/** mig_ranges_clear() - empty the list, keep the memory. */
void mig_ranges_clear(struct mig_ranges *r);

/** mig_ranges_free() - release the memory; accepts a zeroed struct. */
void mig_ranges_free(struct mig_ranges *r);

/**
 * mig_ranges_batches() - cut @r into batches of at most @max_pages pages each
 * @out: receives them as ranges (cleared first).
 * Return: the number of batches, or -ENOMEM / -EINVAL (max_pages 0).
 */
int mig_ranges_batches(const struct mig_ranges *r, uint64_t max_pages, struct mig_ranges *out);

#endif
