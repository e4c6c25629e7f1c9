/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one monotonic clock every layer measures timeouts and deadlines with. Header-only and
 * free of any other module, so that netlink/, etcd/, ipam/ and migration/ may all use it.
 */
#ifndef MIGNET_UTIL_CLOCK_H
#define MIGNET_UTIL_CLOCK_H

#include <stdint.h>
#include <time.h>

/** util_now_ms() - CLOCK_MONOTONIC in milliseconds. */
static inline int64_t util_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#endif
