/*
 * smtp — send one mail per event with libcurl's SMTP client.
 *
 * The message is a complete RFC 5322 text/plain mail composed here (see
 * smtp_msg.c): Date, From, To, Cc, Subject (RFC 2047 when not ASCII),
 * Message-ID derived from the event id and handler name (the same on every
 * attempt, so a retried mail is recognisable), MIME-Version, Content-Type
 * text/plain; charset=utf-8 and a quoted-printable body. curl sends it with
 * MAIL FROM, one RCPT TO per `to` and `cc` address, and DATA; curl does the
 * dot-stuffing of lines that begin with ".".
 *
 * Header injection: a rendered subject, from, to or cc holding a CR or LF is
 * refused (HOOKD_FAIL) before anything is sent. Addresses without
 * placeholders are checked once in create(); those with placeholders are
 * checked per event.
 *
 * Outcome: curl's result and the last SMTP reply code decide. A 4xx reply,
 * a connection failure or a timeout is HOOKD_RETRY; a 5xx reply is
 * HOOKD_FAIL. The reason holds the code and the server's text.
 *
 * Settings are read and checked in smtp_conf.c.
 *
 * Threads: the state is read-only after create(), so dispatch() runs
 * concurrently (HOOKD_PLUGIN_THREADSAFE); each call uses its own curl easy
 * handle, made and freed within the call (an SMTP session is not kept open
 * between mails, so there is nothing to reuse).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "clock.h"
#include "smtp.h"

#define SMTP_VERSION   "0.1.0"
#define SMTP_REPLY_MAX 256 /* bytes of server text kept for a reason */

const struct hookd_host *smtp_host;

/* The message being uploaded (borrowed by curl's read callback). */
struct upload {
	const char *data;
	size_t len;
	size_t off;
};

/* The last SMTP reply curl received, from its header callback. */
struct reply {
	long code;                 /* 0 until a reply line arrives */
	char text[SMTP_REPLY_MAX]; /* its lines' text joined by spaces */
	size_t len;
	int open; /* a multi-line reply goes on */
};

/* ---- composing the message -------------------------------------------- */

/*
 * Render template `tmpl` (named `what`) for ev into *out (caller frees with
 * smtp_host->free). HOOKD_RETRY with the reason when it cannot be rendered: the
 * template is valid, so that is a value holding a NUL byte or memory
 * running out, and only the latter passes.
 */
static enum hookd_status render(const char *what, const char *tmpl,
                                const struct hookd_event *ev, char **out,
                                struct hookd_result *res)
{
	*out = hkd_render(smtp_host, tmpl, ev, HOOKD_RENDER_RAW, res->reason,
	                  sizeof(res->reason), "%s", what);
	return *out ? HOOKD_OK : HOOKD_RETRY;
}

/* The refusal of a rendered header value that holds CR or LF. */
static enum hookd_status refuse_line_break(const char *what,
                                           struct hookd_result *res)
{
	hkd_set_err(
	    res->reason, sizeof(res->reason),
	    "%s: the rendered value holds a CR or LF; refused, as it could "
	    "inject mail headers",
	    what);
	return HOOKD_FAIL;
}

/*
 * The mailbox of one address setting for ev into *out (caller releases):
 * a copy of the fixed one, or the rendered template, checked and parsed.
 */
static enum hookd_status resolve_address(const struct addr_setting *a,
                                         const char *what,
                                         const struct hookd_event *ev,
                                         struct smtp_mailbox *out,
                                         struct hookd_result *res)
{
	char why[256], shown[SMTP_SHOW_MAX + 8];
	enum hookd_status s;
	char *text = NULL;

