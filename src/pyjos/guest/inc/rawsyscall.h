/*
 * A raw system call (pyjos): int $0x30 with no library checks between the
 * caller and the kernel, for programs that test the kernel's own checks
 * (the fuzzer, the isolation reproducers).
 */
#ifndef JOS_INC_RAWSYSCALL_H
#define JOS_INC_RAWSYSCALL_H

#include <inc/types.h>
#include <inc/trap.h>

static inline int32_t
sys_raw(uint32_t num, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5)
{
	int32_t ret;

	asm volatile("int %1"
		     : "=a" (ret)
		     : "i" (T_SYSCALL), "a" (num), "d" (a1), "c" (a2), "b" (a3), "D" (a4),
		       "S" (a5)
		     : "cc", "memory");
	return ret;
}

#endif /* !JOS_INC_RAWSYSCALL_H */
