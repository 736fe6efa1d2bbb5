/* base/assert.h - checks that stay on in release builds: EDGE_ASSERT and the magic numbers of objects shared between threads. */
#ifndef EDGE_BASE_ASSERT_H
#define EDGE_BASE_ASSERT_H

#include <stdio.h>
#include <stdlib.h>

/*
 * assert() disappears under NDEBUG; EDGE_ASSERT does not. Use it for invariants whose failure means memory is already corrupt or
 * about to be (a refcount below zero, an object used after free, a table index out of range): continuing would serve wrong
 * bytes or crash later far from the cause, so the process stops here, with the file, line and expression on stderr. Not for
 * conditions that input or the network can cause: those are errors the caller handles.
 *
 * The cost is one compare and a not-taken branch; the failure path is out of line.
 */

/** prints `FILE:LINE: check failed: EXPR` on stderr and aborts (SIGABRT, so a core dump or the sanitizer shows the stack) */
__attribute__((noreturn, cold, noinline, unused)) static void edge_assert_fail(const char *file, int line, const char *expr)
{
    fprintf(stderr, "%s:%d: check failed: %s\n", file, line, expr);
    fflush(stderr);
    abort();
}

#define EDGE_ASSERT(cond)                                                                                                          \
    do {                                                                                                                           \
        if (__builtin_expect(!(cond), 0))                                                                                          \
            edge_assert_fail(__FILE__, __LINE__, #cond);                                                                           \
    } while (0)

/*
 * Magic numbers (Varnish's habit). A struct shared between threads starts with `unsigned magic;`, set to its own constant
 * (NAME_MAGIC, a random 32-bit value, defined next to the struct) when the object is initialised and cleared when it is freed.
 * Functions that receive one check it on entry with EDGE_CHECK_OBJ(p, NAME_MAGIC): a pointer to freed memory, to another type
 * or to garbage stops the process there instead of being used.
 */
#define EDGE_CHECK_OBJ(p, m)                                                                                                       \
    do {                                                                                                                           \
        if (__builtin_expect((p) == NULL || (p)->magic != (m), 0))                                                                 \
            edge_assert_fail(__FILE__, __LINE__, "(" #p ")->magic == " #m);                                                        \
    } while (0)
/** EDGE_CHECK_OBJ for a pointer that may be NULL */
#define EDGE_CHECK_OBJ_OR_NULL(p, m)                                                                                               \
    do {                                                                                                                           \
        if ((p) != NULL)                                                                                                           \
            EDGE_CHECK_OBJ(p, m);                                                                                                  \
    } while (0)
/** checks the magic and clears it: call just before freeing the object */
#define EDGE_FREE_OBJ(p, m)                                                                                                        \
    do {                                                                                                                           \
        EDGE_CHECK_OBJ(p, m);                                                                                                      \
        (p)->magic = 0;                                                                                                            \
    } while (0)

#endif
