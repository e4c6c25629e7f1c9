/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Table-driven option parsing for mignet's commands: one row per option names its kind,
 * where its value goes, its bounds and its help line; the table gives getopt_long its
 * options, the --help text and the usage errors ("--streams 99: 0..64").
 */
#ifndef MIGNET_TOOLS_OPTS_H
#define MIGNET_TOOLS_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

enum opt_kind {
	OPT_STR,  /* const char * */
	OPT_UINT, /* unsigned int in [min, max] */
	OPT_RATE, /* uint64_t bytes/s; a bare number is MiB/s */
	OPT_FLAG, /* bool, no argument */
	OPT_PORT, /* uint16_t */
};

struct opt {
	const char *name;
	enum opt_kind kind;
	size_t offset; /* of the value in the options struct */
	ptrdiff_t set; /* of a bool "given on the command line", or -1 */
	unsigned long min, max;
	const char *arg; /* the argument's name in --help */
	const char *help;
};

#define OPT_NOSET (-1)

/**
 * opts_parse() - parse @argv (argv[0] is the command) into @dst by @table (ends with a
 * NULL name); --help prints @usage and the table.
 * Return: 0 parsed; 1 help printed; 2 usage error (printed).
 */
int opts_parse(const struct opt *table, const char *cmd, const char *usage, int argc, char **argv,
	       void *dst);

/** opts_help() - @usage, then one line per option of @table. */
void opts_help(FILE *f, const struct opt *table, const char *usage);

#endif
