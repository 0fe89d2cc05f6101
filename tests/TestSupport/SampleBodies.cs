namespace CloudHypervisor.TestSupport;

/// <summary>Request bodies of upstream's documented examples, one per action, for the catalog and parity tests.</summary>
public static class SampleBodies
{
    /// <summary>A valid request body per action (empty for actions without one).</summary>
    public static readonly IReadOnlyDictionary<string, string> Valid = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["vmm.ping"] = "",
        ["vmm.shutdown"] = "",
        ["vm.create"] = """{"payload":{"kernel":"/path/to/vmlinux"}}""",
        ["vm.delete"] = "",
        ["vm.boot"] = "",
        ["vm.shutdown"] = "",
        ["vm.reboot"] = "",
        ["vm.pause"] = "",
        ["vm.resume"] = "",
        ["vm.power-button"] = "",
        ["vm.nmi"] = "",
        ["vm.info"] = "",
        ["vm.counters"] = "",
        ["vm.resize"] = """{"desired_vcpus":2}""",
        ["vm.resize-disk"] = """{"id":"_disk0","desired_size":1073741824}""",
        ["vm.resize-zone"] = """{"id":"mem0","desired_ram":1073741824}""",
        ["vm.add-device"] = """{"path":"/sys/bus/pci/devices/0000:01:00.0"}""",
        ["vm.add-user-device"] = """{"socket":"/tmp/vfio-user.sock"}""",
        ["vm.add-disk"] = """{"path":"/tmp/disk.img"}""",
        ["vm.add-fs"] = """{"tag":"myfs","socket":"/tmp/virtiofs.sock"}""",
        ["vm.add-generic-vhost-user"] = """{"socket":"/tmp/gvu.sock","queue_sizes":[256],"device_type":26}""",
        ["vm.add-pmem"] = """{"file":"/tmp/pmem"}""",
        ["vm.add-net"] = """{"tap":"tap0"}""",
        ["vm.add-vdpa"] = """{"path":"/dev/vhost-vdpa-0"}""",
        ["vm.add-vsock"] = """{"cid":3,"socket":"/tmp/vsock"}""",
        ["vm.remove-device"] = """{"id":"_disk0"}""",
        ["vm.snapshot"] = """{"destination_url":"file:///tmp/snap"}""",
        ["vm.coredump"] = """{"destination_url":"file:///tmp/core"}""",
        ["vm.restore"] = """{"source_url":"file:///tmp/snap"}""",
        // A URL without a port: the body parses, and the VMM refuses it at once (InvalidArgument)
        // instead of listening or migrating, so a sweep over every action never waits on a peer.
        ["vm.receive-migration"] = """{"receiver_url":"tcp:localhost"}""",
        ["vm.send-migration"] = """{"destination_url":"tcp:localhost"}""",
    };
}
