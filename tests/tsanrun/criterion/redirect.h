/*
 * tests/tsanrun: Criterion's capture of the standard error (see
 * criterion.h).  cr_redirect_stderr, as a test's .init, sends file
 * descriptor 2 to a temporary file; cr_assert_stderr_eq_str compares all
 * that was written there with a string.  The runner's own reports go to a
 * copy of the original descriptor, so they are not captured.
 */
#ifndef TSANRUN_REDIRECT_H
#define TSANRUN_REDIRECT_H

#pragma GCC system_header

#include <stdlib.h>

#include <criterion/criterion.h>

void cr_redirect_stderr(void);
/* All the captured standard error, NUL-terminated; the caller frees it. */
char *tsanrun_captured_stderr(void);

#define tsanrun_stderr_str(Fatal, Want, Op, S, ...)                            \
	do {                                                                   \
		char *tsanrun_err = tsanrun_captured_stderr();                 \
		tsanrun_str(Fatal, Want, tsanrun_err, (S), __FILE__, __LINE__, \
		    "stderr " Op " " #S, " " __VA_ARGS__);                     \
		free(tsanrun_err);                                             \
	} while (0)

#define cr_assert_stderr_eq_str(S, ...)                                        \
	tsanrun_stderr_str(true, true, "equals", S, __VA_ARGS__)
#define cr_expect_stderr_eq_str(S, ...)                                        \
	tsanrun_stderr_str(false, true, "equals", S, __VA_ARGS__)
#define cr_assert_stderr_neq_str(S, ...)                                       \
	tsanrun_stderr_str(true, false, "differs from", S, __VA_ARGS__)
#define cr_expect_stderr_neq_str(S, ...)                                       \
	tsanrun_stderr_str(false, false, "differs from", S, __VA_ARGS__)

#endif
