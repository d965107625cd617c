/*
 * tests/tsanrun: the part of Criterion's API that postern's unit tests use,
 * for the ThreadSanitizer build only (./configure --enable-tsan).
 *
 * Criterion cannot start under ThreadSanitizer: its sandbox library maps
 * two shared arenas at random addresses between 0x200000000000 and
 * 0x600000000000, and TSan reserves nearly all of that range for its shadow
 * and metadata, so the mapping fails ("Could not initialize inheritable
 * arena") or, when only the first succeeds, the runner crashes.  This
 * directory shadows <criterion/criterion.h> in that build, so the test
 * files compile unchanged, and runner.c replaces libcriterion: every test
 * runs in a forked child, with Criterion's order of suite and test set-up
 * and tear-down, and fails on a failed assertion, a crash, an early exit or
 * a non-zero exit status (TSan's exitcode after a report).
 *
 * Only what the tests use is here: Test and TestSuite with .init and .fini,
 * ParameterizedTest, cr_skip_test, cr_log_*, cr_redirect_stderr with
 * cr_assert_stderr_eq_str, and the cr_assert and cr_expect families of the
 * classic API.  Any other attribute or macro is a compile error in the TSan
 * build, never a silently different test.
 *
 * The header is marked as a system header, as Criterion's own is under
 * /usr/include: the comparisons its macros build from the test's operands
 * (an int against a size_t, say) get the same warnings, that is none, as
 * with the real library.
 */
#ifndef TSANRUN_CRITERION_H
#define TSANRUN_CRITERION_H

#pragma GCC system_header

#include <stdbool.h>
#include <stddef.h>

/* The attributes a test or a suite may carry. */
struct criterion_test_extra_data {
	int tsanrun_unused; /* lets "{ 0, __VA_ARGS__ }" be empty */
	void (*init)(void);
	void (*fini)(void);
};

/* What a ParameterizedTestParameters function returns. */
struct criterion_test_params {
	size_t size;
	void *params;
	size_t length;
	void (*cleanup)(struct criterion_test_params *);
};

struct tsanrun_test {
	const char *suite;
	const char *name;
	void (*fn)(void);
	void (*pfn)(void *);
	struct criterion_test_params (*params)(void);
	struct criterion_test_extra_data data;
};

struct tsanrun_suite {
	const char *name;
	struct criterion_test_extra_data data;
};

/* Record a test or a suite; called by constructors before main. */
void tsanrun_register_test(struct tsanrun_test *t);
void tsanrun_register_suite(struct tsanrun_suite *s);

