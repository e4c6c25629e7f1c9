// SPDX-License-Identifier: Apache-2.0
/* Results: parsing every version's shape and printing in every version, and the config. */
#include <stdlib.h>

#include "cni/conf.h"
#include "cni/delegate.h"
#include "cni/json.h"
#include "cni/result.h"
#include "tests/unit/check.h"

static struct json_object *parse(const char *s)
{
	return json_tokener_parse(s);
}

static const char *get(struct json_object *o, const char *path)
{
	/* a tiny dotted-path lookup: "ips.0.address" */
	char buf[128], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); o && k; k = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array))
			o = json_object_array_get_idx(o, atoi(k));
		else if (!json_object_object_get_ex(o, k, &o))
			o = NULL;
	}
	return o ? json_object_get_string(o) : NULL;
}

struct path_want {
	const char *path, *want;
};

/* Each path of @o (get()) holds its string; a failure names the path. */
static void check_paths(struct json_object *o, const struct path_want *w, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int failed = check_failed;

		CHECK_STR(get(o, w[i].path), w[i].want);
		if (check_failed != failed)
			fprintf(stderr, "  (the path %s)\n", w[i].path);
	}
}

#define CHECK_PATHS(o, ...)                                         \
	check_paths((o), (const struct path_want[]){ __VA_ARGS__ }, \
		    sizeof((const struct path_want[]){ __VA_ARGS__ }) / sizeof(struct path_want))

static void test_current_round_trip(void)
{
	struct cni_error err = { 0 };
	struct cni_result r;
	struct json_object *in = parse(
		"{\"cniVersion\":\"1.1.0\",\"interfaces\":[{\"name\":\"migration0\",\"mac\":\"aa:"
		"bb:cc:dd:ee:01\","
		"\"sandbox\":\"/var/run/netns/"
		"x\",\"mtu\":1400}],\"ips\":[{\"address\":\"192.168.200.2/24\","
		"\"gateway\":\"192.168.200.1\",\"interface\":0},{\"address\":\"fd00::2/"
		"64\",\"interface\":0}],"
		"\"routes\":[{\"dst\":\"0.0.0.0/"
		"0\",\"priority\":100,\"table\":200},{\"dst\":\"fd00:1::/64\",\"gw\":\"fd00::1\"}],"
		"\"dns\":{\"nameservers\":[\"10.0.0.10\"],\"search\":[\"svc\"]},\"unknown\":1}");
	struct json_object *out;

	CHECK(cni_result_parse(in, CNI_V0_1_0, &r, &err) == 0);
	CHECK(r.n_interfaces == 1 && r.n_ips == 2 && r.n_routes == 2);
	CHECK(r.interfaces[0].mtu == 1400);
	CHECK(r.routes[0].priority == 100 && r.routes[0].table == 200 &&
	      r.routes[0].mtu == CNI_UNSET);

	out = cni_result_to_json(&r, CNI_V1_1_0, &err);
	CHECK_PATHS(out, { "cniVersion", "1.1.0" }, { "ips.0.address", "192.168.200.2/24" },
		    { "ips.1.interface", "0" }, { "routes.0.priority", "100" },
		    { "interfaces.0.mtu", "1400" });
	CHECK(get(out, "ips.0.version") == NULL);
	json_object_put(out);

	/* 1.0.0 drops the 1.1.0 route and interface attributes */
	out = cni_result_to_json(&r, CNI_V1_0_0, &err);
	CHECK(get(out, "routes.0.priority") == NULL && get(out, "interfaces.0.mtu") == NULL);
	json_object_put(out);

	/* 0.3.1 and 0.4.0 add "version" */
	out = cni_result_to_json(&r, CNI_V0_3_1, &err);
	CHECK_STR(get(out, "ips.0.version"), "4");
	CHECK_STR(get(out, "ips.1.version"), "6");
	json_object_put(out);

	/* 0.2.0: ip4/ip6 with their routes */
	out = cni_result_to_json(&r, CNI_V0_2_0, &err);
	CHECK_PATHS(out, { "ip4.ip", "192.168.200.2/24" }, { "ip4.gateway", "192.168.200.1" },
		    { "ip4.routes.0.dst", "0.0.0.0/0" }, { "ip6.ip", "fd00::2/64" },
		    { "ip6.routes.0.gw", "fd00::1" }, { "dns.nameservers.0", "10.0.0.10" });
	json_object_put(out);
	cni_result_free(&r);
	json_object_put(in);
}

static void test_legacy_parse(void)
{
	struct cni_error err = { 0 };
	struct cni_result r;
	struct json_object *in = parse("{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"10.1.0.5/"
				       "16\",\"gateway\":\"10.1.0.1\","
				       "\"routes\":[{\"dst\":\"0.0.0.0/0\"}]}}");
	struct json_object *out;

	CHECK(cni_result_parse(in, CNI_V1_0_0, &r, &err) == 0);
	CHECK(r.n_ips == 1 && r.ips[0].prefixlen == 16 && r.ips[0].interface == -1 &&
	      r.n_routes == 1);
	out = cni_result_to_json(&r, CNI_V1_0_0, &err);
	CHECK_STR(get(out, "ips.0.address"), "10.1.0.5/16");
	CHECK(get(out, "ips.0.interface") == NULL);
	json_object_put(out);
	cni_result_free(&r);
	json_object_put(in);
}

