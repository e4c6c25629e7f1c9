// SPDX-License-Identifier: Apache-2.0
/*
 * The HyperConverged liveMigrationConfig applied to a QEMU migration, as KubeVirt's
 * migration monitor does:
 *
 *   completionTimeoutPerGiB  past value x max(1, guest GiB) seconds: switch to post-copy
 *                            when allowPostCopy, else cancel
 *   progressTimeout          ram.remaining did not go below its lowest value for that long:
 *                            cancel (in post-copy nothing can be cancelled any more: wait)
 *
 * A cancel is migrate_cancel: the source VM keeps running, untouched.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mig_config.h"
#include "vm.h"

void vm_policy_init(struct vm_policy *p, const struct vm_opts *o, uint64_t guest_memory, double t0)
{
	double gib = (double)guest_memory / (double)(1ull << 30);

	*p = (struct vm_policy){ .t0 = t0,
				 .progress_timeout = o->progress_timeout,
				 .post_copy = o->post_copy,
				 .least_remaining = UINT64_MAX,
				 .least_at = t0 };
	if (o->completion_timeout_per_gib)
		p->deadline = t0 + o->completion_timeout_per_gib * (gib < 1 ? 1 : gib);
}

enum vm_action vm_policy_check(struct vm_policy *p, const struct mig_qemu_migration *m, double now,
			       char *why, size_t size)
{
	if (!strcmp(m->status, "postcopy-active"))
		p->in_postcopy = true;
	if (p->in_postcopy)
		return VM_GO_ON;
	if (strcmp(m->status, "active"))
		return VM_GO_ON; /* setup, device, completed, failed: nothing to decide */
	if (m->remaining < p->least_remaining) {
		p->least_remaining = m->remaining;
		p->least_at = now;
	}
	if (p->deadline && now > p->deadline) {
		snprintf(why, size,
			 "the migration did not complete in %.0f s "
			 "(completionTimeoutPerGiB)",
			 p->deadline - p->t0);
		return p->post_copy ? VM_POSTCOPY : VM_CANCEL;
	}
	if (p->progress_timeout && now - p->least_at > p->progress_timeout) {
		snprintf(why, size,
			 "no progress for %u s: QEMU's remaining RAM did not go down "
			 "(progressTimeout)",
			 p->progress_timeout);
		return VM_CANCEL;
	}
	return VM_GO_ON;
}

int vm_policy_config(struct vm_opts *o)
{
	struct mig_error err = { 0 };
	struct mig_config cfg;

	if (!o->config)
		return 0;
	if (mig_config_load(o->config, &cfg, &err) < 0) {
		fprintf(stderr, "mignet migrate: %s\n", err.msg);
		return EXIT_USAGE;
	}
	/* the command line wins over the file */
	if (cfg.has_bandwidth && !o->set_bw)
		o->bandwidth = cfg.bandwidth;
	if (cfg.has_completion && !o->set_cto)
		o->completion_timeout_per_gib = cfg.completion_timeout_per_gib;
	if (cfg.has_progress && !o->set_pto)
		o->progress_timeout = cfg.progress_timeout;
	if (cfg.has_parallel && !o->set_par)
		o->parallel = cfg.parallel_outbound;
	if (cfg.has_auto_converge && !o->set_ac)
		o->auto_converge = cfg.allow_auto_converge;
	if (cfg.has_post_copy && !o->set_pc)
		o->post_copy = cfg.allow_post_copy;
	return 0;
}
