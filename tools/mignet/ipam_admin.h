/* SPDX-License-Identifier: Apache-2.0 */
/*
 * `mignet ipam`: the administration commands of the whereabouts file store (list pools, show
 * allocations, release one, reconcile against live network namespaces).
 */
#ifndef MIGNET_TOOLS_IPAM_ADMIN_H
#define MIGNET_TOOLS_IPAM_ADMIN_H

#include <stddef.h>
#include <stdio.h>

#include "ipam/store.h"

/**
 * ipam_admin_main() - run `mignet ipam ...`
 * @argc, @argv: argv[0] is "ipam", argv[1] the subcommand (list, show, release, gc)
 * @out: tables and JSON; @err: errors and notes
 * Return: the exit status: 0 done, 1 failed (store error, nothing to release), 2 usage.
 */
int ipam_admin_main(int argc, char **argv, FILE *out, FILE *err);

#endif
