// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mig_config.h"

#define MAX_CONFIG (64 * 1024)

int mig_parse_quantity(const char *text, uint64_t *ret)
{
	static const struct {
		const char *s;
		double m;
	} units[] = { { "", 1 },	   { "k", 1e3 },	   { "M", 1e6 },
		      { "G", 1e9 },	   { "T", 1e12 },	   { "Ki", 1024.0 },
		      { "Mi", 1048576.0 }, { "Gi", 1073741824.0 }, { "Ti", 1099511627776.0 } };
	char *end;
	double v;
	size_t i;

	if (!text || !isdigit((unsigned char)text[0]))
		return -EINVAL;
	errno = 0;
	v = strtod(text, &end);
	if (errno || v < 0)
		return -EINVAL;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(end, units[i].s) == 0) {
			v *= units[i].m;
			if (v >= 18446744073709551615.0)
				return -ERANGE;
			*ret = (uint64_t)v;
			return 0;
		}
	}
	return -EINVAL;
}

static int get_uint(struct json_object *o, const char *key, unsigned int *ret, bool *has,
		    struct mig_error *err)
{
	struct json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int))
		return mig_error_set(err, -EINVAL, "config: %s must be an integer", key);
	n = json_object_get_int64(v);
	if (n < 0 || n > 1000000000)
		return mig_error_set(err, -EINVAL, "config: %s out of range", key);
	*ret = (unsigned int)n;
	*has = true;
	return 0;
}

/* An optional boolean @key. Return: 0, or -EINVAL when it is not a boolean. */
static int get_bool(struct json_object *o, const char *key, bool *ret, bool *ret_has,
		    struct mig_error *err)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean))
		return mig_error_set(err, -EINVAL, "config: %s must be true or false", key);
	*ret = json_object_get_boolean(v);
	*ret_has = true;
	return 0;
}

int mig_config_parse(const char *text, struct mig_config *ret, struct mig_error *err)
{
	struct mig_config c = { 0 };
	struct json_object *root, *o, *v;
	int r = 0;

	root = json_tokener_parse(text);
	if (!root || !json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return mig_error_set(err, -EINVAL, "config: not a JSON object");
	}
	o = root;
	if (json_object_object_get_ex(root, "liveMigrationConfig", &v)) {
		if (!json_object_is_type(v, json_type_object)) {
			r = mig_error_set(err, -EINVAL,
					  "config: liveMigrationConfig must be an "
					  "object");
			goto out;
		}
		o = v;
	}
	if (json_object_object_get_ex(o, "bandwidthPerMigration", &v)) {
		if (json_object_is_type(v, json_type_string)) {
			if (mig_parse_quantity(json_object_get_string(v), &c.bandwidth) < 0) {
				r = mig_error_set(err, -EINVAL,
						  "config: bandwidthPerMigration "
						  "\"%s\" is not a quantity",
						  json_object_get_string(v));
				goto out;
			}
		} else if (json_object_is_type(v, json_type_int) && json_object_get_int64(v) >= 0) {
			c.bandwidth = (uint64_t)json_object_get_int64(v);
		} else {
			r = mig_error_set(err, -EINVAL,
					  "config: bandwidthPerMigration must be a "
					  "quantity string or a non-negative integer");
			goto out;
		}
		c.has_bandwidth = true;
	}
	r = get_uint(o, "completionTimeoutPerGiB", &c.completion_timeout_per_gib, &c.has_completion,
		     err);
	if (r == 0)
		r = get_uint(o, "progressTimeout", &c.progress_timeout, &c.has_progress, err);
	if (r == 0)
		r = get_uint(o, "parallelOutboundMigrationsPerNode", &c.parallel_outbound,
			     &c.has_parallel, err);
	if (r == 0)
		r = get_bool(o, "allowAutoConverge", &c.allow_auto_converge, &c.has_auto_converge,
			     err);
	if (r == 0)
		r = get_bool(o, "allowPostCopy", &c.allow_post_copy, &c.has_post_copy, err);
	if (r == 0)
		r = get_bool(o, "disableTLS", &c.disable_tls, &c.has_disable_tls, err);
	if (r == 0 && c.has_parallel && c.parallel_outbound == 0)
		r = mig_error_set(err, -EINVAL,
				  "config: parallelOutboundMigrationsPerNode must "
				  "be at least 1");
	if (r == 0)
		*ret = c;
out:
	json_object_put(root);
	return r;
}

int mig_config_load(const char *path, struct mig_config *ret, struct mig_error *err)
{
	char *buf = malloc(MAX_CONFIG + 1);
	size_t len = 0;
	ssize_t n;
	int fd, r;

	if (!buf)
		return mig_error_set(err, -ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		r = mig_error_set(err, -errno, "config %s: %s", path, strerror(errno));
		goto out;
	}
	while ((n = read(fd, buf + len, MAX_CONFIG + 1 - len)) > 0)
		len += (size_t)n;
	close(fd);
	if (n < 0 || len > MAX_CONFIG) {
		r = mig_error_set(err, n < 0 ? -EIO : -EFBIG, "config %s: %s", path,
				  n < 0 ? "read error" : "larger than 64 KiB");
		goto out;
	}
	buf[len] = '\0';
	r = mig_config_parse(buf, ret, err);
out:
	free(buf);
	return r;
}
