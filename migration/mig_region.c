// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "mig_region.h"
#include "mig_sum.h"

#define TICK_NS 1000000L /* the workload writes in 1 ms slices */

int mig_region_alloc(struct mig_region *r, uint64_t len, bool huge)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	void *p;

	if (!len || len % page)
		return -EINVAL;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		 0);
	if (p == MAP_FAILED)
		return -errno;
	madvise(p, len, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
	r->base = p;
	r->len = len;
	r->page_size = page;
	return 0;
}

int mig_region_populate(struct mig_region *r)
{
#ifdef MADV_POPULATE_WRITE
	if (madvise(r->base, r->len, MADV_POPULATE_WRITE) == 0)
		return 0;
#endif
	for (uint64_t off = 0; off < r->len; off += r->page_size)
		((volatile uint8_t *)r->base)[off] = 0;
	return 0;
}

void mig_region_fill(struct mig_region *r, uint64_t seed)
{
	uint64_t *w = (uint64_t *)r->base, n = r->len / sizeof(uint64_t), i;

	for (i = 0; i < n; i++)
		w[i] = mig_mix64(seed + i);
}

void mig_region_free(struct mig_region *r)
{
	if (r->base)
		munmap(r->base, r->len);
	r->base = NULL;
	r->len = 0;
}

static uint64_t xorshift(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

static void *workload_main(void *arg)
{
	struct mig_workload *w = arg;
	uint64_t pages = w->region->len / w->region->page_size;
	double per_tick = (double)w->rate / (double)w->region->page_size * TICK_NS / 1e9;
	double owed = 0;
	struct timespec next;

	clock_gettime(CLOCK_MONOTONIC, &next);
	for (;;) {
		int st = atomic_load(&w->state);

		if (st == MIG_WL_STOP)
			break;
		if (st == MIG_WL_PAUSE || st == MIG_WL_PAUSED) {
			atomic_store(&w->state, MIG_WL_PAUSED);
			while (atomic_load(&w->state) == MIG_WL_PAUSED)
				usleep(1000);
			clock_gettime(CLOCK_MONOTONIC, &next);
			continue;
		}
		for (owed += per_tick; owed >= 1; owed -= 1) {
			uint64_t x = xorshift(&w->rng);
			uint64_t page = x % pages;
			size_t word = (size_t)(x >> 40) % (w->region->page_size / 8);

			((_Atomic uint64_t *)(w->region->base +
					      page * w->region->page_size))[word] =
				atomic_fetch_add(&w->writes, 1) + 1;
		}
		next.tv_nsec += TICK_NS;
		if (next.tv_nsec >= 1000000000L) {
			next.tv_nsec -= 1000000000L;
			next.tv_sec++;
		}
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
	}
	return NULL;
}

int mig_workload_start(struct mig_workload *w, struct mig_region *r, uint64_t rate, uint64_t seed)
{
	int err;

	memset(w, 0, sizeof(*w));
	w->region = r;
	w->rate = rate;
	w->rng = seed | 1;
	atomic_store(&w->state, MIG_WL_RUN);
	err = pthread_create(&w->thread, NULL, workload_main, w);
	if (err)
		return -err;
	w->started = true;
	return 0;
}

void mig_workload_pause(struct mig_workload *w)
{
	int expect = MIG_WL_RUN;

	if (!w->started)
		return;
	atomic_compare_exchange_strong(&w->state, &expect, MIG_WL_PAUSE);
	while (atomic_load(&w->state) == MIG_WL_PAUSE)
		usleep(100);
}

void mig_workload_stop(struct mig_workload *w)
{
	if (!w->started)
		return;
	atomic_store(&w->state, MIG_WL_STOP);
	pthread_join(w->thread, NULL);
	w->started = false;
}
