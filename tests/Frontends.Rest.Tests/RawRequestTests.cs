using System.Text;
using System.Text.Json;
using CloudHypervisor.Frontends.Rest.Tests.Support;
using CloudHypervisor.Frontends.Rest.Transport;
using Xunit;

namespace CloudHypervisor.Frontends.Rest.Tests;

// Requests curl cannot send, from a raw socket: what Kestrel refuses while parsing still gets
// upstream's Server header and a JSON array of strings (it answered with empty bodies, and an
// HTTP/2 GOAWAY frame to a preface), and what upstream's parser accepts (no Host header) is served.
public sealed class RawRequestTests : IAsyncLifetime
{
    private RestHost _host = null!;

    public async Task InitializeAsync() => _host = await RestHost.StartAsync(MiniVmm.Create());

    public async Task DisposeAsync() => await _host.DisposeAsync();

    public static TheoryData<string, string, int, string> Refused() => new()
    {
        // name, request (Latin-1), status, first element of the chain
        { "HTTP/2.0 request line", "GET /api/v1/vmm.ping HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP Version Not Supported" },
        { "HTTP/9.9 request line", "GET /api/v1/vmm.ping HTTP/9.9\r\nHost: x\r\n\r\n", 505, "HTTP Version Not Supported" },
        { "NUL in the target", "GET /api/v1/vm\0m.ping HTTP/1.1\r\nHost: x\r\n\r\n", 400, "Bad Request" },
        { "garbage request line", "GARBAGE\r\n\r\n", 400, "Bad Request" },
        { "header over Kestrel's limit", "GET /api/v1/vmm.ping HTTP/1.1\r\nHost: x\r\nX-A: " + new string('a', 40000) + "\r\n\r\n", 431, "Request Header Fields Too Large" },
        { "request line over Kestrel's limit", "GET /" + new string('a', 10000) + " HTTP/1.1\r\nHost: x\r\n\r\n", 414, "URI Too Long" },
        { "asterisk target without OPTIONS", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 405, "Method Not Allowed" },
        { "HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 400, "Bad Request" },
        { "overflowing chunk size", "PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFFFFF\r\nabc\r\n0\r\n\r\n", 400, "Bad Request" },
        { "malformed chunk size", "PUT /api/v1/vm.create HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", 400, "Bad Request" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task A_request_refused_while_parsing_gets_a_JSON_array_body_and_the_server_keeps_serving(
        string name, string request, int status, string first)
    {
        var stream = await RawHttp.ExchangeAsync(_host.Socket, Encoding.Latin1.GetBytes(request));

        Assert.StartsWith("HTTP/1.1 ", stream, StringComparison.Ordinal);
        var response = Assert.Single(RawHttp.Parse(stream));
        Assert.True(response.Status == status, $"{name}: {response.StatusLine} {response.Body}");
        Assert.Equal("Cloud Hypervisor API", response.Header("Server"));
        Assert.Equal("application/json", response.Header("Content-Type"));
        Assert.Equal("InvalidArgument", response.Header("Ch-Error-Kind"));
        var chain = JsonSerializer.Deserialize<string[]>(response.Body)!;
        Assert.True(chain.Length == 2 && chain[0] == first && chain[1].Length > 0, $"{name}: {response.Body}");
        Assert.Equal(200, (await _host.CurlAsync("http://localhost/api/v1/vmm.ping")).Status);
    }

    [Theory]
    [InlineData("GET /api/v1/vmm.ping HTTP/1.1\r\n\r\n")]
    [InlineData("GET /api/v1/vmm.ping HTTP/1.1\n\n")]
    [InlineData("GET /api/v1/vmm.ping HTTP/1.0\r\n\r\n")]
    [InlineData("GET http://ch:8080/api/v1/vmm.ping HTTP/1.1\r\n\r\n")]
    public async Task A_request_without_Host_is_served_as_upstreams_parser_serves_it(string request)
    {
        var response = Assert.Single(RawHttp.Parse(await RawHttp.ExchangeAsync(_host.Socket, Encoding.Latin1.GetBytes(request))));

        Assert.Equal(200, response.Status);
        Assert.Contains("\"version\":\"54.0.0\"", response.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Pipelined_requests_without_Host_are_each_answered_in_order_across_bodies_and_split_heads()
    {
        var stream = await RawHttp.ExchangeAsync(
            _host.Socket,
            "PUT /api/v1/vm.create HTTP/1.1\r\nContent-Length: 27\r\n\r\n{\"payload\":{\"kernel\":\"/k\"}}GET /api/v1/vm"u8.ToArray(),
            "m.ping HTTP/1.1\r\n"u8.ToArray(),
            "\r\nGET /api/v1/vm.info HTTP/1.1\r\n\r\nGET /api/v1/nope HTTP/1.1\r\nHost: y\r\n\r\n"u8.ToArray());

        var responses = RawHttp.Parse(stream);

        Assert.Equal([204, 200, 200, 404], responses.Select(r => r.Status));
        Assert.Contains("\"version\"", responses[1].Body, StringComparison.Ordinal);
        Assert.Contains("\"state\":\"Created\"", responses[2].Body, StringComparison.Ordinal);
    }

    [Fact]
    public void An_answer_with_our_Server_header_is_never_taken_for_one_of_Kestrels()
    {
        var ours = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nServer: Cloud Hypervisor API\r\n\r\n"u8;
        var kestrels = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8;

        Assert.Null(KestrelAnswers.Dress(ours, atStart: false, () => null));
        Assert.NotNull(KestrelAnswers.Dress(kestrels, atStart: false, () => null));
        Assert.Null(KestrelAnswers.Dress("HTTP/1.1 204 No Content\r\n\r\n"u8, atStart: false, () => null));
    }
}
