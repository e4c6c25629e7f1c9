// SPDX-License-Identifier: Apache-2.0
/*
 * parallelMigrationsPerCluster.
 *
 * Theory of operation
 *
 *   /mignet/migrations/slots/<i>    "<holder>"   attached to the sender's lease, 0 <= i < N
 *
 * A sender grants itself a lease (TTL 10 s by default) and takes the lowest free slot with a
 * txn "if slots/<i> does not exist, put it with my lease". While no slot is free it lists the
 * slots again after a jittered pause (100-300 ms), renewing its lease meanwhile, until its
 * wait bound. Once it holds a slot, a thread renews the lease every TTL/3 until release,
 * which revokes the lease (deleting the slot key at once). A sender that crashes or is cut
 * off stops renewing: etcd deletes the slot when the lease expires, so a slot is never held
 * for longer than TTL after its holder died.
 *
 * Waiters are not queued in order (whoever lists first after a release wins); every sender
 * must use the same N (a sender only looks at slots below its own N).
 */
#include <errno.h>
#include <inttypes.h>
#include <json-c/json.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "etcd/kv.h"
#include "mig.h"
#include "mig_cluster_limit.h"
#include "util/clock.h"

#define MAX_LIMIT 10000

struct mig_cluster_slot {
	struct etcd_client *etcd;
	int64_t lease;
	unsigned int index, ttl;
	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool stop, lost, running;
};

static const char *opt_or_env(const char *v, const char *env)
{
	return v ? v : getenv(env);
}

static void *keepalive_thread(void *arg)
{
	struct mig_cluster_slot *s = arg;
	int64_t period = (int64_t)s->ttl * 1000 / 3;

	pthread_mutex_lock(&s->mu);
	while (!s->stop) {
		struct timespec until;
		int64_t ttl, r;

		/* monotonic: a wall clock stepped back must not stop the renewals */
		mig_deadline(&until, period);
		pthread_cond_timedwait(&s->cv, &s->mu, &until);
		if (s->stop)
			break;
		pthread_mutex_unlock(&s->mu);
		etcd_client_set_deadline(s->etcd, period);
		r = etcd_lease_keepalive(s->etcd, s->lease, &ttl);
		pthread_mutex_lock(&s->mu);
		if (r == -ENOENT)
			s->lost = true;
	}
	pthread_mutex_unlock(&s->mu);
	return NULL;
}

static int take_free_slot(struct etcd_client *c, const struct mig_cluster_opts *o, int64_t lease,
			  unsigned int *ret_index)
{
	char end[64], key[64];
	size_t plen = strlen(MIG_CLUSTER_PREFIX), elen;
	struct etcd_range_result rr = { 0 };
	bool *held = calloc(o->limit, sizeof(*held));
	int r;

	if (!held)
		return -ENOMEM;
	elen = etcd_prefix_end(MIG_CLUSTER_PREFIX, plen, end);
	r = etcd_range(c, MIG_CLUSTER_PREFIX, plen, end, elen, 0, true, &rr);
	if (r < 0)
		goto out;
	for (size_t i = 0; i < rr.n_kvs; i++) {
		char *tail;
		unsigned long idx = strtoul(rr.kvs[i].key + plen, &tail, 10);

		if (*tail == '\0' && idx < o->limit)
			held[idx] = true;
	}
	r = -EBUSY;
	for (unsigned int i = 0; i < o->limit; i++) {
		struct etcd_txn_result tr = { 0 };
		struct etcd_cmp cmp = { .key = key,
					.target = ETCD_CMP_CREATE,
					.result = ETCD_EQUAL };
		struct etcd_op put = {
			.kind = ETCD_OP_PUT, .key = key, .value = o->holder, .lease = lease
		};
		int t;

		if (held[i])
			continue;
		snprintf(key, sizeof(key), "%s%u", MIG_CLUSTER_PREFIX, i);
		t = etcd_txn(c, &cmp, 1, &put, 1, NULL, 0, &tr);
		if (t < 0) {
			r = t;
			break;
		}
		if (tr.succeeded) {
			etcd_txn_result_free(&tr);
			*ret_index = i;
			r = 0;
			break;
		}
		etcd_txn_result_free(&tr);
	}
out:
	etcd_range_result_free(&rr);
	free(held);
	return r;
}

