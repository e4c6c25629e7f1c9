/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A QEMU's migration through QMP: its settings (capabilities and parameters, the same
 * object on both sides: mig_control.h's setup), its RAM size, and query-migrate's figures.
 */
#ifndef MIGNET_MIGRATION_MIG_QEMU_H
#define MIGNET_MIGRATION_MIG_QEMU_H

#include <json-c/json.h>
#include <stdint.h>

#include "mig.h"
#include "mig_qmp.h"

/* query-migrate, as far as mignet uses it */
struct mig_qemu_migration {
	char status[32];      /* "none", "setup", "active", "postcopy-active", "completed",
			       * "failed", "cancelling", "cancelled", "device", ... */
	char error[256];      /* error-desc when failed */
	uint64_t total;	      /* ram.total */
	uint64_t remaining;   /* ram.remaining */
	uint64_t transferred; /* ram.transferred */
	uint64_t dirty_rate;  /* ram.dirty-pages-rate x ram.page-size, bytes/s */
	double mbps;	      /* ram.mbps */
	uint64_t dirty_sync_count;
	uint64_t total_time_ms; /* total-time (or expected so far) */
	uint64_t downtime_ms;	/* downtime, when completed */
	uint64_t setup_time_ms;
	uint64_t postcopy_requests;
	unsigned int cpu_throttle; /* cpu-throttle-percentage (auto-converge) */
};

/**
 * mig_qemu_apply() - set @setup's "capabilities" and "parameters" (mig_control.h) on @q
 * Return: 0, or -errno with @err naming the command QEMU refused.
 */
int mig_qemu_apply(struct mig_qmp *q, struct json_object *setup, struct mig_error *err);

/** mig_qemu_ram() - the guest's RAM: query-memory-size-summary base + plugged memory. */
int mig_qemu_ram(struct mig_qmp *q, uint64_t *ret, struct mig_error *err);

/** mig_qemu_query() - query-migrate into @ret. Return: 0 or -errno. */
int mig_qemu_query(struct mig_qmp *q, struct mig_qemu_migration *ret, struct mig_error *err);

/** mig_qemu_simple() - run @cmd with one string argument @key=@value (NULL: none). */
int mig_qemu_simple(struct mig_qmp *q, const char *cmd, const char *key, const char *value,
		    struct mig_error *err);

#endif
