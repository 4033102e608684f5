/* Fixed-width integer types and small helper macros shared by all guest code. */
#ifndef JOS_INC_TYPES_H
#define JOS_INC_TYPES_H

#ifndef NULL
#define NULL ((void *) 0)
#endif

typedef _Bool bool;
enum { false, true };

typedef __signed char int8_t;
typedef unsigned char uint8_t;
typedef short int16_t;
typedef unsigned short uint16_t;
typedef int int32_t;
typedef unsigned int uint32_t;
typedef long long int64_t;
typedef unsigned long long uint64_t;

/* Pointers and addresses are 32 bits on i386. */
typedef int32_t intptr_t;
typedef uint32_t uintptr_t;
typedef uint32_t physaddr_t;

/* Physical page numbers. */
typedef uint32_t ppn_t;

/* Sizes and file offsets. */
typedef uint32_t size_t;
typedef int32_t ssize_t;
typedef int32_t off_t;

/* MIN and MAX evaluate each argument exactly once. */
#define MIN(_a, _b)						\
({								\
	typeof(_a) __min_a = (_a);				\
	typeof(_b) __min_b = (_b);				\
	__min_a <= __min_b ? __min_a : __min_b;			\
})
#define MAX(_a, _b)						\
({								\
	typeof(_a) __max_a = (_a);				\
	typeof(_b) __max_b = (_b);				\
	__max_a >= __max_b ? __max_a : __max_b;			\
})

/* Round a down to a multiple of n; the result has the type of a. */
#define ROUNDDOWN(a, n)						\
({								\
	uint32_t __rd_a = (uint32_t) (a);			\
	(typeof(a)) (__rd_a - __rd_a % (n));			\
})
/* Round a up to a multiple of n; the result has the type of a. */
#define ROUNDUP(a, n)						\
({								\
	uint32_t __ru_n = (uint32_t) (n);			\
	(typeof(a)) (ROUNDDOWN((uint32_t) (a) + __ru_n - 1, __ru_n)); \
})

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

/* Byte offset of member within type. */
#define offsetof(type, member)	((size_t) (&((type *) 0)->member))

#endif /* !JOS_INC_TYPES_H */
