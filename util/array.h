/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Growing an array one element at a time, doubling its capacity when it is full. Header-only
 * and free of any other module, like clock.h.
 */
#ifndef MIGNET_UTIL_ARRAY_H
#define MIGNET_UTIL_ARRAY_H

#include <stddef.h>
#include <stdlib.h>

/**
 * util_array_room() - room for element @n of the array @v of *@cap elements of @size bytes
 * @first: the capacity of an array that has none yet
 *
 * Doubles the capacity (updating *@cap) when @n has reached it.
 * Return: the array (moved, perhaps), or NULL when out of memory, @v and *@cap untouched.
 */
static inline void *util_array_room(void *v, size_t *cap, size_t n, size_t size, size_t first)
{
	size_t c;
	void *p;

	if (n < *cap)
		return v;
	c = *cap ? *cap * 2 : first;
	p = realloc(v, c * size);
	if (p)
		*cap = c;
	return p;
}

#endif
