/*
 * What the parts of the configuration loader share (config.c,
 * config_sources.c): the state of one load, its error macro, and the
 * readers of typed members, each of which reports a wrong type or range
 * with file:line and leaves *out unchanged when the member is absent.
 */
#ifndef HKD_CONFIG_LOAD_H
#define HKD_CONFIG_LOAD_H

#include <stddef.h>

#include <libconfig.h>

#include "config.h"

/* State of one load: the file name for messages and the diagnostics. */
struct loader {
	const char *file;
	struct hkd_diag *d;
};

#define ERR(ld, s, ...) hkd_diag_add((ld)->d, (ld)->file, (s), __VA_ARGS__)

/* Report every member of group g whose name is not in allowed. */
void hkd_cfg_check_keys(struct loader *ld, const config_setting_t *g,
                        const char *what, const char *const *allowed);
/* Integer member key of g in [min,max]. 0, or -1 on error. */
int hkd_cfg_get_int(struct loader *ld, const config_setting_t *g,
                    const char *key, long long min, long long max,
                    long long *out);
/* String member key of g, copied into *out (freeing the old value). */
int hkd_cfg_get_str(struct loader *ld, const config_setting_t *g,
                    const char *key, char **out);
/* A list of strings (or one string) at key into a malloc'd vector. */
int hkd_cfg_get_strings(struct loader *ld, const config_setting_t *g,
                        const char *key, char ***out, size_t *n_out);
void hkd_cfg_free_strings(char **v, size_t n);
/* Boolean member key of g into *out. 0, or -1 on error. */
int hkd_cfg_get_bool(struct loader *ld, const config_setting_t *g,
                     const char *key, int *out);

/* The keys of a source group (the sections table names them). */
extern const char *const hkd_cfg_source_keys[];
/* sources = { ... } into c->sources; free them with hkd_cfg_free_sources. */
void hkd_cfg_load_sources(struct loader *ld, const config_setting_t *g,
                          struct hkd_config *c);
void hkd_cfg_free_sources(struct hkd_config *c);

#endif