int mig_cluster_slot_acquire(const struct mig_cluster_opts *o, struct mig_cluster_slot **ret,
			     char *errbuf, size_t errlen)
{
	struct etcd_config cfg = {
		.endpoints = o->endpoints,
		.ca_file = opt_or_env(o->ca_file, "MIGNET_ETCD_CA_CERT_FILE"),
		.cert_file = opt_or_env(o->cert_file, "MIGNET_ETCD_CERT_FILE"),
		.key_file = opt_or_env(o->key_file, "MIGNET_ETCD_KEY_FILE"),
		.username = opt_or_env(o->username, "MIGNET_ETCD_USERNAME"),
		.password = opt_or_env(o->password, "MIGNET_ETCD_PASSWORD"),
	};
	struct mig_cluster_slot *s;
	unsigned int ttl = o->ttl ? o->ttl : MIG_CLUSTER_DEFAULT_TTL;
	int64_t start = util_now_ms(), renewed, step = (int64_t)ttl * 1000 / 3, t;
	bool said = false;
	uint64_t rng = (uint64_t)start ^ ((uint64_t)getpid() << 20);
	int r;

	if (errlen)
		errbuf[0] = '\0';
	if (!o->limit || o->limit > MAX_LIMIT || !o->holder) {
		snprintf(errbuf, errlen, "parallelMigrationsPerCluster must be 1..%d", MAX_LIMIT);
		return -EINVAL;
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->ttl = ttl;
	r = etcd_client_new(&cfg, &s->etcd, errbuf, errlen);
	if (r < 0)
		goto out;
	etcd_client_set_deadline(s->etcd, step > 2000 ? step : 2000);
	r = etcd_lease_grant(s->etcd, ttl, &s->lease, NULL);
	if (r < 0)
		goto out;
	renewed = util_now_ms();
	for (;;) {
		etcd_client_set_deadline(s->etcd, step > 2000 ? step : 2000);
		if (util_now_ms() - renewed >= step) {
			r = etcd_lease_keepalive(s->etcd, s->lease, &t);
			if (r < 0)
				goto out;
			renewed = util_now_ms();
		}
		r = take_free_slot(s->etcd, o, s->lease, &s->index);
		if (r == 0)
			break;
		if (r != -EBUSY)
			goto out;
		if (o->wait_ms >= 0 && util_now_ms() - start >= o->wait_ms) {
			snprintf(errbuf, errlen,
				 "all %u cluster-wide migration slots are taken "
				 "(parallelMigrationsPerCluster=%u)",
				 o->limit, o->limit);
			goto out;
		}
		if (!said && o->on_wait)
			o->on_wait(o->arg, o->limit);
		said = true;
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		usleep((useconds_t)(100 + rng % 200) * 1000);
	}
	pthread_mutex_init(&s->mu, NULL);
	r = mig_cond_init(&s->cv);
	if (r == 0)
		r = -pthread_create(&s->thread, NULL, keepalive_thread, s);
	if (r < 0) {
		snprintf(errbuf, errlen, "cannot start the lease thread");
		goto out;
	}
	s->running = true;
	*ret = s;
	return 0;
out:
	/* a failed etcd call left its message in the client */
	if (errlen && !errbuf[0])
		snprintf(errbuf, errlen, "etcd: %s", etcd_client_errmsg(s->etcd));
	if (s->lease) {
		etcd_client_set_deadline(s->etcd, 2000);
		etcd_lease_revoke(s->etcd, s->lease);
	}
	etcd_client_free(s->etcd);
	free(s);
	return r;
}

unsigned int mig_cluster_slot_index(const struct mig_cluster_slot *s)
{
	return s->index;
}

bool mig_cluster_slot_lost(const struct mig_cluster_slot *s)
{
	return s->lost;
}

void mig_cluster_slot_release(struct mig_cluster_slot *s)
{
	if (!s)
		return;
	if (s->running) {
		pthread_mutex_lock(&s->mu);
		s->stop = true;
		pthread_cond_signal(&s->cv);
		pthread_mutex_unlock(&s->mu);
		pthread_join(s->thread, NULL);
		pthread_mutex_destroy(&s->mu);
		pthread_cond_destroy(&s->cv);
	}
	etcd_client_set_deadline(s->etcd, 2000);
	etcd_lease_revoke(s->etcd, s->lease);
	etcd_client_free(s->etcd);
	free(s);
}

int mig_cluster_config_load(const char *path, unsigned int *ret_limit, char **ret_endpoints)
{
	struct json_object *root = json_object_from_file(path), *o, *v;
	int r = 0;

	*ret_limit = 0;
	*ret_endpoints = NULL;
	if (!root)
		return -EINVAL;
	o = root;
	if (json_object_object_get_ex(root, "liveMigrationConfig", &v) &&
	    json_object_is_type(v, json_type_object))
		o = v;
	if (json_object_object_get_ex(o, "parallelMigrationsPerCluster", &v)) {
		int64_t n = json_object_get_int64(v);

		if (!json_object_is_type(v, json_type_int) || n < 1 || n > MAX_LIMIT)
			r = -EINVAL;
		else
			*ret_limit = (unsigned int)n;
	}
	if (r == 0 && json_object_object_get_ex(o, "etcd", &v)) {
		if (!json_object_is_type(v, json_type_string))
			r = -EINVAL;
		else if (!(*ret_endpoints = strdup(json_object_get_string(v))))
			r = -ENOMEM;
	}
	json_object_put(root);
	return r;
}
