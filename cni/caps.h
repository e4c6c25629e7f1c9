/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Least privilege for the plugins (libcap). A runtime runs every plugin as root with the full
 * capability set; a plugin needs two or three of them. Each program:
 *   1. drops, first thing in main(), every capability it will never need from its
 *      effective, permitted and inheritable sets and from the bounding set (so that neither it
 *      nor a program it executes, such as a delegated IPAM plugin, can regain them);
 *   2. checks, per verb, that what that verb needs is in the effective set, and otherwise
 *      fails with a CNI error that names the missing capability and what it is for, instead of
 *      an obscure EPERM half-way through.
 *
 * The error code is 5 (CNI_ERR_IO): the spec has no code for "insufficient privilege"; 4 and 7
 * would blame the caller's variables or config, which are fine; 11 (try again later) would make
 * a runtime retry what cannot succeed; and a plugin-range code (>= 100) would need reserving
 * in every plugin for a condition the message already names. The kernel answers the same
 * condition with EPERM on I/O, which code 5 reports.
 */
#ifndef MIGNET_CNI_CAPS_H
#define MIGNET_CNI_CAPS_H

#include <stddef.h>
#include <sys/capability.h>

#include "cni/error.h"

/* A capability a program needs, and why: "to enter the container's network namespace". */
struct cni_cap {
	cap_value_t cap;
	const char *why;
};

/**
 * cni_caps_check() - are all of @need in the calling thread's effective set?
 * @what: who needs them, for the message ("macvlan ADD").
 * @need: the capabilities, @n of them.
 * @err: filled when one is missing.
 *
 * The message names every missing capability with its reason, e.g. "macvlan ADD needs
 * CAP_NET_ADMIN (to create links) and CAP_SYS_ADMIN (to enter the container's network
 * namespace): missing CAP_SYS_ADMIN"; the details hold the effective set as cap_to_text()
 * prints it.
 * Return: 0, or -1 with err set (code 5).
 */
int cni_caps_check(const char *what, const struct cni_cap *need, size_t n, struct cni_error *err);

/**
 * cni_caps_drop() - keep only @keep (those of them the process has) and drop everything else
 * @keep: the capabilities to keep, @n of them.
 *
 * The bounding set loses every other capability when the process may change it
 * (CAP_SETPCAP); then the effective, permitted and inheritable sets are cut down to @keep,
 * which also clears any other ambient capability. A capability of @keep that the process does
 * not have is not an error: cni_caps_check() reports it when a verb needs it.
 * Return: 0, or -errno (the process's sets are then unchanged or only smaller).
 */
int cni_caps_drop(const struct cni_cap *keep, size_t n);

/**
 * cni_caps_name() - "CAP_NET_ADMIN" for CAP_NET_ADMIN, into @buf of @size bytes.
 * Return: @buf.
 */
const char *cni_caps_name(cap_value_t cap, char *buf, size_t size);

#endif
