# smp: finds the CPUs in the ACPI MADT (RSDP from hvm_start_info or the BIOS-area scan), then
# starts each AP in turn with INIT-SIPI-SIPI through the local APIC. An AP begins in real mode
# at a trampoline copied below 1 MiB, switches to protected and then long mode with the BSP's
# page tables, prints "cpu N up" (N = its local APIC id) and halts. One AP at a time, so no
# locks are needed around the UART.
    .include "platform.inc"
    .include "hw.inc"

    .equ TRAMPOLINE, 0x8000              # 4 KiB aligned, below 1 MiB: SIPI vector 0x08
    .equ MAX_CPUS, 64
    .equ AP_STACK_SIZE, 1024
    .equ ICR_INIT, 0x4500                # INIT, level assert
    .equ ICR_STARTUP, 0x4600             # Start-up IPI; the vector is the page number
    .equ MADT_SIGNATURE, 0x43495041      # "APIC"

    .text
    .globl guest_main
guest_main:
    movl $100, %edi
    call timer_start
    call find_rsdp
    testq %rax, %rax
    jnz 1f
    movq $msg_no_rsdp, %rdi
    call puts
    ret
1:  movq %rax, %rdi
    call collect_apic_ids
    movq $msg_smp, %rdi
    call puts
    movq cpu_count, %rdi
    call put_dec
    movq $msg_in_madt, %rdi
    call puts

    movl $LocalApicStart, %ebx
    movl LAPIC_ID(%rbx), %edi
    shrl $24, %edi
    movl %edi, %r12d                     # the BSP's APIC id
    call print_cpu_up

    movq $trampoline_start, %rsi
    movq $TRAMPOLINE, %rdi
    movl $trampoline_end - trampoline_start, %ecx
    rep movsb

    movq $1, %r13                        # CPUs up
    xorl %r14d, %r14d                    # index into apic_ids
2:  cmpq cpu_count, %r14
    jae 5f
    movzbl apic_ids(%r14), %edi
    cmpl %r12d, %edi
    je 4f
    movl %r14d, %esi
    call start_ap
    testq %rax, %rax
    jz 3f
    incq %r13
    jmp 4f
3:  movq $msg_cpu, %rdi
    call puts
    movzbl apic_ids(%r14), %edi
    call put_dec
    movq $msg_not_up, %rdi
    call puts
4:  incq %r14
    jmp 2b
5:  movq $msg_smp, %rdi
    call puts
    movq %r13, %rdi
    call put_dec
    movq $msg_of, %rdi
    call puts
    movq cpu_count, %rdi
    call put_dec
    movq $msg_cpus_up, %rdi
    call puts
    ret

# print_cpu_up: "cpu <%edi> up"
print_cpu_up:
    push %rdi
    movq $msg_cpu, %rdi
    call puts
    pop %rdi
    call put_dec
    push %rdi
    movq $msg_up, %rdi
    call puts
    pop %rdi
    ret

# collect_apic_ids: %rdi = RSDP. Fills apic_ids/cpu_count from the enabled Processor Local
# APIC entries of the MADT, found through the XSDT (revision 2) or the RSDT.
collect_apic_ids:
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    push %r8
    movq $0, cpu_count
    cmpb $2, 15(%rdi)
    jb 1f
    movq 24(%rdi), %rbx                  # XSDT, 8-byte entries
    testq %rbx, %rbx
    jz 1f
    movl $8, %r8d
    jmp 2f
1:  movl 16(%rdi), %ebx                  # RSDT, 4-byte entries
    movl $4, %r8d
2:  movl 4(%rbx), %ecx
    addq %rbx, %rcx                      # end of the root table
    leaq 36(%rbx), %rsi
3:  cmpq %rcx, %rsi
    jae 9f
    movl (%rsi), %edx                    # the low 32 bits: our tables lie below 4 GiB
    cmpl $MADT_SIGNATURE, (%rdx)
    je 4f
    addq %r8, %rsi
    jmp 3b
4:  movl 4(%rdx), %ecx
    addq %rdx, %rcx                      # end of the MADT
    leaq 44(%rdx), %rsi
