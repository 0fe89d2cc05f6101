using System.Buffers.Binary;
using System.Net.Sockets;
using System.Text;
using CloudHypervisor.Logging;
using Serilog;
using Serilog.Events;
using Serilog.Parsing;

namespace CloudHypervisor.Tests;

/// <summary>journald's native protocol and sd_notify, checked on datagram sockets the test binds.</summary>
public sealed class SystemdTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("ch-sd-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Socket Bind(string address)
    {
        var socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
        socket.Bind(new UnixDomainSocketEndPoint(address));
        socket.ReceiveTimeout = 20_000;
        return socket;
    }

    private static byte[] Receive(Socket socket)
    {
        var buffer = new byte[65536];
        var n = socket.Receive(buffer);
        return buffer[..n];
    }

    /// <summary>Decodes a native-protocol datagram into fields (last one wins).</summary>
    private static Dictionary<string, string> Fields(byte[] datagram)
    {
        var fields = new Dictionary<string, string>();
        var i = 0;
        while (i < datagram.Length)
        {
            var end = Array.IndexOf(datagram, (byte)'\n', i);
            var line = datagram.AsSpan(i, end - i);
            var eq = line.IndexOf((byte)'=');
            if (eq >= 0)
            {
                fields[Encoding.ASCII.GetString(line[..eq])] = Encoding.UTF8.GetString(line[(eq + 1)..]);
                i = end + 1;
            }
            else
            {
                var name = Encoding.ASCII.GetString(line);
                var length = (int)BinaryPrimitives.ReadUInt64LittleEndian(datagram.AsSpan(end + 1, 8));
                fields[name] = Encoding.UTF8.GetString(datagram, end + 9, length);
                Assert.Equal((byte)'\n', datagram[end + 9 + length]);
                i = end + 10 + length;
            }
        }

        return fields;
    }

    [Fact]
    public void A_journald_entry_carries_message_priority_identifier_and_structured_fields()
    {
        var path = Path.Combine(_dir, "journal.sock");
        using var journal = Bind(path);
        using (var logger = new LoggerConfiguration().WriteTo.Sink(new JournaldSink(path)).CreateLogger())
        {
            logger.Warning("Request {Action} failed: {ErrorKind}", "vm.boot", "InvalidState");
        }

        var fields = Fields(Receive(journal));

        Assert.Equal("Request vm.boot failed: InvalidState", fields["MESSAGE"]);
        Assert.Equal("4", fields["PRIORITY"]);
        Assert.Equal("cloud-hypervisor", fields["SYSLOG_IDENTIFIER"]);
        Assert.Equal("vm.boot", fields["ACTION"]);
        Assert.Equal("InvalidState", fields["ERROR_KIND"]);
    }

    [Fact]
    public void A_value_with_a_newline_is_sent_size_prefixed()
    {
        var logEvent = new LogEvent(
            DateTimeOffset.Now, LogEventLevel.Error, null, new MessageTemplateParser().Parse("line one\nline two"), []);

        var datagram = JournaldSink.Encode(logEvent);

        var expectedValue = "line one\nline two"u8.ToArray();
        var expected = new List<byte>("MESSAGE\n"u8.ToArray());
        var length = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)expectedValue.Length);
        expected.AddRange(length);
        expected.AddRange(expectedValue);
        expected.Add((byte)'\n');
        Assert.Equal([.. expected], datagram[..expected.Count]);
        Assert.Equal("3", Fields(datagram)["PRIORITY"]);
    }

    [Theory]
    [InlineData("Action", "ACTION")]
    [InlineData("ErrorKind", "ERROR_KIND")]
    [InlineData("_Private", "PRIVATE")]
    [InlineData("vm-id", "VM_ID")]
    [InlineData("9lives", null)]
    public void Property_names_become_valid_journal_field_names(string property, string? field)
    {
        Assert.Equal(field, JournaldSink.FieldName(property));
    }

    [Fact]
    public void Sd_notify_sends_to_a_path_socket()
    {
        var path = Path.Combine(_dir, "notify.sock");
        using var socket = Bind(path);

        new SdNotify(path, Serilog.Core.Logger.None).Notify(SdNotify.Ready);

        Assert.Equal("READY=1", Encoding.UTF8.GetString(Receive(socket)));
    }

    [Fact]
    public void Sd_notify_sends_to_an_abstract_socket_written_with_an_at_sign()
    {
        var name = "ch-test-" + Guid.NewGuid().ToString("N");
        using var socket = Bind("\0" + name);

        new SdNotify("@" + name, Serilog.Core.Logger.None).Notify(SdNotify.Stopping);

        Assert.Equal("STOPPING=1", Encoding.UTF8.GetString(Receive(socket)));
    }

    [Fact]
    public async Task The_executable_notifies_ready_once_serving_and_stopping_at_shutdown()
    {
        var notifyPath = Path.Combine(_dir, "notify.sock");
        var apiSocket = Path.Combine(_dir, "api.sock");
        using var notify = Bind(notifyPath);
        using var ch = Executable.Start(["--api-socket", apiSocket], new Dictionary<string, string?> { ["NOTIFY_SOCKET"] = notifyPath });

        var ready = await Task.Run(() => Encoding.UTF8.GetString(Receive(notify)));
        Assert.Equal("READY=1", ready);
        // READY=1 means the API answers now, without waiting.
        Assert.Equal(200, (await Curl.SendAsync(apiSocket, "GET", "vmm.ping")).Status);

        Assert.Equal(200, (await Curl.SendAsync(apiSocket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal("STOPPING=1", await Task.Run(() => Encoding.UTF8.GetString(Receive(notify))));
        Assert.Equal(0, await ch.WaitForExitAsync(TimeSpan.FromSeconds(20)));
    }

    [Fact]
    public async Task The_executable_logs_to_journald_with_log_journald()
    {
        var journalPath = Path.Combine(_dir, "journal.sock");
        var apiSocket = Path.Combine(_dir, "api.sock");
        using var journal = Bind(journalPath);
        using var ch = Executable.Start(["--api-socket", apiSocket, "-v", "--log-journald", journalPath]);

        var entries = new List<Dictionary<string, string>>();
        var deadline = DateTime.UtcNow.AddSeconds(20);
        bool Seen(string message) => entries.Any(e => e["MESSAGE"] == message);
        // The event line comes from the event monitor's own task, so the two may arrive in either order.
        while (!(Seen("Event: source = vmm event = starting") && Seen($"{BuildInfo.Version} starting")) && DateTime.UtcNow < deadline)
        {
            entries.Add(await Task.Run(() => Fields(Receive(journal))));
        }

        var starting = Assert.Single(entries, e => e["MESSAGE"] == "Event: source = vmm event = starting");
        Assert.Equal("cloud-hypervisor", starting["SYSLOG_IDENTIFIER"]);
        Assert.Equal("6", starting["PRIORITY"]);
        Assert.Equal("vmm", starting["EVENT_SOURCE"]);
        Assert.Contains(entries, e => e["MESSAGE"] == $"{BuildInfo.Version} starting");
        await Curl.WaitForApiAsync(apiSocket, ch, TimeSpan.FromSeconds(20));
        Assert.Equal(200, (await Curl.SendAsync(apiSocket, "PUT", "vmm.shutdown")).Status);
        Assert.Equal(0, await ch.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.Equal("", ch.Stderr);
    }
}
