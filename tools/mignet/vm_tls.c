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
	return tls_cli_settle(&o->tls, o->config, cmd);
}

int vm_tls_load(const struct vm_opts *o, enum mig_tls_role role, struct mig_tls_ctx **ret,
		struct mig_error *err)
{
	return tls_cli_load(&o->tls, role, ret, err);
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
	tls_cli_report_json(r->tls, r->tls_have_info ? &r->tls_info : NULL, o);
}

int vm_forwarder_setup(const struct vm_opts *o, enum mig_tls_role role, struct mig_tls_ctx **tls,
		       struct mig_tls_streams *conns, struct mig_pump_ops *pump,
		       struct mig_forwarder *fw, struct vm_report *rep, struct mig_error *err)
{
	int r = vm_tls_load(o, role, tls, err);

	rep->tls = !o->tls.off;
	if (*tls) {
		mig_pump_tls_init(pump, conns);
		mig_forwarder_init(fw, pump);
		rep->transport = "tls";
	} else {
		mig_forwarder_init(fw, &mig_pump_splice);
	}
	return r;
}