	memset(out, 0, sizeof(*out));
	if (!a->dynamic) {
		out->addr = strdup(a->box.addr);
		out->display = a->box.display ? strdup(a->box.display) : NULL;
		if (!out->addr || (a->box.display && !out->display)) {
			smtp_mailbox_release(out);
			hkd_set_err(res->reason, sizeof(res->reason),
			            "out of memory");
			return HOOKD_RETRY;
		}
		return HOOKD_OK;
	}
	s = render(what, a->tmpl, ev, &text, res);
	if (s != HOOKD_OK)
		return s;
	if (smtp_has_line_break(text)) {
		s = refuse_line_break(what, res);
		goto out;
	}
	why[0] = '\0';
	if (smtp_mailbox_parse(text, out, why, sizeof(why)) < 0) {
		hkd_set_err(res->reason, sizeof(res->reason),
		            "%s: the rendered '%s' is not a valid address: %s",
		            what, smtp_show(shown, sizeof(shown), text), why);
		s = HOOKD_FAIL;
	}
out:
	smtp_host->free(text);
	return s;
}

/*
 * Append compact JSON text re-indented by two spaces per level, one member
 * or element a line. The text is copied token by token (numbers and
 * strings exactly as they are), so nothing is re-parsed or re-formatted.
 */
static void put_indented_json(struct smtp_buf *b, const char *s)
{
	int depth = 0, k;
	const char *p;

	for (p = s; *p; p++) {
		char c = *p;

		switch (c) {
		case '"':
			/* A whole string, escapes included. */
			smtp_buf_put(b, p, 1);
			for (p++; *p && *p != '"'; p++) {
				if (*p == '\\' && p[1]) {
					smtp_buf_put(b, p, 2);
					p++;
				} else {
					smtp_buf_put(b, p, 1);
				}
			}
			if (!*p)
				return;
			smtp_buf_put(b, "\"", 1);
			break;
		case '{':
		case '[': {
			const char *q = p + 1;

			while (*q == ' ' || *q == '\n' || *q == '\r' ||
			       *q == '\t')
				q++;
			smtp_buf_put(b, p, 1);
			if (*q == (c == '{' ? '}' : ']')) {
				smtp_buf_put(b, q, 1); /* {} and [] stay */
				p = q;
				break;
			}
			depth++;
			smtp_buf_put(b, "\n", 1);
			for (k = 0; k < depth; k++)
				smtp_buf_put(b, "  ", 2);
			break;
		}
		case '}':
		case ']':
			depth = depth > 0 ? depth - 1 : 0;
			smtp_buf_put(b, "\n", 1);
			for (k = 0; k < depth; k++)
				smtp_buf_put(b, "  ", 2);
			smtp_buf_put(b, p, 1);
			break;
		case ',':
			smtp_buf_put(b, ",\n", 2);
			for (k = 0; k < depth; k++)
				smtp_buf_put(b, "  ", 2);
			break;
		case ':':
			smtp_buf_put(b, ": ", 2);
			break;
		case ' ':
		case '\n':
		case '\r':
		case '\t':
			break;
		default:
			smtp_buf_put(b, p, 1);
		}
	}
}

/*
 * The default body: the event's type, id, time and source, then its data
 * pretty-printed. Appended to b.
 */
static enum hookd_status default_body(const struct hookd_event *ev,
                                      struct smtp_buf *b,
                                      struct hookd_result *res)
{
	enum hookd_status s;
	char *data = NULL;

	s = render("body", "{{data}}", ev, &data, res);
	if (s != HOOKD_OK)
		return s;
	smtp_buf_puts(b, "Event:   ");
	smtp_buf_puts(b, ev->type);
	smtp_buf_puts(b, "\nId:      ");
	smtp_buf_puts(b, ev->id);
	smtp_buf_puts(b, "\nTime:    ");
	smtp_buf_puts(b, ev->timestamp);
	smtp_buf_puts(b, "\nSource:  ");
	smtp_buf_puts(b, ev->source);
	smtp_buf_puts(b, "\n\nData:\n");
	if (data[0] == '{' || data[0] == '[')
		put_indented_json(b, data);
	else
		smtp_buf_puts(b, data[0] ? data : "(none)");
	smtp_buf_puts(b, "\n\n-- \nSent by hookd, handler ");
	smtp_buf_puts(b, ev->target);
	smtp_buf_puts(b, ".\n");
	smtp_host->free(data);
	return HOOKD_OK;
}

