// SPDX-License-Identifier: Apache-2.0
/*
 * Unit tests of a QEMU migration's control connection (mig_control), the VM hello flag,
 * the liveMigrationConfig booleans, and mignet migrate's policy (tools/mignet/vm_policy.c).
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../check.h"
#include "mig_config.h"
#include "mig_control.h"
#include "mig_frame.h"
#include "mig_stream.h"
#include "mig_sum.h"
#include "vm.h"

static struct json_object *setup(const char *caps, const char *params)
{
	char text[512];

	snprintf(text, sizeof(text),
		 "{\"type\":\"setup\",\"capabilities\":%s,\"parameters\":%s,"
		 "\"connections\":3}",
		 caps, params);
	return json_tokener_parse(text);
}

static int check_setup(const char *caps, const char *params)
{
	struct json_object *o = setup(caps, params);
	struct mig_error err = { 0 };
	int r = mig_control_check_setup(o, &err);

	json_object_put(o);
	return r;
}

static void test_setup_allowlist(void)
{
	struct json_object *o;
	struct mig_error err = { 0 };

	CHECK(check_setup("{\"multifd\":true,\"auto-converge\":false,\"postcopy-ram\":false}",
			  "{\"multifd-channels\":8}") == 0);
	CHECK(check_setup("{}", "{}") == 0);
	/* a capability the source may not set on the target, or not a boolean */
	CHECK(check_setup("{\"x-ignore-shared\":true}", "{}") == -EPROTO);
	CHECK(check_setup("{\"multifd\":1}", "{}") == -EPROTO);
	/* a parameter outside the list (TLS credentials, say), or of the wrong type */
	CHECK(check_setup("{}", "{\"tls-creds\":\"x\"}") == -EPROTO);
	CHECK(check_setup("{}", "{\"multifd-channels\":\"8\"}") == -EPROTO);
	o = json_tokener_parse("{\"type\":\"setup\",\"capabilities\":{}}");
	CHECK(mig_control_check_setup(o, &err) == -EPROTO);
	CHECK(strstr(err.msg, "required") != NULL);
	json_object_put(o);
}

static void test_roundtrip_and_refusals(void)
{
	struct mig_frame f = { .type = MIG_FRAME_CONTROL, .length = 2 };
	uint8_t hdr[MIG_FRAME_HDR_LEN];
	struct json_object *m = NULL;
	struct mig_error err = { 0 };
	int sv[2];

	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	m = mig_control_new("ready");
	CHECK(mig_control_send(sv[0], m, &err) == 0);
	m = NULL;
	CHECK(mig_control_recv(sv[1], 1000, &m, &err) == 0);
	CHECK_STR(mig_control_type(m), "ready");
	json_object_put(m);
	/* nothing arrives: a timeout */
	CHECK(mig_control_recv(sv[1], 10, &m, &err) == -ETIMEDOUT);
	/* a corrupt checksum */
	f.checksum = mig_sum64("{}", 2) ^ 1;
	mig_frame_encode(&f, hdr);
	CHECK(mig_write_full(sv[0], hdr, sizeof(hdr), 0) == 0 &&
	      mig_write_full(sv[0], "{}", 2, 0) == 0);
	CHECK(mig_control_recv(sv[1], 1000, &m, &err) == -EPROTO);
	/* valid JSON, but without a type */
	f.checksum = mig_sum64("{}", 2);
	mig_frame_encode(&f, hdr);
	CHECK(mig_write_full(sv[0], hdr, sizeof(hdr), 0) == 0 &&
	      mig_write_full(sv[0], "{}", 2, 0) == 0);
	CHECK(mig_control_recv(sv[1], 1000, &m, &err) == -EPROTO);
	/* a frame of another type */
	f = (struct mig_frame){ .type = MIG_FRAME_WELCOME };
	mig_frame_encode(&f, hdr);
	CHECK(mig_write_full(sv[0], hdr, sizeof(hdr), 0) == 0);
	CHECK(mig_control_recv(sv[1], 1000, &m, &err) == -EPROTO);
	/* the peer closed */
	close(sv[0]);
	CHECK(mig_control_recv(sv[1], 1000, &m, &err) == -EPIPE);
	close(sv[1]);
}

