/* hooks/fiber.c - the small C stacks hook calls run on: an mmap'd stack under a guard page and a minimal context switch
 * (x86-64: callee-saved registers, MXCSR and the x87 control word; elsewhere ucontext), with the sanitizers told of every
 * switch. A suspended fiber may be resumed by another thread: see hooks/internal.h (hook_fiber_t). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "base/log.h"
#include "hooks/internal.h"

#ifdef EDGE_SANITIZE
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef EDGE_TSAN
#include <sanitizer/tsan_interface.h>
#endif

#ifdef HOOK_FIBER_ASM
/* void hook_fiber_swap(void **save_sp, void *load_sp): saves the callee-saved state on the current stack and its sp in
 * *save_sp, then loads the one saved at load_sp. A new fiber's first switch returns into hook_fiber_start, which calls
 * r12(r13) on an aligned stack. */
__asm__(".text\n"
        ".p2align 4\n"
        ".type hook_fiber_swap,@function\n"
        "hook_fiber_swap:\n"
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  subq $8, %rsp\n"
        "  stmxcsr (%rsp)\n"
        "  fnstcw 4(%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  ldmxcsr (%rsp)\n"
        "  fldcw 4(%rsp)\n"
        "  addq $8, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n"
        ".size hook_fiber_swap,.-hook_fiber_swap\n"
        ".p2align 4\n"
        ".type hook_fiber_start,@function\n"
        "hook_fiber_start:\n"
        "  .cfi_startproc\n"
        "  .cfi_undefined rip\n"
        "  movq %r13, %rdi\n"
        "  callq *%r12\n"
        "  ud2\n"
        "  .cfi_endproc\n"
        ".size hook_fiber_start,.-hook_fiber_start\n");
void hook_fiber_swap(void **save_sp, void *load_sp) __attribute__((visibility("hidden")));
void hook_fiber_start(void) __attribute__((visibility("hidden")));
#else
/* makecontext passes ints: the fiber's address in two halves */
static void fiber_trampoline(unsigned hi, unsigned lo)
{
    hook_fiber_t *f = (hook_fiber_t *)(((uintptr_t)hi << 32) | lo);
    f->entry(f->arg);
    abort(); /* an entry never returns: it leaves with hook_fiber_yield(f, 1) */
}
#endif

int hook_fiber_init(hook_fiber_t *f, size_t stack_len)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    stack_len = (stack_len + page - 1) / page * page;
    memset(f, 0, sizeof(*f));
    f->map_len = stack_len + page;
    f->map = mmap(NULL, f->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (f->map == MAP_FAILED) {
        f->map = NULL;
        return -1;
    }
    /* the guard page below the stack: an overflow faults instead of writing over another fiber's memory */
    if (mprotect(f->map, page, PROT_NONE) != 0) {
        munmap(f->map, f->map_len);
        f->map = NULL;
        return -1;
    }
    f->stack = (char *)f->map + page;
    f->stack_len = stack_len;
    return 0;
}

void hook_fiber_destroy(hook_fiber_t *f)
{
    hook_fiber_forget(f);
    if (f->map != NULL)
        munmap(f->map, f->map_len);
    f->map = NULL;
}

void hook_fiber_prepare(hook_fiber_t *f, void (*entry)(void *), void *arg)
{
    f->entry = entry;
    f->arg = arg;
#ifdef EDGE_SANITIZE
    /* frames of an abandoned run (a hard stop) may have left poisoned redzones behind */
    ASAN_UNPOISON_MEMORY_REGION(f->stack, f->stack_len);
    f->asan_fake = NULL;
#endif
#ifdef EDGE_TSAN
    hook_fiber_forget(f);
    f->tsan_fiber = __tsan_create_fiber(0);
#endif
#ifdef HOOK_FIBER_ASM
    uintptr_t top = ((uintptr_t)f->stack + f->stack_len) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 64);
    uint32_t mxcsr;
    uint16_t fpucw;
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    sp[0] = (uint64_t)mxcsr | ((uint64_t)fpucw << 32);
    sp[1] = 0;                          /* r15 */
    sp[2] = 0;                          /* r14 */
    sp[3] = (uint64_t)(uintptr_t)arg;   /* r13 */
    sp[4] = (uint64_t)(uintptr_t)entry; /* r12 */
    sp[5] = 0;                          /* rbx */
    sp[6] = 0;                          /* rbp: the end of the frame-pointer chain */
    sp[7] = (uint64_t)(uintptr_t)hook_fiber_start;
    f->sp = sp;
#else
    getcontext(&f->uc);
    f->uc.uc_stack.ss_sp = f->stack;
    f->uc.uc_stack.ss_size = f->stack_len;
    f->uc.uc_link = NULL;
    makecontext(&f->uc, (void (*)(void))fiber_trampoline, 2, (unsigned)((uintptr_t)f >> 32), (unsigned)(uintptr_t)f);
#endif
}

void hook_fiber_resume(hook_fiber_t *f)
{
#ifdef EDGE_SANITIZE
    void *fake = NULL;
    __sanitizer_start_switch_fiber(&fake, f->stack, f->stack_len);
#endif
#ifdef EDGE_TSAN
    f->tsan_resumer = __tsan_get_current_fiber();
    __tsan_switch_to_fiber(f->tsan_fiber, 0);
#endif
#ifdef HOOK_FIBER_ASM
    hook_fiber_swap(&f->resumer_sp, f->sp);
#else
    swapcontext(&f->resumer_uc, &f->uc);
#endif
#ifdef EDGE_SANITIZE
    __sanitizer_finish_switch_fiber(fake, NULL, NULL);
#endif
}

void hook_fiber_entered(hook_fiber_t *f)
{
#ifdef EDGE_SANITIZE
    /* the resumer's stack: where the next yield goes (another thread's after a move) */
    __sanitizer_finish_switch_fiber(f->asan_fake, &f->resumer_bottom, &f->resumer_size);
#else
    (void)f;
#endif
}

void hook_fiber_yield(hook_fiber_t *f, int final)
{
#ifdef EDGE_SANITIZE
    __sanitizer_start_switch_fiber(final ? NULL : &f->asan_fake, f->resumer_bottom, f->resumer_size);
#else
    (void) final;
#endif
#ifdef EDGE_TSAN
    __tsan_switch_to_fiber(f->tsan_resumer, 0);
#endif
#ifdef HOOK_FIBER_ASM
    hook_fiber_swap(&f->sp, f->resumer_sp);
#else
    swapcontext(&f->uc, &f->resumer_uc);
#endif
    hook_fiber_entered(f);
}

void hook_fiber_forget(hook_fiber_t *f)
{
#ifdef EDGE_TSAN
    if (f->tsan_fiber != NULL)
        __tsan_destroy_fiber(f->tsan_fiber);
    f->tsan_fiber = NULL;
#else
    (void)f;
#endif
}
