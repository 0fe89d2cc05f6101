using System.Text;
using System.Text.Json.Serialization.Metadata;
using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.InternalApi.Options;
using Xunit;

namespace CloudHypervisor.InternalApi.Tests.Fuzz;

/// <summary>
/// A seeded campaign over every option-string parser of the command line and of ch-remote
/// (issue 12 item 3): valid strings mutated (characters dropped, inserted, doubled, numbers
/// replaced by huge or negative ones, lists and brackets broken, values spliced from another
/// flag, invalid UTF-16, very long input). Every input must end in a value or a typed refusal
/// (<see cref="OptionError"/> with a non-empty chain), never an exception; and every value the
/// parser accepts must survive the REST path's own JSON, so what the CLI takes, vm.create takes.
/// The seed is fixed, so a failure names an input that reproduces; CH_FUZZ_ITERATIONS scales
/// the campaign (bench/fuzz.sh runs a longer one).
/// </summary>
public sealed class OptionFuzzTests
{
    private const int Seed = 0x5EED;

    private static int Iterations =>
        int.TryParse(Environment.GetEnvironmentVariable("CH_FUZZ_ITERATIONS"), out var n) && n > 0 ? n : 1500;

    private static Func<string, string?> Parser<T>(Func<string, OptionResult<T>> parse, JsonTypeInfo<T>? json = null)
        where T : class => input =>
    {
        var result = parse(input);
        if (!result.IsOk)
        {
            Assert.NotEmpty(result.Error.Chain);
            Assert.All(result.Error.Chain, m => Assert.False(string.IsNullOrWhiteSpace(m), $"an empty message in the chain for {Show(input)}"));
            return string.Join(": ", result.Error.Chain);
        }

        if (json is not null)
        {
            // What the parser accepts, the JSON API accepts too, and reads back the same.
            var text = ApiJson.Serialize(result.Value, json);
            var (again, error) = ApiJson.Deserialize(Encoding.UTF8.GetBytes(text), json);
            Assert.True(error is null, $"{Show(input)} parsed to {text}, which the JSON API refuses: {error}");
            Assert.Equal(text, ApiJson.Serialize(again!, json));
        }

        return null;
    };

    public static TheoryData<string> ParserNames => new(Parsers.Keys);

