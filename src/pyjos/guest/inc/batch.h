/*
 * Batched system calls: many calls in one trap (pyjos, not in JOS).
 *
 *   int sys_batch(struct BatchCall *calls, int ncalls, int flags);
 *
 * The kernel runs calls[0..ncalls-1] in order, each exactly as if it had
 * been made alone (same argument checks, same error codes, same effects).
 * It stops after the first call that returns a negative value, unless
 * flags has BATCH_CONTINUE.  When the calls have run, it stores each one's
 * return value in its bc_result.  A batch can do nothing that its calls
 * could not.
 *
 * Returns the number of calls that ran (the failed call included), or:
 *   -E_INVAL  ncalls < 0 or > BATCH_MAX, unknown flags, or calls not
 *             4-byte aligned (nothing ran);
 *   -E_FAULT  the array is not readable user memory, or a result slot is
 *             neither writable nor copy-on-write (nothing ran), or a call
 *             of the batch unmapped or write-protected it (they all ran);
 *   -E_NO_MEM a result could not be stored because its copy-on-write page
 *             could not be copied (the calls ran).
 *
 * Result slots on a page that the batch itself has made copy-on-write (a
 * fork marking the parent's pages) are stored the way a write fault would
 * store them: the kernel gives the caller its own copy of the page first.
 * Since the results are stored only after all the calls, a child given the
 * page copy-on-write by the batch never sees any of the parent's results.
 *
 * Calls with special behaviour inside a batch:
 *   sys_yield            takes effect when the batch returns (the rest of
 *                        the batch runs first);
 *   sys_env_destroy(0)   (or of the caller) ends the caller and the batch;
 *                        later calls do not run, nothing is stored or returned;
 *   sys_env_set_status   of the caller to NOT_RUNNABLE takes effect when the
 *                        batch returns;
 *   sys_exofork, sys_fork, sys_ipc_recv, sys_batch
 *                        are not allowed (-E_INVAL in bc_result): they
 *                        return twice, block, or nest.
 */
#ifndef JOS_INC_BATCH_H
#define JOS_INC_BATCH_H

#include <inc/types.h>

#define BATCH_MAX	4096	/* calls in one batch */
#define BATCH_CONTINUE	0x1	/* keep going after a call fails */

struct BatchCall {
	uint32_t bc_num;	/* system call number (SYS_*) */
	uint32_t bc_args[5];	/* edx, ecx, ebx, edi, esi of the call */
	int32_t bc_result;	/* the call's return value, stored by the kernel */
};

#endif /* !JOS_INC_BATCH_H */
