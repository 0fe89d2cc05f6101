using System.Runtime.CompilerServices;
using CloudHypervisor.Interop;
using CloudHypervisor.Vmm.Kvm.Interop;

namespace CloudHypervisor.Vmm.Tests.Kvm;

/// <summary>
/// The interop structs and ioctl numbers against the x86-64 kernel ABI. The expected values are
/// what gcc reports for &lt;linux/kvm.h&gt; (sizeof, and the _IO/_IOR/_IOW/_IOWR macros).
/// </summary>
public sealed class KvmAbiTests
{
    [Fact]
    public void Kernel_structs_have_the_sizes_of_the_kernel_headers()
    {
        Assert.Equal(144, Unsafe.SizeOf<kvm_regs>());
        Assert.Equal(24, Unsafe.SizeOf<kvm_segment>());
        Assert.Equal(16, Unsafe.SizeOf<kvm_dtable>());
        Assert.Equal(312, Unsafe.SizeOf<kvm_sregs>());
        Assert.Equal(416, Unsafe.SizeOf<kvm_fpu>());
        Assert.Equal(32, Unsafe.SizeOf<kvm_userspace_memory_region>());
        Assert.Equal(16, Unsafe.SizeOf<kvm_dirty_log>());
        Assert.Equal(8, Unsafe.SizeOf<kvm_cpuid2>());
        Assert.Equal(40, Unsafe.SizeOf<kvm_cpuid_entry2>());
        Assert.Equal(8, Unsafe.SizeOf<kvm_msrs>());
        Assert.Equal(16, Unsafe.SizeOf<kvm_msr_entry>());
        Assert.Equal(4, Unsafe.SizeOf<kvm_msr_list>());
        Assert.Equal(1024, Unsafe.SizeOf<kvm_lapic_state>());
        Assert.Equal(64, Unsafe.SizeOf<kvm_pit_config>());
        Assert.Equal(8, Unsafe.SizeOf<kvm_irq_level>());
        Assert.Equal(520, Unsafe.SizeOf<kvm_irqchip>());
        Assert.Equal(24, Unsafe.SizeOf<kvm_pit_channel_state>());
        Assert.Equal(112, Unsafe.SizeOf<kvm_pit_state2>());
        Assert.Equal(48, Unsafe.SizeOf<kvm_clock_data>());
        Assert.Equal(4, Unsafe.SizeOf<kvm_mp_state>());
        Assert.Equal(64, Unsafe.SizeOf<kvm_vcpu_events>());
        Assert.Equal(16, Unsafe.SizeOf<kvm_xcr>());
        Assert.Equal(392, Unsafe.SizeOf<kvm_xcrs>());
        Assert.Equal(4096, Unsafe.SizeOf<kvm_xsave>());
        Assert.Equal(32, Unsafe.SizeOf<kvm_run_header>()); // the exit union starts at offset 32
        Assert.Equal(152, Unsafe.SizeOf<Libc.sigaction_t>());
        Assert.Equal(32, Unsafe.SizeOf<Libc.flock>());
        Assert.Equal(8, Unsafe.SizeOf<kvm_irq_routing>());
        Assert.Equal(48, Unsafe.SizeOf<kvm_irq_routing_entry>());
        Assert.Equal(32, Unsafe.SizeOf<kvm_irqfd>());
        Assert.Equal(64, Unsafe.SizeOf<kvm_ioeventfd>());
    }

