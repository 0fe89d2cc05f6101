namespace CloudHypervisor.Tests;

/// <summary>What a user sees from the built executable for bad or informational command lines.</summary>
public sealed class ExitCodeTests
{
    [Fact]
    public async Task Version_prints_the_build_version_and_migration_protocols_and_exits_0()
    {
        var (code, stdout, stderr) = await Executable.RunAsync("--version");

        Assert.Equal(0, code);
        Assert.Equal("cloud-hypervisor v54.0.0\nMigration Protocol Versions: 0\n", stdout);
        Assert.Equal("", stderr);
    }

    [Fact]
    public async Task Short_version_with_v_also_lists_the_enabled_features()
    {
        var (code, stdout, _) = await Executable.RunAsync("-V", "-v");

        Assert.Equal(0, code);
        Assert.Contains("Enabled features: [", stdout);
        Assert.Contains("\"kvm\"", stdout);
    }

    [Fact]
    public async Task No_arguments_prints_help_on_stderr_and_exits_2()
    {
        var (code, stdout, stderr) = await Executable.RunAsync();

        Assert.Equal(2, code);
        Assert.Equal("", stdout);
        Assert.Contains("--api-socket", stderr);
        Assert.Contains("--kernel", stderr);
    }

    [Fact]
    public async Task An_unknown_flag_exits_2_with_a_clap_style_error()
    {
        var (code, _, stderr) = await Executable.RunAsync("--frobnicate");

        Assert.Equal(2, code);
        Assert.StartsWith("error: unexpected argument '--frobnicate' found\n", stderr);
        Assert.Contains("For more information, try '--help'.", stderr);
    }

    [Fact]
    public async Task A_vm_flag_without_kernel_or_firmware_exits_2()
    {
        var (code, _, stderr) = await Executable.RunAsync("--cpus", "boot=2");

        Assert.Equal(2, code);
        Assert.StartsWith("error: the following required arguments were not provided:", stderr);
    }

    [Fact]
    public async Task A_bare_event_monitor_path_exits_1_with_the_upstream_chain()
    {
        var (code, stdout, stderr) = await Executable.RunAsync("--api-socket", "/tmp/never-bound.sock", "--event-monitor", "/x");

        Assert.Equal(1, code);
        Assert.Equal("", stdout);
        Assert.EndsWith(
            "Error: Cloud Hypervisor exited with the following chain of errors:\n  0: Error parsing --event-monitor\n  1: Unknown option: /x\n",
            stderr);
    }

    [Fact]
    public async Task An_empty_event_monitor_exits_1_asking_for_path_or_fd()
    {
        var (code, _, stderr) = await Executable.RunAsync("--api-socket", "/tmp/never-bound.sock", "--event-monitor", "");

        Assert.Equal(1, code);
        Assert.EndsWith("Error: Cloud Hypervisor exited with the following error:\n  Error parsing --event-monitor: path or fd required\n", stderr);
    }

#if DBUS_API
    [Fact]
    public async Task A_dbus_name_without_a_path_exits_1()
    {
        var (code, _, stderr) = await Executable.RunAsync("--dbus-service-name", "org.example.Ch");

        Assert.Equal(1, code);
        Assert.EndsWith("  `--dbus-object-path` option isn't provided\n", stderr);
    }

    [Fact]
    public async Task A_dbus_path_without_a_name_exits_1()
    {
        var (code, _, stderr) = await Executable.RunAsync("--dbus-object-path", "/org/example/Ch");

        Assert.Equal(1, code);
        Assert.EndsWith("  `--dbus-service-name` option isn't provided\n", stderr);
    }
#endif
}