/* Report a failed check and, when fatal, end the test. */
void tsanrun_fail(bool fatal, const char *file, int line, const char *expr,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* Compare two strings (want: equal or not) and report a mismatch. */
void tsanrun_str(bool fatal, bool want_equal, const char *a, const char *b,
    const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((format(printf, 8, 9)));
/* End the test as skipped. */
void tsanrun_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)))
__attribute__((noreturn));
void tsanrun_log(const char *level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define TSANRUN_ID(Kind, Suite, Name) tsanrun_##Kind##_##Suite##_##Name

#define TestSuite(Suite, ...)                                                  \
	static struct tsanrun_suite TSANRUN_ID(suite, Suite, ) = {#Suite,      \
	    {0, __VA_ARGS__}};                                                 \
	__attribute__((constructor)) static void TSANRUN_ID(sreg, Suite, )(    \
	    void)                                                              \
	{                                                                      \
		tsanrun_register_suite(&TSANRUN_ID(suite, Suite, ));           \
	}

#define Test(Suite, Name, ...)                                                 \
	static void TSANRUN_ID(fn, Suite, Name)(void);                         \
	static struct tsanrun_test TSANRUN_ID(test, Suite, Name) = {#Suite,    \
	    #Name, TSANRUN_ID(fn, Suite, Name), NULL, NULL, {0, __VA_ARGS__}}; \
	__attribute__((constructor)) static void TSANRUN_ID(reg, Suite, Name)( \
	    void)                                                              \
	{                                                                      \
		tsanrun_register_test(&TSANRUN_ID(test, Suite, Name));         \
	}                                                                      \
	static void TSANRUN_ID(fn, Suite, Name)(void)

#define cr_skip_test(...) tsanrun_skip(" " __VA_ARGS__)
#define cr_log_info(...) tsanrun_log("info", __VA_ARGS__)
#define cr_log_warn(...) tsanrun_log("warn", __VA_ARGS__)
#define cr_log_error(...) tsanrun_log("error", __VA_ARGS__)

/*
 * The message of a check is optional: " " __VA_ARGS__ turns "no message"
 * into the format " " and a message into " message" (Criterion's messages
 * are literals too); the runner drops the leading space.
 */
#define tsanrun_check(Fatal, Cond, Expr, ...)                                  \
	do {                                                                   \
		if (!(Cond))                                                   \
			tsanrun_fail(Fatal, __FILE__, __LINE__, Expr,          \
			    " " __VA_ARGS__);                                  \
	} while (0)

#define tsanrun_op(Fatal, Op, A, B, ...)                                       \
	tsanrun_check(Fatal, (A)Op(B), #A " " #Op " " #B, __VA_ARGS__)

#define tsanrun_streq(Fatal, Want, Op, A, B, ...)                              \
	tsanrun_str(Fatal, Want, (A), (B), __FILE__, __LINE__,                 \
	    #A " " Op " " #B, " " __VA_ARGS__)

#define cr_assert(Cond, ...) tsanrun_check(true, Cond, #Cond, __VA_ARGS__)
#define cr_expect(Cond, ...) tsanrun_check(false, Cond, #Cond, __VA_ARGS__)
#define cr_assert_not(Cond, ...)                                               \
	tsanrun_check(true, !(Cond), "!(" #Cond ")", __VA_ARGS__)
#define cr_expect_not(Cond, ...)                                               \
	tsanrun_check(false, !(Cond), "!(" #Cond ")", __VA_ARGS__)
#define cr_assert_fail(...)                                                    \
	tsanrun_check(true, 0, "cr_assert_fail", __VA_ARGS__)
#define cr_expect_fail(...)                                                    \
	tsanrun_check(false, 0, "cr_expect_fail", __VA_ARGS__)

#define cr_assert_eq(A, B, ...) tsanrun_op(true, ==, A, B, __VA_ARGS__)
#define cr_expect_eq(A, B, ...) tsanrun_op(false, ==, A, B, __VA_ARGS__)
#define cr_assert_neq(A, B, ...) tsanrun_op(true, !=, A, B, __VA_ARGS__)
#define cr_expect_neq(A, B, ...) tsanrun_op(false, !=, A, B, __VA_ARGS__)
#define cr_assert_lt(A, B, ...) tsanrun_op(true, <, A, B, __VA_ARGS__)
#define cr_expect_lt(A, B, ...) tsanrun_op(false, <, A, B, __VA_ARGS__)
#define cr_assert_leq(A, B, ...) tsanrun_op(true, <=, A, B, __VA_ARGS__)
#define cr_expect_leq(A, B, ...) tsanrun_op(false, <=, A, B, __VA_ARGS__)
#define cr_assert_gt(A, B, ...) tsanrun_op(true, >, A, B, __VA_ARGS__)
#define cr_expect_gt(A, B, ...) tsanrun_op(false, >, A, B, __VA_ARGS__)
#define cr_assert_geq(A, B, ...) tsanrun_op(true, >=, A, B, __VA_ARGS__)
#define cr_expect_geq(A, B, ...) tsanrun_op(false, >=, A, B, __VA_ARGS__)

#define cr_assert_null(A, ...)                                                 \
	tsanrun_check(true, (A) == NULL, #A " is NULL", __VA_ARGS__)
#define cr_expect_null(A, ...)                                                 \
	tsanrun_check(false, (A) == NULL, #A " is NULL", __VA_ARGS__)
#define cr_assert_not_null(A, ...)                                             \
	tsanrun_check(true, (A) != NULL, #A " is not NULL", __VA_ARGS__)
#define cr_expect_not_null(A, ...)                                             \
	tsanrun_check(false, (A) != NULL, #A " is not NULL", __VA_ARGS__)

#define cr_assert_str_eq(A, B, ...)                                            \
	tsanrun_streq(true, true, "equals", A, B, __VA_ARGS__)
#define cr_expect_str_eq(A, B, ...)                                            \
	tsanrun_streq(false, true, "equals", A, B, __VA_ARGS__)
#define cr_assert_str_neq(A, B, ...)                                           \
	tsanrun_streq(true, false, "differs from", A, B, __VA_ARGS__)
#define cr_expect_str_neq(A, B, ...)                                           \
	tsanrun_streq(false, false, "differs from", A, B, __VA_ARGS__)
#define cr_assert_str_empty(A, ...)                                            \
	tsanrun_check(true, (A)[0] == '\0', #A " is empty", __VA_ARGS__)
#define cr_expect_str_empty(A, ...)                                            \
	tsanrun_check(false, (A)[0] == '\0', #A " is empty", __VA_ARGS__)
#define cr_assert_str_not_empty(A, ...)                                        \
	tsanrun_check(true, (A)[0] != '\0', #A " is not empty", __VA_ARGS__)
#define cr_expect_str_not_empty(A, ...)                                        \
	tsanrun_check(false, (A)[0] != '\0', #A " is not empty", __VA_ARGS__)

#endif
