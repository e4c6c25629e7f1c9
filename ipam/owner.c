// SPDX-License-Identifier: Apache-2.0
/*
 * Whose an allocation is: the CNI network and the node recorded with it, the node's name,
 * and the rule a GC follows with them (ipam/owner.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni/json.h"
#include "ipam/owner.h"

#define NODE_RULE "1-253 bytes, no '/', no white space"

/* Trim @s in place. Return: NULL when it is no usable node name, else the trimmed name. */
static char *usable_node(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	if (!*s || end - s >= IPAM_NODE_MAX)
		return NULL;
	for (const char *p = s; *p; p++)
		if (*p == '/' || (unsigned char)*p <= ' ' || *p == 0x7f)
			return NULL;
	return s;
}

/* The "nodename" file beside @flat_file. Return: 1 with @buf set, 0 none, -1 unusable. */
static int nodename_file(const char *flat_file, char *buf, size_t size, char *path, size_t psize)
{
	const char *slash = strrchr(flat_file, '/');
	struct stat st;
	ssize_t n;
	int fd;

	if (!slash)
		return 0;
	snprintf(path, psize, "%.*s/nodename", (int)(slash - flat_file), flat_file);
	/* not blocking on a FIFO, and only a regular file: the directory may be the NAD's choice */
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	n = read(fd, buf, size - 1);
	if (n < 0) {
		int e = errno;

		close(fd);
		errno = e;
		return -1;
	}
	close(fd);
	buf[n] = '\0';
	return 1;
}

int ipam_node_name(const struct ipam_config *c, char *ret, size_t size, struct cni_error *err)
{
	char buf[IPAM_NODE_MAX + 64], path[PATH_MAX + 16], *name;
	const char *key = NULL, *env = getenv("NODENAME");
	int r;

	if (c && cni_json_string(c->merged, "ipam", "node_name", &key, err) < 0)
		return -1;
	if (key && *key) {
		snprintf(buf, sizeof(buf), "%s", key);
		name = strlen(key) < sizeof(buf) ? usable_node(buf) : NULL;
		if (!name)
			return cni_err(err, CNI_ERR_CONFIG,
				       "invalid config: \"ipam.node_name\" "
				       "\"%.300s\": not a node name (" NODE_RULE ")",
				       key);
		goto out;
	}
	if (env && *env) {
		snprintf(buf, sizeof(buf), "%s", env);
		name = strlen(env) < sizeof(buf) ? usable_node(buf) : NULL;
		if (!name)
			return cni_err(err, CNI_ERR_ENV,
				       "NODENAME \"%.300s\" is not a node name (" NODE_RULE ")",
				       env);
		goto out;
	}
	r = 0;
	if (c && c->flat_file[0])
		r = nodename_file(c->flat_file, buf, sizeof(buf), path, sizeof(path));
	if (r < 0)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: %s: %s", path,
			       errno == EINVAL ? "not a regular file" : strerror(errno));
	if (r > 0) {
		name = usable_node(buf);
		if (!name)
			return cni_err(err, CNI_ERR_CONFIG,
				       "invalid config: %s: not a node name (" NODE_RULE ")", path);
		goto out;
	}
	if (gethostname(buf, sizeof(buf)) < 0)
		return cni_err_errno(err, CNI_ERR_ENV, -errno, "gethostname");
	buf[sizeof(buf) - 1] = '\0';
	name = usable_node(buf);
	if (!name)
		return cni_err(err, CNI_ERR_ENV,
			       "the host name \"%s\" is not a node name; set NODENAME", buf);
out:
	if (strlen(name) >= size)
		return cni_err(err, CNI_ERR_INTERNAL, "node name buffer too small");
	memcpy(ret, name, strlen(name) + 1);
	return 0;
}

bool ipam_alloc_in_scope(const struct ipam_alloc *a, const char *cni_network, const char *node)
{
	if (cni_network && a->cni_network[0] && strcmp(a->cni_network, cni_network) != 0)
		return false;
	if (node && a->node[0] && strcmp(a->node, node) != 0)
		return false;
	return true;
}

void ipam_record_add_owner(struct json_object *o, const struct ipam_alloc *a)
{
	if (a->cni_network[0])
		json_object_object_add(o, "cni_network", json_object_new_string(a->cni_network));
	if (a->node[0])
		json_object_object_add(o, "node", json_object_new_string(a->node));
}

static void get_field(struct json_object *o, const char *key, char *out, size_t size)
{
	struct json_object *v;

	out[0] = '\0';
	if (json_object_object_get_ex(o, key, &v) && json_object_is_type(v, json_type_string) &&
	    (size_t)json_object_get_string_len(v) < size)
		memcpy(out, json_object_get_string(v), json_object_get_string_len(v) + 1);
}

void ipam_record_get_owner(struct json_object *o, struct ipam_alloc *a)
{
	get_field(o, "cni_network", a->cni_network, sizeof(a->cni_network));
	get_field(o, "node", a->node, sizeof(a->node));
}
