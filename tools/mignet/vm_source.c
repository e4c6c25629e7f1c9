// SPDX-License-Identifier: Apache-2.0
/*
 * mignet migrate, once the target is ready: QEMU's connections in, TCP connections out,
 * and the watch over the migration until QEMU says how it ended.
 *
 * Theory of operation. The source QEMU is told `migrate uri=unix:<socket-dir>/<name>.sock`
 * and opens its main channel there, then one connection per multifd channel. The acceptor
 * thread takes them one at a time, in order, and for the k-th opens connection k to the
 * target mignet (the handshake of mig_dial(): bound to migration0, token proven) before it
 * accepts the next: so the target sees them in QEMU's order and can hand them to its QEMU in
 * that order (QEMU 7.2 takes the first connection for the main channel). Each pair then
 * runs through the forwarder's pumps.
 *
 * The main thread polls query-migrate every TICK_MS: progress, and the policy's verdict
 * (vm_policy.c): migrate_cancel, or migrate-start-postcopy. It cancels too when the
 * acceptor fails, when the target closes the control connection or reports an error, or on
 * SIGINT/SIGTERM. A cancel leaves the source VM running, untouched, and QEMU ends in
 * "cancelled"; a broken connection makes QEMU end in "failed", with the VM running too.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_control.h"
#include "mig_stream.h"
#include "vm_source.h"
#include "vm_unix.h"

#define TICK_MS 200
#define STATUS_AFTER_FAILURE 10 /* seconds for the target's status after a failure */

volatile sig_atomic_t vm_interrupted;

static void accept_failed(struct source *s, const struct mig_error *e)
{
	int expect = 0;

	if (!atomic_compare_exchange_strong(&s->accept_failed, &expect, 1))
		return;
	s->accept_err = *e;
}

