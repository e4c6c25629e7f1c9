// SPDX-License-Identifier: Apache-2.0
/* Waiting for a migration slot (slots.h). */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <unistd.h>

#include "mig_limit.h"
#include "slots.h"

static void print_json(struct json_object *o)
{
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
			if (w->json) {
				struct json_object *o = json_object_new_object();

				json_object_object_add(o, "event",
						       json_object_new_string("queued"));
				json_object_object_add(o, "limit", json_object_new_int((int)limit));
				print_json(o);
			}
			said = true;
		}
		usleep(200 * 1000);
	}
	if (fd >= 0 && said) {
		fprintf(stderr, "%s: got an outbound slot, starting\n", w->who);
		if (w->json) {
			struct json_object *o = json_object_new_object();

			json_object_object_add(o, "event", json_object_new_string("dequeued"));
			print_json(o);
		}
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
	if (w->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "event", json_object_new_string("queued"));
		json_object_object_add(o, "clusterLimit", json_object_new_int((int)limit));
		print_json(o);
	}
}
