/*
 * _pgfault_upcall: where the kernel sends this environment on a page fault.
 *
 * The kernel switches to the exception stack and pushes a struct
 * UTrapframe there; esp points to it:
 *
 *	0(%esp)		utf_fault_va
 *	4(%esp)		utf_err
 *	8(%esp)		utf_regs (struct PushRegs, 32 bytes)
 *	40(%esp)	utf_eip
 *	44(%esp)	utf_eflags
 *	48(%esp)	utf_esp
 *
 * We call the C handler, then resume the faulting code directly, without
 * another trip through the kernel, with every register and eflags as they
 * were at the fault.  The trick: push the trap-time eip onto the trap-time
 * stack (store it at utf_esp - 4 and lower utf_esp by 4), restore the
 * registers and flags from the frame, switch to the lowered stack and ret.
 *
 * For a fault taken on the exception stack itself, the kernel leaves one
 * empty word between the trap-time esp and the new frame; that word is
 * the one the eip goes into, so nested faults work too.
 */
/* Offsets in struct UTrapframe (inc/trap.h). */
#define UTF_EIP		40
#define UTF_ESP		48

	.text
	.globl	_pgfault_upcall
_pgfault_upcall:
	/* _pgfault_handler(utf) */
	pushl	%esp
	movl	_pgfault_handler, %eax
	call	*%eax
	addl	$4, %esp

	/* Push the trap-time eip onto the trap-time stack. */
	movl	UTF_ESP(%esp), %eax
	subl	$4, %eax
	movl	%eax, UTF_ESP(%esp)
	movl	UTF_EIP(%esp), %ecx
	movl	%ecx, (%eax)

	/* Restore the general registers (popal skips the saved esp). */
	addl	$8, %esp		/* utf_fault_va, utf_err */
	popal

	/* Restore eflags; from here on, no instruction may change flags. */
	addl	$4, %esp		/* utf_eip */
	popfl

	/* Switch to the trap-time stack and return to the faulting code. */
	popl	%esp
	ret

	.section .note.GNU-stack, "", @progbits
