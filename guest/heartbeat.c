// SPDX-License-Identifier: Apache-2.0
/*
 * heartbeat: the test guest's workload, PID 1's child (or PID 1 itself) in the initramfs.
 *
 * Theory of operation
 *
 * It owns a working set of mignet.mem bytes (default 64M) in 4 KiB pages. Every page it writes
 * carries a pattern it can check later:
 *
 *   bytes 0..7      the page index
 *   bytes 8..15     the page's generation (how often it has been written)
 *   bytes 16..4087  mignet.marker repeated (default "MIGNET-GUEST-PATTERN")
 *   bytes 4088..    index ^ generation ^ a constant
 *
 * and the generation it last wrote into each page is kept in a separate array. A page whose
 * header or tail disagrees with that array, or whose marker bytes changed, is an error: after a
 * live migration that is a page the target got stale or corrupt (QEMU 7.2's TCG dirty-tracking
 * bug shows up exactly like that).
 *
 * The main loop runs in 10 ms slices. Each slice dirties pages in order, round robin, until the
 * bytes dirtied since start reach mignet.dirty bytes per second (0: idle, it only checks); a
 * page is checked before it is rewritten. Each slice also checks pages of a second, independent
 * round robin at mignet.check bytes per second (default 32M), so an idle guest still proves its
 * memory. Every 200 ms one line goes to the console:
 *
 *   MIGNET-HEARTBEAT seq=<n> checked=<pages> errors=<count> dirtied=<bytes>
 *
 * seq goes up by one per line, forever; the counters are totals since boot. A guest paused by a
 * migration's stop-and-copy simply carries on: the rate does not catch up on the lost time.
 *
 * Built static (gcc -static -O2) by scripts/build-guest; settings come from /proc/cmdline.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define TAIL_OFF (PAGE - 8)
#define TAIL_MIX 0x9e3779b97f4a7c15ULL
#define SLICE_NS 10000000LL
#define BEAT_NS 200000000LL

struct settings {
	uint64_t mem;
	uint64_t dirty;
	uint64_t check;
	char marker[128];
};

static uint8_t *ws;
static uint64_t *gens;
static uint64_t npages;
static uint8_t tmpl[PAGE];

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void say(const char *s)
{
	size_t n = strlen(s);

	while (n) {
		ssize_t w = write(1, s, n);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		s += w;
		n -= (size_t)w;
	}
}

/* "64M", "128m", "4096", "1G", "512K" -> bytes; 0 on a malformed value. */
static uint64_t parse_size(const char *s)
{
	char *end;
	uint64_t v = strtoull(s, &end, 10);

	switch (*end) {
	case 'k': case 'K': v <<= 10; end++; break;
	case 'm': case 'M': v <<= 20; end++; break;
	case 'g': case 'G': v <<= 30; end++; break;
	}
	if (*end && *end != ' ' && *end != '\n')
		return 0;
	return v;
}

