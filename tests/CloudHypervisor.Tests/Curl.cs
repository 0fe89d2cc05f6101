using CloudHypervisor.TestSupport;

namespace CloudHypervisor.Tests;

/// <summary>The real curl (<see cref="TestSupport.Curl"/>) on the API socket, one action at a time.</summary>
internal static class Curl
{
    /// <summary>One action: <c>curl -X METHOD [--data BODY] http://localhost/api/v1/ACTION</c>.</summary>
    public static Task<CurlResponse> SendAsync(string socket, string method, string action, string? body = null) =>
        TestSupport.Curl.RunAsync(socket,
        [
            "-X", method,
            .. body is null ? Array.Empty<string>() : ["-H", "Content-Type: application/json", "--data", body],
            $"http://localhost/api/v1/{action}",
        ]);

    /// <summary>Waits until the API answers vmm.ping, or fails after <paramref name="timeout"/>.</summary>
    public static async Task WaitForApiAsync(string socket, Executable process, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            if (File.Exists(socket))
            {
                try
                {
                    if ((await SendAsync(socket, "GET", "vmm.ping")).Status == 200)
                    {
                        return;
                    }
                }
                catch (InvalidOperationException)
                {
                }
            }

            await Task.Delay(50);
        }

        throw new TimeoutException($"API socket {socket} did not answer within {timeout}; stderr: {process.Stderr}");
    }
}
