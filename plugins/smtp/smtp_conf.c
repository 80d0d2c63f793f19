/*
 * smtp_conf — the smtp plugin's settings: read, checked and kept for the
 * handler's lifetime (the descriptor's create and destroy).
 *
 * Everything that does not depend on the event is checked here, with a
 * message naming the setting, so `hookd --check-config` reports it: the
 * URL, starttls, credentials, every address without placeholders (parsed
 * once), the templates' syntax and the timeout.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "smtp.h"

/* A value, shortened and made printable, for a message (see smtp.h). */
const char *smtp_show(char *out, size_t outlen, const char *s)
{
	size_t i = 0, o = 0;

	while (s[i] && i < SMTP_SHOW_MAX && o + 4 < outlen) {
		unsigned char c = (unsigned char)s[i++];

		out[o++] = c < 0x20 || c == 0x7F ? '?' : (char)c;
	}
	if (s[i]) {
		/* Drop a partial character at the cut. */
		while (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0x80)
			o--;
		if (o > 0 && ((unsigned char)out[o - 1] & 0xC0) == 0xC0)
			o--;
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

/* ---- create / destroy ------------------------------------------------- */

static void addrs_free(struct addr_setting *a, int n)
{
	int i;

	if (!a)
		return;
	for (i = 0; i < n; i++)
		smtp_mailbox_release(&a[i].box);
	free(a);
}

/* Free an instance and everything it owns. */
void smtp_destroy(void *p)
{
	struct smtp_state *st = p;

	if (!st)
		return;
	free(st->instance);
	smtp_mailbox_release(&st->from.box);
	addrs_free(st->to, st->nto);
	addrs_free(st->cc, st->ncc);
	free(st);
}

/*
 * `url`: smtp:// or smtps://, a host, no credentials, query or fragment.
 * Sets *implicit_tls for smtps://.
 */
static int read_url(struct smtp_state *st, const struct hookd_config *cfg,
                    int *implicit_tls, char *err, size_t errlen)
{
	char shown[SMTP_SHOW_MAX + 8];
	CURLU *u = NULL;
	CURLUcode uc;
	char *part = NULL;
	int ret = -1;

	st->url = hkd_conf_string(smtp_host, cfg, "url");
	if (!st->url) {
		hkd_set_err(err, errlen, "url is required");
		return -1;
	}
	smtp_show(shown, sizeof(shown), st->url);
	u = curl_url();
	if (!u) {
		hkd_set_err(err, errlen, "out of memory");
		return -1;
	}
	uc = curl_url_set(u, CURLUPART_URL, st->url, 0);
	if (uc != CURLUE_OK) {
#if LIBCURL_VERSION_NUM >= 0x075000
		hkd_set_err(err, errlen, "url '%s': %s", shown,
		            curl_url_strerror(uc));
#else
		hkd_set_err(err, errlen,
		            "url '%s' is not a valid URL (error %d)", shown,
		            (int)uc);
#endif
		goto out;
	}
	if (curl_url_get(u, CURLUPART_SCHEME, &part, 0) != CURLUE_OK ||
	    (strcasecmp(part, "smtp") != 0 && strcasecmp(part, "smtps") != 0)) {
		hkd_set_err(err, errlen,
		            "url '%s': the scheme must be smtp:// or smtps://",
		            shown);
		goto out;
	}
	*implicit_tls = strcasecmp(part, "smtps") == 0;
	curl_free(part);
	part = NULL;
	if (curl_url_get(u, CURLUPART_HOST, &part, 0) != CURLUE_OK ||
	    part[0] == '\0') {
		hkd_set_err(err, errlen, "url '%s' has no host", shown);
		goto out;
	}
	curl_free(part);
	part = NULL;
	if (curl_url_get(u, CURLUPART_USER, &part, 0) == CURLUE_OK) {
		hkd_set_err(
		    err, errlen,
		    "url: give credentials in username and password, not in "
		    "the URL");
		goto out;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK ||
	    curl_url_get(u, CURLUPART_FRAGMENT, &part, 0) == CURLUE_OK) {
		hkd_set_err(
		    err, errlen,
		    "url '%s': a query or fragment means nothing for SMTP",
		    shown);
		goto out;
	}
	ret = 0;
out:
	curl_free(part);
	curl_url_cleanup(u);
	return ret;
}

/* `starttls`: none, try (default) or required; only "required" (or
 * nothing) with smtps://, which is TLS from the first byte. */
static int read_tls(struct smtp_state *st, const struct hookd_config *cfg,
                    int implicit_tls, char *err, size_t errlen)
{
	const char *v = hkd_conf_string(smtp_host, cfg, "starttls");

	st->use_ssl =
	    implicit_tls ? (long)CURLUSESSL_ALL : (long)CURLUSESSL_TRY;
	if (!v)
		return 0;
	if (strcmp(v, "required") == 0)
		st->use_ssl = (long)CURLUSESSL_ALL;
	else if (strcmp(v, "try") == 0)
		st->use_ssl = (long)CURLUSESSL_TRY;
	else if (strcmp(v, "none") == 0)
		st->use_ssl = (long)CURLUSESSL_NONE;
	else {
		char shown[SMTP_SHOW_MAX + 8];

		hkd_set_err(
		    err, errlen,
		    "starttls '%s': must be \"none\", \"try\" or \"required\"",
		    smtp_show(shown, sizeof(shown), v));
		return -1;
	}
	if (implicit_tls && st->use_ssl != (long)CURLUSESSL_ALL) {
		hkd_set_err(
		    err, errlen,
		    "starttls '%s' contradicts an smtps:// url (TLS from the "
		    "first byte); leave starttls out or use smtp://",
		    v);
		return -1;
	}
	return 0;
}

/* `username` and `password`: both or neither. */
static int read_credentials(struct smtp_state *st,
                            const struct hookd_config *cfg, char *err,
                            size_t errlen)
{
	int has_user, has_pass;

	st->username = hkd_conf_string(smtp_host, cfg, "username");
	st->password = hkd_conf_string(smtp_host, cfg, "password");
	has_user = st->username != NULL;
	has_pass = st->password != NULL;
	if (has_user && !has_pass) {
		hkd_set_err(err, errlen, "username is set but password is not");
		return -1;
	}
	if (has_pass && !has_user) {
		hkd_set_err(err, errlen, "password is set but username is not");
		return -1;
	}
	if (has_user && st->username[0] == '\0') {
		hkd_set_err(err, errlen, "username must not be empty");
		return -1;
	}
	if (has_user && (smtp_has_line_break(st->username) ||
	                 smtp_has_line_break(st->password))) {
		hkd_set_err(err, errlen,
		            "username and password must not hold a line break");
		return -1;
	}
	return 0;
}

/*
 * One address setting named `what` ("from", "to[2]"): a template is
 * checked for syntax; a fixed address is parsed and validated now.
 */
static int read_address(struct addr_setting *a, const char *what,
                        const char *value, char *err, size_t errlen)
{
	char why[256], shown[SMTP_SHOW_MAX + 8];

	a->tmpl = value;
	smtp_show(shown, sizeof(shown), value);
	/* Also in a template: its own text would reach every header. */
	if (smtp_has_line_break(value)) {
		hkd_set_err(err, errlen,
		            "%s '%s': an address must not hold a line break",
		            what, shown);
		return -1;
	}
	if (strstr(value, "{{")) {
		if (hkd_check_template(smtp_host, value, err, errlen, "%s '%s'",
		                       what, shown) < 0)
			return -1;
		a->dynamic = 1;
		return 0;
	}
	why[0] = '\0';
	if (smtp_mailbox_parse(value, &a->box, why, sizeof(why)) < 0) {
		hkd_set_err(err, errlen, "%s '%s' is not a valid address: %s",
		            what, shown, why);
		return -1;
	}
	return 0;
}

/* A list of addresses (`to`, `cc`) into *out / *n. */
static int read_address_list(const struct hookd_config *cfg, const char *key,
                             int required, struct addr_setting **out, int *n,
                             char *err, size_t errlen)
{
	char what[32];
	const char **v = NULL;
	int count, set, i, ret = -1;

	*out = NULL;
	*n = 0;
	set = hkd_conf_list(smtp_host, cfg, key, &v, &count, err, errlen);
	if (set < 0)
		return -1;
	if (!set && required) {
		hkd_set_err(err, errlen, "%s is required", key);
		goto out;
	}
	if (count == 0) {
		if (required)
			hkd_set_err(err, errlen,
			            "%s must list at least one address", key);
		else
			ret = 0;
		goto out;
	}
	*out = calloc((size_t)count, sizeof(**out));
	if (!*out) {
		hkd_set_err(err, errlen, "out of memory");
		goto out;
	}
	*n = count;
	for (i = 0; i < count; i++) {
		snprintf(what, sizeof(what), "%s[%d]", key, i);
		if (read_address(&(*out)[i], what, v[i], err, errlen) < 0)
			goto out;
	}
	ret = 0;
out:
	free(v);
	return ret;
}

/* `subject` and `body`: templates, checked for syntax. */
static int read_templates(struct smtp_state *st, const struct hookd_config *cfg,
                          char *err, size_t errlen)
{
	st->subject = hkd_conf_string(smtp_host, cfg, "subject");
	if (!st->subject)
		st->subject = SMTP_DEFAULT_SUBJECT;
	if (hkd_check_template(smtp_host, st->subject, err, errlen, "subject") <
	    0)
		return -1;
	if (smtp_has_line_break(st->subject)) {
		hkd_set_err(err, errlen, "subject must not hold a line break");
		return -1;
	}
	st->body = hkd_conf_string(smtp_host, cfg, "body");
	if (st->body &&
	    hkd_check_template(smtp_host, st->body, err, errlen, "body") < 0)
		return -1;
	return 0;
}

/* `timeout`: 1 s to SMTP_MAX_TIMEOUT, default 30. */
static int read_timeout(struct smtp_state *st, const struct hookd_config *cfg,
                        char *err, size_t errlen)
{
	int64_t v;

	st->timeout_ms = (int64_t)SMTP_DEFAULT_TIMEOUT * 1000;
	if (smtp_host->config_int(cfg, "timeout", &v) < 0)
		return 0;
	if (v <= 0 || v > SMTP_MAX_TIMEOUT) {
		hkd_set_err(err, errlen,
		            "timeout must be 1 to %d seconds, not %lld",
		            SMTP_MAX_TIMEOUT, (long long)v);
		return -1;
	}
	st->timeout_ms = v * 1000;
	return 0;
}

/*
 * Make an instance from the handler's settings. `instance` and `cfg` are
 * borrowed; cfg (and the strings read from it) must stay valid until
 * smtp_destroy(). Every setting is checked here, so dispatch() only fails
 * on what depends on the event or the server.
 */
int smtp_create(const char *instance, const struct hookd_config *cfg,
                void **state, char *err, size_t errlen)
{
	struct smtp_state *st = calloc(1, sizeof(*st));
	const char *from = NULL;
	int implicit_tls = 0;

	if (!st) {
		hkd_set_err(err, errlen, "out of memory");
		return -1;
	}
	st->instance = strdup(instance ? instance : "smtp");
	if (!st->instance) {
		hkd_set_err(err, errlen, "out of memory");
		goto fail;
	}
	if (read_url(st, cfg, &implicit_tls, err, errlen) < 0 ||
	    read_tls(st, cfg, implicit_tls, err, errlen) < 0 ||
	    read_credentials(st, cfg, err, errlen) < 0)
		goto fail;
	from = hkd_conf_string(smtp_host, cfg, "from");
	if (!from) {
		hkd_set_err(err, errlen, "from is required");
		goto fail;
	}
	if (read_address(&st->from, "from", from, err, errlen) < 0 ||
	    read_address_list(cfg, "to", 1, &st->to, &st->nto, err, errlen) <
	        0 ||
	    read_address_list(cfg, "cc", 0, &st->cc, &st->ncc, err, errlen) <
	        0 ||
	    read_templates(st, cfg, err, errlen) < 0 ||
	    read_timeout(st, cfg, err, errlen) < 0)
		goto fail;
	if (st->username && st->use_ssl != (long)CURLUSESSL_ALL)
		smtp_host->log(
		    st->instance, HOOKD_LOG_WARN,
		    "username and password with starttls \"%s\": the "
		    "password crosses the network unencrypted when the "
		    "server offers no STARTTLS; use starttls = "
		    "\"required\" or smtps://",
		    st->use_ssl == (long)CURLUSESSL_NONE ? "none" : "try");
	*state = st;
	return 0;
fail:
	smtp_destroy(st);
	return -1;
}
