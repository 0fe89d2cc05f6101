# powerbutton: waits for the Generic Event Device's interrupt (GSI 5, through the 8259), reads
# the GED event register (reading clears it), prints it, and on the power button bit powers off
# through the ACPI sleep control register, as an OSPM running the DSDT's _EVT would.
    .include "platform.inc"
    .include "hw.inc"

    .text
    .globl guest_main
guest_main:
    call ged_listen
    movq $msg_wait, %rdi
    call puts
1:  call ged_wait
    movl %eax, %ebx
    movq $msg_event, %rdi
    call puts
    movl %ebx, %edi
    call put_hex32
    movl $10, %edi
    call putc
    testl $GedEventPowerButton, %ebx
    jz 1b
    movq $msg_off, %rdi
    call puts
    movb $SleepControlS5, %al
    movw $SleepControlPort, %dx
    outb %al, %dx
    movq $msg_alive, %rdi
    call puts
    ret

    .section .rodata
msg_wait:
    .asciz "powerbutton: waiting for the GED interrupt\n"
msg_event:
    .asciz "powerbutton: GED event "
msg_off:
    .asciz "powerbutton: power button pressed, powering off\n"
msg_alive:
    .asciz "powerbutton: still running\n"
