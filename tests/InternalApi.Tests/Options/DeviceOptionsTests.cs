using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Options;
using Xunit;
using static CloudHypervisor.InternalApi.Tests.Options.OptionAssert;

namespace CloudHypervisor.InternalApi.Tests.Options;

public sealed class DeviceOptionsTests
{
    [Fact]
    public void Disk_path_readonly_id_gives_upstreams_disk_json()
    {
        var disk = Ok(ConfigOptions.Disk("path=/a.img,readonly=on,id=d0"));
        Assert.Equal(
            "{\"id\":\"d0\",\"pci_segment\":0,\"path\":\"/a.img\",\"readonly\":true,\"direct\":false,\"num_queues\":1,\"queue_size\":128," +
            "\"vhost_user\":false,\"disable_io_uring\":false,\"disable_aio\":false,\"backing_files\":false,\"sparse\":true," +
            "\"image_type\":\"Unknown\",\"lock_granularity\":\"ByteRange\"}",
            ApiJson.Serialize(disk, ApiJsonContext.Default.DiskConfig));
    }

    [Fact]
    public void Disk_reads_queues_rate_limits_affinity_and_enums()
    {
        var disk = Ok(ConfigOptions.Disk(
            "path=/a.img,num_queues=4,queue_size=256,iommu=on,pci_segment=1,pci_device_id=7,bw_size=1000,bw_refill_time=100," +
            "queue_affinity=[0@[1],1@[2],2@[3,4],3@[5-8]],serial=abc,image_type=qcow2,lock_granularity=full,sparse=off,direct=on"));
        Assert.Equal((4UL, (ushort)256, true, (ushort)1, (byte?)7), (disk.NumQueues, disk.QueueSize, disk.Iommu, disk.PciSegment, disk.PciDeviceId));
        Assert.NotNull(disk.RateLimiterConfig?.Bandwidth);
        Assert.Equal((1000UL, 0UL, 100UL), (disk.RateLimiterConfig.Bandwidth.Size, disk.RateLimiterConfig.Bandwidth.OneTimeBurst!.Value, disk.RateLimiterConfig.Bandwidth.RefillTime));
        Assert.Null(disk.RateLimiterConfig.Ops);
        Assert.NotNull(disk.QueueAffinity);
        Assert.Equal([5UL, 6UL, 7UL, 8UL], disk.QueueAffinity[3].HostCpus);
        Assert.Equal(("abc", ImageType.Qcow2, LockGranularity.Full, false, true), (disk.Serial, disk.ImageType, disk.LockGranularity, disk.Sparse, disk.Direct));
    }

    [Fact]
    public void Disk_without_both_bucket_halves_has_no_rate_limiter()
    {
        Assert.Null(Ok(ConfigOptions.Disk("path=/a,bw_size=1000")).RateLimiterConfig);
    }

    [Fact]
    public void A_vhost_user_disk_ignores_image_type()
    {
        var disk = Ok(ConfigOptions.Disk("vhost_user=true,socket=/tmp/sock,image_type=bogus"));
        Assert.Equal((true, "/tmp/sock", ImageType.Unknown, (string?)null), (disk.VhostUser, disk.VhostSocket, disk.ImageType, disk.Path));
    }

    [Fact]
    public void Disk_errors_keep_upstreams_chain()
    {
        Fails(ConfigOptions.Disk("path=/a,x=1"), "Failed to parse disk configuration", "Unknown option: x");
        Fails(ConfigOptions.Disk("path=/a,readonly=yes"), "Failed to parse disk configuration", "Unable to convert yes for readonly");
        Fails(ConfigOptions.Disk("path=/a,pci_segment=70000"), "Failed to parse PCI device configuration", "Unable to convert 70000 for pci_segment");
        Fails(ConfigOptions.Disk("path=[/a"), "Failed to parse disk configuration", "Invalid syntax: path=[/a");
        Fails(ConfigOptions.Disk("path"), "Failed to parse disk configuration", "Invalid syntax: path");
        Assert.Equal("/a,b.img", Ok(ConfigOptions.Disk("path=\"/a,b.img\"")).Path);
        Fails(ConfigOptions.Disk("path=/a,lock_granularity=Full"), "Failed to parse disk configuration", "Unable to convert Full for lock_granularity");
    }

