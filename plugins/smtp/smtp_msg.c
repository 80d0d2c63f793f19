/*
 * smtp_msg — building the RFC 5322 message: mailboxes, header fields,
 * Date, Message-ID and the quoted-printable body. See smtp_msg.h.
 *
 * Line lengths: header lines are folded before a word that would take the
 * line past 78 characters (RFC 5322 2.1.1's SHOULD); a word is at most a
 * few hundred bytes (an encoded word is 75, an address 256), so no header
 * line comes near the 998-byte MUST. Body lines are quoted-printable, at
 * most 76 characters.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "errmsg.h"
#include "smtp_msg.h"

#define HDR_WIDTH 78 /* fold before a word that would pass this column */
/* A plain (unencoded) word in an unstructured header may be this long;
 * longer ones are encoded, which splits them into 75-byte encoded words. */
#define PLAIN_WORD_MAX 900
/* Raw bytes per encoded word: "=?utf-8?b?" + 60 base64 + "?=" = 72 <= 75
 * (12 characters of it are not base64). */
#define EW_CHUNK   45
#define QP_WIDTH   76 /* RFC 2045: encoded lines at most 76 characters */
#define LOCAL_MAX  64
#define DOMAIN_MAX 253
#define LABEL_MAX  63
/* A display name longer than this is encoded rather than quoted, so it
 * can be split into several words. */
#define QUOTED_MAX 70

/* ---- buffer ------------------------------------------------------------ */

