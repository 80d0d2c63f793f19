#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"
#include "plugin_loader.h"

/* The 1.0 descriptor ends after `destroy`: anything shorter is refused. */
#define PLUGIN_MIN_SIZE                                                        \
	(offsetof(struct hookd_plugin, destroy) +                              \
	 sizeof(((struct hookd_plugin *)0)->destroy))

char *hkd_plugin_path(const char *plugin_dir, const char *plugin)
{
	char *path = NULL;
	if (strchr(plugin, '/'))
		return strdup(plugin);
	if (asprintf(&path, "%s/%s.so", plugin_dir, plugin) < 0)
		return NULL;
	return path;
}

struct hkd_plugin_lib *hkd_plugin_open(const char *path, char *err,
                                       size_t errlen)
{
	struct hkd_plugin_lib *lib = NULL;
	hookd_plugin_entry_fn entry;
	const struct hookd_plugin *d;
	void *dl = NULL;
	size_t n;

	if (access(path, R_OK) != 0) {
		snprintf(err, errlen, "%s: cannot read plugin: %s", path,
		         strerror(errno));
		goto fail;
	}
	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		snprintf(err, errlen, "%s: cannot load plugin: %s", path,
		         dlerror());
		goto fail;
	}
	*(void **)(&entry) = dlsym(dl, HOOKD_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		snprintf(err, errlen, "%s: not a hookd plugin: no %s symbol",
		         path, HOOKD_PLUGIN_ENTRY_SYMBOL);
		goto fail;
	}
	d = entry(hkd_host());
	if (!d) {
		snprintf(err, errlen,
		         "%s: the plugin refused this host (hookd ABI %d.%d)",
		         path, HOOKD_ABI_MAJOR, HOOKD_ABI_MINOR);
		goto fail;
	}
	if (d->struct_size < PLUGIN_MIN_SIZE) {
		snprintf(err, errlen,
		         "%s: plugin descriptor is %zu bytes, shorter than the "
		         "ABI 1.0 descriptor (%zu)",
		         path, d->struct_size, (size_t)PLUGIN_MIN_SIZE);
		goto fail;
	}
	if (d->abi_major != HOOKD_ABI_MAJOR) {
		snprintf(err, errlen,
		         "%s: plugin built for ABI %u.%u, this hookd speaks "
		         "%d.%d (major differs)",
		         path, d->abi_major, d->abi_minor, HOOKD_ABI_MAJOR,
		         HOOKD_ABI_MINOR);
		goto fail;
	}
	if (d->abi_minor > HOOKD_ABI_MINOR) {
		snprintf(err, errlen,
		         "%s: plugin built for ABI %u.%u, newer than this "
		         "hookd's %d.%d",
		         path, d->abi_major, d->abi_minor, HOOKD_ABI_MAJOR,
		         HOOKD_ABI_MINOR);
		goto fail;
	}
	lib = calloc(1, sizeof(*lib));
	if (!lib) {
		snprintf(err, errlen, "%s: out of memory", path);
		goto fail;
	}
	n = d->struct_size < sizeof(lib->desc) ? d->struct_size
	                                       : sizeof(lib->desc);
	memcpy(&lib->desc, d, n);
	if (!lib->desc.name || !lib->desc.name[0] || !lib->desc.create ||
	    !lib->desc.dispatch) {
		snprintf(err, errlen,
		         "%s: plugin descriptor lacks a name, create() or "
		         "dispatch()",
		         path);
		goto fail;
	}
	lib->dl = dl;
	lib->path = strdup(path);
	return lib;
fail:
	free(lib);
	if (dl)
		dlclose(dl);
	return NULL;
}

void hkd_plugin_close(struct hkd_plugin_lib *lib)
{
	if (!lib)
		return;
	/* Under AddressSanitizer, keep the code mapped so leak reports
	 * inside plugins still resolve symbols. */
	if (!getenv("HOOKD_NO_DLCLOSE"))
		dlclose(lib->dl);
	free(lib->path);
	free(lib);
}
