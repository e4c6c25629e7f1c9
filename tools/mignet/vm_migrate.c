// SPDX-License-Identifier: Apache-2.0
/*
 * mignet migrate: the source side of a QEMU live migration over migration0.
 *
 * Sequence: QMP to the source QEMU (running), its RAM size; the outbound slots (node and
 * cluster); the control connection to the target mignet (handshake, then setup: the
 * capabilities and parameters both QEMUs get); the target answers ready once its QEMU
 * listens; the same settings (plus max-bandwidth) on the source QEMU; then vm_source.c runs
 * the migration; at the end done goes to the target and its status comes back: the report
 * says on which side the VM runs. Exit 0 only when the source QEMU completed and the
 * target's runs.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "mig_cluster_limit.h"
#include "mig_control.h"
#include "mig_limit.h"
#include "mig_privilege.h"
#include "opts.h"
#include "slots.h"
#include "vm_source.h"

#define UNLIMITED_BANDWIDTH (1ull << 40) /* bytes/s: QEMU's max-bandwidth when unset */
#define DEFAULT_LOCK_DIR "/run/mignet"

#define F(x) offsetof(struct vm_opts, x)
static const struct opt migrate_opts[] = {
	{ "qmp", OPT_STR, F(qmp), OPT_NOSET, 0, 0, "SOCKET", "the source QEMU's QMP socket" },
	{ "target", OPT_STR, F(target), OPT_NOSET, 0, 0, "ADDR[:PORT]",
	  "the target node's migration0 address (port 49152)" },
	{ "interface", OPT_STR, F(interface), OPT_NOSET, 0, 0, "IF", "migration0" },
	{ "socket-dir", OPT_STR, F(socket_dir), OPT_NOSET, 0, 0, "DIR",
	  "where QEMU connects to mignet (/run/mignet)" },
	{ "config", OPT_STR, F(config), OPT_NOSET, 0, 0, "FILE",
	  "HyperConverged liveMigrationConfig (JSON); flags win" },
	{ "streams", OPT_UINT, F(streams), F(set_streams), 0, MIG_MAX_STREAMS - 2, "N",
	  "QEMU multifd channels, 0 or 1: none (8)" },
	{ "bandwidth", OPT_RATE, F(bandwidth), F(set_bw), 0, 0, "RATE",
	  "max-bandwidth, MiB/s or 64MiB/s (unlimited)" },
	{ "progress-timeout", OPT_UINT, F(progress_timeout), F(set_pto), 0, 1000000, "S",
	  "cancel when QEMU's remaining RAM did not go down for S s (150)" },
	{ "completion-timeout-per-gib", OPT_UINT, F(completion_timeout_per_gib), F(set_cto), 0,
	  1000000, "S", "cancel (or post-copy) past S x guest GiB s (150)" },
	{ "allow-auto-converge", OPT_FLAG, F(auto_converge), F(set_ac), 0, 0, NULL,
	  "let QEMU throttle the guest's CPUs" },
	{ "allow-post-copy", OPT_FLAG, F(post_copy), F(set_pc), 0, 0, NULL,
	  "switch to post-copy past the completion timeout" },
	{ "token-file", OPT_STR, F(token_file), OPT_NOSET, 0, 0, "F",
	  "the shared token (else $MIGNET_TOKEN)" },
	{ "parallel-outbound", OPT_UINT, F(parallel), F(set_par), 1, 1000, "N",
	  "parallelOutboundMigrationsPerNode (2)" },
	{ "lock-dir", OPT_STR, F(lock_dir), OPT_NOSET, 0, 0, "DIR",
	  "node-local slots (/run/mignet)" },
	{ "etcd", OPT_STR, F(etcd), OPT_NOSET, 0, 0, "ENDPOINTS",
	  "for parallelMigrationsPerCluster" },
	{ "parallel-migrations-per-cluster", OPT_UINT, F(cluster_limit), F(set_cluster), 1, 10000,
	  "N", "cluster-wide limit (needs --etcd)" },
	{ "data-path", OPT_STR, F(data_path), OPT_NOSET, 0, 0, "PATH",
	  "fd: QEMU gets the TCP socket; splice: through mignet; auto: fd when it can (auto)" },
	VM_TLS_OPTS,
	{ "json", OPT_FLAG, F(json), OPT_NOSET, 0, 0, NULL, "JSON lines on stdout" },
	{ NULL },
};
#undef F

static const char migrate_usage[] =
	"usage: mignet migrate --qmp SOCKET --target ADDR[:PORT] [options]\n"
	"Migrates the VM of the QEMU at SOCKET to the node whose `mignet incoming` listens at\n"
	"ADDR, over migration0. Exit 0 only when the VM runs on the target.\n";