void smtp_buf_init(struct smtp_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void smtp_buf_release(struct smtp_buf *b)
{
	free(b->data);
	smtp_buf_init(b);
}

void smtp_buf_put(struct smtp_buf *b, const void *p, size_t n)
{
	if (b->oom || n == 0)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *d;

		while (cap < b->len + n + 1) {
			if (cap > (size_t)-1 / 2) {
				b->oom = 1;
				return;
			}
			cap *= 2;
		}
		d = realloc(b->data, cap);
		if (!d) {
			b->oom = 1;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void smtp_buf_puts(struct smtp_buf *b, const char *s)
{
	smtp_buf_put(b, s, strlen(s));
}

static void buf_byte(struct smtp_buf *b, char c)
{
	smtp_buf_put(b, &c, 1);
}

/* ---- character classes -------------------------------------------------- */

static int is_alnum(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9');
}

/* RFC 5322 atext. */
static int is_atext(unsigned char c)
{
	return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static int is_wsp(unsigned char c)
{
	return c == ' ' || c == '\t';
}

int smtp_has_line_break(const char *s)
{
	return strpbrk(s, "\r\n") != NULL;
}

/* ---- mailboxes ---------------------------------------------------------- */

void smtp_mailbox_release(struct smtp_mailbox *mb)
{
	free(mb->display);
	free(mb->addr);
	mb->display = mb->addr = NULL;
}

/* "'x'" for a printable character, "a control character" otherwise. */
static void describe_char(char *buf, size_t len, unsigned char c)
{
	if (c > 0x20 && c < 0x7F)
		hkd_set_err(buf, len, "'%c'", c);
	else if (c == ' ')
		hkd_set_err(buf, len, "a space");
	else
		hkd_set_err(buf, len, "a control character (0x%02X)", c);
}

/* Check a domain: an address literal "[...]" or LDH labels. */
static int check_domain(const char *p, size_t n, char *err, size_t errlen)
{
	char what[40];
	size_t i, label = 0;

	if (n == 0) {
		hkd_set_err(err, errlen, "nothing after '@'");
		return -1;
	}
	if (p[0] == '[') {
		if (n < 3 || p[n - 1] != ']') {
			hkd_set_err(err, errlen,
			            "an address literal must be '[...]'");
			return -1;
		}
		for (i = 1; i + 1 < n; i++) {
			if (!is_alnum((unsigned char)p[i]) && p[i] != ':' &&
			    p[i] != '.') {
				describe_char(what, sizeof(what),
				              (unsigned char)p[i]);
				hkd_set_err(err, errlen,
				            "%s in the address literal", what);
				return -1;
			}
		}
		return 0;
	}
	if (n > DOMAIN_MAX) {
		hkd_set_err(err, errlen, "the domain is longer than %d bytes",
		            DOMAIN_MAX);
		return -1;
	}
	for (i = 0; i <= n; i++) {
		if (i == n || p[i] == '.') {
			if (label == 0) {
				hkd_set_err(err, errlen,
				            "the domain has an empty label (a "
				            "misplaced '.')");
				return -1;
			}
			if (label > LABEL_MAX) {
				hkd_set_err(
				    err, errlen,
				    "a domain label is longer than %d bytes",
				    LABEL_MAX);
				return -1;
			}
			if (p[i - 1] == '-' || p[i - label] == '-') {
				hkd_set_err(
				    err, errlen,
				    "a domain label starts or ends with '-'");
				return -1;
			}
			label = 0;
			continue;
		}
		if (!is_alnum((unsigned char)p[i]) && p[i] != '-') {
			describe_char(what, sizeof(what), (unsigned char)p[i]);
			hkd_set_err(err, errlen, "%s in the domain", what);
			return -1;
		}
		label++;
	}
	return 0;
}

/* Check an addr-spec of n bytes: dot-atom "@" domain, ASCII only. */
static int check_addr(const char *p, size_t n, char *err, size_t errlen)
{
	char what[40];
	const char *at;
	size_t i, nlocal;

	if (n == 0) {
		hkd_set_err(err, errlen, "the address is empty");
		return -1;
	}
	if (n > SMTP_ADDR_MAX) {
		hkd_set_err(err, errlen, "the address is longer than %d bytes",
		            SMTP_ADDR_MAX);
		return -1;
	}
	for (i = 0; i < n; i++) {
		if ((unsigned char)p[i] >= 0x80) {
			hkd_set_err(
			    err, errlen,
			    "non-ASCII address (internationalised addresses "
			    "are not supported; write the domain in punycode)");
			return -1;
		}
	}
	at = memchr(p, '@', n);
	if (!at) {
		hkd_set_err(err, errlen, "missing '@'");
		return -1;
	}
	nlocal = (size_t)(at - p);
	if (nlocal == 0) {
		hkd_set_err(err, errlen, "nothing before '@'");
		return -1;
	}
	if (nlocal > LOCAL_MAX) {
		hkd_set_err(err, errlen,
		            "the local part is longer than %d bytes",
		            LOCAL_MAX);
		return -1;
	}
	for (i = 0; i < nlocal; i++) {
		if (p[i] == '.') {
			if (i == 0 || i + 1 == nlocal || p[i - 1] == '.') {
				hkd_set_err(
				    err, errlen,
				    "a misplaced '.' in the local part");
				return -1;
			}
		} else if (!is_atext((unsigned char)p[i])) {
			describe_char(what, sizeof(what), (unsigned char)p[i]);
			hkd_set_err(
			    err, errlen,
			    "%s in the local part (quoted local parts are not "
			    "supported)",
			    what);
			return -1;
		}
	}
	if (memchr(at + 1, '@', n - nlocal - 1)) {
		hkd_set_err(err, errlen, "more than one '@'");
		return -1;
	}
	return check_domain(at + 1, n - nlocal - 1, err, errlen);
}

static char *dup_range(const char *p, size_t n)
{
	char *s = malloc(n + 1);

	if (s) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

/*
 * The display name of "\"...\" <addr>": the quoted string starting at s
 * (at its opening quote), unescaped, into *out (owned). Sets *after to the
 * byte after the closing quote.
 */
static int parse_quoted(const char *s, const char *end, char **out,
                        const char **after, char *err, size_t errlen)
{
	char *d = malloc((size_t)(end - s) + 1);
	const char *p = s + 1;
	size_t n = 0;

	if (!d) {
		hkd_set_err(err, errlen, "out of memory");
		return -1;
	}
	while (p < end && *p != '"') {
		if (*p == '\\' && p + 1 < end)
			p++;
		d[n++] = *p++;
	}
	if (p >= end) {
		free(d);
		hkd_set_err(err, errlen,
		            "the quoted display name has no closing '\"'");
		return -1;
	}
	d[n] = '\0';
	*out = d;
	*after = p + 1;
	return 0;
}

int smtp_mailbox_parse(const char *text, struct smtp_mailbox *mb, char *err,
                       size_t errlen)
{
	const char *s = text, *end = text + strlen(text);
	const char *ab, *ae, *lt;
	char *display = NULL;

	memset(mb, 0, sizeof(*mb));
	while (s < end && is_wsp((unsigned char)*s))
		s++;
	while (end > s && is_wsp((unsigned char)end[-1]))
		end--;
	if (s == end) {
		hkd_set_err(err, errlen, "the address is empty");
		return -1;
	}
	if (end[-1] != '>') {
		if (memchr(s, '<', (size_t)(end - s)) ||
		    memchr(s, '>', (size_t)(end - s))) {
			hkd_set_err(
			    err, errlen,
			    "text after the '<address>' or a '<' without "
			    "'>'");
			return -1;
		}
		ab = s;
		ae = end;
		goto check;
	}
	if (*s == '"') {
		if (parse_quoted(s, end, &display, &lt, err, errlen) < 0)
			return -1;
		while (lt < end && is_wsp((unsigned char)*lt))
			lt++;
		if (lt >= end || *lt != '<') {
			hkd_set_err(
			    err, errlen,
			    "expected '<address>' after the quoted display "
			    "name");
			goto fail;
		}
	} else {
		const char *de;

		lt = memchr(s, '<', (size_t)(end - s));
		if (!lt) {
			hkd_set_err(err, errlen, "a '>' without '<'");
			return -1;
		}
		de = lt;
		while (de > s && is_wsp((unsigned char)de[-1]))
			de--;
		if (memchr(s, '"', (size_t)(de - s)) ||
		    memchr(s, '>', (size_t)(de - s))) {
			hkd_set_err(
			    err, errlen,
			    "a '\"' or '>' in the display name (put the whole "
			    "name in double quotes)");
			return -1;
		}
		if (de > s && !(display = dup_range(s, (size_t)(de - s)))) {
			hkd_set_err(err, errlen, "out of memory");
			return -1;
		}
	}
	ab = lt + 1;
	ae = end - 1;
	if (memchr(ab, '<', (size_t)(ae - ab)) ||
	    memchr(ab, '>', (size_t)(ae - ab))) {
		hkd_set_err(err, errlen, "more than one '<' or '>'");
		goto fail;
	}
check:
	if (check_addr(ab, (size_t)(ae - ab), err, errlen) < 0)
		goto fail;
	mb->addr = dup_range(ab, (size_t)(ae - ab));
	if (!mb->addr) {
		hkd_set_err(err, errlen, "out of memory");
		goto fail;
	}
	/* An empty quoted name ("" <a@b>) is no name. */
	if (display && display[0] == '\0') {
		free(display);
		display = NULL;
	}
	mb->display = display;
	return 0;
fail:
	free(display);
	return -1;
}

/* ---- header fields ------------------------------------------------------ */

/* A header field being written: its buffer and the current line's width. */
struct hdr {
	struct smtp_buf *b;
	size_t col;
	int bare; /* nothing after "Name:" on this line yet */
};

static void hdr_begin(struct hdr *h, struct smtp_buf *b, const char *name)
{
	h->b = b;
	smtp_buf_puts(b, name);
	buf_byte(b, ':');
	h->col = strlen(name) + 1;
	h->bare = 1;
}

/*
 * Append a word preceded by the white space ws (0: none). Folding (CRLF
 * before ws) happens only at such white space, so unfolding, which removes
 * the CRLF alone, gives the value back unchanged.
 */
static void hdr_word(struct hdr *h, char ws, const char *p, size_t n)
{
	if (ws && !h->bare && h->col + 1 + n > HDR_WIDTH) {
		smtp_buf_put(h->b, "\r\n", 2);
		h->col = 0;
	}
	if (ws) {
		buf_byte(h->b, ws);
		h->col++;
	}
	smtp_buf_put(h->b, p, n);
	h->col += n;
	h->bare = 0;
}

static void hdr_end(struct hdr *h)
{
	smtp_buf_put(h->b, "\r\n", 2);
}

/* Append n bytes as base64 (RFC 4648, padded). */
static void put_base64(struct smtp_buf *b, const unsigned char *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                          "abcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	size_t i;

	for (i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16;

		if (i + 1 < n)
			v |= (unsigned)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		smtp_buf_put(b, q, 4);
	}
}

/*
 * Append s as RFC 2047 encoded words "=?utf-8?b?...?=", each holding whole
 * UTF-8 characters (a decoder joins adjacent encoded words without the
 * space between them). The first word is preceded by first_ws.
 */
static void hdr_encoded(struct hdr *h, char first_ws, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	struct smtp_buf w;
	char ws = first_ws;

	smtp_buf_init(&w);
	while (n > 0) {
		/* As much as fits the current line, when that is not too
		 * little; else a full word (on the next line, if folded). */
		size_t room = h->col + 1 + 12 < HDR_WIDTH
		                  ? (HDR_WIDTH - h->col - 1 - 12) / 4 * 3
		                  : 0;
		size_t max = room >= 12 && room < EW_CHUNK ? room : EW_CHUNK;
		size_t take = n < max ? n : max;

		/* Do not cut a character: back up to a lead byte. */
		if (take < n) {
			size_t t = take;

			while (t > 0 && (p[t] & 0xC0) == 0x80)
				t--;
			if (t > 0)
				take = t;
		}
		w.len = 0;
		smtp_buf_puts(&w, "=?utf-8?b?");
		put_base64(&w, p, take);
		smtp_buf_puts(&w, "?=");
		if (w.oom) {
			h->b->oom = 1;
			break;
		}
		hdr_word(h, ws, w.data, w.len);
		ws = ' ';
		p += take;
		n -= take;
	}
	smtp_buf_release(&w);
}

/*
 * 1 when an unstructured value can go out as it is: printable ASCII and
 * tabs, no white space at either end (parsers drop it), no "=?" (a reader
 * would try to decode it), no word too long for a line.
 */
static int plain_text(const char *s)
{
	size_t i, word = 0;

	if (is_wsp((unsigned char)s[0]))
		return 0;
	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!(c >= 0x20 && c < 0x7F) && c != '\t')
			return 0;
		if (c == '=' && s[i + 1] == '?')
			return 0;
		word = is_wsp(c) ? 0 : word + 1;
		if (word > PLAIN_WORD_MAX)
			return 0;
	}
	return i == 0 || !is_wsp((unsigned char)s[i - 1]);
}

void smtp_header_text(struct smtp_buf *b, const char *name, const char *value)
{
	struct hdr h;
	const char *p = value;

	hdr_begin(&h, b, name);
	if (!plain_text(value)) {
		hdr_encoded(&h, ' ', value, strlen(value));
		hdr_end(&h);
		return;
	}
	/* Words: the first after the usual space, each later one with the
	 * first white space character before it (the rest of a run of white
	 * space stays in the word, so no line is only white space). */
	while (*p) {
		const char *w = p;
		char ws = ' ';

		if (p != value) {
			ws = *p;
			w = ++p;
		}
		while (*p && is_wsp((unsigned char)*p))
			p++;
		while (*p && !is_wsp((unsigned char)*p))
			p++;
		hdr_word(&h, ws, w, (size_t)(p - w));
	}
	hdr_end(&h);
}

/* 1 when the display name is atoms separated by single spaces. */
static int display_atoms(const char *s)
{
	size_t i, atom = 0;

	for (i = 0; s[i]; i++) {
		if (s[i] == ' ') {
			if (atom == 0)
				return 0;
			atom = 0;
		} else if (!is_atext((unsigned char)s[i]) ||
		           (s[i] == '=' && s[i + 1] == '?') ||
		           ++atom > QUOTED_MAX) {
			return 0;
		}
	}
	return atom > 0;
}

/* 1 when the display name can be a quoted-string on one line. */
static int display_quotable(const char *s)
{
	size_t i, n = 0;

	for (i = 0; s[i]; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c < 0x20 || c >= 0x7F)
			return 0;
		n += (c == '"' || c == '\\') ? 2 : 1;
	}
	return n <= QUOTED_MAX;
}

/* Append one mailbox: [display] <addr>, or the bare addr. */
static void hdr_mailbox(struct hdr *h, const struct smtp_mailbox *mb)
{
	const char *d = mb->display;
	struct smtp_buf q;
	size_t i;

	if (!d) {
		hdr_word(h, ' ', mb->addr, strlen(mb->addr));
		return;
	}
	if (display_atoms(d)) {
		const char *p = d;

		while (*p) {
			const char *e = strchr(p, ' ');
			size_t n = e ? (size_t)(e - p) : strlen(p);

			hdr_word(h, ' ', p, n);
			p += n + (e ? 1 : 0);
		}
	} else if (display_quotable(d)) {
		smtp_buf_init(&q);
		buf_byte(&q, '"');
		for (i = 0; d[i]; i++) {
			if (d[i] == '"' || d[i] == '\\')
				buf_byte(&q, '\\');
			buf_byte(&q, d[i]);
		}
		buf_byte(&q, '"');
		if (q.oom)
			h->b->oom = 1;
		else
			hdr_word(h, ' ', q.data, q.len);
		smtp_buf_release(&q);
	} else {
		hdr_encoded(h, ' ', d, strlen(d));
	}
	smtp_buf_init(&q);
	buf_byte(&q, '<');
	smtp_buf_puts(&q, mb->addr);
	buf_byte(&q, '>');
	if (q.oom)
		h->b->oom = 1;
	else
		hdr_word(h, ' ', q.data, q.len);
	smtp_buf_release(&q);
}

void smtp_header_mailboxes(struct smtp_buf *b, const char *name,
                           const struct smtp_mailbox *mbs, size_t n)
{
	struct hdr h;
	size_t i;

	hdr_begin(&h, b, name);
	for (i = 0; i < n; i++) {
		if (i > 0) {
			buf_byte(b, ',');
			h.col++;
		}
		hdr_mailbox(&h, &mbs[i]);
	}
	hdr_end(&h);
}

void smtp_header_date(struct smtp_buf *b, time_t t)
{
	static const char *const days[] = {"Sun", "Mon", "Tue", "Wed",
	                                   "Thu", "Fri", "Sat"};
	static const char *const months[] = {"Jan", "Feb", "Mar", "Apr",
	                                     "May", "Jun", "Jul", "Aug",
	                                     "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	char line[64];

	/* Names spelt out here: strftime() would follow the locale. */
	if (!gmtime_r(&t, &tm) || tm.tm_wday < 0 || tm.tm_wday > 6 ||
	    tm.tm_mon < 0 || tm.tm_mon > 11) {
		b->oom = 1; /* cannot happen for a time(NULL) */
		return;
	}
	snprintf(line, sizeof(line),
	         "Date: %s, %02d %s %04d %02d:%02d:%02d +0000\r\n",
	         days[tm.tm_wday], tm.tm_mday, months[tm.tm_mon],
	         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
	smtp_buf_puts(b, line);
}

/* Append s with every byte outside [A-Za-z0-9_-] as "=XX". */
static void put_msgid_part(struct smtp_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p = (const unsigned char *)s;
	char e[3];

	for (; *p; p++) {
		if (is_alnum(*p) || *p == '_' || *p == '-') {
			buf_byte(b, (char)*p);
			continue;
		}
		e[0] = '=';
		e[1] = hex[*p >> 4];
		e[2] = hex[*p & 15];
		smtp_buf_put(b, e, 3);
	}
}

void smtp_header_message_id(struct smtp_buf *b, const char *event_id,
                            const char *target)
{
	smtp_buf_puts(b, "Message-ID: <");
	put_msgid_part(b, event_id[0] ? event_id : "=");
	buf_byte(b, '@');
	if (target[0]) {
		put_msgid_part(b, target);
		buf_byte(b, '.');
	}
	smtp_buf_puts(b, "hookd>\r\n");
}

/* ---- body --------------------------------------------------------------- */

/* Encode one line (without its line break) and end it with CRLF. */
static void qp_line(struct smtp_buf *b, const unsigned char *p, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, col = 0;
	char tok[3];

	for (i = 0; i < n; i++) {
		unsigned char c = p[i];
		size_t k = 1;

		tok[0] = (char)c;
		/* Literal: printable ASCII but '=', and white space that is
		 * not at the end of the line (it would be lost there). */
		if (!((c >= 33 && c <= 126 && c != '=') ||
		      (is_wsp(c) && i + 1 < n))) {
			tok[0] = '=';
			tok[1] = hex[c >> 4];
			tok[2] = hex[c & 15];
			k = 3;
		}
		/* Leave room for the '=' of a soft line break. */
		if (col + k > QP_WIDTH - 1) {
			smtp_buf_put(b, "=\r\n", 3);
			col = 0;
		}
		smtp_buf_put(b, tok, k);
		col += k;
	}
	smtp_buf_put(b, "\r\n", 2);
}

void smtp_body_qp(struct smtp_buf *b, const char *text, size_t len)
{
	const unsigned char *p = (const unsigned char *)text;
	const unsigned char *end = p + len;

	while (p < end) {
		const unsigned char *e = p;

		while (e < end && *e != '\r' && *e != '\n')
			e++;
		qp_line(b, p, (size_t)(e - p));
		if (e < end && *e == '\r' && e + 1 < end && e[1] == '\n')
			e++;
		p = e < end ? e + 1 : e;
	}
}
