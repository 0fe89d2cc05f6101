using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using CloudHypervisor.Vmm.Platform;
using Xunit;

namespace CloudHypervisor.Vmm.Tests.Guests;

/// <summary>guests/platform.inc hard-codes the platform for the assembler; it must say exactly what PlatformLayout says.</summary>
public sealed partial class PlatformIncludeTests
{
    [GeneratedRegex(@"^\s*\.equ\s+(\w+)\s*,\s*(\S+)\s*$")]
    private static partial Regex EquLine();

    private static Dictionary<string, ulong> Include()
    {
        var values = new Dictionary<string, ulong>();
        foreach (var line in File.ReadAllLines(Path.Combine(RepoPaths.Guests, "platform.inc")))
        {
            var m = EquLine().Match(line);
            if (m.Success)
            {
                var text = m.Groups[2].Value;
                var value = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase)
                    ? ulong.Parse(text[2..], NumberStyles.HexNumber, CultureInfo.InvariantCulture)
                    : ulong.Parse(text, CultureInfo.InvariantCulture);
                values.Add(m.Groups[1].Value, value);
            }
        }

        return values;
    }

    private static Dictionary<string, ulong> Layout() =>
        typeof(PlatformLayout).GetFields(BindingFlags.Public | BindingFlags.Static)
            .Where(f => f.IsLiteral)
            .ToDictionary(f => f.Name, f => Convert.ToUInt64(f.GetRawConstantValue(), CultureInfo.InvariantCulture));

    [Fact]
    public void Platform_inc_defines_every_PlatformLayout_constant_and_nothing_else()
    {
        Assert.Equal(Layout().Keys.Order(), Include().Keys.Order());
    }

    [Fact]
    public void Platform_inc_values_equal_PlatformLayout_values()
    {
        var include = Include();
        foreach (var (name, value) in Layout())
        {
            Assert.True(include.TryGetValue(name, out var mirrored), $"{name} missing from guests/platform.inc");
            Assert.True(value == mirrored, $"{name}: PlatformLayout 0x{value:X}, guests/platform.inc 0x{mirrored:X}");
        }
    }

    [Fact]
    public void The_guest_linker_script_loads_at_KernelStart()
    {
        var script = File.ReadAllText(Path.Combine(RepoPaths.Guests, "guest.ld"));

        Assert.Contains($". = 0x{PlatformLayout.KernelStart:x};", script);
    }
}
