using System.Text.Json.Serialization;
using CloudHypervisor.Vmm.Kvm.Interop;
using CloudHypervisor.Vmm.State;
using Serilog;

namespace CloudHypervisor.Vmm.Kvm;

/// <summary>A vCPU's state as upstream writes it: the hypervisor's name as the only key, <c>{"Kvm":{..}}</c>.</summary>
public sealed record VcpuState
{
    [JsonPropertyName("Kvm")]
    public required VcpuKvmState Kvm { get; init; }
}

/// <summary>
/// One vCPU on KVM, upstream's field names; the kernel structs are their bytes (base64), so a
/// record of another kernel ABI is refused by length rather than misread.
/// </summary>
public sealed record VcpuKvmState
{
    /// <summary>The kvm_cpuid_entry2 array the vCPU ran with.</summary>
    public required byte[] Cpuid { get; init; }

    public required List<MsrState> Msrs { get; init; }

    public required byte[] VcpuEvents { get; init; }

    public required byte[] Regs { get; init; }

    public required byte[] Sregs { get; init; }

    public required byte[] Fpu { get; init; }

    public required byte[] LapicState { get; init; }

    public required byte[] Xsave { get; init; }

    public required byte[] Xcrs { get; init; }

    public required uint MpState { get; init; }

    public uint? TscKhz { get; init; }
}

public sealed record MsrState
{
    public required uint Index { get; init; }

    public required ulong Data { get; init; }
}

/// <summary>
/// The VM-wide KVM state, the root's data: upstream's <c>clock</c> and <c>common_cpuid</c>, plus
/// the in-kernel PICs and PIT, which upstream's split irqchip keeps in user space.
/// </summary>
public sealed record VmSnapshotState
{
    public required byte[] Clock { get; init; }

    public required byte[] CommonCpuid { get; init; }

    public required byte[] PicMaster { get; init; }

    public required byte[] PicSlave { get; init; }

    public required byte[] Pit { get; init; }
}

/// <summary>One in-kernel interrupt controller (kvm_irqchip) as its bytes.</summary>
public sealed record IrqChipState
{
    public required byte[] Chip { get; init; }
}

/// <summary>The in-kernel IOAPIC as the <c>__ioapic</c> device's state.</summary>
internal sealed class KvmIoApicState(KvmVmFd vm) : IStateful
{
    public string SaveState() =>
        StateJson.Write(new IrqChipState { Chip = StateJson.Bytes(vm.GetIrqChip(KvmConstants.KVM_IRQCHIP_IOAPIC)) }, StateJsonContext.Default.IrqChipState);

    public void RestoreState(string state) =>
        vm.SetIrqChip(ChipState.Read(StateJson.Read(state, StateJsonContext.Default.IrqChipState).Chip, "chip", KvmConstants.KVM_IRQCHIP_IOAPIC));
}

/// <summary>Reading and writing the KVM state records of vCPUs and of the VM.</summary>
internal static class ChipState
{
    public static kvm_irqchip Read(byte[] bytes, string field, uint chipId)
    {
        var chip = StateJson.Struct<kvm_irqchip>(bytes, field);
        if (chip.chip_id != chipId)
        {
            throw new StateFormatException(field, $"is irqchip {chip.chip_id}, expected {chipId}");
        }

        return chip;
    }

    public static string SaveVm(KvmVmFd vm, kvm_cpuid_entry2[] commonCpuid) =>
        StateJson.Write(new VmSnapshotState
        {
            Clock = StateJson.Bytes(vm.GetClock()),
            CommonCpuid = StateJson.Bytes<kvm_cpuid_entry2>(commonCpuid),
            PicMaster = StateJson.Bytes(vm.GetIrqChip(KvmConstants.KVM_IRQCHIP_PIC_MASTER)),
            PicSlave = StateJson.Bytes(vm.GetIrqChip(KvmConstants.KVM_IRQCHIP_PIC_SLAVE)),
            Pit = StateJson.Bytes(vm.GetPit2()),
        }, StateJsonContext.Default.VmSnapshotState);

