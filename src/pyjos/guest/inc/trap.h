/* Trap numbers and the frames the kernel saves on a trap. */
#ifndef JOS_INC_TRAP_H
#define JOS_INC_TRAP_H

/* Processor-defined traps. */
#define T_DIVIDE	0	/* divide error */
#define T_DEBUG		1	/* debug exception */
#define T_NMI		2	/* non-maskable interrupt */
#define T_BRKPT		3	/* breakpoint */
#define T_OFLOW		4	/* overflow */
#define T_BOUND		5	/* bounds check */
#define T_ILLOP		6	/* illegal opcode */
#define T_DEVICE	7	/* device not available */
#define T_DBLFLT	8	/* double fault */
/* 9 is reserved */
#define T_TSS		10	/* invalid task switch segment */
#define T_SEGNP		11	/* segment not present */
#define T_STACK		12	/* stack exception */
#define T_GPFLT		13	/* general protection fault */
#define T_PGFLT		14	/* page fault */
/* 15 is reserved */
#define T_FPERR		16	/* floating point error */
#define T_ALIGN		17	/* alignment check */
#define T_MCHK		18	/* machine check */
#define T_SIMDERR	19	/* SIMD floating point error */

/* Software-chosen numbers. */
#define T_SYSCALL	48	/* system call */
#define T_DEFAULT	500	/* catchall */

/* Hardware interrupts arrive at IRQ_OFFSET + IRQ number. */
#define IRQ_OFFSET	32
#define IRQ_TIMER	0
#define IRQ_KBD		1
#define IRQ_SERIAL	4
#define IRQ_SPURIOUS	7
#define IRQ_IDE		14
#define IRQ_ERROR	19

#ifndef __ASSEMBLER__

#include <inc/types.h>

/* General registers in the order the pushal instruction stores them. */
struct PushRegs {
	uint32_t reg_edi;
	uint32_t reg_esi;
	uint32_t reg_ebp;
	uint32_t reg_oesp;	/* esp at pushal time; ignored by popal */
	uint32_t reg_ebx;
	uint32_t reg_edx;
	uint32_t reg_ecx;
	uint32_t reg_eax;
} __attribute__((packed));

/* Complete user state saved by the kernel on a trap (68 bytes). */
struct Trapframe {
	struct PushRegs tf_regs;
	uint16_t tf_es;
	uint16_t tf_padding1;
	uint16_t tf_ds;
	uint16_t tf_padding2;
	uint32_t tf_trapno;
	/* below here: what the x86 hardware pushes */
	uint32_t tf_err;
	uintptr_t tf_eip;
	uint16_t tf_cs;
	uint16_t tf_padding3;
	uint32_t tf_eflags;
	/* below here: only on a crossing from user to kernel */
	uintptr_t tf_esp;
	uint16_t tf_ss;
	uint16_t tf_padding4;
} __attribute__((packed));

/* What the kernel pushes on the user exception stack for a page fault
 * upcall (52 bytes); lib/pfentry.S depends on these offsets. */
struct UTrapframe {
	uint32_t utf_fault_va;	/* faulting address (cr2) */
	uint32_t utf_err;	/* page fault error code (FEC_*) */
	struct PushRegs utf_regs;
	uintptr_t utf_eip;
	uint32_t utf_eflags;
	uintptr_t utf_esp;	/* trap-time stack pointer */
} __attribute__((packed));

#endif /* !__ASSEMBLER__ */

#endif /* !JOS_INC_TRAP_H */
