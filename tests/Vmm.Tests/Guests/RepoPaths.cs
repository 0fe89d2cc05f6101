using System.Runtime.CompilerServices;

namespace CloudHypervisor.Vmm.Tests.Guests;

/// <summary>Paths in the source tree. Build output may live anywhere (CH_ARTIFACTS), so the tree is found from this file's compile-time path.</summary>
internal static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Guests => Path.Combine(Root, "guests");

    private static string FindRoot([CallerFilePath] string thisFile = "")
    {
        for (var dir = Path.GetDirectoryName(thisFile); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "CloudHypervisor.sln")))
            {
                return dir;
            }
        }

        throw new InvalidOperationException($"No CloudHypervisor.sln above {thisFile}.");
    }
}
