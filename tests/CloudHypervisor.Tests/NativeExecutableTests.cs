using System.Text;
using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Tests;

/// <summary>
/// ./test.sh runs the executables users run. On a machine that can build Native AOT (this one,
/// CI) they must be the native files; the ReadyToRun fallback is only for a machine whose NuGet
/// cache has no ILCompiler package.
/// </summary>
public sealed class NativeExecutableTests
{
    [Fact]
    public void Under_test_sh_the_executables_are_native_unless_the_AOT_compiler_is_missing()
    {
        if (Executables.Kind is null)
        {
            return; // A plain `dotnet test`: the JIT builds copied next to the tests, by design.
        }

        if (Executables.Kind != "aot")
        {
            var packages = Environment.GetEnvironmentVariable("NUGET_PACKAGES") is { Length: > 0 } p
                ? p
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
            Assert.False(
                System.IO.Directory.Exists(Path.Combine(packages, "runtime.linux-x64.microsoft.dotnet.ilcompiler")),
                $"scripts/publish.sh fell back to {Executables.Kind} although the ILCompiler package is in {packages}");
            return;
        }

        foreach (var path in new[] { Executables.CloudHypervisor, Executables.ChRemote })
        {
            var info = new FileInfo(path);
            Assert.Null(info.LinkTarget);
            var bytes = File.ReadAllBytes(path);
            Assert.True(bytes.AsSpan().StartsWith("\x7f"u8.ToArray().Concat("ELF"u8.ToArray()).ToArray()), $"{path} is not an ELF file");
            // Native AOT output carries the compiled managed code in a section of its own.
            Assert.True(bytes.AsSpan().IndexOf(Encoding.ASCII.GetBytes("__managedcode")) >= 0, $"{path} has no __managedcode section");
            Assert.False(File.Exists(Path.ChangeExtension(path, ".dll")), $"{path} has a managed assembly beside it");
        }
    }
}
