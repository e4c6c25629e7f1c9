/* SPDX-License-Identifier: Apache-2.0 */
/* Open-file-description locks with a bounded wait. */
#ifndef MIGNET_IPAM_LOCK_H
#define MIGNET_IPAM_LOCK_H

#include <stdint.h>

/**
 * ipam_lock_wait() - take an exclusive OFD lock on all of @fd, waiting at most @timeout_ms
 * The wait is F_OFD_SETLKW (the kernel queues waiters, and the lock also holds on NFS and
 * CephFS), interrupted by a per-thread timer so that it is bounded. The lock belongs to the
 * open file description: it is released when the last descriptor to it is closed, or when
 * the process dies, however it dies.
 * Return: 0, -ETIMEDOUT, or another negative errno.
 */
int ipam_lock_wait(int fd, int64_t timeout_ms);

/** ipam_unlock() - release the lock taken by ipam_lock_wait(). Return: 0 or -errno. */
int ipam_unlock(int fd);

#endif