    [Fact]
    public void Net_tap_mac_ip_mask_are_read_and_checked()
    {
        var net = Ok(ConfigOptions.Net("tap=,mac=12:34:56:78:9A:BC,ip=192.168.249.1,mask=255.255.255.0"));
        Assert.Null(net.Tap);
        Assert.Equal(("12:34:56:78:9a:bc", "192.168.249.1", "255.255.255.0"), (net.Mac, net.Ip, net.Mask));
        Assert.Equal((2UL, (ushort)256, true, VhostMode.Client), (net.NumQueues, net.QueueSize, net.OffloadTso, net.VhostMode));
        Fails(ConfigOptions.Net("mac=12:34:56:78:9a"), "Failed to parse network configuration", "Unable to convert 12:34:56:78:9a for mac");
        Fails(ConfigOptions.Net("ip=192.168.1.256"), "Failed to parse network configuration", "Unable to convert 192.168.1.256 for ip");
        Fails(ConfigOptions.Net("ip=010.0.0.1"), "Failed to parse network configuration", "Unable to convert 010.0.0.1 for ip");
    }

    [Fact]
    public void Net_without_mac_gets_a_random_locally_administered_unicast_mac()
    {
        var first = Ok(ConfigOptions.Net("tap=tap0")).Mac;
        var second = Ok(ConfigOptions.Net("tap=tap0")).Mac;
        Assert.NotNull(first);
        Assert.Matches("^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", first);
        var octet0 = Convert.ToByte(first[..2], 16);
        Assert.Equal(0x02, octet0 & 0x03);
        Assert.NotEqual(first, second);
    }

    [Fact]
    public void Net_reads_fds_vhost_user_and_ipv6()
    {
        var net = Ok(ConfigOptions.Net("mac=de:ad:be:ef:12:34,fd=[3,7],num_queues=4,vhost_user=on,socket=/s,vhost_mode=server,ip=fe80::1,host_mac=12:34:de:ad:be:ef,mtu=1500,offload_ufo=off"));
        Assert.Equal([3, 7], net.Fds);
        Assert.Equal((4UL, true, "/s", VhostMode.Server, "fe80::1"), (net.NumQueues, net.VhostUser, net.VhostSocket, net.VhostMode, net.Ip));
        Assert.Equal(("12:34:de:ad:be:ef", (ushort?)1500, false), (net.HostMac, net.Mtu, net.OffloadUfo));
    }

    [Fact]
    public void Rng_defaults_to_urandom_and_accepts_common_pci_keys()
    {
        Assert.Equal("{\"pci_segment\":0,\"src\":\"/dev/urandom\"}", ApiJson.Serialize(
            new VmConfig { Rng = Ok(ConfigOptions.Rng("")) }, ApiJsonContext.Default.VmConfig).Split("\"rng\":")[1].Split(",\"serial\"")[0]);
        var rng = Ok(ConfigOptions.Rng("src=/dev/random,iommu=on,pci_segment=1,pci_device_id=7,id=r0"));
        Assert.Equal(("/dev/random", true, (ushort)1, (byte?)7, "r0"), (rng.Src, rng.Iommu, rng.PciSegment, rng.PciDeviceId, rng.Id));
        Fails(ConfigOptions.Rng("source=/x"), "Failed to parse RNG configuration", "Unknown option: source");
    }

    [Fact]
    public void Balloon_reads_a_size_with_suffix()
    {
        var balloon = Ok(ConfigOptions.Balloon("size=128M,deflate_on_oom=on,free_page_reporting=on,pci_segment=1"));
        Assert.Equal((128UL << 20, true, true, (ushort)1), (balloon.Size, balloon.DeflateOnOom, balloon.FreePageReporting, balloon.PciSegment));
        Assert.Equal(0UL, Ok(ConfigOptions.Balloon("")).Size);
    }

    [Fact]
    public void Fs_needs_a_tag_of_at_most_36_bytes_and_a_socket_and_refuses_iommu()
    {
        var fs = Ok(ConfigOptions.Fs("tag=mytag,socket=/tmp/sock"));
        Assert.Equal(("mytag", "/tmp/sock", 1UL, (ushort)1024), (fs.Tag, fs.Socket, fs.NumQueues, fs.QueueSize));
        Fails(ConfigOptions.Fs(""), "Filesystem tag is missing");
        Fails(ConfigOptions.Fs("tag=mytag"), "Filesystem socket is missing");
        Fails(ConfigOptions.Fs($"tag={new string('t', 37)},socket=/s"), "Filesystem tag is too long");
        Fails(ConfigOptions.Fs("tag=t,socket=/s,iommu=on"), "Failed to parse filesystem configuration", "Unknown option: iommu");
    }

