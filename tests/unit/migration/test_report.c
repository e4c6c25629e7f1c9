// SPDX-License-Identifier: Apache-2.0
/* Unit tests of the final report's JSON and of the zero-copy counters' arithmetic. */
#include <errno.h>
#include <string.h>

#include "../check.h"
#include "mig_report.h"
#include "mig_zerocopy.h"

static const char *str(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_string(v) : NULL;
}

static int64_t num(struct json_object *o, const char *k)
{
	struct json_object *v;

	return json_object_object_get_ex(o, k, &v) ? json_object_get_int64(v) : -1;
}

static void test_json(void)
{
	struct mig_report r = { .role = "send",
				.target_address = "10.77.0.2",
				.source_address = "10.77.0.1",
				.interface = "migration0",
				.memory_bytes = 64u << 20,
				.bytes = 70000000,
				.seconds = 0.5,
				.gbps = 1.12,
				.streams = 4,
				.rounds = 3,
				.downtime_ms = 12.5,
				.verified = true,
				.digest = 0xabcull,
				.dirty_tracking = "uffd-wp",
				.zc_mode = MIG_ZC_AUTO,
				.zc = { .sends = 9, .completions = 9, .copied = 9 } };
	struct mig_error err = { .code = -EIO, .msg = "boom" };
	struct json_object *o = mig_report_json(&r, NULL), *zc, *v, *p;
	const char *keys[] = {
		"targetNodeAddress", "sourceAddress", "interface", "memoryBytes", "bytes",
		"seconds",	     "gbps",	      "streams",   "rounds",	  "downtimeMs",
		"verified",	     "zerocopy"
	};

	CHECK(o != NULL);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		CHECK(json_object_object_get_ex(o, keys[i], NULL));
	CHECK_STR(str(o, "event"), "report");
	CHECK_STR(str(o, "targetNodeAddress"), "10.77.0.2");
	CHECK_STR(str(o, "sourceAddress"), "10.77.0.1");
	CHECK(num(o, "memoryBytes") == 64 << 20);
	CHECK(num(o, "streams") == 4 && num(o, "rounds") == 3);
	CHECK(json_object_object_get_ex(o, "verified", &v) && json_object_get_boolean(v));
	CHECK(json_object_object_get_ex(o, "downtimeMs", &v) && json_object_get_double(v) == 12.5);
	CHECK_STR(str(o, "digest"), "0000000000000abc");
	CHECK(!json_object_object_get_ex(o, "error", NULL));
	CHECK(json_object_object_get_ex(o, "zerocopy", &zc));
	CHECK_STR(str(zc, "mode"), "auto");
	CHECK(num(zc, "sends") == 9 && num(zc, "completions") == 9 && num(zc, "copied") == 9);
	/* the serialised line parses back */
	p = json_tokener_parse(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	CHECK(p && num(p, "bytes") == 70000000);
	json_object_put(p);
	json_object_put(o);

	o = mig_report_json(&r, &err);
	CHECK_STR(str(o, "error"), "boom");
	json_object_put(o);
}

static void test_text_and_modes(void)
{
	struct mig_report r = { .role = "receive", .verified = false, .zc_mode = MIG_ZC_NEVER };
	enum mig_zc_mode m;
	char buf[1024];

	mig_report_text(&r, buf, sizeof(buf));
	CHECK(strstr(buf, "NOT verified") != NULL);
	CHECK(mig_zc_mode_parse("always", &m) == 0 && m == MIG_ZC_ALWAYS);
	CHECK(mig_zc_mode_parse("never", &m) == 0 && m == MIG_ZC_NEVER);
	CHECK(mig_zc_mode_parse("auto", &m) == 0 && m == MIG_ZC_AUTO);
	CHECK(mig_zc_mode_parse("sometimes", &m) == -EINVAL);
	CHECK_STR(mig_zc_mode_name(MIG_ZC_ALWAYS), "always");
	/* notification ranges are inclusive and wrap at 2^32 */
	CHECK(mig_zc_range_count(0, 0) == 1);
	CHECK(mig_zc_range_count(5, 9) == 5);
	CHECK(mig_zc_range_count(0xfffffffeu, 1) == 4);
}

int main(void)
{
	test_json();
	test_text_and_modes();
	return check_summary();
}
