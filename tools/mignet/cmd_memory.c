// SPDX-License-Identifier: Apache-2.0
/*
 * mignet receive / mignet send: the synthetic migration of a memory region mignet allocates
 * itself (mig_send.c, mig_receive.c), the transport's own test and capacity probe.
 *
 *   mignet receive [--interface migration0] [--port 49152] [--token T] [--from CIDR]
 *                  [--config FILE] [TLS options] [--json]
 *   mignet send --target ADDR[:PORT] [--guest-memory SIZE] [--dirty-rate RATE] [--streams N]
 *               [--zerocopy auto|always|never] [--bandwidth MiB/s] [--downtime-ms MS]
 *               [--completion-timeout-per-gib S] [--progress-timeout S] [--token T]
 *               [--config FILE] [TLS options] [--json]
 *
 * TLS as for migrate/incoming (tls_cli.h): on unless --no-tls or disableTLS: true; receive is
 * the server, send the client; the certificates are read at each run. Every stream then runs
 * mutual TLS after the transport's handshake, through a shim (no zero-copy).
 *
 * Progress on stderr (a bar, on a terminal) or JSON lines on stdout (--json), the final
 * report on stdout, errors on stderr. Exit status: 0 verified, 1 migration failed, 2 usage.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "mig.h"
#include "mig_cluster_limit.h" /* parallelMigrationsPerCluster on etcd */
#include "mig_config.h"
#include "mig_limit.h"
#include "mig_parse.h"
#include "mig_privilege.h"
#include "mig_report.h"
#include "slots.h"
#include "tls_cli.h"
#include "vm.h"

/* ---- receive ---- */

static void on_event(enum mig_event ev, const char *detail, const struct mig_addr *peer,
		     void *opaque)
{
	struct ui *ui = opaque;
	char addr[64] = "";
	struct json_object *o;

	if (peer)
		mig_addr_format(peer, addr, sizeof(addr));
	/*
	 * Least privilege: once the receiver's socket is bound to migration0 it needs no
	 * capability (accepting, mapping and writing its own memory need none): drop them all.
	 */
	if (ev == MIG_EV_LISTENING)
		mig_privilege_none("mignet receive");
	if (!ui->json) {
		if (ev == MIG_EV_LISTENING)
			fprintf(stderr, "listening on %s port %s\n", addr, detail);
		else if (ev == MIG_EV_REJECTED)
			fprintf(stderr, "rejected a connection from %s: %s\n", addr, detail);
		else if (ev == MIG_EV_STARTED)
			fprintf(stderr, "migration from %s started\n", addr);
		return;
	}
	o = json_object_new_object();
	switch (ev) {
	case MIG_EV_LISTENING:
		json_object_object_add(o, "event", json_object_new_string("listening"));
		json_object_object_add(o, "address", json_object_new_string(addr));
		json_object_object_add(o, "port", json_object_new_int(atoi(detail)));
		break;
	case MIG_EV_REJECTED:
		json_object_object_add(o, "event", json_object_new_string("rejected"));
		json_object_object_add(o, "peer", json_object_new_string(addr));
		json_object_object_add(o, "reason", json_object_new_string(detail));
		break;
	case MIG_EV_STARTED:
		json_object_object_add(o, "event", json_object_new_string("started"));
		json_object_object_add(o, "peer", json_object_new_string(addr));
		break;
	}
	mignet_print_json(o);
}

/* TLS of a run, for its report: on or off, and what the first stream negotiated. */
struct run_tls {
	bool on;
	struct mig_tls_info info; /* info.version[0]: a stream got that far */
};