/* Everything one mail needs, resolved for one event. */
struct mail {
	struct smtp_mailbox from;
	struct smtp_mailbox *rcpt; /* nto `to`, then ncc `cc` (owned) */
	size_t nto, ncc;
	char *subject;        /* rendered (smtp_host->free) */
	struct smtp_buf text; /* the whole message */
};

static void mail_init(struct mail *m)
{
	memset(m, 0, sizeof(*m));
	smtp_buf_init(&m->text);
}

static void mail_release(struct mail *m)
{
	size_t i;

	smtp_mailbox_release(&m->from);
	for (i = 0; i < m->nto + m->ncc; i++)
		smtp_mailbox_release(&m->rcpt[i]);
	free(m->rcpt);
	if (m->subject)
		smtp_host->free(m->subject);
	smtp_buf_release(&m->text);
	mail_init(m);
}

/* Resolve the addresses and subject of st for ev into m. */
static enum hookd_status resolve(const struct smtp_state *st,
                                 const struct hookd_event *ev, struct mail *m,
                                 struct hookd_result *res)
{
	char what[32];
	enum hookd_status s;
	int i;

	s = render("subject", st->subject, ev, &m->subject, res);
	if (s != HOOKD_OK)
		return s;
	if (smtp_has_line_break(m->subject))
		return refuse_line_break("subject", res);
	s = resolve_address(&st->from, "from", ev, &m->from, res);
	if (s != HOOKD_OK)
		return s;
	m->rcpt = calloc((size_t)(st->nto + st->ncc), sizeof(*m->rcpt));
	if (!m->rcpt) {
		hkd_set_err(res->reason, sizeof(res->reason), "out of memory");
		return HOOKD_RETRY;
	}
	for (i = 0; i < st->nto; i++, m->nto++) {
		snprintf(what, sizeof(what), "to[%d]", i);
		s = resolve_address(&st->to[i], what, ev, &m->rcpt[i], res);
		if (s != HOOKD_OK)
			return s;
	}
	for (i = 0; i < st->ncc; i++, m->ncc++) {
		snprintf(what, sizeof(what), "cc[%d]", i);
		s = resolve_address(&st->cc[i], what, ev, &m->rcpt[st->nto + i],
		                    res);
		if (s != HOOKD_OK)
			return s;
	}
	return HOOKD_OK;
}

/* Write the whole message of m for ev into m->text. */
static enum hookd_status compose(const struct smtp_state *st,
                                 const struct hookd_event *ev, struct mail *m,
                                 struct hookd_result *res)
{
	struct smtp_buf body;
	enum hookd_status s = HOOKD_OK;
	char *text = NULL;

	smtp_buf_init(&body);
	if (st->body)
		s = render("body", st->body, ev, &text, res);
	else
		s = default_body(ev, &body, res);
	if (s != HOOKD_OK)
		goto out;
	smtp_header_date(&m->text, time(NULL));
	smtp_header_mailboxes(&m->text, "From", &m->from, 1);
	smtp_header_mailboxes(&m->text, "To", m->rcpt, m->nto);
	if (m->ncc)
		smtp_header_mailboxes(&m->text, "Cc", m->rcpt + m->nto, m->ncc);
	smtp_header_text(&m->text, "Subject", m->subject);
	smtp_header_message_id(&m->text, ev->id,
	                       ev->target[0] ? ev->target : st->instance);
	smtp_buf_puts(&m->text,
	              "MIME-Version: 1.0\r\n"
	              "Content-Type: text/plain; charset=utf-8\r\n"
	              "Content-Transfer-Encoding: quoted-printable\r\n"
	              "Auto-Submitted: auto-generated\r\n");
	smtp_header_text(&m->text, "X-Hookd-Event-Id", ev->id);
	smtp_header_text(&m->text, "X-Hookd-Event-Type", ev->type);
	smtp_buf_puts(&m->text, "\r\n");
	if (text)
		smtp_body_qp(&m->text, text, strlen(text));
	else
		smtp_body_qp(&m->text, body.data ? body.data : "", body.len);
	if (m->text.oom || body.oom) {
		hkd_set_err(res->reason, sizeof(res->reason), "out of memory");
		s = HOOKD_RETRY;
	}
out:
	if (text)
		smtp_host->free(text);
	smtp_buf_release(&body);
	return s;
}