    private static readonly Dictionary<string, (Func<string, string?> Parse, string[] Seeds)> Parsers = new()
    {
        ["cpus"] = (Parser(ConfigOptions.Cpus, ApiJsonContext.Default.CpusConfig),
            ["boot=2,max=4", "boot=1,topology=1:1:1:1,kvm_hyperv=on,max_phys_bits=46", "boot=2,affinity=[0@[0-1],1@[2,3]],features=amx", "boot=1,nested=off,core_scheduling=off"]),
        ["memory"] = (Parser(s => ConfigOptions.Memory(s), ApiJsonContext.Default.MemoryConfig),
            ["size=512M", "size=1G,mergeable=on,shared=on,hugepages=off,hotplug_method=virtio-mem,hotplug_size=1G", "size=0,thp=off,prefault=on"]),
        ["memory-zone"] = (Parser(s => ConfigOptions.MemoryZone(s), ApiJsonContext.Default.MemoryZoneConfig),
            ["id=mem0,size=1G", "id=z,size=2G,file=/dev/shm/x,shared=on,host_numa_node=0,hotplug_size=1G"]),
        ["disk"] = (Parser(ConfigOptions.Disk, ApiJsonContext.Default.DiskConfig),
            ["path=/tmp/disk.img", "path=/a.img,readonly=on,direct=on,num_queues=4,queue_size=256,id=d0,serial=abc,pci_segment=0", "path=/x,image_type=raw,lock_granularity=full,queue_affinity=[0@[0,1]]", "vhost_user=on,socket=/tmp/s"]),
        ["net"] = (Parser(ConfigOptions.Net, ApiJsonContext.Default.NetConfig),
            ["tap=tap0", "tap=t,mac=12:34:56:78:9a:bc,host_mac=02:00:00:00:00:01,ip=192.168.1.1,mask=255.255.255.0,mtu=1500,num_queues=4,queue_size=256", "fd=[3,4],offload_tso=off,offload_csum=off", "vhost_user=true,socket=/s,vhost_mode=server"]),
        ["rng"] = (Parser(ConfigOptions.Rng, ApiJsonContext.Default.RngConfig), ["src=/dev/urandom", "src=/dev/random,iommu=on"]),
        ["balloon"] = (Parser(ConfigOptions.Balloon, ApiJsonContext.Default.BalloonConfig), ["size=0", "size=1G,deflate_on_oom=on,free_page_reporting=on"]),
        ["fs"] = (Parser(ConfigOptions.Fs, ApiJsonContext.Default.FsConfig), ["tag=myfs,socket=/tmp/fs.sock", "tag=t,socket=/s,num_queues=1,queue_size=1024,id=fs0"]),
        ["pmem"] = (Parser(ConfigOptions.Pmem, ApiJsonContext.Default.PmemConfig), ["file=/tmp/pmem,size=128M", "file=/p,discard_writes=on,iommu=off,id=p0"]),
        ["serial"] = (Parser(ConfigOptions.Serial, ApiJsonContext.Default.SerialConfig), ["null", "tty", "file=/tmp/serial.log", "socket=/tmp/s.sock", "pty", "off"]),
        ["console"] = (Parser(ConfigOptions.Console, ApiJsonContext.Default.ConsoleConfig), ["tty", "file=/tmp/c,iommu=on", "socket=/tmp/c.sock", "off"]),
        ["debug-console"] = (Parser(ConfigOptions.DebugConsole, ApiJsonContext.Default.DebugConsoleConfig), ["off,iobase=0xe9", "file=/tmp/dbg,iobase=0x80"]),
        ["device"] = (Parser(ConfigOptions.Device, ApiJsonContext.Default.DeviceConfig), ["path=/sys/bus/pci/devices/0000:01:00.0/", "path=/x,iommu=on,id=v0,pci_segment=0,x_nv_gpudirect_clique=0"]),
        ["user-device"] = (Parser(ConfigOptions.UserDevice, ApiJsonContext.Default.UserDeviceConfig), ["socket=/tmp/vfio-user.sock", "socket=/s,id=u0,pci_segment=0"]),
        ["vdpa"] = (Parser(ConfigOptions.Vdpa, ApiJsonContext.Default.VdpaConfig), ["path=/dev/vhost-vdpa-0", "path=/d,num_queues=2,iommu=on,id=v"]),
        ["vsock"] = (Parser(ConfigOptions.Vsock, ApiJsonContext.Default.VsockConfig), ["cid=3,socket=/tmp/vsock", "cid=42,socket=/v,iommu=on,id=vs0,pci_segment=0"]),
        ["numa"] = (Parser(ConfigOptions.Numa, ApiJsonContext.Default.NumaConfig), ["guest_numa_id=0,cpus=[0-3],distances=[1@20],memory_zones=[mem0]", "guest_numa_id=1,cpus=[0,2],pci_segments=[0]"]),
        ["pci-segment"] = (Parser(ConfigOptions.PciSegment, ApiJsonContext.Default.PciSegmentConfig), ["pci_segment=1,mmio32_aperture_weight=2", "pci_segment=0,mmio64_aperture_weight=1"]),
        ["platform"] = (Parser(ConfigOptions.Platform, ApiJsonContext.Default.PlatformConfig), ["num_pci_segments=2", "num_pci_segments=1,iommu_segments=[0],serial_number=abc,uuid=1234,oem_strings=[a,b]"]),
        ["rate-limit-group"] = (Parser(ConfigOptions.RateLimitGroup, ApiJsonContext.Default.RateLimitGroupConfig), ["id=g0,bw_size=1000,bw_refill_time=100", "id=g,ops_size=10,ops_one_time_burst=5,ops_refill_time=10"]),
        ["landlock-rules"] = (Parser(ConfigOptions.LandlockRule, ApiJsonContext.Default.LandlockConfig), ["path=/tmp,access=rw", "path=/a/b,access=r"]),
        ["generic-vhost-user"] = (Parser(ConfigOptions.GenericVhostUser, ApiJsonContext.Default.GenericVhostUserConfig), ["socket=/tmp/g.sock,virtio_id=26,queue_sizes=[256,256]"]),
        ["rtc"] = (Parser(ConfigOptions.Rtc), ["id=rtc0", "iommu=off,pci_segment=0", ""]),
        ["tpm"] = (Parser(ConfigOptions.Tpm), ["socket=/tmp/swtpm.sock"]),
        ["api-socket"] = (Parser(ServiceOptions.ApiSocket), ["/tmp/api.sock", "path=/tmp/a.sock", "fd=3"]),
        ["event-monitor"] = (Parser(ServiceOptions.EventMonitor), ["path=/tmp/events", "fd=4"]),
        ["gdb"] = (Parser(ServiceOptions.Gdb), ["path=/tmp/gdb.sock"]),
        ["restore"] = (Parser(ServiceOptions.Restore, ApiJsonContext.Default.RestoreConfig), ["source_url=file:///tmp/snap", "source_url=file:///s,prefault=on,resume=true,memory_restore_mode=ondemand,net_fds=[net0@[3,4]]"]),
        ["ch-remote restore"] = (Parser(RemoteOptions.Restore), ["source_url=file:///tmp/snap,prefault=on"]),
        ["ch-remote add-net"] = (Parser(RemoteOptions.AddNet), ["tap=tap0,fd=[3]", "fd=[3,4],mac=12:34:56:78:9a:bc"]),
        ["ch-remote add-device"] = (Parser(RemoteOptions.AddDevice), ["path=/sys/bus/pci/devices/0000:01:00.0/"]),
        ["ch-remote receive-migration"] = (Parser(RemoteOptions.ReceiveMigration), ["unix:/tmp/mig.sock", "tcp:127.0.0.1:6000", "receiver_url=unix:/tmp/m.sock,memory_mode=precopy"]),
        ["ch-remote send-migration"] = (Parser(RemoteOptions.SendMigration, ApiJsonContext.Default.SendMigrationData), ["destination_url=unix:/tmp/mig.sock", "destination_url=tcp:127.0.0.1:6000,local=off,downtime_ms=300,timeout_s=3600,timeout_strategy=cancel,connections=4"]),
        ["ch-remote resize-disk"] = (Parser(s => RemoteOptions.ResizeDisk("_disk0", s), ApiJsonContext.Default.VmResizeDisk), ["1G", "512M", "4096"]),
        ["ch-remote resize"] = (Parser(s => RemoteOptions.Resize(s, s, null)), ["2", "4"]),
        ["ch-remote resize memory"] = (Parser(s => RemoteOptions.Resize(null, s, s)), ["1G", "512M"]),
    };

