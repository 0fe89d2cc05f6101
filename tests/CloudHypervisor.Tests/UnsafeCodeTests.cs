using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;

namespace CloudHypervisor.Tests;

/// <summary>
/// STYLE.md: every <c>unsafe</c> site says in a <c>// SAFETY:</c> comment why it is sound. A site
/// is an unsafe method, property or block, an unsafe class (its pointer code is not marked
/// member by member, so the class says it), a <c>fixed</c> statement and a pointer
/// <c>stackalloc</c>. Declarations that only carry pointer types (LibraryImport signatures,
/// structs with fixed buffers) run no code of ours and need none.
/// </summary>
public sealed partial class UnsafeCodeTests
{
    private const int Before = 4;
    private const int After = 12;

    [Fact]
    public void Every_unsafe_site_in_src_says_why_it_is_sound()
    {
        var missing = new List<string>();
        var src = Path.Combine(RepoRoot(), "src");
        foreach (var file in Directory.EnumerateFiles(src, "*.cs", SearchOption.AllDirectories))
        {
            if (file.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}", StringComparison.Ordinal))
            {
                continue;
            }

            var lines = File.ReadAllLines(file);
            var insideSafeType = false;
            for (var i = 0; i < lines.Length; i++)
            {
                if (IsUnsafeType(lines[i]))
                {
                    // The type's own comment covers the pointer code in its members.
                    insideSafeType = HeaderSaysSafety(lines, i) || HasSafetyComment(lines, i);
                    if (!insideSafeType)
                    {
                        missing.Add($"{Path.GetRelativePath(src, file)}:{i + 1}: {lines[i].Trim()}");
                    }

                    continue;
                }

                if (!insideSafeType && IsSite(lines, i) && !HasSafetyComment(lines, i))
                {
                    missing.Add($"{Path.GetRelativePath(src, file)}:{i + 1}: {lines[i].Trim()}");
                }
            }
        }

        Assert.True(missing.Count == 0, $"unsafe code without a // SAFETY: comment:\n{string.Join('\n', missing)}");
    }

    [Fact]
    public void The_scan_finds_an_unsafe_block_without_a_comment()
    {
        string[] lines = ["void F()", "{", "    unsafe", "    {", "        *p = 1;", "    }", "}"];
        Assert.True(IsSite(lines, 2));
        Assert.False(HasSafetyComment(lines, 2));
        Assert.True(IsSite(["fixed (byte* p = data)"], 0));
        Assert.False(IsSite(["Span<byte> b = stackalloc byte[4];"], 0));
        Assert.False(IsSite(["[LibraryImport(\"libc\")]", "public static unsafe partial int poll(pollfd* fds, nuint n, int t);"], 1));
        Assert.False(IsSite(["internal unsafe struct kvm_fpu"], 0));
        string[] type = ["// SAFETY: buffers on the stack only.", "/// <summary>A type.</summary>", "[SkipLocalsInit]", "internal sealed unsafe class T"];
        Assert.True(IsUnsafeType(type[3]));
        Assert.True(HeaderSaysSafety(type, 3));
        Assert.False(HeaderSaysSafety(["int x;", "/// <summary>A type.</summary>", "internal static unsafe class T"], 2));
    }

    private static bool IsUnsafeType(string line)
    {
        var code = Code(line);
        return UnsafeKeyword().IsMatch(code) && TypeDeclaration().IsMatch(code);
    }

    /// <summary>A SAFETY comment in the comment and attribute block right above a declaration.</summary>
    private static bool HeaderSaysSafety(string[] lines, int index)
    {
        for (var i = index - 1; i >= 0; i--)
        {
            var line = lines[i].Trim();
            if (line.Contains("// SAFETY:", StringComparison.Ordinal))
            {
                return true;
            }

            if (!(line.StartsWith("//", StringComparison.Ordinal) || line.StartsWith('[')))
            {
                return false;
            }
        }

        return false;
    }

    private static bool IsSite(string[] lines, int index)
    {
        var code = Code(lines[index]);
        if (FixedStatement().IsMatch(code) || (code.Contains("stackalloc", StringComparison.Ordinal) && !SpanStackalloc().IsMatch(code)))
        {
            return true;
        }

        if (!UnsafeKeyword().IsMatch(code) || StructDeclaration().IsMatch(code))
        {
            return false;
        }

        var declaresOnly = code.TrimEnd().EndsWith(';') && code.Contains("partial", StringComparison.Ordinal);
        return !declaresOnly;
    }

    private static bool HasSafetyComment(string[] lines, int index)
    {
        for (var i = Math.Max(0, index - Before); i < Math.Min(lines.Length, index + After); i++)
        {
            if (lines[i].Contains("// SAFETY:", StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }

    private static string Code(string line)
    {
        var comment = line.IndexOf("//", StringComparison.Ordinal);
        return comment < 0 ? line : line[..comment];
    }

    private static string RepoRoot([CallerFilePath] string thisFile = "") =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(thisFile)!, "..", ".."));

    [GeneratedRegex(@"\bfixed\s*\(")]
    private static partial Regex FixedStatement();

    [GeneratedRegex(@"Span<[^>]+>\s+\w+\s*=\s*stackalloc")]
    private static partial Regex SpanStackalloc();

    [GeneratedRegex(@"\bunsafe\b")]
    private static partial Regex UnsafeKeyword();

    [GeneratedRegex(@"\bstruct\b")]
    private static partial Regex StructDeclaration();

    [GeneratedRegex(@"\b(class|record)\b")]
    private static partial Regex TypeDeclaration();
}
