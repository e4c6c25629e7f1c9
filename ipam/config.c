// SPDX-License-Identifier: Apache-2.0
/*
 * Config resolution. The inline "ipam" object is copied, completed from the flat file (a key
 * the inline config leaves absent, null, "" or [] is taken from the file; objects are
 * completed key by key), and then every key is read with a type check and a message that
 * names its path. Values are checked here, once: the allocator trusts struct ipam_config.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cni/json.h"
#include "ipam/config.h"

#define FLAT_FILE_MAX (1 << 20)
#define MAX_RANGES 64
#define MAX_EXCLUDES 4096

const char *const ipam_flat_file_paths[] = {
	"/etc/kubernetes/cni/net.d/whereabouts.d/whereabouts.conf",
	"/etc/cni/net.d/whereabouts.d/whereabouts.conf",
	"/host/etc/cni/net.d/whereabouts.d/whereabouts.conf",
	NULL,
};

static bool json_empty(struct json_object *v)
{
	if (!v)
		return true;
	if (json_object_is_type(v, json_type_string))
		return json_object_get_string_len(v) == 0;
	if (json_object_is_type(v, json_type_array))
		return json_object_array_length(v) == 0;
	return false;
}

/*
 * Fill the keys of @dst that are empty from @src; objects on both sides are merged deeply. Keys
 * are matched as they are read (cni_json_get(), Go's folding): an inline "Range" is the
 * flat file's "range".
 */
static int merge_missing(struct json_object *dst, struct json_object *src)
{
	json_object_object_foreach(src, key, sval)
	{
		struct json_object *dval = cni_json_get(dst, key), *copy = NULL;

		if (dval && sval && json_object_is_type(dval, json_type_object) &&
		    json_object_is_type(sval, json_type_object)) {
			if (merge_missing(dval, sval) < 0)
				return -1;
			continue;
		}
		if (!json_empty(dval) || !sval)
			continue;
		if (json_object_deep_copy(sval, &copy, NULL) < 0)
			return -1;
		json_object_object_add(dst, key, copy);
	}
	return 0;
}

/*
 * Open @path for reading only if it is a regular file. The path comes from whoever writes the
 * NetworkAttachmentDefinition and we run as root: look with O_PATH first, so that a FIFO (which
 * would block) or a device (whose open may act) is refused without being opened.
 * Return: an fd, -EINVAL if not a regular file, or -errno.
 */
static int open_regular(const char *path)
{
	char proc[64];
	struct stat st;
	int fd = open(path, O_PATH | O_CLOEXEC), real;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return -EINVAL;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	real = open(proc, O_RDONLY | O_CLOEXEC);
	real = real < 0 ? -errno : real;
	close(fd);
	return real;
}

static int read_flat(const char *path, struct json_object **ret, struct cni_error *err)
{
	struct json_object *o;
	char *buf = NULL;
	ssize_t n;
	size_t len = 0;
	int fd = open_regular(path);

	if (fd == -EINVAL)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: flat file \"%s\" is not a regular file", path);
	if (fd < 0)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: cannot open flat file \"%s\": %s", path,
			       strerror(-fd));
	buf = malloc(FLAT_FILE_MAX + 1);
	if (!buf) {
		close(fd);
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	}
	while ((n = read(fd, buf + len, FLAT_FILE_MAX + 1 - len)) > 0 && len <= FLAT_FILE_MAX)
		len += n;
	close(fd);
	if (n < 0 || len > FLAT_FILE_MAX) {
		free(buf);
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: flat file \"%s\": %s", path,
			       n < 0 ? "read error" : "larger than 1 MiB");
	}
	buf[len] = '\0';
	o = cni_json_parse_object(buf, len, "flat file", NULL);
	free(buf);
	if (!o)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: flat file \"%s\" is not a JSON object", path);
	*ret = o;
	return 0;
}

