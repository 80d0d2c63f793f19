/*
 * hookctl's output for people: aligned tables and `label: value` blocks,
 * with every text from the API made safe for a terminal.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hookctl.h"

/* Columns are this many spaces apart. */
#define GAP 2

char *ctl_printable(const char *s, int keep_newlines)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	char *out = malloc(strlen((const char *)p) + 1), *o = out;
	if (!out)
		return NULL;
	for (; *p; p++) {
		if (*p == '\n' && keep_newlines)
			*o++ = '\n';
		else if (*p == '\t' || *p == '\n')
			*o++ = ' ';
		else if (*p < 0x20 || *p == 0x7f)
			*o++ = '?';
		else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) {
			/* U+0080..U+009F: C1 controls (CSI is U+009B). */
			*o++ = '?';
			p++;
		} else
			*o++ = (char)*p;
	}
	*o = '\0';
	return out;
}

const char *ctl_str(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));
	return s ? s : "";
}

/* Terminal columns of the first n bytes of UTF-8 text s (one a character). */
static size_t width(const char *s, size_t n)
{
	size_t w = 0;
	for (size_t i = 0; i < n && s[i]; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			w++;
	return w;
}

/* Width of a cell: of its first line in a multi-line column. */
static size_t cell_width(const char *s)
{
	return width(s, strcspn(s, "\n"));
}

void ctl_table_init(struct ctl_table *t, size_t ncols,
                    const char *const *headers)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols;
	t->head = headers;
}

int ctl_table_add(struct ctl_table *t, const char *const *cells)
{
	size_t base = t->nrows * t->ncols;
	if (t->nrows == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 16;
		char **p = realloc(t->cells, cap * t->ncols * sizeof(*p));
		if (!p)
			return -1;
		t->cells = p;
		t->cap = cap;
	}
	for (size_t i = 0; i < t->ncols; i++) {
		int last = i + 1 == t->ncols;
		t->cells[base + i] = ctl_printable(cells[i] ? cells[i] : "-",
		                                   last && t->multiline);
		if (!t->cells[base + i]) {
			while (i-- > 0)
				free(t->cells[base + i]);
			return -1;
		}
	}
	t->nrows++;
	return 0;
}

/* Print one row (ncols cells) padded to widths, without trailing blanks. */
static void print_row(const struct ctl_table *t, const char *const *row,
                      const size_t *widths, FILE *out, int indent)
{
	size_t last = t->ncols - 1, used = 0, pending = (size_t)indent;
	const char *rest;

	for (size_t i = 0; i < t->ncols; i++) {
		const char *s = row[i];
		size_t n = i == last ? strcspn(s, "\n") : strlen(s);
		if (n > 0) {
			/* Blanks only before text: none trail the line. */
			fprintf(out, "%*s%.*s", (int)pending, "", (int)n, s);
			used += pending + width(s, n);
			pending = 0;
		}
		if (i < last) {
			size_t col_end = (size_t)indent, k;
			for (k = 0; k <= i; k++)
				col_end += widths[k] + GAP;
			pending = col_end - used;
		}
	}
	fputc('\n', out);
	/* The further lines of a multi-line last cell, under its first. */
	rest = strchr(row[last], '\n');
	while (rest) {
		const char *line = rest + 1;
		size_t n = strcspn(line, "\n"), col = (size_t)indent;
		for (size_t k = 0; k < last; k++)
			col += widths[k] + GAP;
		if (n > 0)
			fprintf(out, "%*s%.*s", (int)col, "", (int)n, line);
		fputc('\n', out);
		rest = strchr(line, '\n');
	}
}

void ctl_table_print(const struct ctl_table *t, FILE *out, int indent)
{
	size_t *widths = calloc(t->ncols, sizeof(*widths));
	if (!widths)
		return;
	for (size_t i = 0; i < t->ncols; i++) {
		if (t->head)
			widths[i] = width(t->head[i], strlen(t->head[i]));
		for (size_t r = 0; r < t->nrows; r++) {
			size_t w = cell_width(t->cells[r * t->ncols + i]);
			if (w > widths[i])
				widths[i] = w;
		}
	}
	if (t->head)
		print_row(t, t->head, widths, out, indent);
	for (size_t r = 0; r < t->nrows; r++)
		print_row(t, (const char *const *)&t->cells[r * t->ncols],
		          widths, out, indent);
	free(widths);
}

void ctl_table_show(const struct ctl_table *t, const char *none)
{
	if (t->nrows == 0)
		printf("%s\n", none);
	else
		ctl_table_print(t, stdout, 0);
}

void ctl_table_release(struct ctl_table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}

/* Keep p (malloc'd) in s; p, or "" when p is NULL or cannot be kept. */
static const char *keep(struct ctl_scratch *s, char *p)
{
	if (!p)
		return "";
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 8;
		char **v = realloc(s->v, cap * sizeof(*v));
		if (!v) {
			free(p);
			return "";
		}
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n++] = p;
	return p;
}

const char *ctl_text(struct ctl_scratch *s, const json_t *v)
{
	if (!v)
		return NULL;
	switch (json_typeof(v)) {
	case JSON_STRING:
		return json_string_value(v);
	case JSON_INTEGER:
		return ctl_fmt(s, "%" JSON_INTEGER_FORMAT,
		               json_integer_value(v));
	case JSON_REAL:
		return ctl_fmt(s, "%g", json_real_value(v));
	case JSON_TRUE:
		return "yes";
	case JSON_FALSE:
		return "no";
	case JSON_NULL:
		return NULL;
	default:
		return keep(s, json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY));
	}
}

const char *ctl_pretty(struct ctl_scratch *s, const json_t *v)
{
	if (!v)
		return NULL;
	return keep(s, json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY));
}

const char *ctl_fmt(struct ctl_scratch *s, const char *fmt, ...)
{
	va_list ap;
	char *p;
	int n;
	va_start(ap, fmt);
	n = vasprintf(&p, fmt, ap);
	va_end(ap);
	return keep(s, n < 0 ? NULL : p);
}

const char *ctl_joined(struct ctl_scratch *s, const json_t *list)
{
	const char *out = NULL;
	size_t i;
	json_t *v;
	json_array_foreach(list, i, v)
	{
		const char *t = ctl_text(s, v);
		out = out ? ctl_fmt(s, "%s, %s", out, t ? t : "null") : t;
	}
	return out;
}

void ctl_scratch_release(struct ctl_scratch *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	memset(s, 0, sizeof(*s));
}
