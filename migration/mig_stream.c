// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <unistd.h>

#include "mig_parse.h"
#include "mig_stream.h"
#include "netlink/nl.h"

bool mig_is_global_unicast(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr);

		if (a == 0 || a == 0xffffffffu)
			return false;
		if ((a >> 24) == 127 || (a >> 28) == 0xe || (a >> 16) == 0xa9fe)
			return false;
		return true;
	}
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) ||
		    IN6_IS_ADDR_MULTICAST(a) || IN6_IS_ADDR_LINKLOCAL(a))
			return false;
		return true;
	}
	return false;
}

int mig_iface_address(const char *ifname, uint16_t port, struct mig_addr *ret,
		      struct mig_error *err)
{
	struct ifaddrs *list, *i;
	struct mig_addr a = { 0 };
	bool found = false;

	if (!ifname || !*ifname || strlen(ifname) >= IF_NAMESIZE)
		return mig_error_set(err, -EINVAL, "invalid interface name");
	if (if_nametoindex(ifname) == 0)
		return mig_error_set(err, -ENODEV,
				     "no interface %s in this network namespace: is the migration "
				     "network attached?",
				     ifname);
	if (getifaddrs(&list) < 0)
		return mig_error_set(err, -errno, "getifaddrs: %s", strerror(errno));
	for (i = list; i && !found; i = i->ifa_next) {
		if (!i->ifa_addr || strcmp(i->ifa_name, ifname) != 0)
			continue;
		if (!mig_is_global_unicast(i->ifa_addr))
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			memcpy(&a.ss, i->ifa_addr, sizeof(struct sockaddr_in));
			((struct sockaddr_in *)&a.ss)->sin_port = htons(port);
			a.len = sizeof(struct sockaddr_in);
		} else {
			memcpy(&a.ss, i->ifa_addr, sizeof(struct sockaddr_in6));
			((struct sockaddr_in6 *)&a.ss)->sin6_port = htons(port);
			((struct sockaddr_in6 *)&a.ss)->sin6_scope_id = 0;
			a.len = sizeof(struct sockaddr_in6);
		}
		found = true;
	}
	freeifaddrs(list);
	if (!found)
		return mig_error_set(err, -EADDRNOTAVAIL,
				     "interface %s has no global-unicast address", ifname);
	*ret = a;
	return 0;
}

int mig_route_check(const struct mig_addr *target, const char *ifname, struct mig_error *err)
{
	char abuf[INET6_ADDRSTRLEN], other[IF_NAMESIZE] = "?";
	struct nl_ip dst = { .family = target->ss.ss_family };
	struct nl nl = { 0 };
	int want, ifindex = 0, r;

	mig_addr_format(target, abuf, sizeof(abuf));
	want = (int)if_nametoindex(ifname);
	if (!want)
		return mig_error_set(err, -ENODEV, "no interface %s", ifname);
	if (dst.family == AF_INET)
		memcpy(dst.addr, &((const struct sockaddr_in *)&target->ss)->sin_addr, 4);
	else
		memcpy(dst.addr, &((const struct sockaddr_in6 *)&target->ss)->sin6_addr, 16);
	r = nl_open(&nl);
	if (r < 0)
		return mig_error_set(err, r, "netlink: %s", strerror(-r));
	r = nl_route_get(&nl, &dst, &ifindex, NULL);
	nl_close(&nl);
	if (r < 0)
		return mig_error_set(err, r, "no route to target %s: %s", abuf, strerror(-r));
	if (ifindex != want) {
		if_indextoname((unsigned int)ifindex, other);
		return mig_error_set(err, -ENETUNREACH,
				     "refusing target %s: its route leaves through %s, not the "
				     "migration interface %s (migration traffic never falls back "
				     "onto another network)",
				     abuf, other, ifname);
	}
	return 0;
}

ssize_t mig_read_full(int fd, void *buf, size_t len)
{
	size_t done = 0;
	ssize_t n;

	while (done < len) {
		n = recv(fd, (char *)buf + done, len - done, MSG_WAITALL);
		if (n == 0)
			return done ? -EPIPE : 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			return -errno;
		}
		done += (size_t)n;
	}
	return (ssize_t)len;
}

int mig_write_pair(int fd, const void *a, size_t alen, const void *b, size_t blen, int flags)
{
	struct iovec iov[2] = { { (void *)a, alen }, { (void *)b, blen } };
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = blen ? 2 : alen ? 1 : 0 };
	ssize_t n;

	while (msg.msg_iovlen) {
		n = sendmsg(fd, &msg, flags | MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
		}
		while (msg.msg_iovlen && (size_t)n >= msg.msg_iov->iov_len) {
			n -= (ssize_t)msg.msg_iov->iov_len;
			msg.msg_iov++;
			msg.msg_iovlen--;
		}
		if (msg.msg_iovlen) {
			msg.msg_iov->iov_base = (char *)msg.msg_iov->iov_base + n;
			msg.msg_iov->iov_len -= (size_t)n;
		}
	}
	return 0;
}

int mig_write_full(int fd, const void *buf, size_t len, int flags)
{
	return mig_write_pair(fd, buf, len, NULL, 0, flags);
}

int mig_set_timeouts(int fd, unsigned int seconds)
{
	struct timeval tv = { .tv_sec = seconds };
	unsigned int ms = seconds * 1000;

	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)) < 0 ||
	    setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, &ms, sizeof(ms)) < 0)
		return -errno;
	return 0;
}
