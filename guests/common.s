# Start-up and helpers shared by every bundled guest.
#
# Boot: PVH (XEN_ELFNOTE_PHYS32_ENTRY). The VMM enters _start32 in 32-bit protected mode, flat
# segments, paging off, EBX = hvm_start_info. We build identity page tables for the low 4 GiB
# (2 MiB pages, so the APIC/IOAPIC/GED MMIO is reachable), enter long mode and call guest_main
# at CPL0 with an IDT, the 8259 PICs remapped to vectors 0x20-0x2F (all masked), COM1 at 115200
# 8N1 and the BSP's LINT0/LINT1 set to ExtINT/NMI.
#
# Everything here must run under KVM's instruction emulator (see NOTES.md "KVM here"): plain
# integer instructions only (no int3, SSE, fwait, xrstor), and waiting is done with the PIT
# interrupt and hlt, never by spinning.
#
# Helper convention: the argument is in %rdi, every register except %rax is preserved.

    .include "platform.inc"
    .include "hw.inc"

    .section .note.Xen, "a"
    .p2align 2
    .long 4                      # namesz ("Xen\0")
    .long 4                      # descsz: a 32-bit physical entry address, as Linux emits it
    .long 18                     # XEN_ELFNOTE_PHYS32_ENTRY
    .asciz "Xen"
    .long _start32

    .section .text.entry, "ax"
    .code32
    .globl _start32
_start32:
    cli
    cld
    movl %ebx, pvh_start_info
    # .bss is not in the file and RAM may hold an earlier boot's data after a reset: zero it.
    movl $__bss_start, %edi
    movl $__bss_end, %ecx
    subl %edi, %ecx
    shrl $2, %ecx
    xorl %eax, %eax
    rep stosl
    lgdt gdt_ptr
    movl $DATA_SEL, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl $boot_stack_top, %esp
    call build_page_tables
    call enable_paging32
    ljmp $CODE64_SEL, $start64

# PML4[0] -> PDPT; PDPT[0..3] -> four page directories of 512 2-MiB pages each.
build_page_tables:
    movl $pdpt + 3, %eax
    movl %eax, pml4
    movl $pdpt, %edi
    movl $pd + 3, %eax
    movl $4, %ecx
1:  movl %eax, (%edi)
    addl $4096, %eax
    addl $8, %edi
    decl %ecx
    jnz 1b
    movl $pd, %edi
    movl $0x83, %eax             # present, writable, 2 MiB page
    movl $2048, %ecx
2:  movl %eax, (%edi)
    addl $0x200000, %eax
    addl $8, %edi
    decl %ecx
    jnz 2b
    ret

# PAE, CR3, EFER.LME, then paging: the CPU is in compatibility mode until the far jump to a
# 64-bit code segment. Shared by the BSP and the APs (smp.s).
    .globl enable_paging32
enable_paging32:
    movl %cr4, %eax
    orl $CR4_PAE, %eax
    movl %eax, %cr4
    movl $pml4, %eax
    movl %eax, %cr3
    movl $MSR_EFER, %ecx
    rdmsr
    orl $EFER_LME, %eax
    wrmsr
    movl %cr0, %eax
    orl $(CR0_PG | CR0_PE), %eax
    movl %eax, %cr0
    ret

    .code64
start64:
    movl $DATA_SEL, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %eax, %fs
    movl %eax, %gs
    movq $boot_stack_top, %rsp
    call idt_init
    call lapic_init
    call pic_init
    call serial_init
    call guest_main
    .globl idle_forever
idle_forever:
    sti
    hlt
    jmp idle_forever

    .text

# ---- Interrupt descriptor table ----

# set_gate: vector in %edi, handler address in %rsi; a 64-bit interrupt gate at DPL 0.
    .globl set_gate
set_gate:
    push %rax
    push %rdi
    movl %edi, %edi
    shlq $4, %rdi
    addq $idt, %rdi
    movq %rsi, %rax
    movw %ax, (%rdi)
    movw $CODE64_SEL, 2(%rdi)
    movw $0x8E00, 4(%rdi)
    shrq $16, %rax
    movw %ax, 6(%rdi)
    shrq $16, %rax
    movl %eax, 8(%rdi)
    movl $0, 12(%rdi)
    pop %rdi
    pop %rax
    ret

    .globl idt_init
idt_init:
    push %rdi
    push %rsi
    xorl %edi, %edi
