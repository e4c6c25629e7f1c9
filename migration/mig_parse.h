/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Parsers of the command line's and the config file's values: sizes, rates, durations,
 * CIDR allowlists and ADDR[:PORT] targets. Pure functions, unit-tested.
 */
#ifndef MIGNET_MIGRATION_MIG_PARSE_H
#define MIGNET_MIGRATION_MIG_PARSE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mig.h"

/**
 * mig_parse_size() - "4096", "64K", "64M", "1G", "2Ti", "512MiB", "1.5G", "10MB"
 * K, M, G, T with or without "i"/"iB" are binary (1024^n); kB, MB, GB, TB are decimal.
 * Return: 0 and *@ret in bytes, or -EINVAL (syntax) / -ERANGE (overflow).
 */
int mig_parse_size(const char *text, uint64_t *ret);

/**
 * mig_parse_rate() - a size per second: "64M", "64MiB/s", "100MB/s", "0"
 * @default_unit: multiplier for a bare number (1 for bytes, 1 << 20 for MiB/s).
 * Return: 0 and *@ret in bytes per second, or -EINVAL / -ERANGE.
 */
int mig_parse_rate(const char *text, uint64_t default_unit, uint64_t *ret);

/** mig_parse_uint() - a decimal unsigned int in [@min, @max]. Return: 0, -EINVAL or -ERANGE. */
int mig_parse_uint(const char *text, unsigned long min, unsigned long max, unsigned long *ret);

struct mig_cidr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16];
	unsigned int prefix;
};

/** mig_cidr_parse() - "10.0.0.0/24", "fd00::/64", or a bare address. Return: 0 or -EINVAL. */
int mig_cidr_parse(const char *text, struct mig_cidr *ret);

/** mig_cidr_match() - whether @sa (IPv4, IPv6 or v4-mapped IPv6) lies in @cidr. */
bool mig_cidr_match(const struct mig_cidr *cidr, const struct sockaddr *sa);

/**
 * mig_parse_target() - "ADDR", "ADDR:PORT", "[V6ADDR]:PORT" or "V6ADDR" into a socket address
 * Return: 0, or -EINVAL when it is not a numeric address (names are not resolved on purpose:
 * the migration network has no DNS of its own).
 */
int mig_parse_target(const char *text, uint16_t default_port, struct mig_addr *ret);

/** mig_addr_format() - "ADDR" (no port) into @buf. Return: @buf. */
const char *mig_addr_format(const struct mig_addr *addr, char *buf, size_t size);

/** mig_addr_port() - the port of @addr in host order. */
uint16_t mig_addr_port(const struct mig_addr *addr);

/** mig_format_bytes() - "1.50 GiB" style. Return: @buf. */
const char *mig_format_bytes(double bytes, char *buf, size_t size);

#endif
