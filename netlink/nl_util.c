// SPDX-License-Identifier: Apache-2.0
/*
 * Small helpers that need no socket: IP address text, and sysctls of the calling thread's
 * network namespace (/proc/sys/net is resolved against the namespace of the opener).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "netlink/nl.h"
#include "netlink/nl_priv.h"

/**
 * nl_ip_parse() - parse a textual IPv4 or IPv6 address (no prefix, no zone)
 * @text: the address.
 * @ret: receives it; untouched on failure.
 * Return: 0 or -EINVAL.
 */
int nl_ip_parse(const char *text, struct nl_ip *ret)
{
	struct nl_ip ip = { .family = AF_INET };

	if (!text)
		return -EINVAL;
	if (inet_pton(AF_INET, text, ip.addr) != 1) {
		ip.family = AF_INET6;
		if (inet_pton(AF_INET6, text, ip.addr) != 1)
			return -EINVAL;
	}
	*ret = ip;
	return 0;
}

/**
 * nl_ip_format() - format @ip into @buf
 * @ip: the address.
 * @buf: the output, INET6_ADDRSTRLEN bytes are always enough.
 * @size: size of @buf.
 * Return: @buf; "" when @ip has no valid family or @buf is too small.
 */
const char *nl_ip_format(const struct nl_ip *ip, char *buf, size_t size)
{
	if (!size)
		return buf;
	if (!nl_ip_len(ip->family) || !inet_ntop(ip->family, ip->addr, buf, (socklen_t)size))
		buf[0] = '\0';
	return buf;
}

/**
 * nl_sysctl_path() - "/proc/sys/" + @key, dots turned into slashes if @key has no slash
 * @key: "net.ipv4.ip_forward" or "net/ipv4/conf/eth0.100/arp_notify".
 * @buf: the output.
 * @size: size of @buf.
 * Return: 0, -EINVAL for an empty, absolute or ".."-containing key, -ENAMETOOLONG.
 */
int nl_sysctl_path(const char *key, char *buf, size_t size)
{
	bool dotted;
	int n;

	if (!key || !key[0] || key[0] == '/' || key[0] == '.')
		return -EINVAL;
	dotted = !strchr(key, '/');
	if (!dotted && strstr(key, ".."))
		return -EINVAL; /* "a/../b" would leave /proc/sys */
	n = snprintf(buf, size, "/proc/sys/%s", key);
	if (n < 0 || (size_t)n >= size)
		return -ENAMETOOLONG;
	if (dotted)
		for (char *p = buf + strlen("/proc/sys/"); *p; p++)
			if (*p == '.')
				*p = '/';
	return 0;
}

/**
 * nl_sysctl_write() - write @value to /proc/sys/@key in the calling thread's netns
 * @key: dotted or slashed; see nl_sysctl_path().
 * @value: the text to write, in one write().
 * Return: 0, -EIO on a short write, or -errno.
 */
int nl_sysctl_write(const char *key, const char *value)
{
	char path[256];
	size_t len;
	ssize_t n;
	int fd, err;

	if (!value)
		return -EINVAL;
	err = nl_sysctl_path(key, path, sizeof(path));
	if (err < 0)
		return err;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	len = strlen(value);
	n = write(fd, value, len);
	err = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	close(fd);
	return err;
}
