// SPDX-License-Identifier: Apache-2.0
/*
 * IPAM delegation by exec. The child gets the config on a pipe and the parent collects its
 * stdout on another; both directions go through one poll() loop so that a plugin that answers
 * before it has read all of its input cannot deadlock us. Its stderr is ours, passed through.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cni/conf.h"
#include "cni/delegate.h"
#include "cni/json.h"

int cni_delegate_find(const char *path, const char *type, char **ret, struct cni_error *err)
{
	char *dirs, *save = NULL;

	if (!*type || strchr(type, '/') || strcmp(type, ".") == 0 || strcmp(type, "..") == 0)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: \"ipam.type\" \"%.64s\" must be a plain plugin "
			       "name, without '/'",
			       type);
	dirs = strdup(path ? path : "");
	if (!dirs)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
		struct stat st;
		char *candidate;

		if (asprintf(&candidate, "%s/%s", d, type) < 0)
			break;
		if (stat(candidate, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(candidate, X_OK) == 0) {
			free(dirs);
			*ret = candidate;
			return 0;
		}
		free(candidate);
	}
	free(dirs);
	cni_err(err, CNI_ERR_IO, "failed to find IPAM plugin \"%.64s\" in CNI_PATH", type);
	return cni_err_details(err, "CNI_PATH=%.900s", path ? path : "");
}

/* Feed @in to @to_child while collecting @from_child into a capped buffer. */
static int exchange(int to_child, int from_child, const char *in, size_t in_len, char **ret,
		    size_t *ret_len, struct cni_error *err)
{
	size_t cap = 4096, len = 0, written = 0;
	char *out = malloc(cap + 1);
	bool too_big = false;
	struct pollfd p[2] = { { .fd = from_child, .events = POLLIN },
			       { .fd = in_len ? to_child : -1, .events = POLLOUT } };

	if (!out)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	if (!in_len)
		close(to_child);
	while (p[0].fd >= 0) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			goto out;
		}
		if (p[1].fd >= 0 && p[1].revents) {
			ssize_t n = write(to_child, in + written, in_len - written);

			if (n < 0 && errno != EAGAIN && errno != EINTR && errno != EPIPE)
				goto out;
			written += n > 0 ? (size_t)n : 0;
			if (written == in_len || (n < 0 && errno == EPIPE)) {
				close(to_child);
				p[1].fd = -1;
			}
		}
		if (p[0].revents) {
			ssize_t n;

			if (len == cap) {
				char *grown;

				if (cap > CNI_STDIN_MAX) {
					too_big = true;
					goto out;
				}
				cap *= 2;
				grown = realloc(out, cap + 1);
				if (!grown)
					goto out;
				out = grown;
			}
			n = read(from_child, out + len, cap - len);
			if (n < 0 && errno != EINTR && errno != EAGAIN)
				goto out;
			if (n == 0)
				p[0].fd = -1;
			len += n > 0 ? (size_t)n : 0;
		}
	}
	if (p[1].fd >= 0)
		close(to_child);
	out[len] = '\0';
	*ret = out;
	*ret_len = len;
	return 0;
out:
	if (too_big)
		cni_err(err, CNI_ERR_IO, "IPAM plugin output is larger than %d bytes",
			CNI_STDIN_MAX);
	else
		cni_err_errno(err, CNI_ERR_IO, errno, "talking to the IPAM plugin");
	if (p[1].fd >= 0)
		close(to_child);
	free(out);
	return -1;
}

/* Turn what a failed plugin printed into our error, keeping its code, msg and details. */
static int plugin_error(const char *type, const char *out, size_t len, int status,
			struct cni_error *err)
{
	struct json_object *o = json_tokener_parse(out);
	const char *msg = NULL, *details = NULL;
	int64_t code = CNI_ERR_INTERNAL;

