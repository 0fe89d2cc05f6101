using System.Diagnostics;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace CloudHypervisor.Frontends.Rest.Tests.Support;

/// <summary>One HTTP request for <see cref="FdClient"/>: the files are opened by the client and passed as SCM_RIGHTS.</summary>
public sealed record FdRequest(string Method, string Target, string? Body, IReadOnlyList<string> Files)
{
    public static FdRequest Put(string action, string? body, params string[] files) => new("PUT", "/api/v1/" + action, body, files);

    public static FdRequest Get(string action, params string[] files) => new("GET", "/api/v1/" + action, null, files);
}

/// <summary>One HTTP answer as the python client read it.</summary>
public sealed record FdResponse(int Status, string Head, string Body)
{
    public string[] Chain() => JsonSerializer.Deserialize<string[]>(Body)!;
}

/// <summary>
/// An independent client that passes descriptors the way upstream's ch-remote does: python3's
/// <c>socket.send_fds</c> sends the request's bytes in one sendmsg whose SCM_RIGHTS ancillary data
/// carries the descriptors (contract §1.6), then the client closes its own copies and reads the
/// answer. Several requests go over one connection, in order. Missing python3 (or one older than
/// 3.9, which has no send_fds) fails the test with one clear message.
/// </summary>
public static class FdClient
{
    // Reads {"socket":…, "requests":[{"method","target","body","files"}]} on stdin and prints
    // [{"status","head","body"}]. Responses are read by Content-Length (the API always sends it).
    private const string Script = """
        import json, os, socket, sys
        if not hasattr(socket, "send_fds"):
            sys.exit("python3 >= 3.9 is needed for socket.send_fds")
        spec = json.load(sys.stdin)
        answers = []
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
            s.settimeout(30)
            s.connect(spec["socket"])
            pending = b""
            requests = spec["requests"]
            for index, request in enumerate(requests):
                body = None if request["body"] is None else request["body"].encode()
                head = "%s %s HTTP/1.1\r\nHost: localhost\r\nAccept: */*\r\n" % (request["method"], request["target"])
                if body is not None:
                    head += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(body)
                if index == len(requests) - 1:
                    head += "Connection: close\r\n"
                data = head.encode() + b"\r\n" + (body or b"")
                fds = [os.open(path, os.O_RDONLY | os.O_CLOEXEC) for path in request["files"]]
                try:
                    sent = socket.send_fds(s, [data], fds) if fds else 0
                finally:
                    for fd in fds:
                        os.close(fd)
                if sent < len(data):
                    # Never an empty send: after "Connection: close" the server may already be gone.
                    s.sendall(data[sent:])
                while b"\r\n\r\n" not in pending:
                    chunk = s.recv(65536)
                    if not chunk:
                        sys.exit("the server closed the connection before answering request %d" % index)
                    pending += chunk
                raw_head, pending = pending.split(b"\r\n\r\n", 1)
                lines = raw_head.decode("latin-1").split("\r\n")
                length = 0
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                while len(pending) < length:
                    chunk = s.recv(65536)
                    if not chunk:
                        sys.exit("the server closed the connection inside the body of answer %d" % index)
                    pending += chunk
                answers.append({"status": int(lines[0].split(" ")[1]), "head": "\r\n".join(lines), "body": pending[:length].decode()})
                pending = pending[length:]
        json.dump(answers, sys.stdout)
        """;

    private static readonly Lazy<string> Binary = new(() =>
        new[] { "/usr/bin/python3", "/bin/python3", "/usr/local/bin/python3" }.FirstOrDefault(File.Exists)
        ?? throw new InvalidOperationException("python3 is not installed: these tests pass descriptors with python3's socket.send_fds (Debian package: python3)"));

    /// <summary>One request on its own connection, passing <paramref name="request"/>'s files.</summary>
    public static async Task<FdResponse> SendAsync(string socket, FdRequest request) =>
        (await SendAsync(socket, [request]))[0];

    /// <summary>The requests in order on one connection; each passes its own files.</summary>
    public static async Task<IReadOnlyList<FdResponse>> SendAsync(string socket, IReadOnlyList<FdRequest> requests)
    {
        var spec = new JsonObject
        {
            ["socket"] = socket,
            ["requests"] = new JsonArray([.. requests.Select(r => (JsonNode)new JsonObject
            {
                ["method"] = r.Method,
                ["target"] = r.Target,
                ["body"] = r.Body,
                ["files"] = new JsonArray([.. r.Files.Select(f => (JsonNode)JsonValue.Create(f))]),
            })]),
        };

        var start = new ProcessStartInfo(Binary.Value)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            StandardOutputEncoding = Encoding.UTF8,
        };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add(Script);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.StandardInput.WriteAsync(spec.ToJsonString());
        process.StandardInput.Close();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the python fd client did not finish within 60 s: {await stderr}");
        }

        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"the python fd client exited {process.ExitCode}: {await stderr}");
        }

        using var answers = JsonDocument.Parse(await stdout);
        return [.. answers.RootElement.EnumerateArray().Select(a => new FdResponse(
            a.GetProperty("status").GetInt32(), a.GetProperty("head").GetString()!, a.GetProperty("body").GetString()!))];
    }
}