    private static readonly string[] Numbers =
        ["0", "-1", "1", "18446744073709551615", "18446744073709551616", "99999999999999999999999", "0x", "0xffffffffffffffff", "1e9", "NaN", "1.5", "00", "+3", " 7", "-0", "4294967296"];

    private static readonly string[] Fragments =
        [",", "=", "[", "]", "@", ":", "-", ",,", "==", "[[", "]]", "\"", "'", "\\", "/", "..", " ", "\t", "\n", "\0", "on", "off", "true", "false", "é", "\uD800", "\uFFFF", "🙂", "id=", "path=", "size=", "boot=", "[0@[0-1]]", "=[", "@@"];

    [Theory]
    [MemberData(nameof(ParserNames))]
    public void Every_mutated_option_string_gives_a_value_or_a_typed_refusal(string name)
    {
        var (parse, seeds) = Parsers[name];
        var random = new Random(Seed ^ StableHash(name));
        var others = Parsers.Values.SelectMany(p => p.Seeds).ToArray();
        var accepted = 0;
        foreach (var seed in seeds)
        {
            Assert.True(parse(seed) is null, $"--{name} refuses its own seed {Show(seed)}: {parse(seed)}");
        }

        for (var i = 0; i < Iterations; i++)
        {
            var input = Mutate(random, seeds[random.Next(seeds.Length)], others);
            string? refusal;
            try
            {
                refusal = parse(input);
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"--{name} threw {e.GetType().Name} for {Show(input)} (iteration {i}): {e.Message}");
                throw;
            }

            accepted += refusal is null ? 1 : 0;
        }

