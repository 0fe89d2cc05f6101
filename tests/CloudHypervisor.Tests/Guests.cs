using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace CloudHypervisor.Tests;

/// <summary>
/// The bundled guests (guests/*.s, PVH ELF files). Uses out/guests from ./build.sh when present,
/// else builds them once with guests/build.sh (binutils). Needs /dev/kvm; a missing prerequisite
/// fails with one clear message.
/// </summary>
internal static class Guests
{
    private static readonly Lazy<string> Directory = new(Build);

    public static string Path(string name)
    {
        if (!File.Exists("/dev/kvm"))
        {
            throw new InvalidOperationException("/dev/kvm is missing: these tests boot real guests on KVM");
        }

        return System.IO.Path.Combine(Directory.Value, name);
    }

    private static string RepoRoot([CallerFilePath] string thisFile = "") =>
        System.IO.Path.GetFullPath(System.IO.Path.Combine(System.IO.Path.GetDirectoryName(thisFile)!, "..", ".."));

    private static string Build()
    {
        var root = RepoRoot();
        var built = System.IO.Path.Combine(root, "out", "guests");
        // A build from before the kit (or before its newest guest) is stale: build afresh then.
        if (File.Exists(System.IO.Path.Combine(built, "poweroff")) && File.Exists(System.IO.Path.Combine(built, "virtio-hostile")) && File.Exists(System.IO.Path.Combine(built, "hotplug")) && File.Exists(System.IO.Path.Combine(built, "pci-hotplug")))
        {
            return built;
        }

        var output = System.IO.Directory.CreateTempSubdirectory("ch-guests-").FullName;
        using var process = Process.Start(new ProcessStartInfo(System.IO.Path.Combine(root, "guests", "build.sh"), [output])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
        })!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return process.ExitCode == 0
            ? output
            : throw new InvalidOperationException($"guests/build.sh failed (needs the Debian package binutils): {error}");
    }
}
