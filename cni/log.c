// SPDX-License-Identifier: Apache-2.0
/*
 * One log file per process: a plugin lives for one invocation, so the state is a handful of
 * statics set once by cni_log_setup() and read by cni_log(). Each line is written with one
 * write() on an O_APPEND descriptor, so lines of concurrent plugins never interleave.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cni/json.h"
#include "cni/log.h"

static const char *const level_names[] = {
	[CNI_LOG_PANIC] = "panic",
	[CNI_LOG_ERROR] = "error",
	[CNI_LOG_VERBOSE] = "verbose",
	[CNI_LOG_DEBUG] = "debug",
};

static struct {
	int fd;
	enum cni_log_level level;
	char context[160];
} log_state = { .fd = -1, .level = CNI_LOG_ERROR };

/*
 * The config names the log file, and whoever writes a NetworkAttachmentDefinition is not the
 * node's root: appending to any path as root would let them write into /root/.bashrc or
 * /etc/cron.d. So the file must sit in one of these directories (after resolving symlinks of the
 * directory), must not itself be a symlink, and must be a regular file.
 */
static const char *const log_dirs[] = { "/var/log", "/tmp" };

static int open_log(const char *file)
{
	char *copy = strdup(file), *dir_path, real[PATH_MAX];
	const char *base = strrchr(file, '/');
	bool allowed = false;
	struct stat st;
	int dir, fd;

	if (!copy)
		return -ENOMEM;
	dir_path = dirname(copy);
	if (file[0] != '/' || !base || !base[1] || strcmp(base, "/..") == 0 ||
	    !realpath(dir_path, real)) {
		free(copy);
		return -EPERM;
	}
	free(copy);
	for (size_t i = 0; i < sizeof(log_dirs) / sizeof(log_dirs[0]); i++) {
		size_t n = strlen(log_dirs[i]);

		allowed |=
			strncmp(real, log_dirs[i], n) == 0 && (real[n] == '\0' || real[n] == '/');
	}
	if (!allowed)
		return -EPERM;
	dir = open(real, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dir < 0)
		return -errno;
	fd = openat(dir, base + 1,
		    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0640);
	fd = fd < 0 ? -errno : fd;
	close(dir);
	if (fd >= 0 && (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))) {
		close(fd);
		return -EPERM;
	}
	return fd == -ELOOP ? -EPERM : fd;
}

int cni_log_setup(struct json_object *obj, const char *where, const char *plugin,
		  const struct cni_env *env, struct cni_error *err)
{
	const char *file = NULL, *level = NULL;
	enum cni_log_level lv = CNI_LOG_ERROR;
	bool known = false;

	if (cni_json_string(obj, where, "log_file", &file, err) < 0 ||
	    cni_json_string(obj, where, "log_level", &level, err) < 0)
		return -1;
	for (size_t i = 0; level && i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(level, level_names[i]) == 0) {
			lv = i;
			known = true;
		}
	}
	if (level && *level && !known)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: \"%s%slog_level\" \"%.32s\": use debug, verbose, "
			       "error or panic",
			       where, *where ? "." : "", level);
	if (!file || !*file)
		return 0;
	/* a second setup (a flat file naming the log) replaces the first */
	cni_log_close();
	log_state.fd = open_log(file);
	if (log_state.fd == -EPERM)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: \"%s%slog_file\" \"%.200s\" must be a file in "
			       "/var/log or /tmp",
			       where, *where ? "." : "", file);
	if (log_state.fd < 0)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: cannot open \"%s%slog_file\" \"%.200s\": %s", where,
			       *where ? "." : "", file, strerror(-log_state.fd));
	log_state.level = lv;
	snprintf(log_state.context, sizeof(log_state.context), "%s %s containerID=%s ifname=%s",
		 plugin, cni_command_name(env->command), env->containerid ? env->containerid : "-",
		 env->ifname ? env->ifname : "-");
	return 0;
}

void cni_log(enum cni_log_level level, const char *fmt, ...)
{
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;

	if (log_state.fd < 0 || level > log_state.level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
	n += snprintf(line + n, sizeof(line) - n, ".%03ldZ [%s] %s: ", ts.tv_nsec / 1000000,
		      level_names[level], log_state.context);
	va_start(ap, fmt);
	if (n < sizeof(line))
		n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	/* values quoted from the config or the environment must not forge lines of their own */
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
			line[i] = '?';
	line[n++] = '\n';
	if (write(log_state.fd, line, n) < 0) {
		/* nowhere left to report a failing log; the plugin's answer is what matters */
	}
}

void cni_log_close(void)
{
	if (log_state.fd >= 0)
		close(log_state.fd);
	log_state.fd = -1;
}
