/*
 * hookd.conf's sources = { ... }: inbound webhook endpoints, how each is
 * verified and where its events' type and id come from.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "config_load.h"
#include "envelope.h"
#include "jsonptr.h"
#include "signature.h"
#include "ssrf.h"
#include "util.h"

/* Each group in sources = { name = { ... }; }. */
const char *const hkd_cfg_source_keys[] = {
    "verify", "secret",    "secrets",  "token",      "tokens",
    "header", "algorithm", "encoding", "prefix",     "tolerance",
    "type",   "type_from", "id_from",  "allow_from", NULL};

/* "header:NAME" or "json:/pointer" into x; -1 after a diagnostic. */
static int parse_extract(struct loader *ld, const config_setting_t *g,
                         const char *key, struct hkd_extract *x)
{
	const config_setting_t *s = config_setting_get_member(g, key);
	const char *v;
	if (!s)
		return 0;
	v = config_setting_get_string(s);
	if (!v) {
		ERR(ld, s, "%s must be a string", key);
		return -1;
	}
	if (strncmp(v, "header:", 7) == 0 && v[7])
		x->header = strdup(v + 7);
	else if (strncmp(v, "json:", 5) == 0 && v[5] == '/' &&
	         hkd_json_pointer_check(v + 5) == 0)
		x->pointer = strdup(v + 5);
	else {
		ERR(ld, s,
		    "%s must be \"header:NAME\" or \"json:/pointer\" (got "
		    "\"%s\")",
		    key, v);
		return -1;
	}
	return 0;
}

static const char *const verify_names[] = {
    [HKD_VERIFY_NONE] = "none",     [HKD_VERIFY_STANDARD] = "standard-webhooks",
    [HKD_VERIFY_GITHUB] = "github", [HKD_VERIFY_STRIPE] = "stripe",
    [HKD_VERIFY_HMAC] = "hmac",     [HKD_VERIFY_TOKEN] = "token",
};

/*
 * Refuse secret v (borrowed, resolved from raw, which is what the file
 * says) of a standard-webhooks source unless the verifier can decode it:
 * it would skip it and answer every request 401 "no usable secret".
 * at is where the secret is written; index is its 1-based place among the
 * source's secrets, as the verifier's messages count them. The message
 * names an env:/file: reference, never the secret.
 */
static void check_standard_secret(struct loader *ld, const config_setting_t *at,
                                  const struct hkd_source *src, size_t index,
                                  const char *raw, const char *v)
{
	char why[128];
	int indirect =
	    strncmp(raw, "env:", 4) == 0 || strncmp(raw, "file:", 5) == 0;

	if (hkd_sig_standard_secret_check(v, why, sizeof(why)) == 0)
		return;
	ERR(ld, at,
	    "source '%s': secret %zu%s%s%s is not whsec_<base64>, as "
	    "standard-webhooks needs: %s",
	    src->name, index, indirect ? " (from " : "", indirect ? raw : "",
	    indirect ? ")" : "", why);
}

/* Resolve every secret of list/string member `key` into src->secrets. */
static void add_secrets(struct loader *ld, const config_setting_t *g,
                        const char *key, struct hkd_source *src)
{
	char **raw = NULL;
	size_t n = 0;
	const config_setting_t *s = config_setting_get_member(g, key);
	if (!s || hkd_cfg_get_strings(ld, g, key, &raw, &n) != 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		char err[256],
		    *v = hkd_secret_resolve(raw[i], err, sizeof(err));
		const config_setting_t *at;
		char **grown;
		if (!v) {
			ERR(ld, s, "source '%s': %s: %s", src->name, key, err);
			continue;
		}
		/* The line of the element, in a list over several lines. */
		at = config_setting_type(s) == CONFIG_TYPE_STRING
		         ? s
		         : config_setting_get_elem(s, (unsigned)i);
		/* An empty secret or token matches nothing: every request
		 * would be answered 401. */
		if (src->verify == HKD_VERIFY_STANDARD)
			check_standard_secret(ld, at, src, src->n_secrets + 1,
			                      raw[i], v);
		else if (v[0] == '\0')
			ERR(ld, at, "source '%s': %s %zu is empty%s%s%s",
			    src->name, key, i + 1,
			    raw[i][0] != '\0' ? " (from " : "", raw[i],
			    raw[i][0] != '\0' ? ")" : "");
		grown = realloc(src->secrets,
		                (src->n_secrets + 2) * sizeof(char *));
		if (!grown) {
			free(v);
			continue;
		}
		src->secrets = grown;
		src->secrets[src->n_secrets++] = v;
		src->secrets[src->n_secrets] = NULL;
	}
out:
	hkd_cfg_free_strings(raw, n);
}

