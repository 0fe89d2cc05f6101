# nmi: an NMI handler (vector 2) that prints one numbered line per NMI; idles in hlt between.
    .include "platform.inc"
    .include "hw.inc"

    .text
    .globl guest_main
guest_main:
    movl $NMI_VECTOR, %edi
    movq $nmi_isr, %rsi
    call set_gate
    movq $msg_ready, %rdi
    call puts
    ret

nmi_isr:
    push %rax
    push %rdi
    incq nmi_count
    movq $msg_nmi, %rdi
    call puts
    movq nmi_count, %rdi
    call put_dec
    movl $10, %edi
    call putc
    pop %rdi
    pop %rax
    iretq

    .section .rodata
msg_ready:
    .asciz "nmi: ready\n"
msg_nmi:
    .asciz "nmi: received "

    .bss
    .p2align 3
nmi_count:
    .skip 8
