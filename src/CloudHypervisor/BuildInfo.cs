namespace CloudHypervisor;

/// <summary>What <c>--version</c> prints and <c>vmm.ping</c> reports (contract §6.1).</summary>
public static class BuildInfo
{
    /// <summary>Upstream's build version, "v" + the workspace version (54.0.0).</summary>
    public static string Version { get; } = "v" + (typeof(BuildInfo).Assembly.GetName().Version?.ToString(3) ?? "0.0.0");

    /// <summary>Upstream's MIGRATION_PROTOCOL_VERSIONS line content.</summary>
    public const string MigrationProtocolVersions = "0";

    /// <summary>Compile-time features, in upstream's spelling and order ("dbus_api" first when compiled in).</summary>
    public static IReadOnlyList<string> Features { get; } =
    [
#if DBUS_API
        "dbus_api",
#endif
#if GUEST_DEBUG
        "guest_debug",
#endif
        "kvm",
    ];

    /// <summary>The <c>-V</c> text; with <c>-v</c> also the feature list, in Rust's Debug form.</summary>
    public static string VersionText(bool verbose)
    {
        var text = $"cloud-hypervisor {Version}\nMigration Protocol Versions: {MigrationProtocolVersions}\n";
        if (verbose)
        {
            text += $"Enabled features: [{string.Join(", ", Features.Select(f => $"\"{f}\""))}]\n";
        }

        return text;
    }
}