        // The campaign must reach both outcomes, or it is not exploring the grammar (receive-migration
        // takes any argument whose first key is not one of its own as a bare receiver URL).
        Assert.True(accepted > 0, $"--{name}: no mutated input was accepted");
        Assert.True(accepted < Iterations || name == "ch-remote receive-migration", $"--{name}: every mutated input was accepted");
    }

    [Fact]
    public void Very_long_and_deeply_nested_option_strings_are_refused_or_parsed_without_exhausting_the_stack()
    {
        var deep = new string('[', 100_000) + new string(']', 100_000);
        var longValue = "path=" + new string('a', 1 << 20);
        foreach (var (name, (parse, _)) in Parsers)
        {
            foreach (var input in new[] { deep, "x=" + deep, longValue, string.Concat(Enumerable.Repeat("id=a,", 20_000)), new string(',', 100_000) })
            {
                try
                {
                    parse(input);
                }
                catch (Exception e) when (e is not Xunit.Sdk.XunitException)
                {
                    Assert.Fail($"--{name} threw {e.GetType().Name} for a {input.Length}-character input starting {Show(input[..40])}: {e.Message}");
                }
            }
        }
    }

    [Fact]
    public void Whole_command_lines_of_mutated_flags_give_a_config_the_json_api_accepts_or_a_typed_refusal()
    {
        var random = new Random(Seed);
        var others = Parsers.Values.SelectMany(p => p.Seeds).ToArray();
        string M(string name) => Mutate(random, Pick(random, Parsers[name].Seeds), others);
        string? Maybe(string name) => random.Next(3) == 0 ? M(name) : null;
        IReadOnlyList<string>? Many(string name) => random.Next(3) == 0 ? [.. Enumerable.Range(0, random.Next(1, 4)).Select(_ => M(name))] : null;
        var accepted = 0;
        var runs = Math.Max(200, Iterations / 2);
        for (var i = 0; i < runs; i++)
        {
            var flags = new VmFlags
            {
                Kernel = random.Next(8) == 0 ? null : "/vmlinux",
                Cmdline = random.Next(2) == 0 ? null : "console=ttyS0",
                Cpus = random.Next(2) == 0 ? VmFlags.DefaultCpus : M("cpus"),
                Memory = random.Next(2) == 0 ? VmFlags.DefaultMemory : M("memory"),
                Disks = Many("disk"),
                Net = Many("net"),
                Pmem = Many("pmem"),
                Fs = Many("fs"),
                Balloon = Maybe("balloon"),
                Vsock = Maybe("vsock"),
                Serial = Maybe("serial") ?? VmFlags.DefaultSerial,
                Console = Maybe("console") ?? VmFlags.DefaultConsole,
                Platform = Maybe("platform"),
                Numa = Many("numa"),
                PciSegments = Many("pci-segment"),
                LandlockRules = Many("landlock-rules"),
            };
            OptionResult<VmConfig> result;
            try
            {
                result = VmConfigBuilder.Build(flags);
            }
            catch (Exception e) when (e is not Xunit.Sdk.XunitException)
            {
                Assert.Fail($"VmConfigBuilder threw {e.GetType().Name} for {flags} (run {i}): {e.Message}");
                throw;
            }

            if (!result.IsOk)
            {
                Assert.NotEmpty(result.Error.Chain);
                continue;
            }

            accepted++;
            var text = ApiJson.Serialize(result.Value, ApiJsonContext.Default.VmConfig);
            var (again, error) = ApiJson.Deserialize(Encoding.UTF8.GetBytes(text), ApiJsonContext.Default.VmConfig);
            Assert.True(error is null, $"the command line {flags} built {text}, which vm.create's JSON refuses: {error}");
            Assert.Equal(text, ApiJson.Serialize(again!, ApiJsonContext.Default.VmConfig));
        }

        Assert.InRange(accepted, 1, runs - 1);
    }

    private static string Mutate(Random random, string seed, string[] others)
    {
        var text = new StringBuilder(seed);
        var edits = 1 + random.Next(4);
        for (var e = 0; e < edits; e++)
        {
            var at = text.Length == 0 ? 0 : random.Next(text.Length + 1);
            switch (random.Next(9))
            {
                case 0 when text.Length > 0:
                    text.Remove(Math.Min(at, text.Length - 1), 1 + random.Next(Math.Min(4, text.Length - Math.Min(at, text.Length - 1))));
                    break;
                case 1:
                    text.Insert(at, Pick(random, Fragments));
                    break;
                case 2:
                    ReplaceNumber(random, text);
                    break;
                case 3 when text.Length > 0:
                    var from = random.Next(text.Length);
                    text.Insert(at, text.ToString(from, Math.Min(1 + random.Next(12), text.Length - from)));
                    break;
                case 4:
                    // A key=value from another flag: known keys in the wrong place.
                    var other = Pick(random, others).Split(',');
                    text.Insert(at, "," + Pick(random, other));
                    break;
                case 5:
                    text.Append(',').Append(text.ToString(0, Math.Min(text.Length, 1 + random.Next(Math.Max(1, text.Length)))));
                    break;
                case 6:
                    text.Insert(at, new string(random.Next(2) == 0 ? '[' : ']', 1 + random.Next(6)));
                    break;
                case 7:
                    text.Insert(at, (char)random.Next(0, 0x10000));
                    break;
                default:
                    ReplaceNumber(random, text);
                    break;
            }
        }

        return text.ToString();
    }

    private static void ReplaceNumber(Random random, StringBuilder text)
    {
        var s = text.ToString();
        var digits = Enumerable.Range(0, s.Length).Where(i => char.IsAsciiDigit(s[i]) && (i == 0 || !char.IsAsciiDigit(s[i - 1]))).ToArray();
        if (digits.Length == 0)
        {
            text.Append('=').Append(Pick(random, Numbers));
            return;
        }

        var start = Pick(random, digits);
        var end = start;
        while (end < s.Length && char.IsAsciiLetterOrDigit(s[end]))
        {
            end++;
        }

        text.Remove(start, end - start).Insert(start, Pick(random, Numbers));
    }

    private static T Pick<T>(Random random, IReadOnlyList<T> items) => items[random.Next(items.Count)];

    private static int StableHash(string s) => s.Aggregate(17, (h, c) => unchecked((h * 31) + c));

    private static string Show(string input) =>
        "\"" + string.Concat(input.Take(200).Select(c => c < ' ' || c > '~' ? $"\\u{(int)c:x4}" : c.ToString())) + (input.Length > 200 ? "...\"" : "\"");
}
