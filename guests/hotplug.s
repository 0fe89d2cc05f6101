# hotplug: plays the OSPM's part in ACPI PCI hot-plug, as the DSDT's \_SB_.PHPR methods would.
# On the GED interrupt (GSI 5) with the PCI bit set it selects segment 0 (PSEG), reads the added
# slots (PCIU) and reports each new function's vendor/device and, for a virtio-blk, its capacity
# from BAR 0's device configuration; then it reads the slots to remove (PCID), ejects each one
# through B0EJ (what _EJ0 does) and shows its config space reads all ones afterwards.
    .include "platform.inc"
    .include "hw.inc"

    .equ VIRTIO_DEVICE_CONFIG, 0x2000      # our virtio-pci BAR 0 layout (VirtioPciDevice)

    .text
    .globl guest_main
guest_main:
    call ged_listen
    movq $msg_wait, %rdi
    call puts
1:  call ged_wait
    movl %eax, %ebx
    testl $GedEventPciHotplug, %ebx
    jz 1b
    movl $PciHotplugStart, %eax
    movl $0, 12(%rax)                    # PSEG = 0
    movl 0(%rax), %r12d                  # PCIU (cleared by the read)
    movl 4(%rax), %r13d                  # PCID (cleared by the read)
    movl $1, %r14d
3:  btl %r14d, %r12d
    jnc 4f
    call report_added
4:  btl %r14d, %r13d
    jnc 5f
    call eject
5:  incl %r14d
    cmpl $32, %r14d
    jb 3b
    jmp 1b

# config_read: dword register %esi of bus 0 device %r14d into %eax.
config_read:
    movl %r14d, %eax
    shll $11, %eax
    orl %esi, %eax
    orl $0x80000000, %eax
    movw $PciConfigAddressPort, %dx
    outl %eax, %dx
    addw $4, %dx
    inl %dx, %eax
    ret

report_added:
    movq $msg_slot, %rdi
    call puts
    movl %r14d, %edi
    call put_dec
    movq $msg_added, %rdi
    call puts
    movl $0, %esi
    call config_read
    movl %eax, %r15d
    movl %eax, %edi
    call put_hex32
    cmpl $0x10421AF4, %r15d              # virtio-blk (modern): 1af4:1042
    jne 6f
    movq $msg_capacity, %rdi
    call puts
    movl $0x10, %esi                     # BAR 0, 64-bit, placed below 4 GiB by the VMM
    call config_read
    andl $0xFFFFFFF0, %eax
    movl VIRTIO_DEVICE_CONFIG(%rax), %edi # capacity in sectors, low half
    call put_dec
6:  movl $10, %edi
    call putc
    ret

eject:
    movl $1, %eax
    movl %r14d, %ecx
    shll %cl, %eax
    movl $PciHotplugStart, %edx
    movl %eax, 8(%rdx)                   # B0EJ
    movq $msg_slot, %rdi
    call puts
    movl %r14d, %edi
    call put_dec
    movq $msg_ejected, %rdi
    call puts
    movl $0, %esi
    call config_read
    movl %eax, %edi
    call put_hex32
    movl $10, %edi
    call putc
    ret

    .section .rodata
msg_wait:
    .asciz "hotplug: waiting for the GED interrupt\n"
msg_slot:
    .asciz "hotplug: slot "
msg_added:
    .asciz " added: "
msg_capacity:
    .asciz " virtio-blk capacity "
msg_ejected:
    .asciz " ejected, now reads "