1:  movq exc_table(,%rdi,8), %rsi
    call set_gate
    incl %edi
    cmpl $32, %edi
    jb 1b
    movq $irq_default, %rsi
2:  call set_gate
    incl %edi
    cmpl $48, %edi
    jb 2b
    movq $ignore_interrupt, %rsi
3:  call set_gate
    incl %edi
    cmpl $256, %edi
    jb 3b
    lidt idt_ptr
    pop %rsi
    pop %rdi
    ret

# An unexpected PIC interrupt still needs its EOI, or lower-priority lines stay blocked.
irq_default:
    push %rax
    movb $PIC_EOI, %al
    outb %al, $PIC2_CMD
    outb %al, $PIC1_CMD
    pop %rax
    iretq

ignore_interrupt:
    iretq

    .altmacro
    .macro EXC_STUB n
exc_stub_\n:
    pushq $\n
    jmp exc_common
    .endm
    .macro EXC_ENTRY n
    .quad exc_stub_\n
    .endm

    .set vec, 0
    .rept 32
    EXC_STUB %vec
    .set vec, vec + 1
    .endr

# Any exception is a bug in a guest: say which and stop this CPU.
exc_common:
    movq $msg_exception, %rdi
    call puts
    movq (%rsp), %rdi
    call put_dec
    movl $10, %edi
    call putc
1:  cli
    hlt
    jmp 1b

    .section .rodata
    .p2align 3
exc_table:
    .set vec, 0
    .rept 32
    EXC_ENTRY %vec
    .set vec, vec + 1
    .endr
msg_exception:
    .asciz "guest: unexpected exception "
    .noaltmacro

    .text

# ---- Local APIC and 8259 PICs ----

# Enable the local APIC with LINT0 = ExtINT (so the PICs reach this CPU) and LINT1 = NMI, as
# firmware leaves a PC; a VMM may or may not have done it already.
    .globl lapic_init
lapic_init:
    push %rbx
    movl $LocalApicStart, %ebx
    movl $0x1FF, LAPIC_SVR(%rbx)         # software enable, spurious vector 0xFF
    movl $0x700, LAPIC_LVT_LINT0(%rbx)   # ExtINT
    movl $0x400, LAPIC_LVT_LINT1(%rbx)   # NMI
    pop %rbx
    ret

pic_init:
    movb $0x11, %al                      # ICW1: edge, cascade, ICW4 follows
    outb %al, $PIC1_CMD
    outb %al, $PIC2_CMD
    movb $PIC_VECTOR_BASE, %al           # ICW2: vector bases
    outb %al, $PIC1_DATA
    movb $PIC_VECTOR_BASE + 8, %al
    outb %al, $PIC2_DATA
    movb $0x04, %al                      # ICW3: slave on IRQ 2
    outb %al, $PIC1_DATA
    movb $0x02, %al
    outb %al, $PIC2_DATA
    movb $0x01, %al                      # ICW4: 8086 mode
    outb %al, $PIC1_DATA
    outb %al, $PIC2_DATA
    movb $0xFB, %al                      # mask all but the cascade
    outb %al, $PIC1_DATA
    movb $0xFF, %al
    outb %al, $PIC2_DATA
    ret

# pic_unmask: IRQ 0-7 in %edi.
    .globl pic_unmask
pic_unmask:
    push %rcx
    push %rdx
    movl %edi, %ecx
    movl $1, %edx
    shll %cl, %edx
    notl %edx
    inb $PIC1_DATA, %al
    andb %dl, %al
    outb %al, $PIC1_DATA
    pop %rdx
    pop %rcx
    ret

    .globl pic_eoi
pic_eoi:
    movb $PIC_EOI, %al
    outb %al, $PIC1_CMD
    ret

# ---- PIT timer ----

# timer_start: %edi = frequency in Hz. IRQ 0 counts `ticks`; interrupts are enabled on return.
    .globl timer_start
timer_start:
    push %rdx
    push %rsi
    push %rdi
    movl $PIC_VECTOR_BASE + PitIrq, %edi
    movq $timer_isr, %rsi
    call set_gate
    pop %rdi
    movl $PIT_HZ, %eax
    xorl %edx, %edx
    divl %edi
    movl %eax, %edx
    movb $0x34, %al                      # channel 0, lobyte/hibyte, mode 2 (rate generator)
    outb %al, $PIT_CMD
    movb %dl, %al
    outb %al, $PIT_CH0
    movb %dh, %al
    outb %al, $PIT_CH0
    push %rdi
    movl $PitIrq, %edi
    call pic_unmask
    pop %rdi
    pop %rsi
    pop %rdx
    sti
    ret