static void read_settings(struct settings *st)
{
	char buf[4096], *tok, *save;
	FILE *f;
	size_t n;

	st->mem = 64ULL << 20;
	st->dirty = 0;
	st->check = 32ULL << 20;
	snprintf(st->marker, sizeof(st->marker), "MIGNET-GUEST-PATTERN");
	if (getenv("MIGNET_CMDLINE")) {
		/* Outside a guest (the harness's own test of the checker): the same settings. */
		snprintf(buf, sizeof(buf), "%s", getenv("MIGNET_CMDLINE"));
	} else {
		f = fopen("/proc/cmdline", "r");
		if (!f)
			return;
		n = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		buf[n] = 0;
	}
	for (tok = strtok_r(buf, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		if (!strncmp(tok, "mignet.mem=", 11))
			st->mem = parse_size(tok + 11);
		else if (!strncmp(tok, "mignet.dirty=", 13))
			st->dirty = parse_size(tok + 13);
		else if (!strncmp(tok, "mignet.check=", 13))
			st->check = parse_size(tok + 13);
		else if (!strncmp(tok, "mignet.marker=", 14) && tok[14])
			snprintf(st->marker, sizeof(st->marker), "%s", tok + 14);
	}
	if (st->mem < PAGE)
		st->mem = 64ULL << 20;
}

static void write_page(uint64_t i)
{
	uint8_t *p = ws + i * PAGE;
	uint64_t g = ++gens[i], t = i ^ g ^ TAIL_MIX;

	memcpy(p + 16, tmpl + 16, TAIL_OFF - 16);
	memcpy(p, &i, 8);
	memcpy(p + 8, &g, 8);
	memcpy(p + TAIL_OFF, &t, 8);
}

/* Return: 1 when page i holds what was last written into it, else 0. */
static int page_ok(uint64_t i)
{
	const uint8_t *p = ws + i * PAGE;
	uint64_t idx, g, t;

	memcpy(&idx, p, 8);
	memcpy(&g, p + 8, 8);
	memcpy(&t, p + TAIL_OFF, 8);
	if (idx != i || g != gens[i] || t != (i ^ g ^ TAIL_MIX))
		return 0;
	return !memcmp(p + 16, tmpl + 16, TAIL_OFF - 16);
}

static void as_init(void)
{
	/* As PID 1 without a shell before us: the kernel gave us only the initramfs. */
	mkdir("/proc", 0555);
	mount("proc", "/proc", "proc", 0, NULL);
}

int main(void)
{
	uint64_t dirty_next = 0, check_next = 0, checked = 0, errors = 0, dirtied = 0, seq = 0;
	long long start, last, next_beat, slice_end;
	double dirty_credit = 0, check_credit = 0;
	struct settings st;
	char line[256];
	size_t mlen;
	uint64_t i;

	if (getpid() == 1)
		as_init();
	read_settings(&st);
	npages = st.mem / PAGE;
	ws = mmap(NULL, npages * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	gens = calloc(npages, sizeof(*gens));
	if (ws == MAP_FAILED || !gens) {
		say("MIGNET-GUEST error: out of memory for the working set\n");
		for (;;)
			pause();
	}
	mlen = strlen(st.marker);
	for (i = 0; i < PAGE; i++)
		tmpl[i] = (uint8_t)st.marker[i % mlen];

	snprintf(line, sizeof(line), "MIGNET-GUEST start mem=%llu dirty=%llu check=%llu marker=%s\n",
		 (unsigned long long)st.mem, (unsigned long long)st.dirty,
		 (unsigned long long)st.check, st.marker);
	say(line);
	for (i = 0; i < npages; i++)
		write_page(i);
	snprintf(line, sizeof(line), "MIGNET-GUEST ready pages=%llu at=%p\n",
		 (unsigned long long)npages, (void *)ws);
	say(line);

	start = last = now_ns();
	next_beat = start;
	for (;;) {
		long long t = now_ns();
		double dt = (double)(t - last) / 1e9;

		/* A pause (stop-and-copy, a busy host) does not turn into a burst afterwards. */
		if (dt > 0.1)
			dt = 0.1;
		last = t;
		dirty_credit += dt * (double)st.dirty;
		check_credit += dt * (double)st.check;
		while (dirty_credit >= PAGE) {
			if (!page_ok(dirty_next))
				errors++;
			checked++;
			write_page(dirty_next);
			dirtied += PAGE;
			dirty_credit -= PAGE;
			dirty_next = (dirty_next + 1) % npages;
		}
		while (check_credit >= PAGE) {
			if (!page_ok(check_next))
				errors++;
			checked++;
			check_credit -= PAGE;
			check_next = (check_next + 1) % npages;
		}
		t = now_ns();
		if (t >= next_beat) {
			snprintf(line, sizeof(line),
				 "MIGNET-HEARTBEAT seq=%llu checked=%llu errors=%llu dirtied=%llu\n",
				 (unsigned long long)seq++, (unsigned long long)checked,
				 (unsigned long long)errors, (unsigned long long)dirtied);
			say(line);
			next_beat += BEAT_NS;
			if (next_beat < t)
				next_beat = t + BEAT_NS;
		}
		slice_end = t + SLICE_NS;
		if (slice_end > next_beat)
			slice_end = next_beat;
		t = now_ns();
		if (slice_end > t) {
			struct timespec ts = { (slice_end - t) / 1000000000LL,
					       (slice_end - t) % 1000000000LL };

			nanosleep(&ts, NULL);
		}
	}
}
