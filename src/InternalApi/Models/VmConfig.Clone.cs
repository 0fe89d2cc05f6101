using CloudHypervisor.InternalApi.Json;

namespace CloudHypervisor.InternalApi.Models;

public sealed partial class VmConfig
{
    /// <summary>
    /// A deep copy, through the source-generated JSON (so every field is copied by construction).
    /// File descriptors print as -1 in JSON, so the real ones (net fds, VFIO fds, iommufd) are
    /// copied across explicitly.
    /// </summary>
    public VmConfig Clone()
    {
        var copy = System.Text.Json.JsonSerializer.Deserialize(
            System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(this, ApiJsonContext.Default.VmConfig),
            ApiJsonContext.Default.VmConfig)!;
        for (var i = 0; i < (Net?.Count ?? 0); i++)
        {
            copy.Net![i].Fds = Net![i].Fds is { } fds ? [.. fds] : null;
        }

        for (var i = 0; i < (Devices?.Count ?? 0); i++)
        {
            copy.Devices![i].Fd = Devices![i].Fd;
        }

        if (Platform is { } platform)
        {
            copy.Platform!.IommufdFd = platform.IommufdFd;
        }

        return copy;
    }

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
