using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>SendMigrationData</c> (Rust <c>VmSendMigrationData</c>): the body of vm.send-migration. downtime_ms, timeout_s and connections are NonZero upstream, so 0 is a 400 (contract §9 item 11); preserve_source is not in the OpenAPI.</summary>
public sealed class SendMigrationData
{
    public required string DestinationUrl { get; set; }

    public bool Local { get; set; }

    [JsonConverter(typeof(NonZeroUInt64Converter))]
    public ulong DowntimeMs { get; set; } = 300;

    [JsonConverter(typeof(NonZeroUInt64Converter))]
    public ulong TimeoutS { get; set; } = 3600;

    public TimeoutStrategy TimeoutStrategy { get; set; } = TimeoutStrategy.Cancel;

    /// <summary>Parallel TCP connections, 1 to 128.</summary>
    [JsonConverter(typeof(NonZeroUInt32Converter))]
    public uint Connections { get; set; } = 1;

    /// <summary>TLS client material (ca-cert.pem, client-cert.pem, client-key.pem); tcp: URLs only.</summary>
    public string? TlsDir { get; set; }

    public MigrationMode MemoryMode { get; set; } = MigrationMode.Precopy;

    public bool PreserveSource { get; set; }
}
