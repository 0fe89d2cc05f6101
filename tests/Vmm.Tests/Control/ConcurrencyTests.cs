using System.Collections.Concurrent;
using System.Text.Json;
using CloudHypervisor.InternalApi;
using CloudHypervisor.Vmm.Control;

namespace CloudHypervisor.Vmm.Tests.Control;

/// <summary>Many frontends at once: one loop answers everything, and state and events agree.</summary>
public sealed class ConcurrencyTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static readonly (string Action, string Body)[] Mix =
    [
        ("vmm.ping", ""), ("vm.info", ""), ("vm.counters", ""), ("vm.create", VmmHarness.BootableConfig),
        ("vm.boot", ""), ("vm.pause", ""), ("vm.resume", ""), ("vm.shutdown", ""), ("vm.reboot", ""),
        ("vm.delete", ""), ("vm.add-disk", """{"path":"/tmp/extra.img"}"""), ("vm.power-button", ""),
    ];

    [Fact]
    public async Task Thirty_two_clients_for_three_seconds_get_every_answer_and_events_match_the_final_state()
    {
        await using var vmm = VmmHarness.Start();
        var successes = new ConcurrentDictionary<string, int>();
        var answered = 0;
        var stop = DateTime.UtcNow + TimeSpan.FromSeconds(3);
        // On a loaded machine a random mix can run 3 s without one boot and pause getting through
        // (vm.delete cancels boots): it goes on until both have, within a bound that only a hang meets.
        var limit = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        bool Exercised() => successes.GetValueOrDefault("vm.boot") > 0 && successes.GetValueOrDefault("vm.pause") > 0;

        async Task Client(int seed)
        {
            var random = new Random(seed);
            while (DateTime.UtcNow < stop || (!Exercised() && DateTime.UtcNow < limit))
            {
                var (action, body) = Mix[random.Next(Mix.Length)];
                var result = await vmm.Send(action, body);
                Interlocked.Increment(ref answered);
                if (result.IsSuccess)
                {
                    successes.AddOrUpdate(action, 1, (_, n) => n + 1);
                    continue;
                }

                var error = result.Error!;
                Assert.Equal(ApiCatalog.Find(action)!.ErrorMessage, error.Message);
                Assert.True(
                    error.Kind != ApiErrorKind.Internal || error.Causes[^1].EndsWith("is not supported by this VMM yet", StringComparison.Ordinal),
                    $"{action}: unexpected {error}");
            }
        }

        await Task.WhenAll(Enumerable.Range(0, 32).Select(i => Task.Run(() => Client(i))));

        var records = vmm.Records();
        var events = records.Select(r => $"{r.Source}/{r.Event}").ToList();
        int Count(string e) => events.Count(x => x == e);
        int Ok(string a) => successes.GetValueOrDefault(a);

        output.WriteLine($"{answered} answers, {records.Count} events, successes: {JsonSerializer.Serialize(successes.ToDictionary())}");
        Assert.True(answered > 1000, $"only {answered} answers");
        Assert.Equal(Enumerable.Range(0, records.Count).Select(i => (long)i), records.Select(r => r.Seq));
        Assert.Equal(Ok("vm.boot"), Count("vm/booted"));
        Assert.Equal(Ok("vm.pause"), Count("vm/paused"));
        Assert.Equal(Ok("vm.resume"), Count("vm/resumed"));
        Assert.Equal(Ok("vm.reboot"), Count("vm/rebooted"));
        Assert.InRange(Count("vm/shutdown"), Ok("vm.shutdown"), Ok("vm.shutdown") + Ok("vm.delete"));
        Assert.InRange(Count("vm/deleted"), 0, Ok("vm.delete"));

        // Replay the events as a user of the event monitor would: each must be possible in the
        // state the previous ones left, and the end state must be what vm.info says.
        VmmPhase? vm = null;
        foreach (var e in events)
        {
            vm = (e, vm) switch
            {
                ("vm/booted", null) => VmmPhase.Running,
                ("vm/paused", VmmPhase.Running) => VmmPhase.Paused,
                ("vm/resumed", VmmPhase.Paused) => VmmPhase.Running,
                ("vm/rebooted", not null) => VmmPhase.Running,
                ("vm/shutdown", not null) => null,
                ("vm/deleted", null) => null,
                ("vm/booted" or "vm/paused" or "vm/resumed" or "vm/rebooted" or "vm/shutdown" or "vm/deleted", _) =>
                    throw new Xunit.Sdk.XunitException($"{e} while the VM is {vm?.ToString() ?? "absent"}"),
                _ => vm,
            };
        }

        var configStored = Ok("vm.create") - Count("vm/deleted");
        Assert.InRange(configStored, 0, 1);
        Assert.Equal(vm ?? (configStored == 1 ? VmmPhase.Created : VmmPhase.NoConfig), await vmm.ObservedPhase());
        Assert.True(Ok("vm.boot") > 0 && Ok("vm.pause") > 0, $"the mix never booted or paused: {JsonSerializer.Serialize(successes.ToDictionary())}");
    }
}