static void test_frame_caps(void)
{
	struct mig_frame f = { .type = MIG_FRAME_CONTROL, .length = MIG_FRAME_MAX_CONTROL }, g;
	struct mig_hello h = { .session = 1,
			       .stream_index = 1,
			       .stream_count = 3,
			       .memory_bytes = 1 << 20,
			       .page_size = 4096,
			       .flags = MIG_HELLO_F_VM },
			 d;
	uint8_t buf[MIG_FRAME_HDR_LEN], hb[MIG_HELLO_LEN];

	mig_frame_encode(&f, buf);
	CHECK(mig_frame_decode(buf, &g) == 0);
	f.length++;
	mig_frame_encode(&f, buf);
	CHECK(mig_frame_decode(buf, &g) == -EMSGSIZE);
	mig_hello_encode(&h, hb);
	CHECK(mig_hello_decode(hb, &d) == 0 && d.flags == MIG_HELLO_F_VM);
	h.flags = 0x4;
	mig_hello_encode(&h, hb);
	CHECK(mig_hello_decode(hb, &d) == -EINVAL);
}

static void test_config_booleans(void)
{
	struct mig_config c;
	struct mig_error err = { 0 };

	CHECK(mig_config_parse("{\"allowAutoConverge\":true,\"allowPostCopy\":false}", &c, &err) ==
	      0);
	CHECK(c.has_auto_converge && c.allow_auto_converge);
	CHECK(c.has_post_copy && !c.allow_post_copy);
	CHECK(mig_config_parse("{\"allowPostCopy\":\"yes\"}", &c, &err) == -EINVAL);
	CHECK(strstr(err.msg, "allowPostCopy") != NULL);
}

static struct mig_qemu_migration active(uint64_t remaining)
{
	struct mig_qemu_migration m = { .status = "active", .total = 100, .remaining = remaining };

	return m;
}

static void test_policy(void)
{
	struct vm_opts o = { .progress_timeout = 10, .completion_timeout_per_gib = 150 };
	struct mig_qemu_migration m;
	struct vm_policy p;
	char why[200];

	/* 3 GiB: 450 s; remaining going down keeps it alive, standing still for 10 s ends it */
	vm_policy_init(&p, &o, 3ull << 30, 1000);
	m = active(90);
	CHECK(vm_policy_check(&p, &m, 1001, why, sizeof(why)) == VM_GO_ON);
	m = active(80);
	CHECK(vm_policy_check(&p, &m, 1009, why, sizeof(why)) == VM_GO_ON);
	m = active(85); /* a new pass: higher than the lowest seen */
	CHECK(vm_policy_check(&p, &m, 1018, why, sizeof(why)) == VM_GO_ON);
	CHECK(vm_policy_check(&p, &m, 1020, why, sizeof(why)) == VM_CANCEL);
	CHECK(strstr(why, "progressTimeout") != NULL);
	/* a small guest counts as 1 GiB: 150 s; post-copy when allowed */
	o.progress_timeout = 0;
	vm_policy_init(&p, &o, 256 << 20, 0);
	m = active(50);
	CHECK(vm_policy_check(&p, &m, 149, why, sizeof(why)) == VM_GO_ON);
	CHECK(vm_policy_check(&p, &m, 151, why, sizeof(why)) == VM_CANCEL);
	CHECK(strstr(why, "completionTimeoutPerGiB") != NULL);
	o.post_copy = true;
	vm_policy_init(&p, &o, 256 << 20, 0);
	CHECK(vm_policy_check(&p, &m, 151, why, sizeof(why)) == VM_POSTCOPY);
	/* in post-copy nothing is cancelled any more */
	snprintf(m.status, sizeof(m.status), "postcopy-active");
	CHECK(vm_policy_check(&p, &m, 1000, why, sizeof(why)) == VM_GO_ON);
	/* setup and completed: nothing to decide */
	vm_policy_init(&p, &o, 256 << 20, 0);
	snprintf(m.status, sizeof(m.status), "setup");
	CHECK(vm_policy_check(&p, &m, 1000, why, sizeof(why)) == VM_GO_ON);
}

int main(void)
{
	test_setup_allowlist();
	test_roundtrip_and_refusals();
	test_frame_caps();
	test_config_booleans();
	test_policy();
	return check_summary();
}
