# reset: a banner, then a reset through the ACPI reset register (FADT RESET_REG); with
# "i8042" on the command line, through the keyboard controller's reset line (0xFE to port 0x64)
# instead. Every boot resets again, so the VMM sees a reboot per boot.
    .include "platform.inc"
    .include "hw.inc"

    .text
    .globl guest_main
guest_main:
    movq $msg_hello, %rdi
    call puts
    movq $word_i8042, %rdi
    call cmdline_has
    testq %rax, %rax
    jnz 1f
    movq $msg_acpi, %rdi
    call puts
    movb $ResetValue, %al
    movw $ResetPort, %dx
    outb %al, %dx
    jmp 2f
1:  movq $msg_i8042, %rdi
    call puts
    movb $I8042ResetCommand, %al
    outb %al, $I8042CommandPort
2:  movq $msg_alive, %rdi
    call puts
    ret

    .section .rodata
word_i8042:
    .asciz "i8042"
msg_hello:
    .asciz "reset: hello\n"
msg_acpi:
    .asciz "reset: writing the ACPI reset register\n"
msg_i8042:
    .asciz "reset: pulsing the i8042 reset line\n"
msg_alive:
    .asciz "reset: still running\n"