/* ---- sending ---------------------------------------------------------- */

/* curl's read callback: the next piece of the message. */
static size_t read_message(char *buf, size_t size, size_t nitems, void *ud)
{
	struct upload *up = ud;
	size_t n = size * nitems, left = up->len - up->off;

	if (n > left)
		n = left;
	memcpy(buf, up->data + up->off, n);
	up->off += n;
	return n;
}

/*
 * curl's header callback, which for SMTP gets each server reply line:
 * keep the code and text of the last reply (a multi-line reply's lines,
 * "250-..." then "250 ...", joined), printable ASCII only. The 221 that
 * answers curl's QUIT after a failure is skipped: the reply that failed
 * is the one worth reporting.
 */
static size_t on_reply_line(char *p, size_t size, size_t nitems, void *ud)
{
	struct reply *r = ud;
	size_t n = size * nitems, i;

	if (n < 3 || p[0] < '0' || p[0] > '9' || p[1] < '0' || p[1] > '9' ||
	    p[2] < '0' || p[2] > '9' || (!r->open && memcmp(p, "221", 3) == 0))
		return size * nitems;
	if (!r->open) {
		r->len = 0;
		r->text[0] = '\0';
	}
	r->code = (p[0] - '0') * 100 + (p[1] - '0') * 10 + (p[2] - '0');
	r->open = n > 3 && p[3] == '-';
	while (n > 0 && (p[n - 1] == '\r' || p[n - 1] == '\n'))
		n--;
	if (n > 4 && r->len > 0 && r->len + 1 < sizeof(r->text))
		r->text[r->len++] = ' ';
	for (i = 4; i < n && r->len + 1 < sizeof(r->text); i++) {
		unsigned char c = (unsigned char)p[i];

		r->text[r->len++] = c >= 0x20 && c < 0x7F ? (char)c : '?';
	}
	r->text[r->len] = '\0';
	return size * nitems;
}

/* curl errors that no retry can cure: the build or the settings. */
static int permanent_curl_error(CURLcode rc)
{
	switch (rc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_UNKNOWN_OPTION:
	case CURLE_BAD_FUNCTION_ARGUMENT:
	case CURLE_LOGIN_DENIED:
		return 1;
	default:
		return 0;
	}
}

/*
 * Map curl's result and the last reply to a status and reason: a 4xx reply
 * is RETRY, a 5xx FAIL; without one, a transport problem (connect, TLS,
 * timeout, a dropped connection) is RETRY.
 */
static enum hookd_status judge(CURLcode rc, long code, const struct reply *r,
                               const char *errbuf, int uploaded,
                               int64_t limit_ms, int by_event,
                               struct hookd_result *res)
{
	const char *detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
	const char *text = r->code == code ? r->text : "";
	char secs[32];

	if (rc == CURLE_OK) {
		hkd_set_err(res->reason, sizeof(res->reason), "SMTP %ld%s%s",
		            code, text[0] ? " " : "", text);
		return HOOKD_OK;
	}
	if (code >= 400 && code <= 599) {
		/* curl names the step that failed (MAIL, RCPT, ...) but for
		 * the reply to the message itself: it calls that "weird". */
		if (!errbuf[0] && uploaded)
			detail = "after DATA";
		hkd_set_err(res->reason, sizeof(res->reason),
		            "SMTP %ld%s%s (%s)", code, text[0] ? " " : "", text,
		            detail);
		return code < 500 ? HOOKD_RETRY : HOOKD_FAIL;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		hkd_format_seconds(secs, sizeof(secs), limit_ms);
		hkd_set_err(res->reason, sizeof(res->reason),
		            "timed out after %s%s: %s", secs,
		            by_event ? " (event deadline)" : "", detail);
		return HOOKD_RETRY;
	}
	if (code > 0)
		hkd_set_err(res->reason, sizeof(res->reason),
		            "%s (last reply: SMTP %ld%s%s)", detail, code,
		            text[0] ? " " : "", text);
	else
		hkd_set_err(res->reason, sizeof(res->reason), "%s", detail);
	return permanent_curl_error(rc) ? HOOKD_FAIL : HOOKD_RETRY;
}

