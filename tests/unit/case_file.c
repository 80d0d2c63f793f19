/*
 * Case files for the unit tests (see case_file.h).
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "case_file.h"

#ifndef HKD_TEST_DATA_DIR
#error "HKD_TEST_DATA_DIR must name tests/data (see tests/Makefile.am.inc)"
#endif

static void file_error(struct case_file *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void file_error(struct case_file *f, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(f->error, sizeof(f->error), "%s: %s", f->path, what);
}

/*
 * Parse the file and check its shape: an object, "vector" an object when
 * present, every array one of objects with a string "name". Each case
 * then takes what it lacks from "vector" (shared, not copied).
 */
void case_file_load(struct case_file *f, const char *name)
{
	json_error_t jerr;
	json_t *vector, *member, *c;
	const char *key;
	size_t i;

	memset(f, 0, sizeof(*f));
	snprintf(f->path, sizeof(f->path), "%s/%s", HKD_TEST_DATA_DIR, name);
	f->root = json_load_file(f->path, JSON_REJECT_DUPLICATES, &jerr);
	if (!f->root) {
		if (jerr.line > 0)
			snprintf(f->error, sizeof(f->error), "%s:%d:%d: %s",
			         f->path, jerr.line, jerr.column, jerr.text);
		else
			file_error(f, "%s", jerr.text);
		return;
	}
	if (!json_is_object(f->root)) {
		file_error(f, "not a JSON object");
		goto fail;
	}
	vector = json_object_get(f->root, "vector");
	if (vector && !json_is_object(vector)) {
		file_error(f, "\"vector\" is not an object");
		goto fail;
	}
	json_object_foreach(f->root, key, member)
	{
		if (!json_is_array(member))
			continue;
		json_array_foreach(member, i, c)
		{
			if (!json_is_object(c) ||
			    !json_is_string(json_object_get(c, "name"))) {
				file_error(f,
				           "%s[%zu] is not an object with a "
				           "\"name\"",
				           key, i);
				goto fail;
			}
			if (vector && json_object_update_missing(c, vector)) {
				file_error(f, "out of memory");
				goto fail;
			}
		}
	}
	return;
fail:
	json_decref(f->root);
	f->root = NULL;
}

void case_file_release(struct case_file *f)
{
	json_decref(f->root);
	f->root = NULL;
}

int case_file_count(const struct case_file *f, const char *array)
{
	const json_t *a = f->root ? json_object_get(f->root, array) : NULL;

	if (!json_is_array(a) || json_array_size(a) == 0)
		return 1;
	return (int)json_array_size(a);
}

struct test_case case_file_get(const struct case_file *f, const char *array,
                               int index)
{
	struct test_case c = {f, array, index, NULL, NULL};
	const json_t *a;

	ck_assert_msg(f->root != NULL, "%s", f->error);
	a = json_object_get(f->root, array);
	ck_assert_msg(json_is_array(a), "%s: no array \"%s\"", f->path, array);
	ck_assert_msg(json_array_size(a) > 0, "%s: \"%s\" holds no cases",
	              f->path, array);
	ck_assert_msg(index >= 0 && (size_t)index < json_array_size(a),
	              "%s: %s[%d] does not exist", f->path, array, index);
	c.obj = json_array_get(a, (size_t)index);
	c.name = json_string_value(json_object_get(c.obj, "name"));
	return c;
}

struct test_case case_file_vector(const struct case_file *f)
{
	struct test_case c = {f, "vector", -1, "vector", NULL};

	ck_assert_msg(f->root != NULL, "%s", f->error);
	c.obj = json_object_get(f->root, "vector");
	ck_assert_msg(c.obj != NULL, "%s: no \"vector\"", f->path);
	return c;
}

/* A member of c; fails the running test when it is missing. */
static const json_t *member_of(const struct test_case *c, const char *member)
{
	const json_t *v = json_object_get(c->obj, member);

	if (c->index < 0)
		ck_assert_msg(v != NULL, "%s: %s: no \"%s\"", c->file->path,
		              c->array, member);
	else
		ck_assert_msg(v != NULL, "%s: %s[%d] (%s): no \"%s\"",
		              c->file->path, c->array, c->index, c->name,
		              member);
	return v;
}

/* Fail the running test: member of c is not of the type wanted. */
static void wrong_type(const struct test_case *c, const char *member,
                       const char *wanted) __attribute__((noreturn));

static void wrong_type(const struct test_case *c, const char *member,
                       const char *wanted)
{
	if (c->index < 0)
		ck_abort_msg("%s: %s: \"%s\" is not %s", c->file->path,
		             c->array, member, wanted);
	ck_abort_msg("%s: %s[%d] (%s): \"%s\" is not %s", c->file->path,
	             c->array, c->index, c->name, member, wanted);
}

const char *case_str(const struct test_case *c, const char *member)
{
	const json_t *v = member_of(c, member);

	if (!json_is_string(v))
		wrong_type(c, member, "a string");
	return json_string_value(v);
}

const char *case_str_or_null(const struct test_case *c, const char *member)
{
	const json_t *v = member_of(c, member);

	if (json_is_null(v))
		return NULL;
	if (!json_is_string(v))
		wrong_type(c, member, "a string or null");
	return json_string_value(v);
}

int64_t case_int(const struct test_case *c, const char *member)
{
	const json_t *v = member_of(c, member);

	if (!json_is_integer(v))
		wrong_type(c, member, "an integer");
	return (int64_t)json_integer_value(v);
}

size_t case_strs(const struct test_case *c, const char *member,
                 const char **out, size_t max)
{
	const json_t *v = member_of(c, member), *e;
	char wanted[64];
	size_t i;

	snprintf(wanted, sizeof(wanted),
	         "an array of at most %zu strings and nulls", max);
	if (!json_is_array(v) || json_array_size(v) > max)
		wrong_type(c, member, wanted);
	json_array_foreach(v, i, e)
	{
		if (!json_is_string(e) && !json_is_null(e))
			wrong_type(c, member, wanted);
		out[i] = json_string_value(e);
	}
	return json_array_size(v);
}

const char *case_one_str(const struct test_case *c, const char *member)
{
	const char *s = NULL;

	if (case_strs(c, member, &s, 1) != 1 || !s)
		wrong_type(c, member, "an array of one string");
	return s;
}

int case_files_run(const struct case_file_use *files, size_t n,
                   Suite *(*make_suite)(void))
{
	SRunner *sr;
	int failures;

	for (size_t i = 0; i < n; i++)
		case_file_load(files[i].file, files[i].name);
	sr = srunner_create(make_suite());
	srunner_run_all(sr, CK_ENV);
	failures = srunner_ntests_failed(sr);
	srunner_free(sr);
	for (size_t i = 0; i < n; i++)
		case_file_release(files[i].file);
	return failures == 0 ? 0 : 1;
}
