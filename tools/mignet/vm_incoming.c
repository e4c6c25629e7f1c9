// SPDX-License-Identifier: Apache-2.0
/*
 * mignet incoming: the target side of a QEMU live migration over migration0.
 *
 * Sequence: QMP to the target QEMU (started with -incoming defer: "inmigrate"); listen on
 * migration0 (the transport: --from, token, flood-resistant handshakes); connection 0 of a
 * QEMU session is the control connection: its setup (capabilities, parameters) is applied
 * to this QEMU exactly, then migrate-incoming on a unix socket in --socket-dir, and ready
 * goes back. The data connections 1.. that follow are handed to QEMU in the source's order
 * (vm_target.c), and at the end the QEMU's run state goes back on the control connection.
 * A connection refused in the handshake never reaches QEMU: nothing is set on it, nothing
 * connects to it, before the control connection proved the token.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mig_control.h"
#include "mig_parse.h"
#include "mig_privilege.h"
#include "opts.h"
#include "vm_target.h"

#define F(x) offsetof(struct vm_opts, x)
static const struct opt incoming_opts[] = {
	{ "qmp", OPT_STR, F(qmp), OPT_NOSET, 0, 0, "SOCKET",
	  "the target QEMU's QMP socket (QEMU started with -incoming defer)" },
	{ "interface", OPT_STR, F(interface), OPT_NOSET, 0, 0, "IF", "migration0" },
	{ "port", OPT_PORT, F(port), OPT_NOSET, 0, 0, "P", "49152" },
	{ "socket-dir", OPT_STR, F(socket_dir), OPT_NOSET, 0, 0, "DIR",
	  "where mignet connects to QEMU (/run/mignet)" },
	{ "token-file", OPT_STR, F(token_file), OPT_NOSET, 0, 0, "F",
	  "the shared token (else $MIGNET_TOKEN)" },
	{ "from", OPT_STR, F(from), OPT_NOSET, 0, 0, "CIDR", "accept sources in CIDR only" },
	{ "timeout", OPT_UINT, F(timeout), OPT_NOSET, 0, 86400 * 365, "S",
	  "give up when no migration arrived in S s (0: wait forever)" },
	{ "config", OPT_STR, F(config), OPT_NOSET, 0, 0, "FILE",
	  "HyperConverged liveMigrationConfig (JSON): its disableTLS" },
	VM_TLS_OPTS,
	{ "json", OPT_FLAG, F(json), OPT_NOSET, 0, 0, NULL, "JSON lines on stdout" },
	{ NULL },
};
#undef F

static const char incoming_usage[] =
	"usage: mignet incoming --qmp SOCKET [options]\n"
	"Serves one migration into the QEMU at SOCKET from a `mignet migrate` on another node,\n"
	"over migration0. Exit 0 only when the VM runs here.\n";

static void on_event(enum mig_event ev, const char *detail, const struct mig_addr *peer,
		     void *opaque)
{
	struct target *t = opaque;
	struct json_object *o = json_object_new_object();
	char addr[64] = "";

	if (peer)
		mig_addr_format(peer, addr, sizeof(addr));
	if (ev == MIG_EV_REJECTED) {
		if (!t->ui.json)
			fprintf(stderr, "mignet incoming: rejected a connection from %s: %s\n",
				addr, detail);
		json_object_object_add(o, "peer", json_object_new_string(addr));
		json_object_object_add(o, "reason", json_object_new_string(detail));
		vm_event(&t->ui, "rejected", o);
		return;
	}
	json_object_put(o);
}

static int check(void *opaque, const struct mig_hello *h, const struct mig_addr *peer,
		 uint64_t *ret_reason, const char **ret_detail, struct mig_error *err)
{
	struct target *t = opaque;

	*ret_reason = MIG_REJECT_PROTOCOL;
	if (!(h->flags & MIG_HELLO_F_VM)) {
		*ret_detail = "not a QEMU migration (mignet send? that is for mignet receive)";
		return 1;
	}
	if (!t->have_session && h->stream_index != 0) {
		*ret_detail = "a data connection before the control connection";
		return 1;
	}
	if (t->have_session &&
	    (h->session != t->session.session || h->stream_count != t->session.stream_count ||
	     h->stream_index == 0 || t->waiting[h->stream_index] >= 0 ||
	     h->stream_index < t->next || !t->data_phase)) {
		*ret_reason = MIG_REJECT_BUSY;
		*ret_detail = "another migration is in progress";
		return 1;
	}
	return 0;
}

static int joined(void *opaque, int fd, struct mig_tls_conn *c, const struct mig_hello *h,
		  const struct mig_addr *peer, struct mig_error *err)
{
	struct target *t = opaque;

	/* with TLS the transport ran the handshake before this (mig_accept_tls.c): a refused
	 * peer was dropped there, and this QEMU has not been touched (no setup, no connection) */
	if (c && !t->rep.tls_have_info) {
		mig_tls_conn_info(c, &t->rep.tls_info);
		t->rep.tls_have_info = true;
	}
	if (c && h->stream_index == 0) {
		fd = mig_tls_shim(c, fd, &t->ctl_shim, err);
		if (fd < 0)
			return fd;
	} else if (c) {
		t->tls_conns.conn[h->stream_index] = c;
	}
	if (h->stream_index == 0) {
		t->ctl = fd;
		t->session = *h;
		t->have_session = true;
		t->next = 1;
		mig_addr_format(peer, t->rep.source_address, sizeof(t->rep.source_address));
		return 0;
	}
	t->waiting[h->stream_index] = fd;
	return vm_target_hand_over(t, err);
}

