/*
 * trapflag.h -- the x86-64 trap flag, for tests that put a signal handler's
 * work at every instruction boundary of a call (SIGTRAP after each
 * instruction while the flag is set): nothing then depends on where a
 * timer happens to fall.
 */
#ifndef PH_TEST_TRAPFLAG_H
#define PH_TEST_TRAPFLAG_H

#if defined(__x86_64__) && defined(__linux__)
#include <stdbool.h>

/* Sets or clears the trap flag, below the caller's red zone. */
static void __attribute__((noinline, unused)) trap_flag(bool on)
{
	if (on)
		__asm__ volatile("sub $128, %%rsp\n\tpushfq\n\t"
		    "orq $0x100, (%%rsp)\n\tpopfq\n\tadd $128, %%rsp"
		    ::: "memory", "cc");
	else
		__asm__ volatile("sub $128, %%rsp\n\tpushfq\n\t"
		    "andq $-0x101, (%%rsp)\n\tpopfq\n\tadd $128, %%rsp"
		    ::: "memory", "cc");
}
#endif

#endif
