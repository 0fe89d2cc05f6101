namespace CloudHypervisor.Frontends.Rest.Tests.Support;

/// <summary>A YAML node of the subset our OpenAPI document uses: maps, sequences and scalars.</summary>
public abstract record YamlNode;

public sealed record YamlScalar(string Value) : YamlNode;

public sealed record YamlSequence(IReadOnlyList<YamlNode> Items) : YamlNode;

public sealed record YamlMap(IReadOnlyList<KeyValuePair<string, YamlNode>> Entries) : YamlNode
{
    public YamlNode? this[string key] => Entries.FirstOrDefault(e => e.Key == key).Value;

    public YamlMap Map(string key) => this[key] as YamlMap ?? throw new FormatException($"'{key}' is not a map");

    public string? Scalar(string key) => (this[key] as YamlScalar)?.Value;

    public IEnumerable<string> Keys => Entries.Select(e => e.Key);
}

/// <summary>
/// Reads the YAML subset of openapi/cloud-hypervisor.yaml: block maps and block sequences by
/// indentation (spaces only), plain and quoted scalars, flow sequences of scalars ([a, b]),
/// literal block scalars (|) and full-line comments. Anything else is a FormatException, so the
/// document cannot drift into YAML this reader would misread. Duplicate keys are rejected.
/// </summary>
public static class YamlSubset
{
    public static YamlMap Parse(string text)
    {
        var lines = text.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n')
            .Select((line, i) => (Line: line, Number: i + 1))
            .Where(l => l.Line.Trim().Length > 0 && !l.Line.TrimStart().StartsWith('#'))
            .ToList();
        foreach (var (line, number) in lines)
        {
            if (line.Contains('\t', StringComparison.Ordinal))
            {
                throw new FormatException($"line {number}: tab");
            }
        }

        var position = 0;
        var root = ParseBlock(lines, ref position, 0);
        if (position != lines.Count)
        {
            throw new FormatException($"line {lines[position].Number}: unexpected indentation");
        }

        return root as YamlMap ?? throw new FormatException("the document is not a map");
    }

    private static int Indent(string line) => line.Length - line.TrimStart(' ').Length;

    private static YamlNode ParseBlock(List<(string Line, int Number)> lines, ref int position, int indent)
    {
        return lines[position].Line.TrimStart().StartsWith("- ", StringComparison.Ordinal)
            ? ParseSequence(lines, ref position, indent)
            : ParseMap(lines, ref position, indent);
    }

    private static YamlMap ParseMap(List<(string Line, int Number)> lines, ref int position, int indent)
    {
        var entries = new List<KeyValuePair<string, YamlNode>>();
        while (position < lines.Count && Indent(lines[position].Line) == indent)
        {
            var (line, number) = lines[position];
            var content = line.Trim();
            if (content.StartsWith("- ", StringComparison.Ordinal))
            {
                break;
            }

            var (key, rest) = SplitKey(content, number);
            if (entries.Any(e => e.Key == key))
            {
                throw new FormatException($"line {number}: duplicate key '{key}'");
            }

            position++;
            entries.Add(new(key, ParseValue(lines, ref position, indent, rest, number)));
        }

        return new YamlMap(entries);
    }

    private static YamlSequence ParseSequence(List<(string Line, int Number)> lines, ref int position, int indent)
    {
        var items = new List<YamlNode>();
        while (position < lines.Count && Indent(lines[position].Line) == indent
               && lines[position].Line.TrimStart().StartsWith("- ", StringComparison.Ordinal))
        {
            var (line, number) = lines[position];
            var item = line.TrimStart()[2..];
            if (item.Contains(": ", StringComparison.Ordinal) || item.EndsWith(':'))
            {
                // "- key: value" starts a map whose keys sit at indent + 2.
                lines[position] = (new string(' ', indent + 2) + item, number);
                items.Add(ParseMap(lines, ref position, indent + 2));
            }
            else
            {
                position++;
                items.Add(Scalar(item, number));
            }
        }

        return new YamlSequence(items);
    }

    private static YamlNode ParseValue(List<(string Line, int Number)> lines, ref int position, int indent, string rest, int number)
    {
        if (rest == "|")
        {
            var text = new List<string>();
            while (position < lines.Count && Indent(lines[position].Line) > indent)
            {
                text.Add(lines[position].Line.Trim());
                position++;
            }

            return new YamlScalar(string.Join("\n", text));
        }

        if (rest.Length > 0)
        {
            return Scalar(rest, number);
        }

        if (position >= lines.Count || Indent(lines[position].Line) <= indent)
        {
            throw new FormatException($"line {number}: empty value");
        }

        return ParseBlock(lines, ref position, Indent(lines[position].Line));
    }

    private static (string Key, string Value) SplitKey(string content, int number)
    {
        string key;
        int after;
        if (content[0] is '\'' or '"')
        {
            var close = content.IndexOf(content[0], 1);
            key = content[1..close];
            after = close + 1;
        }
        else
        {
            after = content.IndexOf(':', StringComparison.Ordinal);
            if (after < 0)
            {
                throw new FormatException($"line {number}: expected 'key:'");
            }

            key = content[..after];
        }

        if (after >= content.Length || content[after] != ':' || (after + 1 < content.Length && content[after + 1] != ' '))
        {
            throw new FormatException($"line {number}: expected ':' after '{key}'");
        }

        return (key, content[(after + 1)..].Trim());
    }

    private static YamlNode Scalar(string text, int number)
    {
        if (text.StartsWith('['))
        {
            if (!text.EndsWith(']'))
            {
                throw new FormatException($"line {number}: unterminated flow sequence");
            }

            var inner = text[1..^1].Trim();
            return new YamlSequence(inner.Length == 0
                ? []
                : [.. inner.Split(',').Select(s => (YamlNode)Scalar(s.Trim(), number))]);
        }

        if (text.Length >= 2 && text[0] is '\'' or '"' && text[^1] == text[0])
        {
            return new YamlScalar(text[1..^1]);
        }

        if (text.StartsWith('{') || text.StartsWith('&') || text.StartsWith('*') || text.StartsWith('>'))
        {
            throw new FormatException($"line {number}: YAML outside the subset: {text}");
        }

        return new YamlScalar(text);
    }
}