/* The first flat file that exists, merged into @merged. */
static int apply_flat_file(struct ipam_config *c, const char *const *paths, struct cni_error *err)
{
	const char *own = NULL;
	struct json_object *flat = NULL;
	struct stat st;

	if (cni_json_string(c->merged, "ipam", "configuration_path", &own, err) < 0)
		return -1;
	for (int i = -1; i < 0 || paths[i]; i++) {
		const char *p = i < 0 ? own : paths[i];

		if (!p || !*p || stat(p, &st) < 0)
			continue;
		if (read_flat(p, &flat, err) < 0)
			return -1;
		snprintf(c->flat_file, sizeof(c->flat_file), "%s", p);
		if (merge_missing(c->merged, flat) < 0) {
			json_object_put(flat);
			return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		}
		json_object_put(flat);
		return 0;
	}
	return 0;
}

static int bad(struct cni_error *err, const char *key, const char *value, const char *why)
{
	return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"%s\" \"%.200s\": %s", key, value,
		       why);
}

static int load_datastore(struct ipam_config *c, struct cni_error *err)
{
	const char *ds = NULL, *kubeconfig = NULL, *slice = NULL;
	struct json_object *kube = NULL;
	int64_t timeout = IPAM_DEFAULT_LOCK_TIMEOUT_MS;

	if (cni_json_string(c->merged, "ipam", "datastore", &ds, err) < 0 ||
	    cni_json_object(c->merged, "ipam", "kubernetes", &kube, err) < 0 ||
	    (kube &&
	     cni_json_string(kube, "ipam.kubernetes", "kubeconfig", &kubeconfig, err) < 0) ||
	    cni_json_string(c->merged, "ipam", "node_slice_size", &slice, err) < 0 ||
	    cni_json_string(c->merged, "ipam", "store_dir", &c->store_dir, err) < 0 ||
	    cni_json_int(c->merged, "ipam", "lock_timeout_ms", 0, 600000, &timeout, err) < 0)
		return -1;
	/* node slices are claimed in etcd */
	if (slice && *slice && !(ds && strcmp(ds, "etcd") == 0))
		return bad(err, "ipam.node_slice_size", slice,
			   "node slices are claimed in etcd: set \"datastore\": \"etcd\" and "
			   "\"etcd_host\", or remove the key");
	if ((!ds || !*ds) && kubeconfig && *kubeconfig)
		return cni_err(
			err, CNI_ERR_CONFIG,
			"invalid config: \"ipam.kubernetes.kubeconfig\" selects the Kubernetes "
			"datastore, which this whereabouts does not implement: a node-local store "
			"would silently hand the same address out on two nodes. Set "
			"\"ipam.datastore\" "
			"to \"file\" with \"store_dir\" on a mount shared by every node (or "
			"node-local for a single node)");
	if (!ds || !*ds || strcmp(ds, "file") == 0) {
		c->datastore = IPAM_STORE_FILE;
	} else if (strcmp(ds, "kubernetes") == 0) {
		return bad(err, "ipam.datastore", ds,
			   "the Kubernetes datastore is not implemented here, and a node-local "
			   "store in "
			   "its place would silently hand the same address out on two nodes; use "
			   "\"file\" with \"store_dir\" on a mount shared by every node");
	} else if (strcmp(ds, "etcd") == 0) {
		c->datastore = IPAM_STORE_ETCD;
	} else {
		return bad(err, "ipam.datastore", ds,
			   "unknown datastore (use \"file\" or \"etcd\")");
	}
	if (!c->store_dir || !*c->store_dir)
		c->store_dir = IPAM_DEFAULT_STORE_DIR;
	if (c->store_dir[0] != '/')
		return bad(err, "ipam.store_dir", c->store_dir, "must be an absolute path");
	if (strlen(c->store_dir) > PATH_MAX - 512)
		return bad(err, "ipam.store_dir", c->store_dir, "path too long");
	c->lock_timeout_ms = timeout;
	return 0;
}

static bool valid_network_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > IPAM_NETWORK_NAME_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_'))
			return false;
	}
	return true;
}

