using System.Text.Json;
using CloudHypervisor.Frontends.Rest.Tests.Support;
using CloudHypervisor.InternalApi;
using Xunit;

namespace CloudHypervisor.Frontends.Rest.Tests;

// Bad input through the real curl: each gets its documented status and JSON-array body, and the
// server keeps serving (a ping after each, on a new connection).
public sealed class BadInputTests : IAsyncLifetime
{
    private static readonly Lazy<string> HugeBody = new(() =>
    {
        var path = Path.Combine(Path.GetTempPath(), "ch-rest-huge-body.json");
        if (!File.Exists(path) || new FileInfo(path).Length != (4L << 20) + 1)
        {
            // A syntactically plausible JSON object one byte over the limit.
            var bytes = new byte[(4 << 20) + 1];
            Array.Fill(bytes, (byte)' ');
            bytes[0] = (byte)'{';
            bytes[^1] = (byte)'}';
            File.WriteAllBytes(path, bytes);
        }

        return path;
    });

    private RestHost _host = null!;

    public async Task InitializeAsync()
    {
        var handler = MiniVmm.Create();
        handler["vm.add-disk"] = _ => ApiResult.Ok();
        _host = await RestHost.StartAsync(handler);
    }

    public async Task DisposeAsync() => await _host.DisposeAsync();

