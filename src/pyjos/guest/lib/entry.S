/*
 * Program entry point, placed first in every program's text (0x800020).
 *
 * The kernel starts a program with argc at 0(%esp) and argv at 4(%esp).
 * If it passed no arguments at all, esp is still USTACKTOP: supply
 * argc = 0 and argv = NULL ourselves.  Then run libmain, which never returns.
 */
#include <inc/mmu.h>
#include <inc/memlayout.h>

/* Read-only kernel structures mapped into every address space. */
	.globl	envs
	.set	envs, UENVS
	.globl	pages
	.set	pages, UPAGES
	.globl	uvpt
	.set	uvpt, UVPT
	.globl	uvpd
	.set	uvpd, (UVPT + (UVPT >> PGSHIFT) * 4)

	.text
	.globl	_start
_start:
	cmpl	$USTACKTOP, %esp
	jne	1f
	pushl	$0			/* argv */
	pushl	$0			/* argc */
1:	call	libmain
2:	jmp	2b

	.section .note.GNU-stack, "", @progbits
