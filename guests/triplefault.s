# triplefault: loads an empty IDT (limit 0) and divides by zero: #DE cannot be delivered, so
# #GP, then #DF, then the CPU shuts down (a triple fault; KVM reports KVM_EXIT_SHUTDOWN).
# A division is used because KVM's emulator executes it and raises #DE itself.
    .include "platform.inc"
    .include "hw.inc"

    .text
    .globl guest_main
guest_main:
    movq $msg_hello, %rdi
    call puts
    cli
    lidt empty_idt
    xorl %ecx, %ecx
    movl $1, %eax
    xorl %edx, %edx
    divl %ecx
    movq $msg_alive, %rdi
    call puts
    ret

    .section .rodata
msg_hello:
    .asciz "triplefault: loading an empty IDT and faulting\n"
msg_alive:
    .asciz "triplefault: still running\n"
    .p2align 3
empty_idt:
    .word 0
    .quad 0
