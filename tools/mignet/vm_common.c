// SPDX-License-Identifier: Apache-2.0
/* What both sides of a QEMU migration share: the token, the socket directory, unix sockets. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "vm.h"
#include "vm_unix.h"

int vm_pick_token(struct vm_opts *o, const char *cmd)
{
	const char *env = getenv("MIGNET_TOKEN");
	ssize_t n;
	int fd;

	o->token = NULL;
	if (o->token_file) {
		fd = open(o->token_file, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			fprintf(stderr, "mignet %s: --token-file %s: %s\n", cmd, o->token_file,
				strerror(errno));
			return EXIT_USAGE;
		}
		n = read(fd, o->token_buf, sizeof(o->token_buf) - 1);
		close(fd);
		if (n < 0) {
			fprintf(stderr, "mignet %s: --token-file %s: %s\n", cmd, o->token_file,
				strerror(errno));
			return EXIT_USAGE;
		}
		o->token_buf[n] = '\0';
		o->token_buf[strcspn(o->token_buf, "\r\n")] = '\0';
		o->token = o->token_buf;
	} else if (env && *env) {
		o->token = env;
	}
	if (o->token && strlen(o->token) > MIG_MAX_TOKEN) {
		fprintf(stderr, "mignet %s: the token is longer than %d bytes\n", cmd,
			MIG_MAX_TOKEN);
		return EXIT_USAGE;
	}
	if (o->token && !*o->token)
		o->token = NULL;
	return 0;
}

int vm_socket_dir(const char *dir, struct mig_error *err)
{
	struct stat st;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST)
		return mig_error_set(err, -errno, "--socket-dir %s: %s", dir, strerror(errno));
	if (lstat(dir, &st) < 0)
		return mig_error_set(err, -errno, "--socket-dir %s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return mig_error_set(err, -ENOTDIR, "--socket-dir %s: not a directory", dir);
	if (st.st_uid != geteuid())
		return mig_error_set(err, -EPERM, "--socket-dir %s: owned by uid %u, not us", dir,
				     (unsigned int)st.st_uid);
	if ((st.st_mode & 0777) != 0700 && chmod(dir, 0700) < 0)
		return mig_error_set(err, -errno, "--socket-dir %s: chmod 0700: %s", dir,
				     strerror(errno));
	return 0;
}

int vm_socket_path(const char *dir, const char *kind, uint64_t session, char *buf, size_t size,
		   struct mig_error *err)
{
	int r = vm_socket_dir(dir, err);

	if (r < 0)
		return r;
	snprintf(buf, size, "%s/%s-%d-%016llx.sock", dir, kind, (int)getpid(),
		 (unsigned long long)session);
	return 0;
}

/* A unix stream socket listening on (@server) or connected to @path. Return: its fd, -errno. */
static int unix_open(const char *path, bool server, struct mig_error *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, r = 0;

	if (strlen(path) >= sizeof(sun.sun_path))
		return mig_error_set(err, -ENAMETOOLONG, "%s: path too long for a unix socket",
				     path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return mig_error_set(err, -errno, "socket: %s", strerror(errno));
	if (server && (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || listen(fd, 64) < 0))
		r = mig_error_set(err, -errno, "listen on %s: %s", path, strerror(errno));
	else if (!server && connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		r = mig_error_set(err, -errno, "connect to QEMU's %s: %s", path, strerror(errno));
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int vm_unix_listen(const char *path, struct mig_error *err)
{
	return unix_open(path, true, err);
}

int vm_unix_connect(const char *path, struct mig_error *err)
{
	return unix_open(path, false, err);
}
