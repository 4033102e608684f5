/* The layout of every environment's virtual address space. */
#ifndef JOS_INC_MEMLAYOUT_H
#define JOS_INC_MEMLAYOUT_H

#include <inc/mmu.h>

/*
 * Virtual address space of an environment (R = read, W = write; the
 * first pair is the kernel's rights, the second the user's):
 *
 *  4 GiB ------------> +------------------------------+
 *                      |  physical memory, remapped   | RW/--
 *  KERNBASE,  ------>  +------------------------------+ 0xf0000000
 *  KSTACKTOP           |  per-CPU kernel stacks        | RW/--
 *  MMIOLIM    ------>  +------------------------------+ 0xefc00000  --+
 *                      |  memory-mapped I/O           | RW/--   PTSIZE
 *  ULIM, MMIOBASE -->  +------------------------------+ 0xef800000  --+
 *                      |  page tables (self-map)      | R-/R-   PTSIZE
 *  UVPT       ------>  +------------------------------+ 0xef400000  --+
 *                      |  pages[]: struct PageInfo    | R-/R-   PTSIZE
 *  UPAGES     ------>  +------------------------------+ 0xef000000  --+
 *                      |  envs[]: struct Env          | R-/R-   PTSIZE
 *                      |  (UTRAMPOLINE at +0x20000)   |
 *  UTOP, UENVS,  --->  +------------------------------+ 0xeec00000  --+
 *  UXSTACKTOP          |  user exception stack        | RW/RW   PGSIZE
 *                      +------------------------------+ 0xeebff000
 *                      |  empty guard page            | --/--   PGSIZE
 *  USTACKTOP  ------>  +------------------------------+ 0xeebfe000
 *                      |  normal user stack           | RW/RW   PGSIZE
 *                      +------------------------------+ 0xeebfd000
 *                      |             ...              |
 *  UBATCHBUF  ------>  |  fork_batch's call buffer    | 0xe0000000
 *                      |             ...              |
 *                      .  free for user programs      .
 *                      |             ...              |
 *  UTEXT      ------>  +------------------------------+ 0x00800000
 *  PFTEMP     ------>  |  scratch page for fault      | 0x007ff000
 *                      |  handlers (fork)             |
 *  UTEMP      ------>  +------------------------------+ 0x00400000  --+
 *                      |  empty                       |         PTSIZE
 *  USTABDATA  ------>  +------------------------------+ 0x00200000    |
 *                      |  empty (address 0 unmapped)  |               |
 *  0          ------>  +------------------------------+             --+
 *
 * User programs may map pages anywhere below UTOP; at UTOP and above the
 * kernel decides, and at ULIM and above the user has no access at all.
 */

/* Everything above KERNBASE is the kernel's view of physical memory. */
#define KERNBASE	0xF0000000

/* The VGA/ISA I/O hole and the start of extended memory (physical). */
#define IOPHYSMEM	0x0A0000
#define EXTPHYSMEM	0x100000

/* Per-CPU kernel stacks grow down from here, each with a guard gap. */
#define KSTACKTOP	KERNBASE
#define KSTKSIZE	(8*PGSIZE)
#define KSTKGAP		(8*PGSIZE)

/* Memory-mapped I/O window. */
#define MMIOLIM		(KSTACKTOP - PTSIZE)
#define MMIOBASE	(MMIOLIM - PTSIZE)

/* Users may not touch anything at or above ULIM. */
#define ULIM		(MMIOBASE)

/* Read-only to users from here to ULIM. */
#define UVPT		(ULIM - PTSIZE)		/* page tables, self-mapped */
#define UPAGES		(UVPT - PTSIZE)		/* pages[] */
#define UENVS		(UPAGES - PTSIZE)	/* envs[] */

/*
 * pyjos: a user-readable page holding `int $0x30`, through which the kernel
 * resumes an env whose segment registers it must reload (see ARCHITECTURE.md).
 */
#define UTRAMPOLINE	(UENVS + 0x20000)

/* Top of the user-controlled part of the address space. */
#define UTOP		UENVS
/* Top of the one-page user exception stack. */
#define UXSTACKTOP	UTOP
/* Top of the normal user stack, below an empty guard page. */
#define USTACKTOP	(UTOP - 2*PGSIZE)

/* pyjos: the library's fork_batch builds its batches of calls here. */
#define UBATCHBUF	0xE0000000

/* Program text starts here. */
#define UTEXT		(2*PTSIZE)

/* Scratch mappings for user code. */
#define UTEMP		((void *) PTSIZE)
/* Scratch page for user page fault handlers (fork uses it). */
#define PFTEMP		(UTEMP + PTSIZE - PGSIZE)
/* Where a program's debugging symbol tables would be described. */
#define USTABDATA	(PTSIZE / 2)

#ifndef __ASSEMBLER__

#include <inc/types.h>

/*
 * The page directory maps itself at UVPT, so the page tables appear as one
 * array of PTEs indexed by page number, and the directory as an array of
 * PDEs indexed by PDX.  Both are read-only (entry.S defines the symbols).
 */
extern volatile pte_t uvpt[];	/* VA of "virtual page table" */
extern volatile pde_t uvpd[];	/* VA of current page directory */

/*
 * One physical page's bookkeeping.  pages[] at UPAGES holds one per page
 * of physical memory; pages[PGNUM(pa)] describes the frame at pa.
 */
struct PageInfo {
	struct PageInfo *pp_link;	/* next page on the free list */
	uint16_t pp_ref;		/* mappings of this page below UTOP */
};

#endif /* !__ASSEMBLER__ */

#endif /* !JOS_INC_MEMLAYOUT_H */
