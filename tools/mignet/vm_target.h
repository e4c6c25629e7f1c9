/* SPDX-License-Identifier: Apache-2.0 */
/* mignet incoming's state, shared by vm_incoming.c (accepting) and vm_target.c (watching). */
#ifndef MIGNET_TOOLS_VM_TARGET_H
#define MIGNET_TOOLS_VM_TARGET_H

#include "mig_forward_tls.h"
#include "mig_transport.h"
#include "vm.h"

struct target {
	struct vm_opts *o;
	struct vm_ui ui;
	struct vm_report rep;
	struct mig_qmp qmp;
	struct mig_listener l;
	bool have_session;
	struct mig_hello session;
	int ctl;		      /* the control connection */
	bool fd_mode;		      /* QEMU gets connection 1 itself (getfd, fd:) */
	int waiting[MIG_MAX_STREAMS]; /* data connections joined, not yet given to QEMU */
	unsigned int next;	      /* the next connection index QEMU gets */
	bool data_phase;
	double deadline;
	char sock[108]; /* the target QEMU's migrate-incoming socket */
	struct mig_forwarder fw;
	struct mig_tls_ctx *tls; /* NULL: --no-tls */
	struct mig_tls_streams tls_conns;
	struct mig_pump_ops tls_pump;
	struct mig_tls_shim *ctl_shim; /* the control connection's TLS */
	unsigned int progress_timeout; /* the source's (setup), for the watch */
	char source_said[32];	       /* the source QEMU's final status (done) */
	char reason[400];
};

/** vm_target_hand_over() - give QEMU the joined connections whose turn it is, in order. */
int vm_target_hand_over(struct target *t, struct mig_error *err);

/** vm_target_watch() - until the source says done (or is gone) and QEMU settled. */
void vm_target_watch(struct target *t);

#endif
