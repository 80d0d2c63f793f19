/*
 * Loading handler plugins: dlopen, the entry symbol, and the ABI checks
 * described in include/hookd/plugin.h. Main thread only.
 */
#ifndef HKD_PLUGIN_LOADER_H
#define HKD_PLUGIN_LOADER_H

#include <stddef.h>
#include "hookd/plugin.h"

struct hkd_plugin_lib {
	void *dl;
	char *path;
	struct hookd_plugin desc; /* the plugin's descriptor, zero-extended */
	int refs;                 /* runtimes using it (main thread only) */
};

/*
 * Where `plugin` (a name such as "exec", or a path containing '/') lives:
 * plugin_dir/NAME.so, or the path itself. Caller frees.
 */
char *hkd_plugin_path(const char *plugin_dir, const char *plugin);

/*
 * Load the plugin at path and check its descriptor. Returns the library
 * (caller releases with hkd_plugin_close) or NULL with "PATH: reason" in err.
 */
struct hkd_plugin_lib *hkd_plugin_open(const char *path, char *err,
                                       size_t errlen);
void hkd_plugin_close(struct hkd_plugin_lib *lib);

#endif
