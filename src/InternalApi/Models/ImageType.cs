using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>ImageType</c> of a disk; default Unknown (probe the image). FlatVmdk is accepted though the OpenAPI lacks it (contract §9 item 8).</summary>
[JsonConverter(typeof(RustEnumConverter<ImageType>))]
public enum ImageType
{
    FlatVmdk,
    FixedVhd,
    Qcow2,
    Raw,
    Vhdx,
    Unknown,
}