    [Fact]
    public void Pmem_needs_a_file()
    {
        var pmem = Ok(ConfigOptions.Pmem("file=/tmp/pmem,size=128M,discard_writes=on,id=mypmem0"));
        Assert.Equal(("/tmp/pmem", (ulong?)(128UL << 20), true, "mypmem0"), (pmem.File, pmem.Size, pmem.DiscardWrites, pmem.Id));
        Fails(ConfigOptions.Pmem("size=128M"), "Persistent memory file is missing");
    }

    [Fact]
    public void Device_takes_a_path_or_an_fd_and_bar_list()
    {
        var device = Ok(ConfigOptions.Device("path=/sys/bus/pci/devices/0000:01:00.0,iommu=on,x_exclude_mmap_bars=[0,2,5]"));
        Assert.Equal(("/sys/bus/pci/devices/0000:01:00.0", true), (device.Path, device.Iommu));
        Assert.Equal([0UL, 2UL, 5UL], device.XExcludeMmapBars);
        Assert.Equal(7, Ok(ConfigOptions.Device("fd=7")).Fd);
        Fails(ConfigOptions.Device("fd=notanint"), "Failed to parse device configuration", "Unable to convert notanint for fd");
    }

    [Fact]
    public void User_device_vdpa_and_vsock_check_their_required_keys()
    {
        Assert.Equal("/u.sock", Ok(ConfigOptions.UserDevice("socket=/u.sock,id=u0")).Socket);
        Fails(ConfigOptions.UserDevice("id=u0"), "Userspace device socket is missing");
        var vdpa = Ok(ConfigOptions.Vdpa("path=/dev/vhost-vdpa,num_queues=2,id=my_vdpa"));
        Assert.Equal(("/dev/vhost-vdpa", 2UL, "my_vdpa"), (vdpa.Path, vdpa.NumQueues, vdpa.Id));
        Fails(ConfigOptions.Vdpa(""), "vDPA path is missing");
        var vsock = Ok(ConfigOptions.Vsock("socket=/tmp/sock,cid=3,iommu=on"));
        Assert.Equal((3U, "/tmp/sock", true), (vsock.Cid, vsock.Socket, vsock.Iommu));
        Fails(ConfigOptions.Vsock("cid=3"), "Vsock socket is missing");
        Fails(ConfigOptions.Vsock("socket=/s"), "Vsock CID is missing");
        Fails(ConfigOptions.Vsock("socket=/s,cid=-3"), "Failed to parse vsock configuration", "Unable to convert -3 for cid");
    }

    [Fact]
    public void Rtc_may_be_empty_and_tpm_needs_a_socket()
    {
        var rtc = Ok(ConfigOptions.Rtc(""));
        Assert.Equal(((string?)null, (ushort)0), (rtc.Id, rtc.PciSegment));
        Assert.Equal("rtc0", Ok(ConfigOptions.Rtc("id=rtc0")).Id);
        Assert.Equal("/var/run/tpm.sock", Ok(ConfigOptions.Tpm("socket=/var/run/tpm.sock")).Socket);
        Fails(ConfigOptions.Tpm(""), "TPM socket path is missing");
    }

    [Fact]
    public void Generic_vhost_user_maps_device_type_names_and_numbers()
    {
        var gvu = Ok(ConfigOptions.GenericVhostUser("device_type=fs,socket=/tmp/sock,queue_sizes=[1024,256],id=g0"));
        Assert.Equal((26U, "/tmp/sock", "g0"), (gvu.DeviceType, gvu.Socket, gvu.Id));
        Assert.Equal([(ushort)1024, (ushort)256], gvu.QueueSizes);
        Assert.Equal(26U, Ok(ConfigOptions.GenericVhostUser("virtio_id=26,socket=/s,queue_sizes=[1024]")).DeviceType);
        Assert.Equal(100U, Ok(ConfigOptions.GenericVhostUser("device_type=100,socket=/s,queue_sizes=[1]")).DeviceType);
        Fails(ConfigOptions.GenericVhostUser("device_type=watchdog,socket=/s,queue_sizes=[1]"), "Unsupported generic vhost-user device type: watchdog");
        Fails(ConfigOptions.GenericVhostUser("device_type=0x1a,socket=/s,queue_sizes=[1]"), "Invalid generic vhost-user device type: 0x1a");
        Fails(ConfigOptions.GenericVhostUser("device_type=1,socket=/s"), "Generic vhost-user queue sizes are missing");
        Fails(ConfigOptions.GenericVhostUser("socket=/s,queue_sizes=[1]"), "Generic vhost-user device type is missing");
        Fails(ConfigOptions.GenericVhostUser("device_type=1,queue_sizes=[1]"), "Generic vhost-user socket is missing");
    }
}