timer_isr:
    push %rax
    incq ticks
    movb $PIC_EOI, %al
    outb %al, $PIC1_CMD
    pop %rax
    iretq

# wait_ticks: sleep %rdi timer ticks (hlt between interrupts). Leaves interrupts enabled.
    .globl wait_ticks
wait_ticks:
    movq ticks, %rax
    addq %rdi, %rax
1:  sti
    hlt
    cmpq %rax, ticks
    jb 1b
    ret

# ---- the Generic Event Device (GSI 5, through the 8259), as an OSPM running the DSDT's _EVT ----

# ged_listen: installs the GED interrupt handler and unmasks its line.
    .globl ged_listen
ged_listen:
    movl $PIC_VECTOR_BASE + GedIrq, %edi
    movq $ged_isr, %rsi
    call set_gate
    movl $GedIrq, %edi
    jmp pic_unmask

# ged_wait: halts until a GED interrupt has come in and returns the event bits gathered since
# the last call in %eax (reading the GED register clears it, so the handler accumulates them).
# Leaves interrupts enabled.
    .globl ged_wait
ged_wait:
1:  cli
    movl ged_events, %eax
    movl $0, ged_events
    testl %eax, %eax
    jnz 2f
    sti                                  # sti; hlt: no interrupt can slip in between
    hlt
    jmp 1b
2:  sti
    ret

ged_isr:
    push %rax
    push %rbx
    movl $GedStart, %ebx
    movl (%rbx), %eax
    orl %eax, ged_events
    call pic_eoi
    pop %rbx
    pop %rax
    iretq

# ---- COM1 and the debug port ----

serial_init:
    push %rdx
    movw $Com1Port + UART_IER, %dx
    movb $0x00, %al                      # no interrupts
    outb %al, %dx
    movw $Com1Port + UART_LCR, %dx
    movb $0x80, %al                      # DLAB
    outb %al, %dx
    movw $Com1Port, %dx
    movb $0x01, %al                      # divisor 1: 115200 baud
    outb %al, %dx
    movw $Com1Port + UART_IER, %dx
    movb $0x00, %al
    outb %al, %dx
    movw $Com1Port + UART_LCR, %dx
    movb $0x03, %al                      # 8N1
    outb %al, %dx
    movw $Com1Port + UART_FCR, %dx
    movb $0xC7, %al                      # FIFOs on and cleared
    outb %al, %dx
    movw $Com1Port + UART_MCR, %dx
    movb $0x0B, %al                      # DTR, RTS, OUT2 (OUT2 gates the IRQ line on a PC)
    outb %al, %dx
    pop %rdx
    ret

# putc: the byte in %dil on COM1; "\n" goes out as "\r\n" for terminals.
    .globl putc
putc:
    cmpb $10, %dil
    jne putc_raw
    push %rdi
    movl $13, %edi
    call putc_raw
    pop %rdi
putc_raw:
    push %rcx
    push %rdx
    # Wait for THR empty, but not forever: a UART that never reports it must not hang us.
    movl $10000, %ecx
    movw $Com1Port + UART_LSR, %dx
1:  inb %dx, %al
    testb $LSR_THR_EMPTY, %al
    jnz 2f
    decl %ecx
    jnz 1b
2:  movw $Com1Port + UART_THR, %dx
    movl %edi, %eax
    outb %al, %dx
    pop %rdx
    pop %rcx
    ret

# puts: the NUL-terminated string at %rdi on COM1.
    .globl puts
puts:
    push %rdi
    push %rsi
    movq %rdi, %rsi
1:  movzbl (%rsi), %edi
    testl %edi, %edi
    jz 2f
    call putc
    incq %rsi
    jmp 1b
2:  pop %rsi
    pop %rdi
    ret

# puts_e9: the NUL-terminated string at %rdi on the debug console port.
    .globl puts_e9
puts_e9:
    push %rsi
    movq %rdi, %rsi
1:  movb (%rsi), %al
    testb %al, %al
    jz 2f
    outb %al, $DebugConsolePort
    incq %rsi
    jmp 1b
