# echo: COM1 receive interrupts (IER bit 0) on IRQ 4 through the 8259. Each received byte is
# echoed at once; at the end of a line the guest prints "echo: <line>".
    .include "platform.inc"
    .include "hw.inc"

    .equ LINE_MAX, 120

    .text
    .globl guest_main
guest_main:
    movl $PIC_VECTOR_BASE + Com1Irq, %edi
    movq $uart_isr, %rsi
    call set_gate
    movw $Com1Port + UART_IER, %dx
    movb $0x01, %al                      # received-data-available interrupt
    outb %al, %dx
    movl $Com1Irq, %edi
    call pic_unmask
    movq $msg_ready, %rdi
    call puts
    jmp idle_forever

uart_isr:
    push %rax
    push %rcx
    push %rdx
    push %rdi
1:  movw $Com1Port + UART_LSR, %dx
    inb %dx, %al
    testb $LSR_DATA_READY, %al
    jz 9f
    movw $Com1Port + UART_RBR, %dx
    inb %dx, %al
    movzbl %al, %edi
    cmpl $13, %edi
    je 5f
    cmpl $10, %edi
    je 5f
    call putc
    movq line_len, %rcx
    cmpq $LINE_MAX, %rcx
    jae 1b
    movb %dil, line(%rcx)
    incq line_len
    jmp 1b
5:  movl $10, %edi                       # end of line: "\necho: <line>\n"
    call putc
    movq line_len, %rcx
    movb $0, line(%rcx)
    movq $msg_echo, %rdi
    call puts
    movq $line, %rdi
    call puts
    movl $10, %edi
    call putc
    movq $0, line_len
    jmp 1b
9:  call pic_eoi
    pop %rdi
    pop %rdx
    pop %rcx
    pop %rax
    iretq

    .section .rodata
msg_ready:
    .asciz "echo: ready\n"
msg_echo:
    .asciz "echo: "

    .bss
line_len:
    .skip 8
line:
    .skip LINE_MAX + 1
