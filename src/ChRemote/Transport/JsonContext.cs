using System.Text.Json;
using System.Text.Json.Serialization;

namespace CloudHypervisor.ChRemote.Transport;

/// <summary>Source-generated JSON for re-serializing records compactly (AOT-safe).</summary>
[JsonSerializable(typeof(JsonElement))]
internal sealed partial class JsonContext : JsonSerializerContext;
