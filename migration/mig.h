/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mignet migration data path: the types shared by the sender, the receiver and the tool.
 *
 * The library never prints and never exits: it returns -errno and, where a human needs to
 * know more, fills a struct mig_error. Progress goes to the caller through a callback.
 */
#ifndef MIGNET_MIGRATION_MIG_H
#define MIGNET_MIGRATION_MIG_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <time.h>

#define MIG_DEFAULT_PORT 49152
#define MIG_DEFAULT_INTERFACE "migration0"
#define MIG_MAX_STREAMS 64
#define MIG_MAX_TOKEN 64

/* KubeVirt's liveMigrationConfig defaults */
#define MIG_DEFAULT_COMPLETION_TIMEOUT_PER_GIB 150
#define MIG_DEFAULT_PROGRESS_TIMEOUT 150
#define MIG_DEFAULT_PARALLEL_OUTBOUND 2

struct mig_error {
	int code;      /* -errno, 0 when no error */
	char msg[320]; /* one line, for a human */
};

/** mig_error_set() - record @code and a printf-style message. Return: @code. */
int mig_error_set(struct mig_error *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * mig_error_set_first() - record the first error of threads that share @err, once
 * Only the caller that turns @aborted from 0 to 1 sets @err (@code, @fmt with @ap) under @lock,
 * and wakes @cond's waiters when @cond is not NULL.
 * Return: true for that caller, false when another one aborted first.
 */
bool mig_error_set_first(_Atomic int *aborted, pthread_mutex_t *lock, pthread_cond_t *cond,
			 struct mig_error *err, int code, const char *fmt, va_list ap)
	__attribute__((format(printf, 6, 0)));

enum mig_zc_mode {
	MIG_ZC_AUTO = 0,
	MIG_ZC_ALWAYS,
	MIG_ZC_NEVER,
};

/**
 * mig_listen_hint() - why listening on @port failed with @errnum, when it is privilege:
 * " (a port below 1024 needs CAP_NET_BIND_SERVICE)", else "".
 */
const char *mig_listen_hint(int errnum, unsigned int port);

const char *mig_zc_mode_name(enum mig_zc_mode mode);
/** mig_zc_mode_parse() - "auto" | "always" | "never". Return: 0 or -EINVAL. */
int mig_zc_mode_parse(const char *text, enum mig_zc_mode *ret);

/* The zero-copy counters of one socket, or summed over all streams. */
struct mig_zc_stats {
	uint64_t sends;	      /* MSG_ZEROCOPY send calls that were accepted (notification ids) */
	uint64_t completions; /* ids the kernel reported complete */
	uint64_t copied;      /* of those, ids reported with SO_EE_CODE_ZEROCOPY_COPIED */
	uint64_t enobufs;     /* times a send hit ENOBUFS and waited for completions */
	uint64_t fallbacks;   /* streams that auto switched to plain sends */
};

/* A socket address with its length: IPv4 or IPv6. */
struct mig_addr {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* The final report of either side; see mig_report.h for its JSON form. */
struct mig_report {
	const char *role;	 /* "send" or "receive" */
	char target_address[64]; /* the receiver's migration address */
	char source_address[64]; /* the sender's migration address */
	uint16_t port;
	char interface[32];
	uint64_t memory_bytes;
	uint64_t page_size;
	uint64_t bytes;	     /* everything written to / read from the streams, headers included */
	uint64_t page_bytes; /* payload bytes, re-sends included */
	double seconds;	     /* first page frame to final acknowledgement */
	double gbps;	     /* bytes * 8 / seconds / 1e9 */
	double cpu_seconds;  /* CPU time of this process (all threads) over those seconds */
	unsigned int streams;
	unsigned int rounds;
	double downtime_ms;
	bool verified;
	uint64_t digest;
	uint64_t peer_digest;
	const char *dirty_tracking; /* "none", "uffd-wp", "unsupported" */
	char dirty_note[320];	    /* why tracking is unsupported */
	uint64_t checksum_races;    /* live frames whose pages changed while in flight */
	uint64_t rejected;	    /* receiver: connections dropped before the migration */
	uint64_t connect_retries;   /* sender: connections an overloaded receiver shed */
	enum mig_zc_mode zc_mode;
	struct mig_zc_stats zc;
};

/* Progress, as the sender sees it; the tool prints it as a bar or a JSON event. */
struct mig_progress {
	unsigned int round;
	uint64_t round_total; /* bytes to send in this round */
	uint64_t round_done;
	uint64_t bytes;	      /* all payload bytes so far */
	double elapsed;	      /* seconds */
	double rate_bps;      /* bytes per second, recent */
	double eta;	      /* seconds for this round, < 0 if unknown */
	bool round_end;	      /* this is the end-of-round event */
	uint64_t dirty_bytes; /* at a round end: what the next round must send */
};

typedef void (*mig_progress_fn)(const struct mig_progress *p, void *opaque);

/* Events of the receiver, for the tool. */
enum mig_event {
	MIG_EV_LISTENING,
	MIG_EV_REJECTED,
	MIG_EV_STARTED,
};

typedef void (*mig_event_fn)(enum mig_event ev, const char *detail, const struct mig_addr *peer,
			     void *opaque);

struct mig_tls_ctx;
struct mig_tls_info;

struct mig_send_opts {
	const char *interface;
	const char *target; /* ADDR[:PORT] ([v6]:port for IPv6 with a port) */
	uint64_t memory_bytes;
	uint64_t dirty_rate; /* bytes per second the workload writes, 0 = none */
	unsigned int streams;
	enum mig_zc_mode zc_mode;
	uint64_t bandwidth; /* bytes per second, 0 = unlimited */
	unsigned int downtime_ms;
	unsigned int completion_timeout_per_gib; /* seconds, 0 = none */
	unsigned int progress_timeout;		 /* seconds, 0 = none */
	const char *token;
	uint64_t seed;
	unsigned int max_rounds; /* 0 = unlimited */
	uint64_t batch_bytes;	 /* PAGES frame size, 0 = default (256 KiB) */
	/* NULL: plaintext; else every stream runs TLS (client) after the handshake, and its
	 * bytes go through a shim (mig_forward_tls.h); no zero-copy then */
	struct mig_tls_ctx *tls;
	struct mig_tls_info *tls_info; /* filled from the first stream's TLS (may be NULL) */
	mig_progress_fn progress;
	void *opaque;
};

struct mig_receive_opts {
	const char *interface;
	uint16_t port;
	const char *token;
	const char *from;	       /* CIDR, NULL = anyone */
	unsigned int timeout;	       /* seconds to wait for a migration, 0 = forever */
	unsigned int progress_timeout; /* seconds without a byte during a migration */
	uint64_t max_memory;	       /* largest region a sender may ask for */
	/* NULL: plaintext; else every stream runs TLS (server, mutual) before it joins: the
	 * memory is mapped only once a first stream passed it */
	struct mig_tls_ctx *tls;
	struct mig_tls_info *tls_info; /* filled from the first stream's TLS (may be NULL) */
	mig_event_fn event;
	void *opaque;
};

/**
 * mig_send() - migrate a generated guest memory to a receiver
 * Return: 0 when the receiver confirmed the same digest, -errno otherwise (@err says why);
 * @ret is filled as far as the migration got in both cases.
 */
int mig_send(const struct mig_send_opts *opts, struct mig_report *ret, struct mig_error *err);

/**
 * mig_receive() - serve one migration on the migration address
 * Return: 0 when the memory was received and verified, -errno otherwise.
 */
int mig_receive(const struct mig_receive_opts *opts, struct mig_report *ret, struct mig_error *err);

/** mig_now() - CLOCK_MONOTONIC in seconds. */
double mig_now(void);

/**
 * mig_cond_init() - a condition variable whose timed waits run on CLOCK_MONOTONIC
 * @cond: the condition variable to initialise
 *
 * pthread_cond_init(NULL) times waits against CLOCK_REALTIME, which an NTP step or an
 * admin moves: a step back stretches every wait by as much. Every condition variable that
 * is waited on with a deadline is made here and given deadlines from mig_deadline().
 * Return: 0 or -errno.
 */
int mig_cond_init(pthread_cond_t *cond);

/**
 * mig_deadline() - the absolute CLOCK_MONOTONIC time @ms milliseconds from now, for
 * pthread_cond_timedwait() on a condition variable made by mig_cond_init()
 * @ret: the deadline
 * @ms: milliseconds from now (negative counts as 0)
 */
void mig_deadline(struct timespec *ret, int64_t ms);

/** mig_cpu_now() - CPU time of the whole process (CLOCK_PROCESS_CPUTIME_ID) in seconds. */
double mig_cpu_now(void);

#endif
