/*
 * Logging. Records are formatted into a private buffer and written with a
 * single write(2) to stderr: atomic for lines up to PIPE_BUF on pipes, and
 * never interleaved mid-line by stdio buffering.
 */

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

#define LINE_MAX_BYTES 8192

static enum hkd_log_format log_format = HKD_LOG_TEXT;
static enum hookd_log_level log_level = HOOKD_LOG_INFO;

static const char *const level_names[] = {"error", "warn", "info", "debug"};
static const char *const level_upper[] = {"ERROR", "WARN", "INFO", "DEBUG"};

void hkd_log_setup(enum hkd_log_format format, enum hookd_log_level level)
{
	log_format = format;
	log_level = level;
}

int hkd_log_parse_format(const char *s, enum hkd_log_format *out)
{
	if (strcmp(s, "text") == 0)
		*out = HKD_LOG_TEXT;
	else if (strcmp(s, "json") == 0)
		*out = HKD_LOG_JSON;
	else
		return -1;
	return 0;
}

int hkd_log_parse_level(const char *s, enum hookd_log_level *out)
{
	for (int i = 0; i < 4; i++) {
		if (strcmp(s, level_names[i]) == 0) {
			*out = (enum hookd_log_level)i;
			return 0;
		}
	}
	return -1;
}

/* A bounded string builder that silently truncates at the end. */
struct line {
	char buf[LINE_MAX_BYTES];
	size_t len;
};

static void put(struct line *l, const char *s, size_t n)
{
	size_t room = sizeof(l->buf) - 2 - l->len; /* keep room for "\n\0" */
	if (n > room)
		n = room;
	memcpy(l->buf + l->len, s, n);
	l->len += n;
}

static void puts_(struct line *l, const char *s)
{
	put(l, s, strlen(s));
}

/* Append s as the inside of a JSON string. */
static void put_json(struct line *l, const char *s)
{
	char esc[6 * 64];
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i += 64) {
		size_t k = n - i < 64 ? n - i : 64;
		put(l, esc, (size_t)(hkd_json_escape(esc, s + i, k) - esc));
	}
}

/* Append s as a text-format value: bare when safe, else quoted. */
static void put_text_value(struct line *l, const char *s)
{
	int bare = *s != '\0';
	for (const char *p = s; *p; p++)
		if (*p == ' ' || *p == '"' || *p == '=' ||
		    (unsigned char)*p < 0x20)
			bare = 0;
	if (bare) {
		puts_(l, s);
		return;
	}
	put(l, "\"", 1);
	put_json(l, s);
	put(l, "\"", 1);
}

static void put_time(struct line *l)
{
	char tbuf[40];
	hkd_format_time(hkd_now_ms(), tbuf, sizeof(tbuf));
	puts_(l, tbuf);
}

static void begin(struct line *l, enum hookd_log_level level, const char *msg)
{
	l->len = 0;
	if (log_format == HKD_LOG_JSON) {
		puts_(l, "{\"ts\":\"");
		put_time(l);
		puts_(l, "\",\"level\":\"");
		puts_(l, level_names[level]);
		puts_(l, "\",\"msg\":\"");
		put_json(l, msg);
		puts_(l, "\"");
	} else {
		put_time(l);
		puts_(l, " ");
		puts_(l, level_upper[level]);
		puts_(l, " ");
		puts_(l, msg);
	}
}

static void field(struct line *l, const char *key, const char *value)
{
	if (log_format == HKD_LOG_JSON) {
		puts_(l, ",\"");
		put_json(l, key);
		puts_(l, "\":\"");
		put_json(l, value ? value : "");
		puts_(l, "\"");
	} else {
		puts_(l, " ");
		puts_(l, key);
		puts_(l, "=");
		put_text_value(l, value ? value : "");
	}
}

static void finish(struct line *l)
{
	if (log_format == HKD_LOG_JSON) {
		if (l->len > sizeof(l->buf) - 4)
			l->len = sizeof(l->buf) - 4;
		l->buf[l->len++] = '}';
	}
	l->buf[l->len++] = '\n';
	ssize_t off = 0;
	while ((size_t)off < l->len) {
		ssize_t w =
		    write(STDERR_FILENO, l->buf + off, l->len - (size_t)off);
		if (w <= 0)
			break;
		off += w;
	}
}

void hkd_log_kv(enum hookd_log_level level, const char *msg, ...)
{
	struct line l;
	va_list ap;
	if (level > log_level)
		return;
	begin(&l, level, msg);
	va_start(ap, msg);
	for (;;) {
		const char *k = va_arg(ap, const char *);
		if (!k)
			break;
		field(&l, k, va_arg(ap, const char *));
	}
	va_end(ap);
	finish(&l);
}

void hkd_log(enum hookd_log_level level, const char *msg, const char *fmt, ...)
{
	struct line l;
	char detail[4096];
	va_list ap;
	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	begin(&l, level, msg);
	field(&l, "detail", detail);
	finish(&l);
}
