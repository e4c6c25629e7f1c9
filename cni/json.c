// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "cni/json.h"

/* Look @key up; JSON null counts as absent. Return: the value or NULL. */
static struct json_object *lookup(struct json_object *obj, const char *key)
{
	struct json_object *v = NULL;

	if (!obj || !json_object_object_get_ex(obj, key, &v))
		return NULL;
	return v;
}

static int wrong_type(const char *where, const char *key, const char *want, struct cni_error *err)
{
	if (where && *where)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"%s.%s\" must be %s", where, key, want);
	return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"%s\" must be %s", key, want);
}

int cni_json_string(struct json_object *obj, const char *where, const char *key, const char **ret,
		    struct cni_error *err)
{
	struct json_object *v = lookup(obj, key);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_string))
		return wrong_type(where, key, "a string", err);
	*ret = json_object_get_string(v);
	return 1;
}

int cni_json_int(struct json_object *obj, const char *where, const char *key, int64_t min,
		 int64_t max, int64_t *ret, struct cni_error *err)
{
	struct json_object *v = lookup(obj, key);
	char want[96];
	int64_t n;

	if (!v)
		return 0;
	snprintf(want, sizeof(want), "an integer from %lld to %lld", (long long)min, (long long)max);
	if (!json_object_is_type(v, json_type_int))
		return wrong_type(where, key, want, err);
	errno = 0;
	n = json_object_get_int64(v);
	/* json-c saturates out-of-range numbers and flags it in errno */
	if (errno || n < min || n > max)
		return wrong_type(where, key, want, err);
	*ret = n;
	return 1;
}

int cni_json_bool(struct json_object *obj, const char *where, const char *key, bool *ret,
		  struct cni_error *err)
{
	struct json_object *v = lookup(obj, key);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return wrong_type(where, key, "true or false", err);
	*ret = json_object_get_boolean(v);
	return 1;
}

int cni_json_object(struct json_object *obj, const char *where, const char *key,
		    struct json_object **ret, struct cni_error *err)
{
	struct json_object *v = lookup(obj, key);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_object))
		return wrong_type(where, key, "an object", err);
	*ret = v;
	return 1;
}

int cni_json_array(struct json_object *obj, const char *where, const char *key,
		   struct json_object **ret, struct cni_error *err)
{
	struct json_object *v = lookup(obj, key);

	if (!v)
		return 0;
	if (!json_object_is_type(v, json_type_array))
		return wrong_type(where, key, "an array", err);
	*ret = v;
	return 1;
}

int cni_json_string_array(struct json_object *obj, const char *where, const char *key,
			  const char ***ret, size_t *ret_n, struct cni_error *err)
{
	struct json_object *arr;
	const char **out;
	size_t n;
	int r = cni_json_array(obj, where, key, &arr, err);

	if (r <= 0)
		return r;
	n = json_object_array_length(arr);
	out = calloc(n ? n : 1, sizeof(*out));
	if (!out)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	for (size_t i = 0; i < n; i++) {
		struct json_object *e = json_object_array_get_idx(arr, i);

		if (!json_object_is_type(e, json_type_string)) {
			free(out);
			if (where && *where)
				return cni_err(err, CNI_ERR_CONFIG,
					       "invalid config: \"%s.%s[%zu]\" must be a string", where, key, i);
			return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"%s[%zu]\" must be a string",
				       key, i);
		}
		out[i] = json_object_get_string(e);
	}
	*ret = out;
	*ret_n = n;
	return 1;
}
