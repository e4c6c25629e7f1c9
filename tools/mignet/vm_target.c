// SPDX-License-Identifier: Apache-2.0
/*
 * mignet incoming, once the target QEMU listens: QEMU's connections handed over in the
 * source's order, then the watch until the migration ended on both sides.
 *
 * Connection k (k >= 1) of the session is QEMU's k-th connection on the source. Whatever
 * order they finish their handshakes in, connection k is connected to the target QEMU's
 * socket only after k-1 is: QEMU 7.2 takes the first connection it accepts for the main
 * channel, and a multifd channel presented first fails the migration ("received packet
 * magic ... expected ...").
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mig_control.h"
#include "vm_target.h"
#include "vm_unix.h"

#define TICK_MS 200
#define SETTLE_TIMEOUT 30 /* seconds for the target QEMU to run after completion */
#define WATCH_MARGIN 10	  /* seconds past the source's progressTimeout before this side gives up */

/* Connection @fd to the target QEMU: spliced to its socket, or handed over (fd:). */
static int give(struct target *t, unsigned int k, int fd, struct mig_error *err)
{
	struct json_object *args;
	int qfd, r;

	if (t->fd_mode) {
		args = json_object_new_object();
		json_object_object_add(args, "fdname", json_object_new_string(VM_FDNAME));
		r = mig_qmp_exec_fd(&t->qmp, "getfd", args, fd, NULL, err);
		if (r < 0) {
			close(fd);
			return r;
		}
		/* ours stays open beside QEMU's: its byte count feeds the watch and the report,
		 * and shutting it down breaks QEMU's connection as with a pumped one */
		r = mig_forward_pass(&t->fw, k, fd, err);
		if (r < 0)
			return r;
		return mig_qemu_simple(&t->qmp, "migrate-incoming", "uri", "fd:" VM_FDNAME, err);
	}
	qfd = vm_unix_connect(t->sock, err);
	if (qfd < 0) {
		close(fd);
		return qfd;
	}
	return mig_forward_start(&t->fw, k, qfd, fd, err);
}

int vm_target_hand_over(struct target *t, struct mig_error *err)
{
	int fd, r;

	while (t->next < t->session.stream_count && t->waiting[t->next] >= 0) {
		fd = t->waiting[t->next];
		t->waiting[t->next] = -1;
		r = give(t, t->next, fd, err);
		if (r < 0)
			return r;
		t->next++;
	}
	return 0;
}

static void send_error(struct target *t, const char *why)
{
	struct json_object *m = mig_control_new("error");

	if (t->ctl < 0) {
		json_object_put(m);
		return;
	}
	json_object_object_add(m, "message", json_object_new_string(why));
	mig_control_send(t->ctl, m, NULL);
}

/* The source's message, or its end. Return: true when the watch is over on its side. */
static bool control_message(struct target *t)
{
	struct json_object *m = NULL, *st, *why;
	struct mig_error e = { 0 };

	if (mig_control_recv(t->ctl, 0, &m, &e) < 0) {
		if (!t->reason[0])
			snprintf(t->reason, sizeof(t->reason), "the source mignet is gone (%s)",
				 e.msg);
		close(t->ctl);
		t->ctl = -1;
		return true;
	}
	if (strcmp(mig_control_type(m), "done")) {
		json_object_put(m);
		return false;
	}
	st = mig_json_get(m, "status", json_type_string);
	why = mig_json_get(m, "reason", json_type_string);
	snprintf(t->source_said, sizeof(t->source_said), "%s",
		 st ? json_object_get_string(st) : "?");
	st = mig_json_get(m, "mode", json_type_string);
	if (st && !strcmp(json_object_get_string(st), "PostCopy"))
		t->rep.mode = "PostCopy";
	if (why && !t->reason[0])
		snprintf(t->reason, sizeof(t->reason), "source: %s", json_object_get_string(why));
	vm_report_source_qemu(&t->rep, mig_json_get(m, "qemu", json_type_object));
	json_object_put(m);
	return true;
}

