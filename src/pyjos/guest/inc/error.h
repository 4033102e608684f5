/* Error codes.  System calls and library functions return them negated. */
#ifndef JOS_INC_ERROR_H
#define JOS_INC_ERROR_H

enum {
	E_UNSPECIFIED	= 1,	/* unspecified or unknown problem */
	E_BAD_ENV	= 2,	/* environment does not exist or may not be used */
	E_INVAL		= 3,	/* invalid parameter */
	E_NO_MEM	= 4,	/* out of memory */
	E_NO_FREE_ENV	= 5,	/* no free environment slot */
	E_FAULT		= 6,	/* memory fault */
	E_IPC_NOT_RECV	= 7,	/* target env is not receiving */
	E_EOF		= 8,	/* unexpected end of file */

	MAXERROR	/* one more than the largest code; keep lib/printfmt.c's table in step */
};

#endif /* !JOS_INC_ERROR_H */