/*
 * fd (QEMU writes straight into the TCP socket: no hop through mignet, the fastest path
 * measured) needs one connection and no TLS of ours: QEMU 7.2 opens multifd channels only to
 * a socket address, and it would speak in clear. auto takes fd where it can, else splice.
 */
static int settle_data_path(struct vm_opts *o)
{
	const char *p = o->data_path ? o->data_path : "auto";
	bool can = o->streams < 2 && o->tls.off;

	if (!strcmp(p, "fd") && !can) {
		fprintf(stderr,
			"mignet migrate: --data-path fd hands QEMU the one TCP connection: "
			"%s\n",
			o->streams >= 2 ? "use it with --streams 0 (multifd needs splice)"
					: "only with --no-tls (QEMU would speak in clear)");
		return EXIT_USAGE;
	}
	o->fd_pass = !strcmp(p, "fd") || (!strcmp(p, "auto") && can);
	return 0;
}

/* The capabilities and parameters both QEMUs get. */
static struct json_object *setup_message(const struct vm_opts *o, unsigned int ndata)
{
	struct json_object *m = mig_control_new("setup"), *caps = json_object_new_object();
	struct json_object *params = json_object_new_object();
	bool multifd = o->streams >= 2;

	json_object_object_add(caps, "multifd", json_object_new_boolean(multifd));
	json_object_object_add(caps, "auto-converge", json_object_new_boolean(o->auto_converge));
	json_object_object_add(caps, "postcopy-ram", json_object_new_boolean(o->post_copy));
	if (multifd)
		json_object_object_add(params, "multifd-channels",
				       json_object_new_int((int)o->streams));
	json_object_object_add(m, "capabilities", caps);
	json_object_object_add(m, "parameters", params);
	json_object_object_add(m, "connections", json_object_new_int((int)ndata));
	json_object_object_add(m, "transport",
			       json_object_new_string(o->fd_pass ? "fd" : "splice"));
	json_object_object_add(m, "progressTimeout", json_object_new_int64(o->progress_timeout));
	return m;
}

/* Connection 0: handshake, setup, and the target's ready. Return: 0 or -errno. */
static int open_control(struct source *s, struct json_object *setup, struct mig_error *err)
{
	struct json_object *m = NULL, *msg;
	int r;

	r = mig_dial(&s->dial, &s->hello, &s->ctl, NULL, err);
	if (r == 0 && s->tls) { /* then TLS, and the control messages through it */
		struct mig_tls_conn *c;

		r = vm_tls_handshake(s->tls, s->ctl, 0, &s->rep, &c, err);
		if (r == 0)
			r = mig_tls_shim(c, s->ctl, &s->ctl_shim, err);
		else
			close(s->ctl);
		s->ctl = r < 0 ? -1 : r;
		r = r < 0 ? r : 0;
	}
	if (r < 0) {
		json_object_put(setup);
		return r;
	}
	r = mig_control_send(s->ctl, setup, err);
	if (r == 0)
		r = mig_control_recv(s->ctl, VM_CONTROL_TIMEOUT * 1000, &m, err);
	if (r < 0)
		return r;
	if (!strcmp(mig_control_type(m), "ready")) {
		json_object_put(m);
		return 0;
	}
	msg = mig_json_get(m, "message", json_type_string);
	r = mig_error_set(err, -EREMOTEIO, "the target refused the setup: %s",
			  msg ? json_object_get_string(msg) : mig_control_type(m));
	json_object_put(m);
	return r;
}

/* The source QEMU: running, its RAM. Return: 0 or -errno. */
static int open_qemu(struct source *s, struct mig_error *err)
{
	char status[32];
	int r;

	r = mig_qmp_open(&s->qmp, s->o->qmp, VM_QMP_TIMEOUT, err);
	if (r == 0)
		r = mig_qmp_status(&s->qmp, status, sizeof(status), err);
	if (r < 0)
		return r;
	snprintf(s->rep.source_status, sizeof(s->rep.source_status), "%s", status);
	if (strcmp(status, "running") && strcmp(status, "paused"))
		return mig_error_set(err, -EINVAL, "the source QEMU is %s: nothing to migrate",
				     status);
	return mig_qemu_ram(&s->qmp, &s->rep.guest_memory, err);
}

