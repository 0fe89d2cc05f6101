# banner: prints a banner on COM1 and on the debug console port (0xE9), then one tick line a
# second, so a console shows the guest is alive.
    .include "platform.inc"
    .include "hw.inc"

    .text
    .globl guest_main
guest_main:
    movq $msg_banner, %rdi
    call puts
    call puts_e9
    movl $100, %edi
    call timer_start
    xorl %ebx, %ebx
1:  movl $100, %edi
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
msg_banner:
    .asciz "banner: hello from the cloud-hypervisor test guest\n"
msg_tick:
    .asciz "banner: tick "
