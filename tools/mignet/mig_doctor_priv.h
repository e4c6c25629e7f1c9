/* SPDX-License-Identifier: Apache-2.0 */
/* What the doctor's checks (mig_doctor.c) and its probes (mig_doctor_probe.c) share. */
#ifndef MIGNET_TOOLS_MIG_DOCTOR_PRIV_H
#define MIGNET_TOOLS_MIG_DOCTOR_PRIV_H

#include "mig.h"
#include "mig_doctor.h"

/** mig_check_set() - set @c's status and its printf-formatted detail */
void mig_check_set(struct mig_check *c, enum mig_check_status s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/**
 * mig_doctor_check_peer() - does @peer answer on the migration interface? (ICMP echo, or a
 * TCP connect to the sink's port when no ICMP socket can be had); @src: the source address
 * to use, or NULL
 */
void mig_doctor_check_peer(const struct mig_doctor_opts *o, const struct mig_addr *peer,
			   const struct mig_addr *src, struct mig_check *c);

/** mig_doctor_check_throughput() - how fast a TCP stream to the sink at @peer goes */
void mig_doctor_check_throughput(const struct mig_doctor_opts *o, const struct mig_addr *peer,
				 const struct mig_addr *src, struct mig_doctor_report *rep);

#endif