/* Everything before the migration starts. Return: 0 or -errno. */
static int prepare(struct source *s, struct mig_error *err)
{
	struct vm_opts *o = s->o;
	struct json_object *bw, *setup;
	uint64_t session;
	int r;

	r = open_qemu(s, err);
	if (r < 0)
		return r;
	r = mig_dialer_init(&s->dial, o->interface, o->target, MIG_DEFAULT_PORT, o->token, err);
	if (s->dial.target.ss.ss_family) {
		mig_addr_format(&s->dial.local, s->rep.source_address,
				sizeof(s->rep.source_address));
		mig_addr_format(&s->dial.target, s->rep.target_address,
				sizeof(s->rep.target_address));
		s->rep.port = mig_addr_port(&s->dial.target);
	}
	if (r < 0)
		return r;
	if (getrandom(&session, sizeof(session), 0) != sizeof(session))
		session = (uint64_t)mig_now() ^ ((uint64_t)getpid() << 32);
	s->ndata = 1 + (o->streams >= 2 ? o->streams : 0);
	s->rep.connections = s->ndata;
	s->rep.streams = s->ndata;
	s->rep.multifd_channels = o->streams >= 2 ? o->streams : 0;
	s->hello = (struct mig_hello){ .session = session,
				       .stream_count = 1 + s->ndata,
				       .memory_bytes = s->rep.guest_memory,
				       .page_size = (uint32_t)sysconf(_SC_PAGESIZE),
				       .flags = MIG_HELLO_F_VM };
	r = open_control(s, setup_message(o, s->ndata), err);
	if (r < 0)
		return r;
	setup = setup_message(o, s->ndata);
	r = mig_qemu_apply(&s->qmp, setup, err);
	json_object_put(setup);
	if (r < 0)
		return r;
	bw = json_object_new_object();
	json_object_object_add(
		bw, "max-bandwidth",
		json_object_new_int64(
			(int64_t)(o->bandwidth ? o->bandwidth : UNLIMITED_BANDWIDTH)));
	return mig_qmp_exec(&s->qmp, "migrate-set-parameters", bw, NULL, err);
}

/* The node-local and cluster-wide slots. Return: 0, or -errno with @err filled. */
static int take_slots(struct source *s, int *ret_fd, struct mig_cluster_slot **ret_cslot,
		      struct mig_error *err)
{
	struct slot_waiter w = { .who = "mignet migrate", .json = s->o->json };
	struct mig_cluster_opts copts = { .wait_ms = -1,
					  .endpoints = s->o->etcd,
					  .limit = s->o->cluster_limit,
					  .on_wait = slot_cluster_waiting,
					  .arg = &w };
	const char *dir = s->o->lock_dir ? s->o->lock_dir : DEFAULT_LOCK_DIR;
	char holder[300], host[256] = "", msg[512];
	int r;

	*ret_fd = slot_outbound(&w, dir, s->o->parallel);
	if (*ret_fd < 0)
		return mig_error_set(err, *ret_fd, "outbound slot in %s: %s", dir,
				     strerror(-*ret_fd));
	if (!copts.limit)
		return 0;
	gethostname(host, sizeof(host) - 1);
	snprintf(holder, sizeof(holder), "%s:%d -> %s", host, (int)getpid(), s->o->target);
	copts.holder = holder;
	r = mig_cluster_slot_acquire(&copts, ret_cslot, msg, sizeof(msg));
	if (r < 0)
		return mig_error_set(err, r, "cluster-wide migration slot: %s", msg);
	return 0;
}

/* Defaults, --config, the token, the checks between options. Return: 0 or an exit code. */
static int settle_options(struct vm_opts *o, char **cfg_etcd)
{
	unsigned int climit = 0;
	int r;

	if (!o->qmp || !o->target) {
		fprintf(stderr,
			"mignet migrate: --qmp SOCKET and --target ADDR[:PORT] are needed\n");
		return EXIT_USAGE;
	}
	r = vm_policy_config(o);
	if (r)
		return r;
	if (o->config && mig_cluster_config_load(o->config, &climit, cfg_etcd) < 0) {
		fprintf(stderr,
			"mignet migrate: --config %s: bad parallelMigrationsPerCluster or "
			"etcd\n",
			o->config);
		return EXIT_USAGE;
	}
	if (!o->etcd)
		o->etcd = *cfg_etcd;
	if (climit && !o->set_cluster && o->etcd)
		o->cluster_limit = climit;
	else if (climit && !o->set_cluster)
		fprintf(stderr,
			"mignet migrate: parallelMigrationsPerCluster=%u from %s is not "
			"enforced: no etcd endpoints (--etcd)\n",
			climit, o->config);
	if (o->cluster_limit && !o->etcd) {
		fprintf(stderr, "mignet migrate: parallelMigrationsPerCluster needs --etcd\n");
		return EXIT_USAGE;
	}
	if (o->post_copy && o->streams >= 2) {
		/* QEMU 7.2's target dies in post-copy with multifd (yank.c assertion): the VM
		 * would run nowhere */
		fprintf(stderr, "mignet migrate: post-copy is allowed: without multifd (QEMU 7.2 "
				"cannot switch a multifd migration to post-copy)\n");
		o->streams = 0;
	}
	if (o->data_path && strcmp(o->data_path, "auto") && strcmp(o->data_path, "fd") &&
	    strcmp(o->data_path, "splice")) {
		fprintf(stderr, "mignet migrate: --data-path %s: auto, fd or splice\n",
			o->data_path);
		return EXIT_USAGE;
	}
	r = vm_tls_settle(o, "migrate");
	if (r)
		return r;
	r = settle_data_path(o);
	if (r)
		return r;
	return vm_pick_token(o, "migrate");
}