    public static void RestoreVm(KvmVmFd vm, string state)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.VmSnapshotState);
        var master = Read(s.PicMaster, "pic_master", KvmConstants.KVM_IRQCHIP_PIC_MASTER);
        var slave = Read(s.PicSlave, "pic_slave", KvmConstants.KVM_IRQCHIP_PIC_SLAVE);
        var pit = StateJson.Struct<kvm_pit_state2>(s.Pit, "pit");
        var clock = StateJson.Struct<kvm_clock_data>(s.Clock, "clock");
        vm.SetIrqChip(master);
        vm.SetIrqChip(slave);
        vm.SetPit2(pit);
        vm.SetClock(clock);
    }

    public static string SaveVcpu(KvmVcpuFd vcpu, uint[] msrIndices)
    {
        uint? tsc = null;
        try
        {
            tsc = vcpu.GetTscKhz();
        }
        catch (KvmException)
        {
            // A host without a stable TSC frequency: the restore then keeps the host's.
        }

        return StateJson.Write(new VcpuState
        {
            Kvm = new VcpuKvmState
            {
                Cpuid = StateJson.Bytes<kvm_cpuid_entry2>(vcpu.Cpuid),
                Msrs = [.. vcpu.GetReadableMsrs(msrIndices).Select(m => new MsrState { Index = m.index, Data = m.data })],
                VcpuEvents = StateJson.Bytes(vcpu.GetVcpuEvents()),
                Regs = StateJson.Bytes(vcpu.GetRegs()),
                Sregs = StateJson.Bytes(vcpu.GetSregs()),
                Fpu = StateJson.Bytes(vcpu.GetFpu()),
                LapicState = StateJson.Bytes(vcpu.GetLapic()),
                Xsave = StateJson.Bytes(vcpu.GetXsave()),
                Xcrs = StateJson.Bytes(vcpu.GetXcrs()),
                MpState = vcpu.GetMpState().mp_state,
                TscKhz = tsc,
            },
        }, StateJsonContext.Default.VcpuState);
    }

    /// <summary>The CPUID a saved vCPU ran with, parsed and checked before anything is set.</summary>
    public static kvm_cpuid_entry2[] SavedCpuid(string state) =>
        StateJson.Structs<kvm_cpuid_entry2>(StateJson.Read(state, StateJsonContext.Default.VcpuState).Kvm.Cpuid, "Kvm/cpuid");

    /// <summary>
    /// Sets a vCPU from its record in upstream's order (TSC frequency, CPUID, MP state, registers,
    /// FPU/XSAVE, XCRs, LAPIC, MSRs, events). Every struct is checked before the first ioctl.
    /// </summary>
    public static void RestoreVcpu(KvmVcpuFd vcpu, string state, ILogger logger)
    {
        var s = StateJson.Read(state, StateJsonContext.Default.VcpuState).Kvm;
        var cpuid = StateJson.Structs<kvm_cpuid_entry2>(s.Cpuid, "Kvm/cpuid");
        var regs = StateJson.Struct<kvm_regs>(s.Regs, "Kvm/regs");
        var sregs = StateJson.Struct<kvm_sregs>(s.Sregs, "Kvm/sregs");
        var fpu = StateJson.Struct<kvm_fpu>(s.Fpu, "Kvm/fpu");
        var xsave = StateJson.Struct<kvm_xsave>(s.Xsave, "Kvm/xsave");
        var xcrs = StateJson.Struct<kvm_xcrs>(s.Xcrs, "Kvm/xcrs");
        var lapic = StateJson.Struct<kvm_lapic_state>(s.LapicState, "Kvm/lapic_state");
        var events = StateJson.Struct<kvm_vcpu_events>(s.VcpuEvents, "Kvm/vcpu_events");
        if (s.MpState > 9)
        {
            throw new StateFormatException("Kvm/mp_state", $"{s.MpState} is not a KVM_MP_STATE");
        }

        if (s.TscKhz is { } khz and > 0 && vcpu.GetTscKhz() != khz)
        {
            vcpu.SetTscKhz(khz);
        }

        vcpu.SetCpuid(cpuid);
        vcpu.SetMpState(new kvm_mp_state { mp_state = s.MpState });
        vcpu.SetRegs(regs);
        vcpu.SetSregs(sregs);
        vcpu.SetFpu(fpu);
        vcpu.SetXsave(xsave);
        if (xcrs.nr_xcrs > 0)
        {
            vcpu.SetXcrs(xcrs);
        }

        vcpu.SetLapic(lapic);
        var refused = vcpu.SetMsrsSkippingRefused([.. s.Msrs.Select(m => new kvm_msr_entry { index = m.Index, data = m.Data })]);
        if (refused.Count > 0)
        {
            logger.Warning("vCPU {Vcpu}: KVM refused {Count} saved MSRs: {Msrs}", vcpu.Id, refused.Count, string.Join(", ", refused.Select(i => $"0x{i:X}")));
        }

        vcpu.SetVcpuEvents(events);
    }

    /// <summary>
    /// Refuses a snapshot whose vCPU saw CPU features this host's KVM cannot give (upstream's
    /// "Error checking cpu feature compatibility"): the feature leaves must be a subset of what
    /// this VMM would set here.
    /// </summary>
    public static void CheckCompatible(kvm_cpuid_entry2[] saved, kvm_cpuid_entry2[] here, string field)
    {
        ReadOnlySpan<(uint Function, uint Index)> leaves = [(1, 0), (7, 0), (7, 1), (0x8000_0001, 0)];
        foreach (var (function, index) in leaves)
        {
            var s = Array.Find(saved, e => e.function == function && e.index == index);
            if (s.function != function)
            {
                continue;
            }

            var h = Array.Find(here, e => e.function == function && e.index == index);
            (string Name, uint Was, uint Now)[] registers = function is 1 or 0x8000_0001
                ? [("ecx", s.ecx, h.ecx), ("edx", s.edx, h.edx)]
                : [("ebx", s.ebx, h.ebx), ("ecx", s.ecx, h.ecx), ("edx", s.edx, h.edx)];
            foreach (var (name, was, now) in registers)
            {
                var missing = was & ~now;
                if (missing != 0)
                {
                    throw new StateFormatException(field,
                        $"leaf 0x{function:X}.{index} {name} has features 0x{missing:X8} that this host's KVM does not offer (the snapshot is from an incompatible CPU)");
                }
            }
        }
    }
}
