/*
 * tests/tsanrun: Criterion's parameterized tests (see criterion.h).  Each
 * element of the parameter array runs as a test of its own, in its own
 * child, with a pointer to that element.
 */
#ifndef TSANRUN_PARAMETERIZED_H
#define TSANRUN_PARAMETERIZED_H

#pragma GCC system_header

#include <criterion/criterion.h>

/* The remaining arguments are the array's length (and its cleanup). */
#define cr_make_param_array(Type, Array, ...)                                  \
	((struct criterion_test_params){.size = sizeof(Type),                  \
	    .params = (void *)(Array),                                         \
	    .length = __VA_ARGS__})

#define ParameterizedTestParameters(Suite, Name)                               \
	static struct criterion_test_params TSANRUN_ID(params, Suite, Name)(   \
	    void)

#define ParameterizedTest(Type, Suite, Name, ...)                              \
	static struct criterion_test_params TSANRUN_ID(params, Suite, Name)(   \
	    void);                                                             \
	static void TSANRUN_ID(pfn, Suite, Name)(Type);                        \
	static void TSANRUN_ID(ptramp, Suite, Name)(void *p)                   \
	{                                                                      \
		TSANRUN_ID(pfn, Suite, Name)(p);                               \
	}                                                                      \
	static struct tsanrun_test TSANRUN_ID(test, Suite, Name) = {#Suite,    \
	    #Name, NULL, TSANRUN_ID(ptramp, Suite, Name),                      \
	    TSANRUN_ID(params, Suite, Name), {0, __VA_ARGS__}};                \
	__attribute__((constructor)) static void TSANRUN_ID(reg, Suite, Name)( \
	    void)                                                              \
	{                                                                      \
		tsanrun_register_test(&TSANRUN_ID(test, Suite, Name));         \
	}                                                                      \
	static void TSANRUN_ID(pfn, Suite, Name)(Type)

#endif
