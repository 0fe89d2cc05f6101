# ticks: the PIT at 100 Hz drives IRQ 0; every 25 ticks (4 times a second) prints the count,
# so a pause stops the numbers and a resume restarts them.
    .include "platform.inc"
    .include "hw.inc"

    .text
    .globl guest_main
guest_main:
    movq $msg_start, %rdi
    call puts
    movl $100, %edi
    call timer_start
    xorl %ebx, %ebx
1:  movl $25, %edi
    call wait_ticks
    incq %rbx
    movq $msg_tick, %rdi
    call puts
    movq %rbx, %rdi
    call put_dec
    movl $10, %edi
    call putc
    jmp 1b

    .section .rodata
msg_start:
    .asciz "ticks: start\n"
msg_tick:
    .asciz "ticks: "
