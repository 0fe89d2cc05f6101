using CloudHypervisor.InternalApi;

namespace CloudHypervisor.Frontends.DBus;

/// <summary>One method of <c>org.cloudhypervisor.DBusApi1</c>, derived from a catalog action.</summary>
/// <param name="Action">The catalog entry the method calls.</param>
/// <param name="InArgument">The name of the one string in-argument (the JSON body), or null when the action takes none.</param>
/// <param name="HasOutArgument">True when the method answers one string (the JSON reply, <c>""</c> for none).</param>
public sealed record DBusMethod(ApiAction Action, string? InArgument, bool HasOutArgument)
{
    public string Name => Action.DBusMethod;
    public string InSignature => InArgument is null ? string.Empty : "s";
    public string OutSignature => HasOutArgument ? "s" : string.Empty;
}

/// <summary>
/// The D-Bus interface, built from <see cref="ApiCatalog"/> (DESIGN.md rule 1) rather than written
/// per action: every REST action is a method, JSON strings in and out (contract §4.2).
/// </summary>
public static class DBusInterface
{
    public const string Name = "org.cloudhypervisor.DBusApi1";

    /// <summary>The signal that carries every event record (contract §4.4).</summary>
    public const string EventSignal = "Event";

    public const string EventArgument = "event";

    /// <summary>The methods, in catalog order.</summary>
    public static IReadOnlyList<DBusMethod> Methods { get; } =
        [.. ApiCatalog.All.Select(a => new DBusMethod(a, a.DBusArgument, a.Reply is ApiReplyKind.Json or ApiReplyKind.OptionalJson))];

    /// <summary>The methods by name.</summary>
    internal static IReadOnlyDictionary<string, DBusMethod> ByName { get; } = Methods.ToDictionary(m => m.Name, StringComparer.Ordinal);
}
