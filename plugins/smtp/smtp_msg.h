/*
 * smtp_msg — the pieces of an RFC 5322 message the smtp plugin sends:
 * mailbox parsing and validation, header fields (folded, RFC 2047-encoded
 * when not plain ASCII), the Date and Message-ID fields, and a
 * quoted-printable body.
 *
 * Pure functions of their arguments: no host services, no globals, safe on
 * any thread. Everything is written into a growable buffer that remembers an
 * allocation failure instead of reporting each one.
 */
#ifndef HOOKD_SMTP_MSG_H
#define HOOKD_SMTP_MSG_H

#include <stddef.h>
#include <time.h>

/* Longest addr-spec accepted (RFC 5321 4.5.3.1.3: a path is 256 octets
 * with its angle brackets). */
#define SMTP_ADDR_MAX 254

/* A growable byte buffer, NUL-terminated whenever len > 0. */
struct smtp_buf {
	char *data; /* owned; NULL until something is written */
	size_t len;
	size_t cap;
	int oom; /* an allocation failed: the contents are incomplete */
};

void smtp_buf_init(struct smtp_buf *b);
/* Free the contents; b stays usable (empty). */
void smtp_buf_release(struct smtp_buf *b);
void smtp_buf_put(struct smtp_buf *b, const void *p, size_t n);
void smtp_buf_puts(struct smtp_buf *b, const char *s);

/* One mailbox: an optional display name and an addr-spec. */
struct smtp_mailbox {
	char *display; /* owned, UTF-8, NULL when there is none */
	char *addr;    /* owned, "local@domain", ASCII */
};

/* Free what mb holds (mb itself is the caller's). */
void smtp_mailbox_release(struct smtp_mailbox *mb);

/*
 * Parse "local@domain", "<local@domain>", "Name <local@domain>" or
 * "\"Quoted, Name\" <local@domain>" into mb (caller releases it with
 * smtp_mailbox_release). The address must be a dot-atom local part (no
 * quoted local parts) at an ASCII host name or an address literal. Returns
 * 0, or -1 with the reason (without the text itself) in err.
 */
int smtp_mailbox_parse(const char *text, struct smtp_mailbox *mb, char *err,
                       size_t errlen);

/* 1 when s holds a CR or an LF. */
int smtp_has_line_break(const char *s);

/*
 * Append one header field "Name: value\r\n" with an unstructured value
 * (Subject, X-...): as it is when it is plain printable ASCII, else as
 * RFC 2047 "B" encoded words of UTF-8; folded so that lines stay short.
 * The value must hold no CR or LF (check with smtp_has_line_break): they
 * would end up encoded, never as a line break.
 */
void smtp_header_text(struct smtp_buf *b, const char *name, const char *value);

/* Append "Name: mailbox, mailbox\r\n", folded between mailboxes. */
void smtp_header_mailboxes(struct smtp_buf *b, const char *name,
                           const struct smtp_mailbox *mbs, size_t n);

/* Append "Date: Fri, 28 Nov 2025 14:40:00 +0000\r\n" for time t (UTC). */
void smtp_header_date(struct smtp_buf *b, time_t t);

/*
 * Append "Message-ID: <ID@TARGET.hookd>\r\n", where ID and TARGET are the
 * event id and handler name with every byte outside [A-Za-z0-9_-] written
 * as "=XX" (upper-case hex), so the msg-id is valid whatever they hold and
 * the same for every attempt of one delivery.
 */
void smtp_header_message_id(struct smtp_buf *b, const char *event_id,
                            const char *target);

/*
 * Append text as a quoted-printable body (RFC 2045 6.7): CRLF, LF and a
 * lone CR each end a line; every output line ends in CRLF and is at most
 * 76 characters long. Empty text appends nothing.
 */
void smtp_body_qp(struct smtp_buf *b, const char *text, size_t len);

#endif /* HOOKD_SMTP_MSG_H */
