// SPDX-License-Identifier: Apache-2.0
/*
 * One log file per process: a plugin lives for one invocation, so the state is a handful of
 * statics set once by cni_log_setup() and read by cni_log(). Each line is written with one
 * write() on an O_APPEND descriptor, so lines of concurrent plugins never interleave.
 */
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cni/json.h"
#include "cni/log.h"

static const char *const level_names[] = {
	[CNI_LOG_PANIC] = "panic", [CNI_LOG_ERROR] = "error",
	[CNI_LOG_VERBOSE] = "verbose", [CNI_LOG_DEBUG] = "debug",
};

static struct {
	int fd;
	enum cni_log_level level;
	char context[160];
} log_state = { .fd = -1, .level = CNI_LOG_ERROR };

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
			       "invalid config: \"%s%slog_level\" \"%.32s\": use debug, verbose, error or panic",
			       where, *where ? "." : "", level);
	if (!file || !*file)
		return 0;
	/* a second setup (a flat file naming the log) replaces the first */
	cni_log_close();
	log_state.fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (log_state.fd < 0)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: cannot open \"%s%slog_file\" \"%.200s\": %m",
			       where, *where ? "." : "", file);
	log_state.level = lv;
	snprintf(log_state.context, sizeof(log_state.context), "%s %s containerID=%s ifname=%s", plugin,
		 cni_command_name(env->command), env->containerid ? env->containerid : "-",
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