/* "<addr>" for MAIL FROM / RCPT TO (caller frees). */
static char *angle(const char *addr)
{
	size_t n = strlen(addr);
	char *s = malloc(n + 3);

	if (s) {
		s[0] = '<';
		memcpy(s + 1, addr, n);
		s[n + 1] = '>';
		s[n + 2] = '\0';
	}
	return s;
}

/* Append "<addr>" to a curl list; -1 when memory runs out. */
static int add_rcpt(struct curl_slist **list, const char *addr)
{
	char *a = angle(addr);
	struct curl_slist *l = a ? curl_slist_append(*list, a) : NULL;

	free(a);
	if (!l)
		return -1;
	*list = l;
	return 0;
}

/*
 * Send m over one SMTP session to st's server within limit_ms.
 * `by_event`: the limit is the event's deadline rather than `timeout`.
 */
static enum hookd_status send_mail(const struct smtp_state *st, struct mail *m,
                                   int64_t limit_ms, int by_event,
                                   struct hookd_result *res)
{
	char errbuf[CURL_ERROR_SIZE];
	struct upload up = {m->text.data, m->text.len, 0};
	struct reply r;
	struct curl_slist *rcpts = NULL;
	enum hookd_status s = HOOKD_RETRY;
	char *from = angle(m->from.addr);
	CURL *c = curl_easy_init();
	CURLcode rc = CURLE_OK;
	long code = 0;
	size_t i;

	memset(&r, 0, sizeof(r));
	errbuf[0] = '\0';
	if (!c || !from) {
		hkd_set_err(res->reason, sizeof(res->reason),
		            "cannot start a curl transfer (out of memory)");
		goto out;
	}
	for (i = 0; i < m->nto + m->ncc; i++) {
		if (add_rcpt(&rcpts, m->rcpt[i].addr) < 0) {
			hkd_set_err(res->reason, sizeof(res->reason),
			            "out of memory");
			goto out;
		}
	}
	/* Each setopt can only fail for a curl without SMTP (or memory);
	 * the first failure is reported. */
	if ((rc = curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_URL, st->url)) ||
#if LIBCURL_VERSION_NUM >= 0x075500
	    (rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "smtp,smtps")) ||
#else
	    (rc = curl_easy_setopt(c, CURLOPT_PROTOCOLS,
	                           (long)(CURLPROTO_SMTP | CURLPROTO_SMTPS))) ||
#endif
	    (rc = curl_easy_setopt(c, CURLOPT_USE_SSL, st->use_ssl)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_MAIL_FROM, from)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_MAIL_RCPT, rcpts)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_UPLOAD, 1L)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_READFUNCTION, read_message)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_READDATA, &up)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE,
	                           (curl_off_t)up.len)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_reply_line)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_HEADERDATA, &r)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)limit_ms)) ||
	    (rc = curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
	                           (long)limit_ms)) ||
	    (st->username &&
	     ((rc = curl_easy_setopt(c, CURLOPT_USERNAME, st->username)) ||
	      (rc = curl_easy_setopt(c, CURLOPT_PASSWORD, st->password))))) {
		hkd_set_err(res->reason, sizeof(res->reason), "curl setup: %s",
		            curl_easy_strerror(rc));
		s = permanent_curl_error(rc) ? HOOKD_FAIL : HOOKD_RETRY;
		goto out;
	}
	rc = curl_easy_perform(c);
	if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	s = judge(rc, code, &r, errbuf, up.len > 0 && up.off == up.len,
	          limit_ms, by_event, res);
	smtp_host->log(st->instance, HOOKD_LOG_DEBUG,
	               "%zu bytes for %zu recipient(s): %s", m->text.len,
	               m->nto + m->ncc, res->reason);
