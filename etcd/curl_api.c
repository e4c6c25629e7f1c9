// SPDX-License-Identifier: Apache-2.0
#include <dlfcn.h>
#include <stddef.h>
#include <stdio.h>

#include "etcd/curl_api.h"

static struct curl_api api;
static void *handle;
static char error[256];

const struct curl_api *curl_api(void)
{
	static const struct {
		const char *name;
		size_t offset;
	} symbols[] = {
		{ "curl_global_init", offsetof(struct curl_api, global_init) },
		{ "curl_easy_init", offsetof(struct curl_api, easy_init) },
		{ "curl_easy_setopt", offsetof(struct curl_api, easy_setopt) },
		{ "curl_easy_perform", offsetof(struct curl_api, easy_perform) },
		{ "curl_easy_getinfo", offsetof(struct curl_api, easy_getinfo) },
		{ "curl_easy_reset", offsetof(struct curl_api, easy_reset) },
		{ "curl_easy_cleanup", offsetof(struct curl_api, easy_cleanup) },
		{ "curl_easy_strerror", offsetof(struct curl_api, easy_strerror) },
		{ "curl_slist_append", offsetof(struct curl_api, slist_append) },
		{ "curl_slist_free_all", offsetof(struct curl_api, slist_free_all) },
	};

	if (handle)
		return &api;
	handle = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		snprintf(error, sizeof(error), "cannot load libcurl (install libcurl4): %s",
			 dlerror());
		return NULL;
	}
	for (size_t i = 0; i < sizeof(symbols) / sizeof(symbols[0]); i++) {
		void *f = dlsym(handle, symbols[i].name);

		if (!f) {
			snprintf(error, sizeof(error), "libcurl lacks %s", symbols[i].name);
			dlclose(handle);
			handle = NULL;
			return NULL;
		}
		*(void **)((char *)&api + symbols[i].offset) = f;
	}
	return &api;
}

const char *curl_api_error(void)
{
	return error;
}
