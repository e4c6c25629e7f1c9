/* SPDX-License-Identifier: Apache-2.0 */
/*
 * parallelOutboundMigrationsPerNode: a node-local limit on concurrent senders.
 *
 * The slots are files <dir>/outbound-<i>.lock, i < limit, each held with an
 * open-file-description write lock (F_OFD_SETLK) for the sender's lifetime; the kernel drops
 * it when the process ends, however it ends, so a crashed sender never leaks its slot.
 */
#ifndef MIGNET_MIGRATION_MIG_LIMIT_H
#define MIGNET_MIGRATION_MIG_LIMIT_H

/**
 * mig_limit_try() - take a free slot, without waiting
 * Return: the fd holding the slot (close it to release), -EBUSY when all @limit slots are
 * taken, or -errno (directory or file errors).
 */
int mig_limit_try(const char *dir, unsigned int limit);

#endif
