/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The TLS options every migration command shares (migrate/incoming through opts.h's table,
 * send/receive through getopt_long): on unless --no-tls or disableTLS: true in --config;
 * the material as KubeVirt mounts it (--tls-dir, or --tls-cert/--tls-key/--tls-ca), the
 * peer's expected name, the lowest version; read again for every run. tls_cli.c.
 */
#ifndef MIGNET_TOOLS_TLS_CLI_H
#define MIGNET_TOOLS_TLS_CLI_H

#include <json-c/json.h>
#include <stdbool.h>

#include "mig_tls.h"

struct tls_cli {
	const char *dir, *cert, *key, *ca, *peer_name, *min_version;
	bool off;     /* --no-tls, or disableTLS: true */
	bool set_off; /* --no-tls given on the command line */
};

/* getopt_long codes of the TLS options (for commands not on opts.h), and their rows. */
enum {
	TLS_CLI_DIR = 0x7100,
	TLS_CLI_CERT,
	TLS_CLI_KEY,
	TLS_CLI_CA,
	TLS_CLI_PEER,
	TLS_CLI_MIN,
	TLS_CLI_OFF,
};

#define TLS_CLI_GETOPT                                                       \
	{ "tls-dir", required_argument, NULL, TLS_CLI_DIR },                 \
		{ "tls-cert", required_argument, NULL, TLS_CLI_CERT },       \
		{ "tls-key", required_argument, NULL, TLS_CLI_KEY },         \
		{ "tls-ca", required_argument, NULL, TLS_CLI_CA },           \
		{ "tls-peer-name", required_argument, NULL, TLS_CLI_PEER },  \
		{ "tls-min-version", required_argument, NULL, TLS_CLI_MIN }, \
	{                                                                    \
		"no-tls", no_argument, NULL, TLS_CLI_OFF                     \
	}

/* The help lines of the TLS options, as migrate/incoming print them. */
#define TLS_CLI_HELP                                                                     \
	"  --tls-dir DIR            tls.crt, tls.key, ca.crt as KubeVirt mounts them\n"  \
	"  --tls-cert FILE          instead of DIR/tls.crt\n"                            \
	"  --tls-key FILE           instead of DIR/tls.key\n"                            \
	"  --tls-ca FILE            instead of DIR/ca.crt\n"                             \
	"  --tls-peer-name CN       the peer's subject CN (KubeVirt's; \"\": any)\n"     \
	"  --tls-min-version 1.3|1.2  1.3 (TLS 1.2 only when set here)\n"                \
	"  --no-tls                 plaintext (KubeVirt's disableTLS); the token stays " \
	"required\n"

/**
 * tls_cli_getopt() - one getopt_long result @c (with @arg) into @t
 * Return: true when @c was a TLS option.
 */
bool tls_cli_getopt(struct tls_cli *t, int c, const char *arg);

/**
 * tls_cli_settle() - TLS on or off (--no-tls wins over @config's disableTLS), and its
 * material given when on.
 * Return: 0, or EXIT_USAGE (the message printed, prefixed "mignet @cmd: ").
 */
int tls_cli_settle(struct tls_cli *t, const char *config, const char *cmd);

/**
 * tls_cli_load() - the context of this run for @role, read from the files now (a rotated
 * certificate is used without a restart); *@ret NULL with TLS off.
 * Return: 0 or -errno with @err (the file named).
 */
int tls_cli_load(const struct tls_cli *t, enum mig_tls_role role, struct mig_tls_ctx **ret,
		 struct mig_error *err);

/**
 * tls_cli_report_json() - "tls": false when off, else an object with what the first
 * connection negotiated (@info; NULL: no connection got that far: {}).
 */
void tls_cli_report_json(bool on, const struct mig_tls_info *info, struct json_object *o);

/** tls_cli_report_text() - the report's TLS line on stdout. */
void tls_cli_report_text(bool on, const struct mig_tls_info *info, const char *what);

#endif
