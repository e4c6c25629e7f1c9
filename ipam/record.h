/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The record codec both stores share: an allocation record is one line of JSON
 * {"ip", "id", "podref", "ifname", "netns", "cni_network", "node"} filed under its address;
 * the search hint is the text "ADDR DIGEST"; names built from user strings (a podref, a
 * network name) are percent-encoded to one safe path component or key segment.
 */
#ifndef MIGNET_IPAM_RECORD_H
#define MIGNET_IPAM_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ipam/store.h"

/**
 * ipam_pct_encode() - @s with every byte but [A-Za-z0-9._-] written as %XX, cut to fit @size
 * (whole escapes only) and NUL-terminated.
 */
void ipam_pct_encode(const char *s, char *out, size_t size);

/**
 * ipam_record_text() - the record of @a, newline-terminated, into @out
 * Return: its length, -E2BIG when it does not fit @size, -ENOMEM.
 */
int ipam_record_text(const struct ipam_alloc *a, char *out, size_t size);

/**
 * ipam_record_parse() - read a record into *@ret
 * @addr: when not NULL, the address it must be filed under
 * Return: true with *@ret filled when @text is a well-formed record; false leaves *@ret alone.
 */
bool ipam_record_parse(const char *text, const char *addr, struct ipam_alloc *ret);

/**
 * ipam_record_is() - does @a belong to (@key, @ifname), @key its podref or its container ID
 * as @by says? (What an index names must be checked against the record it leads to.)
 */
bool ipam_record_is(const struct ipam_alloc *a, enum ipam_index by, const char *key,
		    const char *ifname);

/**
 * ipam_hint_text() - the hint "ADDR DIGEST" (digest in 16 hex digits) into @out
 * Return: @out.
 */
char *ipam_hint_text(int family, struct ipam_u128 ip, uint64_t digest, char *out, size_t size);

/** ipam_hint_parse() - read a hint "ADDR DIGEST". Return: true when well-formed. */
bool ipam_hint_parse(const char *text, int *ret_family, struct ipam_u128 *ret_ip,
		     uint64_t *ret_digest);

#endif
