# poweroff: a banner, then S5 through the ACPI sleep control register (FADT
# SLEEP_CONTROL_REG): SLP_TYPx = 5 in bits 2-4 with SLP_EN (bit 5).
    .include "platform.inc"
    .include "hw.inc"

    .text
    .globl guest_main
guest_main:
    movq $msg_hello, %rdi
    call puts
    movq $msg_s5, %rdi
    call puts
    movb $SleepControlS5, %al
    movw $SleepControlPort, %dx
    outb %al, %dx
    # Only reached if the VMM ignored the write.
    movq $msg_alive, %rdi
    call puts
    ret

    .section .rodata
msg_hello:
    .asciz "poweroff: hello\n"
msg_s5:
    .asciz "poweroff: writing S5 to the sleep control register\n"
msg_alive:
    .asciz "poweroff: still running\n"
