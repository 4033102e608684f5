/* i386 paging, flag and segment definitions (the parts user code can use). */
#ifndef JOS_INC_MMU_H
#define JOS_INC_MMU_H

/*
 * A linear address splits into a page directory index, a page table index
 * and an offset within the page:
 *
 * +--------10------+-------10-------+---------12----------+
 * | Page Directory |   Page Table   | Offset within Page  |
 * |      Index     |      Index     |                     |
 * +----------------+----------------+---------------------+
 *  \--- PDX(la) --/ \--- PTX(la) --/ \---- PGOFF(la) ----/
 *  \---------- PGNUM(la) ----------/
 */

/* Page number of a linear address: its index into uvpt[]. */
#define PGNUM(la)	(((uintptr_t) (la)) >> PTXSHIFT)
/* Page directory index. */
#define PDX(la)		((((uintptr_t) (la)) >> PDXSHIFT) & 0x3FF)
/* Page table index. */
#define PTX(la)		((((uintptr_t) (la)) >> PTXSHIFT) & 0x3FF)
/* Offset within the page. */
#define PGOFF(la)	(((uintptr_t) (la)) & 0xFFF)
/* Build a linear address from its three parts. */
#define PGADDR(d, t, o)	((void *) ((d) << PDXSHIFT | (t) << PTXSHIFT | (o)))

#define NPDENTRIES	1024		/* entries per page directory */
#define NPTENTRIES	1024		/* entries per page table */

#define PGSIZE		4096		/* bytes mapped by a page */
#define PGSHIFT		12		/* log2(PGSIZE) */

#define PTSIZE		(PGSIZE*NPTENTRIES)	/* bytes mapped by a page directory entry */
#define PTSHIFT		22		/* log2(PTSIZE) */

#define PTXSHIFT	12		/* offset of PTX in a linear address */
#define PDXSHIFT	22		/* offset of PDX in a linear address */

/* Page table and directory entry flags. */
#define PTE_P		0x001	/* present */
#define PTE_W		0x002	/* writeable */
#define PTE_U		0x004	/* user */
#define PTE_PWT		0x008	/* write-through */
#define PTE_PCD		0x010	/* cache-disable */
#define PTE_A		0x020	/* accessed */
#define PTE_D		0x040	/* dirty */
#define PTE_PS		0x080	/* page size */
#define PTE_G		0x100	/* global */

/* Bits the hardware ignores: free for the kernel and user software. */
#define PTE_AVAIL	0xE00

/* The only flags a system call may pass in a perm argument. */
#define PTE_SYSCALL	(PTE_AVAIL | PTE_P | PTE_W | PTE_U)

/* Physical address held in a page table or directory entry. */
#define PTE_ADDR(pte)	((physaddr_t) (pte) & ~0xFFF)

/* Control register flags. */
#define CR0_PE		0x00000001	/* protection enable */
#define CR0_MP		0x00000002	/* monitor coprocessor */
#define CR0_EM		0x00000004	/* emulation */
#define CR0_TS		0x00000008	/* task switched */
#define CR0_ET		0x00000010	/* extension type */
#define CR0_NE		0x00000020	/* numeric error */
#define CR0_WP		0x00010000	/* write protect */
#define CR0_AM		0x00040000	/* alignment mask */
#define CR0_NW		0x20000000	/* not writethrough */
#define CR0_CD		0x40000000	/* cache disable */
#define CR0_PG		0x80000000	/* paging */

#define CR4_PCE		0x00000100	/* performance counter enable */
#define CR4_MCE		0x00000040	/* machine check enable */
#define CR4_PSE		0x00000010	/* page size extensions */
#define CR4_DE		0x00000008	/* debugging extensions */
#define CR4_TSD		0x00000004	/* time stamp disable */
#define CR4_PVI		0x00000002	/* protected-mode virtual interrupts */
#define CR4_VME		0x00000001	/* V86 mode extensions */

/* Eflags register. */
#define FL_CF		0x00000001	/* carry flag */
#define FL_PF		0x00000004	/* parity flag */
#define FL_AF		0x00000010	/* auxiliary carry flag */
#define FL_ZF		0x00000040	/* zero flag */
#define FL_SF		0x00000080	/* sign flag */
#define FL_TF		0x00000100	/* trap flag */
#define FL_IF		0x00000200	/* interrupt flag */
#define FL_DF		0x00000400	/* direction flag */
#define FL_OF		0x00000800	/* overflow flag */
#define FL_IOPL_MASK	0x00003000	/* I/O privilege level bitmask */
#define FL_IOPL_0	0x00000000	/*   IOPL == 0 */
#define FL_IOPL_1	0x00001000	/*   IOPL == 1 */
#define FL_IOPL_2	0x00002000	/*   IOPL == 2 */
#define FL_IOPL_3	0x00003000	/*   IOPL == 3 */
#define FL_NT		0x00004000	/* nested task */
#define FL_RF		0x00010000	/* resume flag */
#define FL_VM		0x00020000	/* virtual 8086 mode */
#define FL_AC		0x00040000	/* alignment check */
#define FL_VIF		0x00080000	/* virtual interrupt flag */
#define FL_VIP		0x00100000	/* virtual interrupt pending */
#define FL_ID		0x00200000	/* ID flag */

/* Page fault error code bits. */
#define FEC_PR		0x1	/* page fault caused by a protection violation */
#define FEC_WR		0x2	/* page fault caused by a write */
#define FEC_U		0x4	/* page fault occurred in user mode */

/* Global descriptor numbers (segment selectors). */
#define GD_KT		0x08	/* kernel text */
#define GD_KD		0x10	/* kernel data */
#define GD_UT		0x18	/* user text */
#define GD_UD		0x20	/* user data */
#define GD_TSS0		0x28	/* task state segment of CPU 0 */

#ifndef __ASSEMBLER__

#include <inc/types.h>

typedef uint32_t pte_t;		/* page table entry */
typedef uint32_t pde_t;		/* page directory entry */

#endif /* !__ASSEMBLER__ */

#endif /* !JOS_INC_MMU_H */
