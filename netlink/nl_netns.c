// SPDX-License-Identifier: Apache-2.0
/*
 * Network namespaces: open one safely, enter it and come back.
 *
 * Theory of operation: setns() moves only the calling thread, so "where I was" is the
 * thread's own namespace, /proc/thread-self/ns/net, not the process's. A path given by the
 * runtime (CNI_NETNS) could name any file: nl_netns_open() checks that the file lives on nsfs
 * and, where the kernel can tell (NS_GET_NSTYPE, Linux 4.11), that it is a *network*
 * namespace, so that setns(CLONE_NEWNET) on it cannot fail late, half-way through an ADD.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/magic.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "netlink/nl.h"

/**
 * nl_netns_open() - open a network namespace file (e.g. /var/run/netns/x, /proc/PID/ns/net)
 * @path: the file.
 * Return: an O_RDONLY|O_CLOEXEC fd, -ENOENT if absent, -EINVAL if not a netns, or -errno.
 */
int nl_netns_open(const char *path)
{
	struct statfs sfs;
	int fd, type, err;

	if (!path || !path[0])
		return -EINVAL;
	/*
	 * Look before opening for real: an O_PATH open has no side effects, so a FIFO (which a
	 * plain open would block on) or a device is refused without being opened.
	 */
	fd = open(path, O_PATH | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (fstatfs(fd, &sfs) < 0) {
		err = -errno;
		goto out;
	}
	err = -EINVAL;
	if ((unsigned long)sfs.f_type != NSFS_MAGIC)
		goto out;
	{
		char proc[64];
		int real;

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
		real = open(proc, O_RDONLY | O_CLOEXEC);
		err = real < 0 ? -errno : 0;
		close(fd);
		if (real < 0)
			return err;
		fd = real;
	}
	err = -EINVAL;
	type = ioctl(fd, NS_GET_NSTYPE);
	if (type >= 0 && type != CLONE_NEWNET)
		goto out;
	return fd;
out:
	close(fd);
	return err;
}

/**
 * nl_netns_enter() - move the calling thread into the netns @netns_fd
 * @netns_fd: the namespace to enter.
 * @ret_orig_fd: receives an fd of the namespace the thread was in, for nl_netns_return();
 * untouched on failure.
 * Return: 0, or -errno (then the thread is where it was).
 */
int nl_netns_enter(int netns_fd, int *ret_orig_fd)
{
	int orig, err;

	orig = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (orig < 0)
		return -errno;
	if (setns(netns_fd, CLONE_NEWNET) < 0) {
		err = -errno;
		close(orig);
		return err;
	}
	*ret_orig_fd = orig;
	return 0;
}

/**
 * nl_netns_return() - go back to @orig_fd's namespace and close @orig_fd
 * @orig_fd: from nl_netns_enter(); closed in every case.
 * Return: 0 or -errno.
 */
int nl_netns_return(int orig_fd)
{
	int err = 0;

	if (setns(orig_fd, CLONE_NEWNET) < 0)
		err = -errno;
	close(orig_fd);
	return err;
}
