/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Dirty-page tracking of the source region: userfaultfd write-protect in asynchronous mode
 * plus the PAGEMAP_SCAN ioctl (Linux >= 6.7).
 *
 * Theory of operation. The region is registered with a userfaultfd in WP mode with
 * UFFD_FEATURE_WP_ASYNC, then write-protected as a whole. A write to a protected page no
 * longer traps to a handler: the kernel lifts the protection itself and the page becomes
 * "written" (PAGE_IS_WRITTEN). mig_dirty_collect() asks PAGEMAP_SCAN for the written pages
 * and, in the same walk (PM_SCAN_WP_MATCHING), protects them again, so each page written
 * after the scan shows up in the next one, even while it is being sent.
 */
#ifndef MIGNET_MIGRATION_MIG_DIRTY_H
#define MIGNET_MIGRATION_MIG_DIRTY_H

#include <stddef.h>
#include <stdint.h>

#include "mig.h"
#include "mig_ranges.h"

struct mig_dirty {
	int uffd;
	int pagemap;
	uint8_t *base;
	uint64_t len;
	size_t page_size;
	void *vec; /* struct page_region[vec_len] */
	size_t vec_len;
};

/**
 * mig_dirty_start() - begin tracking writes to [@base, @base + @len) (page-aligned)
 * Everything counts as clean from here on. Return: 0; -EOPNOTSUPP when the kernel lacks
 * WP_ASYNC or PAGEMAP_SCAN (@err says so); or -errno.
 */
int mig_dirty_start(struct mig_dirty *d, void *base, uint64_t len, struct mig_error *err);

/**
 * mig_dirty_collect() - the pages written since the last collect (or start), as page
 * indexes relative to base, appended to @out; they are write-protected again.
 * Return: 0 or -errno.
 */
int mig_dirty_collect(struct mig_dirty *d, struct mig_ranges *out);

/** mig_dirty_stop() - stop tracking; accepts a zeroed or stopped struct (fds -1 or 0). */
void mig_dirty_stop(struct mig_dirty *d);

#endif
