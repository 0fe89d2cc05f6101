namespace CloudHypervisor.TestSupport;

/// <summary>
/// Where the tests find the executables they run. <c>./test.sh</c> sets <c>CH_NATIVE_DIR</c> to
/// the directory scripts/publish.sh filled (the Native AOT files users run, or the ReadyToRun
/// fallback) and <c>CH_NATIVE_KIND</c> to what it built; a plain <c>dotnet test</c> uses the JIT
/// builds copied next to the test assembly (the test projects reference the executables).
/// </summary>
public static class Executables
{
    public static string CloudHypervisor => Locate("cloud-hypervisor");

    public static string ChRemote => Locate("ch-remote");

    /// <summary>"aot", "r2r" or "il" under ./test.sh; null for the JIT build next to the tests.</summary>
    public static string? Kind => Environment.GetEnvironmentVariable("CH_NATIVE_KIND") is { Length: > 0 } kind ? kind : null;

    /// <summary>The directory the executables come from.</summary>
    public static string Directory =>
        Environment.GetEnvironmentVariable("CH_NATIVE_DIR") is { Length: > 0 } dir ? dir : AppContext.BaseDirectory;

    private static string Locate(string name)
    {
        var path = Path.Combine(Directory, name);
        return File.Exists(path)
            ? path
            : throw new InvalidOperationException($"{name} was not found at {path}: run ./build.sh, or build the solution before dotnet test");
    }
}
