/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MSG_ZEROCOPY on one TCP socket (Documentation/networking/msg_zerocopy.rst).
 *
 * Theory of operation. With SO_ZEROCOPY set, each send(MSG_ZEROCOPY) that the kernel accepts
 * pins the user pages instead of copying them and takes the next 32-bit notification id.
 * When the stack is done with the pages it queues a notification on the socket's error
 * queue: a sock_extended_err whose [ee_info, ee_data] is an inclusive range of ids (the
 * kernel coalesces consecutive ones, and ranges may come out of order), with ee_code
 * SO_EE_CODE_ZEROCOPY_COPIED when it had to copy after all (loopback, veth, macvlan bridge:
 * any local delivery). We count ids, not order: "sends == completions" is the flush barrier.
 *
 * ENOBUFS means the socket's optmem (or the memlock limit) is exhausted by notifications not
 * yet reaped: we reap (waiting if need be) and retry. Mode auto starts zero-copy and turns to
 * plain sends at the first COPIED notification, since a copy that the kernel makes anyway
 * costs more through the zero-copy path than through a plain send.
 */
#ifndef MIGNET_MIGRATION_MIG_ZEROCOPY_H
#define MIGNET_MIGRATION_MIG_ZEROCOPY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mig.h"

struct mig_zc {
	int fd;
	enum mig_zc_mode mode;
	bool active; /* the next sends use MSG_ZEROCOPY */
	struct mig_zc_stats st;
};

/**
 * mig_zc_init() - set up @zc for the connected TCP socket @fd
 * Return: 0; -errno when @mode is always and SO_ZEROCOPY is refused (auto then copies).
 */
int mig_zc_init(struct mig_zc *zc, int fd, enum mig_zc_mode mode);

/**
 * mig_zc_send() - send all of @buf, zero-copy while @zc is active
 * The pages of @buf must stay untouched until a flush when the send was zero-copy; a
 * concurrent writer (the guest) only makes the receiver see a newer page, which the dirty
 * tracking sends again. Return: 0 or -errno.
 */
int mig_zc_send(struct mig_zc *zc, const void *buf, size_t len, int flags);

/**
 * mig_zc_reap() - take the notifications waiting on the error queue
 * @timeout_ms: 0 = do not wait, < 0 = wait forever, else wait that long for the first one.
 * Return: the number of ids completed, 0 if none, or -errno (a socket error).
 */
int mig_zc_reap(struct mig_zc *zc, int timeout_ms);

/**
 * mig_zc_flush() - wait until every zero-copy send so far is complete
 * Return: 0, -ETIMEDOUT when a wait of @timeout_ms brings nothing, or -errno.
 */
int mig_zc_flush(struct mig_zc *zc, int timeout_ms);

/** mig_zc_outstanding() - ids sent and not yet completed. */
static inline uint64_t mig_zc_outstanding(const struct mig_zc *zc)
{
	return zc->st.sends - zc->st.completions;
}

/** mig_zc_range_count() - how many ids the inclusive range [@lo, @hi] covers (wraps at 2^32). */
static inline uint64_t mig_zc_range_count(uint32_t lo, uint32_t hi)
{
	return (uint64_t)(uint32_t)(hi - lo) + 1;
}

#endif
