using CloudHypervisor.Vmm.Kvm.Interop;

namespace CloudHypervisor.Vmm.Kvm;

/// <summary>
/// Adapts KVM_GET_SUPPORTED_CPUID to our topology: one socket with one core per vCPU, one thread
/// per core, APIC id = vCPU index. Leaf 1 carries the initial APIC id and the logical count;
/// leaves 0xB and 0x1F (x2APIC topology) the id and level shifts; leaf 4 the cores per package;
/// leaf 1 ECX bit 31 tells the guest it runs under a hypervisor.
/// </summary>
internal static class CpuidTopology
{
    public static kvm_cpuid_entry2[] ForVcpu(IReadOnlyList<kvm_cpuid_entry2> supported, int apicId, int vcpuCount)
    {
        var coreShift = vcpuCount <= 1 ? 0 : 32 - System.Numerics.BitOperations.LeadingZeroCount((uint)(vcpuCount - 1));
        var entries = supported.ToArray();
        for (var i = 0; i < entries.Length; i++)
        {
            ref var e = ref entries[i];
            switch (e.function)
            {
                case 1:
                    e.ebx = (e.ebx & 0x0000_FFFF) | ((uint)apicId << 24) | ((uint)Math.Min(vcpuCount, 255) << 16);
                    e.ecx |= 1u << 31; // hypervisor present
                    if (vcpuCount > 1)
                    {
                        e.edx |= 1u << 28; // HTT: the logical count field is valid
                    }

                    break;
                case 4:
                    // EAX[31:26] = cores per package - 1; EAX[25:14] = threads sharing this cache - 1.
                    e.eax = (e.eax & 0x0000_3FFF) | ((uint)(Math.Min(vcpuCount, 64) - 1) << 26);
                    break;
                case 0xB or 0x1F:
                    switch (e.index)
                    {
                        case 0: // SMT level: one thread per core
                            e.eax = 0;
                            e.ebx = 1;
                            e.ecx = (1u << 8) | e.index;
                            break;
                        case 1: // core level
                            e.eax = (uint)coreShift;
                            e.ebx = (uint)vcpuCount;
                            e.ecx = (2u << 8) | e.index;
                            break;
                        default:
                            e.eax = 0;
                            e.ebx = 0;
                            e.ecx = e.index;
                            break;
                    }

                    e.edx = (uint)apicId;
                    break;
                default:
                    break;
            }
        }

        return entries;
    }
}