static int finish(struct ui *ui, const struct mig_report *rep, const struct mig_error *err, int r,
		  const struct run_tls *tls)
{
	const struct mig_tls_info *info = tls->info.version[0] ? &tls->info : NULL;
	char text[1024];

	if (ui->json) {
		struct json_object *o = mig_report_json(rep, r < 0 ? err : NULL);

		tls_cli_report_json(tls->on, info, o);
		mignet_print_json(o);
	} else if (rep->rounds || rep->bytes) {
		fputs(mig_report_text(rep, text, sizeof(text)), stdout);
		tls_cli_report_text(tls->on, info, "the memory");
	}
	if (r < 0) {
		fprintf(stderr, "mignet %s: %s\n", rep->role,
			err->msg[0] ? err->msg : strerror(-r));
		return EXIT_FAILED;
	}
	return 0;
}

int mignet_receive_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "interface", required_argument, NULL, 'i' },
		{ "port", required_argument, NULL, 'p' },
		{ "token", required_argument, NULL, 't' },
		{ "token-file", required_argument, NULL, 'T' },
		{ "from", required_argument, NULL, 'f' },
		{ "timeout", required_argument, NULL, 'w' },
		{ "progress-timeout", required_argument, NULL, 'P' },
		{ "max-memory", required_argument, NULL, 'm' },
		{ "config", required_argument, NULL, 'c' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		TLS_CLI_GETOPT,
		{ 0 },
	};
	struct mig_receive_opts o = { .interface = MIG_DEFAULT_INTERFACE,
				      .port = MIG_DEFAULT_PORT,
				      .progress_timeout = MIG_DEFAULT_PROGRESS_TIMEOUT };
	const char *token = NULL, *token_file = NULL, *config = NULL;
	char token_buf[MIG_MAX_TOKEN + 2];
	struct ui ui = { 0 };
	struct mig_report rep = {
		.role = "receive"
	}; /* a failure before mig_receive reports too */
	struct mig_error err = { 0 };
	struct tls_cli tc = { 0 };
	struct run_tls tls = { 0 };
	unsigned long v;
	int c, r;

	o.max_memory = (uint64_t)sysconf(_SC_PHYS_PAGES) * (uint64_t)sysconf(_SC_PAGESIZE);
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			o.interface = optarg;
			break;
		case 'p':
			if (mig_parse_uint(optarg, 1, 65535, &v) < 0)
				return mignet_usage_error("--port %s: not a port", optarg);
			o.port = (uint16_t)v;
			break;
		case 't':
			token = optarg;
			break;
		case 'T':
			token_file = optarg;
			break;
		case 'f':
			o.from = optarg;
			break;
		case 'w':
			if (mig_parse_uint(optarg, 0, 86400 * 365, &v) < 0)
				return mignet_usage_error("--timeout %s: not a number of seconds",
							  optarg);
			o.timeout = (unsigned int)v;
			break;
		case 'P':
			if (mig_parse_uint(optarg, 0, 86400, &v) < 0)
				return mignet_usage_error("--progress-timeout %s: not seconds",
							  optarg);
			o.progress_timeout = (unsigned int)v;
			break;
		case 'm':
			if (mig_parse_size(optarg, &o.max_memory) < 0)
				return mignet_usage_error("--max-memory %s: not a size", optarg);
			break;
		case 'c':
			config = optarg;
			break;
		case 'j':
			ui.json = true;
			break;
		case 'h':
			mignet_usage(stdout);
			return 0;
		default:
			if (tls_cli_getopt(&tc, c, optarg))
				break;
			mignet_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return mignet_usage_error("unexpected argument %s", argv[optind]);
	r = tls_cli_settle(&tc, config, "receive");
	if (r)
		return r;
	r = mignet_pick_token(token, token_file, token_buf, sizeof(token_buf), &o.token);
	if (r)
		return r;
	mig_privilege_receive("mignet receive", o.port);
	if (!o.token && !o.from && tc.off)
		fprintf(stderr, "mignet receive: warning: neither --token nor --from is set: any "
				"host on the migration network can write this memory\n");
	else if (!o.token && !o.from)
		fprintf(stderr,
			"mignet receive: warning: no --token or --from: mutual TLS "
			"authenticates the sender, but any host on the migration network can "
			"open TLS handshakes here (bounded in number and time)\n");
	o.event = on_event;
	o.opaque = &ui;
	signal(SIGPIPE, SIG_IGN); /* a peer gone is an EPIPE (the TLS shim writes a socket too) */
	tls.on = !tc.off;
	/* this run's certificates, read now: a rotated one is used without a restart */
	r = tls_cli_load(&tc, MIG_TLS_SERVER, &o.tls, &err);
	o.tls_info = &tls.info;
	if (r == 0)
		r = mig_receive(&o, &rep, &err);
	mig_tls_ctx_free(o.tls);
	return finish(&ui, &rep, &err, r, &tls);
}

