/* SPDX-License-Identifier: Apache-2.0 */
/* Unix sockets to and from QEMU, in --socket-dir. */
#ifndef MIGNET_TOOLS_VM_UNIX_H
#define MIGNET_TOOLS_VM_UNIX_H

#include "mig.h"

/** vm_unix_listen() - a listening unix socket at @path. Return: the fd or -errno. */
int vm_unix_listen(const char *path, struct mig_error *err);

/** vm_unix_connect() - a connection to the unix socket @path. Return: the fd or -errno. */
int vm_unix_connect(const char *path, struct mig_error *err);

#endif
