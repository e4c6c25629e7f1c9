// SPDX-License-Identifier: Apache-2.0
/* Table-driven option parsing (opts.h). */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "mig_parse.h"
#include "opts.h"

#define MAX_OPTS 64

void opts_help(FILE *f, const struct opt *table, const char *usage)
{
	const struct opt *o;

	fputs(usage, f);
	fputs("options:\n", f);
	for (o = table; o->name; o++) {
		char left[64];

		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(f, "  %-34s %s\n", left, o->help);
	}
	fprintf(f, "  %-34s %s\n", "--help", "this text");
}

static int opt_error(const char *cmd, const struct opt *o, const char *value, const char *what)
{
	fprintf(stderr, "mignet %s: --%s %s: %s\n", cmd, o->name, value, what);
	return 2;
}

/* Stores @value for option @o into @dst. Return: 0 or 2 (usage error, printed). */
static int store(const char *cmd, const struct opt *o, const char *value, void *dst)
{
	char *p = (char *)dst + o->offset, range[64];
	unsigned long v;
	uint64_t rate;

	switch (o->kind) {
	case OPT_STR:
		*(const char **)p = value;
		break;
	case OPT_FLAG:
		*(bool *)p = true;
		break;
	case OPT_UINT:
		if (mig_parse_uint(value, o->min, o->max, &v) < 0) {
			snprintf(range, sizeof(range), "a number in %lu..%lu", o->min, o->max);
			return opt_error(cmd, o, value, range);
		}
		*(unsigned int *)p = (unsigned int)v;
		break;
	case OPT_PORT:
		if (mig_parse_uint(value, 1, 65535, &v) < 0)
			return opt_error(cmd, o, value, "not a port");
		*(uint16_t *)p = (uint16_t)v;
		break;
	case OPT_RATE:
		if (mig_parse_rate(value, 1u << 20, &rate) < 0)
			return opt_error(cmd, o, value,
					 "not a rate (e.g. 64MiB/s; a number is MiB/s)");
		*(uint64_t *)p = rate;
		break;
	}
	if (o->set != OPT_NOSET)
		*(bool *)((char *)dst + o->set) = true;
	return 0;
}

int opts_parse(const struct opt *table, const char *cmd, const char *usage, int argc, char **argv,
	       void *dst)
{
	static char prog[64];
	struct option lo[MAX_OPTS + 2];
	unsigned int n = 0;
	int c, r;

	for (; table[n].name && n < MAX_OPTS; n++)
		lo[n] = (struct option){ table[n].name,
					 table[n].kind == OPT_FLAG ? no_argument
								   : required_argument,
					 NULL, (int)n + 256 };
	lo[n] = (struct option){ "help", no_argument, NULL, 'h' };
	lo[n + 1] = (struct option){ 0 };
	snprintf(prog, sizeof(prog), "mignet %s", cmd);
	argv[0] = prog; /* getopt's own messages name the command */
	optind = 1;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		if (c == 'h') {
			opts_help(stdout, table, usage);
			return 1;
		}
		if (c < 256 || c >= 256 + (int)n) {
			fprintf(stderr, "see mignet %s --help\n", cmd);
			return 2;
		}
		r = store(cmd, &table[c - 256], optarg, dst);
		if (r)
			return r;
	}
	if (optind != argc) {
		fprintf(stderr, "mignet %s: unexpected argument %s\n", cmd, argv[optind]);
		return 2;
	}
	return 0;
}
