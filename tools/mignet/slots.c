// SPDX-License-Identifier: Apache-2.0
/* Waiting for a migration slot (slots.h). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <unistd.h>

#include "mig_limit.h"
#include "slots.h"

/* With --json, the line {"event": @event} (and @key: @limit unless @key is NULL) on stdout. */
static void print_event(const struct slot_waiter *w, const char *event, const char *key,
			unsigned int limit)
{
	struct json_object *o;

	if (!w->json)
		return;
	o = json_object_new_object();
	json_object_object_add(o, "event", json_object_new_string(event));
	if (key)
		json_object_object_add(o, key, json_object_new_int((int)limit));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

int slot_outbound(const struct slot_waiter *w, const char *dir, unsigned int limit)
{
	bool said = false;
	int fd;

	while ((fd = mig_limit_try(dir, limit)) == -EBUSY) {
		if (!said) {
			fprintf(stderr,
				"%s: waiting: %u outbound migration(s) already run "
				"on this node (parallelOutboundMigrationsPerNode=%u)\n",
				w->who, limit, limit);
			print_event(w, "queued", "limit", limit);
			said = true;
		}
		usleep(200 * 1000);
	}
	if (fd >= 0 && said) {
		fprintf(stderr, "%s: got an outbound slot, starting\n", w->who);
		print_event(w, "dequeued", NULL, 0);
	}
	return fd;
}

/* Said once when every cluster-wide slot (etcd) is taken. */
void slot_cluster_waiting(void *arg, unsigned int limit)
{
	const struct slot_waiter *w = arg;

	fprintf(stderr,
		"%s: waiting: %u migration(s) already run in the cluster "
		"(parallelMigrationsPerCluster=%u)\n",
		w->who, limit, limit);
	print_event(w, "queued", "clusterLimit", limit);
}
