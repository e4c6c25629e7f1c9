// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ctype.h>

#include "cni/json.h"

/*
 * One byte sequence of @s that folds to the ASCII letter @c as Go's bytes.EqualFold sees it: the
 * letter in either case, and the two non-ASCII runes whose simple folding reaches an ASCII
 * letter, KELVIN SIGN (U+212A, "k") and LATIN SMALL LETTER LONG S (U+017F, "s").
 * Return: the bytes of @s consumed, 0 when they do not fold to @c.
 */
static size_t fold_match(const char *s, char c)
{
	c = (char)tolower((unsigned char)c);
	if (tolower((unsigned char)*s) == c && (unsigned char)*s < 0x80)
		return 1;
	if (c == 'k' && strncmp(s, "\xe2\x84\xaa", 3) == 0)
		return 3;
	if (c == 's' && strncmp(s, "\xc5\xbf", 2) == 0)
		return 2;
	return 0;
}

/* Does the config's @name equal our ASCII @key, folding case as Go does? */
static bool key_folds(const char *name, const char *key)
{
	while (*key) {
		size_t n = fold_match(name, *key++);

		if (!n)
			return false;
		name += n;
	}
	return !*name;
}

struct json_object *cni_json_get(struct json_object *obj, const char *key)
{
	struct json_object *found = NULL;

	if (!obj || !json_object_is_type(obj, json_type_object))
		return NULL;
	/*
	 * encoding/json assigns each key of the input, in order, to the field it folds to, and
	 * null leaves a field alone: the last non-null key that folds to @key wins.
	 */
	json_object_object_foreach(obj, name, v)
	{
		if (v && key_folds(name, key))
			found = v;
	}
	return found;
}

static struct json_object *lookup(struct json_object *obj, const char *key)
{
	return cni_json_get(obj, key);
}

static int wrong_type(const char *where, const char *key, const char *want, struct cni_error *err)
{
	if (where && *where)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"%s.%s\" must be %s", where,
			       key, want);
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
	/* C strings end at NUL: "eth1\u0000x" would silently become "eth1" */
	if (strlen(json_object_get_string(v)) != (size_t)json_object_get_string_len(v))
		return wrong_type(where, key, "a string without NUL characters", err);
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
	snprintf(want, sizeof(want), "an integer from %lld to %lld", (long long)min,
		 (long long)max);
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

		if (!json_object_is_type(e, json_type_string) ||
		    strlen(json_object_get_string(e)) != (size_t)json_object_get_string_len(e)) {
			free(out);
			if (where && *where)
				return cni_err(err, CNI_ERR_CONFIG,
					       "invalid config: \"%s.%s[%zu]\" must be a string",
					       where, key, i);
			return cni_err(err, CNI_ERR_CONFIG,
				       "invalid config: \"%s[%zu]\" must be a string", key, i);
		}
		out[i] = json_object_get_string(e);
	}
	*ret = out;
	*ret_n = n;
	return 1;
}

/*
 * RFC 8259 has no NaN or Infinity literals, which json-c accepts even when strict. json-c keeps
 * a parsed number's text, so a literal is told apart from a huge number like 1e400 (valid
 * JSON, left for the key's type check to refuse).
 */
static bool is_non_finite_literal(struct json_object *o)
{
	const char *text = json_object_to_json_string(o);

	if (isfinite(json_object_get_double(o)))
		return false;
	if (*text == '-')
		text++;
	return !isdigit((unsigned char)*text);
}

static bool has_non_finite(struct json_object *o)
{
	switch (json_object_get_type(o)) {
	case json_type_double:
		return is_non_finite_literal(o);
	case json_type_array:
		for (size_t i = 0; i < json_object_array_length(o); i++)
			if (has_non_finite(json_object_array_get_idx(o, i)))
				return true;
		return false;
	case json_type_object: {
		json_object_object_foreach(o, key, value)
		{
			(void)key;
			if (has_non_finite(value))
				return true;
		}
		return false;
	}
	default:
		return false;
	}
}

struct json_object *cni_json_parse_object(const char *raw, size_t len, const char *what,
					  struct cni_error *err)
{
	struct json_tokener *tok = json_tokener_new();
	struct json_object *root;
	size_t end;

	if (!tok) {
		cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		return NULL;
	}
	/* RFC 8259 as libcni reads it: no comments, single quotes, trailing commas, bad UTF-8 */
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	root = json_tokener_parse_ex(tok, raw, (int)len);
	if (!root) {
		enum json_tokener_error e = json_tokener_get_error(tok);

		cni_err(err, CNI_ERR_DECODE, "%s is not valid JSON: %s at offset %zu", what,
			e == json_tokener_continue ? "unexpected end of input"
						   : json_tokener_error_desc(e),
			json_tokener_get_parse_end(tok));
		json_tokener_free(tok);
		return NULL;
	}
	end = json_tokener_get_parse_end(tok);
	json_tokener_free(tok);
	while (end < len && isspace((unsigned char)raw[end]))
		end++;
	if (end != len) {
		cni_err(err, CNI_ERR_DECODE, "%s has trailing data at offset %zu", what, end);
		json_object_put(root);
		return NULL;
	}
	if (has_non_finite(root)) {
		cni_err(err, CNI_ERR_DECODE,
			"%s is not valid JSON: NaN and Infinity are not numbers", what);
		json_object_put(root);
		return NULL;
	}
	if (!json_object_is_type(root, json_type_object)) {
		cni_err(err, CNI_ERR_DECODE, "%s must be a JSON object", what);
		json_object_put(root);
		return NULL;
	}
	return root;
}
