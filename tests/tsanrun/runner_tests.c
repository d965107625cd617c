/*
 * Tests of the tests/tsanrun runner itself, run by
 * tests/tsanrun/runner_tests.sh in the --enable-tsan build.  Each test's name
 * starts with the verdict the runner must give it (pass_, fail_, skip_); the
 * "mark:" lines let the script check what ran and in which order.
 */
#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>
#include <criterion/redirect.h>

static void
mark(const char *what)
{
	printf("mark: %s\n", what);
}

Test(selftest, pass_checks_that_hold)
{
	const char *s = "abc";
	size_t n = 3;

	cr_assert(n == 3);
	cr_assert_not(n == 4);
	cr_assert_eq(n, 3, "n is %zu", n);
	cr_expect_neq(n, 4);
	cr_assert_lt(n, 4);
	cr_assert_leq(n, 3);
	cr_assert_gt(n, 2);
	cr_assert_geq(n, 3);
	cr_assert_null(NULL);
	cr_assert_not_null(s);
	cr_assert_str_eq(s, "abc");
	cr_assert_str_neq(s, "abd");
	cr_assert_str_empty("");
	cr_expect_str_eq(s, "abc", "with a message: %s", s);
}

static void
stops_fini(void)
{
	mark("fail_assert_stops_the_test fini");
}

Test(selftest, fail_assert_stops_the_test, .fini = stops_fini)
{
	cr_assert_eq(1, 2, "one is %d", 1);
	mark("after the failed assertion");
}

Test(selftest, fail_expect_goes_on)
{
	cr_expect(0);
	mark("after the failed expectation");
}

Test(selftest, fail_on_differing_strings)
{
	cr_assert_str_eq("left", "right");
}

Test(selftest, fail_on_a_null_string)
{
	cr_expect_str_eq(NULL, "right");
}

Test(selftest, fail_on_cr_assert_fail)
{
	cr_assert_fail("always");
}

Test(selftest, fail_on_a_crash)
{
	abort();
}

Test(selftest, fail_on_an_early_exit)
{
	exit(0);
}

static void *
fails_in_thread(void *arg)
{
	(void)arg;
	cr_assert(0, "from a thread of the test");
	return NULL;
}

Test(selftest, fail_in_a_thread_of_the_test)
{
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, fails_in_thread, NULL), 0);
	pthread_join(t, NULL);
	mark("after the thread's failed assertion");
}

/* Two threads write one counter without a lock: TSan must fail the test. */
static int racy;

static void *
race(void *arg)
{
	(void)arg;
	racy++;
	return NULL;
}

Test(selftest, fail_on_a_data_race)
{
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, race, NULL), 0);
	racy++;
	pthread_join(t, NULL);
}

static void
failing_init(void)
{
	cr_assert(0, "in the set-up");
}

Test(selftest, fail_in_the_setup, .init = failing_init)
{
	mark("body after a failed set-up");
}

Test(selftest, skip_on_request)
{
	cr_skip_test("asked to skip %d", 1);
	mark("after the skip");
}

Test(selftest, pass_captured_stderr_matches, .init = cr_redirect_stderr)
{
	fprintf(stderr, "hello\n");
	cr_assert_stderr_eq_str("hello\n");
}

Test(selftest, fail_captured_stderr_differs, .init = cr_redirect_stderr)
{
	fprintf(stderr, "hello\n");
	cr_assert_stderr_eq_str("goodbye\n");
}

/* Element [1] is 2 and fails; [0] and [2] pass. */
ParameterizedTestParameters(selftest, param)
{
	static int values[] = {1, 2, 3};

	return cr_make_param_array(int, values, 3);
}

ParameterizedTest(int *v, selftest, param)
{
	cr_expect_neq(*v, 2);
}

/* The order of the set-ups and tear-downs, as Criterion's. */
static void
suite_init(void)
{
	mark("order suite-init");
}

static void
suite_fini(void)
{
	mark("order suite-fini");
}

static void
test_init(void)
{
	mark("order test-init");
}

static void
test_fini(void)
{
	mark("order test-fini");
}

TestSuite(ordered, .init = suite_init, .fini = suite_fini);

Test(ordered, pass_in_order, .init = test_init, .fini = test_fini)
{
	mark("order test");
}
