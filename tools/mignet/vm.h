/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mignet migrate / mignet incoming: a QEMU's live migration carried over migration0.
 *
 *   source node (virt-handler netns)              target node (virt-handler netns)
 *   QEMU --unix--> mignet migrate ==TCP, migration0==> mignet incoming --unix--> QEMU
 *         (--socket-dir)   connection 0: control (setup, ready, done, status)   (-incoming
 *                          connection k: QEMU's k-th connection, spliced          defer)
 *
 * docs/migration.md has the whole sequence; vm_migrate.c and vm_incoming.c run each side,
 * vm_policy.c decides when to cancel or switch to post-copy, vm_report.c prints.
 */
#ifndef MIGNET_TOOLS_VM_H
#define MIGNET_TOOLS_VM_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stdint.h>

#include "mig.h"
#include "mig_forward.h"
#include "mig_qemu.h"
#include "mig_tls.h"
#include "tls_cli.h"

#define VM_DEFAULT_SOCKET_DIR "/run/mignet"
#define VM_DEFAULT_STREAMS 8
#define VM_QMP_TIMEOUT 30	     /* seconds for one QMP command */
#define VM_CONTROL_TIMEOUT 60	     /* seconds for the peer's answer on the control connection */
#define VM_FDNAME "mignet-migration" /* getfd name of the fd: transport */
#define EXIT_FAILED 1
#define EXIT_USAGE 2

/* The options of both commands (each parses its own subset, opts.h). */
struct vm_opts {
	const char *qmp, *target, *interface, *socket_dir, *config, *token_file, *from;
	const char *lock_dir, *etcd;
	uint16_t port;
	unsigned int streams, progress_timeout, completion_timeout_per_gib, timeout, parallel;
	unsigned int cluster_limit, cluster_wait;
	uint64_t bandwidth;
	bool auto_converge, post_copy, json;
	const char *data_path; /* --data-path: "auto" (NULL), "fd" or "splice" */
	bool fd_pass;	       /* resolved: QEMU gets the TCP socket itself (getfd, fd:) */
	struct tls_cli tls;    /* on unless --no-tls or disableTLS: true (tls_cli.h) */
	bool set_streams, set_bw, set_pto, set_cto, set_ac, set_pc, set_par, set_cluster;
	const char *token; /* from --token-file or MIGNET_TOKEN */
	char token_buf[MIG_MAX_TOKEN + 2];
};

/* The report of either side, shaped like a VMI's status.migrationState. */
struct vm_report {
	const char *role; /* "migrate" or "incoming" */
	bool completed, failed;
	char failure_reason[400];
	const char *abort_status; /* NULL, "Succeeded" (cancelled), "Failed" */
	const char *mode;	  /* "PreCopy" or "PostCopy" */
	const char *transport;	  /* "splice" or "fd" */
	char target_address[64], source_address[64];
	uint16_t port;
	char start[40], end[40];		   /* RFC 3339 */
	char source_status[32], target_status[32]; /* QEMU run states ("" unknown) */
	const char *vm_runs_on;			   /* "source", "target", "unknown" */
	uint64_t guest_memory;
	struct mig_qemu_migration qemu; /* the last query-migrate of this side's QEMU */
	/* the target's: the source QEMU's final figures (done), for those its own QEMU does not
	 * give (QEMU 7.2's incoming side reports only its status) */
	struct mig_qemu_migration source_qemu;
	bool have_source_qemu;
	unsigned int streams;	  /* QEMU connections carried: main + multifd channels */
	unsigned int connections; /* the same (a clearer name) */
	unsigned int multifd_channels;
	double cpu_seconds;		      /* of this mignet */
	uint64_t conn_bytes[MIG_MAX_STREAMS]; /* both directions of connection k (k >= 1) */
	unsigned int nconn;
	uint64_t rejected;
	struct json_object *peer; /* the other side's report, when it sent one */
	bool tls;		  /* the connections ran TLS (tls_info: the first one's) */
	bool tls_have_info;
	struct mig_tls_info tls_info;
};

struct vm_ui {
	bool json, bar;
	double last_bar;
};

/* vm_report.c */
void vm_ui_init(struct vm_ui *ui, bool json);
void vm_print_json(struct json_object *o);
void vm_event(struct vm_ui *ui, const char *event, struct json_object *o);
void vm_progress(struct vm_ui *ui, const struct mig_qemu_migration *m, double elapsed,
		 const char *mode);
void vm_timestamp(char *buf, size_t size);
struct json_object *vm_report_json(const struct vm_report *r);

/** vm_report_qemu_json() - this side's QEMU figures, as in the report's "qemu". */
struct json_object *vm_report_qemu_json(const struct vm_report *r);

/** vm_report_source_qemu() - keep the source's "qemu" figures @q (its done message). */
void vm_report_source_qemu(struct vm_report *r, struct json_object *q);
void vm_report_print(struct vm_ui *ui, const struct vm_report *r);
void vm_report_conns(struct vm_report *r, struct mig_forwarder *fw);
/* "WHY; the VM runs on the source" (or that neither side is known to run it) */
void vm_failure_reason(struct vm_report *r, const char *why);

/* vm_policy.c */
enum vm_action { VM_GO_ON, VM_CANCEL, VM_POSTCOPY };

struct vm_policy {
	double t0, deadline;	       /* deadline 0: none */
	unsigned int progress_timeout; /* seconds, 0 none */
	bool post_copy, in_postcopy;
	uint64_t least_remaining;
	double least_at;
};

void vm_policy_init(struct vm_policy *p, const struct vm_opts *o, uint64_t guest_memory, double t0);
enum vm_action vm_policy_check(struct vm_policy *p, const struct mig_qemu_migration *m, double now,
			       char *why, size_t size);
/* mignet migrate's settings from --config, the flags winning. Return: 0 or an exit code. */
int vm_policy_config(struct vm_opts *o);

/* shared by both commands */
int vm_pick_token(struct vm_opts *o, const char *cmd);
int vm_socket_dir(const char *dir, struct mig_error *err);
/*
 * In @buf (@size bytes), the path of this process's unix socket @kind ("migrate",
 * "incoming") for @session, in the --socket-dir @dir made ready by vm_socket_dir().
 * Return: 0 or -errno with @err set.
 */
int vm_socket_path(const char *dir, const char *kind, uint64_t session, char *buf, size_t size,
		   struct mig_error *err);

/* vm_tls.c */
/* The TLS options' rows of both commands' tables (expanded inside each table; send and
 * receive have the same options through tls_cli.h's TLS_CLI_GETOPT). */
#define VM_TLS_OPTS                                                                                    \
	{ "tls-dir", OPT_STR, F(tls.dir), OPT_NOSET,                                                   \
	  0,	     0,	      "DIR",	  "tls.crt, tls.key, ca.crt as KubeVirt mounts them" },        \
		{ "tls-cert", OPT_STR, F(tls.cert), OPT_NOSET,                                         \
		  0,	      0,       "FILE",	    "instead of DIR/tls.crt" },                        \
		{ "tls-key", OPT_STR, F(tls.key), OPT_NOSET, 0, 0, "FILE", "instead of DIR/tls.key" }, \
		{ "tls-ca", OPT_STR, F(tls.ca), OPT_NOSET, 0, 0, "FILE", "instead of DIR/ca.crt" },    \
		{ "tls-peer-name",                                                                     \
		  OPT_STR,                                                                             \
		  F(tls.peer_name),                                                                    \
		  OPT_NOSET,                                                                           \
		  0,                                                                                   \
		  0,                                                                                   \
		  "CN",                                                                                \
		  "the peer's subject CN (KubeVirt's; \"\": any)" },                                   \
		{ "tls-min-version",                                                                   \
		  OPT_STR,                                                                             \
		  F(tls.min_version),                                                                  \
		  OPT_NOSET,                                                                           \
		  0,                                                                                   \
		  0,                                                                                   \
		  "1.3|1.2",                                                                           \
		  "1.3 (TLS 1.2 only when set here)" },                                                \
	{                                                                                              \
		"no-tls", OPT_FLAG, F(tls.off), F(tls.set_off), 0, 0, NULL,                            \
			"plaintext (KubeVirt's disableTLS); the token stays required"                  \
	}

/* TLS on or off, and its material given. Return: 0 or EXIT_USAGE (printed). */
int vm_tls_settle(struct vm_opts *o, const char *cmd);
/* The context of this migration, read from the files now; NULL with TLS off. */
int vm_tls_load(const struct vm_opts *o, enum mig_tls_role role, struct mig_tls_ctx **ret,
		struct mig_error *err);
/*
 * The TLS handshake of connection @k on @fd; the first one's details go to @r.
 * Return: 0 with *@ret, or -errno (@err: the refusal, named).
 */
int vm_tls_handshake(struct mig_tls_ctx *ctx, int fd, unsigned int k, struct vm_report *r,
		     struct mig_tls_conn **ret, struct mig_error *err);
void vm_tls_report_json(const struct vm_report *r, struct json_object *o);
struct mig_tls_streams;
/*
 * This migration's TLS context (vm_tls_load() for @role) in *@tls, and the forwarder @fw over
 * it (its pump @pump on the connections @conns), or over splice with TLS off; @rep says which.
 * Return: vm_tls_load()'s.
 */
int vm_forwarder_setup(const struct vm_opts *o, enum mig_tls_role role, struct mig_tls_ctx **tls,
		       struct mig_tls_streams *conns, struct mig_pump_ops *pump,
		       struct mig_forwarder *fw, struct vm_report *rep, struct mig_error *err);

int vm_migrate_main(int argc, char **argv);
int vm_incoming_main(int argc, char **argv);

#endif