    public static TheoryData<string, string[], int, string[], string?> Cases() => new()
    {
        // name, curl arguments, status, leading elements of the error chain, Allow header
        { "malformed JSON", ["-X", "PUT", "http://localhost/api/v1/vm.create", "-d", "{\"cpus\":"], 400, ["Failed to deserialize JSON"], null },
        { "wrong type", ["-X", "PUT", "http://localhost/api/v1/vm.create", "-d", "{\"cpus\":{\"boot_vcpus\":\"four\"}}"], 400, ["Failed to deserialize JSON"], null },
        { "not an object", ["-X", "PUT", "http://localhost/api/v1/vm.create", "-d", "[1,2]"], 400, ["Failed to deserialize JSON"], null },
        { "unknown field", ["-X", "PUT", "http://localhost/api/v1/vm.create", "-d", "{\"bogus\":1}"], 400, ["Failed to deserialize JSON", "unknown field `bogus` at $.bogus"], null },
        { "unknown nested field", ["-X", "PUT", "http://localhost/api/v1/vm.add-disk", "-d", "{\"path\":\"/d\",\"bogus\":true}"], 400, ["Failed to deserialize JSON"], null },
        { "missing body", ["-X", "PUT", "http://localhost/api/v1/vm.create"], 400, ["Bad Request"], null },
        { "empty body", ["-X", "PUT", "http://localhost/api/v1/vm.add-disk", "-d", ""], 400, ["Bad Request"], null },
        { "body on a body-less action", ["-X", "PUT", "http://localhost/api/v1/vm.boot", "-d", "{}"], 400, ["Bad Request"], null },
        { "body over 4 MiB", ["-X", "PUT", "http://localhost/api/v1/vm.create", "--data-binary", "@" + HugeBody.Value], 413, ["Payload Too Large"], null },
        { "chunked body over 4 MiB", ["-X", "PUT", "http://localhost/api/v1/vm.create", "-H", "Transfer-Encoding: chunked", "--data-binary", "@" + HugeBody.Value], 413, ["Payload Too Large"], null },
        { "GET on vm.boot", ["-X", "GET", "http://localhost/api/v1/vm.boot"], 405, ["Method Not Allowed"], "PUT" },
        { "POST on vm.boot", ["-X", "POST", "http://localhost/api/v1/vm.boot"], 405, ["Method Not Allowed"], "PUT" },
        { "DELETE on vm.info", ["-X", "DELETE", "http://localhost/api/v1/vm.info"], 405, ["Method Not Allowed"], "GET" },
        { "PUT on vmm.ping", ["-X", "PUT", "http://localhost/api/v1/vmm.ping"], 405, ["Method Not Allowed"], "GET" },
        { "PATCH on vm.create", ["-X", "PATCH", "http://localhost/api/v1/vm.create", "-d", "{}"], 405, ["Method Not Allowed"], "PUT" },
        { "PUT on the event stream", ["-X", "PUT", "http://localhost/api/v1/events"], 405, ["Method Not Allowed"], "GET" },
        { "trailing slash", ["http://localhost/api/v1/vmm.ping/"], 404, ["Not Found"], null },
        { "query string on an action", ["http://localhost/api/v1/vm.info?x=1"], 404, ["Not Found"], null },
        { "another API version", ["http://localhost/api/v2/vmm.ping"], 404, ["Not Found"], null },
        { "dot-dot segment", ["--path-as-is", "http://localhost/api/v1/../v1/vmm.ping"], 404, ["Not Found"], null },
        { "percent-escaped dot", ["http://localhost/api/v1/vmm%2Eping"], 404, ["Not Found"], null },
        { "upper case", ["http://localhost/api/v1/VMM.PING"], 404, ["Not Found"], null },
        { "unknown action", ["-X", "PUT", "http://localhost/api/v1/vm.frobnicate"], 404, ["Not Found"], null },
        { "bad events query", ["http://localhost/api/v1/events?since=-3"], 400, ["Bad Request"], null },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_input_gets_its_documented_answer_and_the_server_keeps_serving(
        string name, string[] args, int status, string[] chainStart, string? allow)
    {
        var response = await _host.CurlAsync(args);

        Assert.True(response.Status == status, $"{name}: expected {status}, got {response.StatusLine}: {response.Body}");
        Assert.Equal("Cloud Hypervisor API", response.Header("Server"));
        Assert.Equal("application/json", response.Header("Content-Type"));
        var chain = JsonSerializer.Deserialize<string[]>(response.Body)!;
        Assert.True(chain.Length >= chainStart.Length, $"{name}: {response.Body}");
        Assert.Equal(chainStart, chain[..chainStart.Length]);
        Assert.Equal(allow, response.Header("Allow"));
        Assert.Equal(200, (await _host.CurlAsync("http://localhost/api/v1/vmm.ping")).Status);
    }

    [Fact]
    public async Task A_chunked_body_over_4_MiB_is_refused_with_its_real_size_and_the_connection_stays_usable()
    {
        // curl sends the file as chunks and then a ping on the same connection.
        var (exit, stdout, stderr) = await Curl.RunRawAsync(
        [
            "-sS", "-v", "--unix-socket", _host.Socket, "-X", "PUT", "-H", "Transfer-Encoding: chunked",
            "--data-binary", "@" + HugeBody.Value, "http://localhost/api/v1/vm.create",
            "--next", "--unix-socket", _host.Socket, "http://localhost/api/v1/vmm.ping",
        ]);

        Assert.True(exit == 0, stderr);
        Assert.Contains("""["Payload Too Large","Request payload with size 4194305 is larger than the limit of 4194304 allowed by server."]""", stdout, StringComparison.Ordinal);
        Assert.Contains("\"version\"", stdout, StringComparison.Ordinal);
        Assert.Contains("Re-using existing connection", stderr, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_body_on_ping_or_info_is_ignored_as_upstream_does()
    {
        var ping = await _host.CurlAsync("-X", "GET", "http://localhost/api/v1/vmm.ping", "-d", "not even json");
        Assert.Equal(200, ping.Status);
        Assert.Contains("\"version\"", ping.Body, StringComparison.Ordinal);

        Assert.Equal(204, (await _host.CurlAsync("-X", "PUT", "http://localhost/api/v1/vm.create", "-d", "{}")).Status);
        var info = await _host.CurlAsync("-X", "GET", "http://localhost/api/v1/vm.info", "-d", "{\"x\":1}");
        Assert.Equal(200, info.Status);
    }

    [Fact]
    public async Task Absolute_form_request_targets_are_served()
    {
        var response = await _host.CurlAsync("--request-target", "http://localhost/api/v1/vmm.ping", "http://localhost/");

        Assert.Equal(200, response.Status);
    }

    [Fact]
    public async Task A_HEAD_request_on_a_GET_route_is_405_with_Allow()
    {
        var response = await _host.CurlAsync("-I", "http://localhost/api/v1/vmm.ping");

        Assert.Equal(405, response.Status);
        Assert.Equal("GET", response.Header("Allow"));
    }

    [Fact]
    public async Task Keep_alive_serves_many_requests_on_one_connection()
    {
        // curl reuses one connection for several URLs on one command line.
        var (exit, stdout, stderr) = await Curl.RunRawAsync(
        [
            "-sS", "-v", "--unix-socket", _host.Socket,
            "http://localhost/api/v1/vmm.ping", "http://localhost/api/v1/vmm.ping", "http://localhost/api/v1/nope",
            "http://localhost/api/v1/vmm.ping",
        ]);

        Assert.True(exit == 0, stderr);
        Assert.Equal(3, stderr.Split("Re-using existing connection").Length - 1);
        Assert.DoesNotContain("Closing connection", stderr, StringComparison.Ordinal);
        Assert.Equal(3, stdout.Split("\"version\"").Length - 1);
        Assert.Contains("[\"Not Found\"]", stdout, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Busy_answers_429_with_Retry_After()
    {
        var handler = new TableHandler();
        handler["vm.resize"] = c => ApiError.For(c.Action, ApiErrorKind.Busy, "vCPU removal is still pending");
        await using var host = await RestHost.StartAsync(handler);

        var response = await host.CurlAsync("-X", "PUT", "http://localhost/api/v1/vm.resize", "-d", "{\"desired_vcpus\":1}");

        Assert.Equal(429, response.Status);
        Assert.Equal("1", response.Header("Retry-After"));
        Assert.Equal(["Error from API", "The VM could not be resized", "vCPU removal is still pending"],
            JsonSerializer.Deserialize<string[]>(response.Body)!);
    }

    public static TheoryData<ApiErrorKind, int> Kinds() => RestResponsesTests.Table();

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task An_error_kind_from_the_loop_reaches_curl_with_its_status_and_chain(ApiErrorKind kind, int status)
    {
        var handler = new TableHandler();
        handler["vm.nmi"] = c => ApiError.For(c.Action, kind, "first cause", "root cause with \"quotes\" and <angle>");
        await using var host = await RestHost.StartAsync(handler);

        var response = await host.CurlAsync("-X", "PUT", "http://localhost/api/v1/vm.nmi");

        Assert.Equal(status, response.Status);
        Assert.Equal(kind.ToString(), response.Header("Ch-Error-Kind"));
        Assert.Equal("""["Error from API","Error triggering NMI","first cause","root cause with \"quotes\" and <angle>"]""", response.Body);
    }

    [Fact]
    public async Task Hot_plug_answers_200_with_PciDeviceInfo_and_cold_plug_204()
    {
        var handler = new TableHandler();
        var hot = false;
        handler["vm.add-disk"] = _ => hot ? ApiResult.Ok("""{"id":"_disk1","bdf":"0000:00:06.0"}""") : ApiResult.Ok();
        await using var host = await RestHost.StartAsync(handler);

        var cold = await host.CurlAsync("-X", "PUT", "http://localhost/api/v1/vm.add-disk", "-d", "{\"path\":\"/d.img\"}");
        hot = true;
        var plugged = await host.CurlAsync("-X", "PUT", "http://localhost/api/v1/vm.add-disk", "-d", "{\"path\":\"/d.img\"}");

        UpstreamExamplesTests.AssertNoContent(cold);
        Assert.Equal(200, plugged.Status);
        Assert.Equal("""{"id":"_disk1","bdf":"0000:00:06.0"}""", plugged.Body);
        var command = Assert.IsType<VmAddDiskCommand>(handler.Received.Last());
        Assert.Equal("/d.img", command.Config.Path);
    }
}
