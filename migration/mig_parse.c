// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mig_parse.h"

struct unit {
	const char *suffix;
	double mult;
};

static const struct unit size_units[] = {
	{ "", 1 },
	{ "B", 1 },
	{ "K", 1024.0 },
	{ "Ki", 1024.0 },
	{ "KiB", 1024.0 },
	{ "k", 1024.0 },
	{ "M", 1048576.0 },
	{ "Mi", 1048576.0 },
	{ "MiB", 1048576.0 },
	{ "G", 1073741824.0 },
	{ "Gi", 1073741824.0 },
	{ "GiB", 1073741824.0 },
	{ "T", 1099511627776.0 },
	{ "Ti", 1099511627776.0 },
	{ "TiB", 1099511627776.0 },
	{ "kB", 1e3 },
	{ "KB", 1e3 },
	{ "MB", 1e6 },
	{ "GB", 1e9 },
	{ "TB", 1e12 },
};

/* Parses a non-negative number and a unit from size_units; @bare is the multiplier of "". */
static int parse_scaled(const char *text, size_t len, double bare, uint64_t *ret)
{
	char buf[64], *end;
	double v;
	size_t i;

	if (len == 0 || len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, text, len);
	buf[len] = '\0';
	if (!isdigit((unsigned char)buf[0]))
		return -EINVAL;
	errno = 0;
	v = strtod(buf, &end);
	if (errno || !isfinite(v) || v < 0)
		return -EINVAL;
	for (i = 0; i < sizeof(size_units) / sizeof(size_units[0]); i++) {
		if (strcmp(end, size_units[i].suffix) != 0)
			continue;
		v *= *end ? size_units[i].mult : bare;
		if (v >= 18446744073709551615.0)
			return -ERANGE;
		*ret = (uint64_t)v;
		return 0;
	}
	return -EINVAL;
}

int mig_parse_size(const char *text, uint64_t *ret)
{
	if (!text)
		return -EINVAL;
	return parse_scaled(text, strlen(text), 1, ret);
}

int mig_parse_rate(const char *text, uint64_t default_unit, uint64_t *ret)
{
	size_t len;

	if (!text)
		return -EINVAL;
	len = strlen(text);
	if (len > 2 && strcmp(text + len - 2, "/s") == 0)
		len -= 2;
	return parse_scaled(text, len, (double)default_unit, ret);
}

int mig_parse_uint(const char *text, unsigned long min, unsigned long max, unsigned long *ret)
{
	unsigned long v;
	char *end;

	if (!text || !isdigit((unsigned char)text[0]))
		return -EINVAL;
	errno = 0;
	v = strtoul(text, &end, 10);
	if (errno || *end)
		return -EINVAL;
	if (v < min || v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int mig_cidr_parse(const char *text, struct mig_cidr *ret)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash;
	struct mig_cidr c = { 0 };
	unsigned long prefix;
	unsigned int max;

	if (!text || strlen(text) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, text);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = '\0';
	if (inet_pton(AF_INET, buf, c.addr) == 1) {
		c.family = AF_INET;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, c.addr) == 1) {
		c.family = AF_INET6;
		max = 128;
	} else {
		return -EINVAL;
	}
	if (slash) {
		if (mig_parse_uint(slash, 0, max, &prefix) < 0)
			return -EINVAL;
	} else {
		prefix = max;
	}
	c.prefix = (unsigned int)prefix;
	*ret = c;
	return 0;
}

static bool prefix_equal(const uint8_t *a, const uint8_t *b, unsigned int bits)
{
	unsigned int full = bits / 8, rest = bits % 8;
	uint8_t mask;

	if (memcmp(a, b, full) != 0)
		return false;
	if (!rest)
		return true;
	mask = (uint8_t)(0xff << (8 - rest));
	return (a[full] & mask) == (b[full] & mask);
}

bool mig_cidr_match(const struct mig_cidr *cidr, const struct sockaddr *sa)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	const uint8_t *addr;
	int family;

	if (sa->sa_family == AF_INET) {
		family = AF_INET;
		addr = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		addr = ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
		family = AF_INET6;
		if (cidr->family == AF_INET && memcmp(addr, v4mapped, 12) == 0) {
			addr += 12;
			family = AF_INET;
		}
	} else {
		return false;
	}
	return family == cidr->family && prefix_equal(addr, cidr->addr, cidr->prefix);
}

static int fill_addr(const char *host, uint16_t port, struct mig_addr *ret)
{
	struct mig_addr a = { 0 };
	struct sockaddr_in *in4 = (struct sockaddr_in *)&a.ss;
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a.ss;

	if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
		in4->sin_family = AF_INET;
		in4->sin_port = htons(port);
		a.len = sizeof(*in4);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		a.len = sizeof(*in6);
	} else {
		return -EINVAL;
	}
	*ret = a;
	return 0;
}

int mig_parse_target(const char *text, uint16_t default_port, struct mig_addr *ret)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port_text = NULL;
	unsigned long port = default_port;
	size_t hlen;

	if (!text || !*text)
		return -EINVAL;
	if (text[0] == '[') {
		const char *close = strchr(text, ']');

		if (!close)
			return -EINVAL;
		hlen = (size_t)(close - text - 1);
		if (close[1] == ':')
			port_text = close + 2;
		else if (close[1])
			return -EINVAL;
		text++;
	} else {
		colon = strchr(text, ':');
		if (colon && !strchr(colon + 1, ':')) {
			hlen = (size_t)(colon - text);
			port_text = colon + 1;
		} else {
			hlen = strlen(text);
		}
	}
	if (hlen == 0 || hlen >= sizeof(host))
		return -EINVAL;
	memcpy(host, text, hlen);
	host[hlen] = '\0';
	if (port_text && mig_parse_uint(port_text, 1, 65535, &port) < 0)
		return -EINVAL;
	return fill_addr(host, (uint16_t)port, ret);
}

const char *mig_addr_format(const struct mig_addr *addr, char *buf, size_t size)
{
	const void *src;

	if (addr->ss.ss_family == AF_INET)
		src = &((const struct sockaddr_in *)&addr->ss)->sin_addr;
	else
		src = &((const struct sockaddr_in6 *)&addr->ss)->sin6_addr;
	if (!inet_ntop(addr->ss.ss_family, src, buf, (socklen_t)size))
		snprintf(buf, size, "?");
	return buf;
}

uint16_t mig_addr_port(const struct mig_addr *addr)
{
	if (addr->ss.ss_family == AF_INET)
		return ntohs(((const struct sockaddr_in *)&addr->ss)->sin_port);
	return ntohs(((const struct sockaddr_in6 *)&addr->ss)->sin6_port);
}

const char *mig_format_bytes(double bytes, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;

	while (bytes >= 1024 && u < 4) {
		bytes /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.2f %s" : "%.0f %s", bytes, units[u]);
	return buf;
}
