using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>LockGranularity</c> of a disk image lock; default ByteRange.</summary>
[JsonConverter(typeof(RustEnumConverter<LockGranularity>))]
public enum LockGranularity
{
    ByteRange,
    Full,
}
