// SPDX-License-Identifier: Apache-2.0
/*
 * `mignet doctor`: options, the expectations from a CNI config file, and the output (a
 * pass/fail table, or one JSON object with --json). The checks are in mig_doctor.c.
 *
 * The config file may be a CNI config, a conflist (its first "macvlan" plugin), a
 * NetworkAttachmentDefinition as JSON (spec.config, a string), or a NetworkAttachmentDefinition
 * as YAML whose spec.config is a block scalar (`config: |`) or a one-line quoted or flow
 * scalar: that is the one place YAML is read, by lines, without a YAML library; anything
 * fancier (anchors, other quoting) is refused with a message saying to pass the JSON.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam/config.h"
#include "mig_doctor.h"
#include "mig_privilege.h"
#include "mig_parse.h"

#define EXIT_FAILED 1
#define EXIT_USAGE 2
#define CONFIG_MAX (1u << 20)

static void doctor_usage(FILE *f)
{
	fputs("usage:\n"
	      "  mignet doctor [--interface IF] [--peer ADDR[:PORT]] [--master IF]\n"
	      "                [--master-netns PATH] [--range CIDR]... [--mtu N] [--mode MODE]\n"
	      "                [--config FILE] [--no-probe] [--probe-seconds S]\n"
	      "                [--probe-bytes SIZE] [--min-gbps G] [--json]\n"
	      "                [--tls-dir DIR | --tls-cert F --tls-key F --tls-ca F]\n"
	      "                [--tls-role server|client] [--tls-name CN] [--tls-only]\n"
	      "  mignet doctor --serve [--interface IF] [--port P] [--count N] [--json]\n"
	      "Checks interface, up, macvlan, master, address, mtu, route, peer and throughput;\n"
	      "expectations from the flags, else from FILE (a CNI config or conflist with a\n"
	      "macvlan plugin, or a NetworkAttachmentDefinition in JSON or YAML).\n"
	      "The throughput probe streams to `mignet doctor --serve` on the peer (port 49153).\n"
	      "With TLS material: tls-files, tls-key (matches the certificate), tls-chain "
	      "(verifies\n"
	      "against ca.crt), tls-dates, tls-name (CN and usage of the role, by default the "
	      "role\n"
	      "whose KubeVirt name the CN carries) and tls-path (kernel or user-space TLS, why).\n"
	      "Exit status: 0 no check failed, 1 a check failed, 2 usage or config error.\n",
	      f);
}

static int doctor_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int doctor_error(const char *fmt, ...)
{
	va_list ap;

	fputs("mignet doctor: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* ---- the config file ---- */

