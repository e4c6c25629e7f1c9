/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control connection of a QEMU migration (connection 0 of a MIG_HELLO_F_VM session):
 * CONTROL frames, each one JSON object with a "type":
 *
 *   source -> target  setup   {"capabilities": {NAME: bool}, "parameters": {NAME: value},
 *                              "connections": N}  what the target QEMU must be set to
 *   target -> source  ready   the target QEMU listens (migrate-incoming), or
 *                     error   {"message": ...}   it could not be configured
 *   source -> target  done    {"status": "completed"|"failed"|"cancelled", "reason": ...}
 *   target -> source  status  {"status": QEMU's run state, "report": {...}}
 *
 * Only the capabilities and parameters of the allowlists below are accepted from the wire,
 * each with its JSON type checked: the source can set up a migration, not the target QEMU.
 */
#ifndef MIGNET_MIGRATION_MIG_CONTROL_H
#define MIGNET_MIGRATION_MIG_CONTROL_H

#include <json-c/json.h>
#include <stdbool.h>

#include "mig.h"

/**
 * mig_control_send() - @o (consumed) as one CONTROL frame on @fd
 * Return: 0 or -errno with @err filled.
 */
int mig_control_send(int fd, struct json_object *o, struct mig_error *err);

/**
 * mig_control_recv() - the next CONTROL frame on @fd, within @ms milliseconds (< 0: no limit)
 * @ret: the object, with a string "type" (json_object_put() it)
 * Return: 0; -ETIMEDOUT; -EPIPE when the peer closed; -EPROTO for anything but a CONTROL
 * frame holding a JSON object with a type; or -errno. @err says which.
 */
int mig_control_recv(int fd, int ms, struct json_object **ret, struct mig_error *err);

/**
 * mig_control_parse() - @len bytes of a CONTROL payload as JSON
 * Return: the object when it is exactly one JSON object with a string "type", else NULL.
 */
struct json_object *mig_control_parse(const char *text, size_t len);

/** mig_control_type() - the "type" of @o ("" when none). */
const char *mig_control_type(struct json_object *o);

/** mig_control_new() - a new object of @type. */
struct json_object *mig_control_new(const char *type);

/**
 * mig_control_check_setup() - whether a setup's capabilities and parameters are all known
 * and of their type
 * Return: 0, or -EPROTO with @err naming the bad key.
 */
int mig_control_check_setup(struct json_object *setup, struct mig_error *err);

#endif
