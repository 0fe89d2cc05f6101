using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.Rest;

/// <summary>What a request line asks for; see <see cref="RestRoutes.Match"/>.</summary>
internal enum RouteKind
{
    Action,
    Events,
    MethodNotAllowed,
    NotFound,
    BadQuery,
}

/// <summary>The outcome of routing one request: comparable, so routing tests are equality checks.</summary>
internal readonly record struct RouteMatch(RouteKind Kind, ApiAction? Action = null, long? Since = null, string? Allow = null, bool Follow = true);

/// <summary>
/// Routing, derived from <see cref="ApiCatalog"/> with no per-action code. Upstream matches the
/// raw request target exactly (contract §1.1): origin-form or absolute-form, case-sensitive, no
/// trailing slash, no normalization of <c>..</c> or percent-escapes, and a query string is part
/// of the path (so it is a 404 on an action route). We therefore route on Kestrel's raw target,
/// not its normalized path.
/// </summary>
internal static class RestRoutes
{
    public const string Prefix = "/api/v1/";
    public const string EventsPath = "/api/v1/events";

    private static readonly Dictionary<string, ApiAction> ByPath =
        ApiCatalog.All.ToDictionary(a => a.Path, StringComparer.Ordinal);

    private static readonly Dictionary<string, ApiAction>.AlternateLookup<ReadOnlySpan<char>> ByPathSpan =
        ByPath.GetAlternateLookup<ReadOnlySpan<char>>();

    public static RouteMatch Match(string method, string rawTarget)
    {
        var path = PathOf(rawTarget);
        if (ByPathSpan.TryGetValue(path, out var action))
        {
            var verb = action.Verb == ApiVerb.Get ? "GET" : "PUT";
            return string.Equals(method, verb, StringComparison.Ordinal)
                ? new RouteMatch(RouteKind.Action, action)
                : new RouteMatch(RouteKind.MethodNotAllowed, action, Allow: verb);
        }

        if (path.StartsWith(EventsPath, StringComparison.Ordinal))
        {
            var rest = path[EventsPath.Length..];
            if (rest.IsEmpty || rest[0] == '?')
            {
                if (!string.Equals(method, "GET", StringComparison.Ordinal))
                {
                    return new RouteMatch(RouteKind.MethodNotAllowed, Allow: "GET");
                }

                return ParseEventsQuery(rest, out var since, out var follow)
                    ? new RouteMatch(RouteKind.Events, Since: since, Follow: follow)
                    : new RouteMatch(RouteKind.BadQuery);
            }
        }

        return new RouteMatch(RouteKind.NotFound);
    }

    /// <summary>The path (with any query) of an origin-form or absolute-form target.</summary>
    internal static ReadOnlySpan<char> PathOf(string rawTarget)
    {
        var target = rawTarget.AsSpan();
        if (target.IsEmpty || target[0] == '/')
        {
            return target;
        }

        // Absolute-form (RFC 9112 §3.2.2): scheme "://" authority, then the path.
        var scheme = target.IndexOf("://", StringComparison.Ordinal);
        if (scheme <= 0)
        {
            return target;
        }

        var afterAuthority = target[(scheme + 3)..];
        var slash = afterAuthority.IndexOfAny('/', '?');
        return slash < 0 ? "/" : afterAuthority[slash..];
    }

    /// <summary>
    /// Accepts "", or "?" followed by <c>since=N</c> (N a non-negative decimal integer) and/or
    /// <c>follow=true|false</c> joined by "&amp;", each at most once; nothing else.
    /// <c>follow=false</c> ends the stream after the buffered events instead of waiting for new ones.
    /// </summary>
    private static bool ParseEventsQuery(ReadOnlySpan<char> query, out long? since, out bool follow)
    {
        since = null;
        follow = true;
        if (query.IsEmpty)
        {
            return true;
        }

        bool seenSince = false, seenFollow = false;
        foreach (var range in query[1..].Split('&'))
        {
            var pair = query[1..][range];
            if (pair.StartsWith("since=", StringComparison.Ordinal) && !seenSince)
            {
                var digits = pair["since=".Length..];
                if (digits.IsEmpty || digits.ContainsAnyExceptInRange('0', '9')
                    || !long.TryParse(digits, System.Globalization.NumberStyles.None, null, out var value))
                {
                    return false;
                }

                since = value;
                seenSince = true;
            }
            else if (pair.StartsWith("follow=", StringComparison.Ordinal) && !seenFollow
                && bool.TryParse(pair["follow=".Length..], out var f))
            {
                follow = f;
                seenFollow = true;
            }
            else
            {
                return false;
            }
        }

        return true;
    }
}