static int finish(struct source *s, int r, const struct mig_error *err, double cpu0)
{
	if (r < 0 && !s->reason[0])
		snprintf(s->reason, sizeof(s->reason), "%s", err->msg[0] ? err->msg : strerror(-r));
	if (!s->rep.end[0])
		vm_timestamp(s->rep.end, sizeof(s->rep.end));
	if (r < 0) {
		/* nothing was migrated: the VM is where it was, if QEMU still answers */
		struct mig_error e = { 0 };

		if (s->qmp.fd < 0 || mig_qmp_status(&s->qmp, s->rep.source_status,
						    sizeof(s->rep.source_status), &e) < 0)
			s->rep.vm_runs_on = "unknown";
		else
			s->rep.vm_runs_on = "source";
		s->rep.failed = true;
		vm_failure_reason(&s->rep, s->reason);
	}
	vm_source_cleanup(s);
	s->rep.cpu_seconds = mig_cpu_now() - cpu0;
	vm_report_print(&s->ui, &s->rep);
	json_object_put(s->rep.peer);
	mig_qmp_close(&s->qmp);
	return s->rep.completed ? 0 : EXIT_FAILED;
}

static void on_signal(int sig)
{
	vm_interrupted = 1;
}

int vm_migrate_main(int argc, char **argv)
{
	struct vm_opts o = { .interface = MIG_DEFAULT_INTERFACE,
			     .socket_dir = VM_DEFAULT_SOCKET_DIR,
			     .streams = VM_DEFAULT_STREAMS,
			     .progress_timeout = MIG_DEFAULT_PROGRESS_TIMEOUT,
			     .completion_timeout_per_gib = MIG_DEFAULT_COMPLETION_TIMEOUT_PER_GIB,
			     .parallel = MIG_DEFAULT_PARALLEL_OUTBOUND };
	struct source s = { .o = &o,
			    .ctl = -1,
			    .ufd = -1,
			    .qmp = { .fd = -1 },
			    .rep = {
				    .role = "migrate", .mode = "PreCopy", .transport = "splice" } };
	struct mig_cluster_slot *cslot = NULL;
	struct mig_error err = { 0 };
	char *cfg_etcd = NULL;
	double cpu0 = mig_cpu_now();
	int r, slot = -1;

	r = opts_parse(migrate_opts, "migrate", migrate_usage, argc, argv, &o);
	if (r)
		return r == 1 ? 0 : EXIT_USAGE;
	r = settle_options(&o, &cfg_etcd);
	if (r)
		return r;
	o.lock_dir = o.lock_dir ? o.lock_dir : getenv("MIGNET_LOCK_DIR");
	mig_privilege_vm("mignet migrate", 0);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	vm_ui_init(&s.ui, o.json);
	/* this migration's certificates, read now: a rotated one is used without a restart */
	r = vm_forwarder_setup(&o, MIG_TLS_CLIENT, &s.tls, &s.tls_conns, &s.tls_pump, &s.fw, &s.rep,
			       &err);
	if (o.fd_pass)
		s.rep.transport = "fd";
	if (r == 0)
		r = take_slots(&s, &slot, &cslot, &err);
	if (r == 0)
		r = prepare(&s, &err);
	if (r == 0)
		r = o.fd_pass ? vm_source_run_fd(&s, &err) : vm_source_run(&s, &err);
	if (r == 0)
		vm_source_conclude(&s);
	r = finish(&s, r, &err, cpu0);
	mig_tls_ctx_free(s.tls);
	mig_cluster_slot_release(cslot);
	if (slot >= 0)
		close(slot);
	free(cfg_etcd);
	return r;
}
