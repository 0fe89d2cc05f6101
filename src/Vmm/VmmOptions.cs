namespace CloudHypervisor.Vmm;

/// <summary>
/// What the composition root tells the control loop at start.
/// </summary>
public sealed record VmmOptions
{
    /// <summary>
    /// <c>--no-shutdown</c>: a guest poweroff only shuts the VM down (back to "Created") instead of
    /// ending the VMM (contract §2.4).
    /// </summary>
    public bool NoShutdown { get; init; }

    /// <summary>vmm.ping's <c>build_version</c>, e.g. <c>v54.0.0</c> (contract §1.7).</summary>
    public required string BuildVersion { get; init; }

    /// <summary>vmm.ping's <c>version</c>, e.g. <c>54.0.0</c>.</summary>
    public required string Version { get; init; }

    /// <summary>
    /// vmm.ping's <c>features</c> in upstream's fixed order: <c>dbus_api</c> when compiled in,
    /// then <c>kvm</c> (contract §1.7).
    /// </summary>
    public required IReadOnlyList<string> Features { get; init; }

    /// <summary>
    /// How long vmm.shutdown (API or signal) waits for a boot or reboot it cancelled before the
    /// VMM exits without it: long enough for a cancelled boot to stop between two reads, short
    /// enough that a stuck one cannot keep the VMM from exiting.
    /// </summary>
    public TimeSpan OperationCancelGrace { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// The paths the VMM process itself uses (its directory, the event-monitor and log files, the
    /// API socket's directory), allowed besides the VM config's when Landlock is applied.
    /// </summary>
    public IReadOnlyList<Host.LandlockRule> LandlockHostRules { get; init; } = [];

    /// <summary>
    /// <c>--landlock</c>: every vm.create applies Landlock, whether or not its config sets
    /// <c>landlock_enable</c> (upstream sets it in the CLI's config only), so an operator's unit
    /// file sandboxes the VMs its API clients create too.
    /// </summary>
    public bool Landlock { get; init; }
}
