using CloudHypervisor.Vmm.Kvm.Interop;

namespace CloudHypervisor.Vmm.Tests.Kvm;

/// <summary>Every vCPU and VM state ioctl the snapshot issue needs, round-tripped on a real VM.</summary>
public sealed class KvmStateTests
{
    [Fact]
    public void Every_vcpu_and_vm_state_can_be_read_and_written_back()
    {
        KvmRequirement.Check();
        using var system = KvmSystem.Open();
        using var vm = system.CreateVm();
        vm.CreateIrqChip();
        vm.CreatePit2();
        using var vcpu = vm.CreateVcpu(0, system.VcpuMmapSize);
        vcpu.SetCpuid(system.GetSupportedCpuid());

        var regs = vcpu.GetRegs();
        regs.rax = 0x1234_5678;
        vcpu.SetRegs(regs);
        Assert.Equal(0x1234_5678UL, vcpu.GetRegs().rax);

        vcpu.SetSregs(vcpu.GetSregs());
        vcpu.SetFpu(vcpu.GetFpu());
        vcpu.SetLapic(vcpu.GetLapic());
        vcpu.SetMpState(vcpu.GetMpState());
        vcpu.SetVcpuEvents(vcpu.GetVcpuEvents());
        vcpu.SetXcrs(vcpu.GetXcrs());
        vcpu.SetXsave(vcpu.GetXsave());
        var msrs = vcpu.GetMsrs([0x174, 0xC000_0082]);
        Assert.Equal(2, msrs.Length);
        vcpu.SetMsrs(msrs);
        Assert.NotEmpty(system.GetMsrIndexList());

        for (uint chip = 0; chip < 3; chip++)
        {
            vm.SetIrqChip(vm.GetIrqChip(chip));
        }

        vm.SetPit2(vm.GetPit2());
        vm.SetClock(vm.GetClock());
    }
}
