using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema for <c>memory.hotplug_method</c>; default Acpi.</summary>
[JsonConverter(typeof(RustEnumConverter<HotplugMethod>))]
public enum HotplugMethod
{
    Acpi,
    VirtioMem,
}
