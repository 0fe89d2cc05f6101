using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Host;

namespace CloudHypervisor.Vmm.Tests.Host;

public sealed class LandlockPolicyTests
{
    [Theory]
    [InlineData("/srv/vm", true, true, "/srv/vm/disk.raw", true, true, true)]
    [InlineData("/srv/vm", true, true, "/srv/vm", true, false, true)]
    [InlineData("/srv/vm", true, false, "/srv/vm/disk.raw", true, true, false)]
    [InlineData("/srv/vm", true, true, "/srv/vm2/disk.raw", true, false, false)]
    [InlineData("/srv/vm/", true, true, "/srv/vm/a/b", true, true, true)]
    public void A_rule_covers_its_path_and_what_lies_beneath_with_no_more_access(
        string rule, bool read, bool write, string path, bool needRead, bool needWrite, bool covered) =>
        Assert.Equal(covered, new LandlockRule(rule, read, write).Covers(new LandlockRule(path, needRead, needWrite)));

    [Fact]
    public void The_config_names_its_files_and_the_directories_of_its_sockets()
    {
        var config = new VmConfig
        {
            Payload = new PayloadConfig { Kernel = "/k/vmlinux" },
            Disks = [new DiskConfig { Path = "/d/ro.raw", Readonly = true }, new DiskConfig { Path = "/d/rw.raw" }],
            Vsock = new VsockConfig { Cid = 3, Socket = "/run/vm/vsock.sock" },
            LandlockRules = [new LandlockConfig { Path = "/extra", Access = "r" }],
        };

        var rules = LandlockPolicy.ConfigRules(config);

        Assert.Contains(new LandlockRule("/k/vmlinux", true, false), rules);
        Assert.Contains(new LandlockRule("/d/ro.raw", true, false), rules);
        Assert.Contains(new LandlockRule("/d/rw.raw", true, true), rules);
        Assert.Contains(new LandlockRule("/run/vm", true, true), rules);
        Assert.Contains(new LandlockRule("/extra", true, false), rules);
        Assert.Contains(new LandlockRule("/dev/urandom", true, false), rules);
    }

    [Fact]
    public void A_path_must_be_allowed_by_every_layer()
    {
        IReadOnlyList<IReadOnlyList<LandlockRule>> layers = [[new("/a", true, true)], [new("/a/b", true, true)]];

        Assert.Null(LandlockPolicy.FirstUncovered(layers, [new("/a/b/disk", true, true)]));
        Assert.Equal(new LandlockRule("/a/c", true, false), LandlockPolicy.FirstUncovered(layers, [new("/a/c", true, false)]));
    }
}