2:  pop %rsi
    ret

# put_dec: %rdi as an unsigned decimal number.
    .globl put_dec
put_dec:
    push %rcx
    push %rdx
    push %rdi
    push %rsi
    subq $32, %rsp
    leaq 31(%rsp), %rsi
    movb $0, (%rsi)
    movq %rdi, %rax
    movl $10, %ecx
1:  xorl %edx, %edx
    divq %rcx
    addb $48, %dl
    decq %rsi
    movb %dl, (%rsi)
    testq %rax, %rax
    jnz 1b
    movq %rsi, %rdi
    call puts
    addq $32, %rsp
    pop %rsi
    pop %rdi
    pop %rdx
    pop %rcx
    ret

# put_hex32: %edi as 0x followed by eight hex digits.
    .globl put_hex32
put_hex32:
    push %rcx
    push %rdx
    push %rdi
    movl %edi, %edx
    movl $48, %edi
    call putc
    movl $120, %edi
    call putc
    movl $8, %ecx
1:  roll $4, %edx
    movl %edx, %edi
    andl $0xF, %edi
    cmpl $10, %edi
    jb 2f
    addl $7, %edi
2:  addl $48, %edi
    call putc
    decl %ecx
    jnz 1b
    pop %rdi
    pop %rdx
    pop %rcx
    ret

# ---- Boot information ----

# cmdline_has: %rax = 1 if the NUL-terminated string at %rdi occurs in the PVH command line.
    .globl cmdline_has
cmdline_has:
    push %rbx
    push %rcx
    push %rdx
    push %rsi
    xorl %eax, %eax
    movl pvh_start_info, %ebx
    testl %ebx, %ebx
    jz 9f
    cmpl $HVM_START_MAGIC, (%rbx)
    jne 9f
    movq HVM_CMDLINE_PADDR(%rbx), %rsi
    testq %rsi, %rsi
    jz 9f
1:  xorl %ecx, %ecx                      # compare needle with the line at %rsi
2:  movb (%rdi,%rcx), %dl
    testb %dl, %dl
    jz 8f                                # whole needle matched
    cmpb (%rsi,%rcx), %dl
    jne 3f
    incq %rcx
    jmp 2b
3:  cmpb $0, (%rsi)
    je 9f
    incq %rsi
    jmp 1b
8:  movl $1, %eax
9:  pop %rsi
    pop %rdx
    pop %rcx
    pop %rbx
    ret

# find_rsdp: %rax = the RSDP address from hvm_start_info, else from a scan of 0xE0000-0xFFFFF
# on 16-byte boundaries (as Linux does), else 0.
    .globl find_rsdp
find_rsdp:
    push %rbx
    push %rcx
    movl pvh_start_info, %ebx
    testl %ebx, %ebx
    jz 1f
    cmpl $HVM_START_MAGIC, (%rbx)
    jne 1f
    movq HVM_RSDP_PADDR(%rbx), %rax
    testq %rax, %rax
    jnz 9f
1:  movl $0xE0000, %eax
    movabsq $0x2052545020445352, %rcx    # "RSD PTR "
2:  cmpq %rcx, (%rax)
    je 9f
    addq $16, %rax
    cmpq $0x100000, %rax
    jb 2b
    xorl %eax, %eax
9:  pop %rcx
    pop %rbx
    ret

# ---- Data ----

    .data
    .p2align 3
    .globl pvh_start_info
pvh_start_info:
    .quad 0
    .globl ticks
ticks:
    .quad 0
ged_events:
    .long 0

    .p2align 3
    .globl gdt
gdt:
    .quad 0                              # null
    .quad 0x00AF9A000000FFFF             # 0x08: 64-bit code
    .quad 0x00CF92000000FFFF             # 0x10: flat data
    .quad 0x00CF9A000000FFFF             # 0x18: flat 32-bit code (AP start-up)
gdt_end:
    .globl gdt_ptr
gdt_ptr:
    .word gdt_end - gdt - 1
    .quad gdt
    .globl idt_ptr
idt_ptr:
    .word 256 * 16 - 1
    .quad idt

    .bss
    .p2align 12
    .globl pml4
pml4:
    .skip 4096
pdpt:
    .skip 4096
pd:
    .skip 4 * 4096
idt:
    .skip 256 * 16
    .skip 8192
boot_stack_top:
