// SPDX-License-Identifier: Apache-2.0
/*
 * The QMP client (mig_qmp.h). One command at a time: a command is written whole, then lines
 * are read until the answer with its id; the events read meanwhile go to the callback in
 * order. Lines are capped (MAX_LINE) so a confused peer cannot make us grow without bound.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "mig_qmp.h"

#define MAX_LINE (1u << 20)

struct json_object *mig_json_get(struct json_object *o, const char *key, enum json_type type)
{
	struct json_object *v;

	if (!o || !json_object_is_type(o, json_type_object) ||
	    !json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, type))
		return NULL;
	return v;
}

/* Reads more bytes within @ms. Return: bytes read, -ETIMEDOUT, -EPIPE, or -errno. */
static int fill(struct mig_qmp *q, int ms)
{
	struct pollfd pfd = { .fd = q->fd, .events = POLLIN };
	ssize_t n;
	int r;

	if (q->cap - q->len < 4096) {
		size_t cap = q->cap ? q->cap * 2 : 16384;
		char *b;

		if (cap > MAX_LINE + 4096)
			return -EMSGSIZE;
		b = realloc(q->buf, cap);
		if (!b)
			return -ENOMEM;
		q->buf = b;
		q->cap = cap;
	}
	do {
		r = poll(&pfd, 1, ms);
	} while (r < 0 && errno == EINTR);
	if (r < 0)
		return -errno;
	if (r == 0)
		return -ETIMEDOUT;
	n = recv(q->fd, q->buf + q->len, q->cap - q->len - 1, 0);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	if (n == 0)
		return -EPIPE;
	q->len += (size_t)n;
	return (int)n;
}

/* The next whole line as JSON, when there is one buffered. Return: 1, 0 none, -EBADMSG. */
static int next_message(struct mig_qmp *q, struct json_object **ret)
{
	char *nl;
	size_t used;

	nl = q->len ? memchr(q->buf, '\n', q->len) : NULL;
	if (!nl)
		return 0;
	*nl = '\0';
	used = (size_t)(nl - q->buf) + 1;
	*ret = json_tokener_parse(q->buf);
	memmove(q->buf, q->buf + used, q->len - used);
	q->len -= used;
	return *ret ? 1 : -EBADMSG;
}

static void dispatch_event(struct mig_qmp *q, struct json_object *m)
{
	struct json_object *ev = mig_json_get(m, "event", json_type_string);

	if (ev && q->on_event)
		q->on_event(json_object_get_string(ev), mig_json_get(m, "data", json_type_object),
			    q->opaque);
}

static int read_error(struct mig_qmp *q, int r, const char *what, struct mig_error *err)
{
	if (r == -ETIMEDOUT)
		return mig_error_set(
			err, r, "QMP %s: %s did not answer within %u s%s", what, q->path,
			q->timeout,
			strcmp(what, "greeting")
				? ""
				: " (QEMU serves one QMP client at a time: is another one "
				  "connected?)");
	if (r == -EPIPE)
		return mig_error_set(err, r, "QMP %s: QEMU closed %s (did it exit?)", what,
				     q->path);
	if (r == -EBADMSG)
		return mig_error_set(err, r, "QMP %s: not JSON from %s", what, q->path);
	return mig_error_set(err, r, "QMP %s: %s: %s", what, q->path, strerror(-r));
}

/* Reads messages until one with @id (or, id 0, the greeting). Return: 0 or -errno. */
static int wait_answer(struct mig_qmp *q, unsigned int id, const char *what,
		       struct json_object **ret_msg, struct mig_error *err)
{
	double deadline = mig_now() + q->timeout;
	struct json_object *m, *mid;
	int r;

	for (;;) {
		while ((r = next_message(q, &m)) == 1) {
			mid = mig_json_get(m, "id", json_type_int);
			if ((id == 0 && mig_json_get(m, "QMP", json_type_object)) ||
			    (mid && (unsigned int)json_object_get_int64(mid) == id)) {
				*ret_msg = m;
				return 0;
			}
			dispatch_event(q, m);
			json_object_put(m);
		}
		if (r < 0)
			return read_error(q, r, what, err);
		r = fill(q, (int)((deadline - mig_now()) * 1000) + 1);
		if (r < 0 || mig_now() > deadline)
			return read_error(q, r < 0 ? r : -ETIMEDOUT, what, err);
	}
}

