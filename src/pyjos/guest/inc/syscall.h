/* System call numbers (eax for int $T_SYSCALL). */
#ifndef JOS_INC_SYSCALL_H
#define JOS_INC_SYSCALL_H

enum {
	SYS_cputs = 0,
	SYS_cgetc,
	SYS_getenvid,
	SYS_env_destroy,
	SYS_page_alloc,
	SYS_page_map,
	SYS_page_unmap,
	SYS_exofork,
	SYS_env_set_status,
	SYS_env_set_pgfault_upcall,
	SYS_yield,
	SYS_ipc_try_send,
	SYS_ipc_recv,
	/* pyjos's own calls, after JOS's */
	SYS_batch,		/* run many calls in one trap: inc/batch.h */
	SYS_fork,		/* atomic in-kernel copy-on-write fork */
	NSYSCALLS
};

#endif /* !JOS_INC_SYSCALL_H */
