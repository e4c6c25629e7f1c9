// SPDX-License-Identifier: Apache-2.0
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "mig_frame.h"
#include "mig_hmac.h"

static void put16(uint8_t *p, uint16_t v)
{
	v = htobe16(v);
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htobe32(v);
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htobe64(v);
	memcpy(p, &v, 8);
}

static uint16_t get16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return be16toh(v);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return be32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return be64toh(v);
}

void mig_frame_encode(const struct mig_frame *f, uint8_t buf[MIG_FRAME_HDR_LEN])
{
	put32(buf, MIG_FRAME_MAGIC);
	buf[4] = MIG_FRAME_VERSION;
	buf[5] = f->type;
	put16(buf + 6, f->flags);
	put32(buf + 8, f->round);
	put32(buf + 12, f->length);
	put64(buf + 16, f->offset);
	put64(buf + 24, f->checksum);
	put64(buf + 32, f->aux);
}

/* The only payload length each type may carry. */
static int max_length(uint8_t type, uint32_t *ret_max, bool *ret_exact)
{
	*ret_exact = true;
	switch (type) {
	case MIG_FRAME_HELLO:
		*ret_max = MIG_HELLO_LEN;
		return 0;
	case MIG_FRAME_DIGEST:
		*ret_max = MIG_SUMMARY_LEN;
		return 0;
	case MIG_FRAME_CHALLENGE:
		*ret_max = MIG_CHALLENGE_LEN;
		return 0;
	case MIG_FRAME_PAGES:
		*ret_max = MIG_FRAME_MAX_PAGES;
		*ret_exact = false;
		return 0;
	case MIG_FRAME_CONTROL:
		*ret_max = MIG_FRAME_MAX_CONTROL;
		*ret_exact = false;
		return 0;
	case MIG_FRAME_WELCOME:
	case MIG_FRAME_REJECT:
	case MIG_FRAME_ROUND_END:
	case MIG_FRAME_FINAL_ACK:
	case MIG_FRAME_RESULT:
		*ret_max = 0;
		return 0;
	default:
		return -EPROTONOSUPPORT;
	}
}

int mig_frame_decode(const uint8_t buf[MIG_FRAME_HDR_LEN], struct mig_frame *ret)
{
	struct mig_frame f;
	uint32_t max;
	bool exact;

	if (get32(buf) != MIG_FRAME_MAGIC)
		return -EBADMSG;
	if (buf[4] != MIG_FRAME_VERSION)
		return -EPROTO;
	f.type = buf[5];
	f.flags = get16(buf + 6);
	f.round = get32(buf + 8);
	f.length = get32(buf + 12);
	f.offset = get64(buf + 16);
	f.checksum = get64(buf + 24);
	f.aux = get64(buf + 32);
	if (max_length(f.type, &max, &exact) < 0)
		return -EPROTONOSUPPORT;
	if (f.length > max || (exact && f.length != max))
		return -EMSGSIZE;
	*ret = f;
	return 0;
}

int mig_frame_check_pages(const struct mig_frame *f, uint64_t memory_bytes, uint32_t page_size)
{
	if (f->type != MIG_FRAME_PAGES || f->length == 0 || page_size == 0)
		return -ERANGE;
	if (f->length % page_size || f->offset % page_size)
		return -ERANGE;
	if (f->length > memory_bytes || f->offset > memory_bytes - f->length)
		return -ERANGE;
	return 0;
}

void mig_hello_encode(const struct mig_hello *h, uint8_t buf[MIG_HELLO_LEN])
{
	memset(buf, 0, MIG_HELLO_LEN);
	put64(buf, h->session);
	put32(buf + 8, h->stream_index);
	put32(buf + 12, h->stream_count);
	put64(buf + 16, h->memory_bytes);
	put32(buf + 24, h->page_size);
	put32(buf + 28, h->flags);
	memcpy(buf + 32, h->mac, MIG_MAC_LEN);
}

