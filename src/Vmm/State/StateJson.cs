using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using CloudHypervisor.InternalApi.Json;

namespace CloudHypervisor.Vmm.State;

/// <summary>
/// Source-generated serializers for state.json and every component's state record (AOT-clean).
/// Unknown fields are refused, so a snapshot of another layout fails naming the field instead of
/// restoring half of it. A component adds its record type here.
/// </summary>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
    RespectNullableAnnotations = true,
    RespectRequiredConstructorParameters = true,
    AllowDuplicateProperties = false,
    WriteIndented = false)]
[JsonSerializable(typeof(Snapshot))]
[JsonSerializable(typeof(MemoryManagerSnapshotData))]
[JsonSerializable(typeof(DeviceManagerState))]
[JsonSerializable(typeof(Devices.SerialState))]
[JsonSerializable(typeof(Devices.CmosState))]
[JsonSerializable(typeof(Devices.GedState))]
[JsonSerializable(typeof(Virtio.VirtioPciState))]
[JsonSerializable(typeof(Virtio.VirtioBlockState))]
[JsonSerializable(typeof(Pci.PciHotplugState))]
[JsonSerializable(typeof(Virtio.VirtioConsoleState))]
[JsonSerializable(typeof(Virtio.VirtioNetState))]
[JsonSerializable(typeof(Virtio.VirtioVsockState))]
[JsonSerializable(typeof(Virtio.VirtioPmemState))]
[JsonSerializable(typeof(Virtio.VirtioBalloonState))]
[JsonSerializable(typeof(Kvm.VcpuState))]
[JsonSerializable(typeof(Kvm.VmSnapshotState))]
[JsonSerializable(typeof(Kvm.IrqChipState))]
public sealed partial class StateJsonContext : JsonSerializerContext;

/// <summary>Helpers for state records: JSON both ways with the field named on failure, kernel structs as bytes.</summary>
public static class StateJson
{
    // Only what JSON requires is escaped: upstream's state strings read as "{\"Kvm\":..}", not "\u0022".
    private static readonly StateJsonContext Relaxed = new(new JsonSerializerOptions
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    });

    /// <summary>Compact JSON of a state record (only what JSON requires escaped).</summary>
    public static string Write<T>(T value, JsonTypeInfo<T> type)
    {
        ArgumentNullException.ThrowIfNull(type);
        return JsonSerializer.Serialize(value, (JsonTypeInfo<T>)Relaxed.GetTypeInfo(typeof(T))!);
    }

    /// <summary>Parses a record; a malformed one throws <see cref="StateFormatException"/> naming the field.</summary>
    public static T Read<T>(string json, JsonTypeInfo<T> type)
        where T : class
    {
        try
        {
            return JsonSerializer.Deserialize(json, type) ?? throw new StateFormatException("", "is null");
        }
        catch (JsonException e)
        {
            throw new StateFormatException(FieldOf(e.Path), ApiJson.Describe(e));
        }
    }

    private static string FieldOf(string? path) =>
        path is null or "$" ? "" : path.TrimStart('$', '.').Replace('.', '/');

    /// <summary>The bytes of a kernel struct, stored base64 in the record.</summary>
    public static byte[] Bytes<T>(in T value)
        where T : unmanaged =>
        MemoryMarshal.AsBytes(new ReadOnlySpan<T>(in value)).ToArray();

    /// <summary>A kernel struct from its saved bytes; a wrong length throws naming <paramref name="field"/>.</summary>
    public static T Struct<T>(byte[]? bytes, string field)
        where T : unmanaged
    {
        var size = Unsafe.SizeOf<T>();
        if (bytes is null || bytes.Length != size)
        {
            throw new StateFormatException(field, $"is {bytes?.Length ?? 0} bytes, expected {size}");
        }

        return MemoryMarshal.Read<T>(bytes);
    }

    /// <summary>An array of kernel structs from its saved bytes.</summary>
    public static T[] Structs<T>(byte[]? bytes, string field)
        where T : unmanaged
    {
        var size = Unsafe.SizeOf<T>();
        if (bytes is null || bytes.Length % size != 0)
        {
            throw new StateFormatException(field, $"is {bytes?.Length ?? 0} bytes, not a whole number of {size}-byte entries");
        }

        return MemoryMarshal.Cast<byte, T>(bytes).ToArray();
    }

    public static byte[] Bytes<T>(ReadOnlySpan<T> values)
        where T : unmanaged =>
        MemoryMarshal.AsBytes(values).ToArray();
}
