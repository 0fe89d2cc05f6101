using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi;

/// <summary>
/// Where the descriptors passed with a request go (contract §1.6). A number a client writes in the
/// JSON is never trusted: it is replaced by a received descriptor or cleared. A count that does
/// not fit is upstream's 400 "Bad Request", here with a cause that says what was expected.
/// </summary>
internal static class PassedFdRules
{
    /// <summary>vm.add-net: every descriptor received becomes the NetConfig's <c>fds</c>.</summary>
    public static ApiError? AddNet(NetConfig net, IReadOnlyList<int> fds)
    {
        net.Fds = fds.Count > 0 ? [.. fds] : null;
        return null;
    }

    /// <summary>vm.add-device: at most one descriptor, the VFIO cdev.</summary>
    public static ApiError? AddDevice(DeviceConfig device, IReadOnlyList<int> fds)
    {
        if (fds.Count > 1)
        {
            return ApiError.BadRequest($"vm.add-device takes at most 1 file descriptor (the VFIO cdev); the request came with {fds.Count}");
        }

        device.Fd = fds.Count == 1 ? fds[0] : null;
        return null;
    }

    /// <summary>vm.restore: net_fds (by num_fds), then one per vfio_fds entry, then iommufd when vfio_fds is present.</summary>
    public static ApiError? Restore(RestoreConfig restore, IReadOnlyList<int> fds)
    {
        var nets = restore.NetFds ?? [];
        // num_fds comes from the client: saturate rather than wrap, so a huge one is a mismatch.
        var netCount = nets.Aggregate(0UL, static (sum, net) => SaturatingAdd(sum, net.NumFds));
        if (Mismatch("vm.restore", netCount, restore.VfioFds, fds.Count) is { } refused)
        {
            return refused;
        }

        // The count matched, so every num_fds is at most fds.Count and fits an int.
        var next = 0;
        foreach (var net in nets)
        {
            net.Fds = [.. fds.Skip(next).Take((int)net.NumFds)];
            next += (int)net.NumFds;
        }

        restore.IommufdFd = AttachVfio(restore.VfioFds, fds, ref next);
        return null;
    }

    /// <summary>vm.receive-migration: one per vfio_fds entry, then iommufd when vfio_fds is present.</summary>
    public static ApiError? ReceiveMigration(ReceiveMigrationData data, IReadOnlyList<int> fds)
    {
        if (Mismatch("vm.receive-migration", 0, data.VfioFds, fds.Count) is { } refused)
        {
            return refused;
        }

        var next = 0;
        data.IommufdFd = AttachVfio(data.VfioFds, fds, ref next);
        return null;
    }

    private static ApiError? Mismatch(string action, ulong netCount, List<RestoredVfioConfig>? vfio, int received)
    {
        var vfioCount = (ulong)(vfio?.Count ?? 0);
        var iommufd = vfio is null ? 0UL : 1UL;
        var expected = SaturatingAdd(SaturatingAdd(netCount, vfioCount), iommufd);
        return expected == (ulong)received
            ? null
            : ApiError.BadRequest(
                $"{action} needs {expected} file descriptor(s) passed with the request (net_fds {netCount}, vfio_fds {vfioCount}, iommufd {iommufd}); it came with {received}");
    }

    private static ulong SaturatingAdd(ulong a, ulong b) => b > ulong.MaxValue - a ? ulong.MaxValue : a + b;

    private static int? AttachVfio(List<RestoredVfioConfig>? vfio, IReadOnlyList<int> fds, ref int next)
    {
        if (vfio is null)
        {
            return null;
        }

        foreach (var device in vfio)
        {
            device.Fd = fds[next++];
        }

        return fds[next];
    }
}
