// SPDX-License-Identifier: Apache-2.0
/* Unit tests of SHA-256 (FIPS 180-4 examples) and HMAC-SHA256 (RFC 4231 cases 1, 2, 6). */
#include <stdio.h>
#include <string.h>

#include "../check.h"
#include "mig_hmac.h"

static const char *hex(const uint8_t *p, size_t n)
{
	static char buf[2 * 64 + 1];

	for (size_t i = 0; i < n; i++)
		sprintf(buf + 2 * i, "%02x", p[i]);
	return buf;
}

static const char *sha(const char *msg, size_t repeat)
{
	struct mig_sha256 s;
	uint8_t out[32];

	mig_sha256_init(&s);
	for (size_t i = 0; i < repeat; i++)
		mig_sha256_update(&s, msg, strlen(msg));
	mig_sha256_final(&s, out);
	return hex(out, 32);
}

static const char *hmac1(const void *key, size_t klen, const char *msg)
{
	const void *parts[] = { msg };
	size_t lens[] = { strlen(msg) };
	uint8_t out[32];

	mig_hmac_sha256(key, klen, parts, lens, 1, out);
	return hex(out, 32);
}

int main(void)
{
	uint8_t key[131];
	const void *parts[2];
	size_t lens[2];
	uint8_t a[32], b[32];

	CHECK_STR(sha("abc", 1),
		  "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	CHECK_STR(sha("", 1), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	CHECK_STR(sha("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 1),
		  "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
	CHECK_STR(sha("a", 1000000),
		  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

	memset(key, 0x0b, 20);
	CHECK_STR(hmac1(key, 20, "Hi There"),
		  "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
	CHECK_STR(hmac1("Jefe", 4, "what do ya want for nothing?"),
		  "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memset(key, 0xaa, 131);
	CHECK_STR(hmac1(key, 131, "Test Using Larger Than Block-Size Key - Hash Key First"),
		  "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
	/* parts concatenate */
	parts[0] = "what do ya ";
	lens[0] = 11;
	parts[1] = "want for nothing?";
	lens[1] = 17;
	mig_hmac_sha256("Jefe", 4, parts, lens, 2, a);
	CHECK_STR(hex(a, 32), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
	memcpy(b, a, 32);
	CHECK(mig_memeq(a, b, 32));
	b[31] ^= 1;
	CHECK(!mig_memeq(a, b, 32));
	return check_summary();
}
