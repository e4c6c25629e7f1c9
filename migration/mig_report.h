/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The final report as JSON (one line, the "report" event of --json) and as text.
 *
 * Keys: event, role, targetNodeAddress, sourceAddress, interface, port, memoryBytes, pageSize,
 * bytes, pageBytes, seconds, gbps, cpuSeconds, streams, rounds, downtimeMs, verified, digest,
 * peerDigest, dirtyTracking, checksumRaces, rejectedConnections, connectRetries, zerocopy {mode,
 * sends, completions, copied, enobufs, fallbacks}, and error when it failed.
 */
#ifndef MIGNET_MIGRATION_MIG_REPORT_H
#define MIGNET_MIGRATION_MIG_REPORT_H

#include <json-c/json.h>
#include <stddef.h>

#include "mig.h"

/**
 * mig_report_json() - the report as a new json object (json_object_put() it)
 * @err: the failure, or NULL / code 0 when the migration succeeded.
 * Return: the object, NULL when out of memory.
 */
struct json_object *mig_report_json(const struct mig_report *r, const struct mig_error *err);

/** mig_report_text() - a few lines for a human into @buf. Return: @buf. */
const char *mig_report_text(const struct mig_report *r, char *buf, size_t size);

#endif
