/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HyperConverged liveMigrationConfig settings from a JSON file (mignet send --config):
 * either the object itself or one holding it under "liveMigrationConfig".
 *
 *   bandwidthPerMigration              Kubernetes quantity string ("64Mi") or number, bytes/s
 *   completionTimeoutPerGiB            seconds
 *   progressTimeout                    seconds
 *   parallelOutboundMigrationsPerNode  count
 *   allowAutoConverge, allowPostCopy   booleans (mignet migrate)
 *   disableTLS                         boolean: KubeVirt's; TLS is on unless it is true
 *
 * Unknown keys are skipped; a known key of the wrong type is an error.
 */
#ifndef MIGNET_MIGRATION_MIG_CONFIG_H
#define MIGNET_MIGRATION_MIG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "mig.h"

struct mig_config {
	bool has_bandwidth, has_completion, has_progress, has_parallel;
	uint64_t bandwidth; /* bytes per second */
	unsigned int completion_timeout_per_gib;
	unsigned int progress_timeout;
	unsigned int parallel_outbound;
	bool has_auto_converge, has_post_copy;
	bool allow_auto_converge, allow_post_copy;
	bool has_disable_tls, disable_tls;
};

/**
 * mig_parse_quantity() - a Kubernetes quantity: "64Mi", "1Gi", "500k", "2M", "1024"
 * Ki, Mi, Gi, Ti are binary; k, M, G, T decimal. Return: 0, -EINVAL or -ERANGE.
 */
int mig_parse_quantity(const char *text, uint64_t *ret);

/** mig_config_parse() - parse @text (JSON). Return: 0 or -EINVAL with @err saying where. */
int mig_config_parse(const char *text, struct mig_config *ret, struct mig_error *err);

/** mig_config_load() - read and parse @path (at most 64 KiB). Return: 0 or -errno. */
int mig_config_load(const char *path, struct mig_config *ret, struct mig_error *err);

#endif