/*
 * The default id_from of src, whose group has none: for the schemes whose
 * sender names each delivery with an id it chooses (and, but for GitHub,
 * signs), that id, so that a delivery sent twice is a duplicate without
 * any setting. Marked as the default, which the receiver applies
 * leniently (see hkd_source).
 */
static void default_id_from(struct hkd_source *src)
{
	const char *header = NULL, *pointer = NULL;

	switch (src->verify) {
	case HKD_VERIFY_STANDARD:
		header = "webhook-id";
		break;
	case HKD_VERIFY_GITHUB:
		header = "X-GitHub-Delivery";
		break;
	case HKD_VERIFY_STRIPE:
		pointer = "/id"; /* the event object's "evt_..." */
		break;
	default:
		return;
	}
	src->id_from.header = hkd_strdup(header);
	src->id_from.pointer = hkd_strdup(pointer);
	src->id_from_default = 1;
}

static void load_source(struct loader *ld, const config_setting_t *g,
                        struct hkd_source *src)
{
	char *verify = NULL;
	long long tol = 300;
	int found = -1;

	hkd_cfg_check_keys(ld, g, "a source", hkd_cfg_source_keys);
	hkd_cfg_get_str(ld, g, "verify", &verify);
	for (size_t i = 0; verify && i < HKD_ARRAY_LEN(verify_names); i++)
		if (strcmp(verify, verify_names[i]) == 0)
			found = (int)i;
	if (found < 0)
		ERR(ld, g,
		    "source '%s': verify must be standard-webhooks, github, "
		    "stripe, hmac, token or none",
		    src->name);
	else
		src->verify = (enum hkd_verify)found;
	free(verify);
	add_secrets(ld, g, "secret", src);
	add_secrets(ld, g, "secrets", src);
	add_secrets(ld, g, "token", src);
	add_secrets(ld, g, "tokens", src);
	hkd_cfg_get_str(ld, g, "header", &src->header);
	hkd_cfg_get_str(ld, g, "algorithm", &src->algorithm);
	hkd_cfg_get_str(ld, g, "encoding", &src->encoding);
	hkd_cfg_get_str(ld, g, "prefix", &src->prefix);
	if (hkd_cfg_get_int(ld, g, "tolerance", 1, 86400, &tol) == 0)
		src->tolerance = tol;
	hkd_cfg_get_str(ld, g, "type", &src->type);
	parse_extract(ld, g, "type_from", &src->type_from);
	parse_extract(ld, g, "id_from", &src->id_from);
	hkd_cfg_get_strings(ld, g, "allow_from", &src->allow_from,
	                    &src->n_allow_from);
	for (size_t i = 0; i < src->n_allow_from; i++) {
		struct hkd_cidr cidr;
		char err[128];
		if (hkd_cidr_parse(src->allow_from[i], &cidr, err,
		                   sizeof(err)) != 0)
			ERR(ld, config_setting_get_member(g, "allow_from"),
			    "source '%s': allow_from[%zu] \"%s\": %s",
			    src->name, i, src->allow_from[i], err);
	}
	if (found < 0)
		return;
	if (src->verify != HKD_VERIFY_NONE && src->n_secrets == 0)
		ERR(ld, g, "source '%s': verify = \"%s\" needs %s", src->name,
		    verify_names[src->verify],
		    src->verify == HKD_VERIFY_TOKEN ? "token (or tokens)"
		                                    : "secret (or secrets)");
	if (src->verify == HKD_VERIFY_NONE && src->n_allow_from == 0)
		ERR(ld, g,
		    "source '%s': verify = \"none\" is only allowed with "
		    "allow_from",
		    src->name);
	if ((src->verify == HKD_VERIFY_HMAC ||
	     src->verify == HKD_VERIFY_TOKEN) &&
	    !src->header)
		ERR(ld, g, "source '%s': verify = \"%s\" needs header",
		    src->name, verify_names[src->verify]);
	if (src->algorithm && strcmp(src->algorithm, "sha1") &&
	    strcmp(src->algorithm, "sha256") &&
	    strcmp(src->algorithm, "sha512"))
		ERR(ld, config_setting_get_member(g, "algorithm"),
		    "source '%s': algorithm must be sha1, sha256 or sha512",
		    src->name);
	if (src->encoding && strcmp(src->encoding, "hex") &&
	    strcmp(src->encoding, "base64"))
		ERR(ld, config_setting_get_member(g, "encoding"),
		    "source '%s': encoding must be hex or base64", src->name);
	if (!src->type && !src->type_from.header && !src->type_from.pointer)
		ERR(ld, g,
		    "source '%s': needs type (a fixed event type) or type_from",
		    src->name);
	if (src->type && !hkd_event_type_valid(src->type))
		ERR(ld, config_setting_get_member(g, "type"),
		    "source '%s': type \"%s\" is not a valid event type",
		    src->name, src->type);
	if (!config_setting_get_member(g, "id_from"))
		default_id_from(src);
}