/* ---- send ---- */

static struct json_object *dbl(double v, int decimals)
{
	char buf[48];

	snprintf(buf, sizeof(buf), "%.*f", decimals, v);
	return json_object_new_double_s(strtod(buf, NULL), buf);
}

static void on_progress(const struct mig_progress *p, void *opaque)
{
	struct ui *ui = opaque;
	double pct = p->round_total ? 100.0 * (double)p->round_done / (double)p->round_total : 100;

	if (ui->json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "event",
				       json_object_new_string(p->round_end ? "round" : "progress"));
		json_object_object_add(o, "round", json_object_new_int((int)p->round));
		json_object_object_add(o, "percent", dbl(pct, 1));
		json_object_object_add(o, "roundBytes",
				       json_object_new_int64((int64_t)p->round_total));
		json_object_object_add(o, "bytes", json_object_new_int64((int64_t)p->bytes));
		json_object_object_add(o, "gbps", dbl(p->rate_bps * 8 / 1e9, 3));
		json_object_object_add(o, "seconds", dbl(p->elapsed, 3));
		if (p->round_end)
			json_object_object_add(o, "dirtyBytes",
					       json_object_new_int64((int64_t)p->dirty_bytes));
		else
			json_object_object_add(o, "etaSeconds", dbl(p->eta, 3));
		mignet_print_json(o);
		return;
	}
	if (ui->bar) {
		char bar[31];
		int fill = (int)(pct * 30 / 100), i;

		for (i = 0; i < 30; i++)
			bar[i] = i < fill ? '#' : '.';
		bar[30] = '\0';
		fprintf(stderr, "\r[%s] %5.1f%%  %6.2f Gbit/s  ETA %5.1f s  round %u ", bar, pct,
			p->rate_bps * 8 / 1e9, p->eta < 0 ? 0 : p->eta, p->round);
		if (p->round_end) {
			char d[32];

			fprintf(stderr, "\n  round %u done; the guest dirtied %s meanwhile\n",
				p->round, mig_format_bytes((double)p->dirty_bytes, d, sizeof(d)));
		}
		fflush(stderr);
	}
}

