// SPDX-License-Identifier: Apache-2.0
/*
 * What mignet migrate / incoming print: JSON lines on stdout (--json), else a progress bar
 * on stderr (a terminal only) and the final report as text on stdout.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mig_parse.h"
#include "vm.h"

#define BAR_EVERY 0.2 /* seconds between two bar updates */

void vm_ui_init(struct vm_ui *ui, bool json)
{
	*ui = (struct vm_ui){ .json = json, .bar = !json && isatty(STDERR_FILENO) };
}

void vm_print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

static struct json_object *dbl(double v, int decimals)
{
	char buf[48];

	if (!isfinite(v))
		v = 0;
	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	return json_object_new_double_s(strtod(buf, NULL), buf);
}

static void add_str(struct json_object *o, const char *key, const char *v)
{
	json_object_object_add(o, key, v ? json_object_new_string(v) : NULL);
}

static void add_u64(struct json_object *o, const char *key, uint64_t v)
{
	json_object_object_add(o, key, json_object_new_int64((int64_t)v));
}

void vm_event(struct vm_ui *ui, const char *event, struct json_object *o)
{
	if (!o)
		o = json_object_new_object();
	if (!ui->json) {
		json_object_put(o);
		return;
	}
	json_object_object_add(o, "event", json_object_new_string(event));
	vm_print_json(o);
}

void vm_timestamp(char *buf, size_t size)
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static double percent(const struct mig_qemu_migration *m)
{
	if (!m->total)
		return 0;
	return 100.0 * (double)(m->total - (m->remaining < m->total ? m->remaining : m->total)) /
	       (double)m->total;
}

static void progress_json(const struct mig_qemu_migration *m, double elapsed, const char *mode)
{
	struct json_object *o = json_object_new_object();

	add_str(o, "event", "progress");
	add_str(o, "status", m->status);
	add_str(o, "mode", mode);
	json_object_object_add(o, "percent", dbl(percent(m), 1));
	add_u64(o, "ramTotal", m->total);
	add_u64(o, "ramRemaining", m->remaining);
	add_u64(o, "transferredBytes", m->transferred);
	json_object_object_add(o, "mbps", dbl(m->mbps, 1));
	add_u64(o, "dirtyRate", m->dirty_rate);
	add_u64(o, "pass", m->dirty_sync_count);
	json_object_object_add(o, "cpuThrottlePercent", json_object_new_int((int)m->cpu_throttle));
	json_object_object_add(o, "seconds", dbl(elapsed, 3));
	vm_print_json(o);
}

void vm_progress(struct vm_ui *ui, const struct mig_qemu_migration *m, double elapsed,
		 const char *mode)
{
	char bar[31], rem[32], dirty[32];
	double pct = percent(m);
	int fill = (int)(pct * 30 / 100), i;

	if (ui->json) {
		progress_json(m, elapsed, mode);
		return;
	}
	if (!ui->bar || mig_now() < ui->last_bar + BAR_EVERY)
		return;
	ui->last_bar = mig_now();
	for (i = 0; i < 30; i++)
		bar[i] = i < fill ? '#' : '.';
	bar[30] = '\0';
	fprintf(stderr, "\r[%s] %5.1f%%  %7.1f Mbit/s  remaining %s  dirty %s/s  pass %llu %s ",
		bar, pct, m->mbps, mig_format_bytes((double)m->remaining, rem, sizeof(rem)),
		mig_format_bytes((double)m->dirty_rate, dirty, sizeof(dirty)),
		(unsigned long long)m->dirty_sync_count, mode);
	fflush(stderr);
}

void vm_report_conns(struct vm_report *r, struct mig_forwarder *fw)
{
	unsigned int i;

	r->nconn = fw->n;
	for (i = 0; i < fw->n && i < MIG_MAX_STREAMS; i++)
		r->conn_bytes[i] = mig_conn_bytes(&fw->conns[i]);
}

static uint64_t json_u64(struct json_object *q, const char *key)
{
	struct json_object *v = mig_json_get(q, key, json_type_int);

	return v && json_object_get_int64(v) > 0 ? (uint64_t)json_object_get_int64(v) : 0;
}

void vm_report_source_qemu(struct vm_report *r, struct json_object *q)
{
	struct mig_qemu_migration *m = &r->source_qemu;

	if (!q)
		return;
	m->total_time_ms = json_u64(q, "totalTimeMs");
	m->downtime_ms = json_u64(q, "downtimeMs");
	m->setup_time_ms = json_u64(q, "setupTimeMs");
	m->transferred = json_u64(q, "transferredBytes");
	m->total = json_u64(q, "ramTotal");
	m->dirty_sync_count = json_u64(q, "dirtySyncCount");
	m->postcopy_requests = json_u64(q, "postcopyRequests");
	r->have_source_qemu = true;
}

struct json_object *vm_report_qemu_json(const struct vm_report *r)
{
	struct mig_qemu_migration merged = r->qemu, *m = &merged;
	struct json_object *o = json_object_new_object();
	const char *from = "this node's QEMU";
	double secs;