static char *read_file(const char *path, int *ret_err)
{
	FILE *f = fopen(path, "re");
	char *buf;
	size_t n;

	if (!f) {
		*ret_err = errno;
		return NULL;
	}
	buf = malloc(CONFIG_MAX + 1);
	if (!buf) {
		fclose(f);
		*ret_err = ENOMEM;
		return NULL;
	}
	n = fread(buf, 1, CONFIG_MAX + 1, f);
	fclose(f);
	if (n > CONFIG_MAX) {
		free(buf);
		*ret_err = EFBIG;
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

static size_t indent_of(const char *line)
{
	return strspn(line, " ");
}

/*
 * The text of spec.config from a NetworkAttachmentDefinition in YAML: the value of the first
 * "config:" key that is more indented than a "spec:" key. Return: a malloc'd string or NULL.
 */
static char *yaml_spec_config(const char *text)
{
	const char *line = text, *next;
	size_t spec_indent = 0, key_indent, n;
	bool in_spec = false;
	char *out = NULL;

	for (; *line; line = next) {
		const char *v;

		next = strchr(line, '\n');
		next = next ? next + 1 : line + strlen(line);
		key_indent = indent_of(line);
		v = line + key_indent;
		if (*v == '#' || *v == '\n' || *v == '\r')
			continue;
		if (in_spec && key_indent <= spec_indent)
			in_spec = false;
		if (!strncmp(v, "spec:", 5)) {
			in_spec = true;
			spec_indent = key_indent;
			continue;
		}
		if (!in_spec || strncmp(v, "config:", 7) != 0)
			continue;
		v += 7 + strspn(v + 7, " \t");
		n = strcspn(v, "\r\n");
		if (*v == '|' || *v == '>') { /* a block scalar: the lines indented under the key */
			size_t len = 0;

			out = malloc(strlen(next) + 1);
			if (!out)
				return NULL;
			for (line = next; *line; line = next) {
				next = strchr(line, '\n');
				next = next ? next + 1 : line + strlen(line);
				if (line[indent_of(line)] != '\n' && indent_of(line) <= key_indent)
					break;
				memcpy(out + len, line, (size_t)(next - line));
				len += (size_t)(next - line);
			}
			out[len] = '\0';
			return out;
		}
		if (*v == '\'' && n >= 2 && v[n - 1] == '\'') { /* one line, '' is a quote */
			size_t i, len = 0;

			out = malloc(n);
			if (!out)
				return NULL;
			for (i = 1; i < n - 1; i++) {
				out[len++] = v[i];
				if (v[i] == '\'' && v[i + 1] == '\'')
					i++;
			}
			out[len] = '\0';
			return out;
		}
		if (*v == '"') { /* one line: a YAML double-quoted scalar is a JSON string here */
			char *s = strndup(v, n);
			struct json_object *o = s ? json_tokener_parse(s) : NULL;

			free(s);
			if (o && json_object_is_type(o, json_type_string))
				out = strdup(json_object_get_string(o));
			json_object_put(o);
			return out;
		}
		if (*v == '{')
			return strndup(v, n);
		return NULL;
	}
	return NULL;
}

/* The macvlan plugin's object in @root (a conf, a conflist or a NAD). Return: borrowed, or NULL. */
static struct json_object *macvlan_conf(struct json_object *root, struct json_object **ret_owned,
					char *msg, size_t size)
{
	struct json_object *spec, *cfg, *plugins, *type;

	*ret_owned = NULL;
	if (json_object_object_get_ex(root, "spec", &spec) &&
	    json_object_object_get_ex(spec, "config", &cfg)) {
		if (!json_object_is_type(cfg, json_type_string)) {
			snprintf(msg, size, "spec.config is not a string");
			return NULL;
		}
		*ret_owned = json_tokener_parse(json_object_get_string(cfg));
		if (!*ret_owned || !json_object_is_type(*ret_owned, json_type_object)) {
			snprintf(msg, size, "spec.config is not a JSON object");
			return NULL;
		}
		root = *ret_owned;
	}
	if (json_object_object_get_ex(root, "plugins", &plugins)) {
		size_t n = json_object_is_type(plugins, json_type_array)
				   ? json_object_array_length(plugins)
				   : 0;

		for (size_t i = 0; i < n; i++) {
			struct json_object *p = json_object_array_get_idx(plugins, i);

			if (json_object_object_get_ex(p, "type", &type) &&
			    json_object_is_type(type, json_type_string) &&
			    !strcmp(json_object_get_string(type), "macvlan"))
				return p;
		}
		snprintf(msg, size, "no plugin of type \"macvlan\" in \"plugins\"");
		return NULL;
	}
	if (!json_object_object_get_ex(root, "type", &type) ||
	    !json_object_is_type(type, json_type_string) ||
	    strcmp(json_object_get_string(type), "macvlan") != 0) {
		snprintf(msg, size, "\"type\" is not \"macvlan\"");
		return NULL;
	}
	return root;
}

static const char *get_string(struct json_object *o, const char *key)
{
	struct json_object *v;

	if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
		return NULL;
	return json_object_get_string(v);
}

/* ipam of type whereabouts: its ranges, resolved as the plugin resolves them. */
static int load_ranges(struct json_object *conf, const char *path, struct mig_doctor_expect *e,
		       struct ipam_config *ipam, char *msg, size_t size)
{
	struct json_object *o;
	struct cni_error cerr = { 0 };
	const char *type;

	if (!json_object_object_get_ex(conf, "ipam", &o) ||
	    !json_object_is_type(o, json_type_object)) {
		snprintf(e->range_note, sizeof(e->range_note), "the config has no ipam");
		return 0;
	}
	type = get_string(o, "type");
	if (!type || strcmp(type, "whereabouts") != 0) {
		snprintf(e->range_note, sizeof(e->range_note),
			 "ipam.type is %s, only whereabouts' "
			 "ranges are read",
			 type ? type : "unset");
		return 0;
	}
	if (ipam_config_load(o, ipam_flat_file_paths, ipam, &cerr) < 0) {
		snprintf(msg, size, "%s%s%s", cerr.msg, cerr.details[0] ? ": " : "", cerr.details);
		return -EINVAL;
	}
	for (size_t i = 0; i < ipam->n_ranges && e->n_ranges < MIG_DOCTOR_MAX_RANGES; i++)
		e->ranges[e->n_ranges++] = ipam->ranges[i]; /* ipam keeps owning the excludes */
	e->range_from = path;
	return 0;
}

/* Fill what the flags left unset in @e from @path. Return: 0, or -errno with @msg. */
static int load_config(const char *path, struct mig_doctor_expect *e, struct ipam_config *ipam,
		       char *msg, size_t size)
{
	struct json_object *root = NULL, *owned = NULL, *conf, *v;
	const char *s;
	char *text, *yaml = NULL;
	int r = 0, ferr = 0;

	text = read_file(path, &ferr);
	if (!text) {
		snprintf(msg, size, "%s", strerror(ferr));
		return -ferr;
	}
	root = json_tokener_parse(text);
	if (!root) {
		yaml = yaml_spec_config(text);
		root = yaml ? json_tokener_parse(yaml) : NULL;
		if (!root) {
			snprintf(msg, size,
				 "neither JSON nor a NetworkAttachmentDefinition YAML whose "
				 "spec.config is a block (config: |) holding JSON; pass the JSON "
				 "config instead");
			r = -EINVAL;
			goto out;
		}
	}
	conf = macvlan_conf(root, &owned, msg, size);
	if (!conf) {
		r = -EINVAL;
		goto out;
	}
	if (!e->master[0] && (s = get_string(conf, "master")) != NULL) {
		snprintf(e->master, sizeof(e->master), "%s", s);
		e->master_from = path;
	}
	if (!e->mode[0])
		snprintf(e->mode, sizeof(e->mode), "%s",
			 (s = get_string(conf, "mode")) ? s : "bridge");
	if (!e->mtu) {
		if (json_object_object_get_ex(conf, "mtu", &v) &&
		    json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0 &&
		    json_object_get_int64(v) <= 65535) {
			e->mtu = (uint32_t)json_object_get_int64(v);
			e->mtu_from = path;
		} else {
			e->mtu_is_masters = true;
		}
	}
	if (!e->n_ranges)
		r = load_ranges(conf, path, e, ipam, msg, size);
out:
	json_object_put(owned);
	json_object_put(root);
	free(yaml);
	free(text);
	return r;
}

/* ---- output ---- */

static struct json_object *report_json(const struct mig_doctor_report *rep)
{
	struct json_object *o = json_object_new_object(), *a = json_object_new_array();

	json_object_object_add(o, "interface", json_object_new_string(rep->interface));
	if (rep->peer[0])
		json_object_object_add(o, "peer", json_object_new_string(rep->peer));
	json_object_object_add(o, "ok", json_object_new_boolean(rep->failed == 0));
	json_object_object_add(o, "passed", json_object_new_int((int)rep->passed));
	json_object_object_add(o, "failed", json_object_new_int((int)rep->failed));
	json_object_object_add(o, "skipped", json_object_new_int((int)rep->skipped));
	for (int i = 0; i < MIG_CHECK_COUNT; i++) {
		const struct mig_check *c = &rep->checks[i];
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(c->name));
		json_object_object_add(e, "status",
				       json_object_new_string(mig_check_status_name(c->status)));
		if (c->expected[0])
			json_object_object_add(e, "expected", json_object_new_string(c->expected));
		if (c->actual[0])
			json_object_object_add(e, "actual", json_object_new_string(c->actual));
		json_object_object_add(e, "detail", json_object_new_string(c->detail));
		json_object_array_add(a, e);
	}
	for (int i = 0; rep->tls_checked && i < MIG_TLS_CHECK_COUNT; i++) {
		struct json_object *e = json_object_new_object();

		json_object_object_add(e, "name", json_object_new_string(rep->tls[i].name));
		json_object_object_add(e, "status",
				       json_object_new_string(mig_check_status_name(
					       (enum mig_check_status)rep->tls[i].status)));
		json_object_object_add(e, "detail", json_object_new_string(rep->tls[i].detail));
		json_object_array_add(a, e);
	}
	json_object_object_add(o, "checks", a);
	if (rep->probed) {
		struct json_object *t = json_object_new_object();
		char buf[32];

		json_object_object_add(t, "bytes",
				       json_object_new_int64((int64_t)rep->probe_bytes));
		snprintf(buf, sizeof(buf), "%.6f", rep->probe_seconds);
		json_object_object_add(t, "seconds",
				       json_object_new_double_s(rep->probe_seconds, buf));
		snprintf(buf, sizeof(buf), "%.3f", rep->probe_gbps);
		json_object_object_add(t, "gbps", json_object_new_double_s(rep->probe_gbps, buf));
		json_object_object_add(o, "throughput", t);
	}
	return o;
}

static void report_text(const struct mig_doctor_report *rep, FILE *f)
{
	fprintf(f, "%-11s %-6s %s\n", "CHECK", "RESULT", "DETAIL");
	for (int i = 0; i < MIG_CHECK_COUNT; i++)
		fprintf(f, "%-11s %-6s %s\n", rep->checks[i].name,
			mig_check_status_name(rep->checks[i].status), rep->checks[i].detail);
	for (int i = 0; rep->tls_checked && i < MIG_TLS_CHECK_COUNT; i++)
		fprintf(f, "%-11s %-6s %s\n", rep->tls[i].name,
			mig_check_status_name((enum mig_check_status)rep->tls[i].status),
			rep->tls[i].detail);
	fprintf(f, "%s: %u passed, %u failed, %u skipped\n", rep->failed ? "FAIL" : "OK",
		rep->passed, rep->failed, rep->skipped);
}

static void print_json_line(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

static void on_serve(const char *event, const char *addr, uint16_t port, uint64_t bytes,
		     void *opaque)
{
	bool json = *(bool *)opaque;

	(void)bytes;
	if (json) {
		struct json_object *o = json_object_new_object();

		json_object_object_add(o, "event", json_object_new_string(event));
		json_object_object_add(o, "address", json_object_new_string(addr));
		json_object_object_add(o, "port", json_object_new_int(port));
		print_json_line(o);
	} else if (!strcmp(event, "listening")) {
		fprintf(stderr, "mignet doctor: sink listening on %s port %u\n", addr, port);
	} else {
		fprintf(stderr, "mignet doctor: %s a probe from %s port %u\n", event, addr, port);
	}
}

int mig_doctor_main(int argc, char **argv)
{
	enum {
		O_IF = 256,
		O_PEER,
		O_MASTER,
		O_MNETNS,
		O_RANGE,
		O_MTU,
		O_MODE,
		O_CONFIG,
		O_JSON,
		O_NOPROBE,
		O_PSECS,
		O_PBYTES,
		O_MINGBPS,
		O_SERVE,
		O_PORT,
		O_COUNT,
		O_HELP,
		O_TLSDIR,
		O_TLSCERT,
		O_TLSKEY,
		O_TLSCA,
		O_TLSROLE,
		O_TLSNAME,
		O_TLSONLY
	};
	static const struct option opts[] = {
		{ "interface", required_argument, NULL, O_IF },
		{ "peer", required_argument, NULL, O_PEER },
		{ "master", required_argument, NULL, O_MASTER },
		{ "master-netns", required_argument, NULL, O_MNETNS },
		{ "range", required_argument, NULL, O_RANGE },
		{ "mtu", required_argument, NULL, O_MTU },
		{ "mode", required_argument, NULL, O_MODE },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "json", no_argument, NULL, O_JSON },
		{ "no-probe", no_argument, NULL, O_NOPROBE },
		{ "probe-seconds", required_argument, NULL, O_PSECS },
		{ "probe-bytes", required_argument, NULL, O_PBYTES },
		{ "min-gbps", required_argument, NULL, O_MINGBPS },
		{ "serve", no_argument, NULL, O_SERVE },
		{ "port", required_argument, NULL, O_PORT },
		{ "count", required_argument, NULL, O_COUNT },
		{ "help", no_argument, NULL, O_HELP },
		{ "tls-dir", required_argument, NULL, O_TLSDIR },
		{ "tls-cert", required_argument, NULL, O_TLSCERT },
		{ "tls-key", required_argument, NULL, O_TLSKEY },
		{ "tls-ca", required_argument, NULL, O_TLSCA },
		{ "tls-role", required_argument, NULL, O_TLSROLE },
		{ "tls-name", required_argument, NULL, O_TLSNAME },
		{ "tls-only", no_argument, NULL, O_TLSONLY },
		{ 0 },
	};
	struct mig_tls_opts tls = { .role = MIG_TLS_SERVER };
	bool tls_set = false;
	static struct mig_doctor_expect e; /* large: ranges */
	struct mig_doctor_opts o = { .interface = MIG_DEFAULT_INTERFACE, .expect = &e };
	struct ipam_config ipam = { 0 };
	struct mig_doctor_report rep;
	struct mig_error err = { 0 };
	const char *config = NULL, *peer = NULL;
	unsigned long port = MIG_DOCTOR_PORT, count = 0, v;
	bool json = false, serve = false, port_set = false;
	char peer_buf[80], msg[1600];
	struct mig_addr pa;
	char *end;
	int c, r;

	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case O_IF:
			if (!*optarg || strlen(optarg) >= IF_NAMESIZE)
				return doctor_error("--interface %s: not an interface name",
						    optarg);
			o.interface = optarg;
			break;
		case O_PEER:
			peer = optarg;
			break;
		case O_MASTER:
			if (!*optarg || strlen(optarg) >= IF_NAMESIZE)
				return doctor_error("--master %s: not an interface name", optarg);
			snprintf(e.master, sizeof(e.master), "%s", optarg);
			e.master_from = "--master";
			break;
		case O_MNETNS:
			o.master_netns = optarg;
			break;
		case O_RANGE: {
			struct cni_error cerr = { 0 };

			if (e.n_ranges == MIG_DOCTOR_MAX_RANGES)
				return doctor_error("at most %d --range", MIG_DOCTOR_MAX_RANGES);
			if (ipam_range_parse("--range", optarg, NULL, NULL, NULL, NULL,
					     &e.ranges[e.n_ranges], &cerr) < 0)
				return doctor_error("%s", cerr.msg);
			e.n_ranges++;
			e.range_from = "--range";
			break;
		}
		case O_MTU:
			if (mig_parse_uint(optarg, 68, 65535, &v) < 0)
				return doctor_error("--mtu %s: 68..65535", optarg);
			e.mtu = (uint32_t)v;
			e.mtu_from = "--mtu";
			break;
		case O_MODE:
			if (strlen(optarg) >= sizeof(e.mode))
				return doctor_error("--mode %s: not a macvlan mode", optarg);
			snprintf(e.mode, sizeof(e.mode), "%s", optarg);
			break;
		case O_CONFIG:
			config = optarg;
			break;
		case O_JSON:
			json = true;
			break;
		case O_NOPROBE:
			o.no_probe = true;
			break;
		case O_PSECS:
			o.probe_seconds = strtod(optarg, &end);
			if (*end || !(o.probe_seconds > 0 && o.probe_seconds <= 60))
				return doctor_error("--probe-seconds %s: 0..60", optarg);
			break;
		case O_PBYTES:
			if (mig_parse_size(optarg, &o.probe_bytes) < 0 || !o.probe_bytes ||
			    o.probe_bytes > MIG_DOCTOR_SINK_CAP)
				return doctor_error("--probe-bytes %s: a size up to 1G", optarg);
			break;
		case O_MINGBPS:
			o.min_gbps = strtod(optarg, &end);
			if (*end || !(o.min_gbps >= 0 && o.min_gbps < 1e6))
				return doctor_error("--min-gbps %s: a number of Gbit/s", optarg);
			break;
		case O_SERVE:
			serve = true;
			break;
		case O_PORT:
			if (mig_parse_uint(optarg, 1, 65535, &port) < 0)
				return doctor_error("--port %s: not a port", optarg);
			port_set = true;
			break;
		case O_COUNT:
			if (mig_parse_uint(optarg, 0, 1000000, &count) < 0)
				return doctor_error("--count %s: a number", optarg);
			break;
		case O_TLSDIR:
			tls.dir = optarg;
			tls_set = true;
			break;
		case O_TLSCERT:
			tls.cert = optarg;
			tls_set = true;
			break;
		case O_TLSKEY:
			tls.key = optarg;
			tls_set = true;
			break;
		case O_TLSCA:
			tls.ca = optarg;
			tls_set = true;
			break;
		case O_TLSROLE:
			if (strcmp(optarg, "server") && strcmp(optarg, "client"))
				return doctor_error("--tls-role %s: server or client", optarg);
			tls.role = !strcmp(optarg, "server") ? MIG_TLS_SERVER : MIG_TLS_CLIENT;
			o.tls_role_given = true;
			break;
		case O_TLSNAME:
			o.tls_name = optarg;
			break;
		case O_TLSONLY:
			o.tls_only = true;
			break;
		case O_HELP:
			doctor_usage(stdout);
			return 0;
		default:
			doctor_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc)
		return doctor_error("unexpected argument %s", argv[optind]);
	if (tls_set)
		o.tls = &tls;
	else if (o.tls_only)
		return doctor_error("--tls-only needs --tls-dir DIR (or --tls-cert, --tls-key, "
				    "--tls-ca)");
	/* least privilege: the sink needs what a receiver does; the checks, mig_privilege.h */
	if (serve)
		mig_privilege_receive("mignet doctor --serve", (uint16_t)port);
	else
		mig_privilege_doctor(o.master_netns);

	if (serve) {
		r = mig_doctor_serve(o.interface, (uint16_t)port, (unsigned int)count, on_serve,
				     &json, &err);
		if (r < 0) {
			fprintf(stderr, "mignet doctor --serve: %s\n", err.msg);
			return EXIT_FAILED;
		}
		return 0;
	}
	if (peer) {
		if (mig_parse_target(peer, (uint16_t)port, &pa) < 0)
			return doctor_error(
				"--peer %s: not an address (ADDR, ADDR:PORT, [V6]:PORT)", peer);
		if (port_set) { /* --port wins over a port in --peer */
			char a[64];

			mig_addr_format(&pa, a, sizeof(a));
			snprintf(peer_buf, sizeof(peer_buf),
				 pa.ss.ss_family == AF_INET6 ? "[%s]:%lu" : "%s:%lu", a, port);
			peer = peer_buf;
		}
		o.peer = peer;
	}
	if (config && load_config(config, &e, &ipam, msg, sizeof(msg)) < 0)
		return doctor_error("--config %s: %s", config, msg);
	if (!e.master_from)
		e.master_from = "";

	r = mig_doctor_run(&o, &rep, &err);
	if (r < 0) {
		ipam_config_free(&ipam);
		fprintf(stderr, "mignet doctor: %s\n", err.msg);
		return EXIT_FAILED;
	}
	if (json)
		print_json_line(report_json(&rep));
	else
		report_text(&rep, stdout);
	ipam_config_free(&ipam);
	for (size_t i = 0; i < e.n_ranges; i++) /* --range's own excludes: none allocated */
		if (e.range_from && !strcmp(e.range_from, "--range"))
			ipam_range_free(&e.ranges[i]);
	return rep.failed ? EXIT_FAILED : 0;
}
