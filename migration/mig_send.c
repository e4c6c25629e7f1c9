// SPDX-License-Identifier: Apache-2.0
/*
 * The source side of a migration.
 *
 * Theory of operation. The main thread opens N streams to the receiver (bound to the
 * migration address and interface, after a route check), each greeted with a HELLO that
 * carries the session, the memory size and the token. Then it runs rounds:
 *
 *   round 1 sends every page; with a workload running, write tracking starts before it;
 *   round k > 1 sends the pages written during round k-1 (mig_dirty_collect);
 *   when the pages still written fit the downtime at the measured rate (or there is no
 *   workload), the workload is paused, the last set collected and sent as the final round.
 *
 * In a round the stream threads take batches from a shared list with one atomic cursor,
 * send each as a PAGES frame (zero-copy or not, see mig_zerocopy.h), then a ROUND_END and
 * flush their zero-copy completions: the flush barrier of the round. The receiver holds
 * every stream at ROUND_END until all reached it, so a page re-sent in round k+1 on one
 * stream never lands before its older copy from round k on another.
 *
 * While the streams work the main thread wakes every 200 ms to report progress and check
 * the timeouts; an abort shuts every socket down, which wakes any thread blocked in send.
 * At the end the receiver acknowledges the final round (the downtime ends there), both
 * sides compute the digest of the region and stream 0 carries the comparison.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mig_dirty.h"
#include "mig_forward_tls.h"
#include "mig_frame.h"
#include "mig_parse.h"
#include "mig_send_priv.h"
#include "mig_stream.h"
#include "mig_sum.h"

#define TICK_MS 200

static void report_progress(struct send_ctx *c, double t0, uint64_t *last_bytes, double *last_t,
			    double *rate)
{
	struct mig_progress p = { .round = c->round, .round_total = c->round_total };
	double now = mig_now();
	uint64_t bytes = 0;
	unsigned int i;

	for (i = 0; i < c->nstreams; i++)
		bytes += __atomic_load_n(&c->streams[i].page_bytes, __ATOMIC_RELAXED);
	p.round_done = atomic_load(&c->round_done);
	if (p.round_done > p.round_total)
		p.round_done = p.round_total;
	p.bytes = bytes;
	p.elapsed = now - t0;
	if (now - *last_t > 0.05) {
		double inst = (double)(bytes - *last_bytes) / (now - *last_t);

		*rate = *rate > 0 ? 0.5 * *rate + 0.5 * inst : inst;
		*last_bytes = bytes;
		*last_t = now;
	}
	p.rate_bps = *rate;
	p.eta = *rate > 0 ? (double)(p.round_total - p.round_done) / *rate : -1;
	if (c->o->progress)
		c->o->progress(&p, c->o->opaque);
}

/* Runs one round over the streams; returns when all are done or the migration aborted. */
static int run_round(struct send_ctx *c, double t0, double deadline, double *rate)
{
	uint64_t last_done = 0, last_bytes = 0;
	double last_progress = mig_now(), last_t = last_progress;
	unsigned int i;

	for (i = 0; i < c->nstreams; i++)
		last_bytes += __atomic_load_n(&c->streams[i].page_bytes, __ATOMIC_RELAXED);
	pthread_mutex_lock(&c->lock);
	atomic_store(&c->cursor, 0);
	atomic_store(&c->round_done, 0);
	c->round_total = c->batches.pages * c->region.page_size;
	c->done = 0;
	c->gen++;
	pthread_cond_broadcast(&c->cond);
	while (c->done < c->nstreams) {
		struct timespec ts;
		double now;
		uint64_t d;

		mig_deadline(&ts, TICK_MS);
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		if (c->done >= c->nstreams)
			break;
		pthread_mutex_unlock(&c->lock);
		now = mig_now();
		d = atomic_load(&c->round_done);
		if (d != last_done) {
			last_done = d;
			last_progress = now;
		}
		report_progress(c, t0, &last_bytes, &last_t, rate);
		if (c->o->progress_timeout && now - last_progress > c->o->progress_timeout)
			send_abort(c, -ETIMEDOUT,
				   "no progress for %u s (progressTimeout): "
				   "aborting the migration",
				   c->o->progress_timeout);
		if (deadline > 0 && now > deadline)
			send_abort(c, -ETIMEDOUT,
				   "the migration did not complete in %.0f s "
				   "(completionTimeoutPerGiB): aborting",
				   deadline - t0);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return atomic_load(&c->aborted) ? -ECANCELED : 0;
}

static int read_frame(struct send_ctx *c, int fd, struct mig_frame *f, void *payload, size_t cap,
		      const char *what)
{
	uint8_t hdr[MIG_FRAME_HDR_LEN];
	ssize_t n = mig_read_full(fd, hdr, sizeof(hdr));
	int r;

	if (n <= 0) {
		send_abort(c, n ? (int)n : -ECONNRESET, "waiting for %s: %s", what,
			   n ? strerror((int)-n) : "the receiver closed the connection");
		return n ? (int)n : -ECONNRESET;
	}
	r = mig_frame_decode(hdr, f);
	if (r < 0 || f->length > cap) {
		send_abort(c, -EPROTO, "waiting for %s: malformed frame from the receiver", what);
		return -EPROTO;
	}
	if (f->length && mig_read_full(fd, payload, f->length) != (ssize_t)f->length) {
		send_abort(c, -EPROTO, "waiting for %s: truncated frame", what);
		return -EPROTO;
	}
	return 0;
}

static int setup(struct send_ctx *c, struct mig_report *rep, struct mig_error *err)
{
	const struct mig_send_opts *o = c->o;
	uint64_t session;
	unsigned int i;
	int r;

	r = mig_dialer_init(&c->dial, o->interface, o->target, MIG_DEFAULT_PORT, o->token, err);
	c->local = c->dial.local;
	c->target = c->dial.target;
	c->dial.timeout = c->timeout;
	if (c->target.ss.ss_family) { /* as far as it got */
		mig_addr_format(&c->local, rep->source_address, sizeof(rep->source_address));
		mig_addr_format(&c->target, rep->target_address, sizeof(rep->target_address));
		rep->port = mig_addr_port(&c->target);
	}
	if (r < 0)
		return r;
	/* huge pages unless write tracking needs 4 KiB granularity */
	r = mig_region_alloc(&c->region, o->memory_bytes, o->dirty_rate == 0);
	if (r < 0)
		return mig_error_set(err, r, "cannot map %" PRIu64 " bytes: %s", o->memory_bytes,
				     strerror(-r));
	mig_region_fill(&c->region, o->seed);
	if (getrandom(&session, sizeof(session), 0) != sizeof(session))
		session = (uint64_t)mig_now() ^ ((uint64_t)getpid() << 32);
	c->streams = calloc(c->nstreams, sizeof(*c->streams));
	if (!c->streams)
		return mig_error_set(err, -ENOMEM, "out of memory");
	for (i = 0; i < c->nstreams; i++) {
		c->streams[i].ctx = c;
		c->streams[i].index = i;
		c->streams[i].fd = -1;
	}
	for (i = 0; i < c->nstreams; i++) {
		r = send_stream_open(c, &c->streams[i], session, err);
		if (r < 0)
			return r;
	}
	for (i = 0; i < c->nstreams; i++) {
		r = pthread_create(&c->streams[i].thread, NULL, send_stream_main, &c->streams[i]);
		if (r)
			return mig_error_set(err, -r, "pthread_create: %s", strerror(r));
		c->streams[i].started = true;
	}
	return 0;
}

static void teardown(struct send_ctx *c)
{
	unsigned int i;

	pthread_mutex_lock(&c->lock);
	c->quit = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	for (i = 0; c->streams && i < c->nstreams; i++) {
		if (c->streams[i].started)
			pthread_join(c->streams[i].thread, NULL);
		if (c->streams[i].fd >= 0)
			close(c->streams[i].fd);
		if (atomic_load(&c->aborted)) /* else what was written goes out first */
			mig_tls_shim_abort(c->streams[i].shim);
		mig_tls_shim_close(c->streams[i].shim);
	}
	free(c->streams);
	mig_ranges_free(&c->batches);
	mig_region_free(&c->region);
}

static void fill_report(struct send_ctx *c, struct mig_report *rep)
{
	unsigned int i;

	rep->bytes = rep->page_bytes = rep->connect_retries = 0;
	memset(&rep->zc, 0, sizeof(rep->zc));
	for (i = 0; c->streams && i < c->nstreams; i++) {
		const struct mig_zc_stats *z = &c->streams[i].zc.st;

		rep->bytes += c->streams[i].bytes;
		rep->page_bytes += c->streams[i].page_bytes;
		rep->connect_retries += c->streams[i].connect_retries;
		rep->zc.sends += z->sends;
		rep->zc.completions += z->completions;
		rep->zc.copied += z->copied;
		rep->zc.enobufs += z->enobufs;
		rep->zc.fallbacks += z->fallbacks;
	}
	if (rep->seconds > 0)
		rep->gbps = (double)rep->bytes * 8 / rep->seconds / 1e9;
}

/* Adds the pages written since the last collect to @set (a union: they may lie anywhere). */
static int collect_more(struct mig_dirty *dirty, struct mig_ranges *set)
{
	struct mig_ranges more = { 0 }, both = { 0 };
	int r = mig_dirty_collect(dirty, &more);

	if (r == 0)
		r = mig_ranges_union(set, &more, &both);
	if (r == 0) {
		mig_ranges_free(set);
		*set = both;
		both = (struct mig_ranges){ 0 };
	}
	mig_ranges_free(&more);
	mig_ranges_free(&both);
	return r;
}

static void report_round_end(struct send_ctx *c, double t0, double rate, uint64_t dirty)
{
	struct mig_progress p = { .round = c->round,
				  .round_total = c->round_total,
				  .round_done = c->round_total,
				  .round_end = true,
				  .dirty_bytes = dirty,
				  .rate_bps = rate,
				  .eta = 0 };
	unsigned int i;

	for (i = 0; i < c->nstreams; i++)
		p.bytes += __atomic_load_n(&c->streams[i].page_bytes, __ATOMIC_RELAXED);
	p.elapsed = mig_now() - t0;
	if (c->o->progress)
		c->o->progress(&p, c->o->opaque);
}

/* The rounds; returns with the workload paused. */
static int migrate(struct send_ctx *c, struct mig_workload *wl, struct mig_dirty *dirty,
		   bool tracking, struct mig_report *rep, double *t_pause)
{
	const struct mig_send_opts *o = c->o;
	uint64_t pages = c->region.len / c->region.page_size;
	struct mig_ranges set = { 0 };
	double t0 = mig_now(), deadline = 0, rate = 0, round_rate = 0;
	int r;

	if (o->completion_timeout_per_gib) {
		double gib = (double)c->region.len / (1u << 30);

		deadline = t0 + o->completion_timeout_per_gib * (gib < 1 ? 1 : gib);
	}
	r = mig_ranges_add(&set, 0, pages);
	c->final = !tracking;
	if (c->final) {
		mig_workload_pause(wl);
		*t_pause = mig_now();
	}
	for (c->round = 1; r == 0; c->round++) {
		double ts = mig_now();
		uint64_t next_bytes;

		c->live = wl->started && atomic_load(&wl->state) == MIG_WL_RUN;
		r = mig_ranges_batches(&set, c->batch_pages, &c->batches);
		if (r < 0)
			break;
		r = run_round(c, t0, deadline, &rate);
		if (r < 0)
			break;
		rep->rounds = c->round;
		if (mig_now() - ts > 0.001 && c->round_total)
			round_rate = (double)c->round_total / (mig_now() - ts);
		if (c->final)
			break;
		/* what did the guest write meanwhile? */
		mig_ranges_clear(&set);
		r = mig_dirty_collect(dirty, &set);
		if (r < 0) {
			send_abort(c, r, "PAGEMAP_SCAN: %s", strerror(-r));
			break;
		}
		next_bytes = set.pages * c->region.page_size;
		report_round_end(c, t0, rate, next_bytes);
		if ((round_rate > 0 &&
		     (double)next_bytes / round_rate * 1000.0 <= (double)o->downtime_ms) ||
		    (o->max_rounds && c->round + 1 >= o->max_rounds)) {
			/* converged: stop the guest, take what it wrote since, send the rest */
			mig_workload_pause(wl);
			*t_pause = mig_now();
			r = collect_more(dirty, &set);
			if (r < 0) {
				send_abort(c, r, "PAGEMAP_SCAN: %s", strerror(-r));
				break;
			}
			c->final = true;
		}
	}
	mig_ranges_free(&set);
	return atomic_load(&c->aborted) ? -ECANCELED : r;
}

int mig_send(const struct mig_send_opts *o, struct mig_report *rep, struct mig_error *err)
{
	struct send_ctx c = { .o = o, .nstreams = o->streams ? o->streams : 1 };
	struct mig_workload wl = { 0 };
	struct mig_dirty dirty = { .uffd = -1, .pagemap = -1 };
	struct mig_error derr = { 0 };
	bool tracking = false, migrating = false, verdict = false;
	double t0, t_pause = 0, t_ack, cpu0;
	uint8_t payload[MIG_SUMMARY_LEN];
	struct mig_summary sum = { 0 };
	struct mig_frame f;
	uint8_t hdr[MIG_FRAME_HDR_LEN];
	int r;

	memset(rep, 0, sizeof(*rep));
	rep->role = "send";
	rep->streams = c.nstreams;
	rep->zc_mode = o->tls ? MIG_ZC_NEVER : o->zc_mode; /* the shim's socket: no zero-copy */
	rep->memory_bytes = o->memory_bytes;
	rep->dirty_tracking = "none";
	snprintf(rep->interface, sizeof(rep->interface), "%s", o->interface);
	c.timeout = o->progress_timeout ? o->progress_timeout : 3600;
	pthread_mutex_init(&c.lock, NULL);
	pthread_mutex_init(&c.bw_lock, NULL);
	r = mig_cond_init(&c.cond);
	if (r < 0)
		return mig_error_set(err, r, "pthread_cond_init: %s", strerror(-r));
	if (c.nstreams > MIG_MAX_STREAMS)
		return mig_error_set(err, -EINVAL, "at most %d streams", MIG_MAX_STREAMS);
	if (o->token && strlen(o->token) > MIG_MAX_TOKEN)
		return mig_error_set(err, -EINVAL, "the token is longer than %d bytes",
				     MIG_MAX_TOKEN);

	r = setup(&c, rep, err);
	if (r < 0)
		goto out;
	rep->page_size = c.region.page_size;
	c.batch_pages = o->batch_bytes ? o->batch_bytes / c.region.page_size : BATCH_PAGES;
	if (c.batch_pages < 1)
		c.batch_pages = 1;
	if (c.batch_pages * c.region.page_size > MIG_FRAME_MAX_PAGES)
		c.batch_pages = MIG_FRAME_MAX_PAGES / c.region.page_size;
	if (o->dirty_rate) {
		r = mig_dirty_start(&dirty, c.region.base, c.region.len, &derr);
		if (r == 0) {
			tracking = true;
			rep->dirty_tracking = "uffd-wp";
		} else if (r != -EOPNOTSUPP) {
			*err = derr;
			goto out;
		} else {
			/* the tool prints it; a stop-and-copy follows */
			rep->dirty_tracking = "unsupported";
			snprintf(rep->dirty_note, sizeof(rep->dirty_note), "%s", derr.msg);
		}
		r = mig_workload_start(&wl, &c.region, o->dirty_rate, o->seed ^ 0x5eed);
		if (r < 0) {
			mig_error_set(err, r, "workload thread: %s", strerror(-r));
			goto out;
		}
	}
	t0 = mig_now();
	cpu0 = mig_cpu_now();
	migrating = true;
	r = migrate(&c, &wl, &dirty, tracking, rep, &t_pause);
	if (r < 0)
		goto out;

	/* the receiver acknowledges the final round on stream 0: the downtime ends there */
	r = read_frame(&c, c.streams[0].fd, &f, NULL, 0, "the final acknowledgement");
	if (r < 0)
		goto out;
	if (f.type != MIG_FRAME_FINAL_ACK) {
		r = -EPROTO;
		send_abort(&c, r, "expected FINAL_ACK, got %s", mig_frame_type_name(f.type));
		goto out;
	}
	t_ack = mig_now();
	rep->seconds = t_ack - t0;
	rep->cpu_seconds = mig_cpu_now() - cpu0;
	rep->downtime_ms = (t_ack - t_pause) * 1000.0;
	fill_report(&c, rep);

	rep->digest = mig_digest(c.region.base, c.region.len);
	sum.digest = rep->digest;
	sum.bytes = rep->bytes;
	sum.page_bytes = rep->page_bytes;
	sum.rounds = rep->rounds;
	sum.zc_mode = (uint32_t)rep->zc_mode;
	sum.zc_sends = rep->zc.sends;
	sum.zc_completions = rep->zc.completions;
	sum.zc_copied = rep->zc.copied;
	sum.downtime_us = (uint64_t)(rep->downtime_ms * 1000);
	sum.seconds_us = (uint64_t)(rep->seconds * 1e6);
	mig_summary_encode(&sum, payload);
	f = (struct mig_frame){ .type = MIG_FRAME_DIGEST,
				.length = MIG_SUMMARY_LEN,
				.checksum = mig_sum64(payload, sizeof(payload)) };
	mig_frame_encode(&f, hdr);
	r = mig_write_pair(c.streams[0].fd, hdr, sizeof(hdr), payload, sizeof(payload), 0);
	if (r < 0) {
		send_abort(&c, r, "sending the digest: %s", strerror(-r));
		goto out;
	}
	r = read_frame(&c, c.streams[0].fd, &f, NULL, 0, "the receiver's verdict");
	if (r < 0)
		goto out;
	if (f.type != MIG_FRAME_RESULT) {
		r = -EPROTO;
		send_abort(&c, r, "expected RESULT, got %s", mig_frame_type_name(f.type));
		goto out;
	}
	rep->peer_digest = f.aux;
	rep->verified = (f.flags & MIG_FRAME_F_VERIFIED) && f.aux == rep->digest;
	if (!rep->verified)
		mig_error_set(err, -EIO,
			      "digest mismatch: sent %016" PRIx64 ", received %016" PRIx64,
			      rep->digest, rep->peer_digest);
	r = rep->verified ? 0 : -EIO;
	verdict = true;
out:
	if (r < 0 && migrating && !verdict) {
		fill_report(&c, rep);
		pthread_mutex_lock(&c.lock);
		if (c.err.code)
			*err = c.err;
		pthread_mutex_unlock(&c.lock);
		if (!err->code)
			mig_error_set(err, r, "migration failed: %s", strerror(-r));
		r = err->code;
	}
	mig_workload_stop(&wl);
	mig_dirty_stop(&dirty);
	teardown(&c);
	return r;
}