/* Append one range from @obj (the top-level ipam object or an ipRanges entry). */
static int add_range(struct ipam_config *c, struct json_object *obj, const char *where,
		     const char *spec, struct cni_error *err)
{
	const char *start = NULL, *end = NULL, **excl = NULL;
	char key[128], kstart[128], kend[128];
	size_t n_excl = 0;
	struct ipam_range r = { 0 };
	int rc = -1;

	if (c->n_ranges == MAX_RANGES)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: more than %d ranges",
			       MAX_RANGES);
	if (cni_json_string(obj, where, "range_start", &start, err) < 0 ||
	    cni_json_string(obj, where, "range_end", &end, err) < 0 ||
	    cni_json_string_array(obj, where, "exclude", &excl, &n_excl, err) < 0)
		return -1;
	if (start && !*start)
		start = NULL;
	if (end && !*end)
		end = NULL;
	snprintf(key, sizeof(key), "%s.range", where);
	snprintf(kstart, sizeof(kstart), "%s.range_start", where);
	snprintf(kend, sizeof(kend), "%s.range_end", where);
	if (ipam_range_parse(key, spec, kstart, start, kend, end, &r, err) < 0)
		goto out;
	if (n_excl > MAX_EXCLUDES) {
		cni_err(err, CNI_ERR_CONFIG,
			"invalid config: \"%s.exclude\" has more than %d entries", where,
			MAX_EXCLUDES);
		goto out;
	}
	for (size_t i = 0; i < n_excl; i++) {
		snprintf(key, sizeof(key), "%s.exclude[%zu]", where, i);
		if (ipam_range_exclude(&r, key, excl[i], err) < 0)
			goto out;
	}
	c->ranges[c->n_ranges++] = r;
	rc = 0;
out:
	if (rc < 0)
		ipam_range_free(&r); /* accepts what a failed parse left */
	free(excl);
	return rc;
}

/* The key of range @i: the top-level "range" (when @top) comes first, then ipRanges. */
static void range_key(size_t i, bool top, char *buf, size_t size)
{
	if (top && i == 0)
		snprintf(buf, size, "ipam.range");
	else
		snprintf(buf, size, "ipam.ipRanges[%zu].range", i - (top ? 1 : 0));
}

/*
 * Two ranges of one CIDR are one pool: the second finds the allocation the first just made
 * for this attachment, and the same address would be handed out twice in one result.
 */
static int check_repeats(const struct ipam_config *c, bool top, struct cni_error *err)
{
	char key[64], first[64];

	for (size_t i = 1; i < c->n_ranges; i++) {
		for (size_t k = 0; k < i; k++) {
			if (strcmp(c->ranges[i].cidr, c->ranges[k].cidr) != 0)
				continue;
			range_key(i, top, key, sizeof(key));
			range_key(k, top, first, sizeof(first));
			return cni_err(
				err, CNI_ERR_CONFIG,
				"invalid config: \"%s\" repeats the range %s of \"%s\"; give each "
				"CIDR once",
				key, c->ranges[i].cidr, first);
		}
	}
	return 0;
}

/*
 * Element @i of the array "ipam.@key" @arr, which must be an object; its name, for messages,
 * in @where. Return: the object, or NULL with @err set.
 */
static struct json_object *array_object(struct json_object *arr, const char *key, size_t i,
					char *where, size_t size, struct cni_error *err)
{
	struct json_object *o = json_object_array_get_idx(arr, i);

	snprintf(where, size, "ipam.%s[%zu]", key, i);
	if (!o || !json_object_is_type(o, json_type_object)) {
		cni_err(err, CNI_ERR_CONFIG, "invalid config: \"%s\" must be an object", where);
		return NULL;
	}
	return o;
}

/* The array "ipam.@key" in @ret_arr. Return: its length (0 when absent), or -1 with @err. */
static int config_array(struct ipam_config *c, const char *key, struct json_object **ret_arr,
			struct cni_error *err)
{
	*ret_arr = NULL;
	if (cni_json_array(c->merged, "ipam", key, ret_arr, err) < 0)
		return -1;
	return *ret_arr ? (int)json_object_array_length(*ret_arr) : 0;
}

