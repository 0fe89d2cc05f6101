namespace CloudHypervisor.InternalApi.Models;

public sealed partial class VmConfig
{
    /// <summary>
    /// A deep copy: every nested object and list is new, strings are shared, and the file
    /// descriptors (net fds, VFIO fds, iommufd) are kept. Written out by hand rather than through
    /// JSON because the first JSON round trip of the model costs ~100 ms of startup (metadata for
    /// the whole graph); VmConfigCloneTests fails when a member is missing from a copy.
    /// </summary>
    public VmConfig Clone()
    {
        var copy = (VmConfig)MemberwiseClone();
        copy.Cpus = Cpus.Copy();
        copy.Memory = Memory.Copy();
        copy.Payload = Payload?.Copy();
        copy.RateLimitGroups = CopyEach(RateLimitGroups, g => g.Copy());
        copy.Disks = CopyEach(Disks, d => d.Copy());
        copy.Net = CopyEach(Net, n => n.Copy());
        copy.Rng = Rng.Copy();
        copy.Balloon = Balloon?.Copy();
        copy.GenericVhostUser = CopyEach(GenericVhostUser, g => g.Copy());
        copy.Fs = CopyEach(Fs, f => f.Copy());
        copy.Pmem = CopyEach(Pmem, p => p.Copy());
        copy.Serial = Serial.Copy();
        copy.Console = Console.Copy();
        copy.DebugConsole = DebugConsole.Copy();
        copy.Devices = CopyEach(Devices, d => d.Copy());
        copy.UserDevices = CopyEach(UserDevices, u => u.Copy());
        copy.Vdpa = CopyEach(Vdpa, v => v.Copy());
        copy.Vsock = Vsock?.Copy();
        copy.Numa = CopyEach(Numa, n => n.Copy());
        copy.Rtc = Rtc?.Copy();
        copy.PciSegments = CopyEach(PciSegments, p => p.Copy());
        copy.Platform = Platform?.Copy();
        copy.Tpm = Tpm?.Copy();
        copy.LandlockRules = CopyEach(LandlockRules, l => l.Copy());
        return copy;
    }

    /// <summary>
    /// Copies each element of a list. JSON lets a null element into a list of objects (nullable
    /// annotations are not enforced on elements), and a clone keeps it.
    /// </summary>
    internal static List<T>? CopyEach<T>(List<T>? list, Func<T, T> copy)
        where T : class =>
        list?.ConvertAll(element => element is null ? null! : copy(element));

    /// <summary>Every file descriptor the config refers to: net fds, VFIO cdev fds, iommufd.</summary>
    public IEnumerable<int> FileDescriptors()
    {
        foreach (var net in Net ?? [])
        {
            foreach (var fd in net.Fds ?? [])
            {
                yield return fd;
            }
        }

        foreach (var device in Devices ?? [])
        {
            if (device.Fd is { } fd)
            {
                yield return fd;
            }
        }

        if (Platform?.IommufdFd is { } iommufd)
        {
            yield return iommufd;
        }
    }

    /// <summary>
    /// Drops every file descriptor the config holds (net fds, VFIO fds, iommufd): vm.create takes
    /// no descriptors, so any that came in the JSON are cleared (contract §1.6).
    /// </summary>
    public void ClearFileDescriptors()
    {
        foreach (var net in Net ?? [])
        {
            net.Fds = null;
        }

        foreach (var device in Devices ?? [])
        {
            device.Fd = null;
        }

        Platform?.IommufdFd = null;
    }
}
