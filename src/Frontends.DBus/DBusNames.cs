namespace CloudHypervisor.Frontends.DBus;

/// <summary>
/// The D-Bus specification's rules for object paths and well-known bus names ("Valid Object
/// Paths", "Bus names"), checked before connecting so a typo is named as such instead of
/// coming back as an error from the bus daemon.
/// </summary>
internal static class DBusNames
{
    /// <summary>
    /// <c>/</c>, or <c>/</c>-separated elements of <c>[A-Za-z0-9_]</c>, none empty, no trailing slash.
    /// </summary>
    public static bool IsValidObjectPath(string path)
    {
        if (path == "/")
        {
            return true;
        }

        if (path.Length < 2 || path[0] != '/' || path[^1] == '/')
        {
            return false;
        }

        var previous = '/';
        foreach (var c in path.AsSpan(1))
        {
            if (c == '/' ? previous == '/' : !IsElementChar(c))
            {
                return false;
            }

            previous = c;
        }

        return true;
    }

    /// <summary>
    /// A well-known name: at most 255 characters, two or more <c>.</c>-separated elements of
    /// <c>[A-Za-z0-9_-]</c>, none empty, none starting with a digit (unique names start with
    /// <c>:</c> and cannot be requested).
    /// </summary>
    public static bool IsValidWellKnownName(string name)
    {
        if (name.Length is 0 or > 255)
        {
            return false;
        }

        var elements = name.Split('.');
        return elements.Length >= 2 && elements.All(e =>
            e.Length > 0 && !char.IsAsciiDigit(e[0]) && e.All(c => IsElementChar(c) || c == '-'));
    }

    private static bool IsElementChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '_';
}
