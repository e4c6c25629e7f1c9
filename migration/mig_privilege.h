/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Least privilege for mignet, per subcommand. What each needs was measured on Linux 6.18 by
 * running it with a reduced bounding set (docs/reliability.md, "Least privilege"):
 *
 *   send     CAP_IPC_LOCK while zero-copy may be used: the kernel charges the pages pinned by
 *            MSG_ZEROCOPY sends to RLIMIT_MEMLOCK unless the sender has CAP_IPC_LOCK; without
 *            it a 2-stream send of 512 MiB met ENOBUFS 387 times (RLIMIT_MEMLOCK 8 MiB).
 *            userfaultfd (UFFD_USER_MODE_ONLY), PAGEMAP_SCAN on its own memory, SO_BINDTODEVICE
 *            on an unbound socket (Linux >= 5.7), TCP and etcd over HTTP need none.
 *   receive  CAP_NET_BIND_SERVICE until it listens, only for a port below 1024 (with
 *            CAP_SETPCAP, to take it out of the bounding set then too); none after.
 *   doctor   CAP_NET_RAW for the raw ICMP socket when ping sockets are off (a new network
 *            namespace turns them off); CAP_SYS_ADMIN (+ CAP_SYS_PTRACE for a /proc path)
 *            only with --master-netns, to open and enter that namespace.
 *   ipam     none: the store is root's own files (or etcd over HTTP).
 *   migrate, incoming  CAP_DAC_OVERRIDE only: QEMU's QMP and migration sockets belong to
 *            QEMU's user (qemu, uid 107, under KubeVirt); incoming also CAP_NET_BIND_SERVICE
 *            until it listens, for a port below 1024. SO_BINDTODEVICE, TCP, splice and the
 *            node-local slot files need none.
 *
 * Everything else leaves every set, the bounding set included, after the options are parsed
 * and the token file is read and before any peer or network input is handled. A drop that
 * fails is said on stderr (as "@who: warning: ...") and the command goes on: it then holds
 * more than it needs, never less.
 */
#ifndef MIGNET_MIG_PRIVILEGE_H
#define MIGNET_MIG_PRIVILEGE_H

#include <stdbool.h>
#include <stdint.h>

/**
 * mig_privilege_send() - keep only what `mignet send` needs
 * @zerocopy: zero-copy may be used (--zerocopy auto or always).
 *
 * Warns on stderr when zero-copy is asked for and CAP_IPC_LOCK is not there (the send still
 * works, with ENOBUFS retries, counted in the report's zerocopy.enobufs).
 */
void mig_privilege_send(bool zerocopy);

/** mig_privilege_receive() - keep only what @who (a receiver, a sink) needs to listen on @port. */
void mig_privilege_receive(const char *who, uint16_t port);

/** mig_privilege_vm() - keep only what migrate / incoming (@port, 0 for migrate) need. */
void mig_privilege_vm(const char *who, uint16_t port);

/** mig_privilege_vm_listening() - incoming once it listens: CAP_DAC_OVERRIDE only. */
void mig_privilege_vm_listening(const char *who);

/** mig_privilege_doctor() - keep only what `mignet doctor` needs (@master_netns: its path). */
void mig_privilege_doctor(const char *master_netns);

/** mig_privilege_none() - drop every capability (`mignet ipam`, a receiver that listens). */
void mig_privilege_none(const char *who);

#endif
