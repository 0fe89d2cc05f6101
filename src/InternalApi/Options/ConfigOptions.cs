using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Options;

/// <summary>
/// One parser per VM option string (contract §6.2), each producing an InternalApi model. Shared
/// by the <c>cloud-hypervisor</c> CLI (through <see cref="VmConfigBuilder"/>, which adds
/// "Error parsing --&lt;flag&gt;") and <c>ch-remote</c> (through <see cref="RemoteOptions"/>, which
/// adds its own top message). A failure's chain starts with upstream's per-config message, e.g.
/// <c>["Failed to parse disk configuration", "Unknown option: x"]</c>. Defaults are upstream's.
/// </summary>
public static partial class ConfigOptions
{
    /// <summary>The keys every PCI device takes (upstream <c>PciDeviceCommonConfig::OPTIONS_IOMMU</c>).</summary>
    internal static readonly string[] PciKeys = ["id", "iommu", "pci_segment", "pci_device_id"];

    /// <summary>The PCI keys of devices that cannot sit behind the IOMMU (fs, user devices, generic vhost-user).</summary>
    internal static readonly string[] PciKeysWithoutIommu = ["id", "pci_segment", "pci_device_id"];

    /// <summary>Token-bucket keys of disks, nets and rate-limit groups.</summary>
    internal static readonly string[] RateLimiterKeys =
        ["bw_size", "bw_one_time_burst", "bw_refill_time", "ops_size", "ops_one_time_burst", "ops_refill_time"];

    /// <summary>Upstream's middle message for a bad common PCI field.</summary>
    public const string PciDeviceFailed = "Failed to parse PCI device configuration";

    /// <summary>
    /// Reads the common PCI fields of <paramref name="input"/> into <paramref name="device"/>, as
    /// upstream's second, lenient pass does (unknown keys were already refused by the first pass).
    /// </summary>
    internal static OptionError? ApplyPciCommon(string input, IPciDeviceConfig device)
    {
        var parser = new OptionParser(PciKeys);
        if (parser.ParseSubset(input) is { } syntax)
        {
            return syntax.Within(PciDeviceFailed);
        }

        device.Id = parser.Get("id");
        device.Iommu = parser.Toggle("iommu", false);
        device.PciSegment = parser.Number<ushort>("pci_segment") ?? 0;
        device.PciDeviceId = parser.Number<byte>("pci_device_id");
        return parser.Error?.Within(PciDeviceFailed);
    }

    /// <summary>
    /// Upstream's token buckets from the <c>bw_*</c>/<c>ops_*</c> keys: a bucket exists only when its
    /// size and refill time are both non-zero, and then its one-time burst is always written.
    /// </summary>
    internal static RateLimiterConfig? RateLimiter(OptionParser parser)
    {
        var bandwidth = Bucket(parser, "bw");
        var ops = Bucket(parser, "ops");
        return bandwidth is null && ops is null ? null : new RateLimiterConfig { Bandwidth = bandwidth, Ops = ops };
    }

    private static TokenBucket? Bucket(OptionParser parser, string prefix)
    {
        var size = parser.Number<ulong>($"{prefix}_size") ?? 0;
        var burst = parser.Number<ulong>($"{prefix}_one_time_burst") ?? 0;
        var refill = parser.Number<ulong>($"{prefix}_refill_time") ?? 0;
        return size != 0 && refill != 0 ? new TokenBucket { Size = size, OneTimeBurst = burst, RefillTime = refill } : null;
    }

    /// <summary>Upstream's <c>MacAddr::parse_str</c>: six two-digit hex octets separated by colons; written in lower case.</summary>
    public static bool TryParseMac(string text, out string mac)
    {
        ArgumentNullException.ThrowIfNull(text);
        mac = string.Empty;
        var octets = text.Split(':');
        if (octets.Length != 6)
        {
            return false;
        }

        foreach (var octet in octets)
        {
            if (octet.Length != 2 || !byte.TryParse(octet, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out _))
            {
                return false;
            }
        }

        mac = text.ToLowerInvariant();
        return true;
    }

    /// <summary>
    /// Upstream's default MAC for a net device without <c>mac=</c>: random, locally administered,
    /// unicast (<c>MacAddr::local_random</c>).
    /// </summary>
    public static string RandomLocalMac()
    {
        Span<byte> bytes = stackalloc byte[6];
        RandomNumberGenerator.Fill(bytes);
        bytes[0] = (byte)((bytes[0] & 0xfe) | 0x02);
        return string.Join(':', bytes.ToArray().Select(b => b.ToString("x2", CultureInfo.InvariantCulture)));
    }

    /// <summary>
    /// An IPv4 or IPv6 address as Rust's <c>IpAddr</c> parser accepts it (strict dotted quad, no
    /// leading zeros), in its canonical text form.
    /// </summary>
    public static bool TryParseIp(string text, out string ip)
    {
        ArgumentNullException.ThrowIfNull(text);
        ip = string.Empty;
        if (text.Contains(':', StringComparison.Ordinal))
        {
            if (!IPAddress.TryParse(text, out var v6) || v6.AddressFamily != AddressFamily.InterNetworkV6 || text.Contains('%', StringComparison.Ordinal))
            {
                return false;
            }

            ip = v6.ToString();
            return true;
        }

        var parts = text.Split('.');
        if (parts.Length != 4)
        {
            return false;
        }

        foreach (var part in parts)
        {
            if (part.Length is 0 or > 3 || (part.Length > 1 && part[0] == '0') || !part.All(char.IsAsciiDigit) || int.Parse(part, CultureInfo.InvariantCulture) > 255)
            {
                return false;
            }
        }

        ip = text;
        return true;
    }

    private static OptionResult<T> Done<T>(OptionParser parser, string message, T value) =>
        parser.Error is { } error ? error.Within(message) : value;
}