    [Fact]
    public void Ioctl_numbers_are_those_of_the_kernel_ABI()
    {
        Assert.Equal(0xAE00UL, KvmIoctls.KVM_GET_API_VERSION);
        Assert.Equal(0xAE01UL, KvmIoctls.KVM_CREATE_VM);
        Assert.Equal(0xC004AE02UL, KvmIoctls.KVM_GET_MSR_INDEX_LIST);
        Assert.Equal(0xAE03UL, KvmIoctls.KVM_CHECK_EXTENSION);
        Assert.Equal(0xAE04UL, KvmIoctls.KVM_GET_VCPU_MMAP_SIZE);
        Assert.Equal(0xC008AE05UL, KvmIoctls.KVM_GET_SUPPORTED_CPUID);
        Assert.Equal(0xAE41UL, KvmIoctls.KVM_CREATE_VCPU);
        Assert.Equal(0x4020AE46UL, KvmIoctls.KVM_SET_USER_MEMORY_REGION);
        Assert.Equal(0x4010AE42UL, KvmIoctls.KVM_GET_DIRTY_LOG);
        Assert.Equal(0xAE47UL, KvmIoctls.KVM_SET_TSS_ADDR);
        Assert.Equal(0x4008AE48UL, KvmIoctls.KVM_SET_IDENTITY_MAP_ADDR);
        Assert.Equal(0xAE60UL, KvmIoctls.KVM_CREATE_IRQCHIP);
        Assert.Equal(0x4008AE61UL, KvmIoctls.KVM_IRQ_LINE);
        Assert.Equal(0xC208AE62UL, KvmIoctls.KVM_GET_IRQCHIP);
        Assert.Equal(0x8208AE63UL, KvmIoctls.KVM_SET_IRQCHIP);
        Assert.Equal(0x4040AE77UL, KvmIoctls.KVM_CREATE_PIT2);
        Assert.Equal(0x4008AE6AUL, KvmIoctls.KVM_SET_GSI_ROUTING);
        Assert.Equal(0x4020AE76UL, KvmIoctls.KVM_IRQFD);
        Assert.Equal(0x4040AE79UL, KvmIoctls.KVM_IOEVENTFD);
        Assert.Equal(0x8070AE9FUL, KvmIoctls.KVM_GET_PIT2);
        Assert.Equal(0x4070AEA0UL, KvmIoctls.KVM_SET_PIT2);
        Assert.Equal(0x8030AE7CUL, KvmIoctls.KVM_GET_CLOCK);
        Assert.Equal(0x4030AE7BUL, KvmIoctls.KVM_SET_CLOCK);
        Assert.Equal(0xAE80UL, KvmIoctls.KVM_RUN);
        Assert.Equal(0x8090AE81UL, KvmIoctls.KVM_GET_REGS);
        Assert.Equal(0x4090AE82UL, KvmIoctls.KVM_SET_REGS);
        Assert.Equal(0x8138AE83UL, KvmIoctls.KVM_GET_SREGS);
        Assert.Equal(0x4138AE84UL, KvmIoctls.KVM_SET_SREGS);
        Assert.Equal(0xC008AE88UL, KvmIoctls.KVM_GET_MSRS);
        Assert.Equal(0x4008AE89UL, KvmIoctls.KVM_SET_MSRS);
        Assert.Equal(0x81A0AE8CUL, KvmIoctls.KVM_GET_FPU);
        Assert.Equal(0x41A0AE8DUL, KvmIoctls.KVM_SET_FPU);
        Assert.Equal(0x8400AE8EUL, KvmIoctls.KVM_GET_LAPIC);
        Assert.Equal(0x4400AE8FUL, KvmIoctls.KVM_SET_LAPIC);
        Assert.Equal(0x4008AE90UL, KvmIoctls.KVM_SET_CPUID2);
        Assert.Equal(0xC008AE91UL, KvmIoctls.KVM_GET_CPUID2);
        Assert.Equal(0x8004AE98UL, KvmIoctls.KVM_GET_MP_STATE);
        Assert.Equal(0x4004AE99UL, KvmIoctls.KVM_SET_MP_STATE);
        Assert.Equal(0xAE9AUL, KvmIoctls.KVM_NMI);
        Assert.Equal(0x8040AE9FUL, KvmIoctls.KVM_GET_VCPU_EVENTS);
        Assert.Equal(0x4040AEA0UL, KvmIoctls.KVM_SET_VCPU_EVENTS);
        Assert.Equal(0x9000AEA4UL, KvmIoctls.KVM_GET_XSAVE);
        Assert.Equal(0x5000AEA5UL, KvmIoctls.KVM_SET_XSAVE);
        Assert.Equal(0x8188AEA6UL, KvmIoctls.KVM_GET_XCRS);
        Assert.Equal(0x4188AEA7UL, KvmIoctls.KVM_SET_XCRS);
    }

    [Fact]
    public void A_missing_device_fails_CreateVm_with_an_error_naming_it()
    {
        using var hypervisor = new CloudHypervisor.Vmm.Kvm.KvmHypervisor(
            new Serilog.LoggerConfiguration().CreateLogger(), "/nonexistent/kvm");
        var config = new CloudHypervisor.InternalApi.Models.VmConfig
        {
            Payload = new() { Kernel = "/nonexistent/vmlinux" },
            Console = new() { Mode = CloudHypervisor.InternalApi.Models.ConsoleMode.Off },
        };

        var e = Assert.Throws<CloudHypervisor.Vmm.Hypervisor.HypervisorException>(() => hypervisor.CreateVm(config, new RecordingEvents()));

        Assert.Contains("/nonexistent/kvm", e.Message, StringComparison.Ordinal);
        Assert.Contains("No such file or directory", Assert.Single(e.Causes), StringComparison.Ordinal);
        Assert.Equal("kvm", hypervisor.Name);
    }
}
