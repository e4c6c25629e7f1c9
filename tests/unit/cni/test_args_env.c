// SPDX-License-Identifier: Apache-2.0
/* CNI_ARGS parsing and the validation of container IDs and interface names. */
#include <stdlib.h>

#include "cni/args.h"
#include "cni/env.h"
#include "cni/text.h"
#include "cni/version.h"
#include "tests/unit/check.h"

static void test_args(void)
{
	struct cni_error err = { 0 };
	struct cni_args a;

	CHECK(cni_args_parse(NULL, &a, &err) == 0 && !a.pod_name);
	cni_args_free(&a);

	CHECK(cni_args_parse("IgnoreUnknown=true;K8S_POD_NAMESPACE=openshift-cnv;K8S_POD_NAME=virt-"
			     "handler-x;"
			     "K8S_POD_INFRA_CONTAINER_ID=abc;K8S_POD_UID=u-1;MAC=aa:bb:cc:dd:ee:ff;"
			     "IP=10.0.0.5;FOO=bar",
			     &a, &err) == 0);
	CHECK(a.ignore_unknown);
	CHECK_STR(a.pod_namespace, "openshift-cnv");
	CHECK_STR(a.pod_name, "virt-handler-x");
	CHECK_STR(a.pod_infra_container_id, "abc");
	CHECK_STR(a.pod_uid, "u-1");
	CHECK_STR(a.mac, "aa:bb:cc:dd:ee:ff");
	CHECK_STR(a.ip, "10.0.0.5");
	cni_args_free(&a);

	/* Multus may append a key again: the last value wins */
	CHECK(cni_args_parse("K8S_POD_NAME=a;K8S_POD_NAME=b", &a, &err) == 0);
	CHECK_STR(a.pod_name, "b");
	cni_args_free(&a);

	/* an unknown key is an error unless IgnoreUnknown, wherever IgnoreUnknown stands */
	CHECK(cni_args_parse("FOO=bar", &a, &err) < 0 && err.code == CNI_ERR_UNSUPPORTED_FIELD);
	CHECK(strstr(err.msg, "FOO") != NULL);
	CHECK(cni_args_parse("FOO=bar;IgnoreUnknown=1", &a, &err) == 0);
	cni_args_free(&a);
	CHECK(cni_args_parse("novalue", &a, &err) < 0 && err.code == CNI_ERR_ENV);
	CHECK(cni_args_parse("=x", &a, &err) < 0);
	/* an empty value is a value */
	CHECK(cni_args_parse("MAC=", &a, &err) == 0 && a.mac && !*a.mac);
	cni_args_free(&a);
}

static void test_names(void)
{
	CHECK(cni_valid_containerid("a"));
	CHECK(cni_valid_containerid("0123abc_d.e-f"));
	CHECK(!cni_valid_containerid(""));
	CHECK(!cni_valid_containerid("_a"));
	CHECK(!cni_valid_containerid("a/b"));
	CHECK(!cni_valid_containerid("a b"));
	CHECK(!cni_valid_containerid("../x"));

	CHECK(cni_valid_ifname("migration0"));
	CHECK(cni_valid_ifname("eth0.100"));
	CHECK(cni_valid_ifname("abcdefghijklmno"));   /* 15 bytes */
	CHECK(!cni_valid_ifname("abcdefghijklmnop")); /* 16 */
	CHECK(!cni_valid_ifname(""));
	CHECK(!cni_valid_ifname("."));
	CHECK(!cni_valid_ifname(".."));
	CHECK(!cni_valid_ifname("a/b"));
	CHECK(!cni_valid_ifname("a:b"));
	CHECK(!cni_valid_ifname("a b"));
	CHECK(!cni_valid_ifname("a\tb"));
}