void hkd_cfg_load_sources(struct loader *ld, const config_setting_t *g,
                          struct hkd_config *c)
{
	int n;
	if (!config_setting_is_group(g)) {
		ERR(ld, g,
		    "sources must be a group { name = { verify = \"...\"; }; "
		    "}");
		return;
	}
	n = config_setting_length(g);
	c->sources = calloc((size_t)n + 1, sizeof(*c->sources));
	if (!c->sources)
		return;
	for (int i = 0; i < n; i++) {
		const config_setting_t *sg =
		    config_setting_get_elem(g, (unsigned)i);
		struct hkd_source *src = &c->sources[c->n_sources++];
		src->name = strdup(config_setting_name(sg));
		if (!config_setting_is_group(sg)) {
			ERR(ld, sg,
			    "source '%s' must be a group { verify = \"...\"; }",
			    src->name);
			continue;
		}
		load_source(ld, sg, src);
	}
}

void hkd_cfg_free_sources(struct hkd_config *c)
{
	for (size_t i = 0; i < c->n_sources; i++) {
		struct hkd_source *s = &c->sources[i];
		for (size_t j = 0; j < s->n_secrets; j++)
			memset(s->secrets[j], 0, strlen(s->secrets[j]));
		hkd_cfg_free_strings(s->secrets, s->n_secrets);
		free(s->name);
		free(s->header);
		free(s->algorithm);
		free(s->encoding);
		free(s->prefix);
		free(s->type);
		free(s->type_from.header);
		free(s->type_from.pointer);
		free(s->id_from.header);
		free(s->id_from.pointer);
		hkd_cfg_free_strings(s->allow_from, s->n_allow_from);
	}
	free(c->sources);
}

const struct hkd_source *hkd_config_source(const struct hkd_config *c,
                                           const char *name)
{
	for (size_t i = 0; i < c->n_sources; i++)
		if (c->sources[i].name && strcmp(c->sources[i].name, name) == 0)
			return &c->sources[i];
	return NULL;
}