void mig_hello_mac(const char *token, const uint8_t nonce[MIG_CHALLENGE_LEN],
		   const uint8_t payload[MIG_HELLO_LEN], uint8_t out[MIG_MAC_LEN])
{
	static const char context[] = "mignet hello v1";
	const void *parts[] = { context, nonce, payload };
	const size_t lens[] = { sizeof(context) - 1, MIG_CHALLENGE_LEN, 32 };

	mig_hmac_sha256(token, strlen(token), parts, lens, 3, out);
}

int mig_hello_decode(const uint8_t buf[MIG_HELLO_LEN], struct mig_hello *ret)
{
	struct mig_hello h = { 0 };

	h.session = get64(buf);
	h.stream_index = get32(buf + 8);
	h.stream_count = get32(buf + 12);
	h.memory_bytes = get64(buf + 16);
	h.page_size = get32(buf + 24);
	h.flags = get32(buf + 28);
	if (h.stream_count == 0 || h.stream_count > MIG_MAX_STREAMS)
		return -EINVAL;
	if (h.stream_index >= h.stream_count)
		return -EINVAL;
	if (h.flags & ~(uint32_t)(MIG_HELLO_F_MAC | MIG_HELLO_F_VM))
		return -EINVAL;
	if (h.page_size < 4096 || h.page_size > (1u << 21) || (h.page_size & (h.page_size - 1)))
		return -EINVAL;
	if (h.memory_bytes == 0 || h.memory_bytes % h.page_size)
		return -EINVAL;
	memcpy(h.mac, buf + 32, MIG_MAC_LEN);
	*ret = h;
	return 0;
}

void mig_summary_encode(const struct mig_summary *s, uint8_t buf[MIG_SUMMARY_LEN])
{
	put64(buf, s->digest);
	put64(buf + 8, s->bytes);
	put64(buf + 16, s->page_bytes);
	put32(buf + 24, s->rounds);
	put32(buf + 28, s->zc_mode);
	put64(buf + 32, s->zc_sends);
	put64(buf + 40, s->zc_completions);
	put64(buf + 48, s->zc_copied);
	put64(buf + 56, s->downtime_us);
	put64(buf + 64, s->seconds_us);
	put64(buf + 72, s->checksum_races);
}

void mig_summary_decode(const uint8_t buf[MIG_SUMMARY_LEN], struct mig_summary *ret)
{
	ret->digest = get64(buf);
	ret->bytes = get64(buf + 8);
	ret->page_bytes = get64(buf + 16);
	ret->rounds = get32(buf + 24);
	ret->zc_mode = get32(buf + 28);
	ret->zc_sends = get64(buf + 32);
	ret->zc_completions = get64(buf + 40);
	ret->zc_copied = get64(buf + 48);
	ret->downtime_us = get64(buf + 56);
	ret->seconds_us = get64(buf + 64);
	ret->checksum_races = get64(buf + 72);
}

const char *mig_frame_type_name(unsigned int type)
{
	static const char *const names[] = {
		[MIG_FRAME_HELLO] = "HELLO",	     [MIG_FRAME_WELCOME] = "WELCOME",
		[MIG_FRAME_REJECT] = "REJECT",	     [MIG_FRAME_PAGES] = "PAGES",
		[MIG_FRAME_ROUND_END] = "ROUND_END", [MIG_FRAME_FINAL_ACK] = "FINAL_ACK",
		[MIG_FRAME_DIGEST] = "DIGEST",	     [MIG_FRAME_RESULT] = "RESULT",
		[MIG_FRAME_CHALLENGE] = "CHALLENGE", [MIG_FRAME_CONTROL] = "CONTROL",
	};

	if (type < sizeof(names) / sizeof(names[0]) && names[type])
		return names[type];
	return "?";
}

const char *mig_reject_name(uint64_t reason)
{
	switch (reason) {
	case MIG_REJECT_TOKEN:
		return "token mismatch";
	case MIG_REJECT_BUSY:
		return "receiver busy with another migration";
	case MIG_REJECT_PROTOCOL:
		return "malformed hello";
	case MIG_REJECT_TOO_BIG:
		return "memory larger than the receiver allows";
	case MIG_REJECT_OVERLOADED:
		return "receiver overloaded with handshakes";
	default:
		return "unknown reason";
	}
}
