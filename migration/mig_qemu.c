// SPDX-License-Identifier: Apache-2.0
/* A QEMU's migration settings and figures through QMP (mig_qemu.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mig_qemu.h"

static int set_capabilities(struct mig_qmp *q, struct json_object *caps, struct mig_error *err)
{
	struct json_object *list = json_object_new_array(), *args = json_object_new_object();

	json_object_object_foreach(caps, k, v)
	{
		struct json_object *c = json_object_new_object();

		json_object_object_add(c, "capability", json_object_new_string(k));
		json_object_object_add(c, "state",
				       json_object_new_boolean(json_object_get_boolean(v)));
		json_object_array_add(list, c);
	}
	json_object_object_add(args, "capabilities", list);
	return mig_qmp_exec(q, "migrate-set-capabilities", args, NULL, err);
}

int mig_qemu_apply(struct mig_qmp *q, struct json_object *setup, struct mig_error *err)
{
	struct json_object *caps = mig_json_get(setup, "capabilities", json_type_object);
	struct json_object *params = mig_json_get(setup, "parameters", json_type_object);
	int r = 0;

	if (caps)
		r = set_capabilities(q, caps, err);
	if (r == 0 && params && json_object_object_length(params))
		r = mig_qmp_exec(q, "migrate-set-parameters", json_object_get(params), NULL, err);
	return r;
}

static uint64_t get_u64(struct json_object *o, const char *key)
{
	struct json_object *v = mig_json_get(o, key, json_type_int);

	return v ? (uint64_t)json_object_get_int64(v) : 0;
}

int mig_qemu_ram(struct mig_qmp *q, uint64_t *ret, struct mig_error *err)
{
	struct json_object *v;
	int r;

	r = mig_qmp_exec(q, "query-memory-size-summary", NULL, &v, err);
	if (r < 0)
		return r;
	*ret = get_u64(v, "base-memory") + get_u64(v, "plugged-memory");
	json_object_put(v);
	return 0;
}

static void copy_str(char *buf, size_t size, struct json_object *o, const char *key)
{
	struct json_object *v = mig_json_get(o, key, json_type_string);

	snprintf(buf, size, "%s", v ? json_object_get_string(v) : "");
}

int mig_qemu_query(struct mig_qmp *q, struct mig_qemu_migration *m, struct mig_error *err)
{
	struct json_object *v, *ram, *mbps;
	int r;

	r = mig_qmp_exec(q, "query-migrate", NULL, &v, err);
	if (r < 0)
		return r;
	memset(m, 0, sizeof(*m));
	copy_str(m->status, sizeof(m->status), v, "status");
	if (!m->status[0])
		snprintf(m->status, sizeof(m->status), "none");
	copy_str(m->error, sizeof(m->error), v, "error-desc");
	m->total_time_ms = get_u64(v, "total-time");
	m->downtime_ms = get_u64(v, "downtime");
	m->setup_time_ms = get_u64(v, "setup-time");
	m->cpu_throttle = (unsigned int)get_u64(v, "cpu-throttle-percentage");
	ram = mig_json_get(v, "ram", json_type_object);
	if (ram) {
		m->total = get_u64(ram, "total");
		m->remaining = get_u64(ram, "remaining");
		m->transferred = get_u64(ram, "transferred");
		m->dirty_rate = get_u64(ram, "dirty-pages-rate") * get_u64(ram, "page-size");
		m->dirty_sync_count = get_u64(ram, "dirty-sync-count");
		m->postcopy_requests = get_u64(ram, "postcopy-requests");
		mbps = json_object_object_get_ex(ram, "mbps", &mbps) ? mbps : NULL;
		m->mbps = mbps ? json_object_get_double(mbps) : 0;
	}
	json_object_put(v);
	return 0;
}

int mig_qemu_simple(struct mig_qmp *q, const char *cmd, const char *key, const char *value,
		    struct mig_error *err)
{
	struct json_object *args = NULL;

	if (key) {
		args = json_object_new_object();
		json_object_object_add(args, key, json_object_new_string(value));
	}
	return mig_qmp_exec(q, cmd, args, NULL, err);
}
