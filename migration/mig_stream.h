/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sockets of the data path: the migration address of an interface, the route check, and
 * blocking full reads and writes that turn a peer's close into an error a human can read.
 */
#ifndef MIGNET_MIGRATION_MIG_STREAM_H
#define MIGNET_MIGRATION_MIG_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "mig.h"

/**
 * mig_is_global_unicast() - like Go's net.IP.IsGlobalUnicast(), which KubeVirt's
 * FindMigrationIP uses: not unspecified, loopback, multicast, link-local or broadcast.
 */
bool mig_is_global_unicast(const struct sockaddr *sa);

/**
 * mig_iface_address() - the first global-unicast address of @ifname (IPv4 or IPv6)
 * Return: 0, -ENODEV when there is no such interface, -EADDRNOTAVAIL when it has no
 * global-unicast address, or -errno; @err says which.
 */
int mig_iface_address(const char *ifname, uint16_t port, struct mig_addr *ret,
		      struct mig_error *err);

/**
 * mig_route_check() - refuse a target the kernel would not reach through @ifname
 * Return: 0 when the route to @target leaves through @ifname; -ENETUNREACH (with @err naming
 * the interface it would use) otherwise, or -errno.
 */
int mig_route_check(const struct mig_addr *target, const char *ifname, struct mig_error *err);

/**
 * mig_read_full() - read exactly @len bytes
 * Return: @len; 0 on an orderly close before the first byte; -EPIPE on a close in the
 * middle (a truncated frame); -ETIMEDOUT when SO_RCVTIMEO expired; or -errno.
 */
ssize_t mig_read_full(int fd, void *buf, size_t len);

/**
 * mig_write_pair() - write all of @alen bytes at @a, then all of @blen at @b (none when 0),
 * with one sendmsg(@flags) loop: a frame header and its payload in one go.
 * Return: 0, -ETIMEDOUT when SO_SNDTIMEO expired, or -errno.
 */
int mig_write_pair(int fd, const void *a, size_t alen, const void *b, size_t blen, int flags);

/** mig_write_full() - write all of @len bytes with send(@flags). Return: 0 or -errno. */
int mig_write_full(int fd, const void *buf, size_t len, int flags);

/** mig_set_timeouts() - SO_RCVTIMEO/SO_SNDTIMEO and TCP_USER_TIMEOUT of @seconds (0 = none). */
int mig_set_timeouts(int fd, unsigned int seconds);

#endif
