/*
 * Test cases kept as data: JSON files under tests/data, which the build
 * names HKD_TEST_DATA_DIR (the source tree's, so an out-of-tree build and
 * distcheck read them where they are).
 *
 * A case file is one object: "about" says what its cases are and how they
 * are read; "vector", when there is one, is a worked example; every other
 * array is a list of cases, each an object with a "name", which takes
 * from "vector" every member it does not give itself.
 *
 * A file that cannot be read or parsed, and an array that is missing or
 * empty, fail the tests that read them, naming the file (and jansson's
 * line:column): counted as one case, never skipped. So does a case that
 * lacks a member a test reads, or holds one of another type.
 */
#ifndef HOOKD_TEST_CASE_FILE_H
#define HOOKD_TEST_CASE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include <check.h>
#include <jansson.h>

struct case_file {
	char path[1024];
	json_t *root;     /* NULL when the file did not load */
	char error[1792]; /* then why: "PATH:LINE:COLUMN: TEXT" */
};

/* One case, borrowed from its file. */
struct test_case {
	const struct case_file *file;
	const char *array; /* the array it is in, or "vector" */
	int index;         /* its place there (-1 for "vector") */
	const char *name;
	const json_t *obj;
};

/* Load HKD_TEST_DATA_DIR/name, e.g. "signatures/github.json"; f keeps what
 * went wrong for the tests to report. Release with case_file_release. */
void case_file_load(struct case_file *f, const char *name);
void case_file_release(struct case_file *f);

/*
 * How many cases array holds, for tcase_add_loop_test: 1 when the file did
 * not load or array is missing or empty, so that one case runs and fails
 * saying why.
 */
int case_file_count(const struct case_file *f, const char *array);

/* Case index of array; fails the running test when there is none. */
struct test_case case_file_get(const struct case_file *f, const char *array,
                               int index);

/* The file's "vector" as a case; fails the running test without one. */
struct test_case case_file_vector(const struct case_file *f);

/*
 * A case's members (borrowed from the file). Each fails the running test,
 * naming the file, the case and the member, when the member is missing or
 * of another type. case_strs stores the elements of an array of strings
 * and nulls (NULL) in out and returns how many; more than max fails.
 */
const char *case_str(const struct test_case *c, const char *member);
const char *case_str_or_null(const struct test_case *c, const char *member);
int64_t case_int(const struct test_case *c, const char *member);
size_t case_strs(const struct test_case *c, const char *member,
                 const char **out, size_t max);
/* The string of an array member that holds that one string alone. */
const char *case_one_str(const struct test_case *c, const char *member);

/* A case file a test program reads, and its name under tests/data. */
struct case_file_use {
	struct case_file *file;
	const char *name;
};

/*
 * The main() of a test program over case files: load the n files, make
 * the suite (after loading, so that its loop tests count the cases), run
 * it, release the files. Returns the exit status, 0 when every test
 * passed.
 */
int case_files_run(const struct case_file_use *files, size_t n,
                   Suite *(*make_suite)(void));

#endif /* HOOKD_TEST_CASE_FILE_H */
