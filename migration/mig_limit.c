// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mig_limit.h"

int mig_limit_try(const char *dir, unsigned int limit)
{
	char path[PATH_MAX];
	unsigned int i;
	int fd;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return -errno;
	for (i = 0; i < limit; i++) {
		struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

		if (snprintf(path, sizeof(path), "%s/outbound-%u.lock", dir, i) >=
		    (int)sizeof(path))
			return -ENAMETOOLONG;
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd < 0)
			return -errno;
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			return fd;
		close(fd);
		if (errno != EAGAIN && errno != EACCES)
			return -errno;
	}
	return -EBUSY;
}
