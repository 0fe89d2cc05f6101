#if DBUS_API
using System.Runtime.CompilerServices;

namespace CloudHypervisor.Frontends.DBus.Tests.Support;

/// <summary>Files of the repository (build output lives elsewhere, so find the root from this source file).</summary>
public static class RepoFiles
{
    public static string Root { get; } = FindRoot();

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    private static string FindRoot([CallerFilePath] string source = "")
    {
        for (var dir = Path.GetDirectoryName(source); dir is not null; dir = Path.GetDirectoryName(dir))
        {
            if (File.Exists(Path.Combine(dir, "CloudHypervisor.sln")))
            {
                return dir;
            }
        }

        throw new InvalidOperationException("CloudHypervisor.sln not found above " + source);
    }
}
#endif