/* Writes @text, with @fd as SCM_RIGHTS when >= 0. Return: 0 or -errno. */
static int send_text(struct mig_qmp *q, const char *text, int fd)
{
	char ctl[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { (void *)text, strlen(text) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (fd >= 0) {
		struct cmsghdr *c;

		msg.msg_control = ctl;
		msg.msg_controllen = sizeof(ctl);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	while (iov.iov_len) {
		n = sendmsg(q->fd, &msg, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
		msg.msg_control = NULL; /* the descriptor went with the first bytes */
		msg.msg_controllen = 0;
	}
	return 0;
}

/* The answer @m to @cmd: its return value, or its error into @err. */
static int answer(const char *cmd, struct json_object *m, struct json_object **ret,
		  struct mig_error *err)
{
	struct json_object *e = mig_json_get(m, "error", json_type_object), *v;
	int r = 0;

	if (e) {
		struct json_object *cls = mig_json_get(e, "class", json_type_string);
		struct json_object *desc = mig_json_get(e, "desc", json_type_string);

		r = mig_error_set(err, -EREMOTEIO, "QEMU refused %s: %s: %s", cmd,
				  cls ? json_object_get_string(cls) : "?",
				  desc ? json_object_get_string(desc) : "?");
	} else if (ret) {
		v = json_object_object_get_ex(m, "return", &v) ? v : NULL;
		*ret = json_object_get(v);
	}
	json_object_put(m);
	return r;
}

int mig_qmp_exec_fd(struct mig_qmp *q, const char *cmd, struct json_object *args, int fd,
		    struct json_object **ret, struct mig_error *err)
{
	struct json_object *o = json_object_new_object(), *m = NULL;
	unsigned int id = ++q->next_id;
	char *text;
	int r;

	if (ret)
		*ret = NULL;
	json_object_object_add(o, "execute", json_object_new_string(cmd));
	if (args)
		json_object_object_add(o, "arguments", args);
	json_object_object_add(o, "id", json_object_new_int64(id));
	r = asprintf(&text, "%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	if (r < 0)
		return mig_error_set(err, -ENOMEM, "out of memory");
	r = send_text(q, text, fd);
	free(text);
	if (r < 0)
		return mig_error_set(err, r, "QMP %s: writing to %s: %s", cmd, q->path,
				     strerror(-r));
	r = wait_answer(q, id, cmd, &m, err);
	if (r < 0)
		return r;
	return answer(cmd, m, ret, err);
}

int mig_qmp_exec(struct mig_qmp *q, const char *cmd, struct json_object *args,
		 struct json_object **ret, struct mig_error *err)
{
	return mig_qmp_exec_fd(q, cmd, args, -1, ret, err);
}

int mig_qmp_poll_events(struct mig_qmp *q, int ms, struct mig_error *err)
{
	struct json_object *m;
	int r;

	r = fill(q, ms);
	if (r == -ETIMEDOUT)
		r = 0;
	while (r >= 0 && (r = next_message(q, &m)) == 1) {
		dispatch_event(q, m);
		json_object_put(m);
	}
	return r < 0 ? read_error(q, r, "events", err) : 0;
}

int mig_qmp_status(struct mig_qmp *q, char *buf, size_t size, struct mig_error *err)
{
	struct json_object *v, *s;
	int r;

	r = mig_qmp_exec(q, "query-status", NULL, &v, err);
	if (r < 0)
		return r;
	s = mig_json_get(v, "status", json_type_string);
	snprintf(buf, size, "%s", s ? json_object_get_string(s) : "?");
	json_object_put(v);
	return 0;
}

static int qmp_connect(struct mig_qmp *q, const char *path, struct mig_error *err)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sun.sun_path))
		return mig_error_set(err, -ENAMETOOLONG, "--qmp %s: path too long", path);
	snprintf(q->path, sizeof(q->path), "%s", path);
	memcpy(sun.sun_path, path, strlen(path) + 1);
	q->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (q->fd < 0)
		return mig_error_set(err, -errno, "socket: %s", strerror(errno));
	if (connect(q->fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		return mig_error_set(err, -errno, "--qmp %s: cannot connect: %s", path,
				     strerror(errno));
	return 0;
}

int mig_qmp_open(struct mig_qmp *q, const char *path, unsigned int timeout, struct mig_error *err)
{
	struct json_object *m;
	int r;

	*q = (struct mig_qmp){
		.fd = -1, .timeout = timeout, .on_event = q->on_event, .opaque = q->opaque
	};
	r = qmp_connect(q, path, err);
	if (r < 0)
		return r;
	r = wait_answer(q, 0, "greeting", &m, err);
	if (r < 0)
		return r;
	json_object_put(m);
	return mig_qmp_exec(q, "qmp_capabilities", NULL, NULL, err);
}

void mig_qmp_close(struct mig_qmp *q)
{
	if (q->fd >= 0)
		close(q->fd);
	q->fd = -1;
	free(q->buf);
	q->buf = NULL;
	q->len = q->cap = 0;
}
