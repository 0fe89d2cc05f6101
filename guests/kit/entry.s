# The kit's glue to common.s: a C-sized stack for kit_main, the CPL3 round trip and the MSI-X
# interrupt stubs. common.s calls guest_main at CPL0 with interrupts off.

    .include "hw.inc"
    .include "platform.inc"

    .equ USER_CS, 0x2B                   # kit GDT (user.c): 0x28 user code64 | RPL 3
    .equ USER_SS, 0x23                   # 0x20 user data | RPL 3

    .text
    .globl guest_main
guest_main:
    movq $kit_stack_top, %rsp            # 16-aligned; the call makes it the ABI's 8 mod 16
    call kit_init
    call kit_main
    call kit_finish
1:  cli
    hlt
    jmp 1b

# u64 kit_run_user_asm(u64 (*fn)(u64) %rdi, u64 arg %rsi, u64 stack_top %rdx)
# Saves the callee-saved registers and %rsp, then iretq to CPL3 with IOPL 3 and IF 1.
    .globl kit_run_user_asm
kit_run_user_asm:
    push %rbx
    push %rbp
    push %r12
    push %r13
    push %r14
    push %r15
    movq %rsp, kit_user_saved_rsp
    pushq $USER_SS
    pushq %rdx
    pushq $0x3202                        # IOPL 3, IF, reserved bit 1
    pushq $USER_CS
    pushq $user_trampoline
    movq %rdi, %rax
    movq %rsi, %rdi
    iretq

# CPL3: call the function, hand its result back through the DPL3 gate.
user_trampoline:
    call *%rax
    movq %rax, %rdi
user_int80:
    int $0x80
1:  jmp 1b

# This host's KVM (kvm_pvm) answers int $n at CPL3 with #UD instead of the gate, with the
# faulting frame intact: a #UD raised by exactly that instruction at CPL3 is the same return.
    .globl kit_user_ud
kit_user_ud:
    cmpq $user_int80, (%rsp)
    jne kit_exc_6
    testb $3, 8(%rsp)
    jz kit_exc_6
    incq kit_user_ud_returns
    jmp kit_user_return

# The int $0x80 gate (DPL 3) arrives here at CPL0 on the TSS's RSP0 stack: drop that frame and
# return from kit_run_user_asm with the user function's result.
    .globl kit_user_return
kit_user_return:
    movq %rdi, %rax
    movq kit_user_saved_rsp, %rsp
    movl $DATA_SEL, %ecx
    movl %ecx, %ss
    movl %ecx, %ds
    movl %ecx, %es
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %rbp
    pop %rbx
    ret

# Exceptions: the kit's handlers say where (common.s only says which), then stop this CPU.
# Vectors 8, 10-14, 17, 21, 29 and 30 push an error code; the stubs push 0 for the others so
# kit_exception(vector %rdi, frame %rsi) always sees error, rip, cs, rflags, rsp, ss.
    .altmacro
    .macro EXC_STUB n
kit_exc_\n:
    .if (\n == 8) || (\n >= 10 && \n <= 14) || (\n == 17) || (\n == 21) || (\n == 29) || (\n == 30)
    .else
    pushq $0
    .endif
    movl $\n, %edi
    movq %rsp, %rsi
    andq $-16, %rsp
    call kit_exception
1:  cli
    hlt
    jmp 1b
    .endm
    .macro EXC_ENTRY n
    .quad kit_exc_\n
    .endm
    .set vec, 0
    .rept 32
    EXC_STUB %vec
    .set vec, vec + 1
    .endr
    .section .rodata
    .p2align 3
    .globl kit_exception_stubs
kit_exception_stubs:
    .set vec, 0
    .rept 32
    EXC_ENTRY %vec
    .set vec, vec + 1
    .endr
    .noaltmacro
    .text

# #GP with every register saved: kit_gp(regs) emulates port I/O (and cli/sti) that faulted at
# CPL3, because this host's kvm_pvm does not honour IOPL 3 in guest user mode; anything else is
# reported like the other exceptions. regs: r15 ... rax, error code, then the CPU's frame.
    .globl kit_gp_stub
kit_gp_stub:
    push %rax
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %rdi
    push %rbp
    push %r8
    push %r9
    push %r10
    push %r11
    push %r12
    push %r13
    push %r14
    push %r15
    movq %rsp, %rdi
    movq %rsp, %rbx
    andq $-16, %rsp
    call kit_gp
    movq %rbx, %rsp
    testl %eax, %eax
    jz 1f
    pop %r15
    pop %r14
    pop %r13
    pop %r12
    pop %r11
    pop %r10
    pop %r9
    pop %r8
    pop %rbp
    pop %rdi
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    pop %rax
    addq $8, %rsp                        # the error code
    iretq
1:  movl $13, %edi
    leaq 120(%rbx), %rsi
    andq $-16, %rsp
    call kit_exception
2:  cli
    hlt
    jmp 2b

# The GED's interrupt (GSI GedIrq through the 8259, as powerbutton.s): its event register at
# GedStart is read-to-clear, so the ISR collects it into kit_ged_events.
    .globl kit_ged_isr
kit_ged_isr:
    push %rax
    push %rbx
    movl $GedStart, %ebx
    movl (%rbx), %eax
    orl %eax, kit_ged_events
    movb $PIC_EOI, %al
    outb %al, $PIC1_CMD
    pop %rbx
    pop %rax
    iretq

# MSI-X vectors KIT_MSI_VECTOR_BASE + n: count and EOI the local APIC.
    .altmacro
    .macro MSI_STUB n
msi_stub_\n:
    push %rax
    incq kit_msi_count + 8 * \n
    movl $LocalApicStart + LAPIC_EOI, %eax
    movl $0, (%rax)
    pop %rax
    iretq
    .endm
    .macro MSI_ENTRY n
    .quad msi_stub_\n
    .endm
    .set vec, 0
    .rept 32
    MSI_STUB %vec
    .set vec, vec + 1
    .endr

    .section .rodata
    .p2align 3
    .globl kit_msi_stubs
kit_msi_stubs:
    .set vec, 0
    .rept 32
    MSI_ENTRY %vec
    .set vec, vec + 1
    .endr
    .noaltmacro

    .bss
    .p2align 4
    .globl kit_user_saved_rsp
kit_user_saved_rsp:
    .skip 8
    .globl kit_ged_events
kit_ged_events:
    .skip 8
    .globl kit_user_ud_returns
kit_user_ud_returns:
    .skip 8
    .p2align 12
    .skip 65536
kit_stack_top:
