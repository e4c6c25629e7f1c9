/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A QMP client over a unix socket (QEMU's -qmp unix:PATH,server=on,wait=off).
 *
 * QMP is line-delimited JSON: the server greets ({"QMP": ...}), the client negotiates with
 * qmp_capabilities, then each {"execute": ..., "id": N} is answered by {"return": ...,
 * "id": N} or {"error": {"class": ..., "desc": ...}, "id": N}; asynchronous events
 * ({"event": "MIGRATION", "data": ...}) may arrive in between and go to a callback. Every
 * call has a deadline; a QMP error's class and description end up in the mig_error.
 */
#ifndef MIGNET_MIGRATION_MIG_QMP_H
#define MIGNET_MIGRATION_MIG_QMP_H

#include <json-c/json.h>

#include "mig.h"

typedef void (*mig_qmp_event_fn)(const char *event, struct json_object *data, void *opaque);

struct mig_qmp {
	int fd;
	unsigned int timeout; /* seconds per command */
	unsigned int next_id;
	mig_qmp_event_fn on_event;
	void *opaque;
	char *buf; /* bytes received, not yet a whole line */
	size_t len, cap;
	char path[108];
};

/**
 * mig_qmp_open() - connect to the QMP socket @path, read the greeting, negotiate
 * @timeout: seconds for the connection and every later command
 * Return: 0, or -errno with @err naming the socket; mig_qmp_close() it in both cases.
 */
int mig_qmp_open(struct mig_qmp *q, const char *path, unsigned int timeout, struct mig_error *err);

/**
 * mig_qmp_exec() - run @cmd with @args (consumed; NULL for none), wait for its answer
 * @ret: the "return" value (json_object_put() it), or NULL when not wanted
 * Return: 0; -EREMOTEIO when QEMU answered an error (@err: "CMD: Class: desc");
 * -ETIMEDOUT; -EPIPE when QEMU closed the socket; or -errno.
 */
int mig_qmp_exec(struct mig_qmp *q, const char *cmd, struct json_object *args,
		 struct json_object **ret, struct mig_error *err);

/**
 * mig_qmp_exec_fd() - mig_qmp_exec() that passes @fd along (SCM_RIGHTS), for getfd
 * Return: as mig_qmp_exec().
 */
int mig_qmp_exec_fd(struct mig_qmp *q, const char *cmd, struct json_object *args, int fd,
		    struct json_object **ret, struct mig_error *err);

/**
 * mig_qmp_poll_events() - hand the events already waiting (up to @ms milliseconds) to the
 * callback. Return: 0, -EPIPE when QEMU closed the socket, or -errno.
 */
int mig_qmp_poll_events(struct mig_qmp *q, int ms, struct mig_error *err);

/**
 * mig_qmp_status() - query-status's "status" ("running", "inmigrate", "postmigrate", ...)
 * into @buf. Return: 0 or -errno as mig_qmp_exec().
 */
int mig_qmp_status(struct mig_qmp *q, char *buf, size_t size, struct mig_error *err);

/** mig_qmp_close() - close the socket (accepts a closed one). */
void mig_qmp_close(struct mig_qmp *q);

/** mig_json_get() - the member @key of @o when it has type @type, else NULL. */
struct json_object *mig_json_get(struct json_object *o, const char *key, enum json_type type);

#endif