static bool done(void *opaque)
{
	struct target *t = opaque;

	if (!t->data_phase)
		return t->have_session;
	return t->next >= t->session.stream_count;
}

static double deadline(void *opaque)
{
	return ((struct target *)opaque)->deadline;
}

static int expired(void *opaque, struct mig_error *err)
{
	struct target *t = opaque;

	if (t->data_phase)
		return mig_error_set(err, -ETIMEDOUT,
				     "only %u of %u QEMU connections arrived "
				     "within %d s",
				     t->next - 1, t->session.stream_count - 1, VM_CONTROL_TIMEOUT);
	return mig_error_set(err, -ETIMEDOUT,
			     "no migration arrived within %u s (%llu "
			     "connection(s) rejected)",
			     t->o->timeout, (unsigned long long)t->l.rejected);
}

static const struct mig_accept_ops incoming_ops = {
	.check = check,
	.joined = joined,
	.done = done,
	.deadline = deadline,
	.expired = expired,
};

static unsigned int multifd_channels(struct json_object *setup)
{
	struct json_object *caps = mig_json_get(setup, "capabilities", json_type_object);
	struct json_object *params = mig_json_get(setup, "parameters", json_type_object);
	struct json_object *on = mig_json_get(caps, "multifd", json_type_boolean);
	struct json_object *n = mig_json_get(params, "multifd-channels", json_type_int);

	if (!on || !json_object_get_boolean(on))
		return 0;
	return n ? (unsigned int)json_object_get_int(n) : 2; /* QEMU's default */
}

/* The source's setup on this QEMU, then migrate-incoming. Return: 0 or -errno. */
static int apply_setup(struct target *t, struct json_object *setup, struct mig_error *err)
{
	struct json_object *tr = mig_json_get(setup, "transport", json_type_string), *pto;
	char uri[160];
	int r;

	r = mig_control_check_setup(setup, err);
	if (r < 0)
		return r;
	if (t->rep.guest_memory != t->session.memory_bytes)
		return mig_error_set(err, -EINVAL,
				     "the target QEMU has %llu bytes of RAM, the "
				     "source's %llu",
				     (unsigned long long)t->rep.guest_memory,
				     (unsigned long long)t->session.memory_bytes);
	t->fd_mode = tr && !strcmp(json_object_get_string(tr), "fd");
	t->rep.multifd_channels = multifd_channels(setup);
	pto = mig_json_get(setup, "progressTimeout", json_type_int);
	t->progress_timeout =
		pto && json_object_get_int64(pto) > 0 && json_object_get_int64(pto) <= 1000000
			? (unsigned int)json_object_get_int64(pto)
			: 0;
	if (t->fd_mode && t->session.stream_count != 2)
		return mig_error_set(err, -EINVAL, "the fd transport carries one connection");
	r = mig_qemu_apply(&t->qmp, setup, err);
	if (r < 0 || t->fd_mode)
		return r;
	r = vm_socket_path(t->o->socket_dir, "incoming", t->session.session, t->sock,
			   sizeof(t->sock), err);
	if (r < 0)
		return r;
	snprintf(uri, sizeof(uri), "unix:%s", t->sock);
	return mig_qemu_simple(&t->qmp, "migrate-incoming", "uri", uri, err);
}

