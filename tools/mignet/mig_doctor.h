/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mignet doctor: the checks an admin runs on a node (inside the virt-handler pod's network
 * namespace) before trusting the migration network, and the small sink its throughput probe
 * streams to. The checks read the kernel's state through our netlink library and talk to the
 * peer over the migration interface only; they never print. mig_doctor_cmd.c is the command.
 */
#ifndef MIGNET_MIGRATION_MIG_DOCTOR_H
#define MIGNET_MIGRATION_MIG_DOCTOR_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "ipam/range.h"
#include "mig.h"
#include "mig_tls.h"

#define MIG_DOCTOR_PORT 49153 /* the sink's default port (receive's + 1) */
#define MIG_DOCTOR_PROBE_SECONDS 1.0
#define MIG_DOCTOR_PROBE_BYTES (64u << 20)
#define MIG_DOCTOR_SINK_CAP (1024ull << 20) /* the sink closes a connection past this */
#define MIG_DOCTOR_MAX_RANGES 16

enum mig_check_status {
	MIG_CHECK_PASS,
	MIG_CHECK_FAIL,
	MIG_CHECK_SKIP, /* nothing to compare with, or an earlier check failed */
};

/* The checks, in the order they run and are printed. */
enum mig_check_id {
	MIG_CHECK_INTERFACE,
	MIG_CHECK_UP,
	MIG_CHECK_MACVLAN,
	MIG_CHECK_MASTER,
	MIG_CHECK_ADDRESS,
	MIG_CHECK_MTU,
	MIG_CHECK_ROUTE,
	MIG_CHECK_PEER,
	MIG_CHECK_THROUGHPUT,
	MIG_CHECK_COUNT,
};

struct mig_check {
	const char *name;
	enum mig_check_status status;
	char expected[128]; /* "" when there was no expectation */
	char actual[128];   /* what was found, "" when it could not be looked at */
	char detail[320];   /* one line for a human */
};

/* What the admin expects: from the flags, else from the CNI config. */
struct mig_doctor_expect {
	char master[IF_NAMESIZE]; /* "" = no expectation */
	const char *master_from;  /* "--master" or the config file, for messages */
	uint32_t mtu;		  /* 0 = none */
	const char *mtu_from;
	bool mtu_is_masters; /* the config sets no mtu: the macvlan gets the master's */
	char mode[16];	     /* "" = none (mode is reported, compared only when set) */
	struct ipam_range ranges[MIG_DOCTOR_MAX_RANGES];
	size_t n_ranges;
	const char *range_from;
	char range_note[160]; /* why the config gave no range, "" otherwise */
};

struct mig_doctor_opts {
	const char *interface;
	const char *peer;	  /* ADDR[:PORT]; NULL: no route, peer or throughput check */
	const char *master_netns; /* where the master lives, to name it; NULL = unknown */
	const struct mig_doctor_expect *expect;
	bool no_probe;			/* skip the throughput probe */
	double probe_seconds;		/* 0 = MIG_DOCTOR_PROBE_SECONDS */
	uint64_t probe_bytes;		/* 0 = MIG_DOCTOR_PROBE_BYTES */
	double min_gbps;		/* the probe fails below this, 0 = any rate passes */
	const struct mig_tls_opts *tls; /* the TLS material to check; NULL: not checked */
	bool tls_role_given;		/* tls->role is the certificate's role (else from its CN) */
	const char *tls_name;		/* the CN it must carry; NULL: the role's KubeVirt name */
	bool tls_only;			/* skip the network checks */
};

struct mig_doctor_report {
	char interface[IF_NAMESIZE];
	char peer[64]; /* the peer address, "" without --peer */
	struct mig_check checks[MIG_CHECK_COUNT];
	bool tls_checked; /* the TLS checks below ran */
	struct mig_tls_check tls[MIG_TLS_CHECK_COUNT];
	unsigned int passed, failed, skipped;
	bool probed; /* the throughput figures below are valid */
	uint64_t probe_bytes;
	double probe_seconds;
	double probe_gbps;
};

/**
 * mig_doctor_run() - run every check and fill @ret
 * Return: 0 when the checks ran (each passed, failed or was skipped: see @ret), or -errno
 * when they could not run at all (@err says why).
 */
int mig_doctor_run(const struct mig_doctor_opts *opts, struct mig_doctor_report *ret,
		   struct mig_error *err);

/** mig_check_status_name() - "pass", "fail", "skip". */
const char *mig_check_status_name(enum mig_check_status s);

typedef void (*mig_doctor_serve_fn)(const char *event, const char *addr, uint16_t port,
				    uint64_t bytes, void *opaque);

/**
 * mig_doctor_serve() - the probe's sink: listen on @ifname's migration address and port
 * @port, bound to the interface, and serve connections one at a time: read and discard
 * until the client shuts its side down, then answer the byte count as a big-endian u64.
 * A connection idle for 10 s or longer than MIG_DOCTOR_SINK_CAP bytes is closed unanswered.
 * @count: connections to serve before returning, 0 = until an error.
 * @event: called with "listening" once, then "served" per connection (may be NULL).
 * Return: 0 after @count connections, or -errno (@err says why).
 */
int mig_doctor_serve(const char *ifname, uint16_t port, unsigned int count,
		     mig_doctor_serve_fn event, void *opaque, struct mig_error *err);

/**
 * mig_doctor_main() - the `mignet doctor` command (mig_doctor_cmd.c): parses its arguments
 * (@argv[0] is "doctor"), prints the table or JSON. Return: the exit status.
 */
int mig_doctor_main(int argc, char **argv);

#endif
