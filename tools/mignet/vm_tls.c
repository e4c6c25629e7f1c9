// SPDX-License-Identifier: Apache-2.0
/*
 * mignet migrate / incoming: TLS on every connection of the migration (mig_tls.h), on
 * unless --no-tls or disableTLS: true. The context is loaded from the files once per
 * command, that is once per migration: a certificate rotated on disk is used by the next
 * migration. Each connection runs the transport's handshake (CHALLENGE, HELLO, WELCOME:
 * the token, the session) and then TLS's, before a byte of QEMU's or of the control
 * connection's flows.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "mig_config.h"
#include "mig_forward_tls.h"
#include "mig_transport.h"
#include "vm.h"

int vm_tls_settle(struct vm_opts *o, const char *cmd)
{
	struct mig_error err = { 0 };
	struct mig_config cfg;
	bool material = o->tls_dir || o->tls_cert || o->tls_key || o->tls_ca;

	if (o->config && !o->set_no_tls) {
		if (mig_config_load(o->config, &cfg, &err) < 0) {
			fprintf(stderr, "mignet %s: %s\n", cmd, err.msg);
			return EXIT_USAGE;
		}
		if (cfg.has_disable_tls)
			o->no_tls = cfg.disable_tls;
	}
	if (o->no_tls) {
		if (material)
			fprintf(stderr,
				"mignet %s: TLS is off (%s): the --tls-* options are "
				"ignored\n",
				cmd, o->set_no_tls ? "--no-tls" : "disableTLS");
		return 0;
	}
	if (o->tls_min_version && strcmp(o->tls_min_version, "1.3") &&
	    strcmp(o->tls_min_version, "1.2")) {
		fprintf(stderr, "mignet %s: --tls-min-version %s: 1.3 or 1.2\n", cmd,
			o->tls_min_version);
		return EXIT_USAGE;
	}
	if (!o->tls_dir && !(o->tls_cert && o->tls_key && o->tls_ca)) {
		fprintf(stderr,
			"mignet %s: TLS is on (KubeVirt's default): give --tls-dir DIR "
			"(tls.crt, tls.key, ca.crt) or --tls-cert, --tls-key and --tls-ca; or turn "
			"it off with --no-tls (disableTLS: true in --config)\n",
			cmd);
		return EXIT_USAGE;
	}
	return 0;
}

int vm_tls_load(const struct vm_opts *o, enum mig_tls_role role, struct mig_tls_ctx **ret,
		struct mig_error *err)
{
	struct mig_tls_opts t = {
		.role = role,
		.dir = o->tls_dir,
		.cert = o->tls_cert,
		.key = o->tls_key,
		.ca = o->tls_ca,
		.peer_name = o->tls_peer_name,
		.allow_tls12 = o->tls_min_version && !strcmp(o->tls_min_version, "1.2"),
		.handshake_timeout_ms = MIG_HANDSHAKE_TIMEOUT * 1000,
	};

	*ret = NULL;
	if (o->no_tls)
		return 0;
	return mig_tls_ctx_load(&t, ret, err);
}

int vm_tls_handshake(struct mig_tls_ctx *ctx, int fd, unsigned int k, struct vm_report *r,
		     struct mig_tls_conn **ret, struct mig_error *err)
{
	struct mig_error e = { 0 };
	int ret_r;

	ret_r = mig_tls_handshake(ctx, fd, ret, NULL, &e);
	if (ret_r < 0)
		return mig_error_set(err, ret_r, "connection %u: %s", k, e.msg);
	if (!r->tls_have_info) {
		mig_tls_conn_info(*ret, &r->tls_info);
		r->tls_have_info = true;
	}
	return 0;
}

void vm_tls_report_json(const struct vm_report *r, struct json_object *o)
{
	const struct mig_tls_info *i = &r->tls_info;
	struct json_object *t;

	if (!r->tls) {
		json_object_object_add(o, "tls", json_object_new_boolean(false));
		return;
	}
	t = json_object_new_object();
	if (r->tls_have_info) {
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

int vm_forwarder_setup(const struct vm_opts *o, enum mig_tls_role role, struct mig_tls_ctx **tls,
		       struct mig_tls_streams *conns, struct mig_pump_ops *pump,
		       struct mig_forwarder *fw, struct vm_report *rep, struct mig_error *err)
{
	int r = vm_tls_load(o, role, tls, err);

	rep->tls = !o->no_tls;
	if (*tls) {
		mig_pump_tls_init(pump, conns);
		mig_forwarder_init(fw, pump);
		rep->transport = "tls";
	} else {
		mig_forwarder_init(fw, &mig_pump_splice);
	}
	return r;
}