/* The control connection's setup, applied and answered. Return: 0 or -errno. */
static int serve_setup(struct target *t, struct mig_error *err)
{
	struct json_object *setup = NULL, *m;
	int r;

	r = mig_control_recv(t->ctl, VM_CONTROL_TIMEOUT * 1000, &setup, err);
	if (r == 0 && strcmp(mig_control_type(setup), "setup"))
		r = mig_error_set(err, -EPROTO, "control connection: %s before setup",
				  mig_control_type(setup));
	if (r == 0)
		r = apply_setup(t, setup, err);
	json_object_put(setup);
	if (r < 0) {
		m = mig_control_new("error");
		json_object_object_add(m, "message", json_object_new_string(err->msg));
		mig_control_send(t->ctl, m, NULL);
		return r;
	}
	t->rep.connections = t->session.stream_count - 1;
	t->rep.streams = t->rep.connections;
	vm_timestamp(t->rep.start, sizeof(t->rep.start));
	vm_event(&t->ui, "started", NULL);
	return mig_control_send(t->ctl, mig_control_new("ready"), err);
}

/* The target QEMU: waiting for a migration, its RAM. Return: 0 or -errno. */
static int open_qemu(struct target *t, struct mig_error *err)
{
	int r;

	r = mig_qmp_open(&t->qmp, t->o->qmp, VM_QMP_TIMEOUT, err);
	if (r == 0)
		r = mig_qmp_status(&t->qmp, t->rep.target_status, sizeof(t->rep.target_status),
				   err);
	if (r < 0)
		return r;
	if (strcmp(t->rep.target_status, "inmigrate"))
		return mig_error_set(err, -EINVAL,
				     "the target QEMU is %s, not inmigrate (start "
				     "it with -incoming defer)",
				     t->rep.target_status);
	return mig_qemu_ram(&t->qmp, &t->rep.guest_memory, err);
}

static void say_listening(struct target *t)
{
	struct json_object *o = json_object_new_object();
	char addr[64];

	mig_addr_format(&t->l.local, addr, sizeof(addr));
	snprintf(t->rep.target_address, sizeof(t->rep.target_address), "%s", addr);
	t->rep.port = t->o->port;
	if (!t->ui.json)
		fprintf(stderr, "mignet incoming: listening on %s port %u\n", addr, t->o->port);
	json_object_object_add(o, "address", json_object_new_string(addr));
	json_object_object_add(o, "port", json_object_new_int(t->o->port));
	vm_event(&t->ui, "listening", o);
}

static int run(struct target *t, struct mig_error *err)
{
	int r;

	r = open_qemu(t, err);
	if (r == 0)
		r = mig_listener_open(&t->l, t->o->interface, t->o->port, t->o->from, t->o->token,
				      err);
	if (r < 0)
		return r;
	t->l.tls = t->tls;
	mig_privilege_vm_listening("mignet incoming");
	say_listening(t);
	t->deadline = t->o->timeout ? mig_now() + t->o->timeout : 0;
	r = mig_listener_serve(&t->l, &incoming_ops, t, -1, err);
	if (r == 0)
		r = serve_setup(t, err);
	if (r < 0)
		return r;
	t->data_phase = true;
	t->deadline = mig_now() + VM_CONTROL_TIMEOUT;
	r = mig_listener_serve(&t->l, &incoming_ops, t, t->ctl, err);
	mig_listener_close(&t->l);
	if (r == -ECANCELED)
		r = 0; /* the source spoke (done: its QEMU failed) or left: the watch says */
	if (r < 0)
		return r;
	vm_target_watch(t);
	return 0;
}

