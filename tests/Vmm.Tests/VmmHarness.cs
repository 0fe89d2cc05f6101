using System.Text;
using System.Text.Json;
using CloudHypervisor.InternalApi;
using CloudHypervisor.TestSupport;
using CloudHypervisor.Vmm.Control;
using Serilog;

namespace CloudHypervisor.Vmm.Tests;

/// <summary>
/// A running control loop with its real channel and real event monitor, driven the way the
/// frontends drive it: commands parsed from JSON bodies by the catalog and sent through ApiChannel.
/// </summary>
public sealed class VmmHarness : IAsyncDisposable
{
    /// <summary>A config that validates fully, with one disk named by the user and one not.</summary>
    public const string BootableConfig =
        """{"payload":{"kernel":"/boot/vmlinux"},"memory":{"size":536870912,"shared":true},"disks":[{"path":"/tmp/d0.img","id":"disk0"},{"path":"/tmp/d1.img"}]}""";

    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(20);

    private VmmHarness(bool noShutdown, TimeSpan? cancelGrace)
    {
        Loop = new VmmControlLoop(
            Channel,
            Events,
            Hypervisor,
            new LoggerConfiguration().CreateLogger(),
            new VmmOptions
            {
                NoShutdown = noShutdown,
                BuildVersion = "v54.0.0-test",
                Version = "54.0.0",
                Features = ["kvm"],
                OperationCancelGrace = cancelGrace ?? TimeSpan.FromSeconds(10),
            });
        Run = Loop.RunAsync(CancellationToken.None);
    }

    public ApiChannel Channel { get; } = new();

    public EventMonitor.EventMonitor Events { get; } = new(replayCapacity: 1 << 16, queueCapacity: 1 << 16);

    public TestHypervisor Hypervisor { get; } = new();

    public VmmControlLoop Loop { get; }

    public Task<int> Run { get; }

    public static VmmHarness Start(bool noShutdown = false, TimeSpan? cancelGrace = null) => new(noShutdown, cancelGrace);

    /// <summary>Sends <paramref name="action"/> with <paramref name="body"/> as a frontend would.</summary>
    public Task<ApiResult> Send(string action, string body = "")
    {
        var entry = ApiCatalog.Find(action) ?? throw new ArgumentException($"unknown action {action}", nameof(action));
        var parsed = entry.Parse(Encoding.UTF8.GetBytes(body));
        Assert.True(parsed.Error is null, $"{action} {body}: {parsed.Error}");
        return Channel.SendAsync(parsed.Command!, ApiOrigin.Rest).WaitAsync(Timeout);
    }

    /// <summary>Sends and asserts success.</summary>
    public async Task<ApiResult> Ok(string action, string body = "")
    {
        var result = await Send(action, body);
        Assert.True(result.IsSuccess, $"{action}: {result.Error}");
        return result;
    }

    /// <summary>Brings a fresh loop to <paramref name="phase"/> through the API.</summary>
    public async Task Reach(VmmPhase phase)
    {
        if (phase == VmmPhase.NoConfig)
        {
            return;
        }

        await Ok("vm.create", BootableConfig);
        switch (phase)
        {
            case VmmPhase.BootFailed:
                Hypervisor.FailNextBoot = new Hypervisor.HypervisorException("Failed to boot", ["vCPU 0 failed"]);
                Assert.False((await Send("vm.boot")).IsSuccess);
                break;
            case VmmPhase.Running:
                await Ok("vm.boot");
                break;
            case VmmPhase.Paused:
                await Ok("vm.boot");
                await Ok("vm.pause");
                break;
        }

        Assert.Equal(phase, await ObservedPhase());
    }

    /// <summary>The phase as a user sees it through vm.info: 404, state, and device_tree presence.</summary>
    public async Task<VmmPhase> ObservedPhase()
    {
        var info = await Send("vm.info");
        if (!info.IsSuccess)
        {
            Assert.Equal(ApiErrorKind.NotCreated, info.Error!.Kind);
            return VmmPhase.NoConfig;
        }

        using var json = JsonDocument.Parse(info.Json!);
        var state = json.RootElement.GetProperty("state").GetString();
        var hasTree = json.RootElement.TryGetProperty("device_tree", out _);
        return (state, hasTree) switch
        {
            ("Created", false) => VmmPhase.Created,
            ("Created", true) => VmmPhase.BootFailed,
            ("Running", true) => VmmPhase.Running,
            ("Paused", true) => VmmPhase.Paused,
            _ => throw new InvalidOperationException($"unexpected vm.info: {info.Json}"),
        };
    }

    /// <summary>The seq the next event will get: pass it to <see cref="EventsSince"/>.</summary>
    public long Mark() => Events.NextSeq;

    /// <summary>Events published from <paramref name="seq"/> on, as "source/event".</summary>
    public IReadOnlyList<string> EventsSince(long seq)
    {
        using var subscription = Events.Subscribe(seq);
        var list = new List<string>();
        while (subscription.Reader.TryRead(out var record))
        {
            list.Add($"{record.Source}/{record.Event}");
        }

        return list;
    }

    /// <summary>Every event record so far.</summary>
    public IReadOnlyList<EventMonitor.EventRecord> Records()
    {
        using var subscription = Events.Subscribe(0);
        var list = new List<EventMonitor.EventRecord>();
        while (subscription.Reader.TryRead(out var record))
        {
            list.Add(record);
        }

        return list;
    }

    /// <summary>Waits until <paramref name="condition"/> holds (for guest-driven changes).</summary>
    public static async Task Eventually(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not reached in time");
            await Task.Delay(5);
        }
    }

    public async ValueTask DisposeAsync()
    {
        Hypervisor.BootGate?.Release(100);
        if (!Run.IsCompleted)
        {
            Loop.RequestShutdown();
        }

        await Run.WaitAsync(Timeout);
        await Events.DisposeAsync();
    }
}
