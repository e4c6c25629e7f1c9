// SPDX-License-Identifier: Apache-2.0
/*
 * mignet: the command-line tool of the migration data path; this file dispatches.
 *
 *   mignet incoming / migrate   a QEMU's live migration (vm_incoming.c, vm_migrate.c)
 *   mignet receive / send       the synthetic migration (cmd_memory.c)
 *   mignet doctor, ipam, tls-init, version, help
 *
 * The front ends are the only code that prints. Exit status: 0 success, 1 failure, 2 usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mig.h"
#include "mig_config.h"
#include "mig_limit.h"
#include "mig_cluster_limit.h" /* parallelMigrationsPerCluster on etcd */
#include "mig_parse.h"
#include "mig_report.h"
#include "ipam_admin.h"
#include "mig_doctor.h"
#include "mig_privilege.h"
#include "mig_tls.h"
#include "cli.h"
#include "slots.h"
#include "vm.h"

void mignet_usage(FILE *f)
{
	fputs("usage:\n"
	      "  mignet receive [--interface IF] [--port P] [--token T | --token-file F]\n"
	      "                 [--from CIDR] [--timeout S] [--progress-timeout S]\n"
	      "                 [--max-memory SIZE] [--config FILE] [TLS options] [--json]\n"
	      "  mignet send --target ADDR[:PORT] [--interface IF] [--guest-memory SIZE]\n"
	      "              [--dirty-rate RATE] [--streams N] [--zerocopy auto|always|never]\n"
	      "              [--bandwidth MiB/s] [--downtime-ms MS] [--completion-timeout-per-gib "
	      "S]\n"
	      "              [--progress-timeout S] [--token T | --token-file F] [--config FILE]\n"
	      "              [--parallel-outbound N] [--lock-dir DIR] [--max-rounds N]\n"
	      "              [--etcd ENDPOINTS --parallel-migrations-per-cluster N]\n"
	      "              [--cluster-wait S] [--cluster-lease-ttl S]\n"
	      "              [--seed N] [--batch-size SIZE] [TLS options] [--json]\n"
	      "  mignet incoming --qmp SOCKET [--interface IF] [--port P] [--socket-dir DIR]\n"
	      "                  [--token-file F] [--from CIDR] [--timeout S] [--json]\n"
	      "  mignet migrate --qmp SOCKET --target ADDR[:PORT] [--interface IF]\n"
	      "                 [--socket-dir DIR] [--config FILE] [--streams N] [--bandwidth "
	      "RATE]\n"
	      "                 [--progress-timeout S] [--completion-timeout-per-gib S]\n"
	      "                 [--allow-auto-converge] [--allow-post-copy] [--token-file F] "
	      "[--json]\n"
	      "                 (mignet migrate --help, mignet incoming --help)\n"
	      "  mignet ipam list|show|release|gc ... (mignet ipam help)\n"
	      "  mignet doctor [--interface IF] [--peer ADDR] ... (mignet doctor --help)\n"
	      "  mignet tls-init DIR [--days N] [--server-name CN] [--client-name CN] [--new-ca]\n"
	      "  mignet version | --version | -V;  mignet help | --help | -h\n"
	      "The token may also come from the environment variable MIGNET_TOKEN.\n"
	      "TLS options of receive and send (as migrate's and incoming's): TLS is on unless\n"
	      "--no-tls or disableTLS: true in --config; receive is the TLS server (its\n"
	      "certificate named kubevirt.io:system:node:virt-handler), send the client\n"
	      "(kubevirt.io:system:client:virt-handler).\n" TLS_CLI_HELP,
	      f);
}

void mignet_print_json(struct json_object *o)
{
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	fflush(stdout);
	json_object_put(o);
}

static int read_token_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	buf[strcspn(buf, "\r\n")] = '\0';
	return 0;
}

int mignet_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "mignet: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

/* --token, --token-file, then MIGNET_TOKEN. Return: 0, or an exit status. */
int mignet_pick_token(const char *token, const char *file, char *buf, size_t size, const char **ret)
{
	const char *env = getenv("MIGNET_TOKEN");

	*ret = NULL;
	if (file) {
		int r = read_token_file(file, buf, size);

		if (r < 0) {
			fprintf(stderr, "mignet: --token-file %s: %s\n", file, strerror(-r));
			return EXIT_USAGE;
		}
		token = buf;
	}
	if (!token && env && *env)
		token = env;
	if (token && strlen(token) > MIG_MAX_TOKEN)
		return mignet_usage_error("the token is longer than 64 bytes");
	if (token && *token)
		*ret = token;
	return 0;
}

/* ---- tls-init: a lab's CA and the two virt-handler certificates ---- */

static int cmd_tls_init(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "days", required_argument, NULL, 'd' },
		{ "server-name", required_argument, NULL, 's' },
		{ "client-name", required_argument, NULL, 'c' },
		{ "new-ca", no_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *server_cn = MIG_TLS_SERVER_NAME, *client_cn = MIG_TLS_CLIENT_NAME;
	struct mig_error err = { 0 };
	unsigned long days = 365;
	bool new_ca = false;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			if (mig_parse_uint(optarg, 1, 36500, &days) < 0)
				return mignet_usage_error("--days %s: 1..36500", optarg);
			break;
		case 's':
			server_cn = optarg;
			break;
		case 'c':
			client_cn = optarg;
			break;
		case 'n':
			new_ca = true;
			break;
		case 'h':
			mignet_usage(stdout);
			return 0;
		default:
			mignet_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind + 1 != argc)
		return mignet_usage_error("tls-init needs one directory");
	if (!*server_cn || !*client_cn || strlen(server_cn) > 64 || strlen(client_cn) > 64)
		return mignet_usage_error(
			"--server-name/--client-name: 1..64 characters (an X.509 CN)");
	mig_privilege_none("mignet tls-init");
	umask(022);
	if (mig_tls_init_dir(argv[optind], server_cn, client_cn, (unsigned int)days, new_ca, &err) <
	    0) {
		fprintf(stderr, "mignet tls-init: %s\n", err.msg);
		return EXIT_FAILED;
	}
	printf("%s/ca.crt, ca.key: the CA\n"
	       "%s/server/{tls.crt,tls.key,ca.crt}: CN %s, serverAuth, %lu days "
	       "(the target: mignet incoming --tls-dir)\n"
	       "%s/client/{tls.crt,tls.key,ca.crt}: CN %s, clientAuth, %lu days "
	       "(the source: mignet migrate --tls-dir)\n",
	       argv[optind], argv[optind], server_cn, days, argv[optind], client_cn, days);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		mignet_usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "receive"))
		return mignet_receive_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "send"))
		return mignet_send_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "incoming"))
		return vm_incoming_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "migrate"))
		return vm_migrate_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "ipam")) {
		mig_privilege_none("mignet ipam");
		return ipam_admin_main(argc - 1, argv + 1, stdout, stderr);
	}
	if (!strcmp(argv[1], "doctor"))
		return mig_doctor_main(argc - 1, argv + 1);
	if (!strcmp(argv[1], "tls-init"))
		return cmd_tls_init(argc - 1, argv + 1);
	if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version") ||
	    !strcmp(argv[1], "-V")) {
		printf("mignet %s\n", MIGNET_VERSION);
		return 0;
	}
	if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		mignet_usage(stdout);
		return 0;
	}
	fprintf(stderr, "mignet: unknown command %s\n", argv[1]);
	mignet_usage(stderr);
	return EXIT_USAGE;
}