static void cleanup(struct target *t)
{
	unsigned int i;

	mig_forwarder_stop(&t->fw, true, 5);
	vm_report_conns(&t->rep, &t->fw);
	mig_tls_streams_free(&t->tls_conns);
	for (i = 0; i < MIG_MAX_STREAMS; i++)
		if (t->waiting[i] >= 0)
			close(t->waiting[i]);
	if (t->ctl >= 0)
		close(t->ctl);
	t->ctl = -1;
	mig_tls_shim_close(t->ctl_shim);
	t->ctl_shim = NULL;
	if (t->sock[0])
		unlink(t->sock);
	mig_listener_close(&t->l);
	mig_qmp_close(&t->qmp);
}

int vm_incoming_main(int argc, char **argv)
{
	struct vm_opts o = { .interface = MIG_DEFAULT_INTERFACE,
			     .port = MIG_DEFAULT_PORT,
			     .socket_dir = VM_DEFAULT_SOCKET_DIR };
	struct target t = {
		.o = &o,
		.ctl = -1,
		.qmp = { .fd = -1 },
		.l = { .lfd = -1, .event = on_event },
		.rep = { .role = "incoming", .mode = "PreCopy", .transport = "splice" }
	};
	struct mig_error err = { 0 };
	double cpu0 = mig_cpu_now();
	unsigned int i;
	int r;

	for (i = 0; i < MIG_MAX_STREAMS; i++)
		t.waiting[i] = -1;
	t.l.opaque = &t;
	r = opts_parse(incoming_opts, "incoming", incoming_usage, argc, argv, &o);
	if (r)
		return r == 1 ? 0 : EXIT_USAGE;
	if (!o.qmp) {
		fprintf(stderr, "mignet incoming: --qmp SOCKET is needed\n");
		return EXIT_USAGE;
	}
	r = vm_tls_settle(&o, "incoming");
	if (r == 0)
		r = vm_pick_token(&o, "incoming");
	if (r)
		return r;
	if (!o.token && !o.from && o.tls.off)
		fprintf(stderr, "mignet incoming: warning: neither a token nor --from is set: any "
				"host on the migration network can migrate a VM into this QEMU\n");
	else if (!o.token && !o.from)
		fprintf(stderr, "mignet incoming: warning: no token: mutual TLS authenticates the "
				"source, but any host on the migration network can open TLS "
				"handshakes here (bounded in number and time; a token or --from "
				"keeps them out)\n");
	mig_privilege_vm("mignet incoming", o.port);
	signal(SIGPIPE, SIG_IGN);
	vm_ui_init(&t.ui, o.json);
	/* this migration's certificates, read now: a rotated one is used without a restart */
	r = vm_forwarder_setup(&o, MIG_TLS_SERVER, &t.tls, &t.tls_conns, &t.tls_pump, &t.fw, &t.rep,
			       &err);
	if (r == 0)
		r = run(&t, &err);
	if (r < 0) {
		t.rep.failed = true;
		vm_timestamp(t.rep.end, sizeof(t.rep.end));
		t.rep.vm_runs_on = "source"; /* nothing reached this QEMU's guest */
		vm_failure_reason(&t.rep, err.msg);
	}
	if (t.fd_mode)
		t.rep.transport = "fd";
	t.rep.rejected = t.l.rejected;
	cleanup(&t);
	t.rep.cpu_seconds = mig_cpu_now() - cpu0;
	vm_report_print(&t.ui, &t.rep);
	mig_tls_ctx_free(t.tls);
	return t.rep.completed ? 0 : EXIT_FAILED;
}
