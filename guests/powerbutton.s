# powerbutton: waits for the Generic Event Device's interrupt (GSI 5, through the 8259), reads
# the GED event register (reading clears it), prints it, and on the power button bit powers off
# through the ACPI sleep control register, as an OSPM running the DSDT's _EVT would.
    .include "platform.inc"
    .include "hw.inc"

    .text
    .globl guest_main
guest_main:
    movl $PIC_VECTOR_BASE + GedIrq, %edi
    movq $ged_isr, %rsi
    call set_gate
    movl $GedIrq, %edi
    call pic_unmask
    movq $msg_wait, %rdi
    call puts
1:  cli
    movl events, %ebx
    movl $0, events
    testl %ebx, %ebx
    jnz 2f
    sti                                  # sti; hlt: no interrupt can slip in between
    hlt
    jmp 1b
2:  sti
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

ged_isr:
    push %rax
    push %rbx
    movl $GedStart, %ebx
    movl (%rbx), %eax
    orl %eax, events
    call pic_eoi
    pop %rbx
    pop %rax
    iretq

    .section .rodata
msg_wait:
    .asciz "powerbutton: waiting for the GED interrupt\n"
msg_event:
    .asciz "powerbutton: GED event "
msg_off:
    .asciz "powerbutton: power button pressed, powering off\n"
msg_alive:
    .asciz "powerbutton: still running\n"

    .bss
    .p2align 2
events:
    .skip 4