	if (o && json_object_is_type(o, json_type_object)) {
		cni_json_int(o, NULL, "code", 1, INT32_MAX, &code, NULL);
		cni_json_string(o, NULL, "msg", &msg, NULL);
		cni_json_string(o, NULL, "details", &details, NULL);
	}
	if (msg) {
		cni_err(err, (int)code, "%s", msg);
		if (details)
			cni_err_details(err, "%s", details);
	} else if (WIFSIGNALED(status)) {
		cni_err(err, CNI_ERR_INTERNAL, "IPAM plugin \"%s\" killed by signal %d", type,
			WTERMSIG(status));
	} else {
		cni_err(err, CNI_ERR_INTERNAL,
			"IPAM plugin \"%s\" failed (exit %d) without a CNI error", type,
			WEXITSTATUS(status));
		cni_err_details(err, "output: %.900s", len ? out : "(none)");
	}
	json_object_put(o);
	return -1;
}

static int parse_ipam_result(const char *type, const char *out, enum cni_version version,
			     struct cni_result *ret, struct cni_error *err)
{
	struct json_object *o = cni_json_parse_object(out, strlen(out), "the IPAM result", err);
	int r;

	if (!o) {
		char inner[sizeof(err->msg)];

		snprintf(inner, sizeof(inner), "%s", err->msg);
		return cni_err(err, CNI_ERR_DECODE, "IPAM plugin \"%s\": %s", type, inner);
	}
	r = cni_result_parse(o, version, ret, err);
	json_object_put(o);
	if (r < 0) {
		char inner[sizeof(err->msg)];

		snprintf(inner, sizeof(inner), "%s", err->msg);
		return cni_err(err, err->code, "IPAM plugin \"%s\": %s", type, inner);
	}
	return 0;
}

int cni_delegate(const struct cni_env *env, enum cni_command command, const char *type,
		 const char *stdin_buf, size_t len, enum cni_version version,
		 struct cni_result *ret, struct cni_error *err)
{
	int in_pipe[2] = { -1, -1 }, out_pipe[2] = { -1, -1 };
	char *plugin = NULL, *out = NULL;
	size_t out_len = 0;
	int status = 0, r = -1;
	pid_t pid;

	if (cni_delegate_find(env->path, type, &plugin, err) < 0)
		return -1;
	if (pipe2(in_pipe, O_CLOEXEC) < 0 || pipe2(out_pipe, O_CLOEXEC) < 0) {
		cni_err_errno(err, CNI_ERR_IO, errno, "pipe");
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		cni_err_errno(err, CNI_ERR_IO, errno, "fork");
		goto out;
	}
	if (pid == 0) {
		char *argv[] = { plugin, NULL };

		if (dup2(in_pipe[0], STDIN_FILENO) < 0 || dup2(out_pipe[1], STDOUT_FILENO) < 0)
			_exit(127);
		setenv("CNI_COMMAND", cni_command_name(command), 1);
		signal(SIGPIPE, SIG_DFL);
		execv(plugin, argv);
		_exit(127);
	}
	close(in_pipe[0]);
	close(out_pipe[1]);
	in_pipe[0] = out_pipe[1] = -1;
	/* a plugin that exits without reading its stdin must not kill us with SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	r = exchange(in_pipe[1], out_pipe[0], stdin_buf, len, &out, &out_len, err);
	in_pipe[1] = -1;
	/* we stopped listening (too much output, a broken pipe): do not wait on a blocked writer */
	if (r < 0)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	/* from here on the plugin ran: unless it answered an error, it may hold what it allocated
	 */
	if (r < 0) {
		r = CNI_DELEGATE_UNDO;
		goto out;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		plugin_error(type, out, out_len, status, err);
		/* a plugin that exited with its own error holds nothing for this call (the spec) */
		r = WIFEXITED(status) ? -1 : CNI_DELEGATE_UNDO;
		goto out;
	}
	r = CNI_DELEGATE_UNDO;
	if (command == CNI_CMD_ADD && ret && parse_ipam_result(type, out, version, ret, err) < 0)
		goto out;
	r = 0;
out:
	for (int i = 0; i < 2; i++) {
		if (in_pipe[i] >= 0)
			close(in_pipe[i]);
		if (out_pipe[i] >= 0)
			close(out_pipe[i]);
	}
	free(out);
	free(plugin);
	return r;
}
