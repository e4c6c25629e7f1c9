// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <time.h>
#include <linux/errqueue.h>
#include <netinet/in.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "mig_zerocopy.h"

#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY 60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY 0x4000000
#endif
#ifndef SO_EE_ORIGIN_ZEROCOPY
#define SO_EE_ORIGIN_ZEROCOPY 5
#endif
#ifndef SO_EE_CODE_ZEROCOPY_COPIED
#define SO_EE_CODE_ZEROCOPY_COPIED 1
#endif

/* Reap without waiting once this many ids are in flight, to keep the error queue short. */
#define REAP_EVERY 4
#define ENOBUFS_WAIT_MS 1000

int mig_zc_init(struct mig_zc *zc, int fd, enum mig_zc_mode mode)
{
	int one = 1;

	memset(zc, 0, sizeof(*zc));
	zc->fd = fd;
	zc->mode = mode;
	if (mode == MIG_ZC_NEVER)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)) < 0) {
		if (mode == MIG_ZC_ALWAYS)
			return -errno;
		return 0;
	}
	zc->active = true;
	return 0;
}

/* One notification: Return: ids completed (> 0), 0 when the queue is empty, or -errno. */
static int reap_one(struct mig_zc *zc)
{
	char control[CMSG_SPACE(sizeof(struct sock_extended_err) + sizeof(struct sockaddr_in6))];
	struct msghdr msg = { .msg_control = control, .msg_controllen = sizeof(control) };
	const struct sock_extended_err *serr = NULL;
	struct cmsghdr *cm;
	uint64_t n;

	if (recvmsg(zc->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		if (errno == EINTR)
			return reap_one(zc);
		return -errno;
	}
	for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
		if ((cm->cmsg_level == SOL_IP && cm->cmsg_type == IP_RECVERR) ||
		    (cm->cmsg_level == SOL_IPV6 && cm->cmsg_type == IPV6_RECVERR)) {
			serr = (const struct sock_extended_err *)CMSG_DATA(cm);
			break;
		}
	}
	if (!serr)
		return -EPROTO;
	if (serr->ee_origin != SO_EE_ORIGIN_ZEROCOPY)
		return serr->ee_errno ? -(int)serr->ee_errno : -EPROTO;
	if (serr->ee_errno)
		return -(int)serr->ee_errno;
	n = mig_zc_range_count(serr->ee_info, serr->ee_data);
	zc->st.completions += n;
	if (serr->ee_code & SO_EE_CODE_ZEROCOPY_COPIED) {
		zc->st.copied += n;
		if (zc->mode == MIG_ZC_AUTO && zc->active) {
			zc->active = false;
			zc->st.fallbacks++;
		}
	}
	return (int)(n > 0x7fffffff ? 0x7fffffff : n);
}

int mig_zc_reap(struct mig_zc *zc, int timeout_ms)
{
	struct pollfd pfd = { .fd = zc->fd, .events = 0 };
	int total = 0, r;

	if (timeout_ms != 0 && mig_zc_outstanding(zc)) {
		do {
			r = poll(&pfd, 1, timeout_ms);
		} while (r < 0 && errno == EINTR);
		if (r < 0)
			return -errno;
	}
	while ((r = reap_one(zc)) > 0)
		total += r;
	return r < 0 ? r : total;
}

int mig_zc_flush(struct mig_zc *zc, int timeout_ms)
{
	int r;

	while (mig_zc_outstanding(zc)) {
		r = mig_zc_reap(zc, timeout_ms);
		if (r < 0)
			return r;
		if (r == 0 && mig_zc_outstanding(zc))
			return -ETIMEDOUT;
	}
	return 0;
}

int mig_zc_send(struct mig_zc *zc, const void *buf, size_t len, int flags)
{
	const char *p = buf;
	ssize_t n;
	int r;

	while (len) {
		bool zerocopy = zc->active;

		n = send(zc->fd, p, len, flags | MSG_NOSIGNAL | (zerocopy ? MSG_ZEROCOPY : 0));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return -ETIMEDOUT;
			if (errno != ENOBUFS || !zerocopy)
				return -errno;
			/* optmem/memlock exhausted by notifications in flight: reap, retry */
			zc->st.enobufs++;
			if (mig_zc_outstanding(zc)) {
				r = mig_zc_reap(zc, ENOBUFS_WAIT_MS);
				if (r < 0)
					return r;
				if (r == 0)
					return -ETIMEDOUT;
				continue;
			}
			if (zc->mode == MIG_ZC_ALWAYS)
				return -ENOBUFS;
			zc->active = false; /* auto: nothing to wait for, copy instead */
			zc->st.fallbacks++;
			continue;
		}
		if (zerocopy && n > 0) {
			zc->st.sends++;
			if (mig_zc_outstanding(zc) >= REAP_EVERY) {
				r = mig_zc_reap(zc, 0);
				if (r < 0)
					return r;
			}
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}