/* This QEMU's migration and run state; "exited" when it no longer answers. */
static void query_target(struct target *t)
{
	struct mig_error e = { 0 };

	if (t->qmp.fd < 0)
		return;
	if (mig_qemu_query(&t->qmp, &t->rep.qemu, &e) < 0 ||
	    mig_qmp_status(&t->qmp, t->rep.target_status, sizeof(t->rep.target_status), &e) < 0) {
		snprintf(t->rep.target_status, sizeof(t->rep.target_status), "%s",
			 e.code == -ETIMEDOUT ? "unresponsive" : "exited");
		mig_qmp_close(&t->qmp);
	}
	if (!strcmp(t->rep.qemu.status, "postcopy-active"))
		t->rep.mode = "PostCopy";
}

/* Once the source said completed: wait for the guest to run here. */
static void settle(struct target *t)
{
	double deadline = mig_now() + SETTLE_TIMEOUT;

	query_target(t);
	while (!strcmp(t->source_said, "completed") && t->qmp.fd >= 0 &&
	       strcmp(t->rep.target_status, "running") && mig_now() < deadline) {
		usleep(TICK_MS * 1000);
		query_target(t);
	}
}

/*
 * Whether nothing moved for the source's progressTimeout (+ WATCH_MARGIN): the source or the
 * network is gone without a word (a link down sends no FIN). The source cancels first; this
 * side then gives up too, breaking its QEMU's connections. Not in post-copy (a quiet guest
 * asks for no page). With fd: the kernel's count of the socket QEMU holds stands in.
 */
static bool stalled(struct target *t, uint64_t *last_bytes, double *last_at)
{
	uint64_t b = mig_forwarder_bytes(&t->fw);
	double now = mig_now();

	if (b != *last_bytes || !t->progress_timeout ||
	    !strcmp(t->rep.qemu.status, "postcopy-active")) {
		*last_bytes = b;
		*last_at = now;
		return false;
	}
	if (now - *last_at <= t->progress_timeout + WATCH_MARGIN)
		return false;
	snprintf(t->reason, sizeof(t->reason),
		 "nothing moved for %.0f s (progressTimeout %u s "
		 "+ %d): the source or the network is gone",
		 now - *last_at, t->progress_timeout, WATCH_MARGIN);
	mig_forwarder_shutdown(&t->fw);
	return true;
}

/* The watch: ticks until the source said done or left, or nothing moves any more. */
static void wait_done(struct target *t)
{
	double last_at = mig_now();
	bool said_failed = false;
	uint64_t last_bytes = 0;
	struct pollfd pfd;

	while (t->ctl >= 0) {
		pfd = (struct pollfd){ .fd = t->ctl, .events = POLLIN };
		if (poll(&pfd, 1, TICK_MS) > 0 && control_message(t))
			return;
		query_target(t);
		if (stalled(t, &last_bytes, &last_at))
			return;
		if (!said_failed && (t->qmp.fd < 0 || !strcmp(t->rep.qemu.status, "failed"))) {
			char why[400];

			snprintf(why, sizeof(why), "the target QEMU %s%s%s",
				 t->qmp.fd < 0 ? t->rep.target_status : "failed the migration",
				 t->rep.qemu.error[0] ? ": " : "", t->rep.qemu.error);
			snprintf(t->reason, sizeof(t->reason), "%s", why);
			send_error(t, why);
			said_failed = true;
		}
	}
}

static void send_status(struct target *t)
{
	struct json_object *m = mig_control_new("status");

	if (t->ctl < 0) {
		json_object_put(m);
		return;
	}
	json_object_object_add(m, "status", json_object_new_string(t->rep.target_status));
	json_object_object_add(m, "report", vm_report_json(&t->rep));
	mig_control_send(t->ctl, m, NULL);
}

void vm_target_watch(struct target *t)
{
	struct vm_report *r = &t->rep;

	wait_done(t);
	settle(t);
	vm_timestamp(r->end, sizeof(r->end));
	r->completed =
		!strcmp(r->target_status, "running") &&
		(!strcmp(t->source_said, "completed") || !strcmp(r->qemu.status, "completed"));
	r->failed = !r->completed;
	/* not here: on the source, unless its QEMU completed (then its mignet resumes it) */
	if (r->completed)
		r->vm_runs_on = "target";
	else if (!strcmp(t->source_said, "completed"))
		r->vm_runs_on = "unknown";
	else
		r->vm_runs_on = "source";
	vm_report_conns(r, &t->fw);
	if (r->failed)
		vm_failure_reason(r, t->reason[0] ? t->reason : "the migration did not complete");
	send_status(t);
}
