// SPDX-License-Identifier: Apache-2.0
/*
 * The TLS options of every migration command (tls_cli.h): migrate/incoming (vm_tls.c) and
 * send/receive (cmd_memory.c) settle, load and report TLS the same way.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "mig_config.h"
#include "tls_cli.h"

#define EXIT_USAGE 2

bool tls_cli_getopt(struct tls_cli *t, int c, const char *arg)
{
	switch (c) {
	case TLS_CLI_DIR:
		t->dir = arg;
		return true;
	case TLS_CLI_CERT:
		t->cert = arg;
		return true;
	case TLS_CLI_KEY:
		t->key = arg;
		return true;
	case TLS_CLI_CA:
		t->ca = arg;
		return true;
	case TLS_CLI_PEER:
		t->peer_name = arg;
		return true;
	case TLS_CLI_MIN:
		t->min_version = arg;
		return true;
	case TLS_CLI_OFF:
		t->off = t->set_off = true;
		return true;
	}
	return false;
}

int tls_cli_settle(struct tls_cli *t, const char *config, const char *cmd)
{
	struct mig_error err = { 0 };
	struct mig_config cfg;
	bool material = t->dir || t->cert || t->key || t->ca;

	if (config && !t->set_off) {
		if (mig_config_load(config, &cfg, &err) < 0) {
			fprintf(stderr, "mignet %s: %s\n", cmd, err.msg);
			return EXIT_USAGE;
		}
		if (cfg.has_disable_tls)
			t->off = cfg.disable_tls;
	}
	if (t->off) {
		if (material)
			fprintf(stderr,
				"mignet %s: TLS is off (%s): the --tls-* options are "
				"ignored\n",
				cmd, t->set_off ? "--no-tls" : "disableTLS");
		return 0;
	}
	if (t->min_version && strcmp(t->min_version, "1.3") && strcmp(t->min_version, "1.2")) {
		fprintf(stderr, "mignet %s: --tls-min-version %s: 1.3 or 1.2\n", cmd,
			t->min_version);
		return EXIT_USAGE;
	}
	if (!t->dir && !(t->cert && t->key && t->ca)) {
		fprintf(stderr,
			"mignet %s: TLS is on (KubeVirt's default): give --tls-dir DIR "
			"(tls.crt, tls.key, ca.crt) or --tls-cert, --tls-key and --tls-ca; or turn "
			"it off with --no-tls (disableTLS: true in --config)\n",
			cmd);
		return EXIT_USAGE;
	}
	return 0;
}

int tls_cli_load(const struct tls_cli *t, enum mig_tls_role role, struct mig_tls_ctx **ret,
		 struct mig_error *err)
{
	struct mig_tls_opts o = {
		.role = role,
		.dir = t->dir,
		.cert = t->cert,
		.key = t->key,
		.ca = t->ca,
		.peer_name = t->peer_name,
		.allow_tls12 = t->min_version && !strcmp(t->min_version, "1.2"),
		.handshake_timeout_ms = MIG_TLS_HANDSHAKE_TIMEOUT_MS,
	};

	*ret = NULL;
	if (t->off)
		return 0;
	return mig_tls_ctx_load(&o, ret, err);
}

void tls_cli_report_json(bool on, const struct mig_tls_info *i, struct json_object *o)
{
	struct json_object *t;

	if (!on) {
		json_object_object_add(o, "tls", json_object_new_boolean(false));
		return;
	}
	t = json_object_new_object();
	if (i) {
		json_object_object_add(t, "version", json_object_new_string(i->version));
		json_object_object_add(t, "cipher", json_object_new_string(i->cipher));
		json_object_object_add(t, "peerName", json_object_new_string(i->peer_name));
		json_object_object_add(t, "peerSha256", json_object_new_string(i->peer_sha256));
		json_object_object_add(t, "path", json_object_new_string(i->path));
		json_object_object_add(t, "kernelSend", json_object_new_boolean(i->ktls_tx));
		json_object_object_add(t, "kernelReceive", json_object_new_boolean(i->ktls_rx));
	}
	json_object_object_add(o, "tls", t);
}

void tls_cli_report_text(bool on, const struct mig_tls_info *i, const char *what)
{
	if (i)
		printf("  TLS: %s %s, peer %s, record layer: %s\n", i->version, i->cipher,
		       i->peer_name, i->path);
	else if (!on)
		printf("  TLS: off (--no-tls or disableTLS): %s went in clear\n", what);
}
