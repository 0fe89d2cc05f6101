using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models.Converters;

namespace CloudHypervisor.InternalApi.Models;

/// <summary>Upstream schema <c>MigrationMode</c> (memory transfer of a migration); default Precopy.</summary>
[JsonConverter(typeof(RustEnumConverter<MigrationMode>))]
public enum MigrationMode
{
    Precopy,
    Postcopy,
}