5:  cmpq %rcx, %rsi
    jae 9f
    movzbl 1(%rsi), %edx
    testl %edx, %edx
    jz 9f
    cmpb $0, (%rsi)                      # type 0: Processor Local APIC
    jne 6f
    testl $1, 4(%rsi)                    # enabled
    jz 6f
    movq cpu_count, %rbx
    cmpq $MAX_CPUS, %rbx
    jae 6f
    movb 3(%rsi), %al
    movb %al, apic_ids(%rbx)
    incq cpu_count
6:  addq %rdx, %rsi
    jmp 5b
9:  pop %r8
    pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    ret

# start_ap: %edi = APIC id, %esi = slot for its stack. %rax = 1 once it reported in, 0 after 1 s.
start_ap:
    push %rbx
    push %rcx
    push %rdi
    movq $0, ap_ready
    movl %esi, %eax
    incl %eax
    imull $AP_STACK_SIZE, %eax
    addq $ap_stacks, %rax
    movq %rax, ap_stack
    movl $LocalApicStart, %ebx
    movl %edi, %ecx
    shll $24, %ecx
    movl %ecx, LAPIC_ICR_HIGH(%rbx)
    movl $ICR_INIT, LAPIC_ICR_LOW(%rbx)
    movl $1, %edi
    call wait_ticks                      # 10 ms
    movl %ecx, LAPIC_ICR_HIGH(%rbx)
    movl $ICR_STARTUP | (TRAMPOLINE >> 12), LAPIC_ICR_LOW(%rbx)
    movl $1, %edi
    call wait_ticks
    cmpq $0, ap_ready
    jne 3f
    movl %ecx, LAPIC_ICR_HIGH(%rbx)      # a second SIPI, as the MP start-up algorithm does
    movl $ICR_STARTUP | (TRAMPOLINE >> 12), LAPIC_ICR_LOW(%rbx)
    movl $100, %ecx
1:  cmpq $0, ap_ready
    jne 3f
    movl $1, %edi
    call wait_ticks
    decl %ecx
    jnz 1b
    xorl %eax, %eax
    jmp 4f
3:  movl $1, %eax
4:  pop %rdi
    pop %rcx
    pop %rbx
    ret

# ---- The AP's path ----

    .code16
trampoline_start:
    cli
    movw %cs, %ax
    movw %ax, %ds
    lgdtl tramp_gdt_ptr - trampoline_start
    movl %cr0, %eax
    orl $CR0_PE, %eax
    movl %eax, %cr0
    ljmpl $CODE32_SEL, $ap_start32
tramp_gdt_ptr:
    .word 4 * 8 - 1                      # the four descriptors of common.s's gdt
    .long gdt
trampoline_end:

    .code32
ap_start32:
    movl $DATA_SEL, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl ap_stack, %esp
    call enable_paging32
    ljmp $CODE64_SEL, $ap_start64

    .code64
ap_start64:
    movl $DATA_SEL, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movq ap_stack, %rsp
    lidt idt_ptr
    movl $LocalApicStart, %ebx
    movl LAPIC_ID(%rbx), %edi
    shrl $24, %edi
    call print_cpu_up
    movq $1, ap_ready
1:  cli
    hlt
    jmp 1b

    .section .rodata
msg_no_rsdp:
    .asciz "smp: no ACPI RSDP found\n"
msg_smp:
    .asciz "smp: "
msg_in_madt:
    .asciz " cpus in the MADT\n"
msg_cpu:
    .asciz "cpu "
msg_up:
    .asciz " up\n"
msg_not_up:
    .asciz " did not come up\n"
msg_of:
    .asciz " of "
msg_cpus_up:
    .asciz " cpus up\n"

    .data
    .p2align 3
ap_ready:
    .quad 0
ap_stack:
    .quad 0

    .bss
    .p2align 4
cpu_count:
    .skip 8
apic_ids:
    .skip MAX_CPUS
    .p2align 4
ap_stacks:
    .skip (MAX_CPUS + 1) * AP_STACK_SIZE
