using System.Collections.Concurrent;

namespace CloudHypervisor.Frontends.Rest.Transport;

/// <summary>
/// Why Kestrel rejected a connection's request, by connection id: Kestrel logs the reason
/// (its <c>BadHttpRequestException</c>, through <see cref="KestrelLog"/>) before it writes its
/// own empty-bodied answer, and <see cref="KestrelAnswers"/> puts that reason into the JSON body.
/// </summary>
internal sealed class RejectionNotes
{
    private readonly ConcurrentDictionary<string, string> _reasons = new(StringComparer.Ordinal);

    public void Note(string connectionId, string reason) => _reasons[connectionId] = reason;

    /// <summary>The reason noted for the connection, removed; null when none was noted.</summary>
    public string? Take(string connectionId) => _reasons.TryRemove(connectionId, out var reason) ? reason : null;
}