static int load_ranges(struct ipam_config *c, struct cni_error *err)
{
	struct json_object *arr = NULL;
	const char *range = NULL;
	size_t n;

	if (cni_json_string(c->merged, "ipam", "range", &range, err) < 0 ||
	    cni_json_array(c->merged, "ipam", "ipRanges", &arr, err) < 0)
		return -1;
	n = (range && *range ? 1 : 0) + (arr ? json_object_array_length(arr) : 0);
	if (n == 0)
		return cni_err(err, CNI_ERR_CONFIG,
			       "invalid config: \"ipam.range\" or \"ipam.ipRanges\" is required");
	c->ranges = calloc(n > MAX_RANGES ? MAX_RANGES : n, sizeof(*c->ranges));
	if (!c->ranges)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	if (range && *range) {
		if (add_range(c, c->merged, "ipam", range, err) < 0)
			return -1;
	} else {
		/* these apply to "range" only; whereabouts would drop them without a word */
		static const char *const top_only[] = { "range_start", "range_end", "exclude" };

		for (size_t i = 0; i < 3; i++) {
			struct json_object *v = cni_json_get(c->merged, top_only[i]);

			if (!json_empty(v))
				return cni_err(
					err, CNI_ERR_CONFIG,
					"invalid config: \"ipam.%s\" applies to \"ipam.range\", "
					"which is "
					"not set; put it inside each \"ipam.ipRanges\" entry",
					top_only[i]);
		}
	}
	for (size_t i = 0; arr && i < json_object_array_length(arr); i++) {
		const char *spec = NULL;
		char where[64];
		struct json_object *o = array_object(arr, "ipRanges", i, where, sizeof(where), err);

		if (!o)
			return -1;
		if (cni_json_string(o, where, "range", &spec, err) < 0)
			return -1;
		if (!spec || !*spec)
			return cni_err(err, CNI_ERR_CONFIG,
				       "invalid config: \"%s.range\" is missing", where);
		if (add_range(c, o, where, spec, err) < 0)
			return -1;
	}
	return check_repeats(c, range && *range, err);
}

static int load_gateway(struct ipam_config *c, struct cni_error *err)
{
	const char *gw = NULL;
	bool inside = false;

	if (cni_json_string(c->merged, "ipam", "gateway", &gw, err) < 0)
		return -1;
	if (!gw || !*gw)
		return 0;
	if (ipam_addr_parse(gw, &c->gateway_family, &c->gateway) < 0)
		return bad(err, "ipam.gateway", gw, "not an IP address");
	for (size_t i = 0; i < c->n_ranges; i++) {
		struct ipam_range *r = &c->ranges[i];
		char a[INET6_ADDRSTRLEN + 8];

		if (!ipam_range_contains_cidr(r, c->gateway_family, c->gateway))
			continue;
		inside = true;
		/* never hand the gateway out */
		ipam_addr_format(r->family, c->gateway, a, sizeof(a));
		if (ipam_range_exclude(r, "ipam.gateway", a, err) < 0)
			return -1;
	}
	if (!inside)
		return bad(err, "ipam.gateway", gw, "not inside any configured range");
	c->has_gateway = true;
	return 0;
}

/* The keys of an element of "ipam.routes" or "ipam.addresses", and what a bad value is not. */
struct cidr_gw_keys {
	const char *array, *cidr, *not_cidr, *gw, *not_gw;
};

static const struct cidr_gw_keys route_keys = { "routes", "dst", "not a CIDR", "gw",
						"not an IP address of the destination's family" };
static const struct cidr_gw_keys address_keys = { "addresses", "address",
						  "not a CIDR (ADDRESS/LEN)", "gateway",
						  "not an IP address of the address's family" };

/*
 * Element @i of the array @arr of @k: its CIDR (required) and its gateway (optional, of the
 * CIDR's family; family 0 when absent). Return: 0, or -1 with @err naming the key.
 */
static int cidr_gw(struct json_object *arr, size_t i, const struct cidr_gw_keys *k,
		   struct cni_addr *ret_cidr, uint8_t *ret_len, struct cni_addr *ret_gw,
		   struct cni_error *err)
{
	const char *cidr = NULL, *gw = NULL;
	char where[48], key[64];
	struct json_object *o = array_object(arr, k->array, i, where, sizeof(where), err);

	if (!o)
		return -1;
	if (cni_json_string(o, where, k->cidr, &cidr, err) < 0 ||
	    cni_json_string(o, where, k->gw, &gw, err) < 0)
		return -1;
	snprintf(key, sizeof(key), "%s.%s", where, k->cidr);
	if (!cidr)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"%s\" is missing", key);
	if (cni_cidr_parse(cidr, ret_cidr, ret_len) < 0)
		return bad(err, key, cidr, k->not_cidr);
	snprintf(key, sizeof(key), "%s.%s", where, k->gw);
	if (gw && *gw && (cni_addr_parse(gw, ret_gw) < 0 || ret_gw->family != ret_cidr->family))
		return bad(err, key, gw, k->not_gw);
	return 0;
}

