using System.Diagnostics;
using System.Net.Sockets;
using CloudHypervisor.Frontends.Rest.Tests.Support;
using Xunit;

namespace CloudHypervisor.Frontends.Rest.Tests;

// --api-socket path= and fd= (contract §6.1).
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ApiSocketTests
{
    [Fact]
    public async Task A_second_server_on_the_same_path_fails_with_upstreams_message()
    {
        await using var first = await RestHost.StartAsync(MiniVmm.Create());

        var error = await Assert.ThrowsAsync<ApiSocketInUseException>(() => RestHost.StartAsync(MiniVmm.Create(), directory: first.Directory));

        Assert.Equal($"API socket \"{first.Socket}\" is already in use by another running instance", error.Message);
        Assert.Equal(200, (await first.CurlAsync("http://localhost/api/v1/vmm.ping")).Status);
    }

    [Fact]
    public async Task A_lock_held_by_another_process_makes_start_fail()
    {
        var directory = RestHost.NewDirectory();
        var socket = Path.Combine(directory, "api.sock");
        // util-linux flock(1) takes an exclusive flock on the lock file, as a live instance would;
        // one process holds it (sh execs sleep with the fd open), so killing it frees the lock.
        using var holder = Process.Start(new ProcessStartInfo(
            "sh", ["-c", "exec 9>\"$0\" && flock -x 9 && exec sleep 30", socket + ".lock"]) { UseShellExecute = false })!;
        if (!File.Exists("/usr/bin/flock") && !File.Exists("/bin/flock"))
        {
            Assert.Fail("flock(1) is missing (Debian package util-linux)");
        }

        try
        {
            await WaitUntilAsync(() => File.Exists(socket + ".lock"));
            await Task.Delay(100);

            var error = await Assert.ThrowsAsync<ApiSocketInUseException>(() => RestHost.StartAsync(MiniVmm.Create(), directory: directory));

            Assert.Equal($"API socket \"{socket}\" is already in use by another running instance", error.Message);
        }
        finally
        {
            holder.Kill();
            await holder.WaitForExitAsync();
        }

        await using var host = await RestHost.StartAsync(MiniVmm.Create(), directory: directory);
        Assert.Equal(200, (await host.CurlAsync("http://localhost/api/v1/vmm.ping")).Status);
    }

    [Fact]
    public async Task A_stale_socket_left_by_a_crash_is_replaced()
    {
        var directory = RestHost.NewDirectory();
        var socket = Path.Combine(directory, "api.sock");
        // A socket file nobody listens on, as a killed instance leaves behind (and a stale lock file):
        // a process that binds and exits without unlinking.
        var (exit, _, stderr) = await RunAsync("python3", "-c", "import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])", socket);
        Assert.True(exit == 0, "python3 (Debian package python3) could not leave a socket behind: " + stderr);
        File.WriteAllText(socket + ".lock", "");
        Assert.True(File.Exists(socket));

        await using var host = await RestHost.StartAsync(MiniVmm.Create(), directory: directory);

        Assert.Equal(200, (await host.CurlAsync("http://localhost/api/v1/vmm.ping")).Status);
    }

    [Fact]
    public async Task A_regular_file_at_the_path_is_refused_with_EADDRINUSE_and_kept()
    {
        var directory = RestHost.NewDirectory();
        var socket = Path.Combine(directory, "api.sock");
        File.WriteAllText(socket, "precious");

        var error = await Assert.ThrowsAsync<IOException>(() => RestHost.StartAsync(MiniVmm.Create(), directory: directory));

        Assert.Equal("Error creation API server's socket", error.Message);
        Assert.Equal("Address already in use (os error 98)", error.InnerException?.Message);
        Assert.Equal("precious", File.ReadAllText(socket));
        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public async Task Another_programs_live_socket_at_the_path_is_refused_and_keeps_serving()
    {
        var directory = RestHost.NewDirectory();
        var socket = Path.Combine(directory, "api.sock");
        // A foreign server (python3) that answers every connection with one line (or tries to:
        // the VMM's probe connects and goes).
        using var foreign = Process.Start(new ProcessStartInfo("python3",
        [
            "-c", "import socket,sys\ns=socket.socket(socket.AF_UNIX)\ns.bind(sys.argv[1])\ns.listen()\nwhile True:\n c,_=s.accept()\n try: c.sendall(b'foreign\\n')\n except OSError: pass\n c.close()",
            socket,
        ]) { UseShellExecute = false })!;
        try
        {
            await WaitUntilAsync(() => File.Exists(socket));

            var error = await Assert.ThrowsAsync<IOException>(() => RestHost.StartAsync(MiniVmm.Create(), directory: directory));

            Assert.Equal("Error creation API server's socket", error.Message);
            Assert.Equal("Address already in use (os error 98)", error.InnerException?.Message);
            using var client = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            await client.ConnectAsync(new UnixDomainSocketEndPoint(socket));
            var buffer = new byte[64];
            var read = await client.ReceiveAsync(buffer, SocketFlags.None);
            Assert.Equal("foreign\n", System.Text.Encoding.ASCII.GetString(buffer, 0, read));
        }
        finally
        {
            foreign.Kill();
            await foreign.WaitForExitAsync();
        }

        Directory.Delete(directory, recursive: true);
    }

    [Fact]
    public void Statx_has_the_kernels_size()
    {
        Assert.Equal(256, System.Runtime.InteropServices.Marshal.SizeOf<Interop.Libc.statx>());
        Assert.Equal(28, (int)System.Runtime.InteropServices.Marshal.OffsetOf<Interop.Libc.statx>(nameof(Interop.Libc.statx.stx_mode)));
    }

    [Fact]
    public async Task The_socket_is_owner_only()
    {
        await using var host = await RestHost.StartAsync(MiniVmm.Create());

        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(host.Socket));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(host.Socket + ".lock"));
    }

    [Fact]
    public async Task Stop_removes_the_socket_and_frees_the_path_for_the_next_instance()
    {
        var directory = RestHost.NewDirectory();
        var first = await RestHost.StartAsync(MiniVmm.Create(), directory: directory);
        await first.Server.StopAsync();

        Assert.False(File.Exists(first.Socket));
        // curl exit 7: "Failed to connect".
        Assert.Equal(7, (await Curl.RunRawAsync(["-sS", "--unix-socket", first.Socket, "http://localhost/api/v1/vmm.ping"])).Exit);
        await using var second = await RestHost.StartAsync(MiniVmm.Create(), directory: directory);
        Assert.Equal(200, (await second.CurlAsync("http://localhost/api/v1/vmm.ping")).Status);
        await first.DisposeAsync();
    }

    [Fact]
    public async Task An_inherited_listening_fd_is_served_and_left_in_place_on_stop()
    {
        var directory = RestHost.NewDirectory();
        var path = Path.Combine(directory, "activated.sock");
        // What systemd hands over: a bound, listening socket; the server owns the fd from now on.
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint(path));
        listener.Listen();
        var fd = (int)listener.SafeHandle.DangerousGetHandle();
        listener.SafeHandle.SetHandleAsInvalid();

        var channel = new InternalApi.ApiChannel();
        var handler = MiniVmm.Create();
        var loop = Task.Run(async () =>
        {
            await foreach (var request in channel.Reader.ReadAllAsync())
            {
                request.Answer(await request.Command.Dispatch(handler));
            }
        });
        await using var events = new EventMonitor.EventMonitor();
        var server = await RestServer.StartAsync(new RestServerOptions { ListenFd = fd }, channel, events, Serilog.Core.Logger.None, CancellationToken.None);
        try
        {
            Assert.Null(server.SocketPath);
            var ping = await Curl.RunAsync(path, "http://localhost/api/v1/vmm.ping");
            Assert.Equal(200, ping.Status);
        }
        finally
        {
            await server.StopAsync();
            channel.Complete();
            await loop;
        }

        Assert.True(File.Exists(path), "fd mode leaves the socket file to whoever created it");
        Assert.False(File.Exists(path + ".lock"));
        Directory.Delete(directory, recursive: true);
    }

    private static async Task<(int Exit, string Stdout, string Stderr)> RunAsync(string program, params string[] args)
    {
        var start = new ProcessStartInfo(program, args) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout, await stderr);
    }

    private static async Task WaitUntilAsync(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(10);
        }

        Assert.True(condition());
    }
}
