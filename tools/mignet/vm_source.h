/* SPDX-License-Identifier: Apache-2.0 */
/* mignet migrate's state, shared by vm_migrate.c (setting up) and vm_source.c (running). */
#ifndef MIGNET_TOOLS_VM_SOURCE_H
#define MIGNET_TOOLS_VM_SOURCE_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>

#include "mig_forward_tls.h"
#include "mig_transport.h"
#include "vm.h"

struct source {
	struct vm_opts *o;
	struct vm_ui ui;
	struct vm_report rep;
	struct mig_qmp qmp;
	struct mig_dialer dial;
	struct mig_hello hello; /* of connection 0; k's differs in stream_index */
	int ctl;		/* the control connection */
	int ufd;		/* the unix listener QEMU connects to */
	char sock[108];
	unsigned int ndata; /* QEMU connections: main + multifd channels */
	struct mig_forwarder fw;
	struct mig_tls_ctx *tls; /* NULL: --no-tls */
	struct mig_tls_streams tls_conns;
	struct mig_pump_ops tls_pump;
	struct mig_tls_shim *ctl_shim; /* the control connection's TLS */
	pthread_t acceptor;
	bool acceptor_started;
	_Atomic bool stop;
	_Atomic int accept_failed;
	struct mig_error accept_err;
	struct vm_policy pol;
	double t0, cpu0;
	bool cancelled;	  /* we sent migrate_cancel */
	char reason[400]; /* why, or the first failure seen */
};

extern volatile sig_atomic_t vm_interrupted;

/** vm_source_run() - listen for QEMU, start its migration, watch it to the end. */
int vm_source_run(struct source *s, struct mig_error *err);

/** vm_source_run_fd() - the same over one TCP connection handed to QEMU (getfd, fd:). */
int vm_source_run_fd(struct source *s, struct mig_error *err);

/** vm_source_conclude() - done to the target, its status back, the VM's side decided. */
void vm_source_conclude(struct source *s);

/** vm_source_cleanup() - stop the forwarder, remove the socket. */
void vm_source_cleanup(struct source *s);

#endif