static int load_routes(struct ipam_config *c, struct cni_error *err)
{
	struct json_object *arr;
	int n = config_array(c, route_keys.array, &arr, err);

	if (n <= 0)
		return n;
	c->routes = calloc((size_t)n, sizeof(*c->routes));
	if (!c->routes)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	for (; c->n_routes < (size_t)n; c->n_routes++) {
		struct cni_route *rt = &c->routes[c->n_routes];

		rt->mtu = rt->advmss = rt->priority = rt->table = rt->scope = CNI_UNSET;
		if (cidr_gw(arr, c->n_routes, &route_keys, &rt->dst, &rt->dst_len, &rt->gw, err) <
		    0)
			return -1;
	}
	return 0;
}

static int load_addresses(struct ipam_config *c, struct cni_error *err)
{
	struct json_object *arr;
	int n = config_array(c, address_keys.array, &arr, err);

	if (n <= 0)
		return n;
	c->addresses = calloc((size_t)n, sizeof(*c->addresses));
	if (!c->addresses)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	for (; c->n_addresses < (size_t)n; c->n_addresses++) {
		struct ipam_static *a = &c->addresses[c->n_addresses];

		if (cidr_gw(arr, c->n_addresses, &address_keys, &a->addr, &a->prefixlen,
			    &a->gateway, err) < 0)
			return -1;
	}
	return 0;
}

static int load(struct ipam_config *c, struct cni_error *err)
{
	struct json_object *dns = NULL;

	if (load_datastore(c, err) < 0)
		return -1;
	if (cni_json_string(c->merged, "ipam", "network_name", &c->network_name, err) < 0)
		return -1;
	if (c->network_name && !*c->network_name)
		c->network_name = NULL;
	if (c->network_name && !valid_network_name(c->network_name))
		return bad(err, "ipam.network_name", c->network_name,
			   "use 1-200 letters, digits, '-', '.' or '_', starting with a letter or "
			   "digit");
	c->overlapping = true;
	if (cni_json_bool(c->merged, "ipam", "enable_overlapping_ranges", &c->overlapping, err) < 0)
		return -1;
	if (load_ranges(c, err) < 0 || load_gateway(c, err) < 0 || load_routes(c, err) < 0 ||
	    load_addresses(c, err) < 0)
		return -1;
	if (cni_json_object(c->merged, "ipam", "dns", &dns, err) < 0)
		return -1;
	if (dns && cni_dns_parse(dns, "ipam.dns", &c->dns, err) < 0)
		return -1;
	return 0;
}

int ipam_config_load(struct json_object *ipam, const char *const *flat_paths,
		     struct ipam_config *ret, struct cni_error *err)
{
	struct ipam_config c = { 0 };

	if (!ipam)
		return cni_err(err, CNI_ERR_CONFIG, "invalid config: \"ipam\" is missing");
	if (json_object_deep_copy(ipam, &c.merged, NULL) < 0)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	if (apply_flat_file(&c, flat_paths ? flat_paths : ipam_flat_file_paths, err) < 0 ||
	    load(&c, err) < 0) {
		if (c.flat_file[0] && err && !err->details[0])
			cni_err_details(err,
					"keys absent from the inline config were taken from the "
					"flat file %s",
					c.flat_file);
		ipam_config_free(&c);
		return -1;
	}
	*ret = c;
	return 0;
}

void ipam_config_free(struct ipam_config *c)
{
	for (size_t i = 0; i < c->n_ranges; i++)
		ipam_range_free(&c->ranges[i]);
	free(c->ranges);
	free(c->routes);
	free(c->addresses);
	cni_dns_free(&c->dns);
	json_object_put(c->merged);
	memset(c, 0, sizeof(*c));
}

bool ipam_gateway_for(const struct ipam_config *c, const struct ipam_range *r)
{
	return c->has_gateway && ipam_range_contains_cidr(r, c->gateway_family, c->gateway);
}
