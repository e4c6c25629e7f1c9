// SPDX-License-Identifier: Apache-2.0
/* The result model: addresses, growing arrays, DNS, and freeing. JSON lives in result_json.c. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cni/json.h"
#include "cni/result.h"

int cni_addr_parse(const char *s, struct cni_addr *ret)
{
	struct cni_addr a = { 0 };

	if (inet_pton(AF_INET, s, a.bytes) == 1)
		a.family = AF_INET;
	else if (inet_pton(AF_INET6, s, a.bytes) == 1)
		a.family = AF_INET6;
	else
		return -1;
	*ret = a;
	return 0;
}

int cni_cidr_parse(const char *s, struct cni_addr *ret_addr, uint8_t *ret_prefixlen)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	struct cni_addr a;
	char *end;
	unsigned long len;
	size_t n;

	if (!slash || (n = slash - s) >= sizeof(buf) || !slash[1])
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (cni_addr_parse(buf, &a) < 0)
		return -1;
	/* only plain decimal digits: no sign, spaces or hex */
	for (const char *p = slash + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return -1;
	len = strtoul(slash + 1, &end, 10);
	if (len > (a.family == AF_INET ? 32u : 128u))
		return -1;
	*ret_addr = a;
	*ret_prefixlen = len;
	return 0;
}

const char *cni_addr_format(const struct cni_addr *a, char *buf, size_t size)
{
	if (!a->family || !inet_ntop(a->family, a->bytes, buf, size))
		snprintf(buf, size, "?");
	return buf;
}

bool cni_addr_equal(const struct cni_addr *a, const struct cni_addr *b)
{
	size_t len = a->family == AF_INET ? 4 : 16;

	return a->family == b->family && memcmp(a->bytes, b->bytes, len) == 0;
}

/* Grow @*arr of @*n elements of @size by one zeroed element. Return: it, or NULL. */
static void *append(void *arr_ptr, size_t *n, size_t size)
{
	void **arr = arr_ptr;
	char *grown = realloc(*arr, (*n + 1) * size);

	if (!grown)
		return NULL;
	*arr = grown;
	memset(grown + *n * size, 0, size);
	return grown + (*n)++ * size;
}

static char *dup_or_null(const char *s)
{
	return s ? strdup(s) : NULL;
}

int cni_result_add_interface(struct cni_result *r, const char *name, const char *mac,
			     const char *sandbox)
{
	struct cni_interface *i = append(&r->interfaces, &r->n_interfaces, sizeof(*i));

	if (!i)
		return -1;
	i->name = dup_or_null(name);
	i->mac = dup_or_null(mac);
	i->sandbox = dup_or_null(sandbox);
	return (int)(r->n_interfaces - 1);
}

int cni_result_add_ip(struct cni_result *r, const struct cni_ip *ip)
{
	struct cni_ip *slot = append(&r->ips, &r->n_ips, sizeof(*slot));

	if (!slot)
		return -1;
	*slot = *ip;
	return 0;
}

int cni_result_add_route(struct cni_result *r, const struct cni_route *route)
{
	struct cni_route *slot = append(&r->routes, &r->n_routes, sizeof(*slot));

	if (!slot)
		return -1;
	*slot = *route;
	return 0;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int copy_strings(struct json_object *obj, const char *where, const char *key, char ***ret,
			size_t *ret_n, struct cni_error *err)
{
	const char **v;
	size_t n;
	char **out;
	int r = cni_json_string_array(obj, where, key, &v, &n, err);

	if (r <= 0)
		return r;
	out = calloc(n ? n : 1, sizeof(*out));
	for (size_t i = 0; out && i < n; i++) {
		out[i] = strdup(v[i]);
		if (!out[i]) {
			free_strings(out, i);
			out = NULL;
		}
	}
	free(v);
	if (!out)
		return cni_err(err, CNI_ERR_INTERNAL, "out of memory");
	*ret = out;
	*ret_n = n;
	return 1;
}

void cni_dns_free(struct cni_dns *d)
{
	free_strings(d->nameservers, d->n_nameservers);
	free(d->domain);
	free_strings(d->search, d->n_search);
	free_strings(d->options, d->n_options);
	memset(d, 0, sizeof(*d));
}

int cni_dns_parse(struct json_object *obj, const char *where, struct cni_dns *ret,
		  struct cni_error *err)
{
	struct cni_dns d = { 0 };
	const char *domain = NULL;

	if (copy_strings(obj, where, "nameservers", &d.nameservers, &d.n_nameservers, err) < 0 ||
	    cni_json_string(obj, where, "domain", &domain, err) < 0 ||
	    copy_strings(obj, where, "search", &d.search, &d.n_search, err) < 0 ||
	    copy_strings(obj, where, "options", &d.options, &d.n_options, err) < 0)
		goto out;
	if (domain && !(d.domain = strdup(domain))) {
		cni_err(err, CNI_ERR_INTERNAL, "out of memory");
		goto out;
	}
	*ret = d;
	return 0;
out:
	cni_dns_free(&d);
	return -1;
}

bool cni_dns_empty(const struct cni_dns *d)
{
	return !d->n_nameservers && !d->domain && !d->n_search && !d->n_options;
}

void cni_result_free(struct cni_result *r)
{
	for (size_t i = 0; i < r->n_interfaces; i++) {
		free(r->interfaces[i].name);
		free(r->interfaces[i].mac);
		free(r->interfaces[i].sandbox);
		free(r->interfaces[i].socket_path);
		free(r->interfaces[i].pci_id);
	}
	free(r->interfaces);
	free(r->ips);
	free(r->routes);
	cni_dns_free(&r->dns);
	memset(r, 0, sizeof(*r));
}
