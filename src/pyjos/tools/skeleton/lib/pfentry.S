/*
 * lib/pfentry.S: _pgfault_upcall, where the kernel sends this env on a page
 * fault (JOS lab 4, part B).  The call of the C handler is given; yours to
 * write is the return to the faulting code.
 *
 * The kernel has switched to the exception stack and pushed a struct
 * UTrapframe (inc/trap.h); esp points to it:
 *
 *	0(%esp)		utf_fault_va
 *	4(%esp)		utf_err
 *	8(%esp)		utf_regs (struct PushRegs, 32 bytes)
 *	40(%esp)	utf_eip
 *	44(%esp)	utf_eflags
 *	48(%esp)	utf_esp
 *
 * Contract of the part to write: resume at utf_eip with every general
 * register, eflags and esp as they were at the fault, without entering the
 * kernel.  `ret` can jump to utf_eip if utf_eip is first pushed onto the
 * trap-time stack (store it just below utf_esp and lower utf_esp by 4).
 * Then restore the registers (popal), eflags (popfl: nothing may change
 * the flags after it), switch to the trap-time stack and return.  For a
 * fault on the exception stack itself, the kernel leaves an empty word
 * below the trap-time esp for exactly this.
 */
	.text
	.globl	_pgfault_upcall
_pgfault_upcall:
	/* Call the C handler: _pgfault_handler(utf). */
	pushl	%esp
	movl	_pgfault_handler, %eax
	call	*%eax
	addl	$4, %esp

	/* Your code here: return to the faulting code.  Until then: */
	pushl	$unwritten
	pushl	$__LINE__
	pushl	$file
	call	_panic

	.section .rodata
file:
	.string	"lib/pfentry.S"
unwritten:
	.string	"_pgfault_upcall cannot return yet (lib/pfentry.S)"

	.section .note.GNU-stack, "", @progbits