int mignet_send_main(int argc, char **argv)
{
	enum {
		O_TARGET = 256,
		O_IF,
		O_MEM,
		O_DIRTY,
		O_STREAMS,
		O_ZC,
		O_BW,
		O_DOWN,
		O_CTO,
		O_PTO,
		O_TOKEN,
		O_TOKENF,
		O_JSON,
		O_CONFIG,
		O_PAR,
		O_LOCK,
		O_ROUNDS,
		O_SEED,
		O_BATCH,
		O_HELP,
		O_ETCD,
		O_CPAR,
		O_CWAIT,
		O_CTTL
	};
	static const struct option opts[] = {
		{ "target", required_argument, NULL, O_TARGET },
		{ "interface", required_argument, NULL, O_IF },
		{ "guest-memory", required_argument, NULL, O_MEM },
		{ "dirty-rate", required_argument, NULL, O_DIRTY },
		{ "streams", required_argument, NULL, O_STREAMS },
		{ "zerocopy", required_argument, NULL, O_ZC },
		{ "bandwidth", required_argument, NULL, O_BW },
		{ "downtime-ms", required_argument, NULL, O_DOWN },
		{ "completion-timeout-per-gib", required_argument, NULL, O_CTO },
		{ "progress-timeout", required_argument, NULL, O_PTO },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "token-file", required_argument, NULL, O_TOKENF },
		{ "json", no_argument, NULL, O_JSON },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "parallel-outbound", required_argument, NULL, O_PAR },
		{ "lock-dir", required_argument, NULL, O_LOCK },
		{ "max-rounds", required_argument, NULL, O_ROUNDS },
		{ "seed", required_argument, NULL, O_SEED },
		{ "batch-size", required_argument, NULL, O_BATCH },
		{ "help", no_argument, NULL, O_HELP },
		/* parallelMigrationsPerCluster, on etcd */
		{ "etcd", required_argument, NULL, O_ETCD },
		{ "parallel-migrations-per-cluster", required_argument, NULL, O_CPAR },
		{ "cluster-wait", required_argument, NULL, O_CWAIT },
		{ "cluster-lease-ttl", required_argument, NULL, O_CTTL },
		TLS_CLI_GETOPT,
		{ 0 },
	};
	struct mig_cluster_opts copts = { .wait_ms = -1 };
	struct mig_cluster_slot *cslot = NULL;
	char *cfg_etcd = NULL, holder[300], cmsg[512];
	struct mig_send_opts o = { .interface = MIG_DEFAULT_INTERFACE,
				   .memory_bytes = 256u << 20,
				   .streams = 2,
				   .zc_mode = MIG_ZC_AUTO,
				   .downtime_ms = 300,
				   .completion_timeout_per_gib =
					   MIG_DEFAULT_COMPLETION_TIMEOUT_PER_GIB,
				   .progress_timeout = MIG_DEFAULT_PROGRESS_TIMEOUT,
				   .seed = 1 };
	bool set_bw = false, set_cto = false, set_pto = false, set_par = false;
	const char *token = NULL, *token_file = NULL, *config = NULL;
	const char *lock_dir = getenv("MIGNET_LOCK_DIR");
	unsigned int parallel = MIG_DEFAULT_PARALLEL_OUTBOUND;
	char token_buf[MIG_MAX_TOKEN + 2];
	struct ui ui = { 0 };
	struct slot_waiter waiter = { .who = "mignet send" };
	struct mig_report rep = { .role = "send" }; /* a failure before mig_send reports too */
	struct mig_error err = { 0 };
	struct tls_cli tc = { 0 };
	struct run_tls tls = { 0 };
	bool set_zc = false;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);
	unsigned long v;
	int c, r, slot;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_TARGET:
			o.target = optarg;
			break;
		case O_IF:
			o.interface = optarg;
			break;
		case O_MEM:
			if (mig_parse_size(optarg, &o.memory_bytes) < 0 || !o.memory_bytes)
				return mignet_usage_error("--guest-memory %s: not a size", optarg);
			break;
		case O_DIRTY:
			if (mig_parse_rate(optarg, 1, &o.dirty_rate) < 0)
				return mignet_usage_error(
					"--dirty-rate %s: not a rate (e.g. 64MiB/s)", optarg);
			break;
		case O_STREAMS:
			if (mig_parse_uint(optarg, 1, MIG_MAX_STREAMS, &v) < 0)
				return mignet_usage_error("--streams %s: 1..64", optarg);
			o.streams = (unsigned int)v;
			break;
		case O_ZC:
			if (mig_zc_mode_parse(optarg, &o.zc_mode) < 0)
				return mignet_usage_error("--zerocopy %s: auto, always or never",
							  optarg);
			set_zc = true;
			break;
		case O_BW:
			if (mig_parse_rate(optarg, 1u << 20, &o.bandwidth) < 0)
				return mignet_usage_error("--bandwidth %s: MiB/s", optarg);
			set_bw = true;
			break;
		case O_DOWN:
			if (mig_parse_uint(optarg, 0, 3600000, &v) < 0)
				return mignet_usage_error("--downtime-ms %s: milliseconds", optarg);
			o.downtime_ms = (unsigned int)v;
			break;
		case O_CTO:
			if (mig_parse_uint(optarg, 0, 1000000, &v) < 0)
				return mignet_usage_error(
					"--completion-timeout-per-gib %s: seconds", optarg);
			o.completion_timeout_per_gib = (unsigned int)v;
			set_cto = true;
			break;
		case O_PTO:
			if (mig_parse_uint(optarg, 0, 1000000, &v) < 0)
				return mignet_usage_error("--progress-timeout %s: seconds", optarg);
			o.progress_timeout = (unsigned int)v;
			set_pto = true;
			break;
		case O_TOKEN:
			token = optarg;
			break;
		case O_TOKENF:
			token_file = optarg;
			break;
		case O_JSON:
			ui.json = true;
			break;
		case O_CONFIG:
			config = optarg;
			break;
		case O_PAR:
			if (mig_parse_uint(optarg, 1, 1000, &v) < 0)
				return mignet_usage_error("--parallel-outbound %s: 1..1000",
							  optarg);
			parallel = (unsigned int)v;
			set_par = true;
			break;
		case O_LOCK:
			lock_dir = optarg;
			break;
		case O_ROUNDS:
			if (mig_parse_uint(optarg, 0, 100000, &v) < 0)
				return mignet_usage_error("--max-rounds %s: a count", optarg);
			o.max_rounds = (unsigned int)v;
			break;
		case O_SEED:
			if (mig_parse_uint(optarg, 0, ~0ul, &v) < 0)
				return mignet_usage_error("--seed %s: a number", optarg);
			o.seed = v;
			break;
		case O_BATCH:
			if (mig_parse_size(optarg, &o.batch_bytes) < 0 || o.batch_bytes < 4096 ||
			    o.batch_bytes > (4u << 20))
				return mignet_usage_error("--batch-size %s: 4K..4M", optarg);
			break;
		case O_HELP:
			mignet_usage(stdout);
			return 0;
		case O_ETCD:
			copts.endpoints = optarg;
			break;
		case O_CPAR:
			if (mig_parse_uint(optarg, 1, 10000, &v) < 0)
				return mignet_usage_error(
					"--parallel-migrations-per-cluster %s: 1..10000", optarg);
			copts.limit = (unsigned int)v;
			break;
		case O_CWAIT:
			if (mig_parse_uint(optarg, 0, 1000000, &v) < 0)
				return mignet_usage_error("--cluster-wait %s: seconds", optarg);
			copts.wait_ms = (int64_t)v * 1000;
			break;
		case O_CTTL:
			if (mig_parse_uint(optarg, 2, 3600, &v) < 0)
				return mignet_usage_error("--cluster-lease-ttl %s: 2..3600 seconds",
							  optarg);
			copts.ttl = (unsigned int)v;
			break;
		default:
			if (tls_cli_getopt(&tc, c, optarg))
				break;
			mignet_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return mignet_usage_error("unexpected argument %s", argv[optind]);
	if (!o.target)
		return mignet_usage_error("send needs --target ADDR[:PORT]");
	r = tls_cli_settle(&tc, config, "send");
	if (r)
		return r;
	if (!tc.off && set_zc && o.zc_mode == MIG_ZC_ALWAYS)
		return mignet_usage_error("--zerocopy always: the TLS streams run through a shim "
					  "socket, which has no zero-copy: only with --no-tls");
	if (!tc.off)
		o.zc_mode = MIG_ZC_NEVER;
	tls.on = !tc.off;
	if (config) { /* parallelMigrationsPerCluster and etcd from the file */
		unsigned int climit;

		if (mig_cluster_config_load(config, &climit, &cfg_etcd) < 0)
			return mignet_usage_error(
				"--config %s: bad parallelMigrationsPerCluster or etcd", config);
		if (cfg_etcd && !copts.endpoints)
			copts.endpoints = cfg_etcd;
		/*
		 * A HyperConverged stanza always carries parallelMigrationsPerCluster; without an
		 * etcd to count in, a node cannot enforce a cluster-wide limit: say so, go on.
		 */
		if (climit && !copts.limit && !copts.endpoints)
			fprintf(stderr,
				"mignet send: parallelMigrationsPerCluster=%u from %s is not "
				"enforced: no etcd endpoints (--etcd)\n",
				climit, config);
		else if (climit && !copts.limit)
			copts.limit = climit;
	}
	if (copts.limit && !copts.endpoints)
		return mignet_usage_error("parallelMigrationsPerCluster needs --etcd ENDPOINTS");
	if (config) {
		struct mig_config cfg;

		if (mig_config_load(config, &cfg, &err) < 0) {
			fprintf(stderr, "mignet send: %s\n", err.msg);
			return EXIT_USAGE;
		}
		/* the command line wins over the file */
		if (cfg.has_bandwidth && !set_bw)
			o.bandwidth = cfg.bandwidth;
		if (cfg.has_completion && !set_cto)
			o.completion_timeout_per_gib = cfg.completion_timeout_per_gib;
		if (cfg.has_progress && !set_pto)
			o.progress_timeout = cfg.progress_timeout;
		if (cfg.has_parallel && !set_par)
			parallel = cfg.parallel_outbound;
	}
	o.memory_bytes = (o.memory_bytes + page - 1) / page * page;
	r = mignet_pick_token(token, token_file, token_buf, sizeof(token_buf), &o.token);
	if (r)
		return r;
	mig_privilege_send(o.zc_mode != MIG_ZC_NEVER);
	ui.bar = !ui.json && isatty(STDERR_FILENO);
	waiter.json = ui.json;
	o.progress = on_progress;
	o.opaque = &ui;

	slot = slot_outbound(&waiter, lock_dir ? lock_dir : DEFAULT_LOCK_DIR, parallel);
	if (slot < 0) {
		mig_error_set(&err, slot, "outbound slot in %s: %s",
			      lock_dir ? lock_dir : DEFAULT_LOCK_DIR, strerror(-slot));
		return finish(&ui, &rep, &err, slot, &tls);
	}
	if (copts.limit) { /* a cluster-wide slot, held until the end */
		char host[256] = "";

		gethostname(host, sizeof(host) - 1);
		snprintf(holder, sizeof(holder), "%s:%d -> %s", host, (int)getpid(), o.target);
		copts.holder = holder;
		copts.on_wait = slot_cluster_waiting;
		copts.arg = &waiter;
		r = mig_cluster_slot_acquire(&copts, &cslot, cmsg, sizeof(cmsg));
		free(cfg_etcd);
		if (r < 0) {
			mig_error_set(&err, r, "cluster-wide migration slot: %s", cmsg);
			close(slot);
			return finish(&ui, &rep, &err, r, &tls);
		}
	}
	/* this run's certificates, read now: a rotated one is used without a restart */
	signal(SIGPIPE, SIG_IGN); /* a peer gone is an EPIPE (the TLS shim writes a socket too) */
	r = tls_cli_load(&tc, MIG_TLS_CLIENT, &o.tls, &err);
	o.tls_info = &tls.info;
	if (r == 0)
		r = mig_send(&o, &rep, &err);
	mig_tls_ctx_free(o.tls);
	mig_cluster_slot_release(cslot);
	if (ui.bar)
		fputc('\n', stderr);
	if (rep.dirty_tracking && !strcmp(rep.dirty_tracking, "unsupported"))
		fprintf(stderr,
			"mignet send: %s; live pre-copy needs userfaultfd WP_ASYNC and "
			"PAGEMAP_SCAN (Linux >= 6.7): the guest was paused for a stop-and-copy\n",
			rep.dirty_note);
	close(slot);
	return finish(&ui, &rep, &err, r, &tls);
}
