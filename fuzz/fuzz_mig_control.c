// SPDX-License-Identifier: Apache-2.0
/*
 * libFuzzer harness: a CONTROL payload of a QEMU migration (mig_control.h), the bytes a
 * source that proved the token sends before the target applies anything to its QEMU.
 * A payload must parse to one object with a type or to nothing (mig_control_parse()); a
 * setup that passes mig_control_check_setup() holds only allowlisted names of their type.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "migration/mig_control.h"
#include "migration/mig_qmp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mig_error err = { 0 };
	struct json_object *o, *caps;

	if (size > (64u << 10))
		return 0;
	o = mig_control_parse((const char *)data, size);
	if (!o)
		return 0;
	if (!mig_json_get(o, "type", json_type_string))
		abort();
	if (mig_control_check_setup(o, &err) == 0) {
		caps = mig_json_get(o, "capabilities", json_type_object);
		json_object_object_foreach(caps, k, v)
		{
			if (!json_object_is_type(v, json_type_boolean) || !*k)
				abort();
		}
	} else if (!err.msg[0]) {
		abort();
	}
	json_object_put(o);
	return 0;
}
