/* Inline wrappers for the x86 instructions that user (ring 3) code may use. */
#ifndef JOS_INC_X86_H
#define JOS_INC_X86_H

#include <inc/types.h>

/* Trap into the kernel monitor with a breakpoint exception. */
static inline void
breakpoint(void)
{
	asm volatile("int3");
}

/* The caller's frame pointer. */
static inline uint32_t
read_ebp(void)
{
	uint32_t ebp;
	asm volatile("movl %%ebp,%0" : "=r" (ebp));
	return ebp;
}

/* The current stack pointer. */
static inline uint32_t
read_esp(void)
{
	uint32_t esp;
	asm volatile("movl %%esp,%0" : "=r" (esp));
	return esp;
}

/* The eflags register. */
static inline uint32_t
read_eflags(void)
{
	uint32_t eflags;
	asm volatile("pushfl; popl %0" : "=r" (eflags));
	return eflags;
}

/* The processor's time-stamp counter. */
static inline uint64_t
read_tsc(void)
{
	uint64_t tsc;
	asm volatile("rdtsc" : "=A" (tsc));
	return tsc;
}

/* Atomically store newval in *addr and return the old value. */
static inline uint32_t
xchg(volatile uint32_t *addr, uint32_t newval)
{
	uint32_t result;
	asm volatile("lock; xchgl %0, %1"
		     : "+m" (*addr), "=a" (result)
		     : "1" (newval)
		     : "cc");
	return result;
}

#endif /* !JOS_INC_X86_H */
