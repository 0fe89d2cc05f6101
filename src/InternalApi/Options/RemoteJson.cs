using System.Text;
using System.Text.Json;
using CloudHypervisor.InternalApi.Models;

namespace CloudHypervisor.InternalApi.Options;

/// <summary>
/// The request bodies exactly as upstream's ch-remote writes them (contract §7.2), where they
/// differ from the API's one JSON policy: ch-remote writes every field of these bodies, unset
/// ones as explicit <c>null</c>, in upstream's field order. Servers (ours and upstream's) read
/// both forms alike; this only keeps ch-remote's bytes on the wire identical.
/// </summary>
public static class RemoteJson
{
    /// <summary><c>{"desired_vcpus":N|null,"desired_ram":bytes|null,"desired_balloon":bytes|null}</c>.</summary>
    public static string Resize(VmResize resize)
    {
        ArgumentNullException.ThrowIfNull(resize);
        return Write(w =>
        {
            NumberOrNull(w, "desired_vcpus", resize.DesiredVcpus);
            NumberOrNull(w, "desired_ram", resize.DesiredRam);
            NumberOrNull(w, "desired_balloon", resize.DesiredBalloon);
        });
    }

    /// <summary>The full receive-migration body, e.g. <c>{"receiver_url":"unix:/p","tls_dir":null,"memory_mode":"Precopy","vfio_fds":null,"iommufd_fd":null,"zone_updates":[]}</c>.</summary>
    public static string ReceiveMigration(ReceiveMigrationData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Write(w =>
        {
            w.WriteString("receiver_url", data.ReceiverUrl);
            StringOrNull(w, "tls_dir", data.TlsDir);
            w.WriteString("memory_mode", data.MemoryMode.ToString());
            VfioFds(w, data.VfioFds);
            NumberOrNull(w, "iommufd_fd", data.IommufdFd);
            ZoneUpdates(w, data.ZoneUpdates);
        });
    }

    /// <summary>The full restore body, unset options as <c>null</c> and <c>zone_updates</c> always a list.</summary>
    public static string Restore(RestoreConfig restore)
    {
        ArgumentNullException.ThrowIfNull(restore);
        return Write(w =>
        {
            w.WriteString("source_url", restore.SourceUrl);
            w.WriteBoolean("prefault", restore.Prefault);
            w.WriteString("memory_restore_mode", restore.MemoryRestoreMode.ToString());
            if (restore.NetFds is null)
            {
                w.WriteNull("net_fds");
            }
            else
            {
                w.WriteStartArray("net_fds");
                foreach (var net in restore.NetFds)
                {
                    w.WriteStartObject();
                    w.WriteString("id", net.Id);
                    w.WriteNumber("num_fds", net.NumFds);
                    if (net.Fds is null)
                    {
                        w.WriteNull("fds");
                    }
                    else
                    {
                        w.WriteStartArray("fds");
                        net.Fds.ForEach(w.WriteNumberValue);
                        w.WriteEndArray();
                    }

                    w.WriteEndObject();
                }

                w.WriteEndArray();
            }

            VfioFds(w, restore.VfioFds);
            NumberOrNull(w, "iommufd_fd", restore.IommufdFd);
            w.WriteBoolean("resume", restore.Resume);
            ZoneUpdates(w, restore.ZoneUpdates);
        });
    }

    /// <summary>The full send-migration body in upstream's field order (contract §7.2).</summary>
    public static string SendMigration(SendMigrationData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Write(w =>
        {
            w.WriteString("destination_url", data.DestinationUrl);
            w.WriteBoolean("local", data.Local);
            w.WriteBoolean("preserve_source", data.PreserveSource);
            w.WriteNumber("downtime_ms", data.DowntimeMs);
            w.WriteNumber("timeout_s", data.TimeoutS);
            w.WriteString("timeout_strategy", data.TimeoutStrategy.ToString());
            w.WriteNumber("connections", data.Connections);
            StringOrNull(w, "tls_dir", data.TlsDir);
            w.WriteString("memory_mode", data.MemoryMode.ToString());
        });
    }

    private static string Write(Action<Utf8JsonWriter> body)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream))
        {
            writer.WriteStartObject();
            body(writer);
            writer.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void VfioFds(Utf8JsonWriter w, List<RestoredVfioConfig>? vfio)
    {
        if (vfio is null)
        {
            w.WriteNull("vfio_fds");
            return;
        }

        w.WriteStartArray("vfio_fds");
        foreach (var device in vfio)
        {
            w.WriteStartObject();
            w.WriteString("id", device.Id);
            NumberOrNull(w, "fd", device.Fd);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void ZoneUpdates(Utf8JsonWriter w, List<VmMemoryZoneUpdateData>? updates)
    {
        w.WriteStartArray("zone_updates");
        foreach (var update in updates ?? [])
        {
            w.WriteStartObject();
            w.WriteString("id", update.Id);
            w.WriteNumber("host_numa_node", update.HostNumaNode);
            w.WriteEndObject();
        }

        w.WriteEndArray();
    }

    private static void StringOrNull(Utf8JsonWriter w, string name, string? value)
    {
        if (value is null)
        {
            w.WriteNull(name);
        }
        else
        {
            w.WriteString(name, value);
        }
    }

    private static void NumberOrNull(Utf8JsonWriter w, string name, ulong? value)
    {
        if (value is { } number)
        {
            w.WriteNumber(name, number);
        }
        else
        {
            w.WriteNull(name);
        }
    }

    private static void NumberOrNull(Utf8JsonWriter w, string name, long? value)
    {
        if (value is { } number)
        {
            w.WriteNumber(name, number);
        }
        else
        {
            w.WriteNull(name);
        }
    }
}