/* Takes QEMU's connection k and joins it to the target's connection k. Return: 0 or -errno. */
static int carry_one(struct source *s, unsigned int k)
{
	struct mig_hello h = s->hello;
	struct mig_error e = { 0 };
	int fd, net, r;

	fd = accept4(s->ufd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : -errno;
	h.stream_index = k;
	r = mig_dial(&s->dial, &h, &net, NULL, &e);
	if (r == 0 && s->tls) {
		r = vm_tls_handshake(s->tls, net, k, &s->rep, &s->tls_conns.conn[k], &e);
		if (r < 0)
			close(net);
	}
	if (r < 0) {
		close(fd); /* QEMU sees the failure on this channel at once */
		accept_failed(s, &e);
		return r;
	}
	r = mig_forward_start(&s->fw, k, fd, net, &e);
	if (r < 0)
		accept_failed(s, &e);
	return r;
}

static void *acceptor_main(void *arg)
{
	struct source *s = arg;
	struct pollfd pfd = { .fd = s->ufd, .events = POLLIN };
	unsigned int k = 1;
	int r;

	while (k <= s->ndata && !atomic_load(&s->stop)) {
		r = poll(&pfd, 1, TICK_MS);
		if (r <= 0)
			continue;
		r = carry_one(s, k);
		if (r < 0)
			break;
		if (r == 0)
			k++;
	}
	return NULL;
}

static void cancel(struct source *s, const char *why)
{
	struct mig_error e = { 0 };

	if (!s->reason[0])
		snprintf(s->reason, sizeof(s->reason), "%s", why);
	if (s->cancelled || s->pol.in_postcopy)
		return;
	s->cancelled = true;
	atomic_store(&s->stop, true); /* no new connection */
	if (mig_qmp_exec(&s->qmp, "migrate_cancel", NULL, NULL, &e) < 0)
		fprintf(stderr, "mignet migrate: %s\n", e.msg);
	/*
	 * QEMU 7.2 shuts only its main channel down on a cancel: multifd threads blocked on a
	 * full socket keep it "cancelling" for ever. Breaking every connection frees them.
	 */
	mig_forwarder_shutdown(&s->fw);
	s->rep.abort_status = "Succeeded";
}

static void start_postcopy(struct source *s, const char *why)
{
	struct mig_error e = { 0 };
	struct json_object *o;

	if (mig_qmp_exec(&s->qmp, "migrate-start-postcopy", NULL, NULL, &e) < 0) {
		cancel(s, e.msg);
		return;
	}
	s->pol.in_postcopy = true;
	s->rep.mode = "PostCopy";
	o = json_object_new_object();
	json_object_object_add(o, "reason", json_object_new_string(why));
	vm_event(&s->ui, "postcopy", o);
	if (!s->ui.json)
		fprintf(stderr, "\nmignet migrate: %s: switching to post-copy\n", why);
}

/* A message (or the end) on the control connection during the migration. */
static void control_readable(struct source *s, bool *ctl_dead)
{
	struct json_object *m = NULL;
	struct mig_error e = { 0 };
	char why[400];

	if (mig_control_recv(s->ctl, 0, &m, &e) < 0) {
		snprintf(why, sizeof(why), "the target mignet is gone (%s)", e.msg);
		*ctl_dead = true;
		cancel(s, why);
		return;
	}
	if (!strcmp(mig_control_type(m), "error")) {
		struct json_object *msg = mig_json_get(m, "message", json_type_string);

		snprintf(why, sizeof(why), "the target failed: %s",
			 msg ? json_object_get_string(msg) : "?");
		cancel(s, why);
	}
	json_object_put(m);
}

/* QEMU drops the figures once a migration is cancelled: keep the last ones seen. */
static void keep_figures(struct mig_qemu_migration *last, const struct mig_qemu_migration *m)
{
	if (m->total || !last->total) {
		*last = *m;
		return;
	}
	memcpy(last->status, m->status, sizeof(last->status));
	memcpy(last->error, m->error, sizeof(last->error));
}

static bool terminal(const char *status)
{
	return !strcmp(status, "completed") || !strcmp(status, "failed") ||
	       !strcmp(status, "cancelled");
}

/* One tick: wait for the control connection, query QEMU, decide. Return: 1 ended, 0, -errno. */
static int tick(struct source *s, bool *ctl_dead, struct mig_error *err)
{
	struct pollfd pfd = { .fd = *ctl_dead ? -1 : s->ctl, .events = POLLIN };
	struct mig_qemu_migration m;
	char why[400];
	int r;

	if (poll(&pfd, 1, TICK_MS) > 0)
		control_readable(s, ctl_dead);
	r = mig_qemu_query(&s->qmp, &m, err);
	if (r < 0)
		return r;
	keep_figures(&s->rep.qemu, &m);
	vm_progress(&s->ui, &s->rep.qemu, mig_now() - s->t0, s->rep.mode);
	if (terminal(m.status))
		return 1;
	if (atomic_load(&s->accept_failed))
		cancel(s, s->accept_err.msg);
	if (vm_interrupted)
		cancel(s, "interrupted by a signal");
	switch (vm_policy_check(&s->pol, &m, mig_now(), why, sizeof(why))) {
	case VM_CANCEL:
		cancel(s, why);
		break;
	case VM_POSTCOPY:
		if (!s->pol.in_postcopy)
			start_postcopy(s, why);
		break;
	case VM_GO_ON:
		break;
	}
	return 0;
}

/* The unix socket the source QEMU connects to: unique, in the 0700 --socket-dir. */
static int listen_for_qemu(struct source *s, struct mig_error *err)
{
	int r;

	r = vm_socket_path(s->o->socket_dir, "migrate", s->hello.session, s->sock, sizeof(s->sock),
			   err);
	if (r < 0)
		return r;
	r = vm_unix_listen(s->sock, err);
	if (r < 0)
		s->sock[0] = '\0';
	return r;
}

/* migrate @uri, then the ticks until QEMU ends. Return: 0 or -errno. */
static int run_migration(struct source *s, const char *uri, struct mig_error *err)
{
	struct json_object *args = json_object_new_object();
	bool ctl_dead = false;
	int r;

	json_object_object_add(args, "uri", json_object_new_string(uri));
	vm_timestamp(s->rep.start, sizeof(s->rep.start));
	s->t0 = mig_now();
	vm_policy_init(&s->pol, s->o, s->rep.guest_memory, s->t0);
	r = mig_qmp_exec(&s->qmp, "migrate", args, NULL, err);
	if (r < 0)
		return r;
	vm_event(&s->ui, "started", NULL);
	while ((r = tick(s, &ctl_dead, err)) == 0)
		;
	vm_timestamp(s->rep.end, sizeof(s->rep.end));
	if (ctl_dead) {
		close(s->ctl);
		s->ctl = -1;
	}
	return r < 0 ? r : 0;
}

int vm_source_run(struct source *s, struct mig_error *err)
{
	char uri[160];
	int r;

	s->ufd = listen_for_qemu(s, err);
	if (s->ufd < 0)
		return s->ufd;
	r = pthread_create(&s->acceptor, NULL, acceptor_main, s);
	if (r)
		return mig_error_set(err, -r, "pthread_create: %s", strerror(r));
	s->acceptor_started = true;
	snprintf(uri, sizeof(uri), "unix:%s", s->sock);
	return run_migration(s, uri, err);
}

int vm_source_run_fd(struct source *s, struct mig_error *err)
{
	struct mig_hello h = s->hello;
	struct json_object *args;
	int net, r;

	h.stream_index = 1;
	r = mig_dial(&s->dial, &h, &net, NULL, err);
	if (r < 0)
		return r;
	args = json_object_new_object();
	json_object_object_add(args, "fdname", json_object_new_string(VM_FDNAME));
	r = mig_qmp_exec_fd(&s->qmp, "getfd", args, net, NULL, err);
	if (r < 0) {
		close(net);
		return r;
	}
	/* QEMU holds its own descriptor now; ours counts the bytes and can break it */
	r = mig_forward_pass(&s->fw, 1, net, err);
	if (r < 0)
		return r;
	return run_migration(s, "fd:" VM_FDNAME, err);
}

/* The target's answer to done: its QEMU's run state and its report. */
static void target_status(struct source *s)
{
	struct json_object *m = NULL, *st;
	struct mig_error e = { 0 };
	int ms;

	if (s->ctl < 0)
		return;
	/* a completed migration waits for the guest to run there; a failed one only for the
	 * answer (a target gone with the network cannot give one) */
	ms = strcmp(s->rep.qemu.status, "completed") ? STATUS_AFTER_FAILURE * 1000
						     : VM_CONTROL_TIMEOUT * 1000;
	if (mig_control_recv(s->ctl, ms, &m, &e) < 0 || strcmp(mig_control_type(m), "status")) {
		if (!s->reason[0] && strcmp(s->rep.qemu.status, "completed"))
			snprintf(s->reason, sizeof(s->reason), "no status from the target: %s",
				 e.msg[0] ? e.msg : "unexpected message");
		json_object_put(m);
		return;
	}
	st = mig_json_get(m, "status", json_type_string);
	snprintf(s->rep.target_status, sizeof(s->rep.target_status), "%s",
		 st ? json_object_get_string(st) : "?");
	s->rep.peer = json_object_get(mig_json_get(m, "report", json_type_object));
	json_object_put(m);
}

static void tell_done(struct source *s)
{
	struct json_object *m = mig_control_new("done");
	struct mig_error e = { 0 };

	if (s->ctl < 0) {
		json_object_put(m);
		return;
	}
	json_object_object_add(m, "status", json_object_new_string(s->rep.qemu.status));
	json_object_object_add(m, "mode", json_object_new_string(s->rep.mode));
	json_object_object_add(m, "qemu", vm_report_qemu_json(&s->rep));
	if (s->reason[0])
		json_object_object_add(m, "reason", json_object_new_string(s->reason));
	if (mig_control_send(s->ctl, m, &e) < 0) {
		close(s->ctl);
		s->ctl = -1;
	}
}

/* Completed here, but the target VM does not run: resume it here (not after post-copy). */
static void resume_source(struct source *s)
{
	struct mig_error e = { 0 };

	if (!strcmp(s->rep.mode, "PostCopy") || !s->rep.target_status[0] ||
	    !strcmp(s->rep.target_status, "running"))
		return;
	snprintf(s->reason, sizeof(s->reason),
		 "the target VM is not running (%s) after QEMU "
		 "completed: resumed on the source",
		 s->rep.target_status);
	if (mig_qmp_exec(&s->qmp, "cont", NULL, NULL, &e) < 0)
		snprintf(s->reason, sizeof(s->reason),
			 "the target VM is not running (%s) and "
			 "the source could not be resumed: %.200s",
			 s->rep.target_status, e.msg);
}

static void decide(struct source *s)
{
	struct vm_report *r = &s->rep;
	struct mig_error e = { 0 };
	bool done = !strcmp(r->qemu.status, "completed");

	if (done && strcmp(r->target_status, "running"))
		resume_source(s);
	if (mig_qmp_status(&s->qmp, r->source_status, sizeof(r->source_status), &e) < 0)
		snprintf(r->source_status, sizeof(r->source_status), "unknown");
	r->completed = done && !strcmp(r->target_status, "running");
	r->failed = !r->completed;
	if (r->completed)
		r->vm_runs_on = "target";
	else if (!strcmp(r->source_status, "running") || !strcmp(r->source_status, "paused"))
		r->vm_runs_on = "source";
	else
		r->vm_runs_on = "unknown";
	if (r->failed && !s->reason[0])
		snprintf(s->reason, sizeof(s->reason), "QEMU: migration %s%s%s", r->qemu.status,
			 r->qemu.error[0] ? ": " : "", r->qemu.error);
	if (r->failed && atomic_load(&s->fw.failed) && strlen(s->reason) < 200)
		snprintf(s->reason + strlen(s->reason), sizeof(s->reason) - strlen(s->reason),
			 " (%s)", s->fw.err.msg);
	if (r->failed)
		vm_failure_reason(r, s->reason);
}

void vm_source_conclude(struct source *s)
{
	tell_done(s);
	target_status(s);
	decide(s);
}

void vm_source_cleanup(struct source *s)
{
	atomic_store(&s->stop, true);
	if (s->acceptor_started)
		pthread_join(s->acceptor, NULL);
	s->acceptor_started = false;
	mig_forwarder_stop(&s->fw, true, 5);
	vm_report_conns(&s->rep, &s->fw);
	mig_tls_streams_free(&s->tls_conns);
	if (s->ufd >= 0)
		close(s->ufd);
	s->ufd = -1;
	if (s->sock[0])
		unlink(s->sock);
	s->sock[0] = '\0';
	if (s->ctl >= 0)
		close(s->ctl);
	s->ctl = -1;
	mig_tls_shim_close(s->ctl_shim);
	s->ctl_shim = NULL;
}