	if (r->have_source_qemu && !m->transferred && !m->total_time_ms) {
		/* the figures of the migration as the source QEMU measured it; status is ours */
		merged = r->source_qemu;
		memcpy(merged.status, r->qemu.status, sizeof(merged.status));
		memcpy(merged.error, r->qemu.error, sizeof(merged.error));
		from = "the source QEMU";
	}
	secs = (double)m->total_time_ms / 1000.0;
	add_str(o, "status", m->status);
	add_str(o, "figuresFrom", from);
	add_u64(o, "totalTimeMs", m->total_time_ms);
	add_u64(o, "downtimeMs", m->downtime_ms);
	add_u64(o, "setupTimeMs", m->setup_time_ms);
	add_u64(o, "transferredBytes", m->transferred);
	add_u64(o, "ramTotal", m->total);
	json_object_object_add(o, "gbps",
			       dbl(secs > 0 ? (double)m->transferred * 8 / secs / 1e9 : 0, 3));
	add_u64(o, "dirtySyncCount", m->dirty_sync_count);
	add_u64(o, "postcopyRequests", m->postcopy_requests);
	if (m->error[0])
		add_str(o, "error", m->error);
	return o;
}

struct json_object *vm_report_json(const struct vm_report *r)
{
	struct json_object *o = json_object_new_object(), *conns = json_object_new_array();
	unsigned int i;

	add_str(o, "event", "report");
	add_str(o, "role", r->role);
	json_object_object_add(o, "completed", json_object_new_boolean(r->completed));
	json_object_object_add(o, "failed", json_object_new_boolean(r->failed));
	add_str(o, "failureReason", r->failure_reason[0] ? r->failure_reason : NULL);
	add_str(o, "abortStatus", r->abort_status);
	add_str(o, "mode", r->mode);
	add_str(o, "targetNodeAddress", r->target_address[0] ? r->target_address : NULL);
	json_object_object_add(o, "targetNodePort", json_object_new_int(r->port));
	add_str(o, "sourceAddress", r->source_address[0] ? r->source_address : NULL);
	add_str(o, "startTimestamp", r->start[0] ? r->start : NULL);
	add_str(o, "endTimestamp", r->end[0] ? r->end : NULL);
	add_str(o, "sourceStatus", r->source_status[0] ? r->source_status : NULL);
	add_str(o, "targetStatus", r->target_status[0] ? r->target_status : NULL);
	add_str(o, "vmRunsOn", r->vm_runs_on);
	add_str(o, "transport", r->transport);
	add_u64(o, "guestMemory", r->guest_memory);
	json_object_object_add(o, "qemu", vm_report_qemu_json(r));
	json_object_object_add(o, "streams", json_object_new_int((int)r->streams));
	json_object_object_add(o, "connections", json_object_new_int((int)r->connections));
	json_object_object_add(o, "multifdChannels", json_object_new_int((int)r->multifd_channels));
	json_object_object_add(o, "cpuSeconds", dbl(r->cpu_seconds, 3));
	for (i = 0; i < r->nconn; i++)
		json_object_array_add(conns, json_object_new_int64((int64_t)r->conn_bytes[i]));
	json_object_object_add(o, "connectionBytes", conns);
	add_u64(o, "rejectedConnections", r->rejected);
	vm_tls_report_json(r, o);
	if (r->peer)
		json_object_object_add(o, "peer", json_object_get(r->peer));
	return o;
}

void vm_report_print(struct vm_ui *ui, const struct vm_report *r)
{
	const struct mig_qemu_migration *m = &r->qemu;
	char b[32];

	if (ui->bar)
		fputc('\n', stderr);
	if (ui->json) {
		vm_print_json(vm_report_json(r));
		return;
	}
	printf("%s: %s (%s) %s -> %s, %u connection(s), %s\n", r->role,
	       r->completed ? "completed" : "failed", r->mode ? r->mode : "-",
	       r->source_address[0] ? r->source_address : "?",
	       r->target_address[0] ? r->target_address : "?", r->connections, r->transport);
	printf("  QEMU: %s in %llu ms, downtime %llu ms, %s transferred, %llu dirty sync(s)\n",
	       m->status, (unsigned long long)m->total_time_ms, (unsigned long long)m->downtime_ms,
	       mig_format_bytes((double)m->transferred, b, sizeof(b)),
	       (unsigned long long)m->dirty_sync_count);
	if (r->tls_have_info)
		printf("  TLS: %s %s, peer %s, record layer: %s\n", r->tls_info.version,
		       r->tls_info.cipher, r->tls_info.peer_name, r->tls_info.path);
	else if (!r->tls)
		printf("  TLS: off (--no-tls or disableTLS): the migration went in clear\n");
	printf("  source %s, target %s: the VM runs on the %s; mignet used %.2f CPU s\n",
	       r->source_status[0] ? r->source_status : "?",
	       r->target_status[0] ? r->target_status : "?", r->vm_runs_on, r->cpu_seconds);
	if (r->failed)
		fprintf(stderr, "mignet %s: %s\n", r->role, r->failure_reason);
	fflush(stdout);
}

void vm_failure_reason(struct vm_report *r, const char *why)
{
	const char *where = r->vm_runs_on ? r->vm_runs_on : "unknown";

	if (!strcmp(where, "unknown"))
		snprintf(r->failure_reason, sizeof(r->failure_reason),
			 "%.340s; neither QEMU is "
			 "known to run the VM",
			 why);
	else
		snprintf(r->failure_reason, sizeof(r->failure_reason),
			 "%.340s; the VM runs on the "
			 "%s",
			 why, where);
}
