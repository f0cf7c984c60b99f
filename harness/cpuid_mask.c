/* Make a process see a CPU without AVX-512 (nor AVX-VNNI), on a CPU that has them.
 *
 * Loaded with LD_PRELOAD by harness.vector_isa. Its constructor asks Linux to make the CPUID
 * instruction fault in this thread (arch_prctl ARCH_SET_CPUID, which needs the CPU's "cpuid_fault"
 * feature; threads created later inherit it). Each CPUID then lands in the SIGSEGV handler below,
 * which runs the real instruction with faulting briefly off and clears the AVX-512 and AVX-VNNI bits
 * of its answer. Libraries that pick kernels by CPUID at run time (XNNPACK through cpuinfo, NumPy,
 * OpenCV) therefore choose their AVX2 code paths, which then run natively at full speed: timings are
 * those of this CPU's cores running AVX2 kernels, not an emulation.
 *
 * Not covered: code that read CPUID before this constructor ran (the dynamic loader and glibc's own
 * string functions), and any library that installs its own SIGSEGV handler afterwards.
 */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

/* CPUID leaf 7 bits that name AVX-512 extensions (Intel SDM vol. 2A, CPUID). */
#define LEAF7_EBX_AVX512 ((1u << 16) | (1u << 17) | (1u << 21) | (1u << 26) | (1u << 27) | (1u << 28) | \
                          (1u << 30) | (1u << 31))                 /* F DQ IFMA PF ER CD BW VL */
#define LEAF7_ECX_AVX512 ((1u << 1) | (1u << 6) | (1u << 11) | (1u << 12) | (1u << 14))
                                                                   /* VBMI VBMI2 VNNI BITALG VPOPCNTDQ */
#define LEAF7_EDX_AVX512 ((1u << 2) | (1u << 3) | (1u << 8) | (1u << 23)) /* 4VNNIW 4FMAPS VP2INTERSECT FP16 */
#define LEAF7_1_EAX_MASKED ((1u << 4) | (1u << 5))                  /* AVX-VNNI, AVX512_BF16 */

static int set_cpuid_faulting(int faulting) {
    return (int)syscall(SYS_arch_prctl, ARCH_SET_CPUID, faulting ? 0 : 1);
}

static void real_cpuid(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
    __asm__ volatile("cpuid" : "=a"(out[0]), "=b"(out[1]), "=c"(out[2]), "=d"(out[3]) : "a"(leaf), "c"(subleaf));
}

static void mask_answer(uint32_t leaf, uint32_t subleaf, uint32_t out[4]) {
    if (leaf == 7 && subleaf == 0) {
        out[1] &= ~LEAF7_EBX_AVX512;
        out[2] &= ~LEAF7_ECX_AVX512;
        out[3] &= ~LEAF7_EDX_AVX512;
    } else if (leaf == 7 && subleaf == 1) {
        out[0] &= ~LEAF7_1_EAX_MASKED;
    }
}

static void on_segv(int sig, siginfo_t *info, void *context) {
    ucontext_t *uc = (ucontext_t *)context;
    greg_t *regs = uc->uc_mcontext.gregs;
    const unsigned char *at = (const unsigned char *)regs[REG_RIP];
    (void)info;
    if (at[0] != 0x0F || at[1] != 0xA2) { /* not CPUID: a real crash, die as without us */
        signal(sig, SIG_DFL);
        return;
    }
    uint32_t leaf = (uint32_t)regs[REG_RAX], subleaf = (uint32_t)regs[REG_RCX], out[4];
    set_cpuid_faulting(0);
    real_cpuid(leaf, subleaf, out);
    set_cpuid_faulting(1);
    mask_answer(leaf, subleaf, out);
    regs[REG_RAX] = out[0];
    regs[REG_RBX] = out[1];
    regs[REG_RCX] = out[2];
    regs[REG_RDX] = out[3];
    regs[REG_RIP] += 2;
}

__attribute__((constructor)) static void install(void) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_segv;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    if (sigaction(SIGSEGV, &action, NULL) != 0 || set_cpuid_faulting(1) != 0) {
        /* Without CPUID faulting the mask cannot work: say so and stop, never time the wrong kernels. */
        fprintf(stderr, "cpuid_mask: this CPU or kernel cannot make CPUID fault (no cpuid_fault)\n");
        _exit(97);
    }
}
