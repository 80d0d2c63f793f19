/*
 * smtp — what the smtp plugin's files share: the host table, one handler
 * instance's settings, and the small text helpers of messages.
 *
 * smtp_conf.c reads and checks the settings (create/destroy), smtp.c
 * composes and sends the mail (dispatch), smtp_msg.c formats the message.
 */
#ifndef HOOKD_SMTP_H
#define HOOKD_SMTP_H

#include <stddef.h>
#include <stdint.h>

#include <hookd/plugin.h>

#include "errmsg.h"
#include "pluginkit.h"
#include "smtp_msg.h"

#define SMTP_DEFAULT_TIMEOUT 30
#define SMTP_MAX_TIMEOUT     3600 /* an SMTP exchange of an hour is broken */
#define SMTP_DEFAULT_SUBJECT "[hookd] {{type}}"
#define SMTP_SHOW_MAX        64 /* bytes of a value quoted in a message */

/* Host services, set once by hookd_plugin_entry() (smtp.c). */
extern const struct hookd_host *smtp_host;

/* One address setting (from, or an element of to or cc). */
struct addr_setting {
	const char *tmpl;        /* the setting (borrowed from cfg) */
	int dynamic;             /* has placeholders: rendered per event */
	struct smtp_mailbox box; /* parsed in create() when not dynamic */
};

/*
 * One handler instance. Written by create() on the main thread, read-only
 * afterwards, shared by every dispatch() thread. Strings are borrowed from
 * cfg, which the host keeps valid until destroy(), unless marked owned.
 */
struct smtp_state {
	char *instance; /* handler name, for log lines (owned) */
	const char *url;
	long use_ssl;         /* CURLUSESSL_* */
	const char *username; /* NULL: no AUTH */
	const char *password; /* resolved secret */
	struct addr_setting from;
	int nto, ncc;
	struct addr_setting *to; /* nto entries (owned array) */
	struct addr_setting *cc; /* ncc entries (owned array) */
	const char *subject;     /* template */
	const char *body;        /* template; NULL: the default rendering */
	int64_t timeout_ms;
};

/* smtp_create / smtp_destroy: the descriptor's create and destroy. */
int smtp_create(const char *instance, const struct hookd_config *cfg,
                void **state, char *err, size_t errlen);
void smtp_destroy(void *state);

/*
 * Copy at most SMTP_SHOW_MAX bytes of s into out (outlen bytes) for a
 * message: control characters as '?', cut between UTF-8 characters, "..."
 * when cut. Returns out.
 */
const char *smtp_show(char *out, size_t outlen, const char *s);

#endif /* HOOKD_SMTP_H */
