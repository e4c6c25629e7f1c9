/* SPDX-License-Identifier: Apache-2.0 */
/* UTF-8 checks: what we print must be valid JSON, so every byte we echo must be valid UTF-8. */
#ifndef MIGNET_CNI_TEXT_H
#define MIGNET_CNI_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/** cni_utf8_valid() - Return: true if @s[0..@len) is well-formed UTF-8 (no overlongs, no
 * surrogates). */
bool cni_utf8_valid(const char *s, size_t len);

/** cni_utf8_sanitize() - replace every byte of @s that is not part of valid UTF-8 by '?'. */
void cni_utf8_sanitize(char *s);

#endif