static void test_bad_results(void)
{
	struct cni_error err = { 0 };
	struct cni_result r = { 0 };
	const char *bad[] = {
		"[]",
		"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1\"}]}",
		"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/33\"}]}",
		"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/"
		"24\",\"interface\":3}]}",
		"{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.1/"
		"24\",\"gateway\":\"fd00::1\"}]}",
		"{\"cniVersion\":\"1.0.0\",\"ips\":\"x\"}",
		"{\"cniVersion\":\"1.0.0\",\"routes\":[{\"gw\":\"10.0.0.1\"}]}",
		"{\"cniVersion\":\"9.9.9\"}",
		"{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"fd00::1/64\"}}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct json_object *in = parse(bad[i]);

		err.code = 0;
		CHECK(cni_result_parse(in, CNI_V1_0_0, &r, &err) < 0 && err.code != 0);
		json_object_put(in);
	}
	/* the message names the bad field */
	{
		struct json_object *in = parse(bad[2]);

		cni_result_parse(in, CNI_V1_0_0, &r, &err);
		CHECK(strstr(err.msg, "ips[0].address") != NULL);
		json_object_put(in);
	}
	/* no IP cannot become a 0.2.0 result */
	{
		struct cni_result empty = { 0 };

		cni_result_add_interface(&empty, "eth0", NULL, NULL);
		CHECK(cni_result_to_json(&empty, CNI_V0_2_0, &err) == NULL &&
		      err.code == CNI_ERR_VERSION);
		cni_result_free(&empty);
	}
}

static int conf(const char *text, struct cni_conf *c, struct cni_error *err)
{
	return cni_conf_parse(strdup(text), strlen(text), c, err);
}

static void test_conf(void)
{
	struct cni_error err = { 0 };
	struct cni_conf c;

	CHECK(conf("{\"name\":\"n\",\"type\":\"macvlan\"}", &c, &err) == 0 &&
	      c.version == CNI_V0_1_0);
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"1.0.0\",\"ipam\":{}}", &c, &err) == 0 && !c.ipam &&
	      !c.ipam_type);
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"1.0.0\",\"ipam\":{\"type\":\"whereabouts\"}}", &c, &err) ==
	      0);
	CHECK_STR(c.ipam_type, "whereabouts");
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"1.0.0\",\"ipam\":{\"range\":\"x\"}}", &c, &err) < 0 &&
	      err.code == CNI_ERR_CONFIG);
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"1.0.0\",\"name\":5}", &c, &err) < 0 &&
	      err.code == CNI_ERR_CONFIG && strstr(err.msg, "\"name\""));
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"2.0.0\"}", &c, &err) < 0 && err.code == CNI_ERR_VERSION);
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"1.0.0\"", &c, &err) < 0 && err.code == CNI_ERR_DECODE);
	cni_conf_free(&c);
	CHECK(conf("{} {}", &c, &err) < 0 && err.code == CNI_ERR_DECODE);
	cni_conf_free(&c);
	CHECK(conf("\"str\"", &c, &err) < 0 && err.code == CNI_ERR_DECODE);
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"1.0.0\",\"runtimeConfig\":{\"mac\":\"aa:bb:cc:dd:ee:ff\","
		   "\"ips\":[\"10.0.0.1/24\"]}}",
		   &c, &err) == 0);
	CHECK_STR(c.runtime_mac, "aa:bb:cc:dd:ee:ff");
	CHECK(c.n_runtime_ips == 1);
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"1.0.0\",\"runtimeConfig\":{\"ips\":[1]}}", &c, &err) < 0 &&
	      strstr(err.msg, "runtimeConfig.ips[0]"));
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"1.1.0\",\"cni.dev/"
		   "valid-attachments\":[{\"containerID\":\"c1\",\"ifname\":\"eth0\"}]}",
		   &c, &err) == 0);
	CHECK(c.has_attachments && cni_conf_attachment_valid(&c, "c1", "eth0") &&
	      !cni_conf_attachment_valid(&c, "c1", "eth1"));
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"1.1.0\",\"cni.dev/attachments\":[]}", &c, &err) == 0 &&
	      c.has_attachments && c.n_attachments == 0);
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"1.0.0\",\"prevResult\":{\"ips\":[{\"address\":\"10.0.0.2/"
		   "24\"}]}}",
		   &c, &err) == 0 &&
	      c.has_prev_result && c.prev_result.n_ips == 1);
	cni_conf_free(&c);
	CHECK(cni_conf_peek_version("{\"cniVersion\":\"0.3.1\"}", 22) == CNI_V0_3_1);
	CHECK(cni_conf_peek_version("garbage", 7) == CNI_VERSION_LATEST);
}

