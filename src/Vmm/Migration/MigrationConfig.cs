using System.Text;
using System.Text.Json;
using CloudHypervisor.InternalApi;
using CloudHypervisor.InternalApi.Json;
using CloudHypervisor.InternalApi.Models;
using CloudHypervisor.Vmm.Hypervisor;
using CloudHypervisor.Vmm.State;

namespace CloudHypervisor.Vmm.Migration;

/// <summary>
/// The Config payload, upstream's <c>VmMigrationConfig {vm_config, common_cpuid,
/// memory_manager_data}</c>. Each part is written and read by the code that owns it (the API's
/// JSON policy for the VmConfig, the state tree's for the memory manager), so it cannot drift from
/// config.json and state.json.
/// </summary>
public sealed record MigrationConfig(VmConfig VmConfig, IReadOnlyList<CpuidEntry> CommonCpuid, MemoryManagerSnapshotData MemoryManagerData)
{
    public byte[] Write()
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            writer.WritePropertyName("vm_config");
            writer.WriteRawValue(ApiJson.Serialize(VmConfig, ApiJsonContext.Default.VmConfig));
            writer.WriteStartArray("common_cpuid");
            foreach (var entry in CommonCpuid)
            {
                writer.WriteStartObject();
                writer.WriteNumber("function", entry.Function);
                writer.WriteNumber("index", entry.Index);
                writer.WriteNumber("flags", entry.Flags);
                writer.WriteNumber("eax", entry.Eax);
                writer.WriteNumber("ebx", entry.Ebx);
                writer.WriteNumber("ecx", entry.Ecx);
                writer.WriteNumber("edx", entry.Edx);
                writer.WriteEndObject();
            }

            writer.WriteEndArray();
            writer.WritePropertyName("memory_manager_data");
            writer.WriteRawValue(StateJson.Write(MemoryManagerData, StateJsonContext.Default.MemoryManagerSnapshotData));
            writer.WriteEndObject();
        }

        return stream.ToArray();
    }

    /// <summary>Reads a Config payload; what does not fit is an InvalidArgument naming the field.</summary>
    public static MigrationConfig Read(ReadOnlySpan<byte> payload)
    {
        try
        {
            using var document = JsonDocument.Parse(payload.ToArray());
            var root = document.RootElement;
            var configText = Property(root, "vm_config").GetRawText();
            var (config, error) = ApiJson.Deserialize(Encoding.UTF8.GetBytes(configText), ApiJsonContext.Default.VmConfig);
            if (config is null)
            {
                throw Invalid($"vm_config: {string.Join(": ", error!.Causes)}");
            }

            var cpuid = new List<CpuidEntry>();
            foreach (var entry in Property(root, "common_cpuid").EnumerateArray())
            {
                cpuid.Add(new CpuidEntry(U32(entry, "function"), U32(entry, "index"), U32(entry, "flags"),
                    U32(entry, "eax"), U32(entry, "ebx"), U32(entry, "ecx"), U32(entry, "edx")));
            }

            MemoryManagerSnapshotData memory;
            try
            {
                memory = StateJson.Read(Property(root, "memory_manager_data").GetRawText(), StateJsonContext.Default.MemoryManagerSnapshotData);
            }
            catch (StateFormatException e)
            {
                throw Invalid(e.Field.Length == 0 ? $"memory_manager_data: {e.Message}" : $"memory_manager_data/{e.Field}: {e.Message}");
            }

            return new MigrationConfig(config, cpuid, memory);
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            throw Invalid(e.Message);
        }
    }

    private static JsonElement Property(JsonElement root, string name) =>
        root.ValueKind == JsonValueKind.Object && root.TryGetProperty(name, out var value) ? value : throw Invalid($"{name} is missing");

    private static uint U32(JsonElement entry, string name) => Property(entry, name).GetUInt32();

    private static HypervisorException Invalid(string cause) =>
        new(ApiErrorKind.InvalidArgument, "Invalid migration config", [cause]);
}
