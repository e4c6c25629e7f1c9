/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The wire format. Every message on a migration stream is a 40-byte header, big-endian,
 * optionally followed by a payload of `length` bytes:
 *
 *    0  u32 magic "MGNF"     4  u8 version    5  u8 type    6  u16 flags
 *    8  u32 round           12  u32 length   16  u64 offset
 *   24  u64 checksum (mig_sum64 of the payload; 0 when length is 0)
 *   32  u64 aux (per type)
 *
 * Decoding checks everything that does not depend on the migration (magic, version, type,
 * length cap per type); mig_frame_check_pages() then checks a PAGES frame against the region
 * before a single byte of it is read into memory.
 */
#ifndef MIGNET_MIGRATION_MIG_FRAME_H
#define MIGNET_MIGRATION_MIG_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mig.h"

#define MIG_FRAME_MAGIC 0x4d474e46u /* "MGNF" */
#define MIG_FRAME_VERSION 1
#define MIG_FRAME_HDR_LEN 40
#define MIG_FRAME_MAX_PAGES (4u << 20)	  /* largest PAGES payload */
#define MIG_FRAME_MAX_CONTROL (64u << 10) /* largest CONTROL payload */

enum mig_frame_type {
	MIG_FRAME_HELLO = 1,	 /* s->r: first frame of every stream, payload mig_hello */
	MIG_FRAME_WELCOME = 2,	 /* r->s: the stream is accepted */
	MIG_FRAME_REJECT = 3,	 /* r->s: refused; aux = enum mig_reject */
	MIG_FRAME_PAGES = 4,	 /* s->r: payload = memory at offset */
	MIG_FRAME_ROUND_END = 5, /* s->r: this stream sent all of round; flags FINAL on the last */
	MIG_FRAME_FINAL_ACK = 6, /* r->s, stream 0: every stream reached the final round end */
	MIG_FRAME_DIGEST = 7,	 /* s->r, stream 0: payload mig_summary */
	MIG_FRAME_RESULT = 8,	 /* r->s, stream 0: aux = receiver digest, flags VERIFIED */
	MIG_FRAME_CHALLENGE = 9, /* r->s: first frame of every accepted connection, a nonce */
	MIG_FRAME_CONTROL = 10,	 /* either way, the control connection of a QEMU migration:
				  * payload one JSON object (mig_control.h) */
};

#define MIG_FRAME_F_LIVE 0x1	 /* PAGES: the guest was running while this was read */
#define MIG_FRAME_F_FINAL 0x2	 /* ROUND_END: no round follows */
#define MIG_FRAME_F_VERIFIED 0x4 /* RESULT: digests are equal */

enum mig_reject {
	MIG_REJECT_TOKEN = 1,
	MIG_REJECT_BUSY = 2,	   /* another migration is being received */
	MIG_REJECT_PROTOCOL = 3,   /* malformed hello */
	MIG_REJECT_TOO_BIG = 4,	   /* memory larger than the receiver allows */
	MIG_REJECT_OVERLOADED = 5, /* sent instead of a challenge: no handshake slot, retry */
};

struct mig_frame {
	uint8_t type;
	uint16_t flags;
	uint32_t round;
	uint32_t length;
	uint64_t offset;
	uint64_t checksum;
	uint64_t aux;
};

#define MIG_CHALLENGE_LEN 32
#define MIG_MAC_LEN 32
#define MIG_HELLO_F_MAC 0x1 /* mac holds HMAC-SHA256(token, ...): see mig_hello_mac() */
/*
 * A QEMU migration (mignet migrate -> mignet incoming): connection 0 is the control
 * connection, 1..stream_count-1 carry QEMU's own connections in the order the source QEMU
 * opened them; memory_bytes is the guest's RAM.
 */
#define MIG_HELLO_F_VM 0x2

#define MIG_HELLO_LEN 64
struct mig_hello {
	uint64_t session;
	uint32_t stream_index;
	uint32_t stream_count;
	uint64_t memory_bytes;
	uint32_t page_size;
	uint32_t flags;
	uint8_t mac[MIG_MAC_LEN];
};

#define MIG_SUMMARY_LEN 80
struct mig_summary {
	uint64_t digest;
	uint64_t bytes;
	uint64_t page_bytes;
	uint32_t rounds;
	uint32_t zc_mode;
	uint64_t zc_sends;
	uint64_t zc_completions;
	uint64_t zc_copied;
	uint64_t downtime_us;
	uint64_t seconds_us;
	uint64_t checksum_races;
};

/** mig_frame_encode() - write @f as a header into @buf. */
void mig_frame_encode(const struct mig_frame *f, uint8_t buf[MIG_FRAME_HDR_LEN]);

/**
 * mig_frame_decode() - parse and check a header
 * Return: 0, -EBADMSG (magic), -EPROTO (version), -EPROTONOSUPPORT (type),
 * -EMSGSIZE (length not allowed for the type).
 */
int mig_frame_decode(const uint8_t buf[MIG_FRAME_HDR_LEN], struct mig_frame *ret);

/**
 * mig_frame_check_pages() - bounds of a PAGES frame against a region
 * Return: 0 when offset and length are page-aligned, non-empty and inside [0, @memory_bytes);
 * -ERANGE otherwise.
 */
int mig_frame_check_pages(const struct mig_frame *f, uint64_t memory_bytes, uint32_t page_size);

void mig_hello_encode(const struct mig_hello *h, uint8_t buf[MIG_HELLO_LEN]);
/** mig_hello_decode() - Return: 0, or -EINVAL when a field is out of its range. */
int mig_hello_decode(const uint8_t buf[MIG_HELLO_LEN], struct mig_hello *ret);

/**
 * mig_hello_mac() - the proof of the token for one connection:
 * HMAC-SHA256(@token, "mignet hello v1" || @nonce || first 32 bytes of the HELLO payload),
 * so it binds the challenge and every field of the hello, and the token never travels.
 */
void mig_hello_mac(const char *token, const uint8_t nonce[MIG_CHALLENGE_LEN],
		   const uint8_t payload[MIG_HELLO_LEN], uint8_t out[MIG_MAC_LEN]);

void mig_summary_encode(const struct mig_summary *s, uint8_t buf[MIG_SUMMARY_LEN]);
void mig_summary_decode(const uint8_t buf[MIG_SUMMARY_LEN], struct mig_summary *ret);

/** mig_frame_type_name() - "PAGES" etc., "?" when unknown. */
const char *mig_frame_type_name(unsigned int type);
const char *mig_reject_name(uint64_t reason);

#endif
