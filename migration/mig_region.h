/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The memory being migrated, and the workload that keeps writing to it on the source.
 *
 * A region is an anonymous private mapping, page-aligned, populated up front (the guest's
 * RAM is there before a migration starts). The source fills it with a reproducible
 * pattern; the workload thread, started for live migration, writes counters into random
 * pages at a set rate, as a running guest does, and can be paused for the last round.
 */
#ifndef MIGNET_MIGRATION_MIG_REGION_H
#define MIGNET_MIGRATION_MIG_REGION_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mig_region {
	uint8_t *base;
	uint64_t len;
	size_t page_size;
};

/**
 * mig_region_alloc() - map @len bytes (a multiple of the page size)
 * @huge: ask for transparent huge pages (the receiver, fewer faults); otherwise ask for none,
 * since write-protect tracking of a huge page dirties all its 512 pages at once.
 * Return: 0 or -errno.
 */
int mig_region_alloc(struct mig_region *r, uint64_t len, bool huge);

/** mig_region_populate() - fault every page in now, so page faults stay out of the timing. */
int mig_region_populate(struct mig_region *r);

/** mig_region_fill() - the reproducible pattern of @seed (word i = mix64(seed + i)). */
void mig_region_fill(struct mig_region *r, uint64_t seed);

/** mig_region_free() - unmap; accepts a zeroed struct. */
void mig_region_free(struct mig_region *r);

enum mig_workload_state {
	MIG_WL_RUN,
	MIG_WL_PAUSE,  /* requested */
	MIG_WL_PAUSED, /* acknowledged: no write is in progress or will start */
	MIG_WL_STOP,
};

struct mig_workload {
	pthread_t thread;
	bool started;
	struct mig_region *region;
	uint64_t rate; /* bytes of pages dirtied per second */
	uint64_t rng;
	_Atomic int state;
	_Atomic uint64_t writes;
};

/** mig_workload_start() - start dirtying @rate bytes of pages per second. Return: 0 or -errno. */
int mig_workload_start(struct mig_workload *w, struct mig_region *r, uint64_t rate, uint64_t seed);

/** mig_workload_pause() - stop writing and return once the thread acknowledged. */
void mig_workload_pause(struct mig_workload *w);

/** mig_workload_stop() - end and join the thread; accepts a never-started workload. */
void mig_workload_stop(struct mig_workload *w);

#endif