/* What Go's encoding/json and net.IP accept, as libcni and the reference plugins read it. */
static void test_go_compat(void)
{
	struct cni_error err = { 0 };
	struct cni_result r = { 0 };
	struct cni_conf c;
	struct json_object *in = parse("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.2/"
				       "24\",\"gateway\":\"\"}],"
				       "\"routes\":[{\"dst\":\"0.0.0.0/0\",\"gw\":\"\"}]}");
	const char *s = NULL;

	CHECK(cni_result_parse(in, CNI_V1_0_0, &r, &err) == 0 && r.n_ips == 1 &&
	      r.ips[0].gateway.family == 0 && r.n_routes == 1 && r.routes[0].gw.family == 0);
	cni_result_free(&r);
	json_object_put(in);
	in = parse("{\"cniVersion\":\"0.2.0\",\"ip4\":{\"ip\":\"10.0.0.2/24\",\"gateway\":\"\"}}");
	CHECK(cni_result_parse(in, CNI_V0_2_0, &r, &err) == 0 && r.n_ips == 1 &&
	      r.ips[0].gateway.family == 0);
	cni_result_free(&r);
	json_object_put(in);
	/* " " is not "": still refused */
	in = parse("{\"cniVersion\":\"1.0.0\",\"ips\":[{\"address\":\"10.0.0.2/24\",\"gateway\":\" "
		   "\"}]}");
	CHECK(cni_result_parse(in, CNI_V1_0_0, &r, &err) < 0 && err.code == CNI_ERR_DECODE);
	json_object_put(in);

	/* keys fold as in Go: case, KELVIN SIGN for k, LONG S for s; the last non-null wins */
	in = parse("{\"Master\":\"a\",\"MASTER\":\"b\",\"master\":null,\"ma\\u017fter\":null}");
	CHECK(cni_json_string(in, NULL, "master", &s, &err) == 1);
	CHECK_STR(s, "b");
	json_object_put(in);
	in = parse(
		"{\"ma\\u017fter\":\"c\",\"\\u212aey\":\"d\",\"mastr\":\"x\",\"masterx\":\"y\"}");
	CHECK(cni_json_string(in, NULL, "master", &s, &err) == 1);
	CHECK_STR(s, "c");
	CHECK(cni_json_string(in, NULL, "key", &s, &err) == 1);
	CHECK_STR(s, "d");
	CHECK(cni_json_get(in, "mast") == NULL && cni_json_get(in, "masterxy") == NULL);
	json_object_put(in);

	CHECK(conf("{\"CNIVersion\":\"0.4.0\",\"RuntimeConfig\":{\"MAC\":\"aa:bb:cc:dd:ee:ff\"},"
		   "\"IPAM\":{\"Type\":\"whereabouts\"}}",
		   &c, &err) == 0 &&
	      c.version == CNI_V0_4_0);
	CHECK_STR(c.runtime_mac, "aa:bb:cc:dd:ee:ff");
	CHECK_STR(c.ipam_type, "whereabouts");
	cni_conf_free(&c);

	/* an unusable prevResult does not fail the parse: the verb decides */
	CHECK(conf("{\"cniVersion\":\"1.0.0\",\"prevResult\":{\"ips\":[{\"address\":\"10.0.0.2\"}]}"
		   "}",
		   &c, &err) == 0 &&
	      !c.has_prev_result && c.prev_result_err.code == CNI_ERR_DECODE &&
	      strstr(c.prev_result_err.msg, "prevResult: ") &&
	      strstr(c.prev_result_err.msg, "ips[0].address"));
	cni_conf_free(&c);
	CHECK(conf("{\"cniVersion\":\"1.0.0\",\"prevResult\":\"x\"}", &c, &err) == 0 &&
	      !c.has_prev_result && c.prev_result_err.code == CNI_ERR_CONFIG);
	cni_conf_free(&c);
}

static void test_delegate_find(void)
{
	struct cni_error err = { 0 };
	char *path = NULL;

	CHECK(cni_delegate_find("/usr/bin:/bin", "../bin/sh", &path, &err) < 0 &&
	      err.code == CNI_ERR_CONFIG);
	CHECK(cni_delegate_find("/usr/bin:/bin", "..", &path, &err) < 0);
	CHECK(cni_delegate_find("/nonexistent:/bin", "sh", &path, &err) == 0 &&
	      strcmp(path, "/bin/sh") == 0);
	free(path);
	/* a directory of that name is not a plugin */
	CHECK(cni_delegate_find("/", "tmp", &path, &err) < 0);
	CHECK(cni_delegate_find("/bin", "no-such-plugin-x", &path, &err) < 0 &&
	      strstr(err.msg, "no-such-plugin-x"));
}

int main(void)
{
	test_current_round_trip();
	test_legacy_parse();
	test_bad_results();
	test_conf();
	test_go_compat();
	test_delegate_find();
	return check_summary();
}
