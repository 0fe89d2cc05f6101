namespace CloudHypervisor;

/// <summary>
/// A startup or run failure that ends the process with exit code 1, printed in upstream's format
/// (contract §6.3): one message under "the following error:", or a numbered chain under
/// "the following chain of errors:", outermost first.
/// </summary>
public sealed class FatalErrorException : Exception
{
    public FatalErrorException(params string[] chain)
        : base(chain.Length > 0 ? chain[0] : "Unknown error")
    {
        Chain = chain.Length > 0 ? chain : ["Unknown error"];
    }

    public FatalErrorException()
        : this("Unknown error")
    {
    }

    public FatalErrorException(string message, Exception innerException)
        : base(message, innerException)
    {
        Chain = [message, .. ChainOf(innerException)];
    }

    public IReadOnlyList<string> Chain { get; }

    /// <summary>Messages of an exception and its inner exceptions, outermost first.</summary>
    public static IReadOnlyList<string> ChainOf(Exception exception)
    {
        var chain = new List<string>();
        for (var e = exception; e is not null; e = e.InnerException)
        {
            chain.Add(e.Message);
        }

        return chain;
    }

    /// <summary>The text written to stderr.</summary>
    public static string Render(IReadOnlyList<string> chain)
    {
        ArgumentNullException.ThrowIfNull(chain);
        if (chain.Count == 1)
        {
            return $"Error: Cloud Hypervisor exited with the following error:\n  {chain[0]}\n";
        }

        var lines = chain.Select((message, i) => $"  {i}: {message}\n");
        return "Error: Cloud Hypervisor exited with the following chain of errors:\n" + string.Concat(lines);
    }
}
