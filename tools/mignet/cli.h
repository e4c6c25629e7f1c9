/* SPDX-License-Identifier: Apache-2.0 */
/* What mignet.c's commands share: usage, JSON lines, the token (mignet.c). */
#ifndef MIGNET_TOOLS_CLI_H
#define MIGNET_TOOLS_CLI_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#define DEFAULT_LOCK_DIR "/run/mignet"

struct ui {
	bool json;
	bool bar;
	double last_json;
};

/** mignet_usage() - the commands' synopsis on @f. */
void mignet_usage(FILE *f);

/** mignet_print_json() - @o (consumed) as one line on stdout, flushed. */
void mignet_print_json(struct json_object *o);

/** mignet_usage_error() - "mignet: MESSAGE" on stderr. Return: the usage exit status (2). */
int mignet_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/**
 * mignet_pick_token() - --token, --token-file (read into @buf), then MIGNET_TOKEN
 * Return: 0 with *@ret set (NULL: none), or an exit status.
 */
int mignet_pick_token(const char *token, const char *file, char *buf, size_t size,
		      const char **ret);

/* the synthetic migration (cmd_memory.c) */
int mignet_receive_main(int argc, char **argv);
int mignet_send_main(int argc, char **argv);

#endif