static void test_env(void)
{
	struct cni_error err = { 0 };
	struct cni_env e;

	clearenv();
	CHECK(cni_env_load(&e, &err) < 0 && err.code == CNI_ERR_ENV);
	setenv("CNI_COMMAND", "VERSION", 1);
	CHECK(cni_env_load(&e, &err) == 0 && e.command == CNI_CMD_VERSION);
	setenv("CNI_COMMAND", "ADD", 1);
	CHECK(cni_env_load(&e, &err) < 0 && strstr(err.msg, "CNI_CONTAINERID"));
	setenv("CNI_CONTAINERID", "c1", 1);
	setenv("CNI_NETNS", "/var/run/netns/x", 1);
	setenv("CNI_IFNAME", "eth0", 1);
	CHECK(cni_env_load(&e, &err) < 0 && strstr(err.msg, "CNI_PATH"));
	setenv("CNI_PATH", "/opt/cni/bin", 1);
	CHECK(cni_env_load(&e, &err) == 0 && e.command == CNI_CMD_ADD);
	/* DEL tolerates a missing netns: the container may be gone */
	setenv("CNI_COMMAND", "DEL", 1);
	unsetenv("CNI_NETNS");
	CHECK(cni_env_load(&e, &err) == 0 && !e.netns);
	setenv("CNI_COMMAND", "CHECK", 1);
	CHECK(cni_env_load(&e, &err) < 0 && strstr(err.msg, "CNI_NETNS"));
	setenv("CNI_COMMAND", "GC", 1);
	unsetenv("CNI_CONTAINERID");
	unsetenv("CNI_IFNAME");
	CHECK(cni_env_load(&e, &err) == 0);
	setenv("CNI_COMMAND", "STATUS", 1);
	CHECK(cni_env_load(&e, &err) == 0 && e.command == CNI_CMD_STATUS);
	setenv("CNI_COMMAND", "ADD", 1);
	setenv("CNI_NETNS", "/x", 1);
	setenv("CNI_CONTAINERID", "bad/id", 1);
	setenv("CNI_IFNAME", "eth0", 1);
	CHECK(cni_env_load(&e, &err) < 0 && err.code == CNI_ERR_ENV &&
	      strstr(err.msg, "CNI_CONTAINERID"));
	setenv("CNI_CONTAINERID", "good", 1);
	setenv("CNI_IFNAME", "..", 1);
	CHECK(cni_env_load(&e, &err) < 0 && strstr(err.msg, "CNI_IFNAME"));
	setenv("CNI_COMMAND", "FROB", 1);
	CHECK(cni_env_load(&e, &err) < 0 && strstr(err.msg, "FROB"));
}

static void test_versions(void)
{
	struct cni_error err = { 0 };
	enum cni_version v;

	CHECK(cni_version_parse(NULL, &v, &err) == 0 && v == CNI_V0_1_0);
	CHECK(cni_version_parse("0.3.1", &v, &err) == 0 && v == CNI_V0_3_1);
	CHECK(cni_version_parse("1.1.0", &v, &err) == 0 && v == CNI_V1_1_0);
	CHECK(cni_version_parse("1.2.0", &v, &err) < 0 && err.code == CNI_ERR_VERSION);
	CHECK(strstr(err.details, "1.1.0") && strstr(err.details, "0.1.0"));
	CHECK(cni_version_parse("", &v, &err) < 0);
	CHECK_STR(cni_version_string(CNI_V0_4_0), "0.4.0");
}

static void test_utf8(void)
{
	char bad[] = "a\xff\xc0\xaf"
		     "b\xe2\x82";

	CHECK(cni_utf8_valid("migration0", 10));
	CHECK(cni_utf8_valid("\xc3\xbc\xe2\x82\xac\xf0\x9f\x98\x80", 9)); /* ü € emoji */
	CHECK(!cni_utf8_valid("\xff", 1));
	CHECK(!cni_utf8_valid("\xc0\xaf", 2));	       /* overlong '/' */
	CHECK(!cni_utf8_valid("\xed\xa0\x80", 3));     /* a surrogate */
	CHECK(!cni_utf8_valid("\xe2\x82", 2));	       /* truncated */
	CHECK(!cni_utf8_valid("\xf4\x90\x80\x80", 4)); /* above U+10FFFF */
	cni_utf8_sanitize(bad);
	CHECK_STR(bad, "a???b??");
	CHECK(!cni_valid_ifname("n\xffx"));
	CHECK(cni_valid_ifname("m\xc3\xbc"));
	CHECK(!cni_valid_ifname("a\x01"
				"b"));
}

static void test_gateway_arg(void)
{
	struct cni_error err = { 0 };
	struct cni_args a;

	/* whereabouts' static-IP args are known keys: no IgnoreUnknown needed */
	CHECK(cni_args_parse("IP=10.0.0.5/24;GATEWAY=10.0.0.1", &a, &err) == 0);
	CHECK_STR(a.gateway, "10.0.0.1");
	cni_args_free(&a);
}

int main(void)
{
	test_utf8();
	test_gateway_arg();
	test_args();
	test_names();
	test_env();
	test_versions();
	return check_summary();
}