out:
	curl_slist_free_all(rcpts);
	free(from);
	if (c)
		curl_easy_cleanup(c);
	return s;
}

/*
 * Mail one event (borrowed). The attempt ends by the earlier of `timeout`
 * and the event's deadline.
 */
static enum hookd_status smtp_dispatch(void *state,
                                       const struct hookd_event *ev,
                                       struct hookd_result *res)
{
	const struct smtp_state *st = state;
	enum hookd_status s;
	int64_t limit_ms;
	int by_event;
	struct mail m;

	mail_init(&m);
	limit_ms =
	    hkd_attempt_limit(st->timeout_ms, ev->deadline_ms, &by_event);
	if (limit_ms <= 0) {
		hkd_set_err(res->reason, sizeof(res->reason),
		            "event deadline passed before the mail was sent");
		s = HOOKD_RETRY;
		goto out;
	}
	s = resolve(st, ev, &m, res);
	if (s == HOOKD_OK)
		s = compose(st, ev, &m, res);
	if (s == HOOKD_OK)
		s = send_mail(st, &m, limit_ms, by_event, res);
out:
	mail_release(&m);
	return s;
}

static const struct hookd_config_key smtp_keys[] = {
    {"url", HOOKD_KEY_STRING, HOOKD_KEY_REQUIRED,
     "mail server: smtp://host[:port][/ehlo-name] (STARTTLS per starttls) "
     "or smtps://host[:port] (TLS from the start)"},
    {"starttls", HOOKD_KEY_STRING, 0,
     "with smtp://: \"none\", \"try\" (default: use it when offered) or "
     "\"required\""},
    {"username", HOOKD_KEY_STRING, 0, "SMTP AUTH user name (needs password)"},
    {"password", HOOKD_KEY_STRING, HOOKD_KEY_SECRET,
     "SMTP AUTH password; \"env:NAME\" or \"file:PATH\" to keep it out of "
     "the file"},
    {"from", HOOKD_KEY_STRING, HOOKD_KEY_REQUIRED,
     "sender, \"a@b.example\" or \"Name <a@b.example>\" (a template)"},
    {"to", HOOKD_KEY_LIST, HOOKD_KEY_REQUIRED,
     "recipients, each \"a@b.example\" or \"Name <a@b.example>\" (templates)"},
    {"cc", HOOKD_KEY_LIST, 0,
     "copy recipients, in the Cc header and the envelope (templates)"},
    {"subject", HOOKD_KEY_STRING, 0,
     "subject template (default \"" SMTP_DEFAULT_SUBJECT "\")"},
    {"body", HOOKD_KEY_STRING, 0,
     "plain-text body template (default: the event's type, id, time, "
     "source and data)"},
    {"timeout", HOOKD_KEY_INT, 0,
     "seconds for the whole SMTP exchange before the attempt is retried "
     "(default 30)"},
    {.name = NULL},
};

static const struct hookd_plugin smtp_plugin = {
    .struct_size = sizeof(struct hookd_plugin),
    .abi_major = HOOKD_ABI_MAJOR,
    .abi_minor = HOOKD_ABI_MINOR,
    .name = "smtp",
    .version = SMTP_VERSION,
    .description = "send a plain-text mail per event over SMTP",
    .flags = HOOKD_PLUGIN_THREADSAFE,
    .keys = smtp_keys,
    .create = smtp_create,
    .dispatch = smtp_dispatch,
    .destroy = smtp_destroy,
};

/* Keep the host table; refuse a host whose table lacks the 1.0 services. */
HOOKD_EXPORT const struct hookd_plugin *
hookd_plugin_entry(const struct hookd_host *h)
{
	if (!hkd_host_usable(h))
		return NULL;
	smtp_host = h;
	return &smtp_plugin;
}
