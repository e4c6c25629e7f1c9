/* SPDX-License-Identifier: Apache-2.0 */
/*
 * parallelMigrationsPerCluster: a cluster-wide limit on concurrent senders, as a counting
 * semaphore in etcd whose slots are held under a lease (docs/etcd.md).
 */
#ifndef MIGNET_MIGRATION_MIG_CLUSTER_LIMIT_H
#define MIGNET_MIGRATION_MIG_CLUSTER_LIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MIG_CLUSTER_PREFIX "/mignet/migrations/slots/"
#define MIG_CLUSTER_DEFAULT_TTL 10

struct mig_cluster_slot;

struct mig_cluster_opts {
	const char *endpoints; /* "http://a:2379,https://b:2379" */
	unsigned int limit;    /* parallelMigrationsPerCluster */
	unsigned int ttl;      /* lease seconds; 0: MIG_CLUSTER_DEFAULT_TTL */
	int64_t wait_ms;       /* how long to wait for a slot; < 0: forever */
	const char *holder;    /* written into the slot, for people: "node:pid" */
	/* TLS and auth; NULL: from $MIGNET_ETCD_CA_CERT_FILE, _CERT_FILE, _KEY_FILE, _USERNAME,
	 * _PASSWORD */
	const char *ca_file, *cert_file, *key_file, *username, *password;
	/* called once when the sender has to wait (may be NULL) */
	void (*on_wait)(void *arg, unsigned int limit);
	void *arg;
};

/**
 * mig_cluster_slot_acquire() - take one of the @o->limit slots, waiting up to @o->wait_ms
 * A thread keeps the slot's lease alive until mig_cluster_slot_release(); a sender that
 * dies loses its slot when the lease expires (@o->ttl seconds).
 * @errbuf: a message on failure
 * Return: 0 with *@ret set, -EBUSY when no slot freed up in time, -ETIMEDOUT when etcd could
 * not be reached, -EINVAL for bad options, or another negative errno.
 */
int mig_cluster_slot_acquire(const struct mig_cluster_opts *o, struct mig_cluster_slot **ret,
			     char *errbuf, size_t errlen);

/** mig_cluster_slot_index() - which slot is held. */
unsigned int mig_cluster_slot_index(const struct mig_cluster_slot *s);

/** mig_cluster_slot_lost() - true when the lease could not be kept alive (etcd lost it). */
bool mig_cluster_slot_lost(const struct mig_cluster_slot *s);

/** mig_cluster_slot_release() - stop renewing and revoke the lease; accepts NULL. */
void mig_cluster_slot_release(struct mig_cluster_slot *s);

/**
 * mig_cluster_config_load() - "parallelMigrationsPerCluster" and "etcd" from a --config file
 * (the object itself or under "liveMigrationConfig")
 * @ret_limit: set when the key is present (0 otherwise)
 * @ret_endpoints: a malloc'd copy when "etcd" is present, else NULL
 * Return: 0, or -errno (-EINVAL for a bad value).
 */
int mig_cluster_config_load(const char *path, unsigned int *ret_limit, char **ret_endpoints);

#endif
