/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Typed reads of JSON config keys. Unknown keys are never an error; a known key with the
 * wrong type is code 7 with a message naming the key by its full path ("ipam.range").
 * A key set to JSON null counts as absent.
 *
 * Keys are matched as Go's encoding/json matches them (the reference plugins and whereabouts are
 * Go programs, and configs are written against them): case-insensitively, the last non-null
 * key of the object that folds to the name winning ("Master" is "master").
 *
 * Each getter returns 1 when the key is present (and *ret is set), 0 when it is absent
 * (*ret untouched), or -1 with err set.
 */
#ifndef MIGNET_CNI_JSON_H
#define MIGNET_CNI_JSON_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "cni/error.h"

/**
 * cni_json_get() - the value of @key in @obj, matched as Go's encoding/json matches it
 * @obj: an object (anything else, or NULL, has no keys).
 * @key: the key's canonical name (ASCII).
 * Return: the value, or NULL when absent or null.
 */
struct json_object *cni_json_get(struct json_object *obj, const char *key);

/* @where: the path of @obj for messages, e.g. "ipam" or "runtimeConfig"; NULL or "" at top. */
int cni_json_string(struct json_object *obj, const char *where, const char *key, const char **ret,
		    struct cni_error *err);
int cni_json_int(struct json_object *obj, const char *where, const char *key, int64_t min,
		 int64_t max, int64_t *ret, struct cni_error *err);
int cni_json_bool(struct json_object *obj, const char *where, const char *key, bool *ret,
		  struct cni_error *err);
int cni_json_object(struct json_object *obj, const char *where, const char *key,
		    struct json_object **ret, struct cni_error *err);
int cni_json_array(struct json_object *obj, const char *where, const char *key,
		   struct json_object **ret, struct cni_error *err);

/**
 * cni_json_string_array() - a key holding an array of strings
 * @ret: receives a malloc'd array of pointers into the JSON tree (free() only the array)
 * Return: 1 present, 0 absent, -1 with err set (the message names the bad element index).
 */
int cni_json_string_array(struct json_object *obj, const char *where, const char *key,
			  const char ***ret, size_t *ret_n, struct cni_error *err);

/**
 * cni_json_parse_object() - parse @raw as exactly one JSON object, strictly (RFC 8259: no
 * comments, single quotes or trailing commas; valid UTF-8), white space allowed after it
 * @what: names the input in messages ("network configuration", "IPAM result")
 * Return: a new object, or NULL with err set (code 6).
 */
struct json_object *cni_json_parse_object(const char *raw, size_t len, const char *what,
					  struct cni_error *err);

#endif
