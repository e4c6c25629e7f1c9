// SPDX-License-Identifier: Apache-2.0
#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "mig_parse.h"
#include "mig_report.h"

static void add(struct json_object *o, const char *k, struct json_object *v)
{
	json_object_object_add(o, k, v);
}

static struct json_object *u64(uint64_t v)
{
	return json_object_new_int64(v > INT64_MAX ? INT64_MAX : (int64_t)v);
}

/* Round to 3 decimals so the JSON stays short and stable. */
static struct json_object *dbl(double v)
{
	char buf[48];

	if (!isfinite(v))
		v = 0;
	snprintf(buf, sizeof(buf), "%.3f", v);
	return json_object_new_double_s(round(v * 1000.0) / 1000.0, buf);
}

static struct json_object *hex64(uint64_t v)
{
	char buf[20];

	snprintf(buf, sizeof(buf), "%016" PRIx64, v);
	return json_object_new_string(buf);
}

struct json_object *mig_report_json(const struct mig_report *r, const struct mig_error *err)
{
	struct json_object *o = json_object_new_object(), *zc;

	if (!o)
		return NULL;
	zc = json_object_new_object();
	add(o, "event", json_object_new_string("report"));
	add(o, "role", json_object_new_string(r->role ? r->role : "?"));
	add(o, "targetNodeAddress", json_object_new_string(r->target_address));
	add(o, "sourceAddress", json_object_new_string(r->source_address));
	add(o, "interface", json_object_new_string(r->interface));
	add(o, "port", json_object_new_int(r->port));
	add(o, "memoryBytes", u64(r->memory_bytes));
	add(o, "pageSize", u64(r->page_size));
	add(o, "bytes", u64(r->bytes));
	add(o, "pageBytes", u64(r->page_bytes));
	add(o, "seconds", dbl(r->seconds));
	add(o, "gbps", dbl(r->gbps));
	add(o, "cpuSeconds", dbl(r->cpu_seconds));
	add(o, "streams", json_object_new_int((int)r->streams));
	add(o, "rounds", json_object_new_int((int)r->rounds));
	add(o, "downtimeMs", dbl(r->downtime_ms));
	add(o, "verified", json_object_new_boolean(r->verified));
	add(o, "digest", hex64(r->digest));
	add(o, "peerDigest", hex64(r->peer_digest));
	add(o, "dirtyTracking", json_object_new_string(r->dirty_tracking ? r->dirty_tracking : ""));
	if (r->dirty_note[0])
		add(o, "dirtyTrackingNote", json_object_new_string(r->dirty_note));
	add(o, "checksumRaces", u64(r->checksum_races));
	add(o, "rejectedConnections", u64(r->rejected));
	add(o, "connectRetries", u64(r->connect_retries));
	add(zc, "mode", json_object_new_string(mig_zc_mode_name(r->zc_mode)));
	add(zc, "sends", u64(r->zc.sends));
	add(zc, "completions", u64(r->zc.completions));
	add(zc, "copied", u64(r->zc.copied));
	add(zc, "enobufs", u64(r->zc.enobufs));
	add(zc, "fallbacks", u64(r->zc.fallbacks));
	add(o, "zerocopy", zc);
	if (err && err->code)
		add(o, "error", json_object_new_string(err->msg));
	return o;
}

const char *mig_report_text(const struct mig_report *r, char *buf, size_t size)
{
	char mem[32], moved[32];

	mig_format_bytes((double)r->memory_bytes, mem, sizeof(mem));
	mig_format_bytes((double)r->bytes, moved, sizeof(moved));
	snprintf(buf, size,
		 "%s %s: %s of memory, %s in %.2f s (%.2f Gbit/s) over %u stream(s), %u round(s)\n"
		 "  %s -> %s via %s, downtime %.1f ms, %s (digest %016" PRIx64 ")\n"
		 "  zero-copy %s: %" PRIu64 " sends, %" PRIu64 " completions, %" PRIu64 " copied\n",
		 r->role ? r->role : "?", r->verified ? "verified" : "NOT verified", mem, moved,
		 r->seconds, r->gbps, r->streams, r->rounds, r->source_address, r->target_address,
		 r->interface, r->downtime_ms, r->verified ? "digests match" : "digests differ",
		 r->digest, mig_zc_mode_name(r->zc_mode), r->zc.sends, r->zc.completions,
		 r->zc.copied);
	return buf;
}
