using System.Text.Json.Serialization;
using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Json;

/// <summary>
/// Source-generated serializers for every model (AOT-clean). The options here are the whole
/// JSON policy; see <see cref="ApiJson"/>.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    AllowDuplicateProperties = false,
    WriteIndented = false)]
[JsonSerializable(typeof(VmConfig))]
[JsonSerializable(typeof(VmResize))]
[JsonSerializable(typeof(VmResizeDisk))]
[JsonSerializable(typeof(VmResizeZone))]
[JsonSerializable(typeof(DeviceConfig))]
[JsonSerializable(typeof(UserDeviceConfig))]
[JsonSerializable(typeof(DiskConfig))]
[JsonSerializable(typeof(FsConfig))]
[JsonSerializable(typeof(GenericVhostUserConfig))]
[JsonSerializable(typeof(PmemConfig))]
[JsonSerializable(typeof(NetConfig))]
[JsonSerializable(typeof(VdpaConfig))]
[JsonSerializable(typeof(VsockConfig))]
[JsonSerializable(typeof(VmRemoveDevice))]
[JsonSerializable(typeof(VmSnapshotConfig))]
[JsonSerializable(typeof(VmCoredumpData))]
[JsonSerializable(typeof(RestoreConfig))]
[JsonSerializable(typeof(ReceiveMigrationData))]
[JsonSerializable(typeof(SendMigrationData))]
[JsonSerializable(typeof(VmmPingResponse))]
[JsonSerializable(typeof(VmInfo))]
[JsonSerializable(typeof(PciDeviceInfo))]
[JsonSerializable(typeof(Dictionary<string, Dictionary<string, ulong>>))]
[JsonSerializable(typeof(VmState))]
[JsonSerializable(typeof(DeviceNode))]
[JsonSerializable(typeof(Dictionary<string, DeviceNode>))]
[JsonSerializable(typeof(string[]))]
public sealed partial class ApiJsonContext : JsonSerializerContext;
