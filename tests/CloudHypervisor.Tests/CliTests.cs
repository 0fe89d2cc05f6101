using CloudHypervisor.Cli;

namespace CloudHypervisor.Tests;

public sealed class CliTests
{
    private static CliArguments Run(params string[] args) =>
        Assert.IsType<CliParse.Run>(new CommandLine().Parse(args)).Arguments;

    private static string UsageError(params string[] args) =>
        Assert.IsType<CliParse.UsageError>(new CommandLine().Parse(args)).Message;

    [Fact]
    public void No_arguments_is_help_with_exit_code_2_as_clap_arg_required_else_help()
    {
        Assert.Equal(new CliParse.Help(2), new CommandLine().Parse([]));
        Assert.Equal(new CliParse.Help(0), new CommandLine().Parse(["--help"]));
    }

    [Fact]
    public void An_unknown_flag_is_a_usage_error_in_clap_wording()
    {
        Assert.Equal("unexpected argument '--frobnicate' found", UsageError("--frobnicate"));
    }

    [Fact]
    public void A_vm_flag_without_a_payload_is_a_usage_error()
    {
        Assert.Contains("<--kernel <KERNEL>|--firmware <FIRMWARE>>", UsageError("--cpus", "boot=2"));
    }

    [Fact]
    public void Repeated_and_multi_value_vm_flags_are_collected_in_order()
    {
        var arguments = Run("--kernel", "/k", "--disk", "path=/a", "path=/b", "--disk", "path=/c", "--cpus", "boot=2", "--watchdog", "--rtc");

        Assert.Equal(["path=/a", "path=/b", "path=/c"], arguments.VmFlags["--disk"]);
        Assert.Equal(["boot=2"], arguments.VmFlags["--cpus"]);
        Assert.Equal(["/k"], arguments.VmFlags["--kernel"]);
        Assert.Empty(arguments.VmFlags["--watchdog"]);
        Assert.Equal([""], arguments.VmFlags["--rtc"]);
        Assert.True(arguments.HasPayload);
    }

    [Theory]
    [InlineData(new string[] { "--api-socket", "/s" }, 0)]
    [InlineData(new string[] { "--api-socket", "/s", "-v" }, 1)]
    [InlineData(new string[] { "--api-socket", "/s", "-v", "-v" }, 2)]
    [InlineData(new string[] { "--api-socket", "/s", "-vvv" }, 3)]
    public void Each_v_raises_the_verbosity(string[] args, int verbosity)
    {
        Assert.Equal(verbosity, Run(args).Verbosity);
    }

    [Fact]
    public void Api_and_vmm_flags_are_kept_raw()
    {
        var arguments = Run(
            "--api-socket", "path=/tmp/a", "--event-monitor", "fd=3", "--no-shutdown", "--log-file", "/tmp/l",
            "--seccomp", "false", "--restore", "source_url=file:///x");

        Assert.Equal("path=/tmp/a", arguments.ApiSocket);
        Assert.Equal("fd=3", arguments.EventMonitor);
        Assert.True(arguments.NoShutdown);
        Assert.Equal("/tmp/l", arguments.LogFile);
        Assert.Equal("false", arguments.Seccomp);
        Assert.Equal("source_url=file:///x", arguments.Restore);
        Assert.Empty(arguments.VmFlags);
    }

    [Fact]
    public void Seccomp_accepts_only_upstreams_values()
    {
        Assert.Equal("log", Run("--api-socket", "/s", "--seccomp", "log").Seccomp);
        Assert.Contains("maybe", UsageError("--api-socket", "/s", "--seccomp", "maybe"));
    }

    [Fact]
    public void Log_journald_takes_an_optional_socket_path()
    {
        Assert.Equal(Logging.JournaldSink.DefaultSocketPath, Run("--api-socket", "/s", "--log-journald").LogJournald);
        Assert.Equal("/tmp/j", Run("--log-journald", "/tmp/j", "--api-socket", "/s").LogJournald);
        Assert.Null(Run("--api-socket", "/s").LogJournald);
    }

#if DBUS_API
    [Fact]
    public void Dbus_flags_exist_in_the_dbus_build()
    {
        var arguments = Run("--dbus-service-name", "org.example.A", "--dbus-object-path", "/org/example/A", "--dbus-system-bus");
        Assert.Equal("org.example.A", arguments.DBusServiceName);
        Assert.Equal("/org/example/A", arguments.DBusObjectPath);
        Assert.True(arguments.DBusSystemBus);
    }
#else
    [Fact]
    public void Dbus_flags_are_unknown_without_the_dbus_build()
    {
        Assert.Equal("unexpected argument '--dbus-service-name' found", UsageError("--dbus-service-name", "org.example.A"));
    }
#endif

    [Fact]
    public void A_single_fatal_error_and_a_chain_render_as_upstream()
    {
        Assert.Equal(
            "Error: Cloud Hypervisor exited with the following error:\n  boom\n",
            FatalErrorException.Render(["boom"]));
        Assert.Equal(
            "Error: Cloud Hypervisor exited with the following chain of errors:\n  0: Error parsing --event-monitor\n  1: Unknown option: /x\n",
            FatalErrorException.Render(["Error parsing --event-monitor", "Unknown option: /x"]));
    }

    [Fact]
    public void Version_text_lists_features_only_when_verbose()
    {
        Assert.Equal("cloud-hypervisor v54.0.0\nMigration Protocol Versions: 0\n", BuildInfo.VersionText(verbose: false));
        Assert.EndsWith("Enabled features: [" + string.Join(", ", BuildInfo.Features.Select(f => $"\"{f}\"")) + "]\n", BuildInfo.VersionText(verbose: true));
        Assert.Equal("kvm", BuildInfo.Features[^1]);
#if DBUS_API
        Assert.Equal("dbus_api", BuildInfo.Features[0]);
#endif
    }
}
